"""EquiGen Studio launcher: `python app.py [--share]` (host / port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""
import argparse

from app.ui import build_demo, launch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="EquiGen Studio: few-shot INR generation in the browser")
    parser.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    parser.add_argument("--root", default="checkpoints/mnist", help="directory of the shipped checkpoints")
    args = parser.parse_args()
    launch(build_demo(root=args.root), share=args.share)
