"""Smooth augmentation: canonicalise the hidden-neuron order of SIRENs by a shortest Hamiltonian path (EQUIGEN §4.2).

Permuting the hidden neurons of a layer leaves an INR's function unchanged, so one function has N_l! weight vectors
per layer. EQUIGEN's "smooth augmentation" (§4.2) picks the order in which consecutive neurons are as similar as
possible, which makes the weights vary smoothly along the neuron axis. Here, as in the paper:

- hidden layer l is a set of N_l "cities"; neuron j is the vector f_j = [W_l[j, :] | b_l[j] | W_{l+1}[:, j]]
  (incoming row, bias, outgoing column);
- the total variation of an order π is TV = Σ_k ‖f_{π(k)} − f_{π(k+1)}‖₁ (L1 between consecutive neurons);
- the canonical order minimises TV: a shortest Hamiltonian *path* (open, free endpoints) over the L1 distances.

Layers are independent problems: permuting layer l±1 reorders the entries of every f_j of layer l alike, which leaves
all L1 distances of layer l unchanged. The solution is applied through `WeightSpace.permute`, so the function is
preserved exactly.

Solver (`solve_shortest_path`), vectorised over the batch B with no Python loop over INRs:
1. greedy nearest-neighbour paths from many start cities at once, keeping the shortest per INR;
2. best-improvement local search on the open path — 2-opt (reverse a segment; reversing a prefix or suffix changes
   one edge only) and or-opt (move 1..3 consecutive cities elsewhere, optionally reversed). The path is padded with a
   dummy city (distance 0 to all) at both ends, so endpoint moves need no special case. All move deltas are computed as
   one tensor for all INRs; each iteration applies the best improving move per INR and drops INRs at a local optimum.
References `solve_with_elkai` (LKH) and `solve_with_fast_tsp` are for benchmarks only (loop over B, optional deps).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from equigen_core.weightspace.inr import SirenSpec
from equigen_core.weightspace.weights import WeightSpace

MAX_SEGMENT = 3  # or-opt moves segments of 1..3 consecutive cities (classic Or-opt, Or 1976)


# ----------------------------------------------------------------------------------------------------------------------
# Distances and path lengths


def pairwise_l1(features: Tensor) -> Tensor:
    """(B, N, F) neuron features → (B, N, N) L1 distances."""
    if features.dim() != 3:
        raise ValueError(f"features must be (B, N, F), got shape {tuple(features.shape)}")
    return torch.cdist(features, features, p=1.0)


def path_length(dist: Tensor, order: Tensor) -> Tensor:
    """Length Σ_k dist[π(k), π(k+1)] of the open path `order` (B, N) over `dist` (B, N, N) → (B,)."""
    if order.shape[1] < 2:
        return dist.new_zeros(dist.shape[0])
    rows = dist.gather(1, order[:, :-1, None].expand(-1, -1, dist.shape[2]))  # (B, N-1, N): dist[π(k), :]
    return rows.gather(2, order[:, 1:, None]).squeeze(2).sum(1)  # (B,)


def neuron_features(ws: WeightSpace, layer: int) -> Tensor:
    """Hidden layer `layer` of B INRs as cities → (B, N_l, d_in + 1 + d_out): [W_l[j, :] | b_l[j] | W_{l+1}[:, j]]."""
    w_in, b, w_out = ws.weights[layer], ws.biases[layer], ws.weights[layer + 1]
    return torch.cat([w_in, b.unsqueeze(2), w_out.transpose(1, 2)], dim=2)


def total_variation(ws: WeightSpace) -> Tensor:
    """Σ over hidden layers of the L1 path length of the current neuron order → (B,)."""
    tv = ws.weights[0].new_zeros(ws.batch)
    for layer in range(len(ws.spec.hidden)):
        f = neuron_features(ws, layer)  # (B, N, F)
        tv = tv + (f[:, 1:] - f[:, :-1]).abs().sum(dim=(1, 2))
    return tv


# ----------------------------------------------------------------------------------------------------------------------
# Vectorised solver: greedy construction + 2-opt / or-opt local search


def _greedy_paths(dist: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest-neighbour paths of all B INRs from each start in `starts` (S,) → orders (B, S, N), lengths (B, S)."""
    b, n, _ = dist.shape
    s = starts.numel()
    cur = starts.to(dist.device).expand(b, s).clone()  # (B, S)
    visited = torch.zeros(b, s, n, dtype=torch.bool, device=dist.device)
    visited.scatter_(2, cur[..., None], True)
    orders, length = [cur], dist.new_zeros(b, s)
    for _ in range(n - 1):
        rows = dist.gather(1, cur[..., None].expand(-1, -1, n)).masked_fill(visited, float("inf"))  # (B, S, N)
        step, cur = rows.min(dim=2)
        length = length + step
        visited.scatter_(2, cur[..., None], True)
        orders.append(cur)
    return torch.stack(orders, dim=2), length


def _move_deltas(mq: Tensor) -> Tensor:
    """Length changes of every 2-opt and or-opt move → (B, N·N + 2·S·N·(N+1)), +inf where a move is invalid.

    mq (B, N+2, N+2) is dist between padded positions: mq[a, c] = dist[q_a, q_c], q_0 = q_{N+1} = dummy.
    Layout: 2-opt [i-1, j-1] (reverse positions i..j, 1 ≤ i < j ≤ N), then or-opt [s-1, rev, i-1, k] (move positions
    i..i+s-1 between k and k+1, reversed if rev).
    """
    b, m, _ = mq.shape
    n = m - 2
    dev, inf = mq.device, float("inf")
    e = mq.diagonal(offset=1, dim1=1, dim2=2)  # (B, N+1): e[k] = edge (q_k, q_{k+1})
    pos = torch.arange(n, device=dev)
    # 2-opt: + (q_{i-1}, q_j) + (q_i, q_{j+1}) − e[i-1] − e[j]
    two = mq[:, :n, 1 : n + 1] + mq[:, 1 : n + 1, 2:] - e[:, :n, None] - e[:, None, 1:]  # (B, N, N)
    two = two.masked_fill(pos[:, None] >= pos[None, :], inf)  # keep i < j
    # or-opt: removing q_i..q_{i+s-1} joins (q_{i-1}, q_{i+s}); inserting it between q_k, q_{k+1} costs −e[k] + 2
    # new edges
    k = torch.arange(n + 1, device=dev)
    ors = []
    for s in range(1, MAX_SEGMENT + 1):
        i = torch.arange(1, n + 1, device=dev)  # segment start (padded position)
        end = (i + s - 1).clamp(max=n)  # last city of the segment
        after = (i + s).clamp(max=n + 1)
        gain = mq[:, i - 1, after] - e[:, i - 1] - e[:, end]  # (B, N): removal
        fwd = mq[:, k[None, :], i[:, None]] + mq[:, end[:, None], (k + 1).clamp(max=n + 1)[None, :]]  # (B, N, N+1)
        rev = mq[:, k[None, :], end[:, None]] + mq[:, i[:, None], (k + 1).clamp(max=n + 1)[None, :]]
        outside = (k[None, :] < (i - 1)[:, None]) | (k[None, :] >= (i + s)[:, None])  # k not next to the segment
        ok = (i + s - 1 <= n)[:, None] & outside  # (N, N+1)
        ok2 = torch.stack([ok, ok if s > 1 else torch.zeros_like(ok)])  # a reversed single city is the same move
        cost = torch.stack([fwd, rev], dim=1) + (gain[:, :, None] - e[:, None, :])[:, None]  # (B, 2, N, N+1)
        ors.append(cost.masked_fill(~ok2, inf))
    return torch.cat([two.reshape(b, -1), torch.stack(ors, dim=1).reshape(b, -1)], dim=1)


def _move_sources(flat_idx: Tensor, n: int) -> Tensor:
    """Decode the chosen move per INR (B,) → (B, N+2) source positions: new q'[t] = q[src[t]]."""
    dev = flat_idx.device
    t = torch.arange(n + 2, device=dev)[None, :]  # (1, N+2)
    is_two = flat_idx < n * n
    # 2-opt: reverse i..j
    i2 = (flat_idx // n + 1)[:, None].clamp(max=n)
    j2 = (flat_idx % n + 1)[:, None]
    src_two = torch.where((t >= i2) & (t <= j2), i2 + j2 - t, t)
    # or-opt: move i..i+s-1 between k and k+1
    r = (flat_idx - n * n).clamp(min=0)
    k = (r % (n + 1))[:, None]
    i = (r // (n + 1) % n + 1)[:, None]
    rev = (r // (n * (n + 1)) % 2)[:, None].bool()
    s = (r // (2 * n * (n + 1)) + 1)[:, None]
    left = k < i  # the segment moves towards the front (k < i-1)
    lo = torch.where(left, k + 1, k - s + 1)  # where the segment lands: positions lo..lo+s-1
    in_seg = (t >= lo) & (t < lo + s)
    seg_src = torch.where(rev, i + s - 1 - (t - lo), i + (t - lo))
    shift_left = left & (t >= k + s + 1) & (t <= i + s - 1)  # cities between k+1 and i-1 move right by s
    shift_right = ~left & (t >= i) & (t <= k - s)  # cities between i+s and k move left by s
    src_or = torch.where(in_seg, seg_src, torch.where(shift_left, t - s, torch.where(shift_right, t + s, t)))
    return torch.where(is_two[:, None], src_two, src_or)


def _local_search(dist: Tensor, order: Tensor, *, max_iters: int, rel_tol: float) -> Tensor:
    """Best-improvement 2-opt + or-opt from `order` (B, N) until no INR improves or `max_iters` → (B, N)."""
    b, n, _ = dist.shape
    if n < 3:
        return order
    aug = torch.nn.functional.pad(dist, (0, 1, 0, 1))  # (B, N+1, N+1): city N is the dummy, 0 to everyone
    dummy = order.new_full((b, 1), n)
    q = torch.cat([dummy, order, dummy], dim=1)  # (B, N+2) padded path
    active = torch.arange(b, device=dist.device)
    for _ in range(max_iters):
        qa, da = q[active], aug[active]
        rows = da.gather(1, qa[:, :, None].expand(-1, -1, n + 1))  # (A, N+2, N+1)
        mq = rows.gather(2, qa[:, None, :].expand(-1, n + 2, -1))  # (A, N+2, N+2)
        best, idx = _move_deltas(mq).min(dim=1)  # (A,)
        length = mq.diagonal(offset=1, dim1=1, dim2=2).sum(1)
        improving = best < -rel_tol * length.clamp_min(torch.finfo(mq.dtype).tiny)
        if not improving.any():
            break
        active, idx, qa = active[improving], idx[improving], qa[improving]
        q[active] = qa.gather(1, _move_sources(idx, n))
    return q[:, 1:-1]


def solve_shortest_path(dist: Tensor, *, max_iters: int = 1000, n_starts: int | None = None,
                        init: Tensor | None = None) -> Tensor:
    """Shortest open Hamiltonian path (free endpoints) of B symmetric problems dist (B, N, N) → order (B, N) long.

    Greedy nearest neighbour from `n_starts` start cities (default all N; the best per INR is kept, or `init` (B, N)
    if that is shorter), then best-improvement 2-opt + or-opt local search for at most `max_iters` iterations.
    Computed in float64; deterministic.
    """
    if dist.dim() != 3 or dist.shape[1] != dist.shape[2]:
        raise ValueError(f"dist must be (B, N, N), got shape {tuple(dist.shape)}")
    b, n, _ = dist.shape
    if n == 0 or b == 0:
        return torch.zeros(b, n, dtype=torch.long, device=dist.device)
    d = dist.to(torch.float64)
    s = n if n_starts is None else max(1, min(int(n_starts), n))
    starts = torch.arange(s, device=d.device) * n // s  # evenly spread start cities
    orders, lengths = _greedy_paths(d, starts)  # (B, S, N), (B, S)
    best = lengths.argmin(dim=1)
    order = orders[torch.arange(b, device=d.device), best]  # (B, N)
    if init is not None:
        if init.shape != (b, n):
            raise ValueError(f"init must be (B, N) = {(b, n)}, got {tuple(init.shape)}")
        init = init.to(device=d.device, dtype=torch.long)
        keep = path_length(d, init) < lengths.min(dim=1).values
        order = torch.where(keep[:, None], init, order)
    return _local_search(d, order, max_iters=max_iters, rel_tol=1e-9)


# ----------------------------------------------------------------------------------------------------------------------
# Canonicalisation of weight vectors


@dataclass(frozen=True)
class SmoothResult:
    """Canonicalised weights and the permutation applied to each hidden layer."""

    weights: Tensor  # (B, P) flat, neurons reordered
    perms: list[Tensor]  # [(B, N_l)]: new neuron j = old neuron perms[l][:, j]
    tv_before: Tensor  # (B,) total variation of the input order
    tv_after: Tensor  # (B,) total variation of the canonical order (≤ tv_before)


def canonicalize(spec: SirenSpec, flat: Tensor, *, chunk: int = 1024, max_iters: int = 1000) -> SmoothResult:
    """Reorder the hidden neurons of B SIRENs (B, P) to minimise total variation (EQUIGEN §4.2 smooth augmentation).

    Each layer's current order competes with the solver's path, so TV never increases; processed `chunk` INRs at a
    time to bound memory.
    """
    if flat.dim() != 2 or flat.shape[1] != spec.num_params:
        raise ValueError(f"weights must be (B, {spec.num_params}) for {spec}, got shape {tuple(flat.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be ≥ 1, got {chunk}")
    outs, perms, before, after = [], [[] for _ in spec.hidden], [], []
    for lo in range(0, flat.shape[0], chunk):
        ws = WeightSpace.from_flat(spec, flat[lo : lo + chunk])
        chunk_perms = []
        for layer, width in enumerate(spec.hidden):
            dist = pairwise_l1(neuron_features(ws, layer))  # (B, N, N)
            ident = torch.arange(width, device=flat.device).expand(ws.batch, -1)
            chunk_perms.append(solve_shortest_path(dist, max_iters=max_iters, init=ident))
        canon = ws.permute(chunk_perms)
        outs.append(canon.to_flat())
        before.append(total_variation(ws))
        after.append(total_variation(canon))
        for layer, p in enumerate(chunk_perms):
            perms[layer].append(p)
    if not outs:
        empty = flat.new_zeros(0)
        return SmoothResult(flat.clone(), [torch.zeros(0, w, dtype=torch.long) for w in spec.hidden], empty, empty)
    return SmoothResult(torch.cat(outs), [torch.cat(p) for p in perms], torch.cat(before), torch.cat(after))


# ----------------------------------------------------------------------------------------------------------------------
# Reference solvers for benchmarks (open path via a dummy city at distance 0 from all others; loop over B)


def _with_dummy(dist: Tensor, scale: float, *, dummy: int = 0) -> list[list[list[int]]]:
    """(B, N, N) → B integer matrices (N+1, N+1): max distance scaled to `scale`, rounded; city N is the dummy."""
    d = dist.detach().double().cpu()
    d = (d * (scale / d.amax(dim=(1, 2), keepdim=True).clamp_min(1e-30))).round().long()  # (B, N, N)
    d = torch.nn.functional.pad(d, (0, 1, 0, 1), value=dummy)
    d.diagonal(dim1=1, dim2=2).zero_()
    return d.tolist()


def _cut_at_dummy(tour: list[int], n: int) -> list[int]:
    """Closed tour over N+1 cities (dummy = N) → the open path of the N real cities."""
    tour = tour[:-1] if len(tour) == n + 2 and tour[0] == tour[-1] else tour
    at = tour.index(n)
    return tour[at + 1 :] + tour[:at]


def solve_with_elkai(dist: Tensor, *, runs: int = 10) -> Tensor:
    """LKH (via elkai) on each of B problems (B, N, N) → order (B, N); distances scaled to integers ≤ 1e6.

    elkai 2.0.1 reads explicit weights as integers: raw float distances are silently truncated (wrong tours).
    """
    try:
        import elkai
    except ImportError as e:
        raise ImportError("solve_with_elkai needs the 'elkai' package: pip install elkai") from e
    b, n, _ = dist.shape
    if n < 3:  # elkai refuses fewer than 3 cities; any order is optimal for N ≤ 2
        return torch.arange(n).expand(b, -1).clone()
    out = [_cut_at_dummy(elkai.DistanceMatrix(m).solve_tsp(runs=runs), n) for m in _with_dummy(dist, 1e6)]
    return torch.tensor(out, dtype=torch.long, device=dist.device).reshape(b, n)


def solve_with_fast_tsp(dist: Tensor, *, seconds: float = 0.05) -> Tensor:
    """fast-tsp on each of B problems (B, N, N) → order (B, N); distances scaled to integers ≤ 65535 (its limit)."""
    try:
        import fast_tsp
    except ImportError as e:
        raise ImportError("solve_with_fast_tsp needs the 'fast-tsp' package: pip install fast-tsp") from e
    b, n, _ = dist.shape
    if n < 3:
        return torch.arange(n).expand(b, -1).clone()
    # the dummy sits at a constant 32767 from everyone (adds the same 2·32767 to every tour) instead of 0, so the
    # matrix stays metric (fast-tsp's local search assumes the triangle inequality); real distances scaled to ≤ 32767
    mats = _with_dummy(dist, 32767, dummy=32767)
    tours = [fast_tsp.find_tour(m, duration_seconds=seconds, stop_when_converged=True) for m in mats]
    out = [_cut_at_dummy(list(t), n) for t in tours]
    return torch.tensor(out, dtype=torch.long, device=dist.device).reshape(b, n)
