"""Pictures and documents: image grids, meshes and turntables; docs/RESULTS.md from the JSON results
(docs/ARCHITECTURE.md).
"""
