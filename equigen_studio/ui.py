"""EquiGen Studio: layout and wiring (Gradio 6). Logic lives in callbacks.py (adapters) and equigen_core (the work).

    from equigen_studio.ui import build_demo
    demo = build_demo()                     # loads the shipped checkpoints (checkpoints/mnist)
    demo.queue(...).launch()
"""
from __future__ import annotations

import argparse
from pathlib import Path

import gradio as gr

from equigen_core.data import DataError
from equigen_core.nets.denoiser import PRESETS as DENOISER_PRESETS
from equigen_core.presets import LAMBDA_EQ, sampling_for
from equigen_core.service import studio as core
from equigen_core.storage.checkpoint import CheckpointError
from equigen_studio import ui3d
from equigen_studio.callbacks import ADAPTED, SAMPLER_CHOICES, Callbacks, device_text, sampler_label
from equigen_studio.callbacks3d import Callbacks3D
from equigen_studio.common import class_choices, knob_slider
from equigen_studio.page import ABOUT, PICK_JS

DOMAINS = ["2D images", "3D shapes"]







def build_demo(studio: core.Studio | None = None, *, root: str | Path = "checkpoints/mnist",
               studio3d: core.Studio | None = None, root3d: str | Path | None = "checkpoints/shapes",
               work_dir: str | Path = "runs/studio", autostart: bool = True, frame_interval: float = 0.03,
               allow_paths: bool = False, data_root: str | Path | None = None) -> gr.Blocks:
    """The whole app. `studio` defaults to the shipped checkpoints under `root`, `studio3d` to the shape checkpoints
    under `root3d` (None, or a missing folder: the 3D mode says how to build them); training writes under
    `work_dir`. autostart: generate once when the page opens, so a first grid is on screen at once.
    The server reads checkpoints, zoos and encoders only by name from those folders, and training data only from
    uploads or by folder name under `data_root`; allow_paths (local use) also takes any path (access.AccessPolicy)."""
    work_dir = Path(work_dir)
    images = sampling_for(2)  # the Generate tab's defaults (presets: the CLI's and the library's too)
    if studio is None:
        try:
            studio = core.Studio.load(root)
        except (CheckpointError, DataError) as e:  # say what is wrong in the page, not as a traceback
            return _error_page(e)
    if studio3d is None and root3d is not None and (Path(root3d) / "gallery").is_dir():
        try:
            studio3d = core.Studio.load(root3d, classifier=None)
        except (CheckpointError, DataError) as e:  # the 2D app still works; the 3D mode shows why it cannot
            print(f"EquiGen Studio: 3D mode off: {e}")
    cb = Callbacks(studio, work_dir, frame_interval=frame_interval, allow_paths=allow_paths, data_root=data_root)
    cb3 = Callbacks3D(studio3d, frame_interval=frame_interval, allow_paths=allow_paths)
    ck0 = cb.default_checkpoint()
    cls0 = cb.default_class(ck0)
    classes = class_choices(studio)  # (label, value): "2: triangles" for named classes
    zoo_choices, tsne_encoders = cb.zoos(), cb.encoder_choices()

    with gr.Blocks(title="EquiGen Studio") as demo:
        uploads = gr.State(None)  # {"weights", "images"} of this user's fitted uploads
        adapted = gr.State(None)  # this user's adapted FewShotModel
        last = gr.State(None)  # this user's last samples
        gr.Markdown("# EquiGen Studio\nFew-shot generation of implicit neural representations "
                    "(EQUIGEN, CVPR 2025): pick a few targets of a new class, move γ, watch the diffusion denoise "
                    "weights into new INRs.")
        with gr.Tabs():
            # ---------------------------------------------------------------------------------------------------------
            with gr.Tab("Generate", id="generate"):
                domain = gr.Radio(DOMAINS, value=DOMAINS[0], label="Domain", interactive=cb3.available,
                                  info=None if cb3.available else "no 3D checkpoints found (checkpoints/shapes)",
                                  elem_id="domain")
                with gr.Column(visible=True) as gen2d:
                    with gr.Row():
                        checkpoint = gr.Dropdown(cb.checkpoints(), value=ck0, label="Diffusion checkpoint",
                                                 allow_custom_value=True, scale=3)
                        cls = gr.Dropdown(classes, value=str(cls0), label="Class of the targets", scale=1)
                    with gr.Row():
                        with gr.Column(scale=3):
                            candidates = gr.Gallery(label="Candidate targets (click to select / deselect)", columns=6,
                                                    height=300, allow_preview=False, preview=False,
                                                    object_fit="contain", elem_id="candidates")
                            with gr.Row():
                                selection = gr.Textbox(label="Selected targets (gallery indices, e.g. 0-9 or 0,2,5)",
                                                       scale=3, elem_id="selection")
                                apply_sel = gr.Button("Apply", scale=0)
                                first10 = gr.Button("First 10", scale=0)
                                clear_sel = gr.Button("Clear", scale=0, elem_id="clear-btn")
                            sel_md = gr.Markdown()
                            chosen = gr.Gallery(label="Selected targets", columns=12, height=110, allow_preview=False,
                                                fit_columns=False, object_fit="contain", interactive=False,
                                                elem_id="chosen")
                            with gr.Accordion("Upload your own targets", open=False):
                                files = gr.File(file_count="multiple", file_types=["image"],
                                                label="Images (PNG / JPEG, ≤ 10 MB, ≤ 4096² px, at most 32)")
                                fit_btn = gr.Button("Fit uploads as INRs and select them")
                            with gr.Accordion("Walk between two targets", open=False):
                                with gr.Row():
                                    walk_a = gr.Number(0, precision=0, label="From candidate #", elem_id="walk-a")
                                    walk_b = gr.Number(1, precision=0, label="To candidate #", elem_id="walk-b")
                                    walk_n = gr.Slider(3, 12, value=8, step=1, label="Points")
                                walk_btn = gr.Button("Walk the weight space", elem_id="walk-btn")
                                walk_img = gr.Image(label="The straight path in weight space (top) and the same "
                                                    "points after the denoiser (bottom)", type="pil",
                                                    elem_id="walk-strip")
                                walk_md = gr.Markdown(elem_id="walk-md")
                        with gr.Column(scale=2):
                            sampler = gr.Radio(list(SAMPLER_CHOICES), value=sampler_label(images.sampler),
                                               label="Sampler", elem_id="sampler")
                            gamma = knob_slider("gamma", images.gamma, step=0.05,
                                                label="γ — diversity (span: how far the mixtures and moves go; from "
                                                      "noise: ψ̃ = ψ + γ·ε)")
                            t0 = knob_slider("t0", images.t0, step=10,
                                             label="t0 — where the denoiser starts (span / refine)")
                            guidance = knob_slider("guidance", images.guidance, step=0.05,
                                                   label="λ_g — equivariance guidance at sampling")
                            steps = knob_slider("steps", images.steps, step=1, label="DDIM steps", elem_id="steps")
                            n = gr.Slider(1, 64, value=16, step=1, label="Samples")
                            with gr.Row():
                                seed = gr.Number(0, precision=0, label="Seed", elem_id="seed")
                                temperature = knob_slider("temperature", images.temperature, step=0.05,
                                                          label="τ — temperature of the initial noise")
                            set_level = gr.Checkbox(False, label="Set-level condition: every sample from the mean ψ of "
                                                    "the targets (not one target each)")
                            with gr.Row():
                                gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
                            with gr.Row():
                                adapt_steps = gr.Slider(20, 800, value=150, step=10, label="Adapt: fine-tune steps")
                                adapt_btn = gr.Button("Adapt to the targets")
                    with gr.Row():
                        with gr.Column(scale=3):
                            grid = gr.Image(label="Samples (live x̂0 during sampling)", type="pil", height=440,
                                            elem_id="grid", buttons=["download", "fullscreen"])
                            res = gr.Slider(28, 256, value=28, step=4, label="Render resolution (px): the same INRs, "
                                                                              "rendered at any size")
                        with gr.Column(scale=2):
                            status = gr.Markdown(elem_id="status")
                            readout = gr.Dataframe(headers=["sample", "target", "class", "confidence", "RMS to nearest "
                                                            "target"], label="Per-sample readouts", interactive=False)
                            weights_file = gr.File(label="samples.safetensors (INR weights)")
                            with gr.Row():
                                export_btn = gr.Button("Export as SIREN state dicts (.zip)", size="sm",
                                                       elem_id="export-btn")
                                export_file = gr.File(label="one sample_NN.pth per INR (seq.i.weight / bias)",
                                                      elem_id="export-file")
                            adapt_md = gr.Markdown()
                            adapt_plot = gr.Plot(label="Adaptation")
                with gr.Column(visible=False) as gen3d:
                    g3 = ui3d.generate_section(cb3, sampling_for(3))
            # ---------------------------------------------------------------------------------------------------------
            with gr.Tab("Trade-off", id="tradeoff"):
                with gr.Column(visible=True) as trade2d:
                    gr.Markdown("As γ grows, a sampler should cover more of the class (coverage, the Vendi "
                                "score) without losing it (class accuracy, off-stroke ink). **Run the γ sweep** "
                                "measures that on the current targets with the Generate tab's sampler, λ_g, τ, DDIM "
                                "steps, seed and set-level switch — only γ varies — beside cheap baselines that need "
                                "no learning (the span sampler's own starts among them). Until then the plot shows "
                                "the shipped model's multi-seed frontier on the held-out class (docs/RESULTS.md, "
                                "`python -m equigen_core evaluate`).")
                    with gr.Row():
                        gammas = gr.Textbox("0, 0.25, 0.5, 0.75, 1, 1.25, 1.5", label="γ values")
                        t_n = gr.Slider(8, 64, value=32, step=8, label="Samples per γ")
                        t_btn = gr.Button("Run the γ sweep", variant="primary", elem_id="tradeoff-btn")
                    t_plot = gr.Plot(label="Trade-off", elem_id="tradeoff-plot")
                    t_verdict = gr.Markdown(elem_id="tradeoff-verdict")
                    t_table = gr.Dataframe(headers=["samples", "accuracy", "aligned novelty", "coverage", "Vendi",
                                                    "off-stroke ink ×100", "FD"], interactive=False)
                with gr.Column(visible=False) as trade3d:
                    t3 = ui3d.tradeoff_section()
            # ---------------------------------------------------------------------------------------------------------
            with gr.Tab("Feature space", id="tsne"):
                with gr.Column(visible=True) as tsne2d:
                    gr.Markdown("t-SNE of the encoder features ψ: gallery INRs of every class (dots), the selected "
                                "targets (stars) and your last samples (crosses, coloured by the classifier's label, "
                                "each linked to the target that conditioned it): do the samples spread over the "
                                "class or hug the shots? **Drag a box (or lasso) over dots or stars of the targets' "
                                "class** and the gallery INRs there become the Generate tab's targets.")
                    with gr.Row():
                        enc_choice = gr.Radio(tsne_encoders, value=tsne_encoders[0], label="Encoder "
                                              "(smooth augmentation cannot change an exactly invariant encoder's "
                                              "features: compare)")
                        tsne_btn = gr.Button("Recompute t-SNE", variant="secondary", elem_id="tsne-btn")
                    tsne_plot = gr.Plot(label="t-SNE", elem_id="tsne-plot")
                    map_pick = gr.Textbox(label="Targets picked on the map (candidate indices; also editable)",
                                        elem_id="tsne-picked")
                with gr.Column(visible=False) as tsne3d:
                    f3 = ui3d.tsne_section()
            # ---------------------------------------------------------------------------------------------------------
            with gr.Tab("Train", id="train"):
                gr.Markdown(device_text())
                keep_out = gr.Dropdown([("none", "none")] + [(str(c), str(c)) for c in range(10)], value=str(cls0),
                                       allow_custom_value=True,
                                       label="Class kept out of training (the few-shot class)",
                                       info="a label number of the data being trained (MNIST / CIFAR-10: 0–9; a "
                                            "folder: its subfolders in sorted order, from 0); never seen by the "
                                            "meta-learned init, the encoder or the diffusion model")
                with gr.Tabs():
                    with gr.Tab("Data"):
                        with gr.Row():
                            d_src = gr.Dropdown(["mnist", "folder", "cifar10"], value="mnist",
                                                label="Source (mnist: 5,000 digits shipped offline)")
                            d_dir = gr.Textbox(label="Folder (for folder / cifar10)",
                                               info=("a folder name under the server's data root" if data_root
                                                     else "needs a server started with --allow-paths or --data-root")
                                               if not allow_paths else "a folder on this machine")
                            d_zip = gr.File(label="…or upload a .zip of class folders (for folder)",
                                            file_types=[".zip"], file_count="single")
                            d_limit = gr.Number(500, precision=0, label="Images (0: all)")
                            d_psnr = gr.Slider(20, 45, value=36, step=1, label="Target PSNR (dB)")
                            d_init = gr.Dropdown(["meta", "shared", "independent"], value="meta",
                                                 label="Init (meta: learned on the training split)")
                            d_name = gr.Textbox("mnist_small", label="Output name")
                        d_btn = gr.Button("Build the INR zoo", variant="primary")
                        d_plot, d_md = gr.Plot(), gr.Markdown()
                    with gr.Tab("Stage 1 encoder"):
                        with gr.Row():
                            e_zoo = gr.Dropdown(zoo_choices, label="Zoo", allow_custom_value=True)
                            e_preset = gr.Dropdown(["tiny", "cpu"], value="tiny", label="Preset")
                            e_steps = gr.Number(200, precision=0, label="Steps")
                            e_bs = gr.Number(64, precision=0, label="Batch size")
                            e_lr = gr.Number(1e-3, label="Learning rate")
                            e_smooth = gr.Checkbox(True, label="Smooth augmentation")
                            e_name = gr.Textbox("encoder_small", label="Output name")
                        e_btn = gr.Button("Train the encoder", variant="primary")
                        e_plot, e_md = gr.Plot(), gr.Markdown()
                    with gr.Tab("Stage 2 diffusion"):
                        with gr.Row():
                            s_zoo = gr.Dropdown(zoo_choices, label="Zoo", allow_custom_value=True)
                            s_enc = gr.Dropdown(cb.encoders(), label="Encoder", allow_custom_value=True)
                            s_preset = gr.Dropdown(list(DENOISER_PRESETS), value="tiny", label="Denoiser preset")
                            s_steps = gr.Number(300, precision=0, label="Steps")
                            s_bs = gr.Number(128, precision=0, label="Batch size")
                            s_lr = gr.Number(3e-4, label="Learning rate")
                            s_lam = gr.Slider(0, 1, value=LAMBDA_EQ, step=0.05,
                                              label="λ — weight of L_eq in training (not λ_g)")
                            s_space = gr.Dropdown(["pca", "weights"], value="pca",
                                                  label="Space (pca: the zoo's principal subspace; MLP only)")
                            s_cond = gr.Dropdown(["probe", "features"], value="probe",
                                                 label="Condition (probe: ψ's function part; features: all of ψ)")
                            s_name = gr.Textbox("diffusion_small", label="Output name")
                        s_btn = gr.Button("Train the diffusion model", variant="primary")
                        s_plot, s_md = gr.Plot(), gr.Markdown()
                    with gr.Tab("Stage 3 few-shot fine-tune"):
                        with gr.Row():
                            f_base = gr.Dropdown(cb.checkpoints(), value=ck0, label="Base checkpoint",
                                                 allow_custom_value=True)
                            f_zoo = gr.Dropdown(zoo_choices, label="Zoo (shots + replay)", allow_custom_value=True)
                            f_cls = gr.Dropdown(classes, value=str(cls0), label="New class")
                            f_k = gr.Number(10, precision=0, label="K shots")
                            f_steps = gr.Number(200, precision=0, label="Steps")
                            f_lam = gr.Slider(0, 1, value=LAMBDA_EQ, step=0.05,
                                              label="λ — weight of L_eq in training (not λ_g)")
                            f_name = gr.Textbox("diffusion_adapted", label="Output name")
                        f_btn = gr.Button("Fine-tune", variant="primary")
                        f_plot, f_md = gr.Plot(), gr.Markdown()
                train_cancel = gr.Button("Cancel training", variant="stop")
            # ---------------------------------------------------------------------------------------------------------
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
                gr.Markdown("### Equivariance check\nPermute the hidden neurons of a candidate target at random.")
                with gr.Row():
                    v_index = gr.Number(0, precision=0, label="Candidate index")
                    v_seed = gr.Number(0, precision=0, label="Permutation seed")
                    v_btn = gr.Button("Permute and compare", variant="primary")
                with gr.Row():
                    v_img = gr.Image(label="Render before | after", type="pil", height=200)
                    v_md = gr.Markdown()
                v_plot = gr.Plot()

        # -- wiring --------------------------------------------------------------------------------------------------
        gen_inputs = [checkpoint, cls, selection, gamma, guidance, steps, n, seed, res, temperature, uploads, adapted,
                      set_level, sampler, t0]
        gen_outputs = [grid, status, readout, weights_file, last]
        picked = [candidates, selection, sel_md, chosen]
        cls.change(cb.show_candidates, [cls, uploads], picked, api_name="candidates")
        checkpoint.change(cb.show_candidates, [cls, uploads], picked,
                          api_name="candidates_for_checkpoint", api_visibility="private")
        candidates.select(cb.toggle, [selection, cls, uploads], picked[1:], api_name="select_target")
        apply_sel.click(cb.set_selection, [selection, cls, uploads], picked[1:], api_name="set_selection")
        first10.click(lambda c, u: cb.set_selection("0-9", c, u), [cls, uploads], [selection, sel_md, chosen],
                      api_name="select_first_10", api_visibility="private")
        clear_sel.click(lambda c, u: cb.set_selection("", c, u), [cls, uploads], [selection, sel_md, chosen],
                        api_name="clear_selection", api_visibility="private")
        fit_btn.click(cb.fit_uploads, [files, cls, uploads], [uploads, candidates, selection, sel_md, chosen],
                      api_name="fit_uploads", concurrency_limit=1)
        gen_event = gen_btn.click(cb.generate, gen_inputs, gen_outputs, api_name="generate", concurrency_limit=4,
                                  concurrency_id="generate")
        res.release(cb.rerender, [last, res], grid, api_name="rerender")
        export_btn.click(cb.export, last, export_file, api_name="export_state_dicts")
        walk_btn.click(cb.walk, [checkpoint, cls, selection, walk_a, walk_b, walk_n, seed, uploads, adapted, sampler,
                                 guidance, steps, temperature, t0], [walk_img, walk_md], api_name="walk",
                       concurrency_limit=2)
        adapt_event = adapt_btn.click(cb.adapt, [checkpoint, cls, selection, adapt_steps, uploads],
                                      [adapted, checkpoint, adapt_md, adapt_plot], api_name="adapt",
                                      concurrency_id="train", concurrency_limit=1)
        adapt_gen = adapt_event.success(cb.generate, gen_inputs, gen_outputs, api_name="generate_adapted",
                                        api_visibility="private",
                                        concurrency_id="generate")
        stop_btn.click(None, cancels=[gen_event, adapt_event, adapt_gen], api_name="stop", api_visibility="private")
        t_btn.click(cb.tradeoff, [checkpoint, cls, selection, gammas, t_n, seed, uploads, adapted, sampler, guidance,
                                  steps, temperature, t0, set_level],
                    [t_plot, t_table, t_verdict], api_name="tradeoff", concurrency_limit=1)
        map_pick.change(cb.pick_from_map, [map_pick, cls, uploads], [selection, sel_md, chosen],
                       api_name="pick_from_map")
        tsne_inputs = [enc_choice, checkpoint, cls, selection, uploads, adapted, last]
        tsne_btn.click(cb.tsne, [enc_choice, checkpoint, cls, selection, uploads, adapted, last], tsne_plot,
                       api_name="tsne", concurrency_limit=2)
        v_btn.click(cb.verify, [checkpoint, cls, v_index, v_seed, uploads, adapted], [v_img, v_plot, v_md],
                    api_name="verify")
        refresh = [checkpoint, e_zoo, s_enc, f_base]
        train_kw = dict(concurrency_id="train", concurrency_limit=1)
        ev = [d_btn.click(cb.train_data, [d_src, d_dir, d_limit, d_psnr, d_name, d_init, keep_out, d_zip],
                          [d_plot, d_md, *refresh],
                          api_name="train_data", **train_kw),
              e_btn.click(cb.train_encoder, [e_zoo, e_preset, e_steps, e_bs, e_lr, e_smooth, e_name, keep_out],
                          [e_plot, e_md, *refresh], api_name="train_encoder", **train_kw),
              s_btn.click(cb.train_diffusion, [s_zoo, s_enc, s_preset, s_steps, s_bs, s_lr, s_lam, s_name, s_space,
                                               keep_out, s_cond],
                          [s_plot, s_md, *refresh], api_name="train", **train_kw),
              f_btn.click(cb.train_finetune, [f_base, f_zoo, f_cls, f_k, f_steps, f_lam, f_name],
                          [f_plot, f_md, *refresh], api_name="train_finetune", **train_kw)]
        train_cancel.click(None, cancels=ev, api_name="cancel_training", api_visibility="private")
        # the zoo lists of the three training sub-tabs follow each other
        for stage, zd in (("encoder", e_zoo), ("diffusion", s_zoo), ("finetune", f_zoo)):
            zd.focus(lambda: gr.update(choices=cb.zoos()), None, zd, api_name=f"list_zoos_{stage}",
                     api_visibility="private")

        # -- the 2D / 3D switch and the 3D sections -------------------------------------------------------------------
        ui3d.wire(cb3, g3, t3, f3)

        def switch(d):
            on3 = d == DOMAINS[1]
            return [gr.update(visible=not on3), gr.update(visible=on3)] * 3

        sw = domain.change(switch, domain, [gen2d, gen3d, trade2d, trade3d, tsne2d, tsne3d], api_name="domain",
                           api_visibility="private")
        if cb3.available:  # the 3D candidates render once per category (cached), when 3D is first shown
            sw.then(lambda d, c, s: cb3.show_candidates(c) if d == DOMAINS[1] and not s else (gr.skip(),) * 4,
                    [domain, g3.category, g3.selection], [g3.candidates, g3.selection, g3.sel_md, g3.chosen],
                    api_name="domain_candidates3d", api_visibility="private").then(
                lambda d, *a: cb3.tsne(*a) if d == DOMAINS[1] else gr.skip(),
                [domain, g3.checkpoint, g3.category, g3.selection, g3.last, g3.uploads], f3.plot,
                api_name="domain_tsne3d", api_visibility="private")

        start = demo.load(cb.show_candidates, [cls, uploads], picked,
                          api_name="page_load_candidates", api_visibility="private")
        # every tab alive at first paint: the measured frontier (read from docs/data), the feature map (after the
        # first grid, so its samples are on it; computed once per checkpoint and targets, then cached)
        demo.load(cb.shipped_tradeoff, None, [t_plot, t_verdict], api_name="shipped_tradeoff")
        if cb3.available:
            demo.load(cb3.shipped_tradeoff, None, [t3.plot, t3.verdict], api_name="shipped_tradeoff3d")
        demo.load(None, None, None, js=PICK_JS)
        if autostart and ck0 is not None:  # a first grid on screen at once
            first = start.then(cb.generate, gen_inputs, gen_outputs, api_name="page_load_generate",
                               api_visibility="private", concurrency_id="generate")
            first.then(cb.tsne, tsne_inputs, tsne_plot, api_name="page_load_tsne", api_visibility="private")
        elif ck0 is not None:
            start.then(cb.tsne, tsne_inputs, tsne_plot, api_name="page_load_tsne", api_visibility="private")
    return demo


def _error_page(err: Exception) -> gr.Blocks:
    with gr.Blocks(title="EquiGen Studio") as demo:
        gr.Markdown(f"# EquiGen Studio\n\n**The shipped models could not be loaded:** {err}\n\n"
                    "Reinstall from a fresh clone, or rebuild them with "
                    "`python -m equigen_core train all --preset cpu --out checkpoints/mnist`.")
    return demo


def launch(demo: gr.Blocks, *, share: bool = False, **kw):
    """Queue (bounded) and serve; host and port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default
    127.0.0.1:7860). Uploads over 10 MB are refused by the server before any callback sees them."""
    kw.setdefault("max_file_size", "10mb")
    return demo.queue(max_size=64, default_concurrency_limit=2).launch(share=share, **kw)


def main(argv=None) -> None:
    """The launcher behind `python app.py`, `python -m equigen_studio` and the `equigen-studio` command."""

    parser = argparse.ArgumentParser(prog="equigen-studio",
                                     description="EquiGen Studio: few-shot INR generation in the browser (host and "
                                                 "port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    parser.add_argument("--root", default="checkpoints/mnist", help="the 2D checkpoint root (a folder `train all` "
                                                                     "wrote)")
    parser.add_argument("--root3d", default="checkpoints/shapes", help="the 3D checkpoint root")
    parser.add_argument("--work-dir", default="runs/studio", help="where the Train tab writes")
    parser.add_argument("--allow-paths", action="store_true",
                        help="local use: accept any checkpoint, zoo, encoder or data folder path in the UI and API "
                             "(by default only names under the roots above and the work dir, and uploads)")
    parser.add_argument("--data-root", default=None,
                        help="a folder whose subfolders the Train tab may read as training data, by name")
    args = parser.parse_args(argv)
    launch(build_demo(root=args.root, root3d=args.root3d, work_dir=args.work_dir, allow_paths=args.allow_paths,
                      data_root=args.data_root), share=args.share)


__all__ = ["build_demo", "launch", "main", "ADAPTED"]
