#!/usr/bin/env python3
"""Time any Python implementation of an ssmkit op, and keep its outputs as a candidate.

For a GPU machine with PyTorch. The inputs come from golden files (the bundled ones, or ones
`ssmkit golden make` writes at a model's shapes: the same shapes and seeded inputs as
`ssmkit bench`), the timer is scripts/bench_vs_mamba_ssm.py's (CUDA events around a pass,
enqueued behind a GPU sleep so Python's launch overhead is not timed; median of --passes),
and the callable is any `module:function`. An adapter maps the golden's arguments onto the
callable's signature:

  kwargs         fn(**inputs, **flags) -> outputs as a dict, or a tuple in the golden's order
  mamba_ssm      selective_scan_fn, selective_state_update, mamba_chunk_scan_combined,
                 rmsnorm_fn (mamba_ssm.ops.triton.layernorm_gated)
  causal_conv1d  causal_conv1d_fn, causal_conv1d_update (the causal-conv1d package)
  fla            lightning_attention through flash-linear-attention's simple GLA kernels
                 (fla.ops.simple_gla: chunk_simple_gla, fused_recurrent_simple_gla);
                 gated_delta_rule, kda (chunk_gated_delta_rule, chunk_kda or the fused_recurrent
                 ones) and their *_update forms (fused_recurrent_*: each row's pool slot gathered
                 into a dense state, the final state scattered back, pad rows left out)
  hf             gated_rmsnorm through transformers' MambaRMSNormGated (a module class);
                 gated_delta_rule and gated_delta_rule_update through transformers' Qwen3-Next
                 PyTorch paths (modeling_qwen3_next: torch_chunk_gated_delta_rule,
                 torch_recurrent_gated_delta_rule): q and k repeated to the value heads as its
                 mixer does, the default scale only, no packed sequences

With --candidates DIR each golden's outputs (from one call on fresh inputs, before timing)
are written there as a candidate file, for `ssmkit validate --candidate DIR/NAME.h5 GOLDEN`.

    python3 scripts/bench_callable.py --adapter mamba_ssm \\
        --callable mamba_ssm.ops.triton.ssd_combined:mamba_chunk_scan_combined \\
        --candidates out/ golden/mamba_chunk_scan_combined/*.h5
    python3 scripts/bench_callable.py --adapter causal_conv1d --callable causal_conv1d:causal_conv1d_fn \\
        --ssmkit build/apps/ssmkit --make "--op causal_conv1d --model Nemotron-H-8B --batch 8 --seqlen 2048 --dtype bfloat16"
"""
import argparse
import importlib
import inspect
import json
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTERS = ("kwargs", "mamba_ssm", "causal_conv1d", "fla", "hf")


def fail(message):
    print(f"bench_callable: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--callable", required=True, help="module:function (or module:Class for --adapter hf)")
    ap.add_argument("--adapter", default="kwargs", help="how the golden's arguments reach it: " + ", ".join(ADAPTERS))
    ap.add_argument("--ssmkit", help="the ssmkit binary (for --make)")
    ap.add_argument("--make", action="append", default=[],
                    help="arguments of `ssmkit golden make` (without -o) making one more golden to time")
    ap.add_argument("--python-path", action="append", default=[], help="extra directories to import from")
    ap.add_argument("--skip-init", action="append", default=[], metavar="PACKAGE",
                    help="import PACKAGE's submodules without running its __init__ (repeatable; found on "
                         "--python-path), e.g. fla and fla.ops so a source copy of fla imports without its model zoo")
    ap.add_argument("--passes", type=int, default=50, help="timed passes per golden (median)")
    ap.add_argument("--copies", type=int, default=1, help="input sets rotated through per pass (same values)")
    ap.add_argument("--candidates", help="write each golden's outputs here as a candidate file")
    ap.add_argument("--json", help="write the timings as JSON to FILE")
    ap.add_argument("goldens", nargs="*", help="golden files whose inputs are timed")
    args = ap.parse_args(argv)
    check_inputs(args)
    return args


def check_inputs(args):
    """Everything checked before PyTorch is imported or anything runs."""
    module, _, name = args.callable.partition(":")
    if not module or not name:
        fail(f"--callable: {args.callable!r} (expected module:function, e.g. causal_conv1d:causal_conv1d_fn)")
    if args.adapter not in ADAPTERS:
        fail(f"--adapter: {args.adapter!r} (expected one of {', '.join(ADAPTERS)})")
    for p in args.python_path:
        if not os.path.isdir(p):
            fail(f"--python-path: {p} is not a directory")
    for package in args.skip_init:
        if package_root(package, args.python_path) is None:
            fail(f"--skip-init: {package} is in none of the --python-path directories")
    if args.passes < 1:
        fail(f"--passes: {args.passes} (expected at least 1)")
    if args.copies < 1:
        fail(f"--copies: {args.copies} (expected at least 1)")
    if args.make and not (args.ssmkit and os.path.isfile(args.ssmkit) and os.access(args.ssmkit, os.X_OK)):
        fail(f"--ssmkit: {args.ssmkit} is not an executable file (--make needs the ssmkit binary)")
    if not args.goldens and not args.make:
        fail("give golden files, or --make to have ssmkit write one")
    for g in args.goldens:
        if not os.path.isfile(g):
            fail(f"golden {g}: no such file")
    if args.candidates and os.path.exists(args.candidates) and not os.path.isdir(args.candidates):
        fail(f"--candidates: {args.candidates} exists and is not a directory")


def package_root(package, paths):
    """The first of `paths` holding the package's directory, or None."""
    return next((p for p in paths if os.path.isdir(os.path.join(p, *package.split(".")))), None)


def load_callable(spec, extra_paths, skip_init):
    sys.path[:0] = extra_paths
    for package in skip_init:
        import bench_vs_mamba_ssm
        bench_vs_mamba_ssm.stub_packages(package_root(package, extra_paths), [package])
    module, _, name = spec.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        fail(f"--callable: {spec} cannot be imported: {e}")
    return obj


# ---- adapters: (golden, torch inputs, fn) -> call() returning {output name: tensor} --------

def _flag(g, name, default):
    return g.flags.get(name, default)


def _delta_rule_flags(g, t):
    return dict(scale=float(_flag(g, "scale", t["k"].shape[-1] ** -0.5)),
                use_qk_l2norm_in_kernel=bool(_flag(g, "use_qk_l2norm_in_kernel", 0)))


def _pool_decode(g, t, q, k, step):
    """A delta-rule pool-decode golden through a kernel on a dense state: each live row's slot
    (ssm_state_indices, or row n's slot n) gathered, step(q, k, rows, states) -> (o, final
    states) run on the live rows, its outputs and states scattered back; pad rows keep a zero
    output and their slots."""
    import torch
    pool = t["initial_state"]
    idx = t["ssm_state_indices"].long() if "ssm_state_indices" in t else torch.arange(q.shape[0], device=pool.device)
    live = (idx != int(_flag(g, "pad_slot_id", -1))).nonzero().flatten()

    def call():
        o = torch.zeros_like(t["v"])
        slots = idx[live]
        part, final = step(q[live], k[live], live, pool[slots])
        o[live] = part.to(o.dtype)
        pool[slots] = final.to(pool.dtype)
        return {"o": o, "final_state": pool}
    return call


def adapt(adapter, g, t, fn):
    """A zero-argument call returning the outputs by golden name, or raises NotImplementedError
    with the reason this adapter cannot run this golden."""
    import torch
    op = g.op
    if adapter == "kwargs":
        names = list(g.outputs) or None

        def call():
            r = fn(**t, **g.flags)
            if isinstance(r, dict):
                return r
            r = r if isinstance(r, (tuple, list)) else (r,)
            if names is None or len(names) != len(r):
                raise NotImplementedError("kwargs adapter: return a dict when the golden has no outputs "
                                          "or the count differs")
            return dict(zip(names, r))
        return call
    if adapter == "mamba_ssm" and op == "selective_scan":
        return lambda: dict(zip(("out", "last_state"), fn(
            t["u"], t["delta"], t["A"], t["B"], t["C"], D=t.get("D"), z=t.get("z"), delta_bias=t.get("delta_bias"),
            delta_softplus=bool(_flag(g, "delta_softplus", 0)), return_last_state=True)))
    if adapter == "mamba_ssm" and op == "selective_state_update":
        def call():  # the state is updated in place
            out = fn(t["state"], t["x"], t["dt"], t["A"], t["B"], t["C"], D=t.get("D"), z=t.get("z"),
                     dt_bias=t.get("dt_bias"), dt_softplus=bool(_flag(g, "dt_softplus", 0)),
                     **({"state_batch_indices": t["state_batch_indices"]} if "state_batch_indices" in t else {}))
            return {"out": out, "state": t["state"]}
        return call
    if adapter == "mamba_ssm" and op == "mamba_chunk_scan_combined":
        varlen = "cu_seqlens" in t
        names = ("out", "final_states") + (("varlen_states",) if varlen else ())
        limit = tuple(float(v) for v in _flag(g, "dt_limit", (0.0, float("inf"))))
        return lambda: dict(zip(names, fn(
            t["x"], t["dt"], t["A"], t["B"], t["C"], int(_flag(g, "chunk_size", 256)), D=t.get("D"), z=t.get("z"),
            dt_bias=t.get("dt_bias"), initial_states=t.get("initial_states"), seq_idx=t.get("seq_idx"),
            cu_seqlens=t.get("cu_seqlens"), dt_softplus=bool(_flag(g, "dt_softplus", 0)), dt_limit=limit,
            return_final_states=True, **({"return_varlen_states": True} if varlen else {}))))
    if adapter == "mamba_ssm" and op == "gated_rmsnorm":
        x = t["x"]
        return lambda: {"out": fn(x, t["weight"], t.get("bias"), z=t.get("z"), eps=float(_flag(g, "eps", 1e-6)),
                                  group_size=int(_flag(g, "group_size", x.shape[-1])),
                                  norm_before_gate=bool(_flag(g, "norm_before_gate", 1)))}
    if adapter == "causal_conv1d" and op == "causal_conv1d":
        act = "silu" if _flag(g, "activation", "none") in ("silu", "swish", 1) else None
        W = t["weight"].shape[1]

        def call():
            init = t.get("initial_states")
            out, final = fn(t["x"], t["weight"], t.get("bias"), initial_states=init, return_final_states=True,
                            activation=act)
            # causal-conv1d keeps W-1 inputs; the golden's W-wide window (HF's cache layout) is
            # the same inputs plus the newest: taken from x, not computed by the kernel.
            past = init if init is not None else torch.zeros_like(t["x"][..., : W - 1])
            window = torch.cat([past, t["x"]], dim=-1)[..., -W:]
            return {"out": out, "final_states": final, "conv_state": window}
        return call
    if adapter == "causal_conv1d" and op == "causal_conv1d_update":
        act = "silu" if _flag(g, "activation", "none") in ("silu", "swish", 1) else None
        return lambda: {"out": fn(t["x"], t["conv_state"], t["weight"], t.get("bias"), activation=act),
                        "conv_state": t["conv_state"]}
    if adapter == "fla" and op == "lightning_attention":
        # simple GLA: S_t = exp(g_t) S_{t-1} + k_t^T v_t, here g = -slope per head, in the
        # (B, T, H, K) layout. fla versions differ: g_gamma (per-head decay) where it exists,
        # else g per token; head_first=False where that option exists.
        params = inspect.signature(fn).parameters
        q, k, v = (t[n].transpose(1, 2).contiguous() for n in ("q", "k", "v"))
        slope = t["slope"].reshape(-1).float()
        gate = {"g_gamma": -slope} if "g_gamma" in params else \
            {"g": (-slope).expand(q.shape[0], q.shape[1], -1).contiguous()}
        layout = {"head_first": False} if "head_first" in params else {}

        def call():
            o, final = fn(q, k, v, **gate, **layout, scale=1.0, initial_state=t.get("initial_state"),
                          output_final_state=True)
            return {"out": o.transpose(1, 2), "final_state": final}
        return call
    if adapter == "fla" and op in ("gated_delta_rule", "kda"):
        flags = _delta_rule_flags(g, t)
        cu = t.get("cu_seqlens")
        varlen = {"cu_seqlens": cu.long()} if cu is not None else {}

        def call():
            # by keyword: fla's fused_recurrent_* take gk and gv between g and beta
            o, final = fn(t["q"], t["k"], t["v"], g=t["g"], beta=t["beta"], initial_state=t.get("initial_state"),
                          output_final_state=True, **flags, **varlen)
            return {"o": o, "final_state": final}
        return call
    if adapter == "fla" and op in ("gated_delta_rule_update", "kda_update"):
        flags = _delta_rule_flags(g, t)
        return _pool_decode(g, t, t["q"], t["k"], lambda q, k, rows, state: fn(
            q, k, t["v"][rows], g=t["g"][rows], beta=t["beta"][rows], initial_state=state,
            output_final_state=True, **flags))
    if adapter == "hf" and op in ("gated_delta_rule", "gated_delta_rule_update"):
        K = t["k"].shape[-1]
        if "scale" in g.flags and abs(float(g.flags["scale"]) - K ** -0.5) > 1e-12:
            raise NotImplementedError("transformers' delta rule has no scale argument (it uses K^-0.5)")
        if "cu_seqlens" in t:
            raise NotImplementedError("transformers' delta rule takes no packed sequences (cu_seqlens)")
        ratio = t["v"].shape[2] // t["q"].shape[2]
        q, k = (t[n].repeat_interleave(ratio, dim=2) for n in ("q", "k"))
        l2 = bool(_flag(g, "use_qk_l2norm_in_kernel", 0))
        if op == "gated_delta_rule":
            return lambda: dict(zip(("o", "final_state"), fn(
                q, k, t["v"], t["g"], t["beta"], initial_state=t.get("initial_state"), output_final_state=True,
                use_qk_l2norm_in_kernel=l2)))
        return _pool_decode(g, t, q, k, lambda q, k, rows, state: fn(
            q, k, t["v"][rows], t["g"][rows], t["beta"][rows], initial_state=state, output_final_state=True,
            use_qk_l2norm_in_kernel=l2))
    if adapter == "hf" and op == "gated_rmsnorm":
        # transformers' Mamba2 MambaRMSNormGated(hidden_size, eps) gates first and norms over all
        # of D; NemotronH's takes group_size as well.
        D = t["x"].shape[-1]
        group = int(_flag(g, "group_size", D))
        grouped = "group_size" in inspect.signature(fn).parameters
        if "bias" in t or int(_flag(g, "norm_before_gate", 1)) != 0 or (group != D and not grouped):
            raise NotImplementedError("MambaRMSNormGated gates before the norm, has no bias"
                                      + ("" if grouped else " and norms over all of D"))
        eps = float(_flag(g, "eps", 1e-6))
        module = fn(D, group_size=group, eps=eps) if grouped else fn(D, eps=eps)
        module = module.to(device=t["x"].device, dtype=t["weight"].dtype)
        with torch.no_grad():
            module.weight.copy_(t["weight"])
        return lambda: {"out": module(t["x"], t.get("z"))}
    raise NotImplementedError(f"the {adapter} adapter has no mapping for {op}")


def to_torch(g):
    import torch
    act = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
           "float16": torch.float16}[g.input_dtype]
    out = {}
    for name, a in g.inputs.items():
        tensor = torch.from_numpy(a).cuda()
        # Index datasets go as int32 (the kernels' index type); activations in the input dtype;
        # parameters (A, D, biases, weights: float32 in the golden) stay float32.
        if not tensor.is_floating_point():
            out[name] = tensor.to(torch.int32)
        elif name in ("A", "D", "dt_bias", "delta_bias", "slope", "g", "beta", "initial_state") or (name in ("weight", "bias") and g.op != "causal_conv1d"):
            out[name] = tensor.float()
        else:
            out[name] = tensor.to(act)
    return out


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    try:
        import ssmkit_golden as sg
    except ImportError as e:
        fail(f"needs numpy and h5py: {e}")
    goldens = list(args.goldens)
    tmp = tempfile.mkdtemp(prefix="bench_callable_")
    for i, make in enumerate(args.make):
        path = os.path.join(tmp, f"made{i}.h5")
        proc = subprocess.run([args.ssmkit, "golden", "make", *shlex.split(make), "-o", path],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            fail(f"--make {make!r}: ssmkit golden make failed:\n{proc.stdout}{proc.stderr}")
        goldens.append(path)
    try:
        import torch
    except ImportError as e:
        fail(f"needs PyTorch with a CUDA device: {e}")
    if not torch.cuda.is_available():
        fail("needs a CUDA device: torch.cuda.is_available() is False")
    import bench_vs_mamba_ssm as timer
    fn = load_callable(args.callable, args.python_path, args.skip_init)
    if args.candidates:
        os.makedirs(args.candidates, exist_ok=True)
    rows = []
    for path in goldens:
        g = sg.read_golden(path)
        row = {"golden": path, "op": g.op, "callable": args.callable, "adapter": args.adapter,
               "shapes": {k: list(v.shape) for k, v in g.inputs.items()}, "input_dtype": g.input_dtype}
        try:
            fresh = to_torch(g)
            outputs = adapt(args.adapter, g, fresh, fn)()
            if args.candidates:
                sg.write_candidate(os.path.join(args.candidates, os.path.basename(path)), outputs,
                                   golden=path, implementation=f"{args.callable} ({args.adapter})")
            calls = [adapt(args.adapter, g, to_torch(g), fn) for _ in range(args.copies)]
            row.update(timer.time_call(lambda k: calls[k](), args.copies, args.passes, False))
        except Exception as e:  # a kernel that rejects the call is a row with its reason
            row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
        shown = f"{row['median_s'] * 1e6:10.1f} us" if "median_s" in row else "ERROR " + row["error"]
        print(f"{os.path.basename(path):40s} {g.op:28s} {shown}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tool": "bench_callable", "device": torch.cuda.get_device_name(), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
