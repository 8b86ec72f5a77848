"""scripts/bench_callable.py rejects bad input (exit 2, the option and value named) before it
imports PyTorch or runs anything: these checks need neither PyTorch nor a GPU."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "bench_callable.py")
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "selective_scan", "basic.h5")


def run(*args):
    proc = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


class BenchCallable(unittest.TestCase):
    def check(self, args, message):
        rc, err = run(*args)
        self.assertEqual(rc, 2, err)
        self.assertIn(message, err)
        self.assertNotIn("Traceback", err)

    def test_callable_must_be_module_colon_function(self):
        self.check(["--callable", "mamba_ssm", GOLDEN], "--callable: 'mamba_ssm' (expected module:function")

    def test_unknown_adapter(self):
        self.check(["--callable", "m:f", "--adapter", "triton", GOLDEN], "--adapter: 'triton' (expected one of kwargs")

    def test_counts_and_paths(self):
        self.check(["--callable", "m:f", "--passes", "0", GOLDEN], "--passes: 0 (expected at least 1)")
        self.check(["--callable", "m:f", "--copies", "0", GOLDEN], "--copies: 0 (expected at least 1)")
        self.check(["--callable", "m:f", "--python-path", "/no/such/dir", GOLDEN],
                   "--python-path: /no/such/dir is not a directory")
        self.check(["--callable", "m:f", "/no/such/golden.h5"], "golden /no/such/golden.h5: no such file")
        with tempfile.TemporaryDirectory() as empty:
            self.check(["--callable", "m:f", "--python-path", empty, "--skip-init", "fla", GOLDEN],
                       "--skip-init: fla is in none of the --python-path directories")
        self.check(["--callable", "m:f"], "give golden files, or --make")
        self.check(["--callable", "m:f", "--make", "--op causal_conv1d", "--ssmkit", "/no/ssmkit"],
                   "--ssmkit: /no/ssmkit is not an executable file")
        with tempfile.NamedTemporaryFile() as f:
            self.check(["--callable", "m:f", "--candidates", f.name, GOLDEN], "is not a directory")


if __name__ == "__main__":
    unittest.main(verbosity=2)
