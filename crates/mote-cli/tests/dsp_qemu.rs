//! Checks that run on the emulated Cortex-M4F (mps2-an386) and compare with the host:
//!
//! - mote-dsp's features are the same on the device as on the host: the `dsp-check`
//!   firmware runs every front end of `mote_dsp::check` on the deterministic reference clip
//!   in QEMU and prints the results in full; the test computes them on the host and requires
//!   every line equal (int8 micro_speech features, float log-mel, MFCC and vibration features
//!   as bit patterns);
//! - the DSP kernels equal the reference kernels on the device: the `kernels-self-test`
//!   firmware runs random cases of every optimized kernel against the reference kernel
//!   compiled into the same firmware (`mote_kernels::dsp::self_test`) and exits with failure
//!   on any difference.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target; without them the tests say
//! why and pass, unless `MOTE_REQUIRE_QEMU` is set (as `.ci/run` does).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mote_dsp::check::{reference_features, ReferenceFeatures};
use mote_dsp::MicroFrontend;

const TARGET: &str = "thumbv7em-none-eabihf";
const QEMU_TIMEOUT: Duration = Duration::from_secs(300);

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware")
}

/// `true` when QEMU and the target are there; `false` (after saying why) to skip; a panic
/// when `MOTE_REQUIRE_QEMU` is set and one is missing.
fn prerequisites() -> bool {
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let sysroot = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let target = sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).is_dir());
    let mut missing = Vec::new();
    if !qemu {
        missing.push("qemu-system-arm (apt-get install qemu-system-arm)".to_string());
    }
    if !target {
        missing.push(format!("the {TARGET} target (rustup target add {TARGET})"));
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing {}", missing.join(", "));
    if std::env::var_os("MOTE_REQUIRE_QEMU").is_some() {
        panic!("{why}, and MOTE_REQUIRE_QEMU is set");
    }
    eprintln!("skipped: {why} (set MOTE_REQUIRE_QEMU to make this a failure)");
    false
}

/// Builds the mps2-an386 board's binary `bin` as `mote bench` builds boards (their own
/// target folder, without host flags) and returns the ELF.
fn build_board_bin(bin: &str) -> PathBuf {
    let firmware = firmware_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(firmware.join("boards/mps2-an386"))
        .args(["build", "--release", "--bin", bin])
        .env("CARGO_TARGET_DIR", firmware.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .output()
        .expect("running cargo to build the firmware");
    assert!(
        out.status.success(),
        "building {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    firmware.join("target").join(TARGET).join("release").join(bin)
}

/// Runs the ELF in QEMU as the board's runner does; returns stdout (panics on failure).
fn run_in_qemu(elf: &Path) -> String {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-machine",
            "mps2-an386",
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            "shift=7",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting qemu-system-arm");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > QEMU_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish in QEMU within {QEMU_TIMEOUT:?}", elf.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap();
    assert!(
        status.success(),
        "{} failed in QEMU ({status}):\n{out}",
        elf.display()
    );
    out
}

fn words(values: &[f32]) -> String {
    values
        .iter()
        .map(|v| format!(" 0x{:08x}", v.to_bits()))
        .collect()
}

/// The lines the firmware prints, computed on the host.
fn expected_lines(f: &ReferenceFeatures) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, row) in f.micro.iter().enumerate() {
        let packed: String = row
            .chunks_exact(4)
            .map(|c| {
                let word = u32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]);
                format!(" 0x{word:08x}")
            })
            .collect();
        lines.push(format!("micro {i}{packed}"));
    }
    for (i, row) in f.log_mel.iter().enumerate() {
        lines.push(format!("log_mel {i}{}", words(row)));
    }
    for (i, row) in f.mfcc.iter().enumerate() {
        lines.push(format!("mfcc {i}{}", words(row)));
    }
    let v = f.vibration;
    lines.push(format!(
        "vibration{}",
        words(&[v.mean, v.rms, v.peak, v.crest_factor, v.kurtosis])
    ));
    lines
}

#[test]
fn features_on_the_emulated_cortex_m4_equal_the_hosts() {
    if !prerequisites() {
        return;
    }
    let elf = build_board_bin("dsp-check");
    let out = run_in_qemu(&elf);

    let mut clip = [0i16; 16_000];
    mote_dsp::signal::reference_clip(&mut clip);
    let mut frontend = MicroFrontend::new().unwrap();
    let mut host = Box::new(ReferenceFeatures::zeroed());
    reference_features(&clip, &mut frontend, &mut host).unwrap();
    let expected = expected_lines(&host);

    let device: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("mote-dsp check"))
        .collect();
    assert_eq!(device.len(), expected.len(), "device printed:\n{out}");
    for (d, e) in device.iter().zip(&expected) {
        assert_eq!(*d, e.as_str(), "the device's line differs from the host's");
    }
    // The features are not trivial: the chirp reaches many channels.
    assert!(host.micro.iter().flatten().any(|&v| v > 0));
    let summary = out
        .lines()
        .find(|l| l.starts_with("mote-dsp check: ok"))
        .unwrap_or_else(|| panic!("no summary line:\n{out}"));
    let per_frame: u64 = summary
        .split_whitespace()
        .find_map(|f| f.strip_prefix("micro_instructions_per_frame="))
        .and_then(|n| n.parse().ok())
        .expect("instructions per frame in the summary");
    // A 512-point fixed-point FFT and the filter bank: tens of thousands of instructions,
    // not millions (a timer that does not count would give 0).
    assert!((10_000..1_000_000).contains(&per_frame), "{summary}");
    eprintln!("{summary}");
}

#[test]
fn dsp_kernels_equal_the_reference_kernels_on_the_emulated_cortex_m4() {
    if !prerequisites() {
        return;
    }
    let elf = build_board_bin("kernels-self-test");
    // Fails (non-zero exit, so `run_in_qemu` panics) on the first mismatch.
    let out = run_in_qemu(&elf);
    let summary = out
        .lines()
        .find(|l| l.starts_with("mote-kernels self-test: ok"))
        .unwrap_or_else(|| panic!("no summary line:\n{out}"));
    // Every kernel took its fast path in some of the cases: otherwise the self-test compared
    // the reference with itself.
    for kernel in [
        "conv2d_int8_fast",
        "depthwise_conv2d_int8_fast",
        "fully_connected_int8_fast",
        "pool2d_int8_fast",
        "add_int8_fast",
    ] {
        let fast: u64 = summary
            .split_whitespace()
            .find_map(|f| f.strip_prefix(kernel)?.strip_prefix('='))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count for {kernel} in: {summary}"));
        assert!(fast > 0, "no case took {kernel}: {summary}");
    }
    eprintln!("{summary}");
}
