//! The device crates must build for the microcontroller targets mote supports: Cortex-M0
//! (`thumbv6m-none-eabi`, no DSP, no unaligned access) and Cortex-M4F/M7
//! (`thumbv7em-none-eabihf`). These targets have no `std`, so a successful build proves the
//! runtime, kernels and format reader are `no_std` and allocation-free.

use std::path::Path;
use std::process::Command;

const TARGETS: &[&str] = &["thumbv6m-none-eabi", "thumbv7em-none-eabihf"];

fn installed_targets() -> String {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn runtime_builds_for_thumb_targets() {
    let installed = installed_targets();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
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
                "mote-runtime",
                "--target",
                target,
                "--target-dir",
            ])
            .arg(workspace.join("target/thumb"))
            .output()
            .expect("running cargo");
        assert!(
            out.status.success(),
            "building mote-runtime for {target} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
