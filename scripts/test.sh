#!/usr/bin/env bash
# Sets up what mote's tests need and runs them:
#   - the Cortex-M Rust targets (the no_std build test and the firmware);
#   - Debian packages: QEMU (the firmware runs on emulated boards) and the speech
#     synthesisers espeak-ng and flite (the synthetic keyword dataset);
#   - a Python virtualenv with `tflite-micro` from PyPI: TFLM's own interpreter, the oracle
#     that checks the .tflite files mote exports (found through $MOTE_TFLM_PYTHON);
# then `cargo test` over the whole workspace. The golden tests read the reference models
# from ../shared (or $MOTE_SHARED). With MOTE_REQUIRE_SHARED=1, MOTE_REQUIRE_QEMU=1,
# MOTE_REQUIRE_TTS=1 and MOTE_REQUIRE_TFLM=1 (as .ci/run sets) a missing piece fails the
# run instead of skipping its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== rust targets for the no_std build and the firmware"
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf

echo "== Debian packages: qemu-system-arm, espeak-ng, flite, python3-venv"
missing=()
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v flite >/dev/null 2>&1 || missing+=(flite)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
qemu-system-arm --version | head -n 1
espeak-ng --version | head -n 1
# flite --version exits with status 1 after printing its version.
(flite --version 2>&1 || true) | head -n 1

# TFLM's interpreter, pinned to the version that produced ../shared/golden (falls back to the
# newest release if that one is gone from PyPI).
echo "== python: tflite-micro (TFLM's interpreter, the oracle for exported .tflite files)"
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/tflm-venv
tflm_version=${TFLM_VERSION-0.dev20261023182759}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, tflite_micro" 2>/dev/null; then
    pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
    "${pip[@]}" "tflite-micro${tflm_version:+==$tflm_version}" numpy \
        || "${pip[@]}" tflite-micro numpy
fi
export MOTE_TFLM_PYTHON=$venv/bin/python
"$MOTE_TFLM_PYTHON" -c "import tflite_micro; print('tflite-micro', tflite_micro.__version__)"

echo "== cargo test"
cargo test --workspace --locked
