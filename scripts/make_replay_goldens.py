#!/usr/bin/env python3
"""Cache-replay goldens from HF transformers' Mamba and Mamba2 mixers (third-party reference).

Runs a tiny random Mamba / Mamba2 model from HF transformers in float64 on the CPU, with
its own cache: a prefill of L tokens, then k single-token decode steps. A forward hook on
the mixer's in_proj records what the mixer projected at each step; after each step the
conv window and SSM state are read from HF's cache. The golden holds the mixer's weights
that act after in_proj, the projected inputs of every step, and the states after every
step. `ssmkit validate` replays those inputs through ssmkit's state caches and any
backend's ops and compares the states (format: golden/README.md).

Needs torch and transformers (the GPU machine has both; no GPU is used):
    python3 scripts/make_replay_goldens.py [--out golden/cache_replay]
"""
import argparse
import os

import h5py
import numpy as np
import torch
import transformers
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM


def first_tensor(obj):
    """HF keeps per-layer states as a tensor, a list or a dict of them."""
    if torch.is_tensor(obj):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.values())
    for item in obj:
        if torch.is_tensor(item):
            return item
    raise RuntimeError(f"no state tensor in {type(obj)}")


def layer_states(cache):
    layer = cache.layers[0]
    return (first_tensor(layer.conv_states).detach().clone().numpy(),
            first_tensor(layer.recurrent_states).detach().clone().numpy())


def replay(model, mixer, batch, prefill_len, steps, seed):
    g = torch.Generator().manual_seed(seed)
    projected = []
    hook = mixer.in_proj.register_forward_hook(
        lambda _m, _i, out: projected.append(out.detach().clone().numpy()))
    ids = torch.randint(0, model.config.vocab_size, (batch, prefill_len), generator=g)
    with torch.no_grad():
        out = model(ids, use_cache=True)
        cache = out.cache_params
        conv, ssm = [], []
        c, s = layer_states(cache)
        conv.append(c)
        ssm.append(s)
        for _ in range(steps):
            ids = torch.randint(0, model.config.vocab_size, (batch, 1), generator=g)
            out = model(ids, cache_params=cache, use_cache=True)
            cache = out.cache_params
            c, s = layer_states(cache)
            conv.append(c)
            ssm.append(s)
    hook.remove()
    return projected, np.stack(conv), np.stack(ssm)


def write(path, attrs, inputs, outputs):
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        for k, v in inputs.items():
            f.create_dataset("inputs/" + k, data=np.asarray(v, dtype=np.float64))
        for k, v in outputs.items():
            f.create_dataset("outputs/" + k, data=np.asarray(v, dtype=np.float64))


def reference_text(model_name):
    return (f"HF transformers {transformers.__version__} {model_name} with its DynamicCache, "
            f"torch {torch.__version__} float64 CPU, scripts/make_replay_goldens.py")


def mamba2_case(path, batch, prefill_len, steps, seed):
    torch.manual_seed(seed)
    cfg = Mamba2Config(vocab_size=64, hidden_size=64, num_heads=8, head_dim=16, expand=2,
                       state_size=16, n_groups=2, conv_kernel=4, chunk_size=8,
                       num_hidden_layers=1)
    model = Mamba2ForCausalLM(cfg).double().eval()
    mixer = model.backbone.layers[0].mixer
    projected, conv, ssm = replay(model, mixer, batch, prefill_len, steps, seed)
    I, G, N, H = cfg.num_heads * cfg.head_dim, cfg.n_groups, cfg.state_size, cfg.num_heads
    conv_dim = I + 2 * G * N
    proj = projected[0].shape[-1]
    d_mlp = (proj - 2 * I - 2 * G * N - H) // 2
    xbc = lambda p: p[..., 2 * d_mlp + I: 2 * d_mlp + I + conv_dim]
    dt = lambda p: p[..., -H:]
    decode = projected[1:]
    write(path,
          {"op": "mamba2_cache_replay", "reference": reference_text("Mamba2Mixer"),
           "num_heads": np.int64(H), "head_dim": np.int64(cfg.head_dim), "n_groups": np.int64(G),
           "state_size": np.int64(N), "chunk_size": np.int64(cfg.chunk_size),
           "time_step_limit": np.array(mixer.time_step_limit, dtype=np.float64)},
          {"conv_weight": mixer.conv1d.weight.detach()[:, 0, :].numpy(),
           "conv_bias": mixer.conv1d.bias.detach().numpy(),
           "A_log": mixer.A_log.detach().numpy(), "dt_bias": mixer.dt_bias.detach().numpy(),
           "xBC_prefill": xbc(projected[0]), "dt_prefill": dt(projected[0]),
           "xBC_decode": np.stack([xbc(p)[:, 0] for p in decode]) if decode else np.zeros((0, batch, conv_dim)),
           "dt_decode": np.stack([dt(p)[:, 0] for p in decode]) if decode else np.zeros((0, batch, H))},
          {"conv_state": conv, "ssm_state": ssm})


def mamba_case(path, batch, prefill_len, steps, seed):
    torch.manual_seed(seed)
    cfg = MambaConfig(vocab_size=64, hidden_size=32, state_size=8, expand=2, conv_kernel=4,
                      num_hidden_layers=1)
    model = MambaForCausalLM(cfg).double().eval()
    mixer = model.backbone.layers[0].mixer
    projected, conv, ssm = replay(model, mixer, batch, prefill_len, steps, seed)
    I = cfg.intermediate_size
    hidden = lambda p: p[..., :I]  # in_proj gives [hidden_states, gate]
    decode = projected[1:]
    write(path,
          {"op": "mamba_cache_replay", "reference": reference_text("MambaMixer")},
          {"conv_weight": mixer.conv1d.weight.detach()[:, 0, :].numpy(),
           "conv_bias": mixer.conv1d.bias.detach().numpy(),
           "A_log": mixer.A_log.detach().numpy(),
           "x_proj_weight": mixer.x_proj.weight.detach().numpy(),
           "dt_proj_weight": mixer.dt_proj.weight.detach().numpy(),
           "dt_proj_bias": mixer.dt_proj.bias.detach().numpy(),
           "x_prefill": hidden(projected[0]),
           "x_decode": np.stack([hidden(p)[:, 0] for p in decode])},
          {"conv_state": conv, "ssm_state": ssm})


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "golden",
                                                   "cache_replay"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    mamba2_case(os.path.join(args.out, "mamba2_prefill13_decode4.h5"), 2, 13, 4, 1)
    mamba2_case(os.path.join(args.out, "mamba2_prefill2_decode3.h5"), 1, 2, 3, 2)
    mamba_case(os.path.join(args.out, "mamba_prefill9_decode4.h5"), 2, 9, 4, 3)
    mamba_case(os.path.join(args.out, "mamba_prefill1_decode3.h5"), 1, 1, 3, 4)
    for name in sorted(os.listdir(args.out)):
        with h5py.File(os.path.join(args.out, name)) as f:
            print(name, {k: v.shape for k, v in f["outputs"].items()},
                  "|ssm| max", float(np.abs(f["outputs/ssm_state"][()]).max()))


if __name__ == "__main__":
    main()
