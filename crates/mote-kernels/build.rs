//! Decides whether this build of mote-kernels uses the Cortex-M DSP-extension kernels: emits
//! `cfg(mote_dsp)` for targets whose cores have SMLAD, SXTB16, SSAT and friends.
//!
//! Why a build script and not `cfg(target_feature = "dsp")`: Rust's `dsp` target feature for
//! Arm is unstable, so on a stable compiler that cfg is never set, not even for
//! `thumbv7em-none-eabihf` (every ARMv7E-M core has the DSP extension). The triple says it
//! instead:
//!
//! - `thumbv7em-*` (Cortex-M4, M7): always DSP.
//! - `thumbv8m.main-*` (Cortex-M33, M35P): the extension is optional in ARMv8-M Mainline, and
//!   LLVM's default CPU for the triple does not assemble DSP instructions. DSP is used when the
//!   build names a CPU that has it (`-C target-cpu=cortex-m33`, `cortex-m35p`, `cortex-m55`,
//!   `cortex-m85`) or enables the feature (`-C target-feature=+dsp`).
//! - `thumbv8.1m.main-*` (Cortex-M55, M85): always DSP.
//! - `cfg(target_feature = "dsp")` as reported by the compiler (nightly, custom targets): DSP.
//!
//! `MOTE_KERNELS_DSP=0` or `=1` in the environment overrides the choice (for an Arm target
//! only: the instruction wrappers are Arm assembly).

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_dsp)");
    println!("cargo::rerun-if-env-changed=MOTE_KERNELS_DSP");
    println!("cargo::rerun-if-changed=build.rs");

    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "arm" {
        return;
    }
    let dsp = match env::var("MOTE_KERNELS_DSP").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => target_has_dsp(),
    };
    if dsp {
        println!("cargo::rustc-cfg=mote_dsp");
    }
}

fn target_has_dsp() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if features.split(',').any(|f| f == "dsp") {
        return true;
    }
    if target.starts_with("thumbv7em") || target.starts_with("thumbv8.1m.main") {
        return true;
    }
    if !target.starts_with("thumbv8m.main") {
        return false;
    }
    // ARMv8-M Mainline: look at the flags this crate is compiled with.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    let mut cpu_has_dsp = false;
    let mut feature: Option<bool> = None;
    let mut i = 0;
    while i < flags.len() {
        // `-Cx=y`, `-C x=y` and `--codegen x=y` all name one codegen option.
        let option = match flags[i] {
            "-C" | "--codegen" => {
                i += 1;
                flags.get(i).copied().unwrap_or("")
            }
            f => f.strip_prefix("-C").unwrap_or(""),
        };
        if let Some(cpu) = option.strip_prefix("target-cpu=") {
            cpu_has_dsp = matches!(
                cpu,
                "cortex-m33" | "cortex-m35p" | "cortex-m55" | "cortex-m85"
            );
        } else if let Some(list) = option.strip_prefix("target-feature=") {
            for f in list.split(',') {
                match f {
                    "+dsp" => feature = Some(true),
                    "-dsp" => feature = Some(false),
                    _ => {}
                }
            }
        }
        i += 1;
    }
    feature.unwrap_or(cpu_has_dsp)
}
