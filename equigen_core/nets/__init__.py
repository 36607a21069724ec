"""The networks: the invariant weight encoder, the denoisers, the yardstick classifier (docs/ARCHITECTURE.md)."""
