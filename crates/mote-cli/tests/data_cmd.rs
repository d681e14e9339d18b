//! `mote data …` end to end through the binary: help text, vibration synthesis and reuse,
//! the class-balance summary honouring the manifest's test machines, and the install hint
//! when the speech synthesisers are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh scratch folder, removed when dropped (mote-cli has no tempfile dependency).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mote-data-cmd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mote() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mote"))
}

#[test]
fn help_explains_the_subcommands() {
    let out = mote().args(["data", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["synth-keywords", "synth-vibration", "summary"] {
        assert!(text.contains(sub), "{sub} missing from:\n{text}");
    }
}

#[test]
fn synth_vibration_then_summary() {
    let tmp = Scratch::new("vibration");
    let dir = tmp.path().join("vib");
    let run = |args: &[&str]| {
        let out = mote().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dir_str = dir.to_str().unwrap();
    let first = run(&[
        "data",
        "synth-vibration",
        "--out",
        dir_str,
        "--seed",
        "4",
        "--machines",
        "4",
    ]);
    assert!(first.starts_with("wrote 280 synthetic clips"), "{first}");
    let second = run(&[
        "data",
        "synth-vibration",
        "--out",
        dir_str,
        "--seed",
        "4",
        "--machines",
        "4",
    ]);
    assert!(second.starts_with("reused"), "{second}");

    // 4 machines, one held out for test by the manifest; no fraction-based test groups.
    let table = run(&["data", "summary", dir_str, "--val", "0.34"]);
    let row = |name: &str| -> Vec<usize> {
        let line = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in\n{table}"));
        line.split_whitespace()
            .skip(1)
            .take(4)
            .map(|c| c.parse().unwrap())
            .collect()
    };
    // normal: 40 per machine → train 80, val 40, test 40.
    assert_eq!(row("normal"), [80, 40, 40, 160], "{table}");
    assert_eq!(row("groups")[..3], [2, 1, 1], "{table}");

    let json = run(&["data", "summary", dir_str, "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["kind"], "csv");
    assert_eq!(value["synthetic"], true);
    // Classes are the folders, sorted.
    assert_eq!(value["balance"]["classes"][0], "bearing_inner");
    let normal = value["balance"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "normal")
        .unwrap();
    assert_eq!(
        value["balance"]["counts"][normal],
        // The default --val 0.1 of 3 machines still gives validation one machine.
        serde_json::json!([80, 40, 40])
    );
}

#[test]
fn missing_synthesisers_say_what_to_install() {
    let tmp = Scratch::new("nothing_installed");
    let out = mote()
        .args(["data", "synth-keywords", "--out"])
        .arg(tmp.path().join("kw"))
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install espeak-ng flite"), "{err}");
}

#[test]
fn summary_of_a_folder_without_data_is_an_error() {
    let tmp = Scratch::new("no_data");
    std::fs::create_dir(tmp.path().join("empty_class")).unwrap();
    let out = mote()
        .args(["data", "summary"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .wav, .csv"));
}
