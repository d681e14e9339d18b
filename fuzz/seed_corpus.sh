#!/usr/bin/env bash
# Fills fuzz/corpus/mote_reader/ with .mote artefacts compiled from the shared reference
# models, as seeds for `cargo fuzz run mote_reader`. The models are not part of the repository;
# point MOTE_SHARED at them (default: ../shared next to the workspace).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
workspace="$(dirname "$here")"
shared="${MOTE_SHARED:-$workspace/../shared}"
corpus="$here/corpus/mote_reader"
mkdir -p "$corpus"
cargo build --quiet --manifest-path "$workspace/Cargo.toml" -p mote-cli
mote="$workspace/target/debug/mote"
for model in \
    tflm_examples/hello_world/hello_world_int8.tflite \
    tflm_examples/hello_world/hello_world_float.tflite \
    tflm_examples/micro_speech/micro_speech_quantized.tflite \
    tflm_examples/memory_footprint/simple_add_model.tflite \
    mlperf_tiny/kws/kws_ref_model.tflite; do
    if [ -f "$shared/models/$model" ]; then
        "$mote" compile "$shared/models/$model" -o "$corpus/$(basename "$model" .tflite).mote"
    else
        echo "skipped: $shared/models/$model not found" >&2
    fi
done
