"""Bring your own kernel, end to end with Debian's python3-h5py: `ssmkit golden make`, a
kernel written here in numpy reading the golden through python/ssmkit_golden.py, its outputs
written as a candidate, and `ssmkit validate --candidate` judging them with the roles the
right way round (got = the candidate, expected = the reference).

    python3 tests/byok_python_test.py path/to/ssmkit
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "python"))
import ssmkit_golden as sg  # noqa: E402

SSMKIT = None


def ssmkit(*args):
    proc = subprocess.run([SSMKIT, *args], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def causal_conv1d(x, weight, bias=None, initial_states=None, activation="none", taps=None):
    """causal-conv1d's causal_conv1d_fn written out: out[b,d,t] = bias[d] + sum_k
    weight[d,k] * x[b,d,t-W+1+k], the W-1 inputs before t=0 from initial_states (else 0).
    `taps` < W drops the oldest taps: the deliberate bug."""
    B, D, L = x.shape
    W = weight.shape[1]
    past = initial_states if initial_states is not None else np.zeros((B, D, W - 1))
    xp = np.concatenate([past, x], axis=2)
    out = np.zeros((B, D, L))
    for k in range(W - (taps or W), W):
        out += weight[None, :, k, None] * xp[:, :, k:k + L]
    if bias is not None:
        out += bias[None, :, None]
    if activation in ("silu", "swish", 1):
        out = out / (1.0 + np.exp(-out))
    return {"out": out, "final_states": xp[:, :, -(W - 1):], "conv_state": xp[:, :, -W:]}


class BringYourOwnKernel(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.golden = os.path.join(self.dir.name, "conv.h5")
        rc, out = ssmkit(
            "golden", "make", "--op", "causal_conv1d", "--model", "mamba-130m", "--batch", "2",
            "--seqlen", "9", "--dim", "dim=5", "--dtype", "bfloat16", "--seed", "3",
            "--initial-states", "-o", self.golden)
        self.assertEqual(rc, 0, out)

    def tearDown(self):
        self.dir.cleanup()

    def validate(self, candidate, *goldens):
        report = os.path.join(self.dir.name, "report.json")
        rc, out = ssmkit("validate", "--json", report, "--candidate", candidate, *goldens)
        with open(report) as f:
            return rc, out, json.load(f)

    def test_golden_reads_as_the_ops_arguments(self):
        g = sg.read_golden(self.golden)
        self.assertEqual(g.op, "causal_conv1d")
        self.assertEqual(sorted(g.inputs), ["bias", "initial_states", "weight", "x"])
        self.assertEqual(g.inputs["x"].shape, (2, 5, 9))
        self.assertEqual(g.flags["activation"], "silu")
        self.assertEqual(g.attrs["reference"], "ssmkit golden make (CPU float64 reference)")
        self.assertEqual(g.input_dtype, "bfloat16")

    def test_a_correct_kernel_passes(self):
        g = sg.read_golden(self.golden)
        cand = os.path.join(self.dir.name, "mine.h5")
        sg.write_candidate(cand, causal_conv1d(**g.inputs, activation=g.flags["activation"]),
                           golden=self.golden, implementation="numpy_conv")
        rc, out, doc = self.validate(cand, self.golden)
        self.assertEqual(rc, 0, out)
        case = doc["cases"][0]
        self.assertEqual(case["backend"], "numpy_conv")
        self.assertEqual(sorted(o["name"] for o in case["outputs"]), ["conv_state", "final_states", "out"])

    def test_the_reference_outputs_themselves_pass(self):
        g = sg.read_golden(self.golden)
        cand = os.path.join(self.dir.name, "conv.h5.cand")
        sg.write_candidate(cand, g.outputs, golden="conv.h5")
        rc, out, doc = self.validate(cand, self.golden)
        self.assertEqual(rc, 0, out)
        self.assertEqual(doc["cases"][0]["status"], "PASS")

    def test_a_wrong_kernel_fails_with_got_the_candidate(self):
        g = sg.read_golden(self.golden)
        wrong = causal_conv1d(**g.inputs, activation=g.flags["activation"], taps=3)  # W-1 taps
        cand = os.path.join(self.dir.name, "wrong.h5")
        sg.write_candidate(cand, wrong, golden=self.golden)
        rc, out, doc = self.validate(cand, self.golden)
        self.assertEqual(rc, 1, out)
        case = doc["cases"][0]
        self.assertEqual(case["status"], "FAIL")
        self.assertEqual(case["backend"], "wrong")
        bad = next(o for o in case["outputs"] if o["name"] == "out")
        self.assertFalse(bad["passed"])
        idx = tuple(int(i) for i in bad["worst_index"].strip("[]").split(","))
        self.assertEqual(bad["worst_actual"], wrong["out"][idx])
        self.assertEqual(bad["worst_expected"], g.outputs["out"][idx])
        self.assertTrue(all(o["passed"] for o in case["outputs"] if o["name"] != "out"))

    def test_a_golden_without_outputs_is_completed_by_the_reference(self):
        g = sg.read_golden(self.golden)
        bare = os.path.join(self.dir.name, "bare.h5")
        with h5py.File(bare, "w") as f:
            for k, v in g.attrs.items():
                f.attrs[k] = v
            for k, v in g.inputs.items():
                f[f"inputs/{k}"] = v
        good = os.path.join(self.dir.name, "good.h5")
        sg.write_candidate(good, causal_conv1d(**g.inputs, activation="silu"), golden=bare)
        rc, out, doc = self.validate(good, bare)
        self.assertEqual(rc, 0, out)
        rc, out = ssmkit("validate", bare)  # plain validate has nothing to compare
        self.assertEqual(rc, 2, out)
        self.assertIn("holds no expected outputs", out)

    def test_bad_files_are_clear_errors(self):
        with self.assertRaisesRegex(sg.GoldenError, "cannot be opened"):
            sg.read_golden(os.path.join(self.dir.name, "missing.h5"))
        path = os.path.join(self.dir.name, "noop.h5")
        with h5py.File(path, "w") as f:
            f["inputs/x"] = np.zeros(3)
        with self.assertRaisesRegex(sg.GoldenError, "attribute 'op'"):
            sg.read_golden(path)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: byok_python_test.py path/to/ssmkit", file=sys.stderr)
        sys.exit(2)
    SSMKIT = sys.argv.pop(1)
    unittest.main(verbosity=2)
