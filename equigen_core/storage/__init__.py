"""Files: validated safetensors + JSON checkpoints, model save / load and fingerprints, checkpoint roots
(docs/ARCHITECTURE.md).
"""
