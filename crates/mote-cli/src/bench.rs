//! `mote bench MODEL --board BOARD`: measures a model on an emulated microcontroller.
//!
//! It builds the board's firmware (`firmware/boards/<board>`, a Cargo workspace of its own)
//! with the model embedded through the `MOTE_*` variables that `mote_build::firmware`
//! reads, runs the ELF in QEMU with the runner from the board's `.cargo/config.toml`, and
//! combines the firmware's report line (instructions, stack, whether the outputs equal the
//! host runtime's) with the ELF's section and symbol sizes (flash for code and for the
//! model, RAM for the arena and the other statics). The board folder is the single source
//! of truth: adding a board is adding a folder.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags};

use crate::model::LoadedModel;

/// Arguments of `mote bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// A .tflite or .mote file.
    pub model: PathBuf,
    /// The emulated board: a folder under firmware/boards (mps2-an386, mps2-an505, microbit).
    #[arg(long)]
    pub board: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A golden folder (manifest.json, case_0.in0.npy, case_0.out0.npy, …) whose case 0 is
    /// the input; by default the model's own folder in the shared reference data, if any.
    #[arg(long, value_name = "DIR")]
    pub case_dir: Option<PathBuf>,
    /// Input .npy files, one per model input, instead of a golden case.
    #[arg(short, long = "input", value_name = "IN.npy")]
    pub inputs: Vec<PathBuf>,
    /// Timed inferences on the device; their instruction counts must all be equal.
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// Also measure each operator (interpreter only).
    #[arg(long)]
    pub per_op: bool,
    /// How the device runs the model: `interpreter` (the `.mote` artefact and mote's
    /// interpreter, any model) or `compiled` (the model compiled ahead of time into Rust that
    /// calls the kernels directly: no interpreter, no on-device validation, int8 models).
    #[arg(long, value_enum, default_value_t = DeviceRuntime::Interpreter)]
    pub runtime: DeviceRuntime,
    /// Which kernels the firmware links: `auto` (the Cortex-M DSP kernels on cores with the
    /// DSP extension, the reference kernels elsewhere) or `reference` (the reference kernels
    /// on any core: the smallest code, more instructions — micro_speech on the Cortex-M4,
    /// compiled: 10.8 KB of code and 5.16 M instructions instead of 17.2 KB and 1.17 M).
    /// `reference` needs `--runtime compiled`.
    #[arg(long, value_enum, default_value_t = DeviceKernels::Auto)]
    pub kernels: DeviceKernels,
    /// Give up on QEMU after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}

/// How the firmware runs the model (`--runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceRuntime {
    /// The `.mote` artefact, validated on the device and run by mote's interpreter.
    Interpreter,
    /// The model compiled ahead of time into Rust (`mote_plan.rs`).
    Compiled,
}

/// Which kernels the firmware links (`--kernels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKernels {
    /// The Cortex-M DSP kernels where the core has the DSP extension, else the reference.
    Auto,
    /// The reference kernels on any core.
    Reference,
}

impl DeviceKernels {
    /// The value of `MOTE_KERNELS` for the firmware's build.
    fn env_value(self) -> &'static str {
        match self {
            DeviceKernels::Auto => "auto",
            DeviceKernels::Reference => "reference",
        }
    }

    /// The kernels the build will plan for on `target` (as `mote_build::firmware` decides).
    fn for_target(self, target: &str) -> mote_compiler::Kernels {
        match self {
            DeviceKernels::Auto => mote_compiler::kernels_for_target(target),
            DeviceKernels::Reference => mote_compiler::Kernels::Reference,
        }
    }
}

impl DeviceRuntime {
    /// The value of `MOTE_RUNTIME` for the firmware's build.
    fn env_value(self) -> &'static str {
        match self {
            DeviceRuntime::Interpreter => "interpreter",
            DeviceRuntime::Compiled => "compiled",
        }
    }
}

/// What one bench run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub model: String,
    pub board: String,
    /// `interpreter` or `compiled`.
    pub runtime: DeviceRuntime,
    /// `auto` or `reference` (`--kernels`).
    pub kernels: DeviceKernels,
    /// Where the input came from: a golden case, files, or `deterministic`.
    pub input: String,
    /// Instructions per inference, exact.
    pub instructions: u64,
    pub runs: u64,
    /// Flash for the firmware's code and constants other than the model and test data.
    pub code_bytes: u64,
    /// Flash for the model: the `.mote` artefact, or the compiled model's constants.
    pub model_bytes: u64,
    /// Flash for the embedded test inputs and expected outputs (not part of a product).
    pub test_data_bytes: u64,
    /// The whole flash image (code + model + test data).
    pub flash_bytes: u64,
    pub arena_bytes: u64,
    /// Stack high-water mark of the whole firmware run (start-up, loading and validating the
    /// model, the inferences, comparing the outputs): what `ram_bytes` counts.
    pub stack_bytes: u64,
    /// Deepest stack of one inference alone (`Interpreter::invoke` and below), which an
    /// application adds to its own stack; 0 from firmware that does not report it.
    pub inference_stack_bytes: u64,
    /// RAM statics other than the arena.
    pub statics_bytes: u64,
    /// arena + stack + statics.
    pub ram_bytes: u64,
    /// The device's outputs equal the host runtime's (and those equal the golden outputs,
    /// when the input is a golden case).
    pub outputs_match: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_matches_golden: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_op: Vec<OpCount>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpCount {
    pub index: u64,
    pub op: String,
    pub instructions: u64,
}

/// Runs `mote bench` and prints its report.
pub fn run(args: &BenchArgs) -> Result<()> {
    let report = bench(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    if !report.outputs_match {
        bail!("the outputs on {} do not match", report.board);
    }
    Ok(())
}

/// The firmware folder: `MOTE_FIRMWARE_DIR`, or `firmware/` in the repository this binary
/// was built from.
pub fn firmware_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("MOTE_FIRMWARE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware"),
    };
    if !dir.join("Cargo.toml").is_file() || !dir.join("boards").is_dir() {
        bail!(
            "mote's firmware folder was not found at {} (set MOTE_FIRMWARE_DIR to the repository's firmware/ folder)",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// The boards: folders under `firmware/boards` with a `Cargo.toml`.
pub fn boards(firmware: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let dir = firmware.join("boards");
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// A board's Rust target and QEMU command, from its `.cargo/config.toml`.
struct BoardConfig {
    target: String,
    runner: Vec<String>,
}

fn board_config(board_dir: &Path) -> Result<BoardConfig> {
    let path = board_dir.join(".cargo/config.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    let target = table
        .get("build")
        .and_then(|b| b.get("target"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| anyhow!("{}: no build.target", path.display()))?
        .to_string();
    // Cargo reads `[target.thumbv8m.main-none-eabihf]` with the triple's dot as a table
    // separator (and does not find a quoted triple), so walk the parts.
    let targets = table.get("target");
    let runner = targets
        .and_then(|t| t.get(&target))
        .or_else(|| {
            target
                .split('.')
                .try_fold(targets?, |table, part| table.get(part))
        })
        .and_then(|t| t.get("runner"))
        .ok_or_else(|| anyhow!("{}: no runner for {target}", path.display()))?;
    let runner: Vec<String> = match runner {
        toml::Value::String(s) => s.split_whitespace().map(String::from).collect(),
        toml::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => bail!(
            "{}: the runner is neither a string nor a list",
            path.display()
        ),
    };
    if runner.is_empty() {
        bail!("{}: the runner is empty", path.display());
    }
    Ok(BoardConfig { target, runner })
}

/// Whether `program` can be run: a path that exists, or a name found on `PATH`.
fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Where the test inputs come from, as `MOTE_*` variables for the firmware build.
#[derive(Debug, Clone, PartialEq)]
struct InputChoice {
    description: String,
    inputs: Vec<PathBuf>,
    golden_outputs: Vec<PathBuf>,
}

/// Case 0's input and output files in a golden folder, in order.
fn golden_case(dir: &Path) -> Result<InputChoice> {
    let numbered = |kind: &str| -> Vec<PathBuf> {
        (0..)
            .map(|i| dir.join(format!("case_0.{kind}{i}.npy")))
            .take_while(|p| p.is_file())
            .collect()
    };
    let inputs = numbered("in");
    if inputs.is_empty() {
        bail!("{} has no case_0.in0.npy", dir.display());
    }
    Ok(InputChoice {
        description: format!("golden case 0 of {}", dir.display()),
        inputs,
        golden_outputs: numbered("out"),
    })
}

/// The golden folder for `model`: the folder under `<shared>/golden` whose `manifest.json`
/// names the model's path under `<shared>/models`, for a `shared` folder that holds the
/// model (or `MOTE_SHARED`).
pub fn find_golden_dir(model: &Path) -> Option<PathBuf> {
    let model = model.canonicalize().ok()?;
    let mut roots: Vec<PathBuf> = model
        .ancestors()
        .filter(|a| a.join("golden").is_dir() && a.join("models").is_dir())
        .map(Path::to_path_buf)
        .collect();
    if let Some(shared) = std::env::var_os("MOTE_SHARED") {
        roots.push(PathBuf::from(shared));
    }
    for root in roots {
        let root = root.canonicalize().unwrap_or(root);
        let Ok(relative) = model.strip_prefix(root.join("models")) else {
            continue;
        };
        let relative = relative.to_string_lossy().replace('\\', "/");
        let Ok(entries) = std::fs::read_dir(root.join("golden")) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
                continue;
            };
            let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if manifest["model"].as_str() == Some(relative.as_str()) {
                return Some(dir);
            }
        }
    }
    None
}

fn choose_inputs(args: &BenchArgs) -> Result<InputChoice> {
    let absolute = |p: &Path| -> Result<PathBuf> {
        p.canonicalize()
            .with_context(|| format!("reading {}", p.display()))
    };
    if !args.inputs.is_empty() {
        return Ok(InputChoice {
            description: args
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            inputs: args
                .inputs
                .iter()
                .map(|p| absolute(p))
                .collect::<Result<_>>()?,
            golden_outputs: Vec::new(),
        });
    }
    if let Some(dir) = &args.case_dir {
        return golden_case(&absolute(dir)?);
    }
    if let Some(dir) = find_golden_dir(&args.model) {
        return golden_case(&dir);
    }
    Ok(InputChoice {
        description: "deterministic".into(),
        inputs: Vec::new(),
        golden_outputs: Vec::new(),
    })
}

/// Builds the firmware, runs it and measures the ELF.
pub fn bench(args: &BenchArgs) -> Result<BenchReport> {
    let firmware = firmware_dir()?;
    let boards = boards(&firmware)?;
    if !boards.contains(&args.board) {
        bail!(
            "unknown board `{}` (boards: {})",
            args.board,
            boards.join(", ")
        );
    }
    let board_dir = firmware.join("boards").join(&args.board);
    let config = board_config(&board_dir)?;
    if !on_path(&config.runner[0]) {
        bail!(
            "{} was not found: install QEMU with `apt-get install qemu-system-arm`",
            config.runner[0]
        );
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.kernels == DeviceKernels::Reference && args.runtime != DeviceRuntime::Compiled {
        bail!(
            "--kernels reference needs --runtime compiled: the interpreter links the core's own \
             kernels whatever the plan"
        );
    }
    let model_path = args
        .model
        .canonicalize()
        .with_context(|| format!("reading {}", args.model.display()))?;
    // Compiled here as well, for the board's kernels as its build does, to know which
    // artefact the firmware must report.
    let loaded = LoadedModel::load_for(
        &model_path,
        args.kernels.for_target(&config.target),
    )?;
    let checksum = u32::from_le_bytes([
        loaded.bytes[12],
        loaded.bytes[13],
        loaded.bytes[14],
        loaded.bytes[15],
    ]);
    let float32 = has_float32_tensors(&loaded.bytes)?;
    if args.runtime == DeviceRuntime::Compiled {
        if float32 {
            bail!("{} has float32 tensors: the compiled runtime runs int8 models (use --runtime interpreter)", args.model.display());
        }
        if args.per_op {
            bail!("--per-op needs --runtime interpreter: a compiled model has no operator loop to measure");
        }
    }
    let choice = choose_inputs(args)?;
    let name = model_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();

    // Another `mote bench` for the same board may rebuild the ELF between our build and our
    // copy of it; the checksum in the report tells, and we build again.
    for attempt in 0..3 {
        eprintln!(
            "building the {} firmware for {} ({})…",
            args.board, name, choice.description
        );
        let elf = build_firmware(
            &firmware,
            &board_dir,
            &config,
            &model_path,
            &choice,
            args,
            float32,
        )?;
        let elf_copy = std::env::temp_dir().join(format!(
            "mote-bench-{}-{}.elf",
            std::process::id(),
            args.board
        ));
        std::fs::copy(&elf, &elf_copy).with_context(|| format!("copying {}", elf.display()))?;
        eprintln!("running it in QEMU ({})…", config.runner[0]);
        let result =
            run_qemu(&config, &elf_copy, Duration::from_secs(args.timeout)).and_then(|output| {
                let sizes = elf_sizes(&elf_copy)?;
                Ok((output, sizes))
            });
        let _ = std::fs::remove_file(&elf_copy);
        let (output, sizes) = result?;
        let report = parse_report(&output)?;
        if report.checksum != checksum {
            if attempt < 2 {
                continue;
            }
            bail!(
                "the firmware ran a different model (checksum {:#010x}, expected {checksum:#010x}): is another `mote bench` using the {} board?",
                report.checksum,
                args.board
            );
        }
        let arena = report.arena_bytes;
        let test_data = sizes.test_data_bytes;
        return Ok(BenchReport {
            model: name,
            board: args.board.clone(),
            runtime: args.runtime,
            kernels: args.kernels,
            input: choice.description,
            instructions: report.instructions,
            runs: report.runs,
            code_bytes: sizes
                .flash_bytes
                .saturating_sub(sizes.model_bytes)
                .saturating_sub(test_data),
            model_bytes: sizes.model_bytes,
            test_data_bytes: test_data,
            flash_bytes: sizes.flash_bytes,
            arena_bytes: arena,
            stack_bytes: report.stack_bytes,
            inference_stack_bytes: report.inference_stack_bytes,
            statics_bytes: sizes.ram_statics_bytes.saturating_sub(arena),
            ram_bytes: sizes.ram_statics_bytes.max(arena) + report.stack_bytes,
            outputs_match: report.outputs_match,
            host_matches_golden: report.host_matches_golden,
            per_op: report.per_op,
        });
    }
    unreachable!("the loop returns or fails")
}

/// Whether the artefact has float32 tensors: its firmware needs the board's `float32`
/// feature (the runtime's float kernels, which int8 firmware leaves out).
fn has_float32_tensors(bytes: &[u8]) -> Result<bool> {
    let aligned = mote_format::AlignedBytes::new(bytes);
    let model = mote_format::Model::from_bytes(aligned.as_slice())?;
    Ok((0..model.tensor_count())
        .filter_map(|t| model.tensor(t))
        .any(|t| t.dtype == mote_format::DType::Float32))
}

/// `cargo build --release` in the board's folder with the model's variables (and the board's
/// `float32` feature if `float32`); returns the ELF.
fn build_firmware(
    firmware: &Path,
    board_dir: &Path,
    config: &BoardConfig,
    model: &Path,
    choice: &InputChoice,
    args: &BenchArgs,
    float32: bool,
) -> Result<PathBuf> {
    let join = |paths: &[PathBuf]| -> Result<String> {
        Ok(std::env::join_paths(paths)
            .context("an input path contains the path separator")?
            .to_string_lossy()
            .into_owned())
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // A board's firmware binary is named after its folder; other binaries of the board (the
    // kernels' self-test) are not built.
    let board_bin = board_dir
        .file_name()
        .context("the board folder has no name")?
        .to_string_lossy()
        .into_owned();
    let mut child = Command::new(cargo)
        .current_dir(board_dir)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
            "--bin",
            &board_bin,
        ])
        .args(float32.then_some(["--features", "float32"]).into_iter().flatten())
        .env("MOTE_MODEL", model)
        .env("MOTE_INPUTS", join(&choice.inputs)?)
        .env("MOTE_GOLDEN_OUTPUTS", join(&choice.golden_outputs)?)
        .env("MOTE_RUNS", args.runs.to_string())
        .env("MOTE_PER_OP", if args.per_op { "1" } else { "0" })
        .env("MOTE_RUNTIME", args.runtime.env_value())
        .env("MOTE_KERNELS", args.kernels.env_value())
        // The firmware has its own target folder: a shared one would be locked by a
        // surrounding `cargo test` (a deadlock), and host flags such as
        // `-C target-cpu=native` break a cross build.
        .env("CARGO_TARGET_DIR", firmware.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running cargo to build the firmware (is cargo on PATH?)")?;

    // Cargo's progress goes to our stderr as it comes; everything is kept for the error.
    let stderr = child.stderr.take().context("cargo's stderr")?;
    let relay = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if line.trim_start().starts_with("Compiling") {
                eprintln!("{line}");
            }
            kept.push(line);
        }
        kept
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("cargo's stdout")?
        .read_to_string(&mut stdout)?;
    let status = child.wait()?;
    let log = relay.join().unwrap_or_default();
    if !status.success() {
        // The build script's message for a model that does not fit, without cargo's prefix.
        if let Some(line) = log.iter().find(|l| l.contains("does not fit board")) {
            let message = line.find("model `").map_or(line.as_str(), |i| &line[i..]);
            bail!("{message}");
        }
        let hint = if log
            .iter()
            .any(|l| l.contains("target may not be installed"))
        {
            format!(
                "\n(add the target with `rustup target add {}`)",
                config.target
            )
        } else {
            String::new()
        };
        let tail: Vec<&str> = log
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(String::as_str)
            .collect();
        bail!(
            "building the firmware in {} failed:\n{}{hint}",
            board_dir.display(),
            tail.join("\n")
        );
    }
    // The board's binary is the one executable cargo reports.
    let elf = stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            anyhow!(
                "cargo built no executable in {} (firmware folder {})",
                board_dir.display(),
                firmware.display()
            )
        })?;
    Ok(elf)
}

/// Runs the runner with the ELF; returns its stdout. A failure exit is not an error here
/// (the report line says what failed); no report line is.
fn run_qemu(config: &BoardConfig, elf: &Path, timeout: Duration) -> Result<String> {
    let mut child = Command::new(&config.runner[0])
        .args(&config.runner[1..])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", config.runner[0]))?;
    let mut out = child.stdout.take().context("QEMU's stdout")?;
    let mut err = child.stderr.take().context("QEMU's stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "QEMU did not finish within {} s (raise it with --timeout)",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if !stdout.lines().any(|l| l.starts_with("mote-bench v=")) {
        let errors: Vec<&str> = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        bail!(
            "the firmware gave no report (QEMU exit status {}):\n{}",
            status.code().map_or("none".into(), |c| c.to_string()),
            errors.join("\n")
        );
    }
    Ok(stdout)
}

/// The firmware's report line and per-operator lines.
#[derive(Debug, Clone, PartialEq)]
struct DeviceReport {
    checksum: u32,
    runs: u64,
    instructions: u64,
    stack_bytes: u64,
    inference_stack_bytes: u64,
    arena_bytes: u64,
    outputs_match: bool,
    host_matches_golden: Option<bool>,
    per_op: Vec<OpCount>,
}

fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

fn parse_report(stdout: &str) -> Result<DeviceReport> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mote-bench v="))
        .ok_or_else(|| anyhow!("no report line in the firmware's output"))?;
    let f = fields(line);
    let number = |key: &str| -> Result<u64> {
        f.get(key)
            .ok_or_else(|| anyhow!("the report line has no `{key}`: {line}"))?
            .parse()
            .with_context(|| format!("`{key}` in the report line: {line}"))
    };
    let checksum = f
        .get("checksum")
        .and_then(|c| c.strip_prefix("0x"))
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| anyhow!("the report line has no checksum: {line}"))?;
    let per_op = stdout
        .lines()
        .filter(|l| l.starts_with("mote-op "))
        .map(|l| {
            let f = fields(l);
            Ok(OpCount {
                index: f.get("index").and_then(|v| v.parse().ok()).unwrap_or(0),
                op: f.get("op").map(|v| v.to_string()).unwrap_or_default(),
                instructions: f
                    .get("instructions")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow!("bad per-operator line: {l}"))?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(DeviceReport {
        checksum,
        runs: number("runs")?,
        instructions: number("instructions")?,
        stack_bytes: number("stack_bytes")?,
        // Optional: peers' firmware reports only the whole program's stack.
        inference_stack_bytes: number("inference_stack_bytes").unwrap_or(0),
        arena_bytes: number("arena_bytes")?,
        outputs_match: number("outputs_match")? == 1,
        host_matches_golden: f.get("host_matches_golden").map(|v| *v == "1"),
        per_op,
    })
}

/// Sizes read from the ELF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfSizes {
    /// Allocated sections with contents: what is written to flash (`.data`'s initial
    /// values included).
    pub flash_bytes: u64,
    /// Writable allocated sections (`.data`, `.bss`, `.uninit`): RAM statics, arena
    /// included.
    pub ram_statics_bytes: u64,
    /// The `MOTE_MODEL` symbol, and with the compiled runtime also `MOTE_STEPS` (the
    /// operators' records: offsets, shapes and parameters, what a `.mote` artefact's
    /// operator table holds for the interpreter).
    pub model_bytes: u64,
    /// The `MOTE_TEST_INPUT_*` and `MOTE_EXPECTED_OUTPUT_*` symbols.
    pub test_data_bytes: u64,
}

const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;

pub fn elf_sizes(path: &Path) -> Result<ElfSizes> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file =
        object::File::parse(&*data).with_context(|| format!("parsing {}", path.display()))?;
    let mut sizes = ElfSizes {
        flash_bytes: 0,
        ram_statics_bytes: 0,
        model_bytes: 0,
        test_data_bytes: 0,
    };
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            continue;
        };
        if sh_flags & SHF_ALLOC == 0 {
            continue;
        }
        // NOBITS sections (.bss, .uninit) have no bytes in the file, hence none in flash.
        if section.file_range().is_some() {
            sizes.flash_bytes += section.size();
        }
        if sh_flags & SHF_WRITE != 0 {
            sizes.ram_statics_bytes += section.size();
        }
    }
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else { continue };
        if name == "MOTE_MODEL" || name == "MOTE_STEPS" {
            sizes.model_bytes += symbol.size();
        } else if name.starts_with("MOTE_TEST_INPUT_") || name.starts_with("MOTE_EXPECTED_OUTPUT_")
        {
            sizes.test_data_bytes += symbol.size();
        }
    }
    if sizes.model_bytes == 0 {
        bail!(
            "{} has no MOTE_MODEL symbol: not a mote firmware?",
            path.display()
        );
    }
    Ok(sizes)
}

fn print_table(r: &BenchReport) {
    let n = |v: u64| {
        let s = v.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    println!(
        "{} on {}, {}{} ({})",
        r.model,
        r.board,
        r.runtime.env_value(),
        if r.kernels == DeviceKernels::Reference {
            ", reference kernels"
        } else {
            ""
        },
        r.input
    );
    println!(
        "  instructions per inference  {:>12}  (exact; identical on {} run{})",
        n(r.instructions),
        r.runs,
        if r.runs == 1 { "" } else { "s" }
    );
    println!(
        "  flash                       {:>12}  bytes: code {} + model {}{}",
        n(r.flash_bytes),
        n(r.code_bytes),
        n(r.model_bytes),
        if r.test_data_bytes > 0 {
            format!(" + test data {}", n(r.test_data_bytes))
        } else {
            String::new()
        }
    );
    println!(
        "  RAM                         {:>12}  bytes: arena {} + stack {} + statics {}",
        n(r.ram_bytes),
        n(r.arena_bytes),
        n(r.stack_bytes),
        n(r.statics_bytes)
    );
    if r.inference_stack_bytes > 0 {
        println!(
            "  stack of one inference      {:>12}  bytes (of the stack above: invoke and below)",
            n(r.inference_stack_bytes)
        );
    }
    let golden = match r.host_matches_golden {
        Some(true) => " and the golden outputs",
        Some(false) => ", but the host runtime's differ from the golden outputs",
        None => "",
    };
    println!(
        "  outputs                     {:>12}  {}",
        if r.outputs_match { "match" } else { "DIFFER" },
        if r.outputs_match {
            format!("the host runtime's{golden}")
        } else {
            format!("from the host runtime's{golden}")
        }
    );
    if !r.per_op.is_empty() {
        println!();
        println!("  {:>3}  {:<20} {:>12}", "#", "operator", "instructions");
        for op in &r.per_op {
            println!(
                "  {:>3}  {:<20} {:>12}",
                op.index,
                op.op,
                n(op.instructions)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_report_and_per_operator_lines() {
        let out = "mote-op index=0 op=FULLY_CONNECTED instructions=120\n\
                   mote-op index=1 op=SOFTMAX instructions=30\n\
                   mote-bench v=1 board=microbit model=m checksum=0x92b02082 runs=2 instructions=151 \
                   instructions_max=151 timer_overhead=3 calibration=ok stack_bytes=2172 \
                   inference_stack_bytes=612 arena_bytes=32 host_matches_golden=1 outputs_match=1\n";
        let r = parse_report(out).unwrap();
        assert_eq!(r.checksum, 0x92b0_2082);
        assert_eq!((r.runs, r.instructions), (2, 151));
        assert_eq!((r.stack_bytes, r.arena_bytes), (2172, 32));
        assert_eq!(r.inference_stack_bytes, 612);
        assert!(r.outputs_match);
        assert_eq!(r.host_matches_golden, Some(true));
        assert_eq!(r.per_op.len(), 2);
        assert_eq!(r.per_op[1].op, "SOFTMAX");
        assert_eq!(r.per_op[1].instructions, 30);

        let failed = out.replace("outputs_match=1", "outputs_match=0");
        assert!(!parse_report(&failed).unwrap().outputs_match);
        assert!(parse_report("mote-bench: error: hard fault\n").is_err());
    }

    #[test]
    fn finds_a_models_golden_folder_in_the_shared_data() {
        let Some(shared) = mote_testdata::shared_dir() else {
            return;
        };
        let model = shared.join("models/tflm_examples/micro_speech/micro_speech_quantized.tflite");
        let dir = find_golden_dir(&model).unwrap();
        assert_eq!(dir.file_name().unwrap(), "micro_speech_quantized");
        let case = golden_case(&dir).unwrap();
        assert_eq!(case.inputs, vec![dir.join("case_0.in0.npy")]);
        assert_eq!(case.golden_outputs, vec![dir.join("case_0.out0.npy")]);
        assert!(find_golden_dir(Path::new("Cargo.toml")).is_none());
    }

    #[test]
    fn reads_every_board_folder() {
        let Ok(firmware) = firmware_dir() else {
            return;
        };
        let names = boards(&firmware).unwrap();
        for expected in ["microbit", "mps2-an386", "mps2-an505"] {
            assert!(names.iter().any(|n| n == expected), "{names:?}");
        }
        for name in &names {
            let config = board_config(&firmware.join("boards").join(name)).unwrap();
            assert!(
                config.target.starts_with("thumbv"),
                "{name}: {}",
                config.target
            );
            assert_eq!(config.runner[0], "qemu-system-arm", "{name}");
            for arg in ["-icount", "shift=7", "-kernel"] {
                assert!(config.runner.iter().any(|a| a == arg), "{name}: {arg}");
            }
        }
    }
}
