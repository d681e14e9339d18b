#!/usr/bin/env bash
# Sets up what mote's tests need and runs them: the Cortex-M Rust targets (for the no_std
# build test), then `cargo test` over the whole workspace. The golden tests read the
# reference models from ../shared (or $MOTE_SHARED); with MOTE_REQUIRE_SHARED=1 (as CI sets)
# a missing folder fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== rust targets for the no_std build"
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf

echo "== cargo test"
cargo test --workspace --locked
