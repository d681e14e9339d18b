#!/usr/bin/env bash
# mote on the emulated Cortex-M4F (QEMU mps2-an386) next to TFLM and microflow (issue #3):
# `mote bench --json` for the MLPerf Tiny int8 models, person_detect, micro_speech,
# hello_world and sine; the microflow peer (firmware/peers/microflow-mps2-an386) for sine,
# micro_speech and person_detect; TFLM's figures from ../shared/anchors/tflm_qemu_m4.json.
# Prints one markdown table per metric group and writes them to target/bench/cortex_m4.md
# (every figure also to target/bench/cortex_m4.json).
#
# Usage: bench/cortex_m4.sh [--no-microflow] [--runtime interpreter|compiled] [--kernels auto|reference] [MODEL...]     (default: every model)
# Needs qemu-system-arm, the thumbv7em-none-eabihf target, python3 (standard library only),
# the reference data in ../shared (or $MOTE_SHARED) and, the first time, crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

shared=${MOTE_SHARED:-$root/../shared}
if [[ ! -d $shared/models || ! -f $shared/anchors/tflm_qemu_m4.json ]]; then
    echo "bench/cortex_m4.sh: reference data not found at $shared (set MOTE_SHARED)" >&2
    exit 1
fi
export MOTE_SHARED=$(cd "$shared" && pwd)
command -v qemu-system-arm >/dev/null || {
    echo "bench/cortex_m4.sh: qemu-system-arm not found (apt-get install --no-install-recommends qemu-system-arm)" >&2
    exit 1
}
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/bench
mkdir -p "$out"

echo "== building mote (release)" >&2
cargo build --release -q -p mote-cli

python3 bench/cortex_m4.py --mote "$target/release/mote" --root "$root" --shared "$MOTE_SHARED" \
    --out "$out/cortex_m4.md" --json-out "$out/cortex_m4.json" "$@"
echo "written: $out/cortex_m4.md" >&2
