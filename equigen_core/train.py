"""The training API in one import (kept for old code; new code imports the stage modules in equigen_core.training,
the checkpoint I/O from equigen_core.storage.models and kNN / t-SNE from equigen_core.evaluation.features).

    from equigen_core.train import train_encoder, train_diffusion, finetune, load_encoder
"""
from equigen_core.evaluation.features import knn_accuracy, tsne_2d, write_tsne
from equigen_core.storage.models import (DIFFUSION_KIND, ENCODER_KIND, encoder_fingerprint, load_encoder,
                                         save_diffusion, save_encoder)
from equigen_core.training.common import (TrainingDiverged, _save_state_atomic, encode, make_accelerator,
                                          train_state_dir)
from equigen_core.training.stage1 import EncoderTrainConfig, EncoderTrainResult, train_encoder
from equigen_core.training.stage2 import (DiffusionTrainConfig, DiffusionTrainResult, _Progress, diffusion_config,
                                          diffusion_data, train_diffusion)
from equigen_core.training.stage3 import FinetuneConfig, FinetuneResult, finetune, fixed_denoising_loss

__all__ = ["DIFFUSION_KIND", "ENCODER_KIND", "DiffusionTrainConfig", "DiffusionTrainResult", "EncoderTrainConfig",
           "EncoderTrainResult", "FinetuneConfig", "FinetuneResult", "TrainingDiverged", "_Progress",
           "_save_state_atomic", "diffusion_config", "diffusion_data", "encode", "encoder_fingerprint", "finetune",
           "fixed_denoising_loss", "knn_accuracy", "load_encoder", "make_accelerator", "save_diffusion",
           "save_encoder", "train_diffusion", "train_encoder", "train_state_dir", "tsne_2d", "write_tsne"]
