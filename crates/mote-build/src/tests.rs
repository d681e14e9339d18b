//! Unit tests: the fit check and its message, `memory.x` parsing, the deterministic inputs,
//! and the emitted module (its contents, and that rustc accepts it).

use super::*;
use crate::firmware::{linker_memory_x, memory_lengths};
use mote_format::DType;

fn limits(flash: usize, ram: usize) -> BoardLimits {
    BoardLimits {
        name: "tiny-board".into(),
        flash_bytes: flash,
        ram_bytes: ram,
        stack_reserve: 2048,
        code_estimate: 30_000,
        statics_estimate: 256,
    }
}

/// A fresh empty folder under the system's temporary folder.
fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mote-build-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fit_counts_arena_stack_and_statics_against_ram() {
    // 16384 = 14080 + 2048 + 256 exactly: fits; one byte more does not.
    let fit = check_fit("m", 1000, 14_080, 0, &limits(262_144, 16_384)).unwrap();
    assert_eq!(fit.ram_needed(), 16_384);
    assert!(fit.fits());
    let err = check_fit("kws", 1000, 14_081, 0, &limits(262_144, 16_384)).unwrap_err();
    let BuildError::DoesNotFit(fit) = &err else {
        panic!("{err}")
    };
    assert!(!fit.ram_fits() && fit.flash_fits());
    let msg = err.to_string();
    assert_eq!(
        msg,
        "model `kws` does not fit board `tiny-board`: RAM: needs 16385 bytes (arena 14081 + \
         stack reserve 2048 + statics 256), the board has 16384"
    );
}

#[test]
fn fit_counts_model_code_and_test_data_against_flash() {
    let fit = check_fit("m", 200_000, 100, 32_144, &limits(262_144, 16_384)).unwrap();
    assert_eq!(fit.flash_needed(), 262_144);
    let err = check_fit("vww", 300_000, 100_000, 0, &limits(262_144, 16_384)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("model `vww` does not fit board `tiny-board`: RAM: "),
        "{msg}"
    );
    assert!(
        msg.contains(
            "; flash: needs 330000 bytes (model 300000 + code estimate 30000), the board has 262144"
        ),
        "{msg}"
    );
}

#[test]
fn fit_saturates_instead_of_overflowing() {
    assert!(check_fit("m", usize::MAX, usize::MAX, usize::MAX, &limits(1, 1)).is_err());
}

#[test]
fn reads_memory_x_lengths() {
    let text = "MEMORY\n{\n  /* the nRF51's real limits */\n  FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n  \
                RAM : ORIGIN = 0x20000000, LENGTH = 16K\n}\n";
    assert_eq!(memory_lengths(text).unwrap(), (262_144, 16_384));
    let text = "MEMORY { FLASH : ORIGIN = 0x10000000, LENGTH = 4M\nRAM : ORIGIN = 0x38000000, LENGTH = 0x200000 }";
    assert_eq!(memory_lengths(text).unwrap(), (4 << 20, 2 << 20));
    assert!(memory_lengths("MEMORY { FLASH : ORIGIN = 0, LENGTH = 4M }").is_err());
    let linked = linker_memory_x(text, 4096);
    assert!(linked.starts_with(text));
    assert!(linked.contains("_mote_stack_reserve = 4096;"));
    assert!(linked.contains("ASSERT("));
}

#[test]
fn deterministic_input_follows_the_tflm_anchor_pattern() {
    let bytes = deterministic_input(DType::Int8, 300);
    // input[i] = (int8)(((i*7+3) % 256) - 128)
    assert_eq!(bytes[0] as i8, -125);
    assert_eq!(bytes[1] as i8, -118);
    assert_eq!(bytes[37] as i8, ((37 * 7 + 3) % 256 - 128) as i8);
    assert_eq!(bytes.len(), 300);
    let words = deterministic_input(DType::Float32, 8);
    assert_eq!(
        f32::from_le_bytes(words[0..4].try_into().unwrap()),
        -125.0 / 64.0
    );
}

#[test]
fn embeds_a_model_with_its_golden_case() {
    let Some(shared) = mote_testdata::shared_dir() else {
        return;
    };
    let golden = mote_testdata::golden(&shared, "hello_world_int8");
    let case = &golden.cases[0];
    let out = temp_dir("embed");
    let embedded = Embed::new(&golden.model, limits(262_144, 16_384))
        .test_data(TestData {
            inputs: TestInputs::Files(case.inputs.clone()),
            golden_outputs: case.outputs.clone(),
            runs: 3,
            per_op: true,
        })
        .write(&out)
        .unwrap();

    let raw = std::fs::read(&golden.model).unwrap();
    let compiled = mote_compiler::compile(&mote_tflite::import(&raw).unwrap()).unwrap();
    assert_eq!(std::fs::read(&embedded.artefact).unwrap(), compiled.bytes);
    assert_eq!(embedded.arena_bytes, compiled.report.arena_bytes);
    assert_eq!(embedded.host_matches_golden, Some(true));
    assert_eq!(embedded.model_name, "hello_world_int8");
    assert!(embedded.fit.fits());

    // The device compares with the host runtime's outputs, which equal TFLM's here.
    let expected = std::fs::read(out.join("expected_output_0.bin")).unwrap();
    assert_eq!(expected, read_npy(&case.outputs[0]).unwrap().bytes);
    assert_eq!(
        std::fs::read(out.join("test_input_0.bin")).unwrap(),
        read_npy(&case.inputs[0]).unwrap().bytes
    );

    let module = std::fs::read_to_string(&embedded.module).unwrap();
    for needle in [
        format!(
            "pub const ARENA_BYTES: usize = {};",
            compiled.report.arena_bytes
        ),
        format!("pub const MODEL_BYTES: usize = {};", compiled.bytes.len()),
        "pub const MODEL_NAME: &str = \"hello_world_int8\";".to_string(),
        "pub const BOARD: &str = \"tiny-board\";".to_string(),
        "#[repr(C, align(16))]".to_string(),
        "pub static MOTE_MODEL: Aligned<[u8; MODEL_BYTES]>".to_string(),
        "pub static MOTE_TEST_INPUT_0: [u8; 1]".to_string(),
        "pub static MOTE_EXPECTED_OUTPUT_0: [u8; 1]".to_string(),
        "pub const HOST_MATCHES_GOLDEN: Option<bool> = Some(true);".to_string(),
        "pub const RUNS: u32 = 3;".to_string(),
        "pub const PER_OP: bool = true;".to_string(),
        "TensorSpec { name: \"serving_default_dense_input:0\"".to_string(),
    ] {
        assert!(module.contains(&needle), "missing `{needle}` in\n{module}");
    }
    let input = &compiled.report.inputs[0];
    assert!(module.contains(&format!(
        "dtype: \"int8\", shape: &[1, 1], bytes: 1, scale: {:?}_f32, zero_point: {} }}",
        input.scale.unwrap(),
        input.zero_point.unwrap()
    )));
    compiles_as_rust(&out, &embedded.module);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn deterministic_inputs_and_no_test_data() {
    let Some(shared) = mote_testdata::shared_dir() else {
        return;
    };
    let golden = mote_testdata::golden(&shared, "kws_ref_model");
    let out = temp_dir("deterministic");
    let embedded = Embed::new(&golden.model, limits(1 << 20, 1 << 20))
        .test_data(TestData {
            inputs: TestInputs::Deterministic,
            ..TestData::default()
        })
        .write(&out)
        .unwrap();
    assert_eq!(embedded.host_matches_golden, None);
    let input = std::fs::read(out.join("test_input_0.bin")).unwrap();
    assert_eq!(input, deterministic_input(DType::Int8, 490));
    // TFLM's output for this input (shared/anchors/tflm_qemu_m4.json, `output_hex`).
    let output = std::fs::read(out.join("expected_output_0.bin")).unwrap();
    assert_eq!(
        output,
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f, 0x80, 0x81]
    );
    compiles_as_rust(&out, &embedded.module);

    let out = temp_dir("none");
    let embedded = Embed::new(&golden.model, limits(1 << 20, 1 << 20))
        .write(&out)
        .unwrap();
    let module = std::fs::read_to_string(&embedded.module).unwrap();
    assert!(
        module.contains("pub static TEST_INPUTS: [&[u8]; 0] = [];"),
        "{module}"
    );
    assert!(module.contains("pub const TEST_INPUT_SOURCE: &str = \"none\";"));
    compiles_as_rust(&out, &embedded.module);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_model_that_does_not_fit_fails_and_writes_nothing() {
    let Some(shared) = mote_testdata::shared_dir() else {
        return;
    };
    let golden = mote_testdata::golden(&shared, "person_detect");
    let out = temp_dir("nofit");
    let err = Embed::new(&golden.model, limits(262_144, 16_384))
        .write(&out)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("model `person_detect` does not fit board `tiny-board`: RAM: needs "),
        "{msg}"
    );
    assert!(msg.contains("the board has 16384; flash: needs "), "{msg}");
    assert!(msg.ends_with("the board has 262144"), "{msg}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn wrong_inputs_are_refused_with_the_model_named() {
    let Some(shared) = mote_testdata::shared_dir() else {
        return;
    };
    let hello = mote_testdata::golden(&shared, "hello_world_int8");
    let kws = mote_testdata::golden(&shared, "kws_ref_model");
    let out = temp_dir("wrong");
    let err = Embed::new(&hello.model, limits(1 << 20, 1 << 20))
        .test_data(TestData {
            inputs: TestInputs::Files(kws.cases[0].inputs.clone()),
            ..TestData::default()
        })
        .write(&out)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "hello_world_int8: input 0: the model expects int8 [1, 1], the test input is int8 [1, 49, 10, 1]"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// Checks that rustc accepts the module as it is `include!`d by firmware (type-checking
/// only, for the host: the module is target-independent).
fn compiles_as_rust(dir: &Path, module: &Path) {
    let krate = dir.join("check.rs");
    std::fs::write(
        &krate,
        format!(
            "#![no_std]\n#![deny(warnings)]\n#[allow(dead_code)]\nmod model {{ include!({:?}); }}\n\
             pub fn arena() -> usize {{ model::ARENA_BYTES + model::model_bytes().len() }}\n",
            module.display().to_string()
        ),
    )
    .unwrap();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = std::process::Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--emit",
            "metadata",
        ])
        .arg("--out-dir")
        .arg(dir)
        .arg(&krate)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rustc rejected the module:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn float_outputs_match_within_the_golden_tolerance() {
    let array = |values: &[f32]| Array {
        dtype: DType::Float32,
        shape: vec![values.len()],
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    let want = array(&[1.0, -200.0, 0.0]);
    assert!(host::matches(&array(&[1.000_005, -200.001, 1e-5]), &want));
    assert!(!host::matches(&array(&[1.0001, -200.0, 0.0]), &want));
    assert!(!host::matches(&array(&[1.0, -200.0]), &want));
    let int8 = |b: &[u8]| Array {
        dtype: DType::Int8,
        shape: vec![b.len()],
        bytes: b.to_vec(),
    };
    assert!(host::matches(&int8(&[1, 2]), &int8(&[1, 2])));
    assert!(!host::matches(&int8(&[1, 3]), &int8(&[1, 2])));
}

/// The compiled plan calls a DSP fast path alone (no reference fallback linked) exactly where
/// running it on the host said it applies, the reference kernel for a tiny classifier, the
/// compact kernel for a model of small layers, and a kernel that several operators use
/// through one specialised runner.
#[test]
fn the_compiled_plan_calls_fast_paths_alone_where_they_apply() {
    let Some(shared) = mote_testdata::shared_dir() else {
        return;
    };
    let plan = |model: &str, kernels: Kernels| {
        let golden = mote_testdata::golden(&shared, model);
        let out = temp_dir("plan");
        Embed::new(&golden.model, limits(4 << 20, 4 << 20))
            .compiled(true)
            .kernels(kernels)
            .write(&out)
            .unwrap();
        let text = std::fs::read_to_string(out.join(plan::PLAN_FILE)).unwrap();
        let _ = std::fs::remove_dir_all(&out);
        text
    };
    let count = |text: &str, call: &str| text.matches(call).count();

    // kws: five convolutions and four depthwise ones, all on their fast paths, each kind
    // through one shared runner reading the operators' records; the 64 → 12 classifier
    // (0.03% of the MACs) on the reference kernel, inline.
    let kws = plan("kws_ref_model", Kernels::CortexMDsp);
    assert_eq!(count(&kws, "    conv2d_fast(&MOTE_STEPS.s"), 5, "{kws}");
    assert_eq!(count(&kws, "    depthwise_conv2d_multichannel_fast(&MOTE_STEPS.s"), 4, "{kws}");
    assert_eq!(count(&kws, "fn conv2d_fast("), 1, "{kws}");
    assert_eq!(count(&kws, "_reference("), 0, "{kws}");
    assert_eq!(count(&kws, "select::conv2d_int8("), 0);
    assert_eq!(count(&kws, "select::depthwise_conv2d_int8("), 0);
    assert_eq!(count(&kws, " fully_connected::fully_connected_int8("), 1, "{kws}");
    // The runner folds what all its operators share (one batch, no dilation) and reads the
    // rest (the first convolution's stride is 2, the others' 1) from the record.
    let runner = &kws[kws.find("fn conv2d_fast(").unwrap()..];
    let runner = &runner[..runner.find("\n}").unwrap()];
    assert!(runner.contains("dilation_h: 1i32"), "{runner}");
    assert!(runner.contains("input_shape: [1, "), "{runner}");
    assert!(runner.contains("stride_h: s.params.stride_h"), "{runner}");

    // micro_speech: its one-channel depthwise layer is a convolution (the compiler's
    // rewrite) whose input shares its output's memory, on the fast path alone (`true`); its
    // classifier (5% of the MACs) keeps the DSP kernel, whose fast path needs no scratch.
    let micro = plan("micro_speech_quantized", Kernels::CortexMDsp);
    assert_eq!(count(&micro, "if !select::conv2d_int8_overlapping("), 1, "{micro}");
    assert_eq!(count(&micro, "scratch, true)"), 1, "{micro}");
    assert_eq!(count(&micro, "depthwise_conv2d_int8"), 0, "{micro}");
    assert_eq!(count(&micro, "if !select::fully_connected_int8_fast("), 1, "{micro}");
    assert_eq!(count(&micro, "select::fully_connected_int8("), 0, "{micro}");

    // hello_world: three layers of 16, 256 and 16 MACs, each a real share of the model, all
    // on the compact kernel for small layers (the pair assembly is not linked).
    let hello = plan("hello_world_int8", Kernels::CortexMDsp);
    assert_eq!(count(&hello, "select::fully_connected_int8_small("), 3, "{hello}");
    assert_eq!(count(&hello, "fully_connected_int8_fast("), 0, "{hello}");

    // Planned for the reference kernels (the Cortex-M0, or `MOTE_KERNELS=reference`), the
    // same layers run the reference kernel.
    let hello = plan("hello_world_int8", Kernels::Reference);
    assert_eq!(count(&hello, " fully_connected::fully_connected_int8("), 3, "{hello}");
    assert_eq!(count(&hello, "_small("), 0, "{hello}");

    // Planned for the reference kernels there is no scratch and the fast paths refuse: the
    // plan calls the reference kernels, the four 1×1 convolutions (each pixel to itself) as
    // the fully-connected one, the four depthwise layers through one shared runner.
    let reference = plan("kws_ref_model", Kernels::Reference);
    assert_eq!(count(&reference, "_fast("), 0, "{reference}");
    assert_eq!(count(&reference, " conv2d::conv2d_int8("), 1, "{reference}");
    assert_eq!(count(&reference, " fully_connected::fully_connected_int8("), 5, "{reference}");
    assert_eq!(
        count(&reference, "    depthwise_conv2d_reference(&MOTE_STEPS.s"),
        4,
        "{reference}"
    );
}

/// `MOTE_KERNELS`: unset or `auto` follows the target, `reference` forces the reference
/// kernels, anything else is an error naming the variable.
#[test]
fn mote_kernels_names_the_kernels_or_refuses() {
    use crate::firmware::kernels_named;
    let m4 = "thumbv7em-none-eabihf";
    let m0 = "thumbv6m-none-eabi";
    assert_eq!(kernels_named(None, m4).unwrap(), Kernels::CortexMDsp);
    assert_eq!(kernels_named(Some(" auto "), m4).unwrap(), Kernels::CortexMDsp);
    assert_eq!(kernels_named(Some("auto"), m0).unwrap(), Kernels::Reference);
    assert_eq!(kernels_named(Some("reference"), m4).unwrap(), Kernels::Reference);
    let e = kernels_named(Some("fast"), m4).unwrap_err().to_string();
    assert!(e.contains("MOTE_KERNELS") && e.contains("fast"), "{e}");
}
