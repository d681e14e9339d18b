//! `mote bench` on the emulated boards: every model that CI measures builds into the board's
//! firmware, runs in QEMU, and reports outputs equal to the host runtime's and to TFLM's
//! golden outputs, with exact, repeatable instruction counts.
//!
//! Needs `qemu-system-arm` and the boards' Rust targets; without them the tests say why and
//! pass, unless `MOTE_REQUIRE_QEMU` is set (as `.ci/run` does), which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use mote_testdata::{golden, shared_dir};

/// The models CI runs on each board (golden folder names).
const CASES: &[(&str, &[&str])] = &[
    (
        "mps2-an386",
        &[
            "kws_ref_model",
            "vww_96_int8",
            "pretrainedResnet_quant",
            "ad01_int8",
            "person_detect",
            "micro_speech_quantized",
            "hello_world_int8",
        ],
    ),
    ("microbit", &["hello_world_int8", "micro_speech_quantized"]),
    (
        "mps2-an505",
        &["hello_world_int8", "micro_speech_quantized"],
    ),
];

const TARGETS: &[&str] = &[
    "thumbv7em-none-eabihf",
    "thumbv8m.main-none-eabihf",
    "thumbv6m-none-eabi",
];

/// Firmware builds share one target folder and one ELF per board: one test at a time.
static FIRMWARE: Mutex<()> = Mutex::new(());

fn installed_targets() -> Vec<String> {
    let sysroot = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    TARGETS
        .iter()
        .filter(|t| {
            sysroot
                .as_ref()
                .is_some_and(|s| s.join("lib/rustlib").join(t).is_dir())
        })
        .map(|t| t.to_string())
        .collect()
}

/// The shared folder when QEMU, the targets and the reference data are all there; `None`
/// (after saying why) to skip; a panic when `MOTE_REQUIRE_QEMU` is set and one is missing.
fn prerequisites() -> Option<PathBuf> {
    let shared = shared_dir()?;
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let targets = installed_targets();
    let mut missing = Vec::new();
    if !qemu {
        missing.push("qemu-system-arm (apt-get install qemu-system-arm)".to_string());
    }
    for t in TARGETS {
        if !targets.iter().any(|i| i == t) {
            missing.push(format!("the {t} target (rustup target add {t})"));
        }
    }
    if missing.is_empty() {
        return Some(shared);
    }
    let why = format!("missing {}", missing.join(", "));
    if std::env::var_os("MOTE_REQUIRE_QEMU").is_some() {
        panic!("{why}, and MOTE_REQUIRE_QEMU is set");
    }
    eprintln!("skipped: {why} (set MOTE_REQUIRE_QEMU to make this a failure)");
    None
}

fn mote(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args)
        .output()
        .expect("running mote")
}

fn bench_json(model: &Path, board: &str) -> serde_json::Value {
    bench_json_with(model, board, &[])
}

fn bench_json_with(model: &Path, board: &str, extra: &[&str]) -> serde_json::Value {
    let model = model.to_str().expect("a UTF-8 path");
    let mut args = vec!["bench", model, "--board", board, "--json", "--runs", "2"];
    args.extend_from_slice(extra);
    let out = mote(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mote bench {model} --board {board} failed:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("mote bench printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

#[test]
fn models_run_on_the_emulated_boards_with_outputs_matching_tflm() {
    let Some(shared) = prerequisites() else {
        return;
    };
    let _guard = FIRMWARE.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    println!(
        "{:<12} {:<24} {:>12} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>6}",
        "board", "model", "instructions", "code", "model", "flash", "arena", "stack", "RAM", "secs"
    );
    for (board, models) in CASES {
        for name in *models {
            let model = golden(&shared, name).model;
            let t = Instant::now();
            let r = bench_json(&model, board);
            let int = |key: &str| -> u64 {
                r[key]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name} on {board}: `{key}` is not an integer: {r}"))
            };
            println!(
                "{:<12} {:<24} {:>12} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>6.1}",
                board,
                name,
                int("instructions"),
                int("code_bytes"),
                int("model_bytes"),
                int("flash_bytes"),
                int("arena_bytes"),
                int("stack_bytes"),
                int("ram_bytes"),
                t.elapsed().as_secs_f64()
            );
            assert_eq!(r["outputs_match"], true, "{name} on {board}: {r}");
            assert_eq!(r["host_matches_golden"], true, "{name} on {board}: {r}");
            assert!(int("instructions") > 0, "{name} on {board}: {r}");
            assert!(int("model_bytes") > 0 && int("code_bytes") > 0, "{r}");
            assert_eq!(
                int("flash_bytes"),
                int("code_bytes") + int("model_bytes") + int("test_data_bytes"),
                "{r}"
            );
            assert!(int("arena_bytes") > 0 && int("stack_bytes") > 0, "{r}");
            assert_eq!(
                int("ram_bytes"),
                int("arena_bytes") + int("stack_bytes") + int("statics_bytes"),
                "{r}"
            );
        }
    }

    // A second QEMU run of a built firmware gives the very same count.
    let model = golden(&shared, "micro_speech_quantized").model;
    let first = bench_json(&model, "mps2-an386");
    let second = bench_json(&model, "mps2-an386");
    assert_eq!(first["instructions"], second["instructions"]);
    assert_eq!(first["stack_bytes"], second["stack_bytes"]);
    println!("all boards: {:.0} s", started.elapsed().as_secs_f64());
}

/// The models compiled ahead of time (`--runtime compiled`): no interpreter on the device,
/// the same outputs as TFLM's, and less code than the interpreter's firmware for the same
/// model (it has no validation, decoding or dispatch to carry).
#[test]
fn compiled_models_match_tflm_with_less_code_than_the_interpreter() {
    let Some(shared) = prerequisites() else {
        return;
    };
    let _guard = FIRMWARE.lock().unwrap_or_else(|e| e.into_inner());
    for (board, name) in [
        ("mps2-an386", "hello_world_int8"),
        ("mps2-an386", "micro_speech_quantized"),
        ("mps2-an386", "kws_ref_model"),
        ("mps2-an386", "person_detect"),
        ("microbit", "micro_speech_quantized"),
        ("mps2-an505", "hello_world_int8"),
    ] {
        let model = golden(&shared, name).model;
        let compiled = bench_json_with(&model, board, &["--runtime", "compiled"]);
        let interpreted = bench_json(&model, board);
        let int = |r: &serde_json::Value, key: &str| -> u64 {
            r[key]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} on {board}: `{key}` is not an integer: {r}"))
        };
        println!(
            "{board:<12} {name:<24} compiled: {} instructions, code {}, RAM {}; interpreter: {}, {}, {}",
            int(&compiled, "instructions"),
            int(&compiled, "code_bytes"),
            int(&compiled, "ram_bytes"),
            int(&interpreted, "instructions"),
            int(&interpreted, "code_bytes"),
            int(&interpreted, "ram_bytes"),
        );
        assert_eq!(compiled["runtime"], "compiled", "{compiled}");
        assert_eq!(compiled["outputs_match"], true, "{name} on {board}: {compiled}");
        assert_eq!(compiled["host_matches_golden"], true, "{name} on {board}: {compiled}");
        assert_eq!(int(&compiled, "arena_bytes"), int(&interpreted, "arena_bytes"));
        assert!(
            int(&compiled, "code_bytes") < int(&interpreted, "code_bytes"),
            "{name} on {board}: compiled {compiled} vs interpreter {interpreted}"
        );
    }
    // A float model is refused with a message, not built.
    let float = golden(&shared, "hello_world_float").model;
    refuses_float(&float);
}

/// `--kernels reference` on the Cortex-M4: the reference kernels alone, the same outputs as
/// TFLM's in less code (and more instructions) than the DSP kernels, compiled.
#[test]
fn reference_kernels_on_the_cortex_m4_match_tflm_in_less_code() {
    let Some(shared) = prerequisites() else {
        return;
    };
    let _guard = FIRMWARE.lock().unwrap_or_else(|e| e.into_inner());
    let model = golden(&shared, "micro_speech_quantized").model;
    let compiled = ["--runtime", "compiled"];
    let dsp = bench_json_with(&model, "mps2-an386", &compiled);
    let reference =
        bench_json_with(&model, "mps2-an386", &["--runtime", "compiled", "--kernels", "reference"]);
    let int = |r: &serde_json::Value, key: &str| r[key].as_u64().unwrap_or_default();
    println!(
        "micro_speech on mps2-an386, compiled: DSP kernels {} instructions, code {}; reference \
         kernels {}, {}",
        int(&dsp, "instructions"),
        int(&dsp, "code_bytes"),
        int(&reference, "instructions"),
        int(&reference, "code_bytes"),
    );
    assert_eq!(reference["kernels"], "reference", "{reference}");
    assert_eq!(dsp["kernels"], "auto", "{dsp}");
    assert_eq!(reference["outputs_match"], true, "{reference}");
    assert_eq!(reference["host_matches_golden"], true, "{reference}");
    assert!(int(&reference, "code_bytes") < int(&dsp, "code_bytes"), "{reference} vs {dsp}");
    assert!(int(&reference, "instructions") > int(&dsp, "instructions"), "{reference} vs {dsp}");
}

fn refuses_float(float: &Path) {
    let out = mote(&[
        "bench",
        float.to_str().unwrap(),
        "--board",
        "mps2-an386",
        "--runtime",
        "compiled",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("float32") && stderr.contains("--runtime interpreter"), "{stderr}");
}

#[test]
fn a_model_that_does_not_fit_fails_with_the_builds_message() {
    let Some(shared) = prerequisites() else {
        return;
    };
    let _guard = FIRMWARE.lock().unwrap_or_else(|e| e.into_inner());
    let model = golden(&shared, "person_detect").model;
    let out = mote(&["bench", model.to_str().unwrap(), "--board", "microbit"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: model `person_detect` does not fit board `microbit`: RAM: needs "),
        "{stderr}"
    );
    assert!(stderr.contains("the board has 16384"), "{stderr}");
}

#[test]
fn an_unknown_board_is_refused_with_the_list_of_boards() {
    let out = mote(&["bench", "model.tflite", "--board", "esp32"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown board `esp32` (boards: microbit, mps2-an386, mps2-an505)"),
        "{stderr}"
    );
}
