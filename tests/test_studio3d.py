"""The app's 3D mode on a tiny real shape pipeline: candidates render, generation streams low-resolution x̂0 views
then final renders + GLB meshes, readouts and the 3D trade-off are computed, and the callbacks validate input."""
from pathlib import Path

import gradio as gr
import pytest
import torch
import trimesh

from equigen_core.service import studio3d as core3d
from equigen_core.service.jobs import Done
from equigen_core.service.studio import StudioError


def test_candidates_are_rendered_views_of_one_category(tiny_studio3d):
    st, _ = tiny_studio3d
    assert core3d.categories(st) == ["airplane", "car", "table"]
    w, thumbs = core3d.shape_candidates(st, "airplane")
    assert w.shape == (6, st.spec.num_params) and thumbs.shape == (6, 3, core3d.VIEW_SIZE, core3d.VIEW_SIZE)
    assert (thumbs < 0.99).any()  # something was hit: not an all-white background
    assert core3d.shape_candidates(st, "airplane")[1] is thumbs  # rendered once, then cached
    with pytest.raises(StudioError, match="unknown category"):
        core3d.shape_candidates(st, "spaceship")
    with pytest.raises(StudioError, match="no shapes of 'chair'"):
        core3d.shape_candidates(st, "chair")


@pytest.mark.parametrize("start_t", [0, 300])
def test_generation_streams_previews_then_shapes_and_meshes(tiny_studio3d, tmp_path, start_t):
    st, model = tiny_studio3d
    w, _ = core3d.shape_candidates(st, "airplane")
    knobs = dict(sampler="augment", t0=start_t) if start_t else dict(sampler="noise")
    if start_t == 300:  # the span sampler in 3D: mixtures of the shots, moved by exact 3D augmentations, from t0
        span = list(core3d.generate_stream_3d(model, w[:3], n=4, steps=6, previews=3, seed=1, sampler="span",
                                              t0=start_t))[-1].value
        assert span.weights.shape == (4, st.spec.num_params) and span.target_index.tolist() == [0, 1, 2, 0]
    items = list(core3d.generate_stream_3d(model, w[:3], n=4, steps=6, previews=3, seed=1, **knobs))
    frames, done = items[:-1], items[-1]
    assert isinstance(done, Done) and frames[-1].step == frames[-1].total
    if start_t == 0:
        assert [f.step for f in frames] == [2, 4, 6]
    else:  # SDEdit runs only the DDIM steps below t0
        assert frames[-1].total < 6
    assert frames[0].views.shape == (4, 3, core3d.PREVIEW_SIZE, core3d.PREVIEW_SIZE)
    out = done.value
    assert out.weights.shape == (4, st.spec.num_params) and out.target_index.tolist() == [0, 1, 2, 0]
    final = core3d.finish_samples(st.spec, out.weights, tmp_path, res=24, size=32)
    assert final.views.shape == (4, 3, 32, 32) and len(final.glbs) == 4
    for path, faces in zip(final.glbs, final.faces):
        if path is not None:  # a real binary glTF with the mesh marching cubes made
            assert faces > 0 and len(trimesh.load(path, force="mesh").faces) == faces
    reads = core3d.shape_readouts(st, out.weights, w[:3], "airplane")
    assert len(reads.rows) == 4 and reads.reference is not None and reads.reference > 0
    assert "nearest gallery shape" in reads.summary("airplane")


def test_target_matching_is_exact_at_the_size_of_a_3d_inr():
    # 8,641 parameters (3→64→64→64→1): torch.cdist's matmul rounding puts identical rows ~1e-3 apart at this size
    w = torch.randn(20, 8641) * 0.1
    hit = core3d._is_one_of(w, w[[3, 7]])
    assert hit.tolist() == [i in (3, 7) for i in range(20)]
    assert not core3d._is_one_of(w[:1] + 1e-4, w[:1]).any()


def test_refine_from_t0_near_zero_returns_the_augmented_targets_and_readouts_see_copies(tiny_studio3d):
    st, model = tiny_studio3d
    w, _ = core3d.shape_candidates(st, "car")
    reads = core3d.shape_readouts(st, w[:2], w[:2], "car")  # the targets themselves: copies
    # a copy is far nearer its target than unseen cars are (not 0: its cloud is other points of the same surface)
    assert all(r.category == "car" and r.nearest_target < 0.5 * reads.reference for r in reads.rows)
    out = core3d.sample_shapes(model, w[:2], n=2, steps=5, sampler="augment", gamma=1.0, t0=1, seed=0)
    starts = core3d.augmented_starts(st.spec, w[:2], 2, seed=0)
    # each sample stays by its own start: much nearer to it than the two starts are to each other
    rms = (out.weights - starts).pow(2).mean(1).sqrt()
    assert (rms < 0.5 * (starts[0] - starts[1]).pow(2).mean().sqrt()).all()
    with pytest.raises(StudioError, match="t0"):
        core3d.sample_shapes(model, w[:2], n=2, steps=5, sampler="augment", t0=1000)


def test_generation_arguments_are_checked(tiny_studio3d):
    st, model = tiny_studio3d
    w, _ = core3d.shape_candidates(st, "airplane")
    with pytest.raises(StudioError, match="K = 0"):
        list(core3d.generate_stream_3d(model, w[:0], n=2, steps=2))
    with pytest.raises(StudioError, match="at most 32"):
        list(core3d.generate_stream_3d(model, w[:2], n=40, steps=2))


def test_tradeoff_3d_scores_every_point_against_fresh_shapes(tiny_studio3d):
    st, model = tiny_studio3d
    w, _ = core3d.shape_candidates(st, "airplane")
    tr = core3d.tradeoff_3d(st, model, w[:3], "airplane", gammas=(0.0, 0.5, 1.0), n=4, steps=3, refine_t0=(200,),
                            res=16, points=128, sampler="span")
    assert [r["knob"] for r in tr.rows] == ["γ", "γ", "γ", "t0", "", "", "", ""]
    assert "4 fresh procedural" in tr.reference  # as many reference shapes as samples (protocol v2)
    assert tr.rows[-1]["method"] == "mixing + augmentation (no model)"  # what the span sampler starts from
    for r in tr.rows:
        assert 0 <= r["cov"] <= 1 and 0 <= r["nna"] <= 1 and r["mmd"] >= 0
        assert 0 <= r["cov_f"] <= 1 and 0 <= r["multi"] <= 1 and 0 <= r["empty"] <= 1
    copies = next(r for r in tr.rows if r["method"] == "copies of the targets")
    assert copies["novelty"] < 0.5 and "γ grows" in tr.verdict
    with pytest.raises(StudioError, match="at least 2 targets"):
        core3d.tradeoff_3d(st, model, w[:1], "airplane")


def test_3d_callbacks_generate_show_a_sample_and_refuse_bad_input(tiny_studio3d, monkeypatch):
    from equigen_studio.callbacks3d import STARTS, Callbacks3D

    monkeypatch.setattr(core3d, "FINAL_RES", 24)
    st, _ = tiny_studio3d
    cb = Callbacks3D(st, frame_interval=0)
    assert cb.default_checkpoint() == "diffusion" and cb.default_category() == "airplane"  # held out of training
    items, sel, md, chosen = cb.show_candidates("airplane")
    assert len(items) == 6 and sel == "0,1,2,3,4,5" and "K = 6" in md and len(chosen) == 6
    outs = list(cb.generate("diffusion", "airplane", "0-2", 0.3, 0.0, 4, 3, 0, 1.0, STARTS[1], 200))
    preview, summary, rows, gallery, last = outs[-1]
    assert "3 shapes" in summary and "t0 = 200" in summary and len(rows) == 3 and len(gallery) == 3
    mesh, gif, glb = cb.show_first(last)
    assert gif.endswith("turntable_00.gif") and (mesh is None or mesh.endswith(".glb"))
    class Sel:
        index = 1

    # a stopped run kept no samples: the chained viewer event leaves the viewer as it was; a click asks for samples
    assert all(isinstance(x, type(gr.skip())) for x in cb.show_first(None))
    with pytest.raises(gr.Error, match="generate shapes first"):
        cb.show_sample(None, Sel())

    mesh1, gif1, _ = cb.show_sample(last, Sel())
    assert gif1.endswith("turntable_01.gif")
    with pytest.raises(gr.Error, match="out of range"):
        list(cb.generate("diffusion", "airplane", "0-40", 0.3, 0.0, 4, 3, 0, 1.0, STARTS[0], 200))
    with pytest.raises(gr.Error, match="no 3D checkpoints"):
        Callbacks3D(None).show_candidates("airplane")
    sel, *_ = cb.toggle("0,1", "airplane", None, Sel())  # a click removes a selected target
    assert sel == "0"


def test_demo_has_a_2d_3d_switch_and_named_3d_endpoints(tiny_studio, tiny_studio3d, tmp_path):
    from equigen_studio.ui import DOMAINS, build_demo

    demo = build_demo(tiny_studio[0], studio3d=tiny_studio3d[0], work_dir=tmp_path, autostart=False)
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"generate3d", "show_first3d", "candidates3d", "show_shape", "tradeoff3d", "tsne3d", "domain"} <= names
    radio = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "domain")
    assert radio.choices[1][0] == DOMAINS[1] and radio.interactive is not False
    # without shape checkpoints the switch is off and the 3D mode says how to build them
    off = build_demo(tiny_studio[0], root3d=tmp_path / "none", work_dir=tmp_path, autostart=False)
    radio = next(b for b in off.blocks.values() if getattr(b, "elem_id", None) == "domain")
    assert radio.interactive is False


def test_client_drives_the_3d_mode_and_gets_a_glb(tiny_studio, tiny_studio3d, tmp_path, monkeypatch):
    """A launched server: /generate3d streams previews and returns renders, a GLB and a turntable."""

    from gradio_client import Client

    from equigen_studio.callbacks3d import STARTS
    from equigen_studio.ui import build_demo, launch
    from tests.conftest import free_port, wait_done

    monkeypatch.setattr(core3d, "FINAL_RES", 24)
    demo = build_demo(tiny_studio[0], studio3d=tiny_studio3d[0], work_dir=tmp_path, autostart=False)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        job = client.submit("diffusion", "airplane", "0-2", 0.3, 0.0, 10, 2, 0, 1.0, STARTS[1], 300, False,
                            api_name="/generate3d")
        outs = wait_done(job)
        assert len(outs) > 1, "generate3d should stream x̂0 previews"
        preview, summary, readout, gallery, *_ = outs[-1]
        assert "2 shapes" in summary and len(gallery) == 2
        mesh, gif, glb = client.predict(api_name="/show_first3d")  # the chained event that fills the viewer
        assert str(gif).endswith(".gif") and str(glb).endswith(".glb") and Path(mesh).stat().st_size > 0
        with pytest.raises(Exception, match="spaceship"):  # gradio rejects a category not in the dropdown
            client.predict("spaceship", api_name="/candidates3d")
    finally:
        demo.close()


def test_ablate_refuses_a_shape_zoo_with_a_clear_message(tiny_studio3d, capsys):
    from equigen_core.cli import main

    st, _ = tiny_studio3d
    assert main(["ablate", "--zoo", str(st.root / "gallery"), "--checkpoint", str(st.root / "diffusion")]) == 2
    assert "ablate measures image zoos" in capsys.readouterr().err


def test_a_real_mesh_upload_becomes_a_selected_candidate(tiny_studio3d, tmp_path, monkeypatch):
    """The gradio wheel's sofia.stl (a real watertight mesh) → an occupancy INR fitted with the gallery's recipe →
    one more candidate, selected; bad uploads are refused with a message naming the file."""
    from dataclasses import replace

    from equigen_core.storage.checkpoint import config_to_dict
    from equigen_core.weightspace.fit import OCCUPANCY_FIT
    from tests.test_browser import shipped_mesh
    from equigen_studio.callbacks3d import Callbacks3D

    st, _ = tiny_studio3d
    # the tiny gallery was fitted for 40 steps (a blank); uploads follow the gallery's recipe, so give it a real one
    monkeypatch.setitem(st.gallery.meta, "fit", config_to_dict(replace(OCCUPANCY_FIT, max_steps=600)))
    monkeypatch.setitem(st.gallery.meta, "rounds", 15)
    mesh = shipped_mesh()
    assert mesh is not None
    meshes = core3d.meshes_from_files([mesh])
    assert len(meshes) == 1 and meshes.meshes[0].watertight
    cb = Callbacks3D(st, frame_interval=0)
    uploads, items, sel, md, chosen = cb.fit_uploads([str(mesh)], "airplane", None)
    n = len(core3d.shape_candidates(st, "airplane")[0])
    assert uploads["weights"].shape == (1, st.spec.num_params) and torch.isfinite(uploads["weights"]).all()
    assert len(items) == n + 1 and items[-1][1] == f"#{n} (upload)" and sel == str(n) and len(chosen) == 1
    # the fitted INR is the mesh: IoU with the mesh's own occupancy on a 32³ grid
    from equigen_core.weightspace.fit import occupancy_iou

    assert float(occupancy_iou(st.spec, uploads["weights"], meshes, res=32)[0]) > 0.7
    (tmp_path / "notes.txt").write_text("not a mesh")
    (tmp_path / "junk.stl").write_bytes(b"\x00" * 300)
    with pytest.raises(StudioError, match="notes.txt: not a mesh file"):
        core3d.meshes_from_files([tmp_path / "notes.txt"])
    with pytest.raises(StudioError, match="junk.stl"):
        core3d.meshes_from_files([tmp_path / "junk.stl"])
    with pytest.raises(StudioError, match="at most 8"):
        core3d.meshes_from_files([mesh] * 9)
    with pytest.raises(gr.Error, match="no meshes uploaded"):
        cb.fit_uploads([], "airplane", None)


def test_3d_walk_streams_the_raw_path_then_refined_points_with_categories(tiny_studio3d):
    from equigen_studio.callbacks3d import Callbacks3D

    st, _ = tiny_studio3d
    cb = Callbacks3D(st, frame_interval=0)
    outs = list(cb.walk("diffusion", "airplane", "0-2", 0, 2, 3, 0, None, None, None, 4))
    assert len(outs) == 3  # one frame per refined point
    strip, md = outs[-1]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in md.splitlines()
            if line.startswith("| raw") or line.startswith("| refined")}
    assert strip.size[0] > strip.size[1] and len(rows["raw"]) == len(rows["refined"]) == 3
    assert all(c in st.domain.class_names or c == "(empty)" for c in rows["raw"] + rows["refined"]), rows
    assert "…" in outs[0][1] and "…" not in md  # the refined row fills point by point
    with pytest.raises(gr.Error, match="candidate index"):
        list(cb.walk("diffusion", "airplane", "0-2", 0, 99, 3, 0))
