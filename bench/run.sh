#!/usr/bin/env bash
# Host speed of mote next to TFLM's interpreter, measured in the same run, plus the memory
# table (issue #2). Sets up a virtualenv in target/bench-venv with the `tflite-micro`
# package from PyPI, times TFLM on golden case 0 of every covered model (bench/tflm_peer.py),
# runs mote's criterion benchmarks (cargo bench -p mote-bench), and prints two markdown
# tables: memory (mote's arena against its lower bound and TFLM's) and speed (µs per
# inference, TFLM/mote). Results are also written to target/bench/.
#
# Usage: bench/run.sh [MODEL...]          (default: every covered model)
# Environment: MOTE_SHARED (reference data, default ../shared), TFLM_VERSION (the
# tflite-micro version to install; default the one that produced the golden outputs, empty
# for the newest), BENCH_SECONDS (TFLM timing budget per model, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

shared=${MOTE_SHARED:-$root/../shared}
if [[ ! -d $shared/models || ! -d $shared/golden ]]; then
    echo "bench/run.sh: reference data not found at $shared (set MOTE_SHARED)" >&2
    exit 1
fi
export MOTE_SHARED=$(cd "$shared" && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/bench
venv=$target/bench-venv
mkdir -p "$out"
tflm_version=${TFLM_VERSION-0.dev20261023182759}

echo "== [1/5] python environment ($venv)"
if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv" || {
        echo "bench/run.sh: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
if ! "$venv/bin/python" -c "import numpy, tflite_micro" 2>/dev/null; then
    spec=tflite-micro${tflm_version:+==$tflm_version}
    echo "installing $spec and numpy from PyPI"
    if ! "${pip[@]}" "$spec" numpy; then
        [[ -n $tflm_version ]] || exit 1
        echo "tflite-micro==$tflm_version did not install; trying the newest tflite-micro" >&2
        "${pip[@]}" tflite-micro numpy
    fi
fi
"$venv/bin/python" -c "import tflite_micro; print('tflite-micro', tflite_micro.__version__)"

echo "== [2/5] building mote's benchmarks (release)"
cargo build --release -q -p mote-bench --bin arena-report
cargo bench -q -p mote-bench --bench models --no-run
if [[ $# -gt 0 ]]; then
    models=("$@")
else
    mapfile -t models < <("$target/release/arena-report" --list)
fi
echo "models: ${models[*]}"

echo "== [3/5] TFLM (tflite-micro Python interpreter)"
"$venv/bin/python" bench/tflm_peer.py --shared "$MOTE_SHARED" --seconds "${BENCH_SECONDS:-2}" \
    "${models[@]}" >"$out/tflm.json"

echo "== [4/5] mote (cargo bench -p mote-bench)"
export CRITERION_HOME=$target/criterion
touch "$out/marker"
filter="^invoke/($(IFS='|'; echo "${models[*]}"))\$"
# criterion's full output goes to mote-bench.log; its one-line results show as progress.
set +e
cargo bench -q -p mote-bench --bench models -- "$filter" 2>&1 | tee "$out/mote-bench.log" |
    grep --line-buffered -E '^invoke/|time:|error|panicked|skipped'
bench_status=${PIPESTATUS[0]}
set -e
if [[ $bench_status -ne 0 ]]; then
    echo "bench/run.sh: cargo bench failed (status $bench_status); see $out/mote-bench.log" >&2
fi

echo "== [5/5] results"
"$target/release/arena-report" | tee "$out/arena.md"
echo
status=0
"$venv/bin/python" bench/speed_table.py --tflm "$out/tflm.json" --criterion "$CRITERION_HOME" \
    --marker "$out/marker" "${models[@]}" | tee "$out/speed.md" || status=$?
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo
echo "Host: ${cpu:-$(uname -m)}, $(nproc) cores. Tables saved in $out/arena.md and $out/speed.md."
exit "$status"
