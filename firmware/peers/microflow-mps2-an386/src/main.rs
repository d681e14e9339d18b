//! The `microflow` crate on QEMU's `mps2-an386` (Cortex-M4F), measured the way mote's board
//! firmware measures mote: the same timer, calibration, stack painting and semihosting
//! report line (`mote-harness`), on TFLM's golden case 0. `build.rs` picks the model
//! (`MICROFLOW_MODEL`); run with `cargo run --release` from this folder.
//!
//! The timed work is microflow's inference on quantized tensors (`predict_inner`, what its
//! `predict_quantized` calls before dequantizing the output): the int8 input tensor goes in,
//! the int8 output tensor comes out, as with mote's and TFLM's `invoke`. Building the input
//! tensor from the golden bytes happens before the first timer reading, as mote's harness
//! copies its inputs into the arena before it.
//!
//! The report line has the harness's format with `runtime=microflow`, `arena_bytes=0`
//! (microflow keeps every tensor on the stack, so `stack_bytes` is its working memory) and
//! the output bytes. A difference from TFLM's golden output is a finding, not a failure:
//! the line says `outputs_match=0` (after a line naming the first differing byte) and the
//! run exits with success. Anything else wrong (timer, differing counts) exits with failure.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use microflow::buffer::Buffer2D;
use microflow::tensor::{Tensor2D, Tensor4D};
use mote_harness::{Clock, Line};

#[allow(dead_code)]
mod model {
    include!(concat!(env!("OUT_DIR"), "/microflow_model.rs"));
}

/// CMSDK APB timer 0 as in `boards/mps2-an386/src/main.rs`: a 32-bit down-counter on the
/// 25 MHz system clock, 3.2 ticks per instruction at `-icount shift=7`.
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
            write_volatile(CTRL, 1); // enable, no interrupt
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

/// int8 tensors to and from TFLM's byte order (row-major, NHWC). nalgebra's matrices are
/// column-major, so the bytes are placed element by element.
trait Int8Tensor: Sized {
    fn from_row_major(bytes: &[u8], scale: f32, zero_point: i8) -> Self;
    /// Writes the elements in row-major order; returns how many there are.
    fn write_row_major(&self, out: &mut [u8]) -> usize;
}

fn byte(bytes: &[u8], i: usize) -> i8 {
    bytes.get(i).copied().unwrap_or(0) as i8
}

impl<const R: usize, const C: usize> Int8Tensor for Tensor2D<i8, R, C, 1> {
    fn from_row_major(bytes: &[u8], scale: f32, zero_point: i8) -> Self {
        let buffer = Buffer2D::from_fn(|r, c| byte(bytes, r * C + c));
        Tensor2D::new(buffer, [scale], [zero_point])
    }

    fn write_row_major(&self, out: &mut [u8]) -> usize {
        let mut n = 0;
        for r in 0..R {
            for c in 0..C {
                if let (Some(o), Some(v)) = (out.get_mut(n), self.buffer.get((r, c))) {
                    *o = *v as u8;
                }
                n += 1;
            }
        }
        n
    }
}

impl<const B: usize, const R: usize, const C: usize, const CH: usize> Int8Tensor
    for Tensor4D<i8, B, R, C, CH, 1>
{
    fn from_row_major(bytes: &[u8], scale: f32, zero_point: i8) -> Self {
        let buffer = core::array::from_fn(|b| {
            Buffer2D::from_fn(|r, c| {
                core::array::from_fn(|ch| byte(bytes, ((b * R + r) * C + c) * CH + ch))
            })
        });
        Tensor4D::new(buffer, [scale], [zero_point])
    }

    fn write_row_major(&self, out: &mut [u8]) -> usize {
        let mut n = 0;
        for batch in &self.buffer {
            for r in 0..R {
                for c in 0..C {
                    for ch in 0..CH {
                        let v = batch.get((r, c)).and_then(|px| px.get(ch));
                        if let (Some(o), Some(v)) = (out.get_mut(n), v) {
                            *o = *v as u8;
                        }
                        n += 1;
                    }
                }
            }
        }
        n
    }
}

fn input() -> model::Input {
    model::Input::from_row_major(
        &model::MOTE_TEST_INPUT_0,
        model::INPUT_SCALE,
        model::INPUT_ZERO_POINT,
    )
}

/// The largest output the peer reports (bytes); the three models have at most 4.
const MAX_OUTPUT: usize = 64;

#[entry]
fn main() -> ! {
    mote_harness::paint_stack();
    let timer = Timer0::start();
    let overhead = mote_harness::calibrate(&timer);
    let expected: &[u8] = &model::MOTE_EXPECTED_OUTPUT_0;

    let mut min = u64::MAX;
    let mut max = 0;
    let mut got = [0u8; MAX_OUTPUT];
    let mut got_len = 0;
    let mut outputs_match = true;
    for _ in 0..model::RUNS {
        let input = input();
        // `black_box` inside the timed closure: the inference cannot be moved before the
        // first reading nor its result left uncomputed after the second.
        let (ticks, output) =
            mote_harness::ticks_around(&timer, move || black_box(model::infer(black_box(input))));
        let n = mote_harness::instructions::<Timer0>(ticks).saturating_sub(overhead);
        min = min.min(n);
        max = max.max(n);
        got_len = output.write_row_major(&mut got);
        let same = compare(got.get(..got_len).unwrap_or(&[]), expected, outputs_match);
        outputs_match &= same;
    }

    let mut line = Line::new("mote-bench v=1 board=");
    line.text(model::BOARD)
        .text(" model=")
        .text(model::MODEL_NAME)
        .text(" runtime=microflow");
    line.text(" checksum=").hex32(model::CHECKSUM);
    line.field("runs", model::RUNS as u64)
        .field("instructions", min)
        .field("instructions_max", max)
        .field("timer_overhead", overhead)
        .text(" calibration=ok")
        .field("stack_bytes", mote_harness::stack_high_water() as u64)
        .field("arena_bytes", 0);
    line.text(" output_hex=");
    hex(&mut line, got.get(..got_len.min(MAX_OUTPUT)).unwrap_or(&[]));
    line.text(" expected_hex=");
    hex(&mut line, expected);
    line.field("outputs_match", outputs_match as u64);
    line.send();

    if got_len > MAX_OUTPUT {
        mote_harness::fail("the output is larger than the peer reports");
    }
    if min != max {
        mote_harness::fail("the instruction count differed between runs");
    }
    mote_harness::exit_success()
}

/// Whether `got` equals `want`; prints the first difference as the harness does when `say`.
fn compare(got: &[u8], want: &[u8], say: bool) -> bool {
    if got.len() != want.len() {
        if say {
            Line::new("mote-bench: output 0 has a different size from the expected output").send();
        }
        return false;
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        None => true,
        Some(_) if !say => false,
        Some(k) => {
            Line::new("mote-bench: output 0 differs at byte ")
                .uint(k as u64)
                .text(": got ")
                .uint(got.get(k).copied().unwrap_or(0) as u64)
                .text(", expected ")
                .uint(want.get(k).copied().unwrap_or(0) as u64)
                .send();
            false
        }
    }
}

/// Two hex digits per byte, computed rather than looked up: a table (or `from_utf8`'s) would
/// be a data object in `.rodata`, where `bench/cortex_m4.py` counts microflow's model.
fn hex(line: &mut Line, bytes: &[u8]) {
    for &b in bytes {
        for d in [b >> 4, b & 0xf] {
            let c = char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 });
            let mut buf = [0u8; 4];
            line.text(c.encode_utf8(&mut buf));
        }
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    mote_harness::fail("hard fault")
}
