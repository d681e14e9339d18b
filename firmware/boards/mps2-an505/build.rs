//! Embeds the model chosen by `MOTE_MODEL` (TFLM's hello_world when unset) for this board,
//! failing the build when it does not fit; see `mote_build::firmware` for the variables.

use mote_build::firmware::{build_script, Firmware};

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    // cortex-m-rt's `device` feature makes its linker script include `device.x`, where a
    // device crate would name its interrupt handlers; src/vectors.rs points every vector at
    // `DefaultHandler`, so the file is empty.
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(std::path::Path::new(&out).join("device.x"), "")
        .expect("writing device.x into OUT_DIR");
    println!("cargo:rustc-link-search={out}");
    let firmware = Firmware {
        board: "mps2-an505",
        memory_x: include_str!("memory.x"),
        stack_reserve: 16 * 1024,
        code_estimate: 96 * 1024,
        statics_estimate: 1024,
    };
    if let Err(e) = build_script(&firmware) {
        panic!("{e}");
    }
}
