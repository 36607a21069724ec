"""Measuring: metrics, the few-shot protocol and its baselines, the frontier over seeds, the 3D protocol, ablations,
kNN / t-SNE of features (docs/ARCHITECTURE.md).
"""
