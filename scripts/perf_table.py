#!/usr/bin/env python3
"""Markdown tables, one per device, from `ssmkit bench --json` files.

    python3 scripts/perf_table.py BENCH.json [BENCH.json ...]

Each row of each file becomes one table row under the device its backend ran on (the name
inside `backends`, e.g. "cuda (NVIDIA H100 80GB HBM3, sm_90, ...)" -> "NVIDIA H100 80GB HBM3").
A row measured in several files is shown once, from the file given last. Under each
device's heading: the command of every file its rows come from and the copy bandwidth.
Columns:

  op, preset, shape, dtype, state dtype, timer   what was timed (as `ssmkit bench` names it)
  median us     median time per call over the timed passes, microseconds; "(check FAILED)"
                where the row's result disagreed with the CPU reference
  GB/s          the op's bytes floor (`bytes`) over the median
  % copy BW     that rate over the run's 1 GiB device copy (`fraction_of_copy_bandwidth`)
  vs anchor     anchor time / ssmkit time (> 1: ssmkit faster), shown where a
                vs_mamba_ssm.json lies beside the bench file: scripts/bench_vs_mamba_ssm.py
                --out DIR writes DIR/ssmkit_bench.json and DIR/vs_mamba_ssm.json from one
                run, and its anchor times (mamba_ssm, causal-conv1d, fla) apply to that file's rows (matched by name)

Standard library only. Exit status 0; 2 when a file cannot be read or is not what it should
be (the file and the field named).
"""
import argparse
import json
import os
import sys

ANCHOR_FILE = "vs_mamba_ssm.json"


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
        name = {float: "number", str: "string", list: "list"}[kind]
        raise InputError(f"{where}: field '{key}' is not a {name}")
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
    command = field(report, "command", str, where)
    bandwidth = report.get("copy_bandwidth_bytes_per_s", {})
    out = []
    for i, row in enumerate(rows):
        at = f"{path}: rows[{i}]"
        backend = field(row, "backend", str, at)
        if backend not in devices:
            raise InputError(f"{at}: backend '{backend}' is not among the file's 'backends'")
        entry = {key: field(row, key, str, at) for key in ("name", "op", "preset", "shape", "dtype")}
        entry["device"] = devices[backend]
        entry["command"] = command
        entry["copy_bandwidth"] = bandwidth.get(backend) if isinstance(bandwidth, dict) else None
        if entry["op"] == "memory_copy":
            entry["dtype"] = "-"
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
            check = row.get("check")
            entry["check_failed"] = isinstance(check, dict) and check.get("passed") is False
        out.append(entry)
    return out


def anchor_times(path):
    """row name -> anchor seconds, from scripts/bench_vs_mamba_ssm.py's vs_mamba_ssm.json."""
    report = load_json(path)
    rows = field(report, "rows", list, f"{path}: not bench_vs_mamba_ssm.py's vs_mamba_ssm.json")
    out = {}
    for i, row in enumerate(rows):
        name = field(row, "name", str, f"{path}: rows[{i}]")
        if "anchor_s" in row:  # rows without it say why in 'anchor_note' (not available)
            out[name] = field(row, "anchor_s", float, f"{path}: rows[{i}]")
    return out


def gb_per_s(bytes_per_s):
    """Whole GB/s where that keeps two digits or more (GPU rows), else two decimals."""
    gbs = bytes_per_s / 1e9
    return f"{gbs:.0f}" if gbs >= 10 else f"{gbs:.2f}"


def table(rows):
    anchors = any("anchor_s" in r for r in rows)
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
            cells += [r["timer"], f"{med * 1e6:.2f}" + (" (check FAILED)" if r["check_failed"] else ""), gb_per_s(r['bytes'] / med),
                      f"{100 * r['fraction']:.0f}%" if r["fraction"] is not None else "-"]
            if anchors:
                cells.append(f"{r['anchor_s'] / med:.2f}x" if "anchor_s" in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench_json", nargs="+", help="`ssmkit bench --json` files")
    args = ap.parse_args(argv)
    try:
        by_device = {}  # device -> {row name -> row}, in order of first appearance
        for path in args.bench_json:
            sibling = os.path.join(os.path.dirname(path), ANCHOR_FILE)
            anchors = anchor_times(sibling) if os.path.isfile(sibling) else {}
            for r in bench_rows(path):
                if "skip" not in r and r["name"] in anchors:
                    r["anchor_s"] = anchors[r["name"]]
                by_device.setdefault(r["device"], {})[r["name"]] = r
    except InputError as e:
        print(f"perf_table: {e}", file=sys.stderr)
        return 2
    if not by_device:
        print("perf_table: " + ", ".join(args.bench_json) + ": no rows", file=sys.stderr)
        return 2
    parts = []
    for device, rows in by_device.items():
        rows = list(rows.values())
        lines = [f"### {device}", ""]
        for command in dict.fromkeys(r["command"] for r in rows):
            lines.append(f"- command: `{command}`")
        for bw in dict.fromkeys(r["copy_bandwidth"] for r in rows if r["copy_bandwidth"]):
            lines.append(f"- copy bandwidth (the run's reference copy, read + write): {bw / 1e9:.0f} GB/s")
        parts.append("\n".join(lines) + "\n\n" + table(rows) + "\n")
    print("\n".join(parts), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
