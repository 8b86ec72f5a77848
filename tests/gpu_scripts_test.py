"""Bad input to the GPU-machine scripts is a clear error (exit 2, the option and the path named)
before anything runs, on any machine: these checks need neither PyTorch nor a GPU."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")


def run(script, *args):
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *args],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def has_torch_with_cuda():
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


class BenchVsMambaSsm(unittest.TestCase):
    def test_missing_binary_names_the_option_and_path(self):
        rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", "/no/such/ssmkit", "--", "--op", "x")
        self.assertEqual(rc, 2, err)
        self.assertIn("--ssmkit: /no/such/ssmkit is not an executable file", err)
        self.assertNotIn("Traceback", err)

    def test_source_without_the_package_names_the_option(self):
        with tempfile.TemporaryDirectory() as empty:
            rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", sys.executable, "--mamba-ssm-src", empty)
        self.assertEqual(rc, 2, err)
        self.assertIn(f"--mamba-ssm-src: {empty} holds no mamba_ssm/ package directory", err)

    def test_fla_source_without_the_package_names_the_option(self):
        with tempfile.TemporaryDirectory() as empty:
            rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", sys.executable, "--fla-src", empty)
        self.assertEqual(rc, 2, err)
        self.assertIn(f"--fla-src: {empty} holds no fla/ops/ directory", err)

    def test_missing_python_path_and_bad_counts(self):
        rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", sys.executable, "--python-path", "/no/such/dir")
        self.assertEqual(rc, 2, err)
        self.assertIn("--python-path: /no/such/dir is not a directory", err)
        rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", sys.executable, "--passes", "0")
        self.assertEqual(rc, 2, err)
        self.assertIn("--passes: 0 (expected at least 1)", err)
        rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", sys.executable, "--tunings", "0")
        self.assertEqual(rc, 2, err)
        self.assertIn("--tunings: 0 (expected at least 1)", err)

    @unittest.skipIf(has_torch_with_cuda(), "PyTorch with a CUDA device is present here")
    def test_no_torch_or_gpu_is_reported_before_the_bench_runs(self):
        rc, err = run("bench_vs_mamba_ssm.py", "--ssmkit", sys.executable)
        self.assertEqual(rc, 2, err)
        self.assertRegex(err, r"needs (PyTorch with a CUDA device|a CUDA device)")


class BuildMambaExtensions(unittest.TestCase):
    def test_no_source_option(self):
        rc, err = run("build_mamba_extensions.py", "--out", "/tmp/unused")
        self.assertEqual(rc, 2, err)
        self.assertIn("give --mamba-ssm-src, --causal-conv1d-src or both", err)

    def test_paths_without_the_cuda_sources_name_the_missing_files(self):
        with tempfile.TemporaryDirectory() as empty:
            rc, err = run("build_mamba_extensions.py", "--mamba-ssm-src", empty, "--out", empty)
            self.assertEqual(rc, 2, err)
            self.assertIn("selective_scan_cuda: selective_scan.cpp", err)
            self.assertIn(os.path.join(empty, "csrc", "selective_scan"), err)
            rc, err = run("build_mamba_extensions.py", "--causal-conv1d-src", empty, "--out", empty)
            self.assertEqual(rc, 2, err)
            self.assertIn("causal_conv1d_cuda: causal_conv1d.cpp", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
