#!/usr/bin/env python3
"""Markdown tables, one per device, from `ssmkit bench --json` files.

    python3 scripts/perf_table.py [--anchor VS_MAMBA_SSM.json ...] BENCH.json [BENCH.json ...]

Each row of each file becomes one table row under the device its backend ran on (the name
inside `backends`, e.g. "cuda (NVIDIA H100 80GB HBM3, sm_90, ...)" -> "NVIDIA H100 80GB HBM3").
A row measured in several files is shown once, from the file given last. Columns:

  op, preset, shape, dtype, state dtype, timer   what was timed (as `ssmkit bench` names it)
  median us     median time per call over the timed passes, microseconds
  GB/s          the op's bytes floor (`bytes`) over the median
  % copy BW     that rate over the run's 1 GiB device copy (`fraction_of_copy_bandwidth`)
  vs anchor     anchor time / ssmkit time (> 1: ssmkit faster), only with --anchor files:
                the vs_mamba_ssm.json that scripts/bench_vs_mamba_ssm.py writes, matched by
                row name

Standard library only. Exit status 0; 2 when a file cannot be read or is not what it should
be (the file and the field named).
"""
import argparse
import json
import sys


class InputError(Exception):
    pass


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON ({e})")


def field(obj, key, kind, where):
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: field '{key}' is missing")
    value = obj[key]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise InputError(f"{where}: field '{key}' is not a {kind.__name__}")
    return value


def device_names(report, path):
    """backend name -> device, from entries like 'cuda (NVIDIA H200, sm_90, driver CUDA 12.8)'."""
    where = f"{path}: not `ssmkit bench --json` output"
    devices = {}
    for entry in field(report, "backends", list, where):
        if not isinstance(entry, str) or " (" not in entry or not entry.endswith(")"):
            raise InputError(f"{where}: field 'backends' has {entry!r}; expected 'NAME (DEVICE)'")
        name, description = entry.split(" (", 1)
        devices[name] = description[:-1].split(", ")[0]
    return devices


def bench_rows(path):
    report = load_json(path)
    where = f"{path}: not `ssmkit bench --json` output"
    rows = field(report, "rows", list, where)
    devices = device_names(report, path)
    out = []
    for i, row in enumerate(rows):
        at = f"{path}: rows[{i}]"
        backend = field(row, "backend", str, at)
        if backend not in devices:
            raise InputError(f"{at}: backend '{backend}' is not among the file's 'backends'")
        entry = {key: field(row, key, str, at) for key in ("name", "op", "preset", "shape", "dtype")}
        entry["device"] = devices[backend]
        entry["state_dtype"] = row.get("state_dtype", "-")
        if "skip" in row:
            entry["skip"] = str(row["skip"])
        else:
            entry["timer"] = field(row, "timer", str, at)
            entry["median_s"] = field(row, "median_s", float, at)
            if entry["median_s"] <= 0:
                raise InputError(f"{at}: field 'median_s' must be positive, got {entry['median_s']}")
            entry["bytes"] = field(row, "bytes", float, at)
            entry["fraction"] = row.get("fraction_of_copy_bandwidth")
        out.append(entry)
    return out


def anchor_times(path):
    """row name -> anchor seconds, from scripts/bench_vs_mamba_ssm.py's vs_mamba_ssm.json."""
    report = load_json(path)
    rows = field(report, "rows", list, f"{path}: not bench_vs_mamba_ssm.py's vs_mamba_ssm.json")
    out = {}
    for i, row in enumerate(rows):
        name = field(row, "name", str, f"{path}: rows[{i}]")
        if "mamba_ssm_s" in row:  # rows without it say why in 'mamba_ssm' (not available)
            out[name] = field(row, "mamba_ssm_s", float, f"{path}: rows[{i}]")
    return out


def table(rows, anchors):
    header = ["op", "preset", "shape", "dtype", "state dtype", "timer", "median us", "GB/s",
              "% copy BW"] + (["vs anchor"] if anchors else [])
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" * 6 + "---:|" * (len(header) - 6)]
    for r in rows:
        cells = [r["op"], r["preset"], r["shape"], r["dtype"], r["state_dtype"]]
        if "skip" in r:
            cells += ["skip: " + r["skip"], "-", "-", "-"] + (["-"] if anchors else [])
        else:
            med = r["median_s"]
            cells += [r["timer"], f"{med * 1e6:.2f}", f"{r['bytes'] / med / 1e9:.0f}",
                      f"{100 * r['fraction']:.0f}%" if r["fraction"] is not None else "-"]
            if anchors:
                cells.append(f"{anchors[r['name']] / med:.2f}x" if r["name"] in anchors else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench_json", nargs="+", help="`ssmkit bench --json` files")
    ap.add_argument("--anchor", action="append", default=[],
                    help="vs_mamba_ssm.json of scripts/bench_vs_mamba_ssm.py (repeatable)")
    args = ap.parse_args(argv)
    try:
        by_device = {}  # device -> {row name -> row}, in order of first appearance
        for path in args.bench_json:
            for r in bench_rows(path):
                by_device.setdefault(r["device"], {})[r["name"]] = r
        anchors = {}
        for path in args.anchor:
            anchors.update(anchor_times(path))
    except InputError as e:
        print(f"perf_table: {e}", file=sys.stderr)
        return 2
    if not by_device:
        print("perf_table: " + ", ".join(args.bench_json) + ": no rows", file=sys.stderr)
        return 2
    parts = []
    for device, rows in by_device.items():
        parts.append(f"### {device}\n\n{table(list(rows.values()), anchors)}\n")
    print("\n".join(parts), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
