"""`python -m equigen_studio` / the `equigen-studio` command: serve EquiGen Studio."""
from equigen_studio.ui import main

if __name__ == "__main__":
    main()
