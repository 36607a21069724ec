"""INR specs, the weight space and its symmetries, codecs, exact augmentations, canonicalisation, fitting and meta-
learned inits (docs/ARCHITECTURE.md).
"""
