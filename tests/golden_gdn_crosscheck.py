#!/usr/bin/env python3
"""Cross-checks the Gated DeltaNet / KDA goldens against a second, chunked reference.

scripts/make_goldens.py computes golden/{gated_delta_rule,kda}{,_update}/*.h5 with the token
recurrence. This script recomputes every file's outputs from its inputs with the chunked
form instead (the UT / WY representation of the Gated DeltaNet paper, Yang et al. 2024,
section 3, in the per-key-channel form of Kimi Linear; HF transformers'
torch_chunk_gated_delta_rule in models/qwen3_next/modeling_qwen3_next.py and fla's
naive_chunk_kda in fla/ops/kda/naive.py follow the same algebra): within a chunk the
delta-rule corrections u are found at once by solving a unit lower-triangular system, and
the state crosses chunks once per chunk. Both references are float64, so they must agree
to rounding (~1e-12). Needs only numpy and h5py; ctest runs it
(Goldens.DeltaRuleAgreesWithTheChunkedForm).

    python3 tests/golden_gdn_crosscheck.py [--golden DIR] [--chunk 64] [--tol 1e-10]

Per value head, for a chunk of C tokens starting from state S0 (K, V), with
G_t = cumulative sum of the log decay g over the chunk up to t (a K-vector; GDN's scalar g
is the same in every channel):

    S_t = diag(exp G_t) S0 + sum_{s<=t} diag(exp(G_t - G_s)) k_s u_s^T
    u_t = beta_t (v_t - S0^T (exp G_t * k_t) - sum_{s<t} u_s k_s^T (exp(G_t - G_s) * k_t))

so (I + A) U = diag(beta) (V - (exp G * K) S0) with A_ts = beta_t k_t^T (exp(G_t - G_s) * k_s)
for s < t, and o_t = scale * S_t^T q_t, the final state S_C.
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np

OPS = ("gated_delta_rule", "kda", "gated_delta_rule_update", "kda_update")


def chunked_sequence(S0, q, k, v, g, beta, scale, chunk):
    """One sequence of one value head: q, k (L, K), v (L, V), g (L, K), beta (L)."""
    L, V = v.shape
    o = np.empty((L, V))
    S = S0.copy()
    for c0 in range(0, L, chunk):
        sl = slice(c0, min(c0 + chunk, L))
        qc, kc, vc, bc = q[sl], k[sl], v[sl], beta[sl]
        G = np.cumsum(g[sl], axis=0)                     # (C, K)
        C = len(bc)
        # rel[t, s, :] = exp(G_t - G_s), used only for s <= t (never overflows: <= 1)
        diff = G[:, None, :] - G[None, :, :]
        causal = np.tril(np.ones((C, C), dtype=bool))
        rel = np.where(causal[:, :, None], np.exp(np.where(causal[:, :, None], diff, 0.0)), 0.0)
        kk = np.einsum("tk,tsk,sk->ts", kc, rel, kc)      # k_t^T diag(exp(G_t - G_s)) k_s
        A = bc[:, None] * np.tril(kk, -1)
        rhs = bc[:, None] * (vc - (np.exp(G) * kc) @ S)
        U = np.linalg.solve(np.eye(C) + A, rhs)
        qk = np.einsum("tk,tsk,sk->ts", qc, rel, kc)      # q_t^T diag(exp(G_t - G_s)) k_s, s <= t
        o[sl] = scale * ((np.exp(G) * qc) @ S + qk @ U)
        S = np.exp(G[-1])[:, None] * S + (np.exp(G[-1] - G) * kc).T @ U
    return o, S


def l2norm(x):
    # fla l2norm_fwd / HF l2norm: x / sqrt(sum x^2 + 1e-6)
    return x / np.sqrt((x ** 2).sum(-1, keepdims=True) + 1e-6)


def run_rows(q, k, v, g, beta, scale, use_l2, states, chunk):
    """q, k (L, H, K), v (L, HV, V), g (L, HV) or (L, HV, K), beta (L, HV), states (HV, K, V)."""
    L, H, K = q.shape
    HV = v.shape[1]
    if use_l2:
        q, k = l2norm(q), l2norm(k)
    o = np.empty(v.shape)
    S_out = np.empty(states.shape)
    for hv in range(HV):
        h = hv * H // HV                                    # value head hv reads q/k head hv // (HV / H)
        gh = g[:, hv] if g.ndim == 3 else np.repeat(g[:, hv, None], K, axis=1)
        o[:, hv], S_out[hv] = chunked_sequence(states[hv], q[:, h], k[:, h], v[:, hv], gh,
                                               beta[:, hv], scale, chunk)
    return o, S_out


def check(path, chunk):
    with h5py.File(path, "r") as f:
        op = f.attrs["op"]
        op = op.decode() if isinstance(op, bytes) else str(op)
        inp = {name: f["inputs"][name][()] for name in f["inputs"]}
        out = {name: f["outputs"][name][()] for name in f["outputs"]}
        use_l2 = int(f.attrs.get("use_qk_l2norm_in_kernel", 0))
        K = inp["q"].shape[-1]
        scale = float(f.attrs.get("scale", K ** -0.5))
        pad = int(f.attrs.get("pad_slot_id", -1))
    x = {n: a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64) for n, a in inp.items()}
    q, k, v, g, beta = x["q"], x["k"], x["v"], x["g"], x["beta"]
    HV, V = v.shape[2], v.shape[3]
    o = np.zeros(v.shape)
    if op in ("gated_delta_rule", "kda"):
        B, T = v.shape[:2]
        cu = x.get("cu_seqlens")
        rows = [(0, cu[n], cu[n + 1]) for n in range(len(cu) - 1)] if cu is not None else \
            [(b, 0, T) for b in range(B)]
        final = np.zeros((len(rows), HV, K, V))
        for n, (b, lo, hi) in enumerate(rows):
            init = x["initial_state"][n] if "initial_state" in x else np.zeros((HV, K, V))
            o[b, lo:hi], final[n] = run_rows(q[b, lo:hi], k[b, lo:hi], v[b, lo:hi], g[b, lo:hi],
                                             beta[b, lo:hi], scale, use_l2, init, chunk)
    else:
        final = x["initial_state"].copy()
        idx = x.get("ssm_state_indices")
        for n in range(v.shape[0]):
            slot = int(idx[n]) if idx is not None else n
            if slot == pad:
                continue
            o[n], final[slot] = run_rows(q[n], k[n], v[n], g[n], beta[n], scale, use_l2,
                                         x["initial_state"][slot], chunk)
    errs = {}
    for name, mine in (("o", o), ("final_state", final)):
        ref = out[name]
        if ref.shape != mine.shape:
            return op, {name: float("inf")}
        errs[name] = float(np.max(np.abs(ref - mine)))
    return op, errs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--golden", default=os.path.join(os.path.dirname(__file__), "..", "golden"))
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--tol", type=float, default=1e-10)
    args = ap.parse_args()
    files = sorted(p for op in OPS for p in glob.glob(os.path.join(args.golden, op, "*.h5")))
    if not files:
        print(f"no golden files under {args.golden} for {', '.join(OPS)}")
        return 2
    worst = 0.0
    for p in files:
        op, errs = check(p, args.chunk)
        e = max(errs.values())
        worst = max(worst, e)
        status = "ok" if e <= args.tol else "MISMATCH"
        rel = os.path.relpath(p, args.golden)
        print(f"{status:8s} {rel:48s} " + "  ".join(f"max|d {n}|={v:.2e}" for n, v in errs.items()))
    print(f"{len(files)} files, chunk {args.chunk}, worst max abs difference {worst:.2e} "
          f"(tolerance {args.tol:g})")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
