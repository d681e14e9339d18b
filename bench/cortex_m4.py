#!/usr/bin/env python3
"""mote, TFLM and microflow on the emulated Cortex-M4F (QEMU mps2-an386), side by side.

Runs `mote bench MODEL --board mps2-an386 --json` for each model, builds and runs the
microflow peer (firmware/peers/microflow-mps2-an386) for the models microflow supports,
reads TFLM's figures from the anchors JSON (TFLM built with its own Makefile and measured on
the same emulated board), and prints one markdown table per metric group. Standard library
only. See bench/README.md ("On the Cortex-M4").
"""

import argparse
import datetime
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

BOARD = "mps2-an386"

# name, path under <shared>/models
MOTE_MODELS = [
    ("kws_ref_model", "mlperf_tiny/kws/kws_ref_model.tflite"),
    ("vww_96_int8", "mlperf_tiny/vww/vww_96_int8.tflite"),
    ("pretrainedResnet_quant", "mlperf_tiny/ic/pretrainedResnet_quant.tflite"),
    ("ad01_int8", "mlperf_tiny/ad/ad01_int8.tflite"),
    ("person_detect", "tflm_examples/person_detection/person_detect.tflite"),
    ("micro_speech_quantized", "tflm_examples/micro_speech/micro_speech_quantized.tflite"),
    ("hello_world_int8", "tflm_examples/hello_world/hello_world_int8.tflite"),
    ("sine", "microflow/models/sine.tflite"),
]
# The models microflow runs (its own sine and the two TFLM examples it was written for).
MICROFLOW_MODELS = ["sine", "micro_speech_quantized", "person_detect"]

PEER = "peers/microflow-mps2-an386"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# mote


def run_mote(mote, model_path, timeout, runtime, kernels):
    """`mote bench --json --runtime RUNTIME --kernels KERNELS`: the report dict, or
    {"error": …}."""
    cmd = [mote, "bench", str(model_path), "--board", BOARD, "--json",
           "--timeout", str(timeout), "--runtime", runtime, "--kernels", kernels]
    log("$", " ".join(cmd))
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                pass
    tail = [l for l in p.stderr.splitlines() if l.strip()][-6:]
    return {"error": f"mote bench exited {p.returncode}: " + " | ".join(tail)}


# ---------------------------------------------------------------------------------------
# the microflow peer


def runner(peer_dir):
    config = tomllib.loads((peer_dir / ".cargo/config.toml").read_text())
    target = config["build"]["target"]
    r = config["target"][target]["runner"]
    return target, (r.split() if isinstance(r, str) else list(r))


def build_peer(firmware, peer_dir, model_path, runs):
    """Builds the peer for one model; returns the ELF path (cargo's last executable)."""
    env = dict(os.environ)
    for var in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"):
        env.pop(var, None)
    env["CARGO_TARGET_DIR"] = str(firmware / "target")
    env["MICROFLOW_MODEL"] = str(model_path)
    env["MICROFLOW_RUNS"] = str(runs)
    env.pop("MICROFLOW_GOLDEN_DIR", None)
    cmd = [os.environ.get("CARGO", "cargo"), "build", "--release",
           "--message-format=json-render-diagnostics"]
    log(f"$ (cd {peer_dir} && MICROFLOW_MODEL={model_path} {' '.join(cmd)})")
    p = subprocess.run(cmd, cwd=peer_dir, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    if p.returncode != 0:
        tail = [l for l in p.stderr.splitlines() if l.strip()][-30:]
        raise RuntimeError("building the microflow peer failed:\n" + "\n".join(tail))
    elf = None
    for line in p.stdout.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable"):
            elf = m["executable"]
    if not elf:
        raise RuntimeError("cargo built no executable for the microflow peer")
    return Path(elf)


def fields(line):
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def run_qemu(cmd, elf, timeout):
    log("$", " ".join(cmd + [str(elf)]))
    p = subprocess.run(cmd + [str(elf)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    report = [l for l in p.stdout.splitlines() if l.startswith("mote-bench v=")]
    if not report:
        raise RuntimeError(f"no report line (QEMU exit {p.returncode}): "
                           + " | ".join((p.stdout + p.stderr).split("\n")[-6:]))
    notes = [l for l in p.stdout.splitlines() if l.startswith("mote-bench: ")]
    return fields(report[0]), notes, p.returncode


def run_microflow(firmware, model_path, runs, timeout):
    peer_dir = firmware / PEER
    _, qemu = runner(peer_dir)
    elf = build_peer(firmware, peer_dir, model_path, runs)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "microflow.elf"
        shutil.copy(elf, copy)
        f, notes, status = run_qemu(qemu, copy, timeout)
        sizes = elf_sizes(copy)
    if status != 0:
        raise RuntimeError(f"the peer failed (QEMU exit {status}): {' | '.join(notes)}")
    got = bytes.fromhex(f.get("output_hex", ""))
    want = bytes.fromhex(f.get("expected_hex", ""))
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    stack = int(f["stack_bytes"])
    flash = sizes["flash"]
    return {
        "model": f.get("model"),
        "board": f.get("board"),
        "checksum": f.get("checksum"),
        "instructions": int(f["instructions"]),
        "runs": int(f["runs"]),
        "flash_bytes": flash,
        "model_bytes": sizes["model"],
        "test_data_bytes": sizes["test_data"],
        "code_bytes": flash - sizes["model"] - sizes["test_data"],
        "stack_bytes": stack,
        "statics_bytes": sizes["ram_statics"],
        "ram_bytes": stack + sizes["ram_statics"],
        "outputs_match": f.get("outputs_match") == "1" and len(got) == len(want),
        "output_hex": got.hex(),
        "expected_hex": want.hex(),
        "first_difference": None if first is None else
        {"byte": first, "got": got[first] - 256 * (got[first] > 127),
         "expected": want[first] - 256 * (want[first] > 127)},
    }


# ---------------------------------------------------------------------------------------
# ELF sizes, as `mote bench` reads them (crates/mote-cli/src/bench.rs)

SHF_WRITE, SHF_ALLOC = 0x1, 0x2
SHT_NOBITS, SHT_SYMTAB = 8, 2
STT_OBJECT = 1


def printable(b):
    return len(b) > 0 and all(32 <= c < 127 or c in (9, 10, 13) for c in b)


def elf_sizes(path):
    """Flash (allocated sections with contents), RAM statics (writable allocated sections),
    test data (MOTE_TEST_INPUT_* / MOTE_EXPECTED_OUTPUT_* symbols) and model bytes.

    microflow compiles the model into the firmware: its weights and folded requantization
    constants are promoted constants in `.rodata`, one local data object each. Model bytes
    are those objects: every `.rodata` object symbol that is neither test data nor plain
    text (the harness's strings). What the compiler folded into instructions stays in code.
    """
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise RuntimeError(f"{path}: not a little-endian ELF32 file")
    e_shoff, = struct.unpack_from("<I", data, 0x20)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    sections = []
    for i in range(e_shnum):
        name, typ, flags, addr, off, size, link, info, align, entsize = struct.unpack_from(
            "<IIIIIIIIII", data, e_shoff + i * e_shentsize)
        sections.append(dict(name=name, type=typ, flags=flags, addr=addr, off=off,
                             size=size, link=link, entsize=entsize))
    shstr = sections[e_shstrndx]

    def cstr(table, off):
        start = table["off"] + off
        return data[start:data.index(b"\0", start)].decode("latin-1")

    for s in sections:
        s["name"] = cstr(shstr, s["name"])
    flash = ram = 0
    for s in sections:
        if not s["flags"] & SHF_ALLOC:
            continue
        if s["type"] != SHT_NOBITS:
            flash += s["size"]
        if s["flags"] & SHF_WRITE:
            ram += s["size"]
    rodata = [i for i, s in enumerate(sections) if s["name"] == ".rodata"]
    test_data = model = 0
    for s in sections:
        if s["type"] != SHT_SYMTAB:
            continue
        strtab = sections[s["link"]]
        for k in range(s["size"] // s["entsize"]):
            name, value, size, info, _, shndx = struct.unpack_from(
                "<IIIBBH", data, s["off"] + k * s["entsize"])
            sym = cstr(strtab, name)
            if sym.startswith(("MOTE_TEST_INPUT_", "MOTE_EXPECTED_OUTPUT_")):
                test_data += size
            elif shndx in rodata and info & 0xF == STT_OBJECT and size > 0:
                sec = sections[shndx]
                start = sec["off"] + value - sec["addr"]
                if not printable(data[start:start + size]):
                    model += size
    return {"flash": flash, "ram_statics": ram, "test_data": test_data, "model": model}


# ---------------------------------------------------------------------------------------
# tables


def num(v):
    return "—" if v is None else f"{v:,}"


def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}"


def cell(d, key):
    return d.get(key) if d and "error" not in d else None


def tables(results, anchors, meta):
    out = []
    w = out.append
    w(f"# mote on the emulated Cortex-M4F (QEMU {BOARD}), next to TFLM and microflow\n")
    w(f"{meta}\n")
    w("mote and microflow: measured in this run on TFLM's golden case 0 input, `-icount shift=7`, "
      "exact instruction counts from the board's timer (same harness). TFLM: "
      "`../shared/anchors/tflm_qemu_m4.json` (TFLM's own Makefile build, -O2, same emulated "
      "board, deterministic input); — where a figure does not exist.\n")

    # instructions
    w("## Instructions per inference\n")
    w("| model | mote | TFLM reference | TFLM CMSIS-NN | microflow | mote / TFLM CMSIS-NN | mote / microflow |")
    w("|---|--:|--:|--:|--:|--:|--:|")
    for name, r in results.items():
        m, mf, a = r["mote"], r.get("microflow"), anchors.get(name, {})
        mi = cell(m, "instructions")
        ref = a.get("reference", {}).get("instructions")
        cm = a.get("cmsis_nn", {}).get("instructions")
        fi = cell(mf, "instructions")
        w(f"| {name} | {num(mi)} | {num(ref)} | {num(cm)} | {num(fi)} | {ratio(mi, cm)} | {ratio(mi, fi)} |")
    w("")

    # RAM
    w("## RAM (bytes)\n")
    w("mote: arena + stack high-water mark (whole firmware, from reset) + other statics. "
      "TFLM: the smallest arena with which the model allocates and runs (its stack and statics "
      "not included). microflow: no arena — every tensor lives on the stack — so stack + statics.\n")
    w("| model | mote arena | mote stack | mote statics | mote RAM | TFLM arena, reference | TFLM arena, CMSIS-NN | microflow stack + statics | mote / TFLM arena (reference) | mote / microflow |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, r in results.items():
        m, mf, a = r["mote"], r.get("microflow"), anchors.get(name, {})
        ram = cell(m, "ram_bytes")
        tref = a.get("reference", {}).get("min_arena_bytes")
        tcm = a.get("cmsis_nn", {}).get("min_arena_bytes")
        fram = cell(mf, "ram_bytes")
        w(f"| {name} | {num(cell(m, 'arena_bytes'))} | {num(cell(m, 'stack_bytes'))} | "
          f"{num(cell(m, 'statics_bytes'))} | {num(ram)} | {num(tref)} | {num(tcm)} | {num(fram)} | "
          f"{ratio(ram, tref)} | {ratio(ram, fram)} |")
    w("")

    # code
    w("## Flash: code bytes\n")
    w("Code = flash minus the model and the embedded test data. mote: the firmware (harness, "
      "runtime, kernels) with the `.mote` artefact as model bytes. TFLM: `.text` minus the "
      "model (includes ~2 KB harness and 4–6.5 KB libc/libgcc). microflow: the model is "
      "compiled into the firmware; its model bytes are the weight and constant objects in "
      "`.rodata`, and everything else — including the per-layer code its macro generates — "
      "is code. Flash = code + model.\n")
    w("| model | mote code | mote model | TFLM code, reference | TFLM code, CMSIS-NN | TFLM model | microflow code | microflow model | mote flash | microflow flash | mote code / TFLM reference | mote code / TFLM CMSIS-NN | mote flash / microflow flash |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, r in results.items():
        m, mf, a = r["mote"], r.get("microflow"), anchors.get(name, {})
        code = cell(m, "code_bytes")
        mflash = None if code is None else code + m["model_bytes"]
        tref = a.get("reference", {}).get("code_bytes")
        tcm = a.get("cmsis_nn", {}).get("code_bytes")
        fflash = None if cell(mf, "code_bytes") is None else mf["code_bytes"] + mf["model_bytes"]
        w(f"| {name} | {num(code)} | {num(cell(m, 'model_bytes'))} | {num(tref)} | {num(tcm)} | "
          f"{num(a.get('model_bytes'))} | {num(cell(mf, 'code_bytes'))} | {num(cell(mf, 'model_bytes'))} | "
          f"{num(mflash)} | {num(fflash)} | {ratio(code, tref)} | {ratio(code, tcm)} | {ratio(mflash, fflash)} |")
    w("")

    # outputs
    w("## Outputs equal TFLM's golden output (case 0), byte for byte\n")
    w("| model | mote | microflow | microflow's first difference (int8: got vs TFLM) |")
    w("|---|---|---|---|")
    for name, r in results.items():
        m, mf = r["mote"], r.get("microflow")
        if "error" in m:
            ms = "error"
        else:
            ms = "yes" if m["outputs_match"] and m.get("host_matches_golden") is not False else "**no**"
        if mf is None:
            fs, diff = "—", ""
        elif "error" in mf:
            fs, diff = "error", ""
        else:
            fs = "yes" if mf["outputs_match"] else "**no**"
            d = mf["first_difference"]
            diff = "" if d is None else (f"byte {d['byte']}: {d['got']} vs {d['expected']} "
                                         f"(output {mf['output_hex']}, TFLM {mf['expected_hex']})")
        w(f"| {name} | {ms} | {fs} | {diff} |")
    w("")

    errors = [(n, k, r[k]["error"]) for n, r in results.items() for k in ("mote", "microflow")
              if r.get(k) and "error" in r[k]]
    if errors:
        w("## Errors\n")
        for n, k, e in errors:
            w(f"- {n}, {k}: {e}".replace("\n", " "))
        w("")
    return "\n".join(out)


def describe_tree(root):
    def git(*args):
        p = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    # Lock files are left out: cargo rewrites them when a sibling crate's dependencies moved.
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "crates", "firmware",
                ":(exclude)*Cargo.lock")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    state = " (with uncommitted changes under crates/ or firmware/)" if dirty else ""
    return f"Measured {stamp} at commit {commit}{state}."


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mote", required=True, help="the mote binary")
    ap.add_argument("--root", required=True, type=Path, help="the repository")
    ap.add_argument("--shared", required=True, type=Path, help="the shared reference folder")
    ap.add_argument("--out", required=True, type=Path, help="where to write the markdown")
    ap.add_argument("--json-out", type=Path, help="where to write every figure as JSON")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--no-microflow", action="store_true")
    ap.add_argument("--runtime", choices=["interpreter", "compiled"], default="interpreter",
                    help="how mote runs the model on the device (mote bench --runtime)")
    ap.add_argument("--kernels", choices=["auto", "reference"], default="auto",
                    help="which kernels mote's firmware links (mote bench --kernels): auto = "
                         "the DSP kernels, reference = the smallest code")
    ap.add_argument("models", nargs="*", help="a subset of the models (default: all)")
    args = ap.parse_args()

    firmware = (args.root / "firmware").resolve()
    anchors = json.loads((args.shared / "anchors/tflm_qemu_m4.json").read_text())
    chosen = [(n, p) for n, p in MOTE_MODELS if not args.models or n in args.models]
    unknown = set(args.models) - {n for n, _ in MOTE_MODELS}
    if unknown:
        sys.exit(f"unknown model(s): {', '.join(sorted(unknown))}")

    results = {}
    for name, rel in chosen:
        path = args.shared / "models" / rel
        log(f"== mote: {name}")
        results[name] = {"mote": run_mote(args.mote, path, args.timeout, args.runtime, args.kernels)}
        if "error" in results[name]["mote"]:
            log("   ", results[name]["mote"]["error"])
        if name in MICROFLOW_MODELS and not args.no_microflow:
            log(f"== microflow: {name}")
            try:
                results[name]["microflow"] = run_microflow(firmware, path.resolve(), args.runs,
                                                           args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as e:
                log("   ", e)
                results[name]["microflow"] = {"error": str(e)}

    md = tables(results, anchors,
                f"{describe_tree(args.root)} mote's runtime: {args.runtime}; kernels: "
                f"{'the DSP kernels' if args.kernels == 'auto' else 'the reference kernels'}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md + "\n")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1) + "\n")
    print(md)


if __name__ == "__main__":
    main()
