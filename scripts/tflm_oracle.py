#!/usr/bin/env python3
"""Run a .tflite model with TFLM's Python interpreter (reference kernels) and save its outputs.

This is the oracle for mote's exporter, quantizer and runtime: a `.tflite` that mote writes
must load in TFLM and give the bytes mote's own runtime gives. One process runs every case of
a model, so a test pays Python's and TFLM's start-up once per model, not once per input.

    tflm_oracle.py MODEL.tflite IN.npy... --out DIR [--arena-bytes N]

The model has K inputs; the IN files are taken K at a time, one case per group, in order.
Case c's output j is written to DIR/case_<c>.out<j>.npy in the model's dtype and shape. An
input of the wrong dtype or shape is an error (exit status 2), not a silent cast.
"""

import argparse
import json
import os
import sys

import numpy as np
from tflite_micro import runtime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help=".tflite file")
    parser.add_argument("inputs", nargs="+", help=".npy inputs, K per case for a K-input model")
    parser.add_argument("--out", required=True, help="folder for case_<c>.out<j>.npy")
    parser.add_argument(
        "--arena-bytes",
        type=int,
        default=None,
        help="TFLM arena size (default: 10x the model's size, at least 1 MiB)",
    )
    args = parser.parse_args()

    with open(args.model, "rb") as f:
        model = f.read()
    arena = args.arena_bytes or max(len(model) * 10, 1 << 20)
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)

    n_inputs = 0
    while True:
        try:
            interpreter.get_input_details(n_inputs)
        except Exception:  # TFLM raises a plain RuntimeError/IndexError past the last one
            break
        n_inputs += 1
    n_outputs = 0
    while True:
        try:
            interpreter.get_output_details(n_outputs)
        except Exception:
            break
        n_outputs += 1
    if n_inputs == 0 or len(args.inputs) % n_inputs != 0:
        print(
            f"error: the model has {n_inputs} inputs; {len(args.inputs)} files do not make whole cases",
            file=sys.stderr,
        )
        return 2

    os.makedirs(args.out, exist_ok=True)
    cases = len(args.inputs) // n_inputs
    for c in range(cases):
        interpreter.reset()
        for i in range(n_inputs):
            path = args.inputs[c * n_inputs + i]
            data = np.load(path)
            want = interpreter.get_input_details(i)
            if data.dtype != want["dtype"] or list(data.shape) != list(want["shape"]):
                print(
                    f"error: {path} is {data.dtype} {list(data.shape)}, input {i} needs "
                    f"{np.dtype(want['dtype'])} {list(want['shape'])}",
                    file=sys.stderr,
                )
                return 2
            interpreter.set_input(data, i)
        interpreter.invoke()
        for j in range(n_outputs):
            np.save(os.path.join(args.out, f"case_{c}.out{j}.npy"), interpreter.get_output(j))
    print(json.dumps({"cases": cases, "inputs": n_inputs, "outputs": n_outputs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
