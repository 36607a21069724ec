"""One protocol runner for every domain: a plan of methods per seed → Points → a summary over seeds.

    points = run_protocol(plan, seeds=(0, 1, 2), per_seed=12, desc="evaluate")
    summary = summarize(points)          # one row per (method, knob, value): mean and std of every metric over seeds

A plan is the domain's protocol (evaluation.frontier for image zoos, evaluation.protocol3d for shapes): for one seed it
draws that seed's shots and yields `Step`s, each a method at one knob value whose `score()` makes the samples and
returns the domain's metrics (`domains.*.metrics`). The runner times each step, drives one progress bar and gathers
everything into the same JSON for both domains: {"meta", "points", "summary", ...}.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from tqdm.auto import tqdm


@dataclass
class Point:
    """One method at one knob value on one seed's shots."""

    method: str
    family: str  # "reference" | "baseline" | "equigen"
    knob: str  # the swept parameter ("" when the method has none)
    value: float | None
    seed: int
    metrics: dict[str, float]
    seconds: float

    def key(self) -> tuple:
        return self.method, self.knob, self.value


@dataclass(frozen=True)
class Step:
    """What a plan yields: a method at one knob value; score() makes its samples and measures them."""

    method: str
    family: str
    knob: str
    value: float | None
    score: Callable[[], dict[str, float]]


# A plan: (seed, status) → the seed's steps, in order; status(text) shows what the plan is doing between steps
# (e.g. adapting a model to the seed's shots).
Plan = Callable[[int, Callable[[str], None]], Iterable[Step]]


def run_protocol(plan: Plan, seeds: Sequence[int], *, per_seed: int, desc: str = "protocol", progress: bool = True,
                 on_point: Callable[[Point], None] | None = None) -> list[Point]:
    """Every step of the plan on every seed → Points in run order. per_seed: steps per seed (for the progress bar)."""

    points: list[Point] = []
    with tqdm(total=len(seeds) * per_seed, desc=desc, disable=not progress) as bar:
        for seed in seeds:
            def status(text: str, seed=seed) -> None:
                bar.set_postfix_str(f"seed {seed}: {text}")

            for step in plan(seed, status):
                status(f"{step.method} {step.knob}={step.value}" if step.knob else step.method)
                t0 = time.perf_counter()
                metrics = {k: float(v) for k, v in step.score().items()}
                p = Point(step.method, step.family, step.knob, step.value, seed, metrics,
                          round(time.perf_counter() - t0, 2))
                points.append(p)
                bar.update(1)
                if on_point is not None:
                    on_point(p)
    return points


def t_halfwidth(values: Sequence[float], level: float = 0.95) -> float:
    """Half-width of the t-based confidence interval of the mean of `values` (nan for fewer than two)."""

    from scipy.stats import t

    v = torch.tensor(list(values), dtype=torch.float64)
    if len(v) < 2:
        return float("nan")
    return float(t.ppf(0.5 + level / 2, len(v) - 1) * v.std(unbiased=True) / math.sqrt(len(v)))


def summarize(points: Sequence[Point | dict]) -> list[dict]:
    """Mean, (population) std and t-based 95 % interval half-width ("ci95") over seeds of every metric, one row per
    (method, knob, value), in run order."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        p = p if isinstance(p, Point) else Point(**p)
        groups.setdefault(p.key(), []).append(p)
    rows = []
    for (method, knob, value), ps in groups.items():
        names = list(ps[0].metrics)
        vals = {m: torch.tensor([p.metrics[m] for p in ps], dtype=torch.float64) for m in names}
        rows.append({"method": method, "family": ps[0].family, "knob": knob, "value": value,
                     "seeds": [p.seed for p in ps],
                     "mean": {m: float(v.mean()) for m, v in vals.items()},
                     "std": {m: float(v.std(unbiased=False)) for m, v in vals.items()},
                     "ci95": {m: t_halfwidth(v.tolist()) for m, v in vals.items()}})
    return rows


def row_label(row: dict) -> str:
    """"method (knob=value)", or the method alone when it has no knob."""
    return f"{row['method']} ({row['knob']}={row['value']:g})" if row["knob"] else row["method"]


def trend_verdict(rows: Sequence[dict], trends: Sequence[tuple[str, str]], *, agrees: Callable[[dict], bool],
                  knob: str = "γ", claim: str = "the paper's claim") -> str:
    """Whether a sweep (summary rows in knob order) shows the expected trends. trends: (metric, its name in the
    sentence); agrees(trend of each metric: "rises" | "falls" | "flat") → whether the run agrees with the claim."""
    if len(rows) < 3:
        return f"too few {knob} values to judge a trend"
    from scipy.stats import spearmanr

    order = list(range(len(rows)))

    def rho(metric):
        vals = [r["mean"][metric] for r in rows]
        return float("nan") if len(set(vals)) < 2 else float(spearmanr(order, vals).statistic)

    def trend(x):
        return "flat" if x != x else "rises" if x > 0.3 else "falls" if x < -0.3 else "flat"

    rhos = {m: rho(m) for m, _ in trends}
    seen = {m: trend(r) for m, r in rhos.items()}
    parts = [f"{name} {seen[m]} (Spearman ρ = {rhos[m]:.2f})" for m, name in trends]
    said = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    return f"As {knob} grows, {said}: this run {'agrees' if agrees(seen) else 'does not agree'} with {claim}."


@dataclass
class Curve:
    """One method's points in sweep order, for plotting (the app's Trade-off tab and the report share this)."""

    method: str
    family: str
    knob: str
    values: list = field(default_factory=list)
    mean: dict = field(default_factory=dict)  # metric → list over the sweep
    std: dict = field(default_factory=dict)


def curves(summary: Sequence[dict]) -> list[Curve]:
    out: dict[str, Curve] = {}
    for r in summary:
        c = out.setdefault(r["method"], Curve(r["method"], r["family"], r["knob"]))
        c.values.append(r["value"])
        for m in r["mean"]:
            c.mean.setdefault(m, []).append(r["mean"][m])
            c.std.setdefault(m, []).append(r["std"][m])
    return list(out.values())
