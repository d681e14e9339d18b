//! The conventions of mote's own firmware (`firmware/boards/*`), shared by every board's
//! `build.rs` through [`build_script`]:
//!
//! - `MOTE_MODEL` — the model to embed (`.tflite` or `.mote`; a relative path is taken from
//!   the board's crate folder). Unset: TFLM's hello_world int8 model from the shared reference
//!   folder, with its golden case 0, so that a plain `cargo build` works.
//! - `MOTE_INPUTS` — test input `.npy` files, one per model input, separated by `:`. Unset or
//!   empty: deterministic inputs (see [`crate::deterministic_input`]).
//! - `MOTE_GOLDEN_OUTPUTS` — reference outputs (`.npy`, e.g. TFLM's) that the host runtime's
//!   outputs are checked against at build time.
//! - `MOTE_RUNS` — timed inferences (default 1); `MOTE_PER_OP=1` — also measure each operator.
//! - `MOTE_SHARED` — the shared reference folder (default: a `shared` folder beside one of
//!   the board crate's ancestors).
//! - `MOTE_RUNTIME` — `interpreter` (default: the `.mote` artefact and mote's interpreter) or
//!   `compiled`: the model compiled ahead of time into Rust ([`crate::plan`], `mote_plan.rs`),
//!   announced to the firmware as `cfg(mote_compiled)`.
//! - `MOTE_KERNELS` — `auto` (default: the Cortex-M DSP kernels on cores with the DSP
//!   extension, the reference kernels elsewhere) or `reference`: the reference kernels on
//!   any core, the smallest code with `MOTE_RUNTIME=compiled` (micro_speech on the Cortex-M4:
//!   10.8 KB instead of 17.2 KB, 5.16 M instructions instead of 1.17 M; the interpreter links
//!   the core's own kernels whatever the plan).
//!
//! The board's `memory.x` gives flash and RAM; it is copied into `OUT_DIR` with a linker
//! assertion that the statics leave the stack reserve free, so the real link checks what the
//! fit check estimated.

use std::path::{Path, PathBuf};

use crate::{BoardLimits, BuildError, Embed, Embedded, TestData, TestInputs};

pub const ENV_MODEL: &str = "MOTE_MODEL";
pub const ENV_INPUTS: &str = "MOTE_INPUTS";
pub const ENV_GOLDEN_OUTPUTS: &str = "MOTE_GOLDEN_OUTPUTS";
pub const ENV_RUNS: &str = "MOTE_RUNS";
pub const ENV_PER_OP: &str = "MOTE_PER_OP";
pub const ENV_SHARED: &str = "MOTE_SHARED";
pub const ENV_RUNTIME: &str = "MOTE_RUNTIME";
pub const ENV_KERNELS: &str = "MOTE_KERNELS";

/// The kernels `MOTE_KERNELS` asks for on the Rust `target`.
pub fn kernels_from_env(target: &str) -> Result<crate::Kernels, BuildError> {
    kernels_named(std::env::var(ENV_KERNELS).ok().as_deref(), target)
}

/// The kernels a `MOTE_KERNELS` value (`None`: unset) names on the Rust `target`.
pub fn kernels_named(value: Option<&str>, target: &str) -> Result<crate::Kernels, BuildError> {
    match value.map(str::trim) {
        None | Some("") | Some("auto") => Ok(crate::kernels_for_target(target)),
        Some("reference") => Ok(crate::Kernels::Reference),
        Some(other) => Err(BuildError::Env {
            var: "MOTE_KERNELS",
            message: format!("`{other}` is neither `auto` nor `reference`"),
        }),
    }
}

/// Whether `MOTE_RUNTIME` asks for the model compiled ahead of time.
pub fn compiled_from_env() -> Result<bool, BuildError> {
    match std::env::var(ENV_RUNTIME).ok().as_deref().map(str::trim) {
        None | Some("") | Some("interpreter") => Ok(false),
        Some("compiled") => Ok(true),
        Some(other) => Err(BuildError::Env {
            var: "MOTE_RUNTIME",
            message: format!("`{other}` is neither `interpreter` nor `compiled`"),
        }),
    }
}

/// The model used when `MOTE_MODEL` is unset, under the shared folder's `models/`.
pub const DEFAULT_MODEL: &str = "tflm_examples/hello_world/hello_world_int8.tflite";
/// Its golden folder, under the shared folder's `golden/`.
pub const DEFAULT_GOLDEN: &str = "hello_world_int8";

/// What a board's `build.rs` states about the firmware besides its `memory.x`.
#[derive(Debug, Clone, Copy)]
pub struct Firmware<'a> {
    /// The board's name, for messages.
    pub board: &'a str,
    /// The contents of the board's `memory.x` (`FLASH` and `RAM` regions).
    pub memory_x: &'a str,
    pub stack_reserve: usize,
    pub code_estimate: usize,
    pub statics_estimate: usize,
}

/// The `FLASH` and `RAM` lengths in a `memory.x`, in bytes.
pub fn memory_lengths(memory_x: &str) -> Result<(usize, usize), String> {
    // Comments out, so that a commented-out region is not read.
    let mut text = String::new();
    let mut rest = memory_x;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start..]
            .find("*/")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    text.push_str(rest);
    let length = |region: &str| -> Result<usize, String> {
        // A region entry is `NAME (attrs) : ORIGIN = …, LENGTH = …`, ending at a line end or `}`.
        let entry = text
            .match_indices(region)
            .filter(|(i, _)| {
                let before = text[..*i].chars().next_back();
                let after = text[i + region.len()..].trim_start().chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && matches!(after, Some(':' | '('))
            })
            .map(|(i, _)| {
                let e = &text[i..];
                &e[..e.find(['\n', '}']).unwrap_or(e.len())]
            })
            .find(|e| e.contains("LENGTH"))
            .ok_or_else(|| format!("memory.x has no {region} region with a LENGTH"))?;
        let value = entry
            .split("LENGTH")
            .nth(1)
            .and_then(|v| v.split('=').nth(1))
            .map(|v| v.split(',').next().unwrap_or("").trim())
            .ok_or_else(|| format!("memory.x: cannot read the {region} LENGTH"))?;
        parse_size(value).ok_or_else(|| format!("memory.x: cannot read {region} LENGTH `{value}`"))
    };
    Ok((length("FLASH")?, length("RAM")?))
}

/// `256K`, `4M`, `0x4000`, `16384`.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1024),
        b'M' | b'm' => (&text[..text.len() - 1], 1024 * 1024),
        _ => (text, 1),
    };
    let n = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => usize::from_str_radix(&hex.replace('_', ""), 16).ok()?,
        None => digits.replace('_', "").parse().ok()?,
    };
    n.checked_mul(unit)
}

/// The shared reference folder: `MOTE_SHARED`, or a `shared` folder (holding `models/`)
/// beside `start` or one of its ancestors.
pub fn shared_dir(start: &Path) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(ENV_SHARED) {
        return Some(PathBuf::from(d));
    }
    start
        .ancestors()
        .map(|a| a.join("shared"))
        .find(|d| d.join("models").is_dir())
}

/// The model and test data chosen by the environment (see the module's documentation);
/// relative paths are taken from `base`.
pub fn config_from_env(base: &Path) -> Result<(PathBuf, TestData), BuildError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let paths = |name: &str| -> Vec<PathBuf> {
        var(name)
            .map(|v| std::env::split_paths(&v).map(|p| base.join(p)).collect())
            .unwrap_or_default()
    };
    let runs = match var(ENV_RUNS) {
        None => 1,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(BuildError::Env {
                    var: "MOTE_RUNS",
                    message: format!("`{v}` is not a positive number"),
                })
            }
        },
    };
    let per_op = matches!(var(ENV_PER_OP).as_deref(), Some("1" | "true" | "yes"));
    let mut test = TestData {
        inputs: TestInputs::Deterministic,
        golden_outputs: paths(ENV_GOLDEN_OUTPUTS),
        runs,
        per_op,
    };
    let inputs = paths(ENV_INPUTS);
    if !inputs.is_empty() {
        test.inputs = TestInputs::Files(inputs);
    }
    let model = match var(ENV_MODEL) {
        Some(m) => base.join(m),
        None => {
            let shared = shared_dir(base).ok_or_else(|| BuildError::Env {
                var: "MOTE_MODEL",
                message: format!(
                    "unset, and the default model ({DEFAULT_MODEL}) was not found: no shared \
                     folder beside {} or its parents (set MOTE_MODEL or MOTE_SHARED)",
                    base.display()
                ),
            })?;
            let golden = shared.join("golden").join(DEFAULT_GOLDEN);
            if test.inputs == TestInputs::Deterministic && golden.join("case_0.in0.npy").is_file() {
                test.inputs = TestInputs::Files(vec![golden.join("case_0.in0.npy")]);
                if test.golden_outputs.is_empty() {
                    test.golden_outputs = vec![golden.join("case_0.out0.npy")];
                }
            }
            shared.join("models").join(DEFAULT_MODEL)
        }
    };
    Ok((model, test))
}

/// The `memory.x` to link with: the board's, plus the stack-reserve assertion.
pub fn linker_memory_x(memory_x: &str, stack_reserve: usize) -> String {
    format!(
        "{memory_x}\n\
         /* Added by mote-build: the RAM left above the statics must hold the stack reserve\n   \
         that the build-time fit check assumed. */\n\
         _mote_stack_reserve = {stack_reserve};\n\
         ASSERT(ORIGIN(RAM) + LENGTH(RAM) - __sheap >= _mote_stack_reserve,\n       \
         \"mote: the statics (arena included) leave less RAM than the stack reserve\");\n"
    )
}

/// Everything a board's `build.rs` does: reads the environment, embeds the model (failing
/// the build with one clear message when it does not fit), writes the linker's `memory.x`
/// into `OUT_DIR`, and tells cargo when to run again. Returns what was embedded; on error,
/// the caller panics with the message (the `build.rs` convention), after this function has
/// printed it as `cargo:warning` lines.
pub fn build_script(fw: &Firmware) -> Result<Embedded, BuildError> {
    for var in [
        ENV_MODEL,
        ENV_INPUTS,
        ENV_GOLDEN_OUTPUTS,
        ENV_RUNS,
        ENV_PER_OP,
        ENV_SHARED,
        ENV_RUNTIME,
        ENV_KERNELS,
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rustc-check-cfg=cfg(mote_compiled)");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    let result = (|| -> Result<Embedded, BuildError> {
        let base = std::env::current_dir().map_err(|source| BuildError::Io {
            path: PathBuf::from("."),
            source,
        })?;
        let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::Env {
            var: "OUT_DIR",
            message: "unset: build_script runs from a build.rs".into(),
        })?);
        let (model, test) = config_from_env(&base)?;
        let compiled = compiled_from_env()?;
        if compiled && test.per_op {
            return Err(BuildError::Env {
                var: "MOTE_PER_OP",
                message: "per-operator figures need the interpreter (MOTE_RUNTIME=interpreter): \
                          the compiled runtime has no operator loop to measure"
                    .into(),
            });
        }
        println!("cargo:rerun-if-changed={}", model.display());
        let files = match &test.inputs {
            TestInputs::Files(f) => f.clone(),
            _ => Vec::new(),
        };
        for f in files.iter().chain(&test.golden_outputs) {
            println!("cargo:rerun-if-changed={}", f.display());
        }
        let (flash_bytes, ram_bytes) =
            memory_lengths(fw.memory_x).map_err(|message| BuildError::Env {
                var: "memory.x",
                message,
            })?;
        let limits = BoardLimits {
            name: fw.board.to_string(),
            flash_bytes,
            ram_bytes,
            stack_reserve: fw.stack_reserve,
            code_estimate: fw.code_estimate,
            statics_estimate: fw.statics_estimate,
        };
        let embedded = Embed::new(&model, limits)
            .test_data(test)
            .compiled(compiled)
            .kernels(kernels_from_env(&std::env::var("TARGET").unwrap_or_default())?)
            .write(&out_dir)?;
        let memory = out_dir.join("memory.x");
        crate::write_if_changed(
            &memory,
            linker_memory_x(fw.memory_x, fw.stack_reserve).as_bytes(),
        )?;
        println!("cargo:rustc-link-search={}", out_dir.display());
        if compiled {
            println!("cargo:rustc-cfg=mote_compiled");
        }
        Ok(embedded)
    })();
    if let Err(e) = &result {
        for line in e.to_string().lines() {
            println!("cargo:warning={line}");
        }
    }
    result
}
