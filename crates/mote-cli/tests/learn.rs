//! The data-to-device commands end to end, through the `mote` binary, on small synthetic
//! datasets: `mote data synth-*` → `mote train` → `mote quantize` → `mote eval`, plus
//! `mote prune`, `mote distill` and `mote quickstart` on a small configuration. The figures
//! the issue asks for (accuracy on the full demo) come from `mote quickstart` with its
//! defaults; here the point is that every command works, writes what it says, and reports
//! numbers that can be checked (an int8 model from `quantize` scores the same through
//! `eval` on its .tflite and on its .mote; the exported int8 .tflite gives in TFLM the bytes
//! mote's runtime gives).

use std::path::{Path, PathBuf};
use std::process::Command;

fn mote() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mote"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running mote");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mote-learn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn eval_json(model: &Path, data: &Path) -> serde_json::Value {
    let text = run_ok(mote().arg("eval").arg(model).arg(data).arg("--json"));
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn tts_available() -> bool {
    let found = ["espeak-ng", "flite"].iter().all(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
    });
    if !found && std::env::var_os("MOTE_REQUIRE_TTS").is_some() {
        panic!("espeak-ng and flite are required (MOTE_REQUIRE_TTS is set): apt-get install espeak-ng flite");
    }
    found
}

/// Vibration: an autoencoder trained on normal clips only, scored by ROC AUC on held-out
/// machines' normal and faulty clips; int8 through quantize, the same AUC from .tflite and
/// .mote.
#[test]
fn vibration_anomaly_pipeline() {
    let dir = temp_dir("vibration");
    let data = dir.join("vib");
    run_ok(
        mote()
            .args(["data", "synth-vibration", "--seed", "3", "--out"])
            .arg(&data),
    );
    let ckpt = dir.join("ae");
    let out = run_ok(
        mote()
            .arg("train")
            .arg(&data)
            .args(["--template", "fc_autoencoder", "--epochs", "12", "--quiet", "-o"])
            .arg(&ckpt),
    );
    assert!(out.contains("AUC"), "{out}");
    for ext in ["json", "safetensors", "tflite"] {
        assert!(ckpt.with_extension(ext).is_file(), "{ext} missing");
    }
    let float = eval_json(&ckpt.with_extension("json"), &data);
    let auc = float["auc"].as_f64().expect("auc");
    assert!(auc > 0.9, "float AUC {auc}");
    assert!(float["samples"].as_u64().unwrap() > 50);

    let int8 = dir.join("ae_int8");
    let out = run_ok(
        mote()
            .arg("quantize")
            .arg(&ckpt)
            .arg(&data)
            .args(["--qat", "never", "--quiet", "-o"])
            .arg(&int8),
    );
    assert!(out.contains("float32") && out.contains("int8"), "{out}");
    let from_tflite = eval_json(&int8.with_extension("tflite"), &data);
    let from_mote = eval_json(&int8.with_extension("mote"), &data);
    assert_eq!(from_tflite["auc"], from_mote["auc"]);
    let auc8 = from_mote["auc"].as_f64().unwrap();
    assert!(auc8 > 0.85, "int8 AUC {auc8}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keywords on a small synthetic set: train, quantize (keyword input quantization: the
/// front end's bytes), eval, prune and distill all run and report; the int8 model takes the
/// micro front end's int8 features unchanged.
#[test]
fn keyword_pipeline_small() {
    if !tts_available() {
        eprintln!("skipping: espeak-ng/flite not installed");
        return;
    }
    let dir = temp_dir("keywords");
    let data = dir.join("kw");
    run_ok(
        mote()
            .args(["data", "synth-keywords", "--per-class", "12", "--seed", "5", "--out"])
            .arg(&data),
    );
    let ckpt = dir.join("kws");
    run_ok(
        mote()
            .arg("train")
            .arg(&data)
            .args(["--epochs", "2", "--width", "0.25", "--quiet", "-o"])
            .arg(&ckpt),
    );
    let int8 = dir.join("kws_int8");
    run_ok(
        mote()
            .arg("quantize")
            .arg(&ckpt)
            .arg(&data)
            .args(["--qat", "never", "--calibration", "percentile", "--quiet", "-o"])
            .arg(&int8),
    );
    let eval = eval_json(&int8.with_extension("mote"), &data);
    let acc = eval["accuracy"].as_f64().expect("accuracy");
    assert!((0.0..=1.0).contains(&acc));
    assert!(eval["samples"].as_u64().unwrap() > 0);
    // --group scores one voice alone: its figures are that voice's line of the per-group
    // list; a group the split does not hold is an error that names it.
    let voice = &eval["groups"][0];
    let name = voice["group"].as_str().expect("a group name");
    let text = run_ok(
        mote()
            .arg("eval")
            .arg(int8.with_extension("mote"))
            .arg(&data)
            .args(["--json", "--group", name]),
    );
    let alone: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(alone["samples"], voice["samples"]);
    assert_eq!(alone["accuracy"], voice["accuracy"]);
    assert_eq!(alone["groups"].as_array().map(Vec::len), Some(1));
    let out = mote()
        .arg("eval")
        .arg(int8.with_extension("mote"))
        .arg(&data)
        .args(["--group", "no-such-voice"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("no sample of group no-such-voice"),
        "{stderr}"
    );
    // The int8 input is the front end's own quantization: scale 1/256, zero point -128.
    let raw = std::fs::read(int8.with_extension("tflite")).unwrap();
    let graph = mote_ir_of(&raw);
    let q = graph.tensors[graph.inputs[0]].quant.clone().unwrap();
    assert_eq!((q.scale[0], q.zero_point[0]), (1.0 / 256.0, -128));

    let pruned = dir.join("kws_pruned");
    let out = run_ok(
        mote()
            .arg("prune")
            .arg(&ckpt)
            .arg(&data)
            .args(["--structured", "0.5", "--epochs", "1", "--quiet", "-o"])
            .arg(&pruned),
    );
    assert!(out.contains("structured 50%"), "{out}");
    let before = macs_of(&ckpt.with_extension("tflite"));
    let after = macs_of(&pruned.with_extension("tflite"));
    assert!(after * 10 < before * 7, "MACs {before} -> {after}");

    let student = dir.join("kws_student");
    let out = run_ok(
        mote()
            .arg("distill")
            .arg(&ckpt)
            .arg(&data)
            .args(["--epochs", "1", "--quiet", "-o"])
            .arg(&student),
    );
    assert!(out.contains("student:"), "{out}");
    let params = |p: &Path| -> usize {
        let g = mote_ir_of(&std::fs::read(p).unwrap());
        g.tensors.iter().filter(|t| t.is_const()).map(|t| t.elements()).sum()
    };
    let (t, s) = (
        params(&ckpt.with_extension("tflite")),
        params(&student.with_extension("tflite")),
    );
    assert!(s * 4 <= t, "student {s} parameters, teacher {t}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mote quickstart` on a small configuration, twice: the second run reuses the data and
/// the model; the files it promises are there and `mote eval` reads them.
#[test]
fn quickstart_small_twice() {
    if !tts_available() {
        eprintln!("skipping: espeak-ng/flite not installed");
        return;
    }
    let dir = temp_dir("quickstart");
    let args = ["--per-class", "10", "--epochs", "2", "--no-device"];
    let first = run_ok(mote().arg("quickstart").arg("--out").arg(&dir).args(args));
    assert!(first.contains("accuracy int8"), "{first}");
    for f in ["model_int8.tflite", "model_int8.mote", "model_float.json", "summary.json"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let eval = eval_json(&dir.join("model_int8.mote"), &dir.join("keywords"));
    // Both are f32 figures; JSON spells them with different digits.
    let as_f32 = |v: &serde_json::Value| v.as_f64().expect("a number") as f32;
    assert_eq!(as_f32(&eval["accuracy"]), as_f32(&summary["int8_accuracy"]));

    let out = mote()
        .arg("quickstart")
        .arg("--out")
        .arg(&dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("reused") && log.contains("reusing"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn mote_ir_of(tflite: &[u8]) -> mote_ir::Graph {
    mote_tflite::import(tflite).unwrap()
}

fn macs_of(tflite: &Path) -> u64 {
    let g = mote_ir_of(&std::fs::read(tflite).unwrap());
    (0..g.nodes.len()).map(|n| g.macs(n)).sum()
}
