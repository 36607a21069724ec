"""`generate`: few-shot samples from a checkpoint root (or checkpoint) and K target INRs.
"""
from __future__ import annotations

import torch

from equigen_core.commands.common import fill_sampling, resolve_checkpoint
from equigen_core.data import DataError
from equigen_core.data.zoo import load_zoo
from equigen_core.generation.fewshot import FewShotModel, sample, save_samples
from equigen_core.service.roots import class_index  # a class by number or name; RootError is printed by main
from equigen_core.service.studio3d import views
from equigen_core.weightspace.render import save_grid


def cmd_generate(args) -> int:
    r, cls = resolve_checkpoint(args, prefer="base" if args.base else "adapted")
    model = FewShotModel.load(r.checkpoint, args.encoder)
    sampling = fill_sampling(args, model.spec.in_dim)
    zoo = load_zoo(r.zoo)
    label = class_index(zoo, cls)
    held_out = zoo.test()
    pool = held_out if len(held_out) else zoo
    pool = pool.select(pool.labels == label)
    if len(pool) < args.k:
        raise DataError(f"{r.zoo} has {len(pool)} held-out INRs of class {cls}; --k {args.k} needs more")
    targets = pool.weights[torch.randperm(len(pool), generator=torch.Generator().manual_seed(args.seed))[: args.k]]
    out = sample(model, targets, args.n, sampling, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if model.spec.in_dim == 3:  # shapes: shaded ray-cast views of their 64³ occupancy grids

        save_grid(views(model.spec, out.weights), args.out / "samples.png", scale=1)
    else:
        save_grid(out.images, args.out / "samples.png")
    save_samples(args.out / "samples.safetensors", model.spec, out)
    print(f"wrote {args.out / 'samples.png'} and samples.safetensors ({args.n} INRs, class {cls}, k={args.k}, "
          f"sampler {sampling.sampler}" + (f" from t0={sampling.t0}" if sampling.sampler != "noise" else "")
          + f", gamma={args.gamma}, guidance={args.guidance}, {args.steps} steps, seed {args.seed})")
    return 0
