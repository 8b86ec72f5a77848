"""Golden files and candidate files of ssmkit, from Python (numpy and h5py only).

Check your own kernel against a golden (docs/bring-your-own-kernel.md):

    import ssmkit_golden as sg
    g = sg.read_golden("golden/selective_scan/basic.h5")
    out, last_state = my_selective_scan(**g.inputs, delta_softplus=bool(g.flags["delta_softplus"]))
    sg.write_candidate("cand/basic.h5", {"out": out, "last_state": last_state},
                       golden=g.path, implementation="my_scan")
    # then: ssmkit validate --candidate cand/basic.h5 golden/selective_scan/basic.h5

The golden format is docs/golden-format.md: root attribute `op`, the op's flags as root
attributes, `inputs/` datasets named as the op's arguments (an argument that was None is
absent), `outputs/` the expected results. A candidate file holds only `outputs/`, named as
the golden's, plus the root attributes `golden` (the golden's file name) and
`implementation` (the name shown in the report's backend column).
"""
import os

import h5py
import numpy as np

# Root attributes every golden may carry besides the op's flags.
COMMON_ATTRIBUTES = ("op", "input_dtype", "atol", "rtol", "reference")


class GoldenError(ValueError):
    """A golden or candidate file that cannot be used; the message names file and field."""


class Golden:
    """One golden: `op`, `inputs` (argument name -> numpy array: floats as stored, float32 or
    float64, holding values exact in `input_dtype`; indices as int64), `flags` (root
    attributes other than the common ones: the op's flags and any free metadata),
    `outputs` (expected results, float64; empty for a golden made without them),
    `input_dtype`, `attrs` (every root attribute) and `path`."""

    def __init__(self, path, op, attrs, inputs, outputs):
        self.path, self.op, self.attrs, self.inputs, self.outputs = path, op, attrs, inputs, outputs
        self.input_dtype = attrs.get("input_dtype", "float32")
        self.flags = {k: v for k, v in attrs.items() if k not in COMMON_ATTRIBUTES}

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.inputs.items())
        return f"Golden({self.op}: {shapes})"


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(()).item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _group(f, path, name, required):
    if name not in f:
        if required:
            raise GoldenError(f"{path}: group '{name}': group is missing")
        return {}
    out = {}
    for key, ds in f[name].items():
        if not isinstance(ds, h5py.Dataset):
            raise GoldenError(f"{path}: {name}/{key}: expected a dataset, found a group")
        a = ds[()]
        out[key] = a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a
    return out


def read_golden(path):
    """The golden at `path` (GoldenError naming the file and the field on bad input)."""
    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise GoldenError(f"{path}: cannot be opened as HDF5: {e}") from None
    with f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        if not isinstance(attrs.get("op"), str):
            raise GoldenError(f"{path}: attribute 'op': missing root attribute naming the operation")
        return Golden(path, attrs["op"], attrs, _group(f, path, "inputs", True),
                      _group(f, path, "outputs", False))


def as_numpy(value):
    """A numpy float64 array from numpy data or anything with .detach()/.cpu()/.numpy()
    (a PyTorch tensor, on any device and in any dtype: bf16 is widened first)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if hasattr(value, "double"):
            value = value.double()
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def write_candidate(path, outputs, golden=None, implementation=None):
    """Writes `outputs` (name -> array or tensor) as a candidate file for `ssmkit validate
    --candidate`. `golden`: the golden's path or file name (its file name is recorded; without
    it the candidate's own file name must equal the golden's). `implementation`: the name the
    report shows (default: the candidate's file stem)."""
    if not outputs:
        raise GoldenError(f"{path}: no outputs given")
    with h5py.File(os.fspath(path), "w") as f:
        if golden is not None:
            f.attrs["golden"] = os.path.basename(os.fspath(golden))
        if implementation is not None:
            f.attrs["implementation"] = str(implementation)
        for name, value in outputs.items():
            f[f"outputs/{name}"] = as_numpy(value)
