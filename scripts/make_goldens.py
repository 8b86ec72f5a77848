#!/usr/bin/env python3
"""Writes golden/<op>/<case>.h5 and golden/suite.yaml from an independent float64 reference.

Every output is computed by the plain token recurrence (or direct sum) of the operation's
definition, written here from the papers: Mamba (Gu & Dao 2023), Mamba2/SSD (Dao & Gu
2024), MiniMax-01's lightning attention (2025), RMSNorm with a silu gate (mamba_ssm's
rms_norm_ref semantics). No ssmkit code is used. Inputs are float32 (or bfloat16-exact
values stored as float32); outputs are float64 computed from those values.

    python3 scripts/make_goldens.py [--out golden]
"""
import argparse
import os

import h5py
import numpy as np

REFERENCE = "scripts/make_goldens.py: float64 numpy recurrence from the definitions"


def softplus(v):
    return np.where(v > 20.0, v, np.log1p(np.exp(np.minimum(v, 20.0))))


def silu(v):
    return v / (1.0 + np.exp(-v))


def to_bf16(a):
    """Round float32 values to the nearest bfloat16 (ties to even), kept as float32."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


class Case:
    def __init__(self, seed, bf16=False):
        self.rng = np.random.default_rng(seed)
        self.bf16 = bf16

    def act(self, *shape, lo=None, hi=None, scale=1.0):
        """An activation input: float32, bfloat16-exact when the case is bf16."""
        if lo is None:
            v = self.rng.standard_normal(shape) * scale
        else:
            v = self.rng.uniform(lo, hi, shape)
        v = v.astype(np.float32)
        return to_bf16(v) if self.bf16 else v

    def param(self, *shape, lo=None, hi=None, scale=1.0):
        """A parameter (A, D, biases, weights): float32 (bf16-exact too, to be safe)."""
        return self.act(*shape, lo=lo, hi=hi, scale=scale)


def write(out_dir, op, name, attrs, inputs, outputs, bf16, written):
    path = os.path.join(out_dir, op, name + ".h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["op"] = op
        f.attrs["reference"] = REFERENCE
        f.attrs["input_dtype"] = "bfloat16" if bf16 else "float32"
        for k, v in attrs.items():
            f.attrs[k] = v
        for k, v in inputs.items():
            if v is None:
                continue
            v = np.asarray(v)
            ds_dtype = np.int32 if v.dtype.kind in "iu" else np.float32
            f.create_dataset("inputs/" + k, data=v.astype(ds_dtype))
        for k, v in outputs.items():
            f.create_dataset("outputs/" + k, data=np.asarray(v, dtype=np.float64))
    written.append(os.path.relpath(path, out_dir))


def f64(v):
    return None if v is None else np.asarray(v, dtype=np.float64)


# ---------------------------------------------------------------- references

def ref_causal_conv1d(x, weight, bias, init, activation):
    x, weight, bias, init = map(f64, (x, weight, bias, init))
    Bsz, D, L = x.shape
    W = weight.shape[1]
    past = init if init is not None else np.zeros((Bsz, D, W - 1))
    ext = np.concatenate([past, x], axis=2)
    out = np.zeros((Bsz, D, L))
    for t in range(L):
        out[:, :, t] = np.einsum("bdw,dw->bd", ext[:, :, t:t + W], weight)
    if bias is not None:
        out += bias[None, :, None]
    if activation == "silu":
        out = silu(out)
    return out, ext[:, :, -(W - 1):], ext[:, :, -W:]


def ref_conv_update(x, conv_state, weight, bias, activation):
    x, conv_state, weight, bias = map(f64, (x, conv_state, weight, bias))
    new = np.concatenate([conv_state[:, :, 1:], x[:, :, None]], axis=2)
    out = np.einsum("bdw,dw->bd", new, weight)
    if bias is not None:
        out += bias[None, :]
    if activation == "silu":
        out = silu(out)
    return out, new


def ref_selective_scan(u, delta, A, Bm, Cm, Dv, z, delta_bias, delta_softplus):
    u, delta, A, Bm, Cm, Dv, z, delta_bias = map(f64, (u, delta, A, Bm, Cm, Dv, z, delta_bias))
    Bsz, D, L = u.shape
    N = A.shape[1]
    if Bm.ndim == 3:
        Bm, Cm = Bm[:, None], Cm[:, None]
    G = Bm.shape[1]
    group = np.arange(D) // (D // G)
    dt = delta + (delta_bias[None, :, None] if delta_bias is not None else 0.0)
    if delta_softplus:
        dt = softplus(dt)
    h = np.zeros((Bsz, D, N))
    out = np.zeros((Bsz, D, L))
    for t in range(L):
        Bt = Bm[:, :, :, t][:, group]  # (B, D, N)
        Ct = Cm[:, :, :, t][:, group]
        h = np.exp(dt[:, :, t, None] * A[None]) * h + dt[:, :, t, None] * Bt * u[:, :, t, None]
        out[:, :, t] = np.sum(h * Ct, axis=2)
    if Dv is not None:
        out += Dv[None, :, None] * u
    if z is not None:
        out *= silu(z)
    return out, h


def ref_state_update(state, x, dt, A, Bm, Cm, Dv, z, dt_bias, dt_softplus):
    state, x, dt, A, Bm, Cm, Dv, z, dt_bias = map(
        f64, (state, x, dt, A, Bm, Cm, Dv, z, dt_bias))
    if state.ndim == 3:  # Mamba1 layout as one head
        s, o = ref_state_update(state[:, None], x[:, None], dt[:, None], A[None], Bm[:, None],
                                Cm[:, None], None if Dv is None else Dv[None],
                                None if z is None else z[:, None],
                                None if dt_bias is None else dt_bias[None], dt_softplus)
        return s[:, 0], o[:, 0]
    H, G = state.shape[1], Bm.shape[1]
    group = np.arange(H) // (H // G)
    d = dt + (dt_bias[None] if dt_bias is not None else 0.0)
    if dt_softplus:
        d = softplus(d)
    Bh, Ch = Bm[:, group, None, :], Cm[:, group, None, :]  # (B, H, 1, N)
    new = state * np.exp(d[..., None] * A[None]) + d[..., None] * Bh * x[..., None]
    out = np.sum(new * Ch, axis=-1)
    if Dv is not None:
        out += Dv[None] * x
    if z is not None:
        out *= silu(z)
    return new, out


def ref_chunk_scan(x, dt, A, Bm, Cm, Dv, z, dt_bias, init, seq_idx, cu_seqlens, dt_softplus,
                   dt_limit):
    x, dt, A, Bm, Cm, Dv, z, dt_bias, init = map(
        f64, (x, dt, A, Bm, Cm, Dv, z, dt_bias, init))
    Bsz, L, H, P = x.shape
    G, N = Bm.shape[2], Bm.shape[3]
    group = np.arange(H) // (H // G)
    d = dt + (dt_bias[None, None] if dt_bias is not None else 0.0)
    if dt_softplus:
        d = softplus(d)
    d = np.clip(d, dt_limit[0], dt_limit[1])
    out = np.zeros((Bsz, L, H, P))
    final = np.zeros((Bsz, H, P, N))
    varlen = []
    for b in range(Bsz):
        s = init[b].copy() if init is not None else np.zeros((H, P, N))
        for t in range(L):
            if seq_idx is not None and t > 0 and seq_idx[b, t] != seq_idx[b, t - 1]:
                s = np.zeros((H, P, N))
            Bt, Ct = Bm[b, t, group], Cm[b, t, group]  # (H, N)
            s = (np.exp(d[b, t] * A)[:, None, None] * s
                 + d[b, t][:, None, None] * x[b, t][:, :, None] * Bt[:, None, :])
            out[b, t] = np.einsum("hpn,hn->hp", s, Ct)
            if cu_seqlens is not None and t + 1 in list(cu_seqlens[1:]):
                varlen.append(s.copy())
        final[b] = s
    if Dv is not None:
        out += (Dv if Dv.ndim == 2 else Dv[:, None])[None, None] * x
    if z is not None:
        out *= silu(z)
    return out, final, (np.stack(varlen) if cu_seqlens is not None else None)


def ref_gated_rmsnorm(x, weight, bias, z, eps, group_size, norm_before_gate):
    x, weight, bias, z = map(f64, (x, weight, bias, z))
    if z is not None and not norm_before_gate:
        x = x * silu(z)
    D = x.shape[-1]
    xg = x.reshape(*x.shape[:-1], D // group_size, group_size)
    rstd = 1.0 / np.sqrt(np.mean(xg * xg, axis=-1, keepdims=True) + eps)
    out = (xg * rstd).reshape(x.shape) * weight
    if bias is not None:
        out += bias
    if z is not None and norm_before_gate:
        out *= silu(z)
    return out


def ref_lightning(q, k, v, slope, init):
    q, k, v, slope, init = map(f64, (q, k, v, slope, init))
    Bsz, H, L, K = q.shape
    V = v.shape[-1]
    S = init.copy() if init is not None else np.zeros((Bsz, H, K, V))
    decay = np.exp(-slope)[None, :, None, None]
    out = np.zeros((Bsz, H, L, V))
    for t in range(L):
        S = decay * S + k[:, :, t, :, None] * v[:, :, t, None, :]
        out[:, :, t] = np.einsum("bhk,bhkv->bhv", q[:, :, t], S)
    return out, S


# ---------------------------------------------------------------- cases

def gen_conv(out_dir, written):
    specs = [  # name, B, D, L, W, bias, init, activation, bf16
        ("basic_silu", 2, 8, 16, 4, True, False, "silu", False),
        ("l1_init_none", 3, 5, 1, 4, True, True, "none", False),
        ("init_states_silu", 2, 6, 9, 3, False, True, "silu", False),
        ("bf16_long", 1, 16, 300, 4, True, True, "silu", True),
    ]
    for i, (name, B, D, L, W, has_bias, has_init, act, bf16) in enumerate(specs):
        c = Case(100 + i, bf16)
        x = c.act(B, D, L)
        w = c.param(D, W, scale=1 / np.sqrt(W))
        bias = c.param(D, scale=0.1) if has_bias else None
        init = c.act(B, D, W - 1) if has_init else None
        out, final, conv_state = ref_causal_conv1d(x, w, bias, init, act)
        write(out_dir, "causal_conv1d", name, {"activation": act},
              dict(x=x, weight=w, bias=bias, initial_states=init),
              dict(out=out, final_states=final, conv_state=conv_state), bf16, written)
    specs = [("basic_silu", 4, 8, 4, True, "silu", False), ("no_bias_none", 2, 6, 3, False, "none", False),
             ("bf16_silu", 3, 16, 4, True, "silu", True)]
    for i, (name, B, D, W, has_bias, act, bf16) in enumerate(specs):
        c = Case(200 + i, bf16)
        x = c.act(B, D)
        state = c.act(B, D, W)
        w = c.param(D, W, scale=1 / np.sqrt(W))
        bias = c.param(D, scale=0.1) if has_bias else None
        out, new = ref_conv_update(x, state, w, bias, act)
        write(out_dir, "causal_conv1d_update", name, {"activation": act},
              dict(x=x, conv_state=state, weight=w, bias=bias), dict(out=out, conv_state=new),
              bf16, written)


def gen_selective_scan(out_dir, written):
    specs = [  # name, B, D, L, N, G, D?, z?, bias?, softplus, bf16
        ("basic", 2, 8, 32, 4, 0, True, True, True, 1, False),
        ("l1_no_d_no_z", 2, 4, 1, 8, 0, False, False, False, 1, False),
        ("grouped_bc", 1, 8, 20, 4, 2, True, True, True, 1, False),
        ("long_l2100", 1, 2, 2100, 4, 0, True, False, True, 1, False),
        ("bf16_no_softplus", 2, 4, 24, 4, 0, True, True, False, 0, True),
    ]
    for i, (name, B, D, L, N, G, hD, hz, hb, sp, bf16) in enumerate(specs):
        c = Case(300 + i, bf16)
        u = c.act(B, D, L)
        delta = c.act(B, D, L, lo=-4.0, hi=-1.0) if sp else c.act(B, D, L, lo=0.001, hi=0.1)
        A = -np.exp(c.param(D, N, scale=0.5)).astype(np.float32)
        A = to_bf16(A) if bf16 else A
        shape = (B, N, L) if G == 0 else (B, G, N, L)
        Bm, Cm = c.act(*shape), c.act(*shape)
        Dv = c.param(D) if hD else None
        z = c.act(B, D, L) if hz else None
        db = c.param(D, lo=0.0, hi=0.5) if hb else None
        out, last = ref_selective_scan(u, delta, A, Bm, Cm, Dv, z, db, sp)
        write(out_dir, "selective_scan", name, {"delta_softplus": np.int64(sp)},
              dict(u=u, delta=delta, A=A, B=Bm, C=Cm, D=Dv, z=z, delta_bias=db),
              dict(out=out, last_state=last), bf16, written)


def gen_state_update(out_dir, written):
    # Mamba1 layout
    for i, (name, B, D, N, hD, hz, bf16) in enumerate(
            [("mamba1", 3, 8, 16, True, True, False), ("mamba1_no_d_no_z", 2, 4, 8, False, False, False)]):
        c = Case(400 + i, bf16)
        state, x = c.act(B, D, N), c.act(B, D)
        dt = c.act(B, D, lo=-4.0, hi=-1.0)
        A = -np.exp(c.param(D, N, scale=0.5)).astype(np.float32)
        Bm, Cm = c.act(B, N), c.act(B, N)
        Dv = c.param(D) if hD else None
        z = c.act(B, D) if hz else None
        bias = c.param(D, lo=0.0, hi=0.5)
        new, out = ref_state_update(state, x, dt, A, Bm, Cm, Dv, z, bias, 1)
        write(out_dir, "selective_state_update", name, {"dt_softplus": np.int64(1)},
              dict(state=state, x=x, dt=dt, A=A, B=Bm, C=Cm, D=Dv, z=z, dt_bias=bias),
              dict(out=out, state=new), bf16, written)
    # Mamba2 multi-head layout
    specs = [("multihead_groups", 2, 4, 8, 16, 2, False, True, True),
             ("multihead_per_head_a_no_d", 3, 4, 4, 8, 1, True, False, False),
             ("multihead_bf16", 2, 6, 4, 8, 3, True, True, True)]
    for i, (name, B, H, P, N, G, per_head, hD, bf16) in enumerate(specs):
        c = Case(410 + i, bf16)
        state, x = c.act(B, H, P, N), c.act(B, H, P)
        if per_head:  # Mamba2's real layout: A, dt, dt_bias, D constant over (P, N)
            A = np.broadcast_to(-np.exp(c.param(H, 1, 1, lo=0.0, hi=2.5)), (H, P, N)).copy()
            dt = np.broadcast_to(c.act(B, H, 1, lo=-4.0, hi=-1.0), (B, H, P)).copy()
            bias = np.broadcast_to(c.param(H, 1, lo=0.0, hi=0.5), (H, P)).copy()
        else:
            A = -np.exp(c.param(H, P, N, scale=0.5))
            dt = c.act(B, H, P, lo=-4.0, hi=-1.0)
            bias = c.param(H, P, lo=0.0, hi=0.5)
        A = A.astype(np.float32)
        A = to_bf16(A) if bf16 else A
        Bm, Cm = c.act(B, G, N), c.act(B, G, N)
        Dv = c.param(H, P) if hD else None
        z = c.act(B, H, P) if hD else None
        new, out = ref_state_update(state, x, dt, A, Bm, Cm, Dv, z, bias, 1)
        write(out_dir, "selective_state_update", name, {"dt_softplus": np.int64(1)},
              dict(state=state, x=x, dt=dt, A=A, B=Bm, C=Cm, D=Dv, z=z, dt_bias=bias),
              dict(out=out, state=new), bf16, written)


def gen_chunk_scan(out_dir, written):
    inf = float("inf")
    specs = [  # name, B, L, H, P, G, N, chunk, D kind, z, init, lengths, softplus, dt_limit, bf16
        ("basic_d_per_head", 2, 64, 4, 8, 1, 16, 16, "h", True, False, None, 1, (0.0, inf), False),
        ("l_not_multiple_init", 2, 37, 4, 4, 2, 8, 16, "hp", True, True, None, 1, (0.0, inf), False),
        ("l1", 2, 1, 2, 4, 1, 8, 8, "h", False, True, None, 1, (0.0, inf), False),
        ("no_d_no_z_dt_limit", 1, 40, 4, 4, 4, 8, 8, None, False, False, None, 1, (0.01, 0.05), False),
        ("long_l2500", 1, 2500, 2, 2, 1, 4, 256, "h", False, False, None, 1, (0.0, inf), False),
        ("varlen", 1, 29, 4, 4, 2, 8, 8, "h", True, True, [5, 3, 8, 1, 12], 1, (0.0, inf), False),
        ("bf16_no_softplus", 2, 24, 4, 4, 1, 8, 16, "hp", True, False, None, 0, (0.0, inf), True),
    ]
    for i, (name, B, L, H, P, G, N, Q, dk, hz, hi, lens, sp, lim, bf16) in enumerate(specs):
        c = Case(500 + i, bf16)
        x = c.act(B, L, H, P)
        dt = c.act(B, L, H, lo=-4.0, hi=-1.0) if sp else c.act(B, L, H, lo=0.001, hi=0.1)
        A = -np.exp(c.param(H, lo=0.0, hi=2.5)).astype(np.float32)
        A = to_bf16(A) if bf16 else A
        Bm, Cm = c.act(B, L, G, N, scale=0.5), c.act(B, L, G, N, scale=0.5)
        Dv = None if dk is None else (c.param(H) if dk == "h" else c.param(H, P))
        z = c.act(B, L, H, P) if hz else None
        bias = c.param(H, lo=0.0, hi=0.5) if sp else None
        init = c.act(B, H, P, N) if hi else None
        seq_idx = cu = None
        if lens is not None:
            cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
            seq_idx = np.repeat(np.arange(len(lens)), lens)[None].astype(np.int32)
        out, final, varlen = ref_chunk_scan(x, dt, A, Bm, Cm, Dv, z, bias, init, seq_idx, cu, sp,
                                            lim)
        outputs = dict(out=out, final_states=final)
        if varlen is not None:
            outputs["varlen_states"] = varlen
        write(out_dir, "mamba_chunk_scan_combined", name,
              {"chunk_size": np.int64(Q), "dt_softplus": np.int64(sp),
               "dt_limit": np.array(lim, dtype=np.float64)},
              dict(x=x, dt=dt, A=A, B=Bm, C=Cm, D=Dv, z=z, dt_bias=bias, initial_states=init,
                   seq_idx=seq_idx, cu_seqlens=cu), outputs, bf16, written)


def gen_rmsnorm(out_dir, written):
    specs = [  # name, shape, group, z, norm_before_gate, bias, bf16
        ("plain", (4, 32), None, False, 1, False, False),
        ("gate_after_norm", (2, 3, 24), None, True, 1, True, False),
        ("gate_before_norm_grouped", (5, 32), 8, True, 0, False, False),
        ("bf16_grouped", (3, 64), 16, True, 0, True, True),
    ]
    for i, (name, shape, gs, hz, nbg, hb, bf16) in enumerate(specs):
        c = Case(600 + i, bf16)
        D = shape[-1]
        x = c.act(*shape)
        w = c.param(D, lo=0.5, hi=1.5)
        bias = c.param(D, scale=0.1) if hb else None
        z = c.act(*shape) if hz else None
        eps = 1e-5
        out = ref_gated_rmsnorm(x, w, bias, z, eps, gs or D, nbg)
        attrs = {"eps": eps, "norm_before_gate": np.int64(nbg)}
        if gs:
            attrs["group_size"] = np.int64(gs)
        write(out_dir, "gated_rmsnorm", name, attrs, dict(x=x, weight=w, bias=bias, z=z),
              dict(out=out), bf16, written)


def gen_lightning(out_dir, written):
    specs = [("prefill", 2, 4, 32, 16, 16, False, False), ("decode_l1_init", 2, 4, 1, 16, 8, True, False),
             ("prefill_init", 1, 2, 20, 8, 8, True, False), ("bf16", 1, 4, 16, 16, 16, True, True)]
    for i, (name, B, H, L, K, V, hi, bf16) in enumerate(specs):
        c = Case(700 + i, bf16)
        q = c.act(B, H, L, K, scale=1 / np.sqrt(K))
        k = c.act(B, H, L, K, scale=1 / np.sqrt(K))
        v = c.act(B, H, L, V)
        slope = np.array([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], dtype=np.float32)
        slope = to_bf16(slope) if bf16 else slope
        init = c.act(B, H, K, V, scale=0.5) if hi else None
        out, final = ref_lightning(q, k, v, slope, init)
        write(out_dir, "lightning_attention", name, {},
              dict(q=q, k=k, v=v, slope=slope, initial_state=init),
              dict(out=out, final_state=final), bf16, written)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "golden"))
    args = ap.parse_args()
    written = []
    for gen in (gen_conv, gen_selective_scan, gen_state_update, gen_chunk_scan, gen_rmsnorm,
                gen_lightning):
        gen(args.out, written)
    with open(os.path.join(args.out, "suite.yaml"), "w") as f:
        f.write("# Written by scripts/make_goldens.py\nname: bundled\ncases:\n")
        for p in sorted(written):
            f.write(f"  - {p}\n")
        # Made elsewhere (scripts/make_replay_goldens.py, needs torch + transformers).
        if os.path.isdir(os.path.join(args.out, "cache_replay")):
            f.write("  - cache_replay/\n")
    print(f"wrote {len(written)} golden files to {args.out}")


if __name__ == "__main__":
    main()
