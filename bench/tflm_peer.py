#!/usr/bin/env python3
"""TFLM's side of mote's speed benchmark (issue #2): times TFLM's interpreter on the host.

For each model named on the command line (a folder under SHARED/golden), loads the .tflite
with the `tflite-micro` Python package (`tflite_micro.runtime.Interpreter.from_file`, TFLM's
reference kernels), feeds golden case 0's inputs, checks that the output equals the golden
output, then times one inference -- `set_input` for every input, then `invoke()` -- the
same work as mote's criterion benchmark `invoke/<model>`. The inputs are set on every run
because TFLM's memory plan reuses an input's bytes once it is consumed. Reports the median
over N runs after a warm-up, in microseconds, as JSON on stdout; progress goes to stderr.
A model TFLM cannot load or run gets an "error" entry instead of a time.

The times include one Python-to-C++ call per input and one for invoke (about half a
microsecond each on the x86 machine this was written on): they matter only for the tiniest
models, where they are most of TFLM's figure.
"""

import argparse
import gc
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import tflite_micro
from tflite_micro import runtime

# Same tolerance as mote's golden tests: float32 may differ by this much relative to the
# element (or to 1% of the output's largest magnitude, for elements near zero).
FLOAT_RELATIVE_TOLERANCE = 1e-5


def log(message):
    print(message, file=sys.stderr, flush=True)


def matches(got, want):
    """None if `got` equals the golden `want`, else a short description of the difference."""
    got = np.asarray(got)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"got {got.dtype} {got.shape}, golden is {want.dtype} {want.shape}"
    if want.dtype.kind == "f":
        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, np.finfo(np.float32).tiny)
        bound = FLOAT_RELATIVE_TOLERANCE * np.maximum(np.abs(want), scale * 1e-2)
        bad = np.flatnonzero(np.abs(got - want) > bound)
    else:
        bad = np.flatnonzero(got != want)
    if bad.size == 0:
        return None
    i = int(bad[0])
    return f"element {i} is {got.flat[i]}, golden {want.flat[i]}"


def time_model(shared, name, seconds, min_runs):
    """Loads, checks and times one model; returns its JSON entry."""
    golden = shared / "golden" / name
    manifest = json.loads((golden / "manifest.json").read_text())
    model_path = shared / "models" / manifest["model"]
    inputs = [np.load(golden / f"case_0.in{i}.npy") for i in range(len(manifest["inputs"]))]
    expected = [np.load(golden / f"case_0.out{j}.npy") for j in range(len(manifest["outputs"]))]

    # The package's default arena (10x the model's size) is too small for models whose
    # weights are tiny next to their activations (simple_add_model); the size does not
    # change the speed.
    arena_size = max(10 * model_path.stat().st_size, 2 * (manifest.get("tflm_arena_bytes") or 0) + 65536)
    interpreter = runtime.Interpreter.from_file(str(model_path), arena_size=arena_size)

    def inference():
        for i, x in enumerate(inputs):
            interpreter.set_input(x, i)
        interpreter.invoke()

    def check(when):
        for j, want in enumerate(expected):
            difference = matches(interpreter.get_output(j), want)
            if difference:
                return f"output {j} differs from golden {when}: {difference}"
        return None

    inference()
    mismatch = check("on the first run")

    # Warm-up: at least 3 runs and ~10% of the budget; it also sizes N.
    warm_runs, start = 0, time.perf_counter()
    while warm_runs < 3 or time.perf_counter() - start < seconds / 10:
        inference()
        warm_runs += 1
    per_run = (time.perf_counter() - start) / warm_runs
    runs = max(min_runs, min(100_000, int(seconds / per_run)))

    samples = np.empty(runs, dtype=np.int64)
    gc.disable()
    try:
        for k in range(runs):
            t0 = time.perf_counter_ns()
            inference()
            samples[k] = time.perf_counter_ns() - t0
    finally:
        gc.enable()
    mismatch = mismatch or check("after timing")
    return {
        "us_per_inference": float(np.median(samples)) / 1e3,
        "us_min": float(samples.min()) / 1e3,
        "runs": runs,
        "output_matches_golden": mismatch is None,
        "mismatch": mismatch,
        "error": None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="golden folder names (e.g. kws_ref_model)")
    parser.add_argument("--shared", required=True, type=Path, help="the shared folder (models/, golden/)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per model (default 2)")
    parser.add_argument("--min-runs", type=int, default=20, help="fewest timed runs per model (default 20)")
    args = parser.parse_args()

    results = {}
    for name in args.models:
        log(f"tflm: {name} ...")
        try:
            entry = time_model(args.shared, name, args.seconds, args.min_runs)
        except Exception as e:  # a missing op or a model TFLM refuses: report, go on
            log(traceback.format_exc())
            entry = {"us_per_inference": None, "error": f"{type(e).__name__}: {e}".strip().splitlines()[0]}
        results[name] = entry
        if entry["error"]:
            log(f"tflm: {name}: cannot run: {entry['error']}")
        else:
            status = "output matches golden" if entry["output_matches_golden"] else entry["mismatch"]
            log(f"tflm: {name}: {entry['us_per_inference']:.2f} us/inference (median of {entry['runs']}; {status})")
    json.dump(
        {
            "peer": "tflite-micro (PyPI), TFLM reference kernels, via its Python interpreter",
            "tflite_micro_version": tflite_micro.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "models": results,
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
