"""The CLI's commands, one module per family; equigen_core.cli parses the arguments and calls them."""
