"""equigen_core: few-shot generation of implicit neural representations (EQUIGEN, CVPR 2025).

    import equigen_core as eg

    model = eg.FewShotModel.load("checkpoints/mnist/diffusion")     # the encoder is found from its config
    zoo = eg.load_zoo("checkpoints/mnist/gallery")                    # fitted INRs: weights (B, P), labels (B,)
    shots = zoo.select(zoo.labels == 9).weights[:10]                  # K = 10 target INRs
    out = eg.sample(model, shots, n=16, sampling=eg.IMAGES, seed=0)   # the default span sampler
    out.images                                                         # (16, 1, 28, 28)

Shape vocabulary used in docstrings and comments throughout the library:

    B  batch (number of INRs / weight vectors)     K  shots (target INRs)
    L  layers                                      N  neurons / tokens (or query coordinates)
    D  width / feature dim                         T  diffusion steps
    P  parameters of one INR (flat length)         C  channels
    H, W  image height / width

The public API is what this module exports (`__all__`); everything else lives in one module per concept, in the
sub-packages docs/ARCHITECTURE.md orders.
"""
from equigen_core.data.zoo import Zoo, load_zoo
from equigen_core.generation.fewshot import FewShotModel, GenerationResult, generate, refine, sample, span
from equigen_core.presets import BOUNDS, IMAGES, SHAPES, Sampling, sampling_for
from equigen_core.storage.checkpoint import LIBRARY_VERSION as __version__
from equigen_core.weightspace.inr import PRESETS as INR_PRESETS
from equigen_core.weightspace.inr import SirenSpec, render_images, siren_forward, siren_init
from equigen_core.weightspace.weights import NormStats, WeightSpace

__all__ = [
    "__version__",
    # generation: the model and its samplers
    "FewShotModel",
    "GenerationResult",
    "sample",
    "generate",
    "refine",
    "span",
    # the sampling object, its bounds and the per-domain defaults
    "Sampling",
    "BOUNDS",
    "IMAGES",
    "SHAPES",
    "sampling_for",
    # INRs and their weight space
    "INR_PRESETS",
    "SirenSpec",
    "siren_forward",
    "siren_init",
    "render_images",
    "WeightSpace",
    "NormStats",
    # zoos of fitted INRs
    "Zoo",
    "load_zoo",
]
