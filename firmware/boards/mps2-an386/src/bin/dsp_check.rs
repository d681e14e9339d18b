//! mote-dsp on the device: every front end of `mote_dsp::check` run on the deterministic
//! reference clip (a chirp plus LCG noise that mote-dsp generates identically here and on
//! the host), printed in full as hex words for the host test
//! (`crates/mote-cli/tests/dsp_qemu.rs`) to compare byte for byte, with the instructions per
//! frame of the micro_speech front end and of the float log-mel/MFCC front end.
//!
//! `cargo run --release --bin dsp-check` from this folder.
//!
//! Output, one record per line: `micro <frame> <10 words>` (40 int8 features packed little
//! endian), `log_mel <frame> <40 f32 bit patterns>`, `mfcc <frame> <13 …>`,
//! `vibration <mean rms peak crest kurtosis bit patterns>`, then a summary line.

#![no_std]
#![no_main]

#[path = "../vectors.rs"]
mod vectors;

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use mote_dsp::check::{reference_features, ReferenceFeatures};
use mote_dsp::mfcc::{MfccFrontend, MFCC_COEFFS, MFCC_MELS};
use mote_dsp::micro_frontend::{FRAMES_PER_SECOND, HOP_SAMPLES, WINDOW_SAMPLES};
use mote_dsp::MicroFrontend;
use mote_harness::{calibrate, exit_success, fail, instructions, ticks_around, Clock, Line};

/// CMSDK APB timer 0: 32-bit down-counter at 25 MHz, 3.2 ticks per instruction at
/// `-icount shift=7` (as in this board's main.rs).
struct Timer0;

const TIMER0: usize = 0x4000_0000;
const CTRL: *mut u32 = TIMER0 as *mut u32;
const VALUE: *mut u32 = (TIMER0 + 0x4) as *mut u32;
const RELOAD: *mut u32 = (TIMER0 + 0x8) as *mut u32;

impl Timer0 {
    fn start() -> Self {
        // SAFETY: the timer's registers on this board; nothing else uses the timer.
        unsafe {
            write_volatile(RELOAD, u32::MAX);
            write_volatile(VALUE, u32::MAX);
            write_volatile(CTRL, 1);
        }
        Timer0
    }
}

impl Clock for Timer0 {
    const TICKS_PER_INSTRUCTION: (u32, u32) = (16, 5);

    #[inline(always)]
    fn ticks(&self) -> u32 {
        // SAFETY: a read of the timer's current value; it counts down, so invert it.
        !unsafe { read_volatile(VALUE) }
    }
}

// Large state in statics, not on the stack.
static mut CLIP: [i16; 16_000] = [0; 16_000];
static mut FEATURES: ReferenceFeatures = ReferenceFeatures::zeroed();

fn words_of_f32(line: &mut Line, values: &[f32]) {
    for v in values {
        line.text(" ").hex32(v.to_bits());
    }
}

#[entry]
fn main() -> ! {
    let timer = Timer0::start();
    let overhead = calibrate(&timer);
    // SAFETY: `main` runs once and is the only code that touches these statics.
    let clip = unsafe { &mut *core::ptr::addr_of_mut!(CLIP) };
    let features = unsafe { &mut *core::ptr::addr_of_mut!(FEATURES) };

    mote_dsp::signal::reference_clip(clip);
    let (setup_ticks, frontend) = ticks_around(&timer, MicroFrontend::new);
    let Ok(mut frontend) = frontend else {
        fail("MicroFrontend::new")
    };
    if reference_features(clip, &mut frontend, features).is_err() {
        fail("reference_features");
    }

    // Instructions per frame: the micro front end over the clip in order (its state evolves
    // as in use), then the float front end.
    frontend.reset();
    let (mut micro_total, mut micro_max) = (0u64, 0u64);
    let Ok(float) = MfccFrontend::<WINDOW_SAMPLES>::new() else {
        fail("MfccFrontend::new")
    };
    let (mut float_total, mut float_max) = (0u64, 0u64);
    let mut log_mel = [0f32; MFCC_MELS];
    let mut mfcc = [0f32; MFCC_COEFFS];
    for f in 0..FRAMES_PER_SECOND {
        let start = f * HOP_SAMPLES;
        let Ok(frame) = <&[i16; WINDOW_SAMPLES]>::try_from(&clip[start..start + WINDOW_SAMPLES])
        else {
            fail("frame")
        };
        let (ticks, _) = ticks_around(&timer, || frontend.process_frame(frame));
        let n = instructions::<Timer0>(ticks).saturating_sub(overhead);
        micro_total += n;
        micro_max = micro_max.max(n);
        let (ticks, _) = ticks_around(&timer, || float.process(frame, &mut log_mel, &mut mfcc));
        let n = instructions::<Timer0>(ticks).saturating_sub(overhead);
        float_total += n;
        float_max = float_max.max(n);
    }

    for (f, row) in features.micro.iter().enumerate() {
        let mut line = Line::new("micro ");
        line.uint(f as u64);
        for chunk in row.chunks_exact(4) {
            let word = u32::from_le_bytes([
                chunk[0] as u8,
                chunk[1] as u8,
                chunk[2] as u8,
                chunk[3] as u8,
            ]);
            line.text(" ").hex32(word);
        }
        line.send();
    }
    for (f, row) in features.log_mel.iter().enumerate() {
        let mut line = Line::new("log_mel ");
        line.uint(f as u64);
        words_of_f32(&mut line, row);
        line.send();
    }
    for (f, row) in features.mfcc.iter().enumerate() {
        let mut line = Line::new("mfcc ");
        line.uint(f as u64);
        words_of_f32(&mut line, row);
        line.send();
    }
    let v = features.vibration;
    let mut line = Line::new("vibration");
    words_of_f32(
        &mut line,
        &[v.mean, v.rms, v.peak, v.crest_factor, v.kurtosis],
    );
    line.send();

    Line::new("mote-dsp check: ok")
        .field("frames", FRAMES_PER_SECOND as u64)
        .field(
            "micro_setup_instructions",
            instructions::<Timer0>(setup_ticks).saturating_sub(overhead),
        )
        .field(
            "micro_instructions_per_frame",
            micro_total / FRAMES_PER_SECOND as u64,
        )
        .field("micro_instructions_max", micro_max)
        .field(
            "mfcc_instructions_per_frame",
            float_total / FRAMES_PER_SECOND as u64,
        )
        .field("mfcc_instructions_max", float_max)
        .send();
    exit_success()
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    fail("hard fault")
}
