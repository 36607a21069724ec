"""equigen_core: few-shot generation of implicit neural representations (EQUIGEN, CVPR 2025).

Shape vocabulary used in docstrings and comments throughout the library:

    B  batch (number of INRs / weight vectors)     K  shots (target INRs)
    L  layers                                      N  neurons / tokens (or query coordinates)
    D  width / feature dim                         T  diffusion steps
    P  parameters of one INR (flat length)         C  channels
    H, W  image height / width

Public façade: the most used names are re-exported here; everything else lives in one module per concept.
"""
__version__ = "0.1.0"

from equigen_core.weightspace.inr import PRESETS as INR_PRESETS
from equigen_core.weightspace.inr import SirenSpec, siren_forward, siren_init, render_images
from equigen_core.weightspace.weights import NormStats, WeightSpace

__all__ = [
    "__version__",
    "INR_PRESETS",
    "SirenSpec",
    "siren_forward",
    "siren_init",
    "render_images",
    "WeightSpace",
    "NormStats",
]
