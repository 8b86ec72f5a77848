#!/usr/bin/env python3
"""ssmkit's kernels against the kernels users run (mamba_ssm's, causal-conv1d's,
flash-linear-attention's), same shapes, same GPU, same run.

For a GPU machine with PyTorch and Triton. Runs `ssmkit bench --json` (the binary given),
then times mamba_ssm's kernel for every CUDA row of that report on identical shapes and
dtypes, with the same number of rotating input sets and the same timer (CUDA events
around one pass over the sets; CUDA-graph replay where ssmkit's row was a graph replay),
and prints one table of ratios. Both sides time the GPU alone: ssmkit enqueues each pass
behind a launch gate, this script behind a GPU sleep, so neither C++'s nor Python's launch
overhead is in a ratio.

The anchor of each op: mamba_ssm (selective scan, state update, chunked scan, gated norm),
causal-conv1d (the convs), flash-linear-attention (Gated DeltaNet and KDA: chunk_gated_delta_rule,
chunk_kda, and fused_recurrent_gated_delta_rule / fused_recurrent_kda on a dense state for the
decode rows, all with use_qk_l2norm_in_kernel as ssmkit's rows). fla runs from a source copy
(--fla-src, the directory holding fla/; its package __init__ files are skipped so the model zoo
is not imported).

mamba_ssm may be installed, or given as a source checkout (--mamba-ssm-src). From source
its Triton kernels import without the compiled extension; ops that need a compiled module
(selective_scan_fn: selective_scan_cuda; causal_conv1d: the causal-conv1d package) are
reported as unavailable, row by row, never dropped, unless the modules are on
--python-path: scripts/build_mamba_extensions.py builds both from source checkouts.

mamba_ssm's Triton kernels pick their block sizes by autotuning at the first call of each
process, and the pick can differ between runs (its chunk-scan time has moved by ~20% between
process runs on one H200). The configurations picked are recorded per row; with --tunings N
each row's autotuning is redone N times (the autotuners' caches cleared) and timed after each,
and mamba_ssm's time is the fastest of the N, so the ratio is against its best pick seen.

    python3 scripts/bench_vs_mamba_ssm.py --ssmkit .device/ssmkit \\
        --mamba-ssm-src .device/mamba_src --out $OUT -- --preset mamba2-2.7b
"""
import argparse
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import types


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ssmkit", required=True, help="the ssmkit binary")
    ap.add_argument("--mamba-ssm-src", help="directory holding the mamba_ssm package (a source checkout)")
    ap.add_argument("--fla-src", help="directory holding the fla package (a flash-linear-attention checkout)")
    ap.add_argument("--python-path", action="append", default=[],
                    help="extra directories for pure-python dependencies (einops) if not installed")
    ap.add_argument("--out", default=".", help="where to write the ssmkit JSON and the comparison")
    ap.add_argument("--passes", type=int, default=50, help="timed passes per mamba_ssm row (median)")
    ap.add_argument("--tunings", type=int, default=1,
                    help="autotune mamba_ssm's Triton kernels this many times per row and keep the "
                         "fastest (default 1)")
    ap.add_argument("bench_args", nargs=argparse.REMAINDER, help="after --: arguments for ssmkit bench")
    args = ap.parse_args()
    if args.bench_args and args.bench_args[0] == "--":
        args.bench_args = args.bench_args[1:]
    check_inputs(args)
    return args


def fail(message):
    print(f"bench_vs_mamba_ssm: {message}", file=sys.stderr)
    sys.exit(2)


def check_inputs(args):
    """Every path and PyTorch checked before ssmkit's bench runs (minutes) rather than after."""
    if not (os.path.isfile(args.ssmkit) and os.access(args.ssmkit, os.X_OK)):
        fail(f"--ssmkit: {args.ssmkit} is not an executable file (expected the ssmkit binary)")
    if args.mamba_ssm_src and not os.path.isdir(os.path.join(args.mamba_ssm_src, "mamba_ssm")):
        fail(f"--mamba-ssm-src: {args.mamba_ssm_src} holds no mamba_ssm/ package directory "
             "(expected a mamba_ssm source checkout)")
    if args.fla_src and not os.path.isdir(os.path.join(args.fla_src, "fla", "ops")):
        fail(f"--fla-src: {args.fla_src} holds no fla/ops/ directory (expected a flash-linear-attention "
             "source checkout)")
    for p in args.python_path:
        if not os.path.isdir(p):
            fail(f"--python-path: {p} is not a directory")
    if args.passes < 1:
        fail(f"--passes: {args.passes} (expected at least 1)")
    if args.tunings < 1:
        fail(f"--tunings: {args.tunings} (expected at least 1)")
    try:
        import torch
    except ImportError as e:
        fail(f"needs PyTorch with a CUDA device (the GPU machine's python3): {e}")
    if not torch.cuda.is_available():
        fail("needs a CUDA device: torch.cuda.is_available() is False")


def stub_packages(src, names):
    """Registers each package of `names` (dotted, under `src`) as an empty module with its
    directory as __path__, so its submodules import without running its __init__."""
    sys.path.insert(0, src)
    for name in names:
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(src, *name.split("."))]
        # Submodules may read the package's version (fla's do): kept from its __init__.
        init = os.path.join(pkg.__path__[0], "__init__.py")
        found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", open(init).read(), re.M) \
            if os.path.isfile(init) else None
        if found:
            pkg.__version__ = found.group(1)
        sys.modules[name] = pkg


def import_anchors(src, fla_src, extra_paths):
    """mamba_ssm's Triton modules (without the package __init__, which imports the compiled
    extension), causal-conv1d and fla's delta-rule ops. Returns (modules, notes) where notes
    say what is unavailable."""
    for p in extra_paths:
        sys.path.insert(0, p)
    notes = {}
    if src:
        stub_packages(src, ["mamba_ssm"])
    mods = {}
    for key, name in [("ssu", "mamba_ssm.ops.triton.selective_state_update"),
                      ("ssd", "mamba_ssm.ops.triton.ssd_combined"),
                      ("norm", "mamba_ssm.ops.triton.layernorm_gated"),
                      ("scan", "mamba_ssm.ops.selective_scan_interface")]:
        try:
            mods[key] = importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - every reason is reported
            notes[key] = f"unavailable: import {name} failed: {type(e).__name__}: {e}"
    if "scan" in mods and getattr(mods["scan"], "selective_scan_cuda", None) is None:
        notes["scan"] = "unavailable: no compiled extension (selective_scan_cuda; scripts/build_mamba_extensions.py)"
    try:
        mods["conv"] = importlib.import_module("causal_conv1d")
    except Exception:  # noqa: BLE001
        notes["conv"] = "unavailable: causal-conv1d is not installed (scripts/build_mamba_extensions.py)"
    if not fla_src:
        notes["gdn"] = notes["kda"] = "unavailable: no --fla-src"
        return mods, notes
    stub_packages(fla_src, ["fla", "fla.ops", "fla.modules", "fla.layers", "fla.models"])
    for key, name in [("gdn", "fla.ops.gated_delta_rule"), ("kda", "fla.ops.kda")]:
        try:
            mods[key] = importlib.import_module(name)
        except Exception as e:  # noqa: BLE001
            notes[key] = f"unavailable: import {name} failed: {type(e).__name__}: {e}"
    return mods, notes



def tdtype(name):
    import torch
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def rand(shape, lo, hi, dtype, gen):
    import torch
    return (torch.rand(shape, generator=gen, device="cuda", dtype=torch.float32) * (hi - lo) + lo).to(dtype)


def make_call(row, mods, notes, gen):
    """(callable taking an input-set index, bytes it moves per the row) or (None, reason)."""
    import torch
    from einops import repeat
    op, d = row["op"], row["dims"]
    act = tdtype(row["dtype"])
    copies = row.get("copies", 1)
    f32 = torch.float32
    sets = []
    if op == "selective_state_update":
        if "ssu" in notes:
            return None, notes["ssu"]
        fn = mods["ssu"].selective_state_update
        B, H, P, N, G = d["batch"], d["nheads"], d["headdim"], d["dstate"], d["ngroups"]
        sdt = tdtype(row.get("state_dtype", "float32"))
        for _ in range(copies):
            if d["per_head"]:
                # Mamba2's call: per-head dt, A, D, dt_bias broadcast with stride 0.
                A = repeat(rand((H,), -8, -1, f32, gen), "h -> h p n", p=P, n=N)
                dt = repeat(rand((B, H), -4, -1, act, gen), "b h -> b h p", p=P)
                D = repeat(rand((H,), -1, 1, f32, gen), "h -> h p", p=P)
                bias = repeat(rand((H,), 0, 0.5, f32, gen), "h -> h p", p=P)
                s = dict(state=rand((B, H, P, N), -1, 1, sdt, gen), x=rand((B, H, P), -1, 1, act, gen), dt=dt, A=A,
                         B=rand((B, G, N), -1, 1, act, gen), C=rand((B, G, N), -1, 1, act, gen), D=D,
                         z=rand((B, H, P), -1, 1, act, gen), dt_bias=bias)
            else:  # Mamba1 layout (batch, dim, dstate)
                Dm = P
                s = dict(state=rand((B, Dm, N), -1, 1, sdt, gen), x=rand((B, Dm), -1, 1, act, gen),
                         dt=rand((B, Dm), -4, -1, act, gen), A=rand((Dm, N), -2, -0.1, f32, gen),
                         B=rand((B, N), -1, 1, act, gen), C=rand((B, N), -1, 1, act, gen),
                         D=rand((Dm,), -1, 1, f32, gen), z=rand((B, Dm), -1, 1, act, gen),
                         dt_bias=rand((Dm,), 0, 0.5, f32, gen))
            sets.append(s)
        return (lambda k: fn(**sets[k], dt_softplus=True)), None
    if op == "mamba_chunk_scan_combined":
        if "ssd" in notes:
            return None, notes["ssd"]
        fn = mods["ssd"].mamba_chunk_scan_combined
        B, L, H, P, N, G, Q = (d[k] for k in ("batch", "seqlen", "nheads", "headdim", "dstate", "ngroups", "chunk_size"))
        for _ in range(copies):
            sets.append(dict(x=rand((B, L, H, P), -1, 1, act, gen), dt=rand((B, L, H), -4, -1, act, gen),
                             A=rand((H,), -8, -1, f32, gen), B=rand((B, L, G, N), -1, 1, act, gen),
                             C=rand((B, L, G, N), -1, 1, act, gen), D=rand((H,), -1, 1, f32, gen),
                             z=rand((B, L, H, P), -1, 1, act, gen), dt_bias=rand((H,), 0, 0.5, f32, gen)))
        return (lambda k: fn(chunk_size=Q, dt_softplus=True, return_final_states=True, **sets[k])), None
    if op == "selective_scan":
        if "scan" in notes:
            return None, notes["scan"]
        fn = mods["scan"].selective_scan_fn
        B, Dm, L, N = d["batch"], d["dim"], d["seqlen"], d["dstate"]
        for _ in range(copies):
            sets.append(dict(u=rand((B, Dm, L), -1, 1, act, gen), delta=rand((B, Dm, L), -4, -1, act, gen),
                             A=rand((Dm, N), -2, -0.1, f32, gen), B=rand((B, 1, N, L), -1, 1, act, gen),
                             C=rand((B, 1, N, L), -1, 1, act, gen), D=rand((Dm,), -1, 1, f32, gen),
                             z=rand((B, Dm, L), -1, 1, act, gen), delta_bias=rand((Dm,), 0, 0.5, f32, gen)))
        return (lambda k: fn(**sets[k], delta_softplus=True, return_last_state=True)), None
    if op in ("causal_conv1d", "causal_conv1d_update"):
        if "conv" in notes:
            return None, notes["conv"]
        conv = mods["conv"]
        B, Dm, W = d["batch"], d["dim"], d["width"]
        for _ in range(copies):
            w, b = rand((Dm, W), -0.5, 0.5, f32, gen).to(act), rand((Dm,), -0.1, 0.1, f32, gen).to(act)
            if op == "causal_conv1d":
                sets.append(dict(x=rand((B, Dm, d["seqlen"]), -1, 1, act, gen), weight=w, bias=b))
            else:
                sets.append(dict(x=rand((B, Dm), -1, 1, act, gen), conv_state=rand((B, Dm, d["state_len"]), -1, 1, act, gen),
                                 weight=w, bias=b))
        if op == "causal_conv1d":
            return (lambda k: conv.causal_conv1d_fn(**sets[k], activation="silu")), None
        return (lambda k: conv.causal_conv1d_update(**sets[k], activation="silu")), None
    if op == "gated_rmsnorm":
        if "norm" in notes:
            return None, notes["norm"]
        fn = mods["norm"].rmsnorm_fn
        R, Dm, gs = d["rows"], d["dim"], d["group_size"]
        for _ in range(copies):
            sets.append(dict(x=rand((R, Dm), -1, 1, act, gen), z=rand((R, Dm), -1, 1, act, gen),
                             weight=rand((Dm,), 0.5, 1.5, f32, gen)))
        return (lambda k: fn(sets[k]["x"], sets[k]["weight"], None, z=sets[k]["z"], eps=1e-5, group_size=gs,
                             norm_before_gate=False)), None
    if op in ("gated_delta_rule", "gated_delta_rule_update", "kda", "kda_update"):
        key = "kda" if op.startswith("kda") else "gdn"
        if key in notes:
            return None, notes[key]
        decode = op.endswith("_update")
        fn = {"gated_delta_rule": "chunk_gated_delta_rule", "kda": "chunk_kda",
              "gated_delta_rule_update": "fused_recurrent_gated_delta_rule",
              "kda_update": "fused_recurrent_kda"}[op]
        fn = getattr(mods[key], fn)
        B, T, H, HV, K, V = (d[n] for n in ("batch", "seqlen", "nheads", "v_heads", "key_dim", "value_dim"))
        gshape = (B, T, HV, K) if key == "kda" else (B, T, HV)
        sdt = tdtype(row.get("state_dtype", "float32"))
        for _ in range(copies):
            s = dict(q=rand((B, T, H, K), -1, 1, act, gen), k=rand((B, T, H, K), -1, 1, act, gen),
                     v=rand((B, T, HV, V), -1, 1, act, gen), g=rand(gshape, -1.0, -0.01, f32, gen),
                     beta=rand((B, T, HV), 0.05, 0.95, f32, gen))
            if decode:  # fla's decode reads and writes a dense (B, HV, K, V) state
                s["initial_state"] = rand((B, HV, K, V), -0.5, 0.5, sdt, gen)
            sets.append(s)
        return (lambda k: fn(**sets[k], scale=K ** -0.5, output_final_state=True,
                             use_qk_l2norm_in_kernel=True)), None
    return None, "no anchor kernel for this op"


def anchor_of(op):
    """The implementation each op is compared with."""
    if op in ("gated_delta_rule", "gated_delta_rule_update", "kda", "kda_update"):
        return "fla"
    return "causal-conv1d" if op.startswith("causal_conv1d") else "mamba_ssm"


def triton_autotuners():
    """The anchors' autotuned Triton kernels, by module.kernel name (loaded modules only)."""
    try:
        from triton.runtime.autotuner import Autotuner
    except ImportError:
        return {}
    found = {}
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith(("mamba_ssm.", "fla.")) or mod is None:
            continue
        for attr, obj in list(vars(mod).items()):
            for _ in range(3):  # @triton.heuristics may wrap the autotuner
                if isinstance(obj, Autotuner):
                    found[mod_name.rsplit(".", 1)[-1] + "." + attr] = obj
                    break
                obj = getattr(obj, "fn", None)
    return found


def tuned_call(call, copies, passes, graph, tunings):
    """[{median_s, host_enqueue_s, configs}] for one row, a tuning each: `tunings` rounds of
    clearing mamba_ssm's autotuner caches, warm-up (which tunes afresh) and timing, with the
    configurations each tuning picked. A row that autotunes nothing (a CUDA extension) is
    timed once."""
    rounds = []
    for _ in range(tunings):
        for t in triton_autotuners().values():
            t.cache.clear()
        timing = time_call(call, copies, passes, graph)
        picks = {name: str(cfg) for name, t in triton_autotuners().items() for cfg in t.cache.values()}
        rounds.append(dict(timing, configs=picks))
        if not picks:
            break
    return rounds


_sleep_cycles_per_s = None


def hold_stream(seconds):
    """Keeps the current stream busy for `seconds` (torch.cuda._sleep spins for a number of
    GPU clock cycles, calibrated once with CUDA events)."""
    import torch
    global _sleep_cycles_per_s
    if _sleep_cycles_per_s is None:
        cycles = 20_000_000
        torch.cuda._sleep(cycles // 100)
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.cuda._sleep(cycles)
        stop.record()
        stop.synchronize()
        _sleep_cycles_per_s = cycles / (start.elapsed_time(stop) * 1e-3)
    torch.cuda._sleep(int(seconds * _sleep_cycles_per_s))


def time_call(call, copies, passes, graph):
    """{median_s, host_enqueue_s, host_hidden}: the median seconds per call, CUDA events
    around one pass over the input sets (a CUDA graph replay when `graph`), after warm-up
    (Triton compiles and autotunes there). Like `ssmkit bench`'s launch gate, each pass is
    enqueued while the GPU sleeps, so the events time the GPU, not Python's launch overhead
    (which would otherwise count, and vary from run to run); the sleep doubles until it
    outlasts the enqueueing."""
    import time
    import torch
    for _ in range(3):
        for k in range(copies):
            call(k)
    torch.cuda.synchronize()
    replay = None
    if graph:
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for k in range(copies):  # capture needs a warm call on the side stream first
                call(k)
            torch.cuda.synchronize()
            with torch.cuda.graph(g, stream=s):
                for k in range(copies):
                    call(k)
        torch.cuda.current_stream().wait_stream(s)
        replay = g.replay
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    max_hold = 0.5  # a call that waits for the GPU itself cannot be hidden: time it as it is
    hold, samples, host_times, hidden = 2e-3, [], [], True
    while len(samples) < passes:
        hold_stream(hold)
        t0 = time.perf_counter()
        start.record()
        if replay:
            replay()
        else:
            for k in range(copies):
                call(k)
        stop.record()
        host = time.perf_counter() - t0
        stop.synchronize()
        if host > 0.5 * hold and hold < max_hold:
            hold *= 2  # the GPU may have reached `start` before the pass was enqueued: again
            continue
        hidden = hidden and host <= 0.5 * hold
        host_times.append(host)
        samples.append(start.elapsed_time(stop) * 1e-3 / copies)
    return {"median_s": statistics.median(samples), "host_enqueue_s": statistics.median(host_times),
            "host_hidden": hidden}


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    report_path = os.path.join(args.out, "ssmkit_bench.json")
    cmd = [args.ssmkit, "bench", "--backend", "cuda", "--json", report_path] + args.bench_args
    print("+ " + " ".join(cmd), flush=True)
    log_path = os.path.join(args.out, "ssmkit_bench.log")
    with open(log_path, "w") as log:  # straight to the file: a killed run still leaves it
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    ssmkit_output = open(log_path).read()
    if proc.returncode not in (0, 1) or not os.path.exists(report_path):
        print(ssmkit_output[-4000:])
        sys.exit(f"bench_vs_mamba_ssm: ssmkit bench exited {proc.returncode}")
    report = json.load(open(report_path))

    import torch
    mods, notes = import_anchors(args.mamba_ssm_src, args.fla_src, args.python_path)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    bw = report.get("copy_bandwidth_bytes_per_s", {}).get("cuda")
    results = []
    for row in report["rows"]:
        if row["backend"] != "cuda" or row["op"] in ("memory_copy", "lightning_attention"):
            continue
        # Rows ssmkit skipped (no kernel yet) still get mamba_ssm's time, for reference.
        entry = {"name": row["name"], "op": row["op"], "preset": row["preset"], "shape": row["shape"],
                 "dtype": row["dtype"] + (", state " + row["state_dtype"] if "state_dtype" in row else ""),
                 "timer": row.get("timer", "cuda graph replay" if row.get("graph") else "cuda events"),
                 "ssmkit_s": row.get("median_s"), "ssmkit_skip": row.get("skip"), "bytes": row.get("bytes"),
                 "ssmkit_check": row.get("check", {}).get("passed")}
        try:
            call, why = make_call(row, mods, notes, gen)
            if call is None:
                entry["anchor_note"] = why
            else:
                entry["anchor_tunings"] = tuned_call(call, row.get("copies", 1), args.passes,
                                                        row.get("graph", False), args.tunings)
                entry["anchor_s"] = min(r["median_s"] for r in entry["anchor_tunings"])
        except Exception as e:  # noqa: BLE001 - reported in the row
            entry["anchor_note"] = f"error: {type(e).__name__}: {e}"[:160]
        finally:
            torch.cuda.empty_cache()
        results.append(entry)

    retuned = args.tunings > 1
    lines = ["| op | preset | shape | dtype | timer | anchor | ssmkit us | anchor us | speedup (anchor / ssmkit) "
             "| ssmkit % BW | anchor % BW | ssmkit check |" + (" anchor us per tuning |" if retuned else ""),
             "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---|" + ("---|" if retuned else "")]
    for e in results:
        ours = e["ssmkit_s"]
        pct = (lambda t: f"{100 * e['bytes'] / t / bw:.0f}%" if bw and e["bytes"] else "-")
        ours_cell = f"{ours * 1e6:.2f}" if ours else "skip: " + str(e["ssmkit_skip"])[:60]
        if "anchor_s" in e:
            theirs = e["anchor_s"]
            shown = f"{theirs * 1e6:.2f}"
            if not all(r["host_hidden"] for r in e["anchor_tunings"]):
                shown += " (Python launch time included: the call waits for the GPU)"
            cells = [shown, f"{theirs / ours:.2f}x" if ours else "-",
                     pct(ours) if ours else "-", pct(theirs)]
        else:
            cells = [e["anchor_note"], "-", pct(ours) if ours else "-", "-"]
        check = {True: "ok", False: "FAIL", None: "not checked"}[e["ssmkit_check"]]
        tunings = ([" / ".join(f"{r['median_s'] * 1e6:.0f}" for r in e.get("anchor_tunings", [])) or "-"]
                   if retuned else [])
        lines.append("| " + " | ".join([e["op"], e["preset"], e["shape"], e["dtype"], e["timer"], anchor_of(e["op"]),
                                         ours_cell] + cells + [check] + tunings) + " |")
    header = [f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}; "
              f"copy bandwidth {bw / 1e9:.0f} GB/s" if bw else "copy bandwidth: not measured",
              "command: " + report.get("command", " ".join(cmd)),
              "both sides time the GPU alone: each pass is enqueued behind a launch gate (ssmkit) "
              "or a GPU sleep (mamba_ssm; its Python enqueue time per pass: vs_mamba_ssm.json)",
              f"mamba_ssm: the fastest of {args.tunings} autotunings per row (caches cleared between)"
              if retuned else "mamba_ssm: one autotuning per row (its picks: vs_mamba_ssm.json)", ""]
    table = "\n".join(header + lines)
    with open(os.path.join(args.out, "vs_mamba_ssm.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "vs_mamba_ssm.json"), "w") as f:
        json.dump({"notes": notes, "rows": results}, f, indent=2)
    print(ssmkit_output[-6000:])
    print(table)


if __name__ == "__main__":
    main()
