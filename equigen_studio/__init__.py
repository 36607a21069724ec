"""EquiGen Studio, the Gradio app (UI only: layout in ui.py, thin adapters in callbacks.py)."""
