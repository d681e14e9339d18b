#!/usr/bin/env bash
# Sets up what `mote quickstart` needs on a fresh Debian/Ubuntu machine and runs it:
#   - espeak-ng and flite (the speech synthesisers behind the synthetic keyword dataset);
#   - qemu-system-arm and the thumbv7em-none-eabihf Rust target (to run the int8 model on
#     the emulated Cortex-M4; without them the quickstart measures on the host only);
# then `mote quickstart` with any arguments given here (e.g. --out DIR, --seed N).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v flite >/dev/null 2>&1 || missing+=(flite)
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
rustup target add thumbv7em-none-eabihf

echo "== mote quickstart"
exec cargo run --release -q -p mote-cli -- quickstart "$@"
