"""What the page carries besides components: the About tab's text and the one page script (picking targets on
a feature map)."""

ABOUT = """
### What the controls mean
- **Targets (K)** — the few example INRs of the new class the generator should imitate. Their encoder features ψ are
  the condition; more targets cover more of the class.
- **Sampler** — *span of the targets* (the default, our addition): each sample starts as a random convex mixture
  of 3 targets' weights (the zoo is fitted from one shared, meta-learned init, so the weights of two digits of a class
  are aligned and their mixtures are digits of that class in new styles), is moved by an exact rotation / scale /
  shift in weight space, then noised to step t0 and denoised: the mixing and moving bring the variety, the denoiser
  removes the stray ink they bring in. *From noise* is the paper's sampler (ψ̃ = ψ + γ·ε, then DDIM from pure noise);
  *refine augmented targets* denoises exact augmentations of single targets from t0.
- **γ (diversity)** — span: how far each start goes from its anchor target (0: the target itself; 1: full mixtures
  and the base move; above 1: stronger moves). From noise: the size of the random step added to each target's
  feature, ψ̃ = ψ + γ·ε. Refine: the strength of the move. docs/RESULTS.md measures what each does. Every knob's
  range is the library's (presets.BOUNDS): the sliders, the command line and `equigen_core.Sampling` check the same.
- **t0** — the diffusion step where the span and refine samplers start denoising: small t0 keeps the start, large
  t0 lets the model redraw more of it.
- **λ_g (guidance)** — our addition, not the paper's: at every DDIM step the predicted weights are nudged so their
  features move a fraction λ_g of the way toward ψ̃. The shipped model is conditioned on ψ's function part (the INR's
  values on a 14×14 grid), so this pulls each sample's coarse shape toward its perturbed target: more faithful, less
  new. (The paper's λ weighs the equivariance loss L_eq in training: the Stage 2 and Stage 3 training tabs set
  that one.)
- **τ (temperature)** — our addition: the initial noise is x_T = τ·ε. Below 1 it trades diversity for cleaner samples
  (the truncation trick); see docs/RESULTS.md for what it does to accuracy and novelty.
- **Set-level condition** — every sample is conditioned on the mean ψ of the selected targets instead of one target
  each; on held-in digits it draws the right class a little more often with the shipped model (0.889 vs
  0.872, docs/RESULTS.md, ablations).
- **DDIM steps** — how many denoising steps turn noise into weights; each step's prediction x̂0 is rendered live.
- **Resolution** — an INR is a continuous function of (x, y): the same weights render at any size.
- **Walk between two targets** — the straight line between two candidates' weights (the zoo's shared init aligns
  them, so it passes through plausible members of the class), and the same points after the denoiser from t0.
- **Export** — the last samples as SIREN state dicts (`seq.{i}.weight` / `seq.{i}.bias`, one `.pth` per INR, and
  `spec.json`), the layout other INR tools read.
- **Feature space** — the t-SNE of ψ; a box or lasso drag over dots or stars of the targets' class makes those INRs
  the targets. Each sample is linked to the target that conditioned it: samples that hug their target have not left
  the shots.
- **Trade-off** — the sweep runs with these settings and varies only γ.
- **Adapt** — stage 3: a short fine-tune of the diffusion model on the selected targets (augmented exactly in weight
  space, with replay of base classes and early stopping before the targets are memorised).

Every accuracy figure in this app stands beside a novelty measure: a copy of a target is recognisably of the class, so
accuracy alone rewards copying (see docs/RESULTS.md for what the shipped models reach, honestly measured).
"""

# The page's script: a box or lasso selection on a feature map (plotly_selected) writes the candidate indices of the
# points picked (their customdata, figures.tsne_figure) into the map's "picked" box, whose input event makes them the
# targets. Re-attached whenever a plot is redrawn.
PICK_JS = """
() => {
  const hook = (plotSel, boxSel) => {
    const gd = document.querySelector(plotSel + ' .js-plotly-plot');
    if (!gd || !gd.on) return;
    if (!gd._equigenPick) {
      gd._equigenPick = (ev) => {
        if (!ev || !ev.points) return;
        const ids = [...new Set(ev.points.map((p) => p.customdata)
          .filter((c) => typeof c === 'number' && c >= 0))].sort((a, b) => a - b);
        const box = document.querySelector(boxSel + ' textarea, ' + boxSel + ' input');
        if (!box || !ids.length) return;
        box.value = ids.join(',');
        box.dispatchEvent(new Event('input', {bubbles: true}));
      };
    }
    const ls = gd._ev && gd._ev.listeners ? gd._ev.listeners('plotly_selected') : [];
    if (!ls.includes(gd._equigenPick)) gd.on('plotly_selected', gd._equigenPick);
  };
  setInterval(() => { hook('#tsne-plot', '#tsne-picked'); hook('#tsne3d-plot', '#tsne3d-picked'); }, 400);
}
"""
