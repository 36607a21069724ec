"""The app's service layer (no Gradio): the studios for 2D and 3D, streamed jobs, what a served app may read
(docs/ARCHITECTURE.md).
"""
