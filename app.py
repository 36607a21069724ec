"""EquiGen Studio launcher: `python app.py [--share] [--allow-paths]` (host / port from GRADIO_SERVER_NAME /
GRADIO_SERVER_PORT); the same as `python -m equigen_studio` and the installed `equigen-studio` command."""
from equigen_studio.ui import main

if __name__ == "__main__":
    main()
