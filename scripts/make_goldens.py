#!/usr/bin/env python3
"""Writes golden/<op>/<case>.h5 and golden/suite.yaml from an independent float64 reference.

Every output is computed by the plain token recurrence (or direct sum) of the operation's
definition, written here from the papers: Mamba (Gu & Dao 2023), Mamba2/SSD (Dao & Gu
2024), MiniMax-01's lightning attention (2025), RMSNorm with a silu gate (mamba_ssm's
rms_norm_ref semantics), the paged KV cache's write and gather (vLLM's
reshape_and_cache_flash and block-table semantics, as plain numpy indexing), and the gated
delta rule of Gated DeltaNet (Yang et al. 2024) and Kimi Delta Attention (Kimi Linear, 2025).
No ssmkit code is used. Inputs are float32 (or bfloat16-/float16-exact values stored as
float32); outputs are float64 computed from those values.

    python3 scripts/make_goldens.py [--out golden] [--only GLOB ...]

--only writes just the files whose path (op/case.h5) matches one of the globs; suite.yaml
still lists every case. Use it to add cases without rewriting the existing files.
"""
import argparse
import fnmatch
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


def to_f16(a):
    """Round float32 values to the nearest float16 (numpy's IEEE cast), kept as float32."""
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


def dtype_name(flag):
    """Spec tables say False (float32), True (bfloat16) or a dtype name."""
    if isinstance(flag, str):
        return flag
    return "bfloat16" if flag else "float32"


ROUND = {"float32": lambda a: np.asarray(a, dtype=np.float32), "bfloat16": to_bf16,
         "float16": to_f16}


class Case:
    def __init__(self, seed, dtype=False):
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype_name(dtype)

    def round(self, a):
        """Values representable in the case's input dtype."""
        return ROUND[self.dtype](a)

    def act(self, *shape, lo=None, hi=None, scale=1.0):
        """An activation input: float32, exact in the case's dtype (bfloat16, float16)."""
        if lo is None:
            v = self.rng.standard_normal(shape) * scale
        else:
            v = self.rng.uniform(lo, hi, shape)
        return self.round(v.astype(np.float32))

    def param(self, *shape, lo=None, hi=None, scale=1.0):
        """A parameter (A, D, biases, weights): float32 (exact in the input dtype too)."""
        return self.act(*shape, lo=lo, hi=hi, scale=scale)


ONLY = []  # globs from --only; empty: write every file


def write(out_dir, op, name, attrs, inputs, outputs, dtype, written):
    path = os.path.join(out_dir, op, name + ".h5")
    written.append(os.path.relpath(path, out_dir))
    if ONLY and not any(fnmatch.fnmatch(written[-1], g) for g in ONLY):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["op"] = op
        f.attrs["reference"] = REFERENCE
        f.attrs["input_dtype"] = dtype_name(dtype)
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


def ref_paged_kv_write(key, value, key_cache, value_cache, slot_mapping):
    """vLLM's reshape_and_cache_flash: token t goes to block slot // block_size, row
    slot % block_size of the (num_blocks, block_size, heads, head_dim) caches; slot < 0 is
    a padding token and writes nothing."""
    kc, vc = f64(key_cache).copy(), f64(value_cache).copy()
    block_size = kc.shape[1]
    for t, slot in enumerate(slot_mapping):
        if slot < 0:
            continue
        block, row = divmod(int(slot), block_size)
        kc[block, row] = key[t]
        vc[block, row] = value[t]
    return kc, vc


def ref_paged_kv_gather(key_cache, value_cache, block_tables, seq_lens, max_len):
    """Position p of sequence b is row p % block_size of block block_tables[b, p // block_size]
    (PagedAttention's block table); positions from seq_lens[b] to max_len are zero."""
    kc, vc = f64(key_cache), f64(value_cache)
    block_size, H, D = kc.shape[1:]
    key = np.zeros((len(seq_lens), max_len, H, D))
    value = np.zeros_like(key)
    for b, n in enumerate(seq_lens):
        for pos in range(n):
            block = block_tables[b][pos // block_size]
            key[b, pos] = kc[block, pos % block_size]
            value[b, pos] = vc[block, pos % block_size]
    return key, value


# Gated DeltaNet (Yang, Kautz & Hatamizadeh 2024, "Gated Delta Networks") and Kimi Delta
# Attention (Kimi Linear, 2025), as the token recurrence of flash-linear-attention's
# fused_recurrent_gated_delta_rule_fwd_kernel (fla/ops/gated_delta_rule/fused_recurrent.py),
# naive_recurrent_kda (fla/ops/kda/naive.py) and HF transformers'
# torch_recurrent_gated_delta_rule (models/qwen3_next/modeling_qwen3_next.py). Per value
# head, with the state S (K, V):
#     S <- exp(g_t) * S                 (KDA: row i of S times exp(g_t[i]))
#     u  = beta_t * (v_t - S^T k_t)     (the delta rule reads the decayed state)
#     S <- S + outer(k_t, u)
#     o_t = scale * S^T q_t             (after the update)
# Value head hv reads q/k head hv // (HV / H) (fla's i_h = i_hv // (HV // H), HF's
# repeat_interleave). With the in-kernel L2 norm, q and k are each divided by
# sqrt(sum(x^2) + 1e-6) over K before q is scaled (fla's l2norm_fwd and the fused kernel,
# HF's l2norm: x * rsqrt(sum(x^2) + 1e-6)).

QK_L2NORM_EPS = 1e-6


def qk_l2norm(x):
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + QK_L2NORM_EPS)


def delta_rule_tokens(S, q, k, v, g, beta, scale):
    """Runs one sequence from state S (HV, K, V): q, k (L, HV, K) per value head, v (L, HV, V),
    g (L, HV) or per key channel (L, HV, K), beta (L, HV). Returns (o (L, HV, V), S)."""
    S = S.copy()
    o = np.zeros(v.shape)
    for t in range(v.shape[0]):
        decay = np.exp(g[t])
        S *= decay[:, None, None] if decay.ndim == 1 else decay[:, :, None]
        u = beta[t][:, None] * (v[t] - np.einsum("hkv,hk->hv", S, k[t]))
        S += k[t][:, :, None] * u[:, None, :]
        o[t] = scale * np.einsum("hkv,hk->hv", S, q[t])
    return o, S


def delta_rule_heads(q, k, HV, l2norm):
    """q, k (..., H, K) -> per value head (..., HV, K), normalised if asked."""
    if l2norm:
        q, k = qk_l2norm(q), qk_l2norm(k)
    G = HV // q.shape[-2]
    return np.repeat(q, G, axis=-2), np.repeat(k, G, axis=-2)


def ref_delta_rule(q, k, v, g, beta, scale, init, cu_seqlens, l2norm):
    """Prefill (fla's chunk_gated_delta_rule / chunk_kda): returns o (B, T, HV, V) and
    final_state (N, HV, K, V); with cu_seqlens (B = 1) sequence n is tokens
    [cu[n], cu[n+1]) and starts from init[n] (or zeros)."""
    q, k, v, g, beta, init = map(f64, (q, k, v, g, beta, init))
    Bsz, T, HV, V = v.shape
    K = q.shape[-1]
    qh, kh = delta_rule_heads(q, k, HV, l2norm)
    spans = ([(0, int(a), int(b)) for a, b in zip(cu_seqlens[:-1], cu_seqlens[1:])]
             if cu_seqlens is not None else [(b, 0, T) for b in range(Bsz)])
    o = np.zeros(v.shape)
    final = np.zeros((len(spans), HV, K, V))
    for n, (b, lo, hi) in enumerate(spans):
        S = init[n] if init is not None else np.zeros((HV, K, V))
        sl = slice(lo, hi)
        o[b, sl], final[n] = delta_rule_tokens(S, qh[b, sl], kh[b, sl], v[b, sl], g[b, sl],
                                               beta[b, sl], scale)
    return o, final


def ref_delta_rule_update(q, k, v, g, beta, scale, pool, indices, pad_slot_id, l2norm):
    """Decode on a state pool (vLLM's fused_recurrent_gated_delta_rule with
    ssm_state_indices, in place): row n runs its T tokens from slot indices[n] (or n) and
    writes its final state back there; a row whose index is pad_slot_id has o = 0 and
    changes no slot. Returns o (N, T, HV, V) and the whole pool after the call."""
    q, k, v, g, beta, pool = map(f64, (q, k, v, g, beta, pool))
    qh, kh = delta_rule_heads(q, k, v.shape[2], l2norm)
    pool = pool.copy()
    o = np.zeros(v.shape)
    for n in range(v.shape[0]):
        slot = int(indices[n]) if indices is not None else n
        if slot == pad_slot_id:
            continue
        o[n], pool[slot] = delta_rule_tokens(pool[slot], qh[n], kh[n], v[n], g[n], beta[n],
                                             scale)
    return o, pool


# ---------------------------------------------------------------- cases

def gen_conv(out_dir, written):
    specs = [  # name, B, D, L, W, bias, init, activation, dtype
        ("basic_silu", 2, 8, 16, 4, True, False, "silu", False),
        ("l1_init_none", 3, 5, 1, 4, True, True, "none", False),
        ("init_states_silu", 2, 6, 9, 3, False, True, "silu", False),
        ("bf16_long", 1, 16, 300, 4, True, True, "silu", True),
        ("f16_init_silu", 2, 16, 40, 4, True, True, "silu", "float16"),
    ]
    for i, (name, B, D, L, W, has_bias, has_init, act, dtype) in enumerate(specs):
        c = Case(100 + i, dtype)
        x = c.act(B, D, L)
        w = c.param(D, W, scale=1 / np.sqrt(W))
        bias = c.param(D, scale=0.1) if has_bias else None
        init = c.act(B, D, W - 1) if has_init else None
        out, final, conv_state = ref_causal_conv1d(x, w, bias, init, act)
        write(out_dir, "causal_conv1d", name, {"activation": act},
              dict(x=x, weight=w, bias=bias, initial_states=init),
              dict(out=out, final_states=final, conv_state=conv_state), dtype, written)
    specs = [("basic_silu", 4, 8, 4, True, "silu", False), ("no_bias_none", 2, 6, 3, False, "none", False),
             ("bf16_silu", 3, 16, 4, True, "silu", True)]
    for i, (name, B, D, W, has_bias, act, dtype) in enumerate(specs):
        c = Case(200 + i, dtype)
        x = c.act(B, D)
        state = c.act(B, D, W)
        w = c.param(D, W, scale=1 / np.sqrt(W))
        bias = c.param(D, scale=0.1) if has_bias else None
        out, new = ref_conv_update(x, state, w, bias, act)
        write(out_dir, "causal_conv1d_update", name, {"activation": act},
              dict(x=x, conv_state=state, weight=w, bias=bias), dict(out=out, conv_state=new),
              dtype, written)


def gen_selective_scan(out_dir, written):
    specs = [  # name, B, D, L, N, G, D?, z?, bias?, softplus, dtype
        ("basic", 2, 8, 32, 4, 0, True, True, True, 1, False),
        ("l1_no_d_no_z", 2, 4, 1, 8, 0, False, False, False, 1, False),
        ("grouped_bc", 1, 8, 20, 4, 2, True, True, True, 1, False),
        ("long_l2100", 1, 2, 2100, 4, 0, True, False, True, 1, False),
        ("bf16_no_softplus", 2, 4, 24, 4, 0, True, True, False, 0, True),
    ]
    for i, (name, B, D, L, N, G, hD, hz, hb, sp, dtype) in enumerate(specs):
        c = Case(300 + i, dtype)
        u = c.act(B, D, L)
        delta = c.act(B, D, L, lo=-4.0, hi=-1.0) if sp else c.act(B, D, L, lo=0.001, hi=0.1)
        A = -np.exp(c.param(D, N, scale=0.5)).astype(np.float32)
        A = c.round(A)
        shape = (B, N, L) if G == 0 else (B, G, N, L)
        Bm, Cm = c.act(*shape), c.act(*shape)
        Dv = c.param(D) if hD else None
        z = c.act(B, D, L) if hz else None
        db = c.param(D, lo=0.0, hi=0.5) if hb else None
        out, last = ref_selective_scan(u, delta, A, Bm, Cm, Dv, z, db, sp)
        write(out_dir, "selective_scan", name, {"delta_softplus": np.int64(sp)},
              dict(u=u, delta=delta, A=A, B=Bm, C=Cm, D=Dv, z=z, delta_bias=db),
              dict(out=out, last_state=last), dtype, written)


def gen_state_update(out_dir, written):
    # Mamba1 layout
    for i, (name, B, D, N, hD, hz, dtype) in enumerate(
            [("mamba1", 3, 8, 16, True, True, False), ("mamba1_no_d_no_z", 2, 4, 8, False, False, False)]):
        c = Case(400 + i, dtype)
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
              dict(out=out, state=new), dtype, written)
    # Mamba2 multi-head layout
    specs = [("multihead_groups", 2, 4, 8, 16, 2, False, True, True),
             ("multihead_per_head_a_no_d", 3, 4, 4, 8, 1, True, False, False),
             ("multihead_bf16", 2, 6, 4, 8, 3, True, True, True),
             ("multihead_f16", 3, 8, 16, 16, 2, True, True, "float16")]
    for i, (name, B, H, P, N, G, per_head, hD, dtype) in enumerate(specs):
        c = Case(410 + i, dtype)
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
        A = c.round(A)
        Bm, Cm = c.act(B, G, N), c.act(B, G, N)
        Dv = c.param(H, P) if hD else None
        z = c.act(B, H, P) if hD else None
        new, out = ref_state_update(state, x, dt, A, Bm, Cm, Dv, z, bias, 1)
        write(out_dir, "selective_state_update", name, {"dt_softplus": np.int64(1)},
              dict(state=state, x=x, dt=dt, A=A, B=Bm, C=Cm, D=Dv, z=z, dt_bias=bias),
              dict(out=out, state=new), dtype, written)


def gen_chunk_scan(out_dir, written):
    inf = float("inf")
    specs = [  # name, B, L, H, P, G, N, chunk, D kind, z, init, lengths, softplus, dt_limit, dtype
        ("basic_d_per_head", 2, 64, 4, 8, 1, 16, 16, "h", True, False, None, 1, (0.0, inf), False),
        ("l_not_multiple_init", 2, 37, 4, 4, 2, 8, 16, "hp", True, True, None, 1, (0.0, inf), False),
        ("l1", 2, 1, 2, 4, 1, 8, 8, "h", False, True, None, 1, (0.0, inf), False),
        ("no_d_no_z_dt_limit", 1, 40, 4, 4, 4, 8, 8, None, False, False, None, 1, (0.01, 0.05), False),
        ("long_l2500", 1, 2500, 2, 2, 1, 4, 256, "h", False, False, None, 1, (0.0, inf), False),
        ("varlen", 1, 29, 4, 4, 2, 8, 8, "h", True, True, [5, 3, 8, 1, 12], 1, (0.0, inf), False),
        ("bf16_no_softplus", 2, 24, 4, 4, 1, 8, 16, "hp", True, False, None, 0, (0.0, inf), True),
        ("f16_varlen_init", 1, 45, 4, 8, 2, 16, 16, "h", True, True, [20, 1, 24], 1, (0.0, inf),
         "float16"),
    ]
    for i, (name, B, L, H, P, G, N, Q, dk, hz, hi, lens, sp, lim, dtype) in enumerate(specs):
        c = Case(500 + i, dtype)
        x = c.act(B, L, H, P)
        dt = c.act(B, L, H, lo=-4.0, hi=-1.0) if sp else c.act(B, L, H, lo=0.001, hi=0.1)
        A = -np.exp(c.param(H, lo=0.0, hi=2.5)).astype(np.float32)
        A = c.round(A)
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
                   seq_idx=seq_idx, cu_seqlens=cu), outputs, dtype, written)


def gen_rmsnorm(out_dir, written):
    specs = [  # name, shape, group, z, norm_before_gate, bias, dtype
        ("plain", (4, 32), None, False, 1, False, False),
        ("gate_after_norm", (2, 3, 24), None, True, 1, True, False),
        ("gate_before_norm_grouped", (5, 32), 8, True, 0, False, False),
        ("bf16_grouped", (3, 64), 16, True, 0, True, True),
    ]
    for i, (name, shape, gs, hz, nbg, hb, dtype) in enumerate(specs):
        c = Case(600 + i, dtype)
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
              dict(out=out), dtype, written)


def gen_lightning(out_dir, written):
    specs = [("prefill", 2, 4, 32, 16, 16, False, False), ("decode_l1_init", 2, 4, 1, 16, 8, True, False),
             ("prefill_init", 1, 2, 20, 8, 8, True, False), ("bf16", 1, 4, 16, 16, 16, True, True)]
    for i, (name, B, H, L, K, V, hi, dtype) in enumerate(specs):
        c = Case(700 + i, dtype)
        q = c.act(B, H, L, K, scale=1 / np.sqrt(K))
        k = c.act(B, H, L, K, scale=1 / np.sqrt(K))
        v = c.act(B, H, L, V)
        slope = np.array([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], dtype=np.float32)
        slope = c.round(slope)
        init = c.act(B, H, K, V, scale=0.5) if hi else None
        out, final = ref_lightning(q, k, v, slope, init)
        write(out_dir, "lightning_attention", name, {},
              dict(q=q, k=k, v=v, slope=slope, initial_state=init),
              dict(out=out, final_state=final), dtype, written)


def slots_for(pages, page_size, first, count):
    """Slots of positions [first, first + count) of a sequence holding `pages`."""
    return [pages[p // page_size] * page_size + p % page_size for p in range(first, first + count)]


def gen_paged_kv(out_dir, written):
    # Writes. Each spec: name, pages in the pool, page_size, kv_heads, head_dim, dtype, and
    # the batch as (page table, first position, tokens) per sequence plus trailing padding
    # tokens (slot -1, as a CUDA-graph-padded batch). The caches start from random contents
    # (earlier tokens, stale pages) that every slot not written must keep.
    specs = [
        # two prompts over pages out of order, partial last pages (11 = 4+4+3, 6 = 4+2)
        ("prefill_padding", 9, 4, 2, 6, "float32", [([5, 2, 7], 0, 11), ([3, 8], 0, 6)], 3),
        # one decode token in the middle of a partly filled page
        ("decode_t1", 6, 8, 3, 6, "float32", [([4, 1], 10, 1)], 0),
        # decode batch: a token opening a fresh page, one mid-page, one ending a page
        ("bf16_decode_batch", 12, 16, 2, 64, "bfloat16",
         [([7, 3], 16, 1), ([10], 5, 1), ([2, 11, 6], 47, 1)], 1),
        # chunked prefill continuing mid-page, odd row size (3 x 5 float16 = 30 bytes)
        ("f16_chunked_prefill", 10, 4, 3, 5, "float16", [([9, 4, 1, 6], 3, 10)], 2),
    ]
    for i, (name, P, S, H, D, dtype, seqs, pad) in enumerate(specs):
        c = Case(800 + i, dtype)
        slots = []
        for pages, first, count in seqs:
            slots += slots_for(pages, S, first, count)
        slots += [-1] * pad
        # Interleave the padding so that skipped tokens sit between real ones too.
        order = c.rng.permutation(len(slots)) if pad else np.arange(len(slots))
        slot_mapping = np.array(slots, dtype=np.int64)[order]
        T = len(slot_mapping)
        key, value = c.act(T, H, D), c.act(T, H, D)
        key_cache, value_cache = c.act(P, S, H, D), c.act(P, S, H, D)
        kc, vc = ref_paged_kv_write(key, value, key_cache, value_cache, slot_mapping)
        write(out_dir, "paged_kv_write", name, {},
              dict(key=key, value=value, key_cache=key_cache, value_cache=value_cache,
                   slot_mapping=slot_mapping),
              dict(key_cache=kc, value_cache=vc), dtype, written)
    # Gathers. name, pages, page_size, kv_heads, head_dim, dtype, block_tables, seq_lens,
    # max_len (None: the default, max(seq_lens)). Table entries past a sequence's pages are
    # padding (0, the dummy page, or -1) and must not be read.
    specs = [
        # pages out of order and reused after frees; lengths with partial last pages
        ("batch_out_of_order", 10, 4, 2, 6, "float32",
         [[6, 1, 9], [3, 0, 0], [8, 0, 0]], [11, 4, 1], None),
        # a shared prefix page, an empty sequence, a static max_len above every length
        ("shared_prefix_max_len", 8, 4, 3, 5, "float32",
         [[5, 2, -1, -1], [5, 7, 3, -1], [-1, -1, -1, -1]], [7, 10, 0], 16),
        # full pages only
        ("bf16_full_pages", 9, 16, 2, 64, "bfloat16", [[4, 8], [1, 7]], [32, 16], None),
        # one-token sequence next to one a token past a page
        ("f16_decode_len1", 6, 16, 4, 8, "float16", [[3, 0], [5, 2]], [1, 17], None),
    ]
    for i, (name, P, S, H, D, dtype, tables, lens, max_len) in enumerate(specs):
        c = Case(850 + i, dtype)
        key_cache, value_cache = c.act(P, S, H, D), c.act(P, S, H, D)
        block_tables = np.array(tables, dtype=np.int64)
        seq_lens = np.array(lens, dtype=np.int64)
        n = max(lens) if max_len is None else max_len
        key, value = ref_paged_kv_gather(key_cache, value_cache, block_tables, seq_lens, n)
        write(out_dir, "paged_kv_gather", name, {} if max_len is None else {"max_len": np.int64(n)},
              dict(key_cache=key_cache, value_cache=value_cache, block_tables=block_tables,
                   seq_lens=seq_lens),
              dict(key=key, value=value), dtype, written)


def delta_rule_inputs(c, lead, H, HV, K, V, per_channel, l2norm, amp, decay=(1.0, -1.5)):
    """q, k, v, g, beta for lead = (B, T) or (N, T) at the ranges models produce; v in
    [-amp, amp]; decay = (largest exp(A_log), lowest g)."""
    q = c.act(*lead, H, K, lo=-1.0, hi=1.0)
    if l2norm:  # the op normalises k; raw norms ~ sqrt(K / 3)
        k = c.act(*lead, H, K, lo=-1.0, hi=1.0)
    else:
        # Without the in-kernel norm the delta rule contracts only while beta |k|^2 < 2
        # (eigenvalue 1 - beta |k|^2 of I - beta k k^T): |k| in [0.5, 1] before rounding.
        raw = c.rng.uniform(-1.0, 1.0, (*lead, H, K))
        raw *= c.rng.uniform(0.5, 1.0, (*lead, H, 1)) / np.linalg.norm(raw, axis=-1, keepdims=True)
        k = c.round(raw.astype(np.float32))
    v = c.act(*lead, HV, V, lo=-amp, hi=amp)
    # Log decay as Qwen3-Next / Kimi-Linear make it, -exp(A_log) * softplus(a + dt_bias),
    # by default kept in [-1.5, -0.01] (per step decay 0.22 .. 0.99).
    A = np.exp(c.rng.uniform(np.log(0.05), np.log(decay[0]), HV))
    if decay[0] > 1.0:
        A[-1] = decay[0]  # the last head forgets hardest
    a = c.rng.standard_normal((*lead, HV, K) if per_channel else (*lead, HV))
    g = np.clip(-(A[:, None] if per_channel else A) * softplus(a), decay[1], -0.01)
    g = c.round(g.astype(np.float32))
    beta = c.round((1.0 / (1.0 + np.exp(-c.rng.standard_normal((*lead, HV))))).astype(np.float32))
    return q, k, v, g, beta


def delta_rule_attrs(l2norm, scale):
    attrs = {"use_qk_l2norm_in_kernel": np.int64(l2norm)}
    if scale is not None:  # absent: the default K^-0.5
        attrs["scale"] = np.float64(scale)
    return attrs


# Low-precision cases draw v and the states AMP times wider: outputs of a few units (as in the
# models) keep their dtype's tolerance well below a 5e-2 relative change.
AMP = {False: 1.0, True: 5.0}


def gen_delta_rule(out_dir, written):
    # name, B, T, H, HV, K, V, sequence lengths (cu_seqlens), initial_state, l2norm, scale, dtype
    specs = [
        # three sequences, boundaries 37 and 100 inside fla's 64-token chunks
        ("varlen_init", 1, 150, 2, 2, 16, 16, [37, 63, 50], True, 0, None, False),
        # grouped value heads (HV = 2 H), T not a multiple of 64
        ("grouped_t100", 1, 100, 2, 4, 16, 16, None, False, 0, None, False),
        # batch of two (N = B) with initial states, in-kernel L2 norm, scale, K != V
        ("l2norm_scale_k32_v48", 2, 70, 1, 1, 32, 48, None, True, 1, 0.3, False),
        # a one-token sequence, then one of 64 tokens straddling a chunk boundary
        ("bf16_varlen_grouped", 1, 80, 1, 2, 16, 16, [1, 64, 15], True, 0, None, True),
        # strong forgetting, as Qwen3-Next's A = exp(A_log) up to 16 gives: g down to -20, so
        # a chunk's cumulative decay passes -700 and exp(-cumsum) overflows even float64;
        # a chunked kernel must only exponentiate differences (exp(G_t - G_s), t >= s)
        ("strong_decay_t130", 1, 130, 2, 2, 16, 16, None, True, 0, None, False),
    ]
    decays = {"strong_decay_t130": (16.0, -20.0)}
    for op, per_channel, seed in (("gated_delta_rule", False, 900), ("kda", True, 920)):
        for i, (name, B, T, H, HV, K, V, lens, hi, l2, scale, dtype) in enumerate(specs):
            c = Case(seed + i, dtype)
            amp = AMP[dtype]
            q, k, v, g, beta = delta_rule_inputs(c, (B, T), H, HV, K, V, per_channel, l2, amp,
                                                 decays.get(name, (1.0, -1.5)))
            cu = None if lens is None else np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
            N = B if cu is None else len(lens)
            init = c.act(N, HV, K, V, lo=-amp / 2, hi=amp / 2) if hi else None
            o, final = ref_delta_rule(q, k, v, g, beta, K ** -0.5 if scale is None else scale,
                                      init, cu, l2)
            write(out_dir, op, name, delta_rule_attrs(l2, scale),
                  dict(q=q, k=k, v=v, g=g, beta=beta, initial_state=init, cu_seqlens=cu),
                  dict(o=o, final_state=final), dtype, written)


def gen_delta_rule_update(out_dir, written):
    # name, N, T, H, HV, K, V, pool slots S, ssm_state_indices (-1: padding), l2norm, scale,
    # pad_slot_id attribute written (None: left to its default, -1), dtype. Slots no row
    # names must keep their values.
    specs = [
        ("t1_scattered_pad", 4, 1, 2, 2, 16, 16, 6, [5, 0, -1, 3], 0, None, None, False),
        ("t2_spec_grouped_l2norm", 3, 2, 2, 4, 16, 16, 5, [2, 4, 1], 1, None, None, False),
        ("bf16_t1_pad_scale", 3, 1, 1, 2, 16, 16, 4, [-1, 3, 0], 0, 0.2, -1, True),
        ("no_indices_t3", 2, 3, 1, 2, 16, 16, 2, None, 0, None, None, False),
        ("k32_v48_t4_l2norm_scale", 2, 4, 1, 1, 32, 48, 4, [3, 1], 1, 0.15, None, False),
    ]
    for op, per_channel, seed in (("gated_delta_rule_update", False, 940),
                                  ("kda_update", True, 960)):
        for i, (name, N, T, H, HV, K, V, S, idx, l2, scale, pad, dtype) in enumerate(specs):
            c = Case(seed + i, dtype)
            amp = AMP[dtype]
            q, k, v, g, beta = delta_rule_inputs(c, (N, T), H, HV, K, V, per_channel, l2, amp)
            pool = c.act(S, HV, K, V, lo=-amp / 2, hi=amp / 2)
            indices = None if idx is None else np.array(idx, dtype=np.int32)
            o, final = ref_delta_rule_update(q, k, v, g, beta,
                                             K ** -0.5 if scale is None else scale, pool,
                                             indices, -1 if pad is None else pad, l2)
            attrs = delta_rule_attrs(l2, scale)
            if pad is not None:
                attrs["pad_slot_id"] = np.int64(pad)
            write(out_dir, op, name, attrs,
                  dict(q=q, k=k, v=v, g=g, beta=beta, initial_state=pool,
                       ssm_state_indices=indices),
                  dict(o=o, final_state=final), dtype, written)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "golden"))
    ap.add_argument("--only", action="append", default=[], metavar="GLOB",
                    help="write only files whose op/case.h5 path matches (repeatable)")
    args = ap.parse_args()
    ONLY.extend(args.only)
    written = []
    for gen in (gen_conv, gen_selective_scan, gen_state_update, gen_chunk_scan, gen_rmsnorm,
                gen_lightning, gen_paged_kv, gen_delta_rule, gen_delta_rule_update):
        gen(args.out, written)
    with open(os.path.join(args.out, "suite.yaml"), "w") as f:
        f.write("# Written by scripts/make_goldens.py\nname: bundled\ncases:\n")
        for p in sorted(written):
            f.write(f"  - {p}\n")
        # Made elsewhere (scripts/make_replay_goldens.py, needs torch + transformers).
        if os.path.isdir(os.path.join(args.out, "cache_replay")):
            f.write("  - cache_replay/\n")
    made = [p for p in written if not ONLY or any(fnmatch.fnmatch(p, g) for g in ONLY)]
    print(f"wrote {len(made)} golden files to {args.out}; suite.yaml lists {len(written)}")


if __name__ == "__main__":
    main()
