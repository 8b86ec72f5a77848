"""scripts/perf_table.py: the Markdown tables of docs/performance.md from `ssmkit bench --json`.

The fixtures under tests/data/perf_table/ are small hand-written bench files (h100/ with the
vs_mamba_ssm.json that scripts/bench_vs_mamba_ssm.py leaves beside it, h200/ without). Every
expected cell below is worked out by hand from the fixture's numbers, in the comments."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "perf_table.py")
DATA = os.path.join(HERE, "data", "perf_table")
H100 = os.path.join(DATA, "h100", "ssmkit_bench.json")
H200 = os.path.join(DATA, "h200", "ssmkit_bench.json")


def run(*args):
    proc = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def section(out, device):
    """The lines of one device's table, from its heading to the next heading."""
    start = out.index(f"### {device}\n")
    end = out.find("\n### ", start + 1)
    return out[start:end if end >= 0 else len(out)]


class Tables(unittest.TestCase):
    def setUp(self):
        rc, self.out, err = run(H100, H200)
        self.assertEqual(rc, 0, err)

    def test_one_table_per_device_named_in_backends(self):
        # Device = the backend entry's text inside the parentheses, up to the first comma.
        headings = [l for l in self.out.splitlines() if l.startswith("### ")]
        self.assertEqual(headings, ["### NVIDIA H100 80GB HBM3", "### CPU float64 reference", "### NVIDIA H200"])

    def test_h100_rows_with_anchor_ratios(self):
        h100 = section(self.out, "NVIDIA H100 80GB HBM3")
        self.assertIn("| op | preset | shape | dtype | state dtype | timer | median us | GB/s | % copy BW "
                      "| vs anchor |", h100)
        # Stream launches: 1.0e-5 s = 10.00 us; 24e6 B / 1e-5 s = 2400 GB/s; fraction 0.8 = 80%;
        # anchor 1.2e-5 s / 1.0e-5 s = 1.20x.
        self.assertIn("| selective_state_update | mamba-2.8b | B=64 D=5120 N=16 | bfloat16 | float32 | "
                      "cuda events | 10.00 | 2400 | 80% | 1.20x |", h100)
        # Graph replay: 8.0e-6 s = 8.00 us; 24e6 / 8e-6 = 3000 GB/s; 1.0 = 100%; 6e-6 / 8e-6 = 0.75x.
        self.assertIn("| selective_state_update | mamba-2.8b | B=64 D=5120 N=16 | bfloat16 | float32 | "
                      "cuda graph replay | 8.00 | 3000 | 100% | 0.75x |", h100)
        # The copy row: 715 us; 2^31 B / 715e-6 s = 3003.5 GB/s -> 3003; no anchor; dtype shown as -.
        self.assertIn("| memory_copy | - | 1024 MiB | - | - | cuda events | 715.00 | 3003 | 100% | - |", h100)
        # A skipped row says why, in place of its numbers.
        self.assertIn("| causal_conv1d | mamba-2.8b | B=64 D=5120 L=1048576 W=4 | bfloat16 | - | "
                      "skip: cuda: out of device memory for this case's inputs | - | - | - | - |", h100)
        self.assertIn("- command: `ssmkit bench --backend all --preset mamba-2.8b --op selective_state_update "
                      "--decode-batch 64`", h100)
        # 3.0e12 B/s = 3000 GB/s.
        self.assertIn("- copy bandwidth (the run's reference copy, read + write): 3000 GB/s", h100)

    def test_no_anchor_column_without_a_vs_mamba_ssm_file(self):
        h200 = section(self.out, "NVIDIA H200")
        self.assertNotIn("vs anchor", h200)
        # 1.5e-5 s = 15.00 us; 24e6 / 1.5e-5 = 1600 GB/s; 0.4 = 40%. The H100 anchor of the same
        # row name must not be applied to the H200's row.
        self.assertIn("| selective_state_update | mamba-2.8b | B=64 D=5120 N=16 | bfloat16 | float32 | "
                      "cuda events | 15.00 | 1600 | 40% |", h200)
        cpu = section(self.out, "CPU float64 reference")
        # 4e-3 s = 4000.00 us; 24e6 / 4e-3 = 6 GB/s, below 10 so with two decimals; 0.75 = 75%.
        self.assertIn("| steady clock | 4000.00 | 6.00 | 75% |", cpu)

    def test_the_file_given_last_wins_and_a_failed_check_is_marked(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(H200) as f:
                report = json.load(f)
            row = report["rows"][0]
            row["median_s"], row["p10_s"], row["p90_s"] = 2.0e-5, 1.9e-5, 2.1e-5
            row["check"] = {"passed": False, "message": "out of tolerance"}
            later = os.path.join(tmp, "later.json")
            with open(later, "w") as f:
                json.dump(report, f)
            rc, out, err = run(H200, later)
        self.assertEqual(rc, 0, err)
        # 2.0e-5 s = 20.00 us; 24e6 / 2e-5 = 1200 GB/s; the fraction is the file's, 0.4 = 40%.
        self.assertIn("| cuda events | 20.00 (check FAILED) | 1200 | 40% |", out)
        self.assertNotIn("| 15.00 |", out)


class BadInput(unittest.TestCase):
    def check(self, content, *expected):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bench.json")
            with open(path, "w") as f:
                f.write(content)
            rc, out, err = run(path)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertIn(path, err)
        for text in expected:
            self.assertIn(text, err)
        self.assertNotIn("Traceback", err)

    def test_missing_file(self):
        rc, out, err = run("/no/such/bench.json")
        self.assertEqual(rc, 2, err)
        self.assertIn("perf_table: /no/such/bench.json: cannot be read", err)
        self.assertNotIn("Traceback", err)

    def test_not_json(self):
        self.check("this is not JSON\n", "not JSON")

    def test_json_that_is_not_bench_output(self):
        self.check('{"notes": [], "rows": []}', "not `ssmkit bench --json` output: field 'backends' is missing")
        self.check('{"backends": ["cuda (X)"]}', "field 'rows' is missing")
        self.check('[1, 2]', "field 'rows' is missing")

    def test_bad_rows_name_the_row_and_field(self):
        head = '{"command": "c", "backends": ["cuda (NVIDIA H100, sm_90)"], "rows": ['
        row = '{"name": "n", "backend": "cuda", "op": "o", "preset": "p", "shape": "s", "dtype": "bfloat16"'
        self.check(head + row + ', "timer": "cuda events", "bytes": 1}]}', "rows[0]: field 'median_s' is missing")
        self.check(head + row + ', "timer": "cuda events", "bytes": 1, "median_s": 0}]}',
                   "rows[0]: field 'median_s' must be positive")
        self.check(head + row.replace('"cuda"', '"cpu"') + '}]}', "rows[0]: backend 'cpu' is not among")
        self.check(head.replace("cuda (NVIDIA H100, sm_90)", "cuda") + row + "}]}", "field 'backends' has 'cuda'")

    def test_bad_anchor_file_beside_the_bench_file_names_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(H100) as src, open(os.path.join(tmp, "ssmkit_bench.json"), "w") as dst:
                dst.write(src.read())
            anchor = os.path.join(tmp, "vs_mamba_ssm.json")
            for content, expected in [('{"rows": [{"anchor_s": 1e-5}]}', "rows[0]: field 'name' is missing"),
                                      ('{"rows": [{"name": "n", "anchor_s": "fast"}]}',
                                       "rows[0]: field 'anchor_s' is not a number"),
                                      ('{"notes": []}', "field 'rows' is missing")]:
                with open(anchor, "w") as f:
                    f.write(content)
                rc, out, err = run(os.path.join(tmp, "ssmkit_bench.json"))
                self.assertEqual(rc, 2, err)
                self.assertIn(anchor, err)
                self.assertIn(expected, err)


if __name__ == "__main__":
    unittest.main()
