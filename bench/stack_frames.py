#!/usr/bin/env python3
"""Where a Cortex-M firmware's stack goes: per-function frame sizes and the deepest call chains.

Reads `llvm-objdump -d` of a Thumb ELF (a mote firmware), sums each function's prologue
(`push`, `push.w`, `stmdb sp!`, `vpush`, `sub sp`, `sub.w sp`, `subw sp`) into its frame
size, builds the call graph from direct calls (`bl`) and tail calls (`b`/`b.w` to another
function's start), and prints the largest frames and the deepest chains from a root
(default: `main`, i.e. cortex-m-rt's `__cortex_m_rt_main`).

It is static analysis: indirect calls (`blx rN`) are listed but not followed, recursion
is cut, and the panic and failure paths are not followed (`--skip`). The firmware links every
kernel whatever the model, so the deepest chain is over all operators; the harness's painted
figures say what one model used. A function's frame is what its prologue reserves; dynamic `sub sp, rN` (alloca)
would be reported as unknown. Use it beside the harness's painted figures, not instead.

    python3 bench/stack_frames.py firmware/target/thumbv7em-none-eabihf/release/mps2-an386
    python3 bench/stack_frames.py ELF --root mote_runtime::Interpreter::invoke_profiled --top 20
"""

import argparse
import re
import subprocess
import sys
from functools import lru_cache

HEADER = re.compile(r"^([0-9a-f]+) <(.*)>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def demangle(names):
    try:
        out = subprocess.run(
            ["rustfilt"], input="\n".join(names), capture_output=True, text=True, check=True
        ).stdout.splitlines()
        if len(out) == len(names):
            return dict(zip(names, out))
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        out = subprocess.run(
            ["llvm-cxxfilt"], input="\n".join(names), capture_output=True, text=True, check=True
        ).stdout.splitlines()
        if len(out) == len(names):
            # Drop the legacy-mangling hash suffix (`::h0123…`).
            return {n: re.sub(r"::h[0-9a-f]{16}$", "", d) for n, d in zip(names, out)}
    except (OSError, subprocess.CalledProcessError):
        pass
    return {n: n for n in names}


def reglist_bytes(regs):
    n = 0
    for r in regs.split(","):
        r = r.strip()
        if not r:
            continue
        size = 8 if r[0] == "d" else 4
        if "-" in r:
            a, b = r.split("-")
            n += (int(b.strip()[1:]) - int(a[1:]) + 1) * size
        else:
            n += size
    return n


def parse(elf):
    dis = subprocess.run(
        ["llvm-objdump", "-d", "--no-show-raw-insn", elf], capture_output=True, text=True, check=True
    ).stdout
    funcs = {}  # name -> dict(addr, frame, calls:set, indirect:int, dynamic:bool)
    by_addr = {}
    cur = None
    for line in dis.splitlines():
        m = HEADER.match(line)
        if m and m.group(2).startswith("$"):
            continue  # ARM mapping symbols ($t, $d): a literal pool inside a function
        if m:
            cur = m.group(2)
            addr = int(m.group(1), 16)
            funcs[cur] = {"addr": addr, "frame": 0, "calls": set(), "indirect": 0, "dynamic": False}
            by_addr[addr] = cur
            continue
        if cur is None:
            continue
        m = INSN.match(line)
        if not m:
            continue
        op, args = m.group(2), m.group(3)
        f = funcs[cur]
        base = op.split(".")[0]
        if base == "push":
            f["frame"] += reglist_bytes(args[args.find("{") + 1 : args.find("}")])
        elif base == "stmdb" and args.startswith("sp!"):
            f["frame"] += reglist_bytes(args[args.find("{") + 1 : args.find("}")])
        elif base == "vpush":
            f["frame"] += reglist_bytes(args[args.find("{") + 1 : args.find("}")])
        elif base in ("sub", "subw") and re.match(r"sp,\s*(sp,\s*)?", args):
            imm = re.search(r"#(0x[0-9a-f]+|\d+)", args)
            if imm:
                f["frame"] += int(imm.group(1), 0)
            else:
                f["dynamic"] = True
        elif base in ("bl", "b", "blx"):
            target = re.search(r"<([^>+]*)>", args)
            if base == "blx" and not target:
                f["indirect"] += 1
            elif target and target.group(1) != cur:
                # `b` to another symbol's start is a tail call; `b` within the function is not.
                if base == "bl" or "+" not in args[args.find("<") :]:
                    f["calls"].add(target.group(1))
    return funcs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("elf")
    ap.add_argument("--root", default="main", help="function (substring of the demangled name) to start from")
    ap.add_argument("--top", type=int, default=25, help="largest frames to list")
    ap.add_argument("--chains", type=int, default=3, help="deepest chains to print")
    ap.add_argument(
        "--skip",
        default=r"panic|unwind|fail|slice_index|slice_.*_index|unwrap_failed|expect_failed|print_difference",
        help="regex of (demangled) functions not followed: by default the panic and failure "
        "paths, which a run that succeeds never takes ('' follows everything)",
    )
    args = ap.parse_args()

    funcs = parse(args.elf)
    names = demangle(list(funcs))

    print(f"largest frames in {args.elf}:")
    for name in sorted(funcs, key=lambda n: -funcs[n]["frame"])[: args.top]:
        f = funcs[name]
        flags = " (dynamic sp)" if f["dynamic"] else ""
        print(f"  {f['frame']:6}  {names[name]}{flags}")

    skip = re.compile(args.skip) if args.skip else None

    @lru_cache(maxsize=None)
    def deepest(name, stack=()):
        """(bytes, chain) of the deepest path from `name`."""
        if name in stack or name not in funcs:
            return (0, (name,))
        if stack and skip and skip.search(names[name]):
            return (0, ())
        best = (0, ())
        for callee in funcs[name]["calls"]:
            d = deepest(callee, stack + (name,))
            if d[0] > best[0]:
                best = d
        return (funcs[name]["frame"] + best[0], (name,) + best[1])

    roots = [n for n in funcs if args.root == names[n] or args.root in names[n]]
    if args.root == "main":
        roots = [n for n in funcs if names[n] in ("main", "__cortex_m_rt_main")] or roots
    if not roots:
        sys.exit(f"no function matches {args.root!r}")
    for root in roots[: args.chains]:
        total, chain = deepest(root)
        print(f"\ndeepest chain from {names[root]}: {total} bytes (frames only; + 32 per exception entry)")
        for n in chain:
            f = funcs.get(n, {"frame": 0, "indirect": 0})
            ind = f"  [{f['indirect']} indirect call(s) not followed]" if f["indirect"] else ""
            print(f"  {f['frame']:6}  {names.get(n, n)}{ind}")


if __name__ == "__main__":
    main()
