//! mote-dsp must build for the smallest microcontroller target mote supports, Cortex-M0
//! (`thumbv6m-none-eabi`: no FPU, no DSP instructions). It has no `std`, so a successful
//! build proves the crate (without its `std` feature) is `no_std` and allocation-free, build
//! script and baked tables included. (`thumbv7em-none-eabihf` is built and run by the
//! firmware test, `crates/mote-cli/tests/dsp_qemu.rs`.)

use std::path::Path;
use std::process::Command;

const TARGETS: &[&str] = &["thumbv6m-none-eabi"];

#[test]
fn mote_dsp_builds_for_thumb_targets() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut built = 0;
    for target in TARGETS {
        if !installed.lines().any(|l| l.trim() == *target) {
            if std::env::var_os("CI").is_some() {
                panic!("rust target {target} is not installed (`rustup target add {target}`)");
            }
            eprintln!(
                "skipped: rust target {target} is not installed (rustup target add {target})"
            );
            continue;
        }
        // A separate target dir: the outer `cargo test` holds the lock on the usual one.
        let out = Command::new(env!("CARGO"))
            .current_dir(&workspace)
            .args([
                "build",
                "--quiet",
                "-p",
                "mote-dsp",
                "--target",
                target,
                "--target-dir",
            ])
            .arg(workspace.join("target/thumb"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("running cargo");
        assert!(
            out.status.success(),
            "building mote-dsp for {target} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        built += 1;
    }
    eprintln!("mote-dsp built for {built} thumb targets");
}
