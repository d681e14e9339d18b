#!/usr/bin/env bash
# Sets up what mote's tests need and runs them: the Cortex-M Rust targets (for the no_std
# build test and the firmware) and QEMU, then `cargo test` over the whole workspace. The golden tests read the
# reference models from ../shared (or $MOTE_SHARED); with MOTE_REQUIRE_SHARED=1 (as CI sets)
# a missing folder fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== rust targets for the no_std build and the firmware"
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf

# The firmware tests (crates/mote-cli/tests/bench_qemu.rs) run the boards in QEMU; with
# MOTE_REQUIRE_QEMU=1 (as CI sets) its absence is a failure.
echo "== qemu-system-arm for the firmware tests"
if ! command -v qemu-system-arm >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends qemu-system-arm
fi
qemu-system-arm --version | head -n 1

echo "== cargo test"
cargo test --workspace --locked
