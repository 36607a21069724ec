"""Training, one module per stage, on Hugging Face Accelerate (the same code on CPU, one GPU, or several GPUs under
`accelerate launch --num_processes N`): stage1 (encoder), stage2 (diffusion), stage3 (few-shot adaptation), common
(accelerator, encoding, resumable state). Saving and loading the models is equigen_core.nets.models."""
