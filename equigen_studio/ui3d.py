"""The 3D mode's layout and wiring (Gradio 6): the shape sections of the Generate, Trade-off and Feature-space tabs.
ui.py builds them inside its tabs and shows them when the Generate tab's 2D / 3D switch says "3D shapes"."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from equigen_studio.callbacks3d import STARTS, Callbacks3D, start_label
from equigen_studio.common import knob_slider

MISSING = ("**No 3D checkpoints were found** (checkpoints/shapes). Build them with `python -m equigen_core train all "
           "--preset cpu3d --out checkpoints/shapes`, then restart the app.")


def generate_section(cb: Callbacks3D, sampling) -> SimpleNamespace:
    """Inside the Generate tab: targets, controls (defaults: `sampling`, presets.SHAPES), live previews, final
    renders, mesh viewer, turntable, GLB."""
    c = SimpleNamespace()
    if not cb.available:
        gr.Markdown(MISSING)
    c.last = gr.State(None)  # this user's last shapes: weights, GLB paths, readout categories
    c.uploads = gr.State(None)  # {"weights", "images"} of this user's fitted mesh uploads
    with gr.Row():
        c.checkpoint = gr.Dropdown(cb.checkpoints(), value=cb.default_checkpoint(), label="Shape diffusion checkpoint",
                                   scale=3)
        c.category = gr.Dropdown(cb.categories(), value=cb.default_category(), label="Category of the targets",
                                 scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            c.candidates = gr.Gallery(label="Candidate target shapes (click to select / deselect)", columns=6,
                                      height=300, allow_preview=False, preview=False, object_fit="contain",
                                      elem_id="candidates3d")
            with gr.Row():
                c.selection = gr.Textbox(label="Selected targets (gallery indices, e.g. 0-9)", scale=3,
                                         elem_id="selection3d")
                c.apply = gr.Button("Apply", scale=0)
            c.sel_md = gr.Markdown()
            c.chosen = gr.Gallery(label="Selected targets", columns=12, height=110, allow_preview=False,
                                  fit_columns=False, object_fit="contain", interactive=False)
            with gr.Accordion("Upload your own meshes", open=False):
                c.files = gr.File(file_count="multiple", file_types=[".stl", ".obj", ".ply", ".off", ".glb", ".gltf"],
                                  label="Meshes (STL / OBJ / PLY / OFF / GLB, ≤ 20 MB, at most 8); watertight ones "
                                        "fit best", elem_id="mesh-upload")
                c.fit = gr.Button("Fit uploads as occupancy INRs and select them", elem_id="fit3d-btn")
            with gr.Accordion("Walk between two targets", open=False):
                with gr.Row():
                    c.walk_a = gr.Number(0, precision=0, label="From candidate #")
                    c.walk_b = gr.Number(1, precision=0, label="To candidate #")
                    c.walk_n = gr.Slider(3, 8, value=5, step=1, label="Points")
                c.walk_btn = gr.Button("Walk the weight space", elem_id="walk3d-btn")
                c.walk_img = gr.Image(label="The straight path in weight space (top) and the same points after the "
                                      "denoiser (bottom)", type="pil", elem_id="walk3d-strip")
                c.walk_md = gr.Markdown()
        with gr.Column(scale=2):
            c.gamma = knob_slider("gamma", sampling.gamma, step=0.05, label="γ — diversity (span: how far the "
                                  "mixtures and moves go; refine: the augmentation's strength; from noise: "
                                  "ψ̃ = ψ + γ·ε)")
            c.guidance = knob_slider("guidance", sampling.guidance, step=0.05,
                                     label="λ_g — equivariance guidance at sampling")
            c.steps = knob_slider("steps", sampling.steps, step=1, label="DDIM steps")
            c.n = gr.Slider(1, 32, value=8, step=1, label="Shapes")
            with gr.Row():
                c.seed = gr.Number(0, precision=0, label="Seed")
                c.temperature = knob_slider("temperature", sampling.temperature, step=0.05, label="τ — temperature")
            c.start = gr.Radio(STARTS, value=start_label(sampling.sampler), label="Start from")
            c.t0 = knob_slider("t0", sampling.t0, step=10, label="t0 — how far the starts (span or augmented "
                               "targets) are noised before denoising (larger: more redrawn)")
            c.set_level = gr.Checkbox(False, label="Set-level condition (mean ψ of the targets)")
            with gr.Row():
                c.gen = gr.Button("Generate shapes", variant="primary", elem_id="generate3d-btn")
                c.stop = gr.Button("Stop", variant="stop")
    with gr.Row():
        with gr.Column(scale=3):
            c.preview = gr.Image(label="Shapes (live x̂0 as low-resolution meshes during sampling, then the final "
                                 "64³ renders)", type="pil", height=400, elem_id="preview3d")
            c.gallery = gr.Gallery(label="Final shapes (click one to view its mesh)", columns=8, height=180,
                                   allow_preview=False, object_fit="contain", elem_id="samples3d")
        with gr.Column(scale=2):
            c.status = gr.Markdown(elem_id="status3d")
            c.model3d = gr.Model3D(label="Selected shape (drag to turn)", height=300, clear_color=(1, 1, 1, 1),
                                     camera_position=(-60, 60, None), elem_id="model3d")
            c.turntable = gr.Image(label="Turntable", type="filepath", height=200)
            c.glb = gr.File(label="GLB of the selected shape")
            c.export = gr.Button("Export all as SIREN state dicts (.zip)", size="sm")
            c.export_file = gr.File(label="one sample_NN.pth per occupancy INR")
    c.readout = gr.Dataframe(headers=["sample", "target", "nearest gallery category", "Chamfer×10³ to nearest "
                                      "target", "triangles"], label="Per-shape readouts", interactive=False)
    return c


def tradeoff_section() -> SimpleNamespace:
    c = SimpleNamespace()
    gr.Markdown("In 3D, every γ (and, when the sampler starts from the targets, every start step t0) is scored "
                "as in `evaluate shapes` (protocol v2): MMD, COV and 1-NNA in Chamfer distance against as many fresh "
                "shapes of the category as there are samples, empty samples counted apart, beside the cheap "
                "baselines; novelty is the median Chamfer distance to the nearest target over that of the reference "
                "shapes (well below 1: copies); floaters: the share of samples with a detached piece of ≥ 1 % of their "
                "volume. The app shows the shapes as drawn (the largest-piece filter is off: on the validation "
                "category it removed real parts as often as floaters), and the metrics are those. The sweep uses "
                "the Generate section's 3D checkpoint, category, targets, start, λ_g, τ, DDIM steps and seed; each "
                "row varies one knob. Until it runs, the plot shows the shipped model's 5-seed protocol "
                "(docs/RESULTS.md, `python -m equigen_core evaluate shapes`).")
    with gr.Row():
        c.gammas = gr.Textbox("0, 0.5, 1, 1.5", label="γ values")
        c.n = gr.Slider(4, 32, value=12, step=4, label="Shapes per point")
        c.btn = gr.Button("Run the 3D sweep", variant="primary", elem_id="tradeoff3d-btn")
    c.plot = gr.Plot(label="Trade-off (3D)")
    c.verdict = gr.Markdown()
    c.table = gr.Dataframe(headers=["method", "MMD×10³", "COV", "1-NNA", "novelty", "empty", "floaters (raw)"],
                           interactive=False)
    return c


def tsne_section() -> SimpleNamespace:
    c = SimpleNamespace()
    gr.Markdown("t-SNE of the shape encoder's ψ: gallery shapes of every category (dots), the selected targets "
                "(stars) and your last shapes (crosses, coloured by the category of their nearest gallery shape, "
                "linked to their targets). Drag a box over dots or stars of the targets' category to make them the "
                "targets.")
    c.btn = gr.Button("Compute t-SNE (3D)", variant="primary", elem_id="tsne3d-btn")
    c.plot = gr.Plot(label="t-SNE (3D)", elem_id="tsne3d-plot")
    c.picked = gr.Textbox(label="Targets picked on the map (candidate indices; also editable)",
                          elem_id="tsne3d-picked")
    return c


def wire(cb: Callbacks3D, g: SimpleNamespace, t: SimpleNamespace, f: SimpleNamespace) -> None:
    """Events of the 3D sections (every one with an api_name, so gradio_client can drive the 3D mode)."""
    picked = [g.candidates, g.selection, g.sel_md, g.chosen]
    g.category.change(cb.show_candidates, [g.category, g.uploads], picked, api_name="candidates3d")
    g.candidates.select(cb.toggle, [g.selection, g.category, g.uploads], picked[1:], api_name="select_target3d")
    g.apply.click(cb.set_selection, [g.selection, g.category, g.uploads], picked[1:], api_name="set_selection3d")
    g.fit.click(cb.fit_uploads, [g.files, g.category, g.uploads], [g.uploads, *picked], api_name="fit_uploads3d",
                concurrency_limit=1)
    inputs = [g.checkpoint, g.category, g.selection, g.gamma, g.guidance, g.steps, g.n, g.seed, g.temperature, g.start,
              g.t0, g.set_level, g.uploads]
    outputs = [g.preview, g.status, g.readout, g.gallery, g.last]
    viewer = [g.model3d, g.turntable, g.glb]
    ev = g.gen.click(cb.generate, inputs, outputs, api_name="generate3d", concurrency_limit=2,
                     concurrency_id="generate")
    # the viewer is filled by a chained plain event: Model3D stays blank when a streaming event fills it
    ev.success(cb.show_first, g.last, viewer, api_name="show_first3d")
    g.stop.click(None, cancels=[ev], api_name="stop3d", api_visibility="private")
    g.gallery.select(cb.show_sample, g.last, viewer, api_name="show_shape")
    g.export.click(cb.export, g.last, g.export_file, api_name="export_state_dicts3d")
    g.walk_btn.click(cb.walk, [g.checkpoint, g.category, g.selection, g.walk_a, g.walk_b, g.walk_n, g.seed, g.uploads,
                               g.start, g.guidance, g.steps, g.temperature, g.t0], [g.walk_img, g.walk_md],
                     api_name="walk3d", concurrency_limit=1)
    t.btn.click(cb.tradeoff, [g.checkpoint, g.category, g.selection, t.gammas, t.n, g.seed, g.uploads, g.start,
                              g.guidance, g.steps, g.temperature, g.t0, g.set_level],
                [t.plot, t.table, t.verdict], api_name="tradeoff3d", concurrency_limit=1)
    f.picked.change(cb.pick_from_map, [f.picked, g.category, g.uploads], picked[1:], api_name="pick_from_map3d")
    f.btn.click(cb.tsne, [g.checkpoint, g.category, g.selection, g.last, g.uploads], f.plot, api_name="tsne3d",
                concurrency_limit=2)
