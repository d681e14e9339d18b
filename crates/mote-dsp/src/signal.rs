//! Deterministic test signals, generated identically on the host and on the device: a linear
//! chirp plus uniform noise from a 32-bit linear congruential generator, as int16 audio.
//!
//! Used to compare features computed on an emulated Cortex-M with the host's, byte for byte.
//! Everything is `f32` arithmetic with `libm`'s `sinf` (software, so the same bits everywhere).

/// Numerical Recipes' 32-bit LCG: small, fast, and the same sequence on every platform.
#[derive(Clone, Debug)]
pub struct Lcg(u32);

impl Lcg {
    pub fn new(seed: u32) -> Self {
        Lcg(seed)
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0
    }

    /// Uniform in [−1, 1), from the top 24 bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// Fills `out` with a chirp from `f0_hz` to `f1_hz` over the buffer's duration at amplitude
/// `amplitude` (full scale 32767), plus LCG noise of amplitude `noise` seeded with `seed`,
/// saturated to int16.
pub fn chirp_with_noise(
    out: &mut [i16],
    sample_rate: f32,
    f0_hz: f32,
    f1_hz: f32,
    amplitude: f32,
    noise: f32,
    seed: u32,
) {
    let duration = out.len() as f32 / sample_rate;
    let sweep = if duration > 0.0 {
        (f1_hz - f0_hz) / duration
    } else {
        0.0
    };
    let mut lcg = Lcg::new(seed);
    for (i, o) in out.iter_mut().enumerate() {
        let t = i as f32 / sample_rate;
        // Phase in cycles, reduced to [0, 1) before scaling so sinf's argument stays small.
        let cycles = f0_hz * t + 0.5 * sweep * t * t;
        let phase = 2.0 * core::f32::consts::PI * (cycles - libm::floorf(cycles));
        let v = amplitude * libm::sinf(phase) + noise * lcg.next_f32();
        *o = v.clamp(i16::MIN as f32, i16::MAX as f32) as i16;
    }
}

/// The signal the firmware check uses: one second at 16 kHz, a 100 Hz → 7 kHz chirp at
/// amplitude 8000 with noise of amplitude 500, seed 1.
pub fn reference_clip(out: &mut [i16; 16_000]) {
    chirp_with_noise(out, 16_000.0, 100.0, 7000.0, 8000.0, 500.0, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcg_is_the_numerical_recipes_sequence() {
        let mut l = Lcg::new(0);
        assert_eq!(l.next_u32(), 1_013_904_223);
        assert_eq!(l.next_u32(), 1_196_435_762);
    }

    #[test]
    fn the_chirp_sweeps_upward_and_stays_in_range() {
        let mut clip = [0i16; 16_000];
        reference_clip(&mut clip);
        // Zero crossings per 1000 samples grow with the instantaneous frequency.
        let crossings = |s: &[i16]| s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        let early = crossings(&clip[1000..2000]);
        let late = crossings(&clip[14_000..15_000]);
        assert!(late > 4 * early, "{early} vs {late}");
        assert!(clip.iter().all(|&v| v.unsigned_abs() <= 8600));
    }
}
