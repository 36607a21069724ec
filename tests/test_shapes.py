"""3D: procedural shapes with exact occupancy, occupancy fitting, meshes / views, and the point-cloud metrics."""
import json
import math

import pytest
import torch

from equigen_core.data import DataError
from equigen_core.data.shapes import BOX, CATEGORIES, CYLINDER, ELLIPSOID, FRUSTUM, ShapeSet, load_shapes, make_shapes
from equigen_core.weightspace.inr import PRESETS, make_grid
from equigen_core.evaluation.metrics import chamfer_distance, chamfer_matrix, normalize_clouds, shape_set_metrics

SPEC3 = PRESETS["shape3d"]


def one(kind, c=(0, 0, 0), h=(0.5, 0.5, 0.5), axis=1, taper=1.0):
    row = torch.tensor([[kind, *c, *h, axis, taper]], dtype=torch.float32)
    return ShapeSet(row[None], torch.zeros(1, dtype=torch.long), ["x"])


@pytest.mark.parametrize("kind,volume", [(BOX, 1.0), (ELLIPSOID, 4 / 3 * math.pi * 0.125),
                                         (CYLINDER, math.pi * 0.25), (FRUSTUM, math.pi * 0.25 * (1 + 0.5 + 0.25) / 3)])
def test_primitive_occupancy_has_the_exact_volume(kind, volume):
    # half-extents 0.5: box volume 1; frustum radius 0.5 → 0.25 over a length 1 along y
    s = one(kind, taper=0.5)
    pts = torch.rand(200_000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1  # volume 8
    est = float(s.occupancy(pts).float().mean()) * 8
    assert est == pytest.approx(volume, rel=0.03)


def test_frustum_tapers_toward_the_positive_axis_end():
    s = one(FRUSTUM, taper=0.2)
    low, high = torch.tensor([[0.4, -0.45, 0.0]]), torch.tensor([[0.4, 0.45, 0.0]])
    assert bool(s.occupancy(low)) and not bool(s.occupancy(high))


def test_categories_are_deterministic_varied_and_normalised():
    assert len(CATEGORIES) >= 6
    a, b = make_shapes("chair", 6, seed=0), make_shapes("chair", 3, seed=0)
    assert torch.equal(a.prims[:3, : b.prims.shape[1]], b.prims)  # shape i does not depend on n
    assert not torch.equal(make_shapes("chair", 3, seed=1).prims, b.prims)
    s = load_shapes(per_category=8)
    assert s.labels.bincount().tolist() == [8] * len(CATEGORIES)
    grid = make_grid(24, 3)
    occ = s.occupancy(grid).float()
    assert (occ.mean(1) > 0.001).all()  # nothing empty
    for c in range(len(CATEGORIES)):  # variety within every category: no two shapes alike
        o = occ[s.labels == c]
        iou = (o[:, None] * o[None]).sum(-1) / ((o[:, None] + o[None]) > 0).float().sum(-1)
        assert iou[~torch.eye(len(o), dtype=torch.bool)].max() < 0.98, CATEGORIES
    valid = s.prims[..., 0] >= 0
    lo = (s.prims[..., 1:4] - s.prims[..., 4:7])[valid].min(0).values
    hi = (s.prims[..., 1:4] + s.prims[..., 4:7])[valid].max(0).values
    assert lo.min() >= -0.9 - 1e-5 and hi.max() <= 0.9 + 1e-5
    with pytest.raises(DataError, match="unknown shape category"):
        make_shapes("spaceship", 2)


def test_training_points_are_half_near_the_surface_with_exact_labels():
    s = make_shapes("table", 4)
    pts, occ = s.training_points(2000, seed=0)
    assert pts.shape == (4, 2000, 3) and occ.shape == (4, 2000)
    assert torch.equal(occ.bool(), s.occupancy(pts))
    # near-surface points are far more often inside than uniform ones
    assert occ[:, :1000].mean() > 3 * occ[:, 1000:].mean()


def test_metrics_on_known_sets():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 256, 3, generator=g)
    assert torch.allclose(chamfer_distance(a, a), torch.zeros(6), atol=1e-6)
    shifted = a + torch.tensor([0.5, 0.0, 0.0])
    assert torch.allclose(chamfer_matrix(a, a).diagonal(), torch.zeros(6), atol=1e-6)
    # against itself, each pair once, mirrored: the full matrix; and the k-d tree gives the all-pairs distances' value
    b = torch.randn(11, 64, 3, generator=g)
    assert torch.allclose(chamfer_matrix(b), chamfer_matrix(b, b), atol=1e-5)
    d = torch.cdist(b[2], b[7]).pow(2)
    assert float(chamfer_matrix(b)[2, 7]) == pytest.approx(float(d.min(1).values.mean() + d.min(0).values.mean()),
                                                           rel=1e-5)
    assert chamfer_distance(a, shifted).min() > 0
    same = shape_set_metrics(a, a)
    assert same.mmd == pytest.approx(0.0, abs=1e-6) and same.cov == 1.0
    # two samples of one distribution: 1-NNA near 50 %; spheres vs flat discs: near 100 %
    def spheres(n, seed):
        x = torch.randn(n, 128, 3, generator=torch.Generator().manual_seed(seed))
        return x / x.norm(dim=-1, keepdim=True) * (1 + 0.3 * torch.rand(n, 1, 1, generator=torch.Generator()
                                                                         .manual_seed(seed + 1)))

    r1 = shape_set_metrics(spheres(40, 1), spheres(40, 2))
    assert 0.3 <= r1.nna <= 0.7, r1
    discs = spheres(40, 3) * torch.tensor([1.0, 0.05, 1.0])
    r2 = shape_set_metrics(discs, spheres(40, 4))
    assert r2.nna > 0.95 and r2.cov < r1.cov, (r1, r2)
    from equigen_core.evaluation.protocol3d import count_parts

    grids = -torch.ones(3, 8, 8, 8)
    grids[0, 1:3, 1:3, 1:3] = 1  # one block
    grids[1, 1:3, 1:3, 1:3] = grids[1, 5:7, 5:7, 5:7] = 1  # a block and a floater
    assert count_parts(grids).tolist() == [1, 2, 0]
    grids[0, 6, 6, 6] = 1  # one stray voxel beside a block of 8: a piece of 1/9 of the volume
    assert count_parts(grids).tolist() == [2, 2, 0]
    assert count_parts(grids, min_share=0.2).tolist() == [1, 2, 0]  # the stray voxel no longer counts; halves do
    assert count_parts(grids, min_share=0.6).tolist() == [1, 0, 0]  # 8 of 9 voxels stay; no half is 60 %
    n = normalize_clouds(a * 5 + 3)
    assert torch.allclose(n.mean(1), torch.zeros(6, 3), atol=1e-5)
    assert torch.allclose(n.norm(dim=-1).amax(1), torch.ones(6))


def test_occupancy_fitting_reaches_a_good_iou_and_renders(tmp_path, monkeypatch):
    from equigen_core.weightspace.fit import FitConfig, fit_shapes, occupancy_iou
    from equigen_core.weightspace.render import (grid_to_mesh, occupancy_grid, raycast_views, sample_surface,
                                               turntable_gif, write_glb)

    s = load_shapes(["car", "table"], per_category=1)
    res = fit_shapes(SPEC3, s, FitConfig(loss="bce", target_psnr=None, max_steps=200, lr=1e-3, pool=4),
                     points=4096, progress=False)
    iou = occupancy_iou(SPEC3, res.weights, s, res=32)
    assert iou.min() > 0.6, iou  # 200 steps on 4,096 points: coarse but clearly the shape
    grid = occupancy_grid(SPEC3, res.weights[:1], 32)[0]
    mesh = grid_to_mesh(grid)
    assert mesh is not None and len(mesh[1]) > 100
    glb = write_glb(mesh, tmp_path / "a.glb")
    assert glb.read_bytes()[:4] == b"glTF"
    pts = sample_surface(mesh, 512)
    assert pts.shape == (512, 3) and pts.abs().max() <= 1.0
    views = raycast_views(grid[None], size=48)
    assert views.shape == (1, 3, 48, 48) and (views < 0.99).any() and (views == 1).any()  # object on white
    path, how = turntable_gif(grid, tmp_path / "t.gif", frames=4, size=48, use_gl=False)  # the GL-free fallback
    assert how == "raycast" and path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert grid_to_mesh(torch.full((8, 8, 8), -1.0)) is None  # empty level set

    import equigen_core.weightspace.render as render

    def no_gl(*a, **k):
        raise RuntimeError("no offscreen GL context (simulated)")

    monkeypatch.setattr(render, "pyrender_frames", no_gl)  # GL asked for but missing: the ray caster takes over
    path, how = turntable_gif(grid, tmp_path / "t2.gif", frames=2, size=32, use_gl=True)
    assert how == "raycast" and path.exists()


def test_build_zoo_shapes_cli_writes_a_zoo_whose_shapes_can_be_regenerated(tmp_path):
    from equigen_core.cli import main
    from equigen_core.data.zoo import load_zoo, zoo_shapes

    out = tmp_path / "zoo3d"
    assert main(["build-zoo", "--dataset", "shapes", "--categories", "car", "lamp", "--per-category", "2",
                 "--max-steps", "10", "--points", "512", "--meta-steps", "3", "--out", str(out)]) == 0
    zoo = load_zoo(out)
    assert zoo.meta["init"] == "meta" and zoo.meta["meta_init"]["shapes"] == 2  # shapes: meta-learned by default
    assert zoo.meta["fit"]["lr"] == 1e-3 and zoo.init is not None
    assert zoo.spec == SPEC3 and len(zoo) == 4 and zoo.labels.tolist() == [1, 1, 4, 4]
    assert {"mean", "min", "per_category"} <= set(zoo.meta["iou"]) and 0 <= zoo.meta["iou"]["mean"] <= 1
    shapes = zoo_shapes(zoo)
    lamps = make_shapes("lamp", 2).prims
    assert torch.equal(shapes.prims[2:, : lamps.shape[1]], lamps)
    assert main(["build-zoo", "--dataset", "shapes", "--categories", "spaceship", "--out", str(tmp_path / "x")]) == 2


def test_3d_protocol_runs_on_a_tiny_pipeline(tmp_path):
    """Zoo → encoder → diffusion → evaluate_3d, each a few steps: every method gives finite MMD / COV / 1-NNA and
    copies of the shots have a novelty near 0."""
    from equigen_core.data.zoo import build_shape_zoo
    from equigen_core.nets.denoiser import DenoiserConfig
    from equigen_core.nets.encoder import EncoderConfig
    from equigen_core.generation.fewshot import FewShotModel
    from equigen_core.weightspace.fit import FitConfig
    from equigen_core.evaluation.protocol3d import evaluate_3d
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
    from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder

    zoo = build_shape_zoo(["airplane", "car", "table"], 6, fit_cfg=FitConfig(loss="bce", target_psnr=None,
                          max_steps=20, lr=1e-3, pool=18), points=512, rounds=2, iou_res=16, progress=False)
    assert zoo.labels.bincount().tolist() == [6, 6, 0, 6] and 0 < zoo.meta["iou"]["mean"] <= 1
    enc = train_encoder(zoo, EncoderTrainConfig(steps=2, batch_size=8), EncoderConfig(channels=2, feature_dim=8,
                        proj_dim=4, probe_res=3), out=tmp_path / "encoder", progress=False, tsne=None).encoder
    train_diffusion(zoo, enc, DiffusionTrainConfig(steps=3, batch_size=8, lambda_eq=0.0, classes=(1, 3),
                                                   save_every=0),
                    DenoiserConfig(width=32, depth=1, emb_dim=16), out=tmp_path / "diffusion", progress=False,
                    encoder_path=tmp_path / "encoder")
    model = FewShotModel.load(tmp_path / "diffusion")
    from equigen_core.presets import SHAPES

    quick = SHAPES.replace(sampler="span", gamma=1.0, steps=2, t0=100)
    res = evaluate_3d(model, zoo, category=0, k=3, n=4, seeds=(0, 1), n_points=128, res=24, adapt_steps=2,
                      samplings={"span": quick, "noise": quick.replace(sampler="noise")}, progress=False)
    names = [p["method"] for p in res["points"] if p["seed"] == 0]
    assert names == ["real shapes (a second fresh set)", "copies of the shots", "interpolation of two shots",
                     "exact augmentations", "mixing + augmentation (γ=1, mix=3, augment=0.5)", "span", "noise",
                     "EquiGen adapted on the shots (from noise)", "EquiGen adapted on their span (from noise)"]
    assert [r["method"] for r in res["summary"]] == names  # the runner's format, as the frontier's
    assert all(r["seeds"] == [0, 1] and math.isfinite(r["ci95"]["cov"]) for r in res["summary"])  # 2 seeds: a t-CI
    for p in res["points"]:
        m = p["metrics"]
        assert all(math.isfinite(m[k]) for k in ("cov", "nna", "cov_f", "nna_f")), p
        assert 0 <= m["cov"] <= 1 and 0 <= m["nna"] <= 1 and 0 <= m["multi"] <= 1 and 0 <= m["empty"] <= 1
    assert res["points"][1]["metrics"]["novelty"] < 0.5  # copies: only the sampling of surface points differs
    from equigen_core.evaluation.protocol3d import checks_3d
    from equigen_core.reporting.protocol2 import shapes_section

    checks = checks_3d(res, "span", filtered=True)
    assert len(checks) == 6 and all(isinstance(ok, bool) for _, ok, _ in checks)
    assert checks[3][1] == (abs(res["summary"][0]["mean"]["multi"]) <= 0.10)  # filtered: 0 floaters against real's
    text = shapes_section(res, "shapes_v2_tiny")
    assert "| span |" in text and "**span, after the floater filter:" in text and "test category" in text
    from equigen_core.cli import main
    from equigen_core.data.zoo import save_zoo

    save_zoo(tmp_path / "zoo", zoo)
    out = tmp_path / "eval3d.json"
    assert main(["evaluate", "shapes", "--checkpoint", str(tmp_path / "diffusion"), "--zoo", str(tmp_path / "zoo"),
                 "--k", "3", "--n", "2", "--seeds", "0", "--steps", "2", "--sampler", "span", "--t0", "100", "--json",
                 str(out), "--fit-reference"]) == 0
    got = json.loads(out.read_text())
    assert [p["method"] for p in got["points"]][-2:] == ["EquiGen (span)", "EquiGen (from noise)"]
    assert got["points"][1]["method"] == "INRs of real shapes (the second set, fitted)"  # the INR ceiling
    assert got["meta"]["protocol"] == 2 and got["n"] == 2 and got["meta"]["samplings"]["EquiGen (span)"]["t0"] == 100
    assert main(["evaluate", "shapes", "--checkpoint", str(tmp_path / "diffusion"), "--zoo", str(tmp_path / "zoo"),
                 "--category", "spaceship"]) == 2
    assert main(["train", "finetune", "--base", str(tmp_path / "diffusion"), "--shots", "0", "--zoo",
                 str(tmp_path / "zoo"), "--k", "3", "--steps", "2", "--out", str(tmp_path / "diffusion_airplane")]) == 0
    assert FewShotModel.load(tmp_path / "diffusion_airplane").spec.in_dim == 3
    # tmp_path is now a checkpoint root (diffusion, diffusion_airplane, gallery): base and adapted rows, airplane
    save_zoo(tmp_path / "gallery", zoo)
    assert main(["evaluate", "shapes", "--checkpoint", str(tmp_path), "--k", "3", "--n", "2", "--seeds", "0",
                 "--steps", "2", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["meta"]["category_name"] == "airplane"


def test_protocol_v2_sets_empties_apart_and_filters_floaters(monkeypatch):
    """Empty samples are left out of MMD / COV / novelty and told apart in 1-NNA; the floater filter keeps each
    shape's largest piece; the fresh reference shapes are not the zoo's and two fresh blocks are disjoint."""
    from equigen_core.data.zoo import zoo_shapes
    from equigen_core.evaluation.protocol3d import SetContext, count_parts, fresh_shapes, set_metrics
    from equigen_core.weightspace.render import largest_piece

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(6, 64, 3, generator=g)
    shots = torch.randn(2, 64, 3, generator=g)
    ctx = SetContext.of(ref, shots)
    samples = ref[:4] + 0.01 * torch.randn(4, 64, 3, generator=g)
    with_empty = torch.cat([samples, torch.zeros(2, 64, 3)])
    a, b = set_metrics(samples, ctx), set_metrics(with_empty, ctx)
    assert a["mmd"] == pytest.approx(b["mmd"]) and a["cov"] == b["cov"] and a["novelty"] == pytest.approx(b["novelty"])
    # 1-NNA: the 2 empties count as told apart → (right + 2) / (4 + 6 + 2)
    assert b["nna"] == pytest.approx((a["nna"] * 10 + 2) / 12)
    none = set_metrics(torch.zeros(3, 64, 3), ctx)  # all empty: nothing covered, all told apart
    assert none["cov"] == 0.0 and none["nna"] == 1.0 and math.isnan(none["mmd"])

    grids = -torch.ones(2, 8, 8, 8)
    grids[0, 1:4, 1:4, 1:4] = 1  # a block of 27 and a floater of 8
    grids[0, 6:8, 6:8, 6:8] = 1
    grids[1, 2:4, 2:4, 2:4] = 1  # one piece
    kept = largest_piece(grids)
    assert count_parts(grids).tolist() == [2, 1] and count_parts(kept).tolist() == [1, 1]
    assert int((kept[0] > 0).sum()) == 27 and torch.equal(kept[1], grids[1])

    # score_grids re-measures only the samples the filter changes: the same as measuring the filtered set afresh
    from equigen_core.evaluation.protocol3d import clouds_from_grids, score_grids

    blocks = -torch.ones(5, 16, 16, 16)
    for i in range(4):
        blocks[i, 3 + i : 9 + i, 4:10, 2 : 8 + i] = 1
    blocks[1, 13:15, 13:15, 13:15] = blocks[3, 0:2, 14:16, 0:2] = 1  # two samples with a floater; sample 4 empty
    ref = clouds_from_grids(blocks[:4].flip(1), 128, seed=7)
    ctx = SetContext.of(ref, ref[:2])
    got = score_grids(blocks, ctx, n_points=128, seed=3)
    want = set_metrics(clouds_from_grids(largest_piece(blocks), 128, seed=3), ctx)
    assert got["empty"] == pytest.approx(0.2) and got["multi"] == pytest.approx(0.4)
    for k, v in want.items():
        assert got[f"{k}_f"] == pytest.approx(v, rel=1e-5), k
    assert got["mmd"] != pytest.approx(got["mmd_f"])  # the floaters did count before the filter
    from equigen_core.domains.shapes import ShapeDomain

    assert ShapeDomain.shown(got) == got  # the app shows shapes as drawn: the raw metrics
    monkeypatch.setattr(ShapeDomain, "floater_filter", True)
    assert ShapeDomain.shown(got)["mmd"] == got["mmd_f"] and ShapeDomain.shown(got)["multi"] == got["multi"]

    zoo = _tiny_shape_zoo_meta(per_category=3)
    fresh = fresh_shapes(zoo, 0, 4)
    known = zoo_shapes(zoo.select(zoo.labels == 0)).prims
    m = min(fresh.prims.shape[1], known.shape[1])
    assert not any(torch.equal(f[:m], k[:m]) for f in fresh.prims for k in known)
    more = fresh_shapes(zoo, 0, 6).prims  # the same generator indices: a longer draw starts with the shorter one
    m = min(more.shape[1], fresh.prims.shape[1])
    assert torch.equal(more[:4, :m], fresh.prims[:, :m])


def _tiny_shape_zoo_meta(per_category: int):
    """A Zoo whose meta says it holds the first `per_category` procedural shapes of each category (no fitting)."""
    from equigen_core.data.shapes import CATEGORIES
    from equigen_core.data.zoo import Zoo
    from equigen_core.weightspace.inr import get_preset

    spec = get_preset("shape3d")
    n = per_category * len(CATEGORIES)
    labels = torch.arange(len(CATEGORIES)).repeat_interleave(per_category)
    index = torch.arange(per_category).repeat(len(CATEGORIES))
    meta = {"shapes": {"categories": list(CATEGORIES), "per_category": per_category, "seed": 0}}
    return Zoo(spec, torch.zeros(n, spec.num_params), labels, torch.zeros(n), index, torch.zeros(n, dtype=torch.long),
               meta)
