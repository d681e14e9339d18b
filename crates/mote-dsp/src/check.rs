//! The host/device comparison: every front end of this crate run on one deterministic clip
//! ([`crate::signal::reference_clip`]). The firmware on the emulated Cortex-M4F calls
//! [`reference_features`] and prints the results; the host test computes the same and
//! requires them equal byte for byte.

use crate::mfcc::{MfccFrontend, MFCC_COEFFS, MFCC_MELS};
use crate::micro_frontend::{
    MicroFrontend, FRAMES_PER_SECOND, HOP_SAMPLES, NUM_CHANNELS, WINDOW_SAMPLES,
};
use crate::vibration::VibrationFeatures;
use crate::DspError;

/// Everything computed from the reference clip (about 12 KB).
pub struct ReferenceFeatures {
    pub micro: [[i8; NUM_CHANNELS]; FRAMES_PER_SECOND],
    pub log_mel: [[f32; MFCC_MELS]; FRAMES_PER_SECOND],
    pub mfcc: [[f32; MFCC_COEFFS]; FRAMES_PER_SECOND],
    /// Of the whole clip scaled to [−1, 1).
    pub vibration: VibrationFeatures,
}

impl ReferenceFeatures {
    pub const fn zeroed() -> Self {
        ReferenceFeatures {
            micro: [[0; NUM_CHANNELS]; FRAMES_PER_SECOND],
            log_mel: [[0.0; MFCC_MELS]; FRAMES_PER_SECOND],
            mfcc: [[0.0; MFCC_COEFFS]; FRAMES_PER_SECOND],
            vibration: VibrationFeatures {
                mean: 0.0,
                rms: 0.0,
                peak: 0.0,
                crest_factor: 0.0,
                kurtosis: 0.0,
            },
        }
    }
}

/// Runs the micro front end (one stateful pass over the 49 frames), the float log-mel/MFCC
/// front end on the same frames, and the vibration features of the clip.
///
/// `micro` is the caller's (so firmware can keep it in a static and time `process_frame`);
/// it is reset first.
pub fn reference_features(
    clip: &[i16; 16_000],
    micro: &mut MicroFrontend,
    out: &mut ReferenceFeatures,
) -> Result<(), DspError> {
    micro.reset();
    let float = MfccFrontend::<WINDOW_SAMPLES>::new()?;
    for f in 0..FRAMES_PER_SECOND {
        let start = f * HOP_SAMPLES;
        let frame: &[i16; WINDOW_SAMPLES] = clip[start..start + WINDOW_SAMPLES]
            .try_into()
            .map_err(|_| DspError::Length {
                what: "reference frame",
                expected: WINDOW_SAMPLES,
                got: 0,
            })?;
        out.micro[f] = micro.process_frame(frame);
        float.process(frame, &mut out.log_mel[f], &mut out.mfcc[f])?;
    }
    out.vibration = VibrationFeatures::compute_i16(clip, 1.0 / 32768.0);
    Ok(())
}
