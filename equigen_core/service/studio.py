"""What the app does, as plain functions over the library (no Gradio here): the app's callbacks call exactly one of
these each and only turn widget values into arguments and results into widgets.

    studio = Studio.load("checkpoints/mnist")                      # shipped models, loaded once, read-only
    w, imgs = studio.candidates(9)                                   # targets of the held-out class
    for item in generate_stream(studio.model("diffusion"), w[:10], n=16, gamma=1.0, seed=0):
        ...                                                          # Frame per DDIM step, then Done(GenerationResult)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from equigen_core.data import DataError, load_mnist
from equigen_core.data.images import EXTENSIONS, _decode
from equigen_core.data.zoo import Zoo, load_zoo
from equigen_core.domains import domain_class, domain_of
from equigen_core.domains.images import ImageDomain
from equigen_core.evaluation.frontier import INR_REFERENCE, METRICS
from equigen_core.evaluation.metrics import nearest_shot_distance
from equigen_core.evaluation.protocol import Reference, cheap_baselines, report
from equigen_core.evaluation.runner import trend_verdict
from equigen_core.generation.fewshot import FewShotModel, generate, refine, save_samples, span  # noqa: F401 (re-export)
from equigen_core.generation.fewshot import sample as fewshot_sample
from equigen_core.generation.span import augment_starts, span_starts
from equigen_core.nets.classifier import load_classifier
from equigen_core.presets import Sampling
from equigen_core.service.jobs import Cancelled, Done, check, stream
from equigen_core.storage.checkpoint import CheckpointError
from equigen_core.weightspace.fit import FitConfig, fit_images
from equigen_core.weightspace.inr import SirenSpec, render_images

MAX_TARGETS = 32  # K ≤ 32 in the app
MAX_UPLOAD_BYTES = 10_000_000  # 10 MB per uploaded image
MAX_SIDE = 4096  # pixels per side of an uploaded image


class StudioError(ValueError):
    """Bad input to a studio function; the message says what to change (the UI shows it as is)."""


# ----------------------------------------------------------------------------------------------------------------------
# Models and checkpoints


def _files_under(roots, name: str) -> list[Path]:
    """Files called `name` one or two directory levels below each existing root, in order, without repeats."""
    found = []
    for root in map(Path, roots):
        if root.is_dir():
            found += sorted(list(root.glob(f"*/{name}")) + list(root.glob(f"*/*/{name}")))
    return list(dict.fromkeys(found))


def list_checkpoints(*roots: str | Path, kind: str = "diffusion") -> list[Path]:
    """Checkpoint directories of one kind under the roots (one level deep, and the roots' children's children)."""
    found = []
    for cfg in _files_under(roots, "config.json"):
        try:
            if json.loads(cfg.read_text()).get("kind") == kind:
                found.append(cfg.parent)
        except (OSError, ValueError):
            continue  # unreadable config: not offered (loading it directly gives the precise error)
    return found


def list_zoos(*roots: str | Path) -> list[Path]:
    """Zoo directories (holding zoo.json) under the roots, as list_checkpoints looks for checkpoints."""
    return [f.parent for f in _files_under(roots, "zoo.json")]


@dataclass
class Studio:
    """The shipped (or given) models for one INR domain, loaded once and used read-only by every session."""

    root: Path  # where the shipped checkpoints live (e.g. checkpoints/mnist)
    gallery: Zoo  # a few target INRs per class
    classifier: torch.nn.Module | None = None  # the yardstick (labels, confidences, FD); None: readouts without labels
    _models: dict = field(default_factory=dict, repr=False)  # path → FewShotModel, read-only once loaded
    cache: dict = field(default_factory=dict, repr=False)  # the domain and what is derived from the gallery

    @classmethod
    def load(cls, root: str | Path = "checkpoints/mnist", *, classifier: str | Path | None = "default") -> "Studio":
        """classifier: "default" — the yardstick of the gallery's domain (domains.images: ROOT/classifier, or the
        shipped MNIST CNN for MNIST galleries; none for shapes); a path; or None."""

        root = Path(root)
        if not (root / "gallery").is_dir():
            raise CheckpointError(f"{root / 'gallery'}: no gallery zoo; run `python -m equigen_core train all "
                                  f"--preset cpu --out {root}` or point the app at a checkpoint directory")
        gallery = load_zoo(root / "gallery")
        clf = None
        if classifier == "default":
            clf = ImageDomain.of(gallery).classifier(root) if gallery.spec.in_dim == 2 else None
        elif classifier is not None and Path(classifier).is_dir():
            clf = load_classifier(classifier)
        return cls(root, gallery, clf)

    @property
    def spec(self) -> SirenSpec:
        return self.gallery.spec

    def checkpoints(self) -> list[str]:
        """The shipped diffusion checkpoints, as names under root (e.g. "diffusion"); `model()` also takes paths."""
        return [str(p.relative_to(self.root)) for p in list_checkpoints(self.root)]

    def model(self, path: str | Path) -> FewShotModel:
        """A diffusion checkpoint by path (or by name under root), loaded once."""
        p = Path(path)
        if not p.is_dir() and (self.root / p).is_dir():
            p = self.root / p
        key = str(p.resolve())
        if key not in self._models:
            if not (p / "config.json").is_file():
                raise CheckpointError(f"{p}: not a checkpoint directory (no config.json)")
            m = FewShotModel.load(p)
            if m.spec != self.spec:
                raise CheckpointError(f"{p / 'config.json'}: INR spec {m.spec} does not match the gallery's "
                                      f"{self.spec}")
            self._models[key] = m
        return self._models[key]

    def fit_config(self):
        """The fitting recipe the gallery (and so the training zoo) was made with: uploads are fitted alike."""

        saved = dict(self.gallery.meta.get("fit") or {})
        if "betas" in saved:
            saved["betas"] = tuple(saved["betas"])
        known = FitConfig.__dataclass_fields__
        return FitConfig(**{k: v for k, v in saved.items() if k in known})

    @property
    def fit_init(self) -> Tensor | None:
        """The shared init w0 (P,) the gallery's zoo was fitted from (None for old galleries: then the fitting recipe's
        seeded SIREN init is the same draw)."""
        return self.gallery.init

    @property
    def domain(self):
        """The gallery's domain (domains.ImageDomain or ShapeDomain): class names, pictures, augmentations."""

        if "domain" not in self.cache:
            self.cache["domain"] = domain_of(self.gallery)
        return self.cache["domain"]

    def classes(self) -> list[int]:
        return sorted(int(c) for c in self.gallery.labels.unique())

    def class_index(self, value: str | int) -> int:
        """A class / category by number or name → its label (StudioError naming the choices otherwise)."""
        try:
            return self.domain.index(value)
        except ValueError as e:
            raise StudioError(str(e)) from e

    def class_name(self, value: str | int) -> str:
        return self.domain.class_names[self.class_index(value)]

    def candidates(self, cls: str | int, uploads: dict | None = None) -> tuple[Tensor, Tensor]:
        """Gallery INRs of one class (number or name), then the user's fitted uploads ({"weights", "images"}) if
        any → (weights (M, P), pictures (M, C, S, S): the domain's previews, made once per class)."""
        c = self.class_index(cls)
        sel = self.gallery.select(self.gallery.labels == c)
        if len(sel) == 0:
            names = [self.domain.class_names[i] for i in self.classes()]
            raise StudioError(f"the gallery has no {self.domain.kind}s of {self.domain.class_names[c]!r}; pick one "
                              f"of {names}")
        key = ("thumbs", c)
        if key not in self.cache:
            self.cache[key] = self.domain.preview(self.spec, sel.weights)
        w, imgs = sel.weights, self.cache[key]
        if uploads is not None and len(uploads["weights"]):
            w, imgs = torch.cat([w, uploads["weights"]]), torch.cat([imgs, uploads["images"]])
        return w, imgs

    def add_uploads(self, uploads: dict | None, weights: Tensor) -> dict:
        """Append fitted upload INRs (K, P) to a session's uploads → the new {"weights", "images"} (the images are
        the domain's previews, as the candidates')."""
        imgs = self.domain.preview(self.spec, weights)
        if uploads is None or not len(uploads["weights"]):
            return {"weights": weights, "images": imgs}
        return {"weights": torch.cat([uploads["weights"], weights]), "images": torch.cat([uploads["images"], imgs])}


# ----------------------------------------------------------------------------------------------------------------------
# Targets from uploads


def images_from_files(paths: Sequence[str | Path], *, channels: int = 1, size: int = 28,
                      invert: str = "auto") -> Tensor:
    """Uploaded image files → (K, C, size, size) in [0, 1]; checked by content (PIL decodes them), ≤ 10 MB each,
    ≤ 4096² px, K ≤ 32. invert: "auto" makes light-background images white-on-black like MNIST."""

    if not paths:
        raise StudioError("no images uploaded")
    if len(paths) > MAX_TARGETS:
        raise StudioError(f"{len(paths)} images uploaded; at most {MAX_TARGETS} targets")
    imgs = []
    for p in paths:
        try:
            with Image.open(p) as im:  # reads the header only
                if max(im.size) > MAX_SIDE:
                    raise StudioError(f"{Path(p).name}: {im.size[0]}×{im.size[1]} pixels; at most "
                                      f"{MAX_SIDE}×{MAX_SIDE}")
        except (UnidentifiedImageError, OSError) as e:
            raise StudioError(f"{Path(p).name}: not an image PIL can read ({type(e).__name__}); upload PNG or "
                              "JPEG files") from e
        try:
            imgs.append(_decode(Path(p), size=size, channels=channels, max_bytes=MAX_UPLOAD_BYTES))
        except DataError as e:
            raise StudioError(f"{Path(p).name}: {e} (accepted: images PIL can read, e.g. {sorted(EXTENSIONS)})") from e
    x = torch.stack(imgs)
    if invert == "auto":
        light = x.flatten(1).median(dim=1).values > 0.5  # mostly-light image: a dark digit on paper
        x[light] = 1 - x[light]
    return x


def fit_targets(spec: SirenSpec, images: Tensor, *, fit_cfg=None, init: Tensor | None = None,
                on_progress: Callable[[int, int, float], None] | None = None) -> Tensor:
    """Fit one INR per image with the zoo's recipe (`Studio.fit_config()`) from the zoo's shared init w0
    (`Studio.fit_init`, random or meta-learned), so the targets are aligned with the training zoo → weights (K, P).
    on_progress(done, total, mean PSNR of the done ones)."""

    def cb(p):
        if on_progress is not None:
            on_progress(p.done, p.total, float(p.mean_psnr_done))

    return fit_images(spec, images, fit_cfg or FitConfig(), progress=False, callback=cb,
                      init_weights=None if init is None else init.reshape(1, -1)).weights


# ----------------------------------------------------------------------------------------------------------------------
# Generation, streamed


@dataclass
class Frame:
    """One DDIM step's current prediction x̂0, pictured by the model's domain (Domain.preview, live)."""

    step: int  # 1-based
    total: int
    images: Tensor  # (n, C, S, S): renders of images, ray-cast views of shapes

    @property
    def views(self) -> Tensor:  # the 3D word for the same pictures
        return self.images


MAX_SAMPLES = 64  # samples per request in the app


def sampling_of(spec: SirenSpec, sampling: Sampling | None = None, **knobs) -> Sampling:
    """One Sampling for a request: `sampling` (None: the domain's default, presets.sampling_for) with the knobs given
    (None values keep it), checked once against presets.BOUNDS → StudioError naming every knob out of range."""
    base = domain_class(spec).default_sampling() if sampling is None else sampling
    try:
        return base.replace(**knobs)
    except (ValueError, TypeError) as e:
        raise StudioError(str(e)) from None


def check_request(k: int, n: int) -> None:
    """What a served request may ask beyond the sampler's knobs: K targets and n samples."""
    if k < 1:
        raise StudioError("select at least one target (K = 0)")
    if k > MAX_TARGETS:
        raise StudioError(f"{k} targets selected; at most {MAX_TARGETS}")
    if not 1 <= n <= MAX_SAMPLES:
        raise StudioError(f"number of samples must be in 1–{MAX_SAMPLES}, got {n}")


def augmented_starts(spec: SirenSpec, targets: Tensor, n: int, *, seed: int = 0, strength: float = 1.0) -> Tensor:
    """n exact geometric augmentations of the targets, round robin → (n, P): the starts the "augment" sampler
    denoises for the same seed (fewshot.sample)."""
    return augment_starts(spec, targets, n, strength=strength, generator=torch.Generator().manual_seed(seed))[0]


def sample(model: FewShotModel, targets: Tensor, *, n: int, sampling: Sampling | None = None, seed: int = 0,
           mode: Literal["per-target", "set"] = "per-target", res: int = 28, on_step=None, **knobs):
    """n INRs from K targets → fewshot.GenerationResult, with one Sampling (`sampling_of`: the domain's defaults, then
    `sampling`, then the knobs given here). Its sampler: "span" (mixtures + geometric augmentation of the targets,
    denoised from step t0), "noise" (EquiGen from noise, ψ̃ = ψ + γ·ε) or "augment" (EquiGen refine: SDEdit from
    exact geometric augmentations of the targets, of strength γ, noised to step t0)."""
    s = sampling_of(model.spec, sampling, **knobs)
    check_request(len(targets), n)
    return fewshot_sample(model, targets, n, s, seed=seed, res=res, on_step=on_step, mode=mode)


def generate_stream(model: FewShotModel, targets: Tensor, *, n: int = 16, sampling: Sampling | None = None,
                    seed: int = 0, res: int | None = None, mode: Literal["per-target", "set"] = "per-target",
                    every: int | None = None, previews: int | None = None, **knobs) -> Iterator[Frame | Done]:
    """Frames of x̂0 pictured by the model's domain (Domain.preview), then Done(GenerationResult) — or Done(None)
    when the run was stopped; closing the iterator stops the sampler. The sampler: as `sample` (one Sampling: the
    domain's defaults, `sampling`, then the knobs given). mode: "per-target" (each sample from one target's ψ) or
    "set" (all from the targets' mean ψ). Frames: one every `every` DDIM steps, or about `previews` evenly over the
    steps that run (fewer than `steps` from a t0), always including the last; by default the domain's `live_frames`
    (images: every step). res: pixels per side of image samples and frames (default 28); for shapes, the grid of
    the live previews."""

    dom = domain_class(model.spec)
    s = sampling_of(model.spec, sampling, **knobs)
    check_request(len(targets), n)
    spec, previews = model.spec, previews or (None if every else dom.live_frames)
    image_res = res if res and dom.in_dim == 2 else 28

    def work(emit, should_stop):
        def on_step(i, total, w):
            check(should_stop)
            stride = max(1, total // previews) if previews else (every or 1)
            if (i + 1) % stride == 0 or i + 1 == total:
                emit(Frame(i + 1, total, dom.preview(spec, w, live=True, res=res)))

        try:
            return fewshot_sample(model, targets, n, s, seed=seed, res=image_res, on_step=on_step, mode=mode)
        except Cancelled:
            return None

    yield from stream(work)


# ----------------------------------------------------------------------------------------------------------------------
# Readouts and the weights file


@dataclass
class Readout:
    label: int | None  # the classifier's class (None without a classifier)
    confidence: float | None
    nearest_shot: float  # pixel RMS at 28×28 to the nearest target render (0: a copy)


@torch.no_grad()
def readouts(images: Tensor, target_images: Tensor, classifier=None) -> list[Readout]:
    d = nearest_shot_distance(images, target_images)  # compared at 28×28 whatever the render size
    if classifier is None:
        return [Readout(None, None, float(x)) for x in d]
    conf, lab = classifier.probabilities(images).max(dim=1)
    return [Readout(int(a), float(b), float(x)) for a, b, x in zip(lab, conf, d)]


# ----------------------------------------------------------------------------------------------------------------------
# The γ sweep (Trade-off tab)


@dataclass
class Tradeoff:
    gammas: list[float]
    samples: list  # SampleReport per γ (evaluate.report) of the swept sampler
    baselines: list  # SampleReport per cheap baseline
    verdict: str  # whether coverage (or the Vendi score) rises with γ
    sampling: Sampling | None = None  # every knob of the sweep but γ

    @property
    def method(self) -> str:
        return f"EquiGen {SAMPLER_NAMES[self.sampling.sampler] if self.sampling else 'span'}"

    def summary(self) -> list[dict]:
        """The sweep as frontier rows (frontier.summarize's format, one seed: std 0), for report.frontier_figure."""

        def row(method, family, knob, value, rep):
            return {"method": method, "family": family, "knob": knob, "value": value, "seeds": [0],
                    "mean": {m: float(getattr(rep, m)) for m in METRICS}, "std": {m: 0.0 for m in METRICS}}

        rows = [row(self.method, "equigen", "γ", g, r) for g, r in zip(self.gammas, self.samples)]
        return rows + [row(b.name, "reference" if b.name == INR_REFERENCE else "baseline", "", None, b)
                       for b in self.baselines]


# how the trade-off names each sampler
SAMPLER_NAMES = {"span": "span", "noise": "from noise", "augment": "refine"}


def tradeoff(model: FewShotModel, targets: Tensor, cls: int, classifier, *, gammas: Sequence[float] = (
        0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5), n: int = 32, sampling: Sampling | None = None, seed: int = 0,
             mode: Literal["per-target", "set"] = "per-target", real: Tensor | None = None,
             real_inrs: Tensor | None = None, on_progress: Callable[[int, int, str], None] | None = None,
             **knobs) -> Tradeoff:
    """Sweep γ of one sampler for targets of class `cls`, beside the cheap baselines (the span sampler's own starts
    among them) in protocol v2's metrics. The sampler and every other knob are one Sampling (`sampling_of`: the
    domain's defaults, `sampling`, then the knobs given — the app passes its Generate tab's): only γ varies, so the
    point at the Generate tab's γ is the Generate tab's samples (same seed, same n). real: the class's reference
    images (default: MNIST's held-out digits); real_inrs: INRs fitted to real images of the class that are not
    targets (the gallery's other INRs of the class), the yardstick of off-stroke ink."""

    if classifier is None:
        raise StudioError("the trade-off needs a classifier for this data (checkpoints/mnist_classifier for MNIST; "
                          "`train all` writes ROOT/classifier for other image data)")
    if len(targets) < 2:
        raise StudioError("the trade-off needs at least 2 targets (the baselines interpolate between them)")
    if not gammas or any(g < 0 for g in gammas):
        raise StudioError(f"γ values must be ≥ 0, got {list(gammas)}")
    s = sampling_of(model.spec, sampling, **knobs)
    for g in gammas:
        sampling_of(model.spec, s, gamma=float(g))  # every γ within its bound before anything runs
    if real is None:
        real = load_mnist(split="test", classes=[int(cls)]).images
    shots = render_images(model.spec, targets, 28)
    ref = Reference.of(real, shots, classifier)  # every set below is scored against the same real images
    total = len(gammas) + 1
    name = SAMPLER_NAMES[s.sampler]
    rows = []
    for i, g in enumerate(gammas):
        if on_progress:
            on_progress(i, total, f"{name} γ = {g:g}")
        out = sample(model, targets, n=n, sampling=s, gamma=float(g), seed=seed, mode=mode)
        rows.append(report(f"{name} γ={g:g}", out.images, int(cls), shots, ref, classifier))
    on_progress and on_progress(total - 1, total, "baselines")
    cheap = cheap_baselines(model.spec, targets, n, seed=seed)
    g = torch.Generator().manual_seed(seed)
    cheap["span starts (mixtures + augmentation, γ = 1)"] = span_starts(model.spec, targets, n, gamma=1.0,
                                                                       generator=g, mix=s.mix, augment=s.augment)[0]
    if real_inrs is not None and len(real_inrs):
        cheap[INR_REFERENCE] = real_inrs
    base = [report(b, render_images(model.spec, w, 28), int(cls), shots, ref, classifier) for b, w in cheap.items()]
    return Tradeoff([float(g) for g in gammas], rows, base, _verdict(rows, name), s)


def _verdict(rows, name: str = "span") -> str:
    return trend_verdict([{"mean": vars(r)} for r in rows], [("coverage", "coverage"), ("vendi", "the Vendi score"),
                                                             ("accuracy", "accuracy")],
                         agrees=lambda t: t["coverage"] == "rises" or t["vendi"] == "rises",
                         claim=f"the {name} sampler's promise (more of the class as γ grows)")
