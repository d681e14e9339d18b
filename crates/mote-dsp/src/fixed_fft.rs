//! A 16-bit fixed-point real FFT with the arithmetic of KISS FFT's `FIXED_POINT=16` build, which
//! is what TFLM's `SignalRfft` runs for int16 input.
//!
//! Why not `microfft` here: the micro_speech features must be byte-identical to TFLM's, and a
//! float FFT rounded afterwards does not reproduce the fixed-point FFT's per-stage scaling and
//! rounding. This module reproduces them: every butterfly divides its inputs by the radix
//! (multiplying by `32767 / radix` in Q15 with rounding), complex products round Q15 results
//! to nearest, sums wrap at 16 bits, and the twiddles are `floor(0.5 + 32767·cos/sin)` of the
//! same phases. Only power-of-two lengths are supported (radix 4 first, then one radix 2
//! stage), which covers every FFT the front end uses.

use crate::micro_tables::{fft_stages, fft_super_twiddles, fft_twiddles, MAX_FFT_STAGES};

/// A complex number of two Q15 values, laid out like KISS FFT's `kiss_fft_cpx`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComplexI16 {
    pub re: i16,
    pub im: i16,
}

/// Q15 product rounded to nearest, as `sround(smul(a, b))` (arithmetic shift, ties up).
#[inline(always)]
fn round_q15(x: i32) -> i16 {
    (x.wrapping_add(1 << 14) >> 15) as i16
}

/// `x / radix` the fixed-point way: multiply by `32767 / radix` in Q15, rounding.
#[inline(always)]
fn div_by(c: ComplexI16, radix: i32) -> ComplexI16 {
    let k = 32767 / radix;
    ComplexI16 {
        re: round_q15(c.re as i32 * k),
        im: round_q15(c.im as i32 * k),
    }
}

#[inline(always)]
fn mul(a: ComplexI16, b: ComplexI16) -> ComplexI16 {
    let (ar, ai, br, bi) = (a.re as i32, a.im as i32, b.re as i32, b.im as i32);
    ComplexI16 {
        re: round_q15((ar * br).wrapping_sub(ai * bi)),
        im: round_q15((ar * bi).wrapping_add(ai * br)),
    }
}

#[inline(always)]
fn add(a: ComplexI16, b: ComplexI16) -> ComplexI16 {
    ComplexI16 {
        re: a.re.wrapping_add(b.re),
        im: a.im.wrapping_add(b.im),
    }
}

#[inline(always)]
fn sub(a: ComplexI16, b: ComplexI16) -> ComplexI16 {
    ComplexI16 {
        re: a.re.wrapping_sub(b.re),
        im: a.im.wrapping_sub(b.im),
    }
}

/// A real FFT of `2 * HALF` int16 samples giving `HALF + 1` bins, with its twiddles computed once.
///
/// `HALF` is the length of the inner complex FFT (256 for micro_speech's 512-point FFT).
/// The fields are the crate's so that build.rs can bake one into a `static`.
pub struct FixedRfft<const HALF: usize> {
    pub(crate) twiddles: [ComplexI16; HALF],
    /// `HALF / 2` are used; sized `HALF` so that no const-generic arithmetic is needed.
    pub(crate) super_twiddles: [ComplexI16; HALF],
    /// (radix, remaining length) per stage, as KISS FFT's `factors`; `(0, 0)` after the last.
    pub(crate) stages: [(usize, usize); MAX_FFT_STAGES],
}

impl<const HALF: usize> FixedRfft<HALF> {
    /// The twiddles and the radix plan (the front end uses a baked copy; tests compare); `None` unless `HALF` is a power of two of at least 2.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new() -> Option<Self> {
        if HALF < 2 || !HALF.is_power_of_two() {
            return None;
        }
        let mut pairs = [(0i16, 0i16); HALF];
        let to_complex = |(re, im): (i16, i16)| ComplexI16 { re, im };
        fft_twiddles(&mut pairs);
        let twiddles = pairs.map(to_complex);
        let mut pairs = [(0i16, 0i16); HALF];
        fft_super_twiddles(HALF, &mut pairs);
        let super_twiddles = pairs.map(to_complex);
        Some(FixedRfft {
            twiddles,
            super_twiddles,
            stages: fft_stages(HALF),
        })
    }

    /// The forward transform of `input` (`2 * HALF` samples, even ones as real parts of the
    /// packed complex input) into `output[0..=HALF]`; `scratch` holds the inner complex FFT.
    ///
    /// Lengths are the caller's contract (checked by [`crate::micro_frontend`]); a short
    /// slice would panic on indexing, never read out of bounds.
    pub fn forward(
        &self,
        input: &[i16],
        scratch: &mut [ComplexI16; HALF],
        output: &mut [ComplexI16],
    ) {
        // Fixed lengths from here on, so the indexing below needs no per-element checks.
        let input = &input[..2 * HALF];
        let output = &mut output[..=HALF];
        self.work(scratch, 0, input, 0, 1, 0);
        let tmp = &*scratch;
        let dc = div_by(tmp[0], 2);
        output[0] = ComplexI16 {
            re: dc.re.wrapping_add(dc.im),
            im: 0,
        };
        output[HALF] = ComplexI16 {
            re: dc.re.wrapping_sub(dc.im),
            im: 0,
        };
        for k in 1..=HALF / 2 {
            let fpk = div_by(tmp[k], 2);
            let mirrored = tmp[HALF - k];
            let fpnk = div_by(
                ComplexI16 {
                    re: mirrored.re,
                    im: mirrored.im.wrapping_neg(),
                },
                2,
            );
            let f1k = add(fpk, fpnk);
            let f2k = sub(fpk, fpnk);
            let tw = mul(f2k, self.super_twiddles[k - 1]);
            // Halved in int, before narrowing to 16 bits, as KISS FFT's HALF_OF does.
            let (f1r, f1i, twr, twi) = (f1k.re as i32, f1k.im as i32, tw.re as i32, tw.im as i32);
            output[k] = ComplexI16 {
                re: ((f1r + twr) >> 1) as i16,
                im: ((f1i + twi) >> 1) as i16,
            };
            output[HALF - k] = ComplexI16 {
                re: ((f1r - twr) >> 1) as i16,
                im: ((twi - f1i) >> 1) as i16,
            };
        }
    }

    /// One decimation-in-time level: gather (or recurse into) `radix` sub-FFTs of length `m`
    /// into `out[at..at + radix·m]`, then combine them with the radix butterfly.
    fn work(
        &self,
        out: &mut [ComplexI16; HALF],
        at: usize,
        input: &[i16],
        from: usize,
        stride: usize,
        stage: usize,
    ) {
        let (radix, m) = self.stages[stage];
        if m == 1 {
            for q in 0..radix {
                let j = from + q * stride;
                out[at + q] = ComplexI16 {
                    re: input[2 * j],
                    im: input[2 * j + 1],
                };
            }
        } else {
            for q in 0..radix {
                self.work(
                    out,
                    at + q * m,
                    input,
                    from + q * stride,
                    stride * radix,
                    stage + 1,
                );
            }
        }
        // The butterflies work on this level's block only; splitting it into quarters (or
        // halves) lets them run without per-element bounds checks.
        let block = &mut out[at..at + radix * m];
        match radix {
            4 => self.butterfly4(block, stride, m),
            _ => self.butterfly2(block, stride, m),
        }
    }

    fn butterfly2(&self, block: &mut [ComplexI16], stride: usize, m: usize) {
        let (lower, upper) = block.split_at_mut(m);
        let twiddles = self.twiddles.iter().step_by(stride);
        for ((a, b), &tw) in lower.iter_mut().zip(upper.iter_mut()).zip(twiddles) {
            let f0 = div_by(*a, 2);
            let t = mul(div_by(*b, 2), tw);
            *b = sub(f0, t);
            *a = add(f0, t);
        }
    }

    fn butterfly4(&self, block: &mut [ComplexI16], stride: usize, m: usize) {
        let (q0, rest) = block.split_at_mut(m);
        let (q1, rest) = rest.split_at_mut(m);
        let (q2, q3) = rest.split_at_mut(m);
        // Twiddle k·stride, 2k·stride and 3k·stride for k < m: all below HALF.
        let tw1 = self.twiddles.iter().step_by(stride);
        let tw2 = self.twiddles.iter().step_by(2 * stride);
        let tw3 = self.twiddles.iter().step_by(3 * stride);
        let quarters = q0
            .iter_mut()
            .zip(q1.iter_mut())
            .zip(q2.iter_mut())
            .zip(q3.iter_mut());
        for ((((x0, x1), x2), x3), ((&t1, &t2), &t3)) in quarters.zip(tw1.zip(tw2).zip(tw3)) {
            let f0 = div_by(*x0, 4);
            let s0 = mul(div_by(*x1, 4), t1);
            let s1 = mul(div_by(*x2, 4), t2);
            let s2 = mul(div_by(*x3, 4), t3);
            let s5 = sub(f0, s1);
            let f0 = add(f0, s1);
            let s3 = add(s0, s2);
            let s4 = sub(s0, s2);
            *x2 = sub(f0, s3);
            *x0 = add(f0, s3);
            *x1 = ComplexI16 {
                re: s5.re.wrapping_add(s4.im),
                im: s5.im.wrapping_sub(s4.re),
            };
            *x3 = ComplexI16 {
                re: s5.re.wrapping_sub(s4.im),
                im: s5.im.wrapping_add(s4.re),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::f64::consts::PI;

    /// A full-scale cosine at bin 8 of a 64-point FFT lands in bin 8 with the magnitude the
    /// fixed-point scaling predicts (each of log2(64) = 6 halvings, so 32767·32/64), and the
    /// other bins stay near zero.
    #[test]
    fn cosine_lands_in_its_bin_with_the_expected_scaling() {
        let fft = FixedRfft::<32>::new().unwrap();
        let mut input = [0i16; 64];
        for (i, x) in input.iter_mut().enumerate() {
            *x = (16000.0 * libm::cos(2.0 * PI * 8.0 * i as f64 / 64.0)) as i16;
        }
        let mut scratch = [ComplexI16::default(); 32];
        let mut out = [ComplexI16::default(); 33];
        fft.forward(&input, &mut scratch, &mut out);
        // 16000 · 64 / 2 (a cosine's energy splits between ±bin) / 64 (the 1/N scaling).
        let expected = 16000.0 / 2.0;
        assert!(
            (out[8].re as f64 - expected).abs() < 8.0,
            "bin 8 = {:?}",
            out[8]
        );
        for (k, c) in out.iter().enumerate() {
            if k != 8 {
                assert!(c.re.abs() < 8 && c.im.abs() < 8, "bin {k} = {c:?}");
            }
        }
    }

    #[test]
    fn non_power_of_two_lengths_are_refused() {
        assert!(FixedRfft::<12>::new().is_none());
        assert!(FixedRfft::<1>::new().is_none());
    }
}
