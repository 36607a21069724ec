"""Zoos: datasets of fitted INRs, stored as `zoo.safetensors` (tensors) + `zoo.json` (spec, fit report, provenance).

    DIR/zoo.safetensors   weights (B, P) f32, labels (B,) i64, psnr (B,) f32, index (B,) i64, split (B,) u8 (1 = held out),
                          and, when every INR was fitted from one shared init, init (P,) f32: that init w0 (random or
                          meta-learned), so new targets can be fitted from the same w0
    DIR/zoo.json          {"format", "schema_version", "spec", "n", "mean_psnr", "min_psnr", "psnr", "canonicalized",
                           "smooth", "init", "fit", "source", "seed", "seconds", "class_names"}
Files are written to temporary names and renamed into place, so a failed build never leaves a half-written zoo.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from equigen_core.data.meshes import load_meshes
from equigen_core.data.shapes import CATEGORIES, concat, load_shapes, make_shapes
from equigen_core.data.types import DataError, balanced_subset, index_of
from equigen_core.storage.atomic import atomic_path, atomic_write_text
from equigen_core.storage.checkpoint import config_to_dict
from equigen_core.weightspace.fit import OCCUPANCY_FIT, FitConfig, fit_images, fit_shapes, occupancy_iou, shared_init
from equigen_core.weightspace.inr import SirenSpec, get_preset
from equigen_core.weightspace.metainit import SHAPE_META_INIT, MetaInitConfig, meta_learn_init, meta_learn_shape_init
from equigen_core.weightspace.smooth import canonicalize

ZOO_FORMAT = "equigen-zoo"
ZOO_SCHEMA = 1
_TENSORS = {"weights": torch.float32, "labels": torch.int64, "psnr": torch.float32, "index": torch.int64,
            "split": torch.uint8}


@dataclass
class Zoo:
    """B fitted INRs of one spec with their labels and where they came from."""

    spec: SirenSpec
    weights: Tensor  # (B, P)
    labels: Tensor  # (B,)
    psnr: Tensor  # (B,) fit PSNR in dB
    index: Tensor  # (B,) index of the source image in its data set
    split: Tensor  # (B,) 1 = held out (test), 0 = train
    meta: dict = field(default_factory=dict)
    init: Tensor | None = None  # (P,) the shared initialisation every INR was fitted from (None: independent inits)

    def __len__(self) -> int:
        return self.weights.shape[0]

    def select(self, mask: Tensor) -> "Zoo":
        """Subset by a bool mask or index tensor; meta is kept, per-INR fields follow the subset."""
        meta = {k: v for k, v in self.meta.items() if k != "psnr"}
        return Zoo(self.spec, self.weights[mask], self.labels[mask], self.psnr[mask], self.index[mask],
                   self.split[mask], meta, self.init)

    def train(self) -> "Zoo":
        return self.select(self.split == 0)

    def test(self) -> "Zoo":
        return self.select(self.split == 1)

    def with_weights(self, weights: Tensor, **meta) -> "Zoo":
        return Zoo(self.spec, weights, self.labels, self.psnr, self.index, self.split, {**self.meta, **meta}, self.init)


def save_zoo(path: str | Path, zoo: Zoo) -> Path:
    """Write DIR/zoo.safetensors and DIR/zoo.json (each through storage.atomic: a temporary name, then renamed)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {"weights": zoo.weights.float(), "labels": zoo.labels.long(), "psnr": zoo.psnr.float(),
               "index": zoo.index.long(), "split": zoo.split.to(torch.uint8)}
    if zoo.init is not None:
        tensors["init"] = zoo.init.float().reshape(-1)
    meta = {**zoo.meta, "format": ZOO_FORMAT, "schema_version": ZOO_SCHEMA, "spec": zoo.spec.to_dict(),
            "n": len(zoo), "mean_psnr": float(zoo.psnr.mean()), "min_psnr": float(zoo.psnr.min()),
            "psnr": [round(float(p), 3) for p in zoo.psnr]}
    with atomic_path(path / "zoo.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    atomic_write_text(path / "zoo.json", json.dumps(meta, indent=1))
    return path


def load_zoo(path: str | Path) -> Zoo:
    """Read and validate a zoo directory; every problem raises DataError naming the file."""
    path = Path(path)
    jf, tf = path / "zoo.json", path / "zoo.safetensors"
    for f in (jf, tf):
        if not f.is_file():
            raise DataError(f"{f}: missing; a zoo directory holds zoo.json and zoo.safetensors "
                            "(build one with `python -m equigen_core build-zoo`)")
    try:
        meta = json.loads(jf.read_text())
        spec = SirenSpec.from_dict(meta["spec"])
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{jf}: not a valid zoo description ({e.__class__.__name__}: {e})") from e
    if meta.get("format") != ZOO_FORMAT or meta.get("schema_version") != ZOO_SCHEMA:
        raise DataError(f"{jf}: format {meta.get('format')!r} v{meta.get('schema_version')}, expected "
                        f"{ZOO_FORMAT!r} v{ZOO_SCHEMA}")
    try:
        t = load_file(str(tf))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{tf}: unreadable or corrupt safetensors file ({e})") from e
    for name, dtype in _TENSORS.items():
        if name not in t:
            raise DataError(f"{tf}: missing tensor {name!r}")
        if t[name].dtype != dtype:
            raise DataError(f"{tf}: tensor {name!r} has dtype {t[name].dtype}, expected {dtype}")
    b = t["weights"].shape[0]
    if t["weights"].shape != (b, spec.num_params):
        raise DataError(f"{tf}: weights have shape {tuple(t['weights'].shape)}, the zoo's spec needs (B, {spec.num_params})")
    for name in ("labels", "psnr", "index", "split"):
        if t[name].shape != (b,):
            raise DataError(f"{tf}: {name} has shape {tuple(t[name].shape)}, expected ({b},)")
    if not bool(torch.isfinite(t["weights"]).all()):
        raise DataError(f"{tf}: weights contain NaN or inf")
    init = t.get("init")
    if init is not None and (init.shape != (spec.num_params,) or not bool(torch.isfinite(init).all())):
        raise DataError(f"{tf}: init has shape {tuple(init.shape)} (or non-finite values), expected "
                        f"({spec.num_params},) finite")
    meta.pop("psnr", None)
    return Zoo(spec, t["weights"], t["labels"], t["psnr"], t["index"], t["split"].long(), meta, init)


# ----------------------------------------------------------------------------------------------------------------------
# Building a zoo: data set → batched fitting → (optional) smooth canonicalisation


def build_zoo(images, *, spec: SirenSpec, fit_cfg=None, canonicalize: bool = False, source: str = "",
              test_every: int = 5, index: Tensor | None = None, progress: bool = True, callback=None,
              init: Tensor | None = None, meta_cfg=None, meta_exclude: tuple[int, ...] = ()) -> Zoo:
    """Fit one INR per image of an ImageSet and return the zoo (split: every `test_every`-th source index held out).

    fit_cfg.init = "meta": first meta-learn the shared init (metainit.meta_learn_init, `meta_cfg`) on the training
    split only, leaving out the classes in `meta_exclude` (the few-shot class must never shape it). `init` (P,)
    fits every INR from a given w0 instead (e.g. the init of an existing zoo)."""

    fit_cfg = fit_cfg or FitConfig()
    if images.images.shape[1] != spec.out_dim:
        raise DataError(f"{images.source}: images have {images.images.shape[1]} channels, the INR spec outputs "
                        f"{spec.out_dim}; pick the matching --inr preset")
    index = torch.arange(len(images)) if index is None else index
    extra = {}
    used = fit_cfg.init
    if init is None and fit_cfg.init == "meta":
        meta_cfg = meta_cfg or MetaInitConfig(seed=fit_cfg.seed)
        base = _meta_training_split(images.labels, index, test_every, meta_exclude)
        if int(base.sum()) < 2:  # too small a run to meta-learn on: a shared random init, said so
            init, used, extra["init_note"] = shared_init(spec, fit_cfg.seed)[0], "shared", _fallback_note(base)
        else:
            mres = meta_learn_init(spec, images.images[base], meta_cfg, progress=progress)
            init = mres.init
            extra["meta_init"] = _meta_record(meta_cfg, mres, "images", int(base.sum()), meta_exclude)
    elif init is None and fit_cfg.init == "shared":
        init = shared_init(spec, fit_cfg.seed)[0]
    res = fit_images(spec, images.images, fit_cfg, progress=progress, callback=callback,
                     init_weights=None if init is None else init.reshape(1, -1))
    meta = {"source": source or images.source, "class_names": list(images.class_names), "init": used,
            "seed": fit_cfg.seed, "fit": config_to_dict(fit_cfg),
            "fit_seconds": round(res.seconds, 2), "canonicalized": False, "test_every": test_every, **extra}
    zoo = Zoo(spec, res.weights, images.labels.clone(), res.psnr, index, (index % test_every == 0).long(), meta,
              None if init is None else init.reshape(-1).clone())
    if canonicalize:
        zoo = canonicalize_zoo(zoo)
    return zoo


def _fallback_note(split: Tensor) -> str:
    return (f"meta-learning the init needs at least 2 training signals outside the excluded classes and this run has "
            f"{int(split.sum())}, so every INR was fitted from a shared random init instead")


def describe_init(zoo: "Zoo") -> str:
    """One line: which init the zoo's INRs were fitted from (what `build-zoo` prints)."""
    meta = zoo.meta
    if meta.get("init_note"):
        return f"init: shared random ({meta['init_note']})"
    if meta.get("meta_init"):
        m = meta["meta_init"]
        count = m.get("images", m.get("shapes"))
        return (f"init: meta-learned (Reptile on {count} training signals, without classes "
                f"{m.get('excluded_classes', [])})")
    return f"init: {meta.get('init', 'unknown')}"


def _meta_training_split(labels: Tensor, index: Tensor, test_every: int, exclude) -> Tensor:
    """(B,) bool: the training split (index % test_every != 0) without the excluded classes: what a meta-learned
    init may see (never the held-out INRs, never the few-shot class)."""
    out = torch.tensor(list(exclude), dtype=torch.long)
    return (index % test_every != 0) & ~torch.isin(labels, out)


def _meta_record(cfg, mres, noun: str, count: int, exclude) -> dict:
    """zoo.json's meta["meta_init"]: how the init was learned (noun: "images" or "shapes", the count it saw)."""
    return {"config": cfg.to_dict(), noun: count, "excluded_classes": list(exclude), "seconds": round(mres.seconds, 2),
            "inner_psnr_first": round(mres.psnr_curve[0], 2), "inner_psnr_last": round(mres.psnr_curve[-1], 2)}


def canonicalize_zoo(zoo: Zoo) -> Zoo:
    """Smooth-canonicalise every INR of the zoo (functions unchanged); records TV before / after in meta."""

    t0 = time.perf_counter()
    res = canonicalize(zoo.spec, zoo.weights)
    smooth = {"tv_before": float(res.tv_before.mean()), "tv_after": float(res.tv_after.mean()),
              "seconds": round(time.perf_counter() - t0, 2)}
    out = zoo.with_weights(res.weights, canonicalized=True, smooth=smooth)
    out.init = None  # each INR's neurons were reordered on its own: they no longer share one init
    return out


def build_shape_zoo(categories: list[str] | None = None, per_category: int = 100, *, spec: SirenSpec | None = None,
                    fit_cfg=None, points: int = 2048, rounds: int = 100, seed: int = 0, test_every: int = 5,
                    iou_res: int = 64, progress: bool = True, callback=None, limit: int | None = None,
                    **init_kw) -> Zoo:
    """Fit one occupancy INR per procedural shape (data.shapes) and return the zoo. Labels index
    data.shapes.CATEGORIES; `index` is the shape's number within its category (the shapes are regenerated from
    meta["shapes"], so metrics can compare against the exact geometry); split: every test_every-th shape of each
    category held out. meta["iou"] holds the mean / min IoU on an iou_res³ grid. limit: at most this many shapes in
    all, spread evenly over the categories (data.balanced_subset). init_kw: init / meta_cfg / meta_exclude of
    build_occupancy_zoo."""

    cats = list(categories or CATEGORIES)
    if limit is not None:
        per_category = min(per_category, -(-limit // len(cats)))
    shapes = load_shapes(cats, per_category, seed=seed)
    index = torch.arange(per_category).repeat(len(cats))
    keep = balanced_subset(shapes.labels, limit)
    shapes, index = shapes.select(keep), index[keep]
    info = {"source": "procedural shapes", "shapes": {"categories": cats, "per_category": per_category, "seed": seed,
                                                      "points": points}}
    return build_occupancy_zoo(shapes, index, info, spec=spec, fit_cfg=fit_cfg, points=points, rounds=rounds,
                               seed=seed, test_every=test_every, iou_res=iou_res, progress=progress,
                               callback=callback, **init_kw)


def build_mesh_zoo(root, *, categories: list[str] | None = None, limit: int | None = None, spec=None, fit_cfg=None,
                   points: int = 2048, rounds: int = 100, seed: int = 0, test_every: int = 5, iou_res: int = 64,
                   progress: bool = True, callback=None, **init_kw) -> Zoo:
    """Fit one occupancy INR per mesh under `root` (data.meshes.load_meshes: ShapeNet-style or flat folders).
    init_kw: init / meta_cfg / meta_exclude of build_occupancy_zoo."""

    meshes = load_meshes(root, categories=categories, limit=limit)
    index = torch.arange(len(meshes))
    info = {"source": f"meshes:{root}", "meshes": [m.path for m in meshes.meshes]}
    return build_occupancy_zoo(meshes, index, info, spec=spec, fit_cfg=fit_cfg, points=points, rounds=rounds,
                               seed=seed, test_every=test_every, iou_res=iou_res, progress=progress,
                               callback=callback, **init_kw)


def build_occupancy_zoo(shapes, index: Tensor, info: dict, *, spec=None, fit_cfg=None, points: int = 2048,
                        rounds: int = 100, seed: int = 0, test_every: int = 5, iou_res: int = 64,
                        progress: bool = True, callback=None, init: Tensor | None = None, meta_cfg=None,
                        meta_exclude: tuple[int | str, ...] = ()) -> Zoo:
    """Fit occupancy INRs to any shape set with the ShapeSet interface (labels, class_names, training_points,
    occupancy, select) and measure their IoU. fit_cfg.init = "meta": first meta-learn the shared init
    (metainit.meta_learn_shape_init, `meta_cfg`) on the training split only, leaving out the categories in
    `meta_exclude` (names or numbers; the few-shot category never shapes it); `init` (P,) fits every shape from a
    given w0 instead.
    The shared w0 is stored with the zoo (uploads are fitted from it)."""

    spec = spec or get_preset("shape3d")
    fit_cfg = fit_cfg or OCCUPANCY_FIT
    extra, used = {}, fit_cfg.init
    if init is None and fit_cfg.init == "meta":
        meta_cfg = meta_cfg or replace(SHAPE_META_INIT, seed=fit_cfg.seed)
        try:
            meta_exclude = tuple(index_of(shapes.class_names, c, noun="category") for c in meta_exclude)
        except ValueError as e:
            raise DataError(f"meta_exclude: {e}") from e
        split = _meta_training_split(shapes.labels, index, test_every, meta_exclude)
        if int(split.sum()) < 2:  # too small a run to meta-learn on: a shared random init, said so
            init, used, extra["init_note"] = shared_init(spec, fit_cfg.seed)[0], "shared", _fallback_note(split)
        else:
            base = split.nonzero().squeeze(1)
            mres = meta_learn_shape_init(spec, shapes.select(base), meta_cfg, points=points, progress=progress)
            init = mres.init
            extra["meta_init"] = _meta_record(meta_cfg, mres, "shapes", len(base), meta_exclude)
    elif init is None and fit_cfg.init == "shared":
        init = shared_init(spec, fit_cfg.seed)[0]
    res = fit_shapes(spec, shapes, fit_cfg, points=points, rounds=rounds, seed=seed, progress=progress,
                     callback=callback, init_weights=None if init is None else init.reshape(1, -1))
    iou = occupancy_iou(spec, res.weights, shapes, res=iou_res)
    names = list(shapes.class_names)
    per_cat = {names[c]: float(iou[shapes.labels == c].mean()) for c in shapes.labels.unique().tolist()}
    meta = {**info, "class_names": names, "init": used, "seed": seed, "fit": config_to_dict(fit_cfg),
            "fit_seconds": round(res.seconds, 2), "canonicalized": False, "test_every": test_every,
            "points": points, "rounds": rounds, **extra,
            "iou": {"res": iou_res, "mean": float(iou.mean()), "min": float(iou.min()), "per_category": per_cat}}
    return Zoo(spec, res.weights, shapes.labels.clone(), res.psnr, index, (index % test_every == 0).long(), meta,
               None if init is None else init.reshape(-1).clone())


def zoo_shapes(zoo: Zoo):
    """The exact procedural shapes behind a shape zoo's INRs (same order) → data.shapes.ShapeSet."""

    info = zoo.meta.get("shapes")
    if not info:
        raise DataError(f"{zoo.meta.get('path', 'this zoo')}: not a procedural shape zoo (no meta['shapes'])")
    names = list(CATEGORIES)
    cache: dict[str, object] = {}
    out = []
    for cat, idx in ((names[lab], i) for lab, i in zip(zoo.labels.tolist(), zoo.index.tolist())):
        if cat not in cache:
            top = int(zoo.index[zoo.labels == names.index(cat)].max()) + 1
            cache[cat] = make_shapes(cat, top, seed=info["seed"])
        out.append(cache[cat].select(torch.tensor([idx])))
    return concat(out)
