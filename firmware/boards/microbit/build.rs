//! Embeds the model chosen by `MOTE_MODEL` (TFLM's hello_world when unset) for this board,
//! failing the build when it does not fit; see `mote_build::firmware` for the variables.

use mote_build::firmware::{build_script, Firmware};

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    let firmware = Firmware {
        board: "microbit",
        memory_x: include_str!("memory.x"),
        stack_reserve: 4 * 1024,
        code_estimate: 80 * 1024,
        statics_estimate: 256,
    };
    if let Err(e) = build_script(&firmware) {
        panic!("{e}");
    }
}
