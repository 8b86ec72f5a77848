#!/usr/bin/env python3
"""Builds the compiled kernels behind mamba_ssm's `selective_scan_fn` (`selective_scan_cuda`)
and causal-conv1d (`causal_conv1d_cuda`) from source checkouts, so
scripts/bench_vs_mamba_ssm.py can time them on a GPU machine that has PyTorch and nvcc but
no package registry.

mamba_ssm's setup.py compiles the forward and backward scan kernels for every dtype; the
backward ones take most of that time and the side-by-side never calls them. This compiles
the checkout's selective_scan.cpp and its three forward .cu files unchanged (flags as in its
setup.py, sm_90 only), plus one small translation unit written here that defines the
backward entry points as errors; the same for causal-conv1d (its forward and update .cu).
The modules land in --out; nothing of either project is copied into this repository.

    python3 scripts/build_mamba_extensions.py --mamba-ssm-src MAMBA --causal-conv1d-src CONV --out EXT
    python3 scripts/bench_vs_mamba_ssm.py --mamba-ssm-src MAMBA --python-path EXT/selective_scan_cuda \\
        --python-path EXT/causal_conv1d_cuda --python-path CONV ...
"""
import argparse
import os
import sys

TYPES = {"float": "float", "half": "at::Half", "bf16": "at::BFloat16", "complex": "complex_t"}


def backward_stub(headers, functions, params_type, type_pairs):
    """A translation unit of ours defining the backward entry points that a binding refers
    to, as functions that refuse to run: the side-by-side only calls the forward kernels."""
    lines = ["#include <stdexcept>", "#include <c10/util/BFloat16.h>", "#include <c10/util/Half.h>"]
    lines += [f'#include "{h}"' for h in headers]
    for fn in functions:
        lines += ["template <typename input_t, typename weight_t>",
                  f"void {fn}({params_type}&, cudaStream_t) {{",
                  f'  throw std::runtime_error("{fn}: built forward-only by ssmkit\'s build_mamba_extensions.py");',
                  "}"]
        lines += [f"template void {fn}<{TYPES[i]}, {TYPES[w]}>({params_type}&, cudaStream_t);"
                  for i, w in type_pairs]
    return "\n".join(lines) + "\n"


NVCC_FLAGS = ["-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
              "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "-lineinfo"]


def fail(message):
    print(f"build_mamba_extensions: {message}", file=sys.stderr)
    sys.exit(2)


def build(load, name, csrc, sources, stub, out):
    out = os.path.join(out, name)
    os.makedirs(out, exist_ok=True)
    stub_path = os.path.join(out, f"{name}_bwd_stub.cu")
    with open(stub_path, "w") as f:
        f.write(stub)
    load(name=name, sources=sources + [stub_path], extra_include_paths=[csrc], extra_cflags=["-O3", "-std=c++17"],
         extra_cuda_cflags=NVCC_FLAGS, build_directory=out, verbose=True)
    print(f"build_mamba_extensions: {name} built in {out}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mamba-ssm-src", help="mamba_ssm source checkout (holds csrc/selective_scan)")
    ap.add_argument("--causal-conv1d-src", help="causal-conv1d source checkout (holds csrc/)")
    ap.add_argument("--out", required=True, help="build directory; the modules land in a folder each under it")
    ap.add_argument("--arch", default="9.0", help="TORCH_CUDA_ARCH_LIST value (default 9.0: Hopper)")
    args = ap.parse_args()
    if not args.mamba_ssm_src and not args.causal_conv1d_src:
        fail("give --mamba-ssm-src, --causal-conv1d-src or both")
    inputs = ("float", "half", "bf16")
    jobs = []  # (module, csrc, sources, stub): every source is checked before anything builds
    if args.mamba_ssm_src:
        csrc = os.path.join(os.path.abspath(args.mamba_ssm_src), "csrc", "selective_scan")
        jobs.append(("selective_scan_cuda", csrc,
                     ["selective_scan.cpp", "selective_scan_fwd_fp32.cu", "selective_scan_fwd_fp16.cu",
                      "selective_scan_fwd_bf16.cu"],
                     backward_stub(["selective_scan.h", "selective_scan_common.h"], ["selective_scan_bwd_cuda"],
                                   "SSMParamsBwd", [(i, w) for i in inputs for w in ("float", "complex")])))
    if args.causal_conv1d_src:
        csrc = os.path.join(os.path.abspath(args.causal_conv1d_src), "csrc")
        jobs.append(("causal_conv1d_cuda", csrc,
                     ["causal_conv1d.cpp", "causal_conv1d_fwd.cu", "causal_conv1d_update.cu"],
                     backward_stub(["causal_conv1d.h"], ["causal_conv1d_bwd_cuda", "causal_conv1d_channellast_bwd_cuda"],
                                   "ConvParamsBwd", [(i, w) for i in inputs for w in inputs])))
    for module, csrc, files, _ in jobs:
        missing = [f for f in files if not os.path.isfile(os.path.join(csrc, f))]
        if missing:
            fail(f"{module}: {', '.join(missing)} not found in {csrc} (the option must name a source checkout)")
    try:
        from torch.utils.cpp_extension import load
    except ImportError as e:
        fail(f"needs PyTorch with its C++ extension tools (the GPU machine's python3): {e}")
    os.environ["TORCH_CUDA_ARCH_LIST"] = args.arch
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
    for module, csrc, files, stub in jobs:
        build(load, module, csrc, [os.path.join(csrc, f) for f in files], stub, os.path.abspath(args.out))


if __name__ == "__main__":
    main()
