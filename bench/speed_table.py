#!/usr/bin/env python3
"""Final step of bench/run.sh: puts mote's and TFLM's host times side by side.

Reads TFLM's times (the JSON that bench/tflm_peer.py printed) and mote's criterion medians
(CRITERION_DIR/invoke/<model>/new/estimates.json, nanoseconds), and prints a markdown table:
model, mote us/inference, TFLM us/inference, TFLM/mote (how many times faster mote is).
Only criterion results written after the marker file count, so a stale result from an
earlier run is never reported as this run's.
"""

import argparse
import json
import sys
from pathlib import Path


def micros(us):
    if us < 10:
        return f"{us:.2f}"
    if us < 1000:
        return f"{us:.1f}"
    return f"{us:,.0f}"


def mote_median_us(criterion_dir, name, newer_than):
    path = criterion_dir / "invoke" / name / "new" / "estimates.json"
    if not path.is_file() or path.stat().st_mtime < newer_than:
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflm", required=True, type=Path, help="JSON from tflm_peer.py")
    parser.add_argument("--criterion", required=True, type=Path, help="criterion's output folder")
    parser.add_argument("--marker", required=True, type=Path, help="file touched before cargo bench ran")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()

    tflm = json.loads(args.tflm.read_text())
    since = args.marker.stat().st_mtime
    print("| model | mote µs/inference | TFLM µs/inference | TFLM / mote (speed-up) |")
    print("|---|--:|--:|--:|")
    missing = False
    for name in args.models:
        mote = mote_median_us(args.criterion, name, since)
        peer = tflm["models"].get(name, {"error": "not run"})
        if mote is None:
            missing = True
        mote_cell = micros(mote) if mote is not None else "— (no result)"
        if peer.get("error"):
            tflm_cell = f"— (TFLM cannot run it: {peer['error']})"
        else:
            tflm_cell = micros(peer["us_per_inference"])
            if not peer.get("output_matches_golden", True):
                tflm_cell += f" (output differs from golden: {peer.get('mismatch')})"
        ratio = "—"
        if mote and not peer.get("error"):
            ratio = f"{peer['us_per_inference'] / mote:.2f}×"
        print(f"| {name} | {mote_cell} | {tflm_cell} | {ratio} |")
    print()
    print(
        f"Median µs per inference (write case 0's inputs, invoke) on the host. mote: criterion, "
        f"release build. TFLM: tflite-micro {tflm['tflite_micro_version']} (PyPI, reference kernels) "
        f"through its Python interpreter, Python {tflm['python']}; its times include one "
        f"Python-to-C++ call per input and one per invoke, which dominate the tiniest models."
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
