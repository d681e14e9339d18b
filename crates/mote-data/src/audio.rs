//! Audio clips: `.wav` files read with `hound` and converted to what mote's keyword models
//! take, mono int16 at 16 kHz. Stereo and multichannel files are averaged to mono; 8-, 16-,
//! 24- and 32-bit integer and 32-bit float samples are accepted; **other sample rates are
//! resampled** with a windowed-sinc resampler (`rubato`) rather than refused, because public
//! keyword sets and the speech synthesisers come at 8, 22.05, 44.1 and 48 kHz.

use std::path::Path;

use rubato::{
    Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};

use crate::dataset::{class_files, Dataset, Item};
use crate::error::{Error, Result};

/// The sample rate every [`AudioClip`] has.
pub const SAMPLE_RATE: u32 = 16_000;

/// A mono clip at [`SAMPLE_RATE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioClip {
    pub samples: Vec<i16>,
}

impl AudioClip {
    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}

/// Labelled audio clips.
pub type AudioDataset = Dataset<AudioClip>;

impl Dataset<AudioClip> {
    /// Same as [`load_audio`].
    pub fn load(root: impl AsRef<Path>) -> Result<Self> {
        load_audio(root)
    }
}

/// Loads every `ROOT/<class>/*.wav` (see the crate docs for the layout and
/// [`crate::group_of`] for groups).
pub fn load_audio(root: impl AsRef<Path>) -> Result<AudioDataset> {
    let root = root.as_ref();
    let (classes, files) = class_files(root, &["wav"])?;
    let mut items = Vec::with_capacity(files.len());
    for f in files {
        let data = load_wav(&f.path)?;
        items.push(Item {
            label: f.label,
            group: f.group,
            source: f.path,
            data,
        });
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        classes,
        items,
    })
}

/// Reads one `.wav` file as mono int16 at 16 kHz.
pub fn load_wav(path: impl AsRef<Path>) -> Result<AudioClip> {
    let path = path.as_ref();
    let (mono, rate) = read_wav_mono_f32(path)?;
    let mono = if rate == SAMPLE_RATE {
        mono
    } else {
        resample(&mono, rate, SAMPLE_RATE).map_err(|what| Error::Resample {
            path: path.to_path_buf(),
            what: format!("resampling from {rate} Hz to {SAMPLE_RATE} Hz: {what}"),
        })?
    };
    Ok(AudioClip {
        samples: mono.iter().map(|&x| to_i16(x)).collect(),
    })
}

/// Reads a `.wav` file as mono samples in [-1, 1] and its sample rate.
pub(crate) fn read_wav_mono_f32(path: &Path) -> Result<(Vec<f32>, u32)> {
    let wav_error = |source| Error::Wav {
        path: path.to_path_buf(),
        source,
    };
    let reader = hound::WavReader::open(path).map_err(wav_error)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(Error::invalid(
            path,
            format!(
                "WAV header says {} channels at {} Hz",
                spec.channels, spec.sample_rate
            ),
        ));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            if spec.bits_per_sample != 32 {
                return Err(Error::invalid(
                    path,
                    format!(
                        "{}-bit float samples are not supported (32-bit float or 8/16/24/32-bit integer)",
                        spec.bits_per_sample
                    ),
                ));
            }
            reader
                .into_samples::<f32>()
                .collect::<std::result::Result<_, _>>()
                .map_err(wav_error)?
        }
        hound::SampleFormat::Int => {
            let bits = spec.bits_per_sample;
            if !(1..=32).contains(&bits) {
                return Err(Error::invalid(path, format!("{bits}-bit integer samples")));
            }
            let full_scale = (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 / full_scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(wav_error)?
        }
    };
    let channels = spec.channels as usize;
    let mono = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Resamples `input` from `from_hz` to `to_hz` with a windowed-sinc filter (cut-off just
/// below the lower Nyquist frequency, so down-sampling does not alias). The output has
/// `round(len · to / from)` samples; the filter's delay is removed to within 2 output
/// samples (rubato reports it in whole frames).
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> std::result::Result<Vec<f32>, String> {
    resample_ratio(input, to_hz as f64 / from_hz as f64)
}

/// [`resample`] by an arbitrary ratio (output rate / input rate); the synthesisers also use
/// it to change a voice's pitch and tempo together, as speed perturbation does.
pub(crate) fn resample_ratio(input: &[f32], ratio: f64) -> std::result::Result<Vec<f32>, String> {
    if !(ratio.is_finite() && ratio > 0.0) {
        return Err(format!("invalid resampling ratio {ratio}"));
    }
    let expected = (input.len() as f64 * ratio).round() as usize;
    if input.is_empty() || expected == 0 {
        return Ok(Vec::new());
    }
    let params = SincInterpolationParameters {
        sinc_len: 128,
        f_cutoff: 0.925,
        interpolation: SincInterpolationType::Linear,
        oversampling_factor: 128,
        window: WindowFunction::BlackmanHarris2,
    };
    let chunk = 1024;
    let mut resampler =
        SincFixedIn::<f32>::new(ratio, 1.0, params, chunk, 1).map_err(|e| e.to_string())?;
    let delay = resampler.output_delay();
    let mut output: Vec<f32> = Vec::with_capacity(expected + delay + chunk);
    let mut position = 0;
    while position + chunk <= input.len() {
        let out = resampler
            .process(&[&input[position..position + chunk]], None)
            .map_err(|e| e.to_string())?;
        output.extend_from_slice(&out[0]);
        position += chunk;
    }
    if position < input.len() {
        let out = resampler
            .process_partial(Some(&[&input[position..]]), None)
            .map_err(|e| e.to_string())?;
        output.extend_from_slice(&out[0]);
    }
    // Flush the filter's tail until the delayed output is complete.
    let mut guard = 0;
    while output.len() < delay + expected && guard < 64 {
        let out = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| e.to_string())?;
        output.extend_from_slice(&out[0]);
        guard += 1;
    }
    let mut result: Vec<f32> = output.into_iter().skip(delay).take(expected).collect();
    result.resize(expected, 0.0);
    Ok(result)
}

/// Float in [-1, 1] to int16, saturating.
pub(crate) fn to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Writes mono int16 samples as a 16 kHz `.wav`.
pub(crate) fn write_wav(path: &Path, samples: &[i16]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let wav_error = |source| Error::Wav {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(wav_error)?;
    for &s in samples {
        writer.write_sample(s).map_err(wav_error)?;
    }
    writer.finalize().map_err(wav_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_tone_and_its_length() {
        // 1 kHz at 22,050 Hz → 16 kHz: same frequency and amplitude, exact length, and a
        // delay of under 2 output samples. Fitted by least squares away from the edges
        // (filter warm-up).
        let from = 22_050;
        let tone: Vec<f32> = (0..from)
            .map(|n| {
                0.5 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / from as f64).sin() as f32
            })
            .collect();
        let out = resample(&tone, from, 16_000).unwrap();
        assert_eq!(out.len(), 16_000);
        let (mut s, mut c, mut count) = (0.0f64, 0.0f64, 0.0f64);
        for (n, &v) in out.iter().enumerate().take(15_000).skip(1_000) {
            let phase = 2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 16_000.0;
            s += v as f64 * phase.sin();
            c += v as f64 * phase.cos();
            count += 1.0;
        }
        let amplitude = 2.0 * (s * s + c * c).sqrt() / count;
        let lead_samples = c.atan2(s) / (2.0 * std::f64::consts::PI * 1000.0 / 16_000.0);
        assert!((amplitude - 0.5).abs() < 0.005, "amplitude {amplitude}");
        assert!(lead_samples.abs() < 2.0, "delay {lead_samples} samples");
        // Nothing else in the output: the residual after removing the fitted tone is small.
        let mut worst = 0.0f64;
        for (n, &v) in out.iter().enumerate().take(15_000).skip(1_000) {
            let phase = 2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 16_000.0;
            let fit = 2.0 * (s * phase.sin() + c * phase.cos()) / count;
            worst = worst.max((v as f64 - fit).abs());
        }
        assert!(worst < 0.005, "residual {worst}");
    }
}
