"""The diffusion process over weights and the few-shot pipeline that meets encoder, denoiser and scheduler
(docs/ARCHITECTURE.md).
"""
