//! mote-dsp's micro_speech front end against TFLM: byte for byte on every golden case of
//! `audio_preprocessor_int8.tflite` and on the features TFLM's own test expects; its tables
//! equal the model's constant tensors; and its features of the four one-second test
//! recordings, fed to `micro_speech_quantized.tflite` through mote's import → compile →
//! interpreter path, are classified as TFLM's example classifies them. When TFLM's Python
//! interpreter is available, whole clips (the recordings and synthetic ones that saturate)
//! run frame after frame through one TFLM interpreter must give mote-dsp's features exactly,
//! state included.

use std::path::{Path, PathBuf};
use std::process::Command;

use mote_dsp::micro_frontend::{
    hann_window_q12, num_frames, pcan_gain_lut, FilterBankTables, FRAMES_PER_SECOND, MODEL_OPTIONS,
    NUM_CHANNELS, WINDOW_SAMPLES,
};
use mote_dsp::{micro_features_1s, MicroFrontend};
use mote_format::{AlignedBytes, Model};
use mote_runtime::Interpreter;
use mote_testdata::{golden, shared_dir};

const PREPROCESSOR: &str = "audio_preprocessor_int8";
const LABELS: [&str; 4] = ["silence", "unknown", "yes", "no"];

fn micro_speech_dir(shared: &Path) -> PathBuf {
    shared.join("models/tflm_examples/micro_speech")
}

/// The data of a little-endian `.npy` file of 1-byte or 2-byte integers (what the goldens of
/// the preprocessor hold), checked against the expected dtype descriptor.
fn npy_data<'a>(bytes: &'a [u8], descr: &str, path: &Path) -> &'a [u8] {
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not an .npy file",
        path.display()
    );
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(
        header.contains(&format!("'descr': '{descr}'")),
        "{}: header {header} is not {descr}",
        path.display()
    );
    &bytes[start + header_len..]
}

fn read_npy_i16(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    npy_data(&bytes, "<i2", path)
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn read_npy_i8(path: &Path) -> Vec<i8> {
    let bytes = std::fs::read(path).unwrap();
    npy_data(&bytes, "|i1", path)
        .iter()
        .map(|&b| b as i8)
        .collect()
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 16_000, 16),
        "{}",
        path.display()
    );
    reader.samples::<i16>().map(|s| s.unwrap()).collect()
}

#[test]
fn every_golden_case_is_byte_identical_from_fresh_state() {
    let Some(shared) = shared_dir() else { return };
    let g = golden(&shared, PREPROCESSOR);
    assert!(g.cases.len() >= 4);
    // One front end for all cases, reset between them: each golden case starts from a reset
    // interpreter, and reset must restore exactly that state.
    let mut frontend = MicroFrontend::new().unwrap();
    for case in &g.cases {
        let input = read_npy_i16(&case.inputs[0]);
        let want = read_npy_i8(&case.outputs[0]);
        assert_eq!(input.len(), WINDOW_SAMPLES);
        frontend.reset();
        let got = frontend.process_slice(&input).unwrap();
        assert_eq!(
            got.as_slice(),
            want.as_slice(),
            "golden case {}",
            case.index
        );
    }
}

#[test]
fn the_30ms_features_tflm_expects_are_reproduced() {
    let Some(shared) = shared_dir() else { return };
    let dir = micro_speech_dir(&shared);
    let text = std::fs::read_to_string(
        dir.join("testdata/expected_audio_preprocessor_int8_features_30ms.json"),
    )
    .unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut compared = 0;
    for wav in ["no_30ms.wav", "yes_30ms.wav"] {
        let want: Vec<i8> = expected[wav]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i8)
            .collect();
        let audio = read_wav(&dir.join("testdata").join(wav));
        let got = MicroFrontend::new()
            .unwrap()
            .process_slice(&audio[..WINDOW_SAMPLES])
            .unwrap();
        assert_eq!(got.as_slice(), want.as_slice(), "{wav}");
        compared += 1;
    }
    assert_eq!(compared, 2);
}

/// A tiny reader of the few `.tflite` fields needed to find constant tensors by name
/// (mote-tflite keeps its generated reader private, and refuses the custom Signal ops).
fn model_constants(tflite: &[u8]) -> Vec<(String, Vec<u8>)> {
    use flatbuffers::{Follow, ForwardsUOffset, Table, Vector};
    type Tables<'a> = ForwardsUOffset<Vector<'a, ForwardsUOffset<Table<'a>>>>;
    // Field n of a table sits at vtable offset 4 + 2n.
    const fn slot(n: u16) -> u16 {
        4 + 2 * n
    }
    let model = <ForwardsUOffset<Table>>::follow(tflite, 0);
    let buffers = model.get::<Tables>(slot(4), None).unwrap();
    let subgraph = model.get::<Tables>(slot(2), None).unwrap().get(0);
    let tensors = subgraph.get::<Tables>(slot(0), None).unwrap();
    tensors
        .iter()
        .filter_map(|t| {
            let name = t.get::<ForwardsUOffset<&str>>(slot(3), None)?.to_string();
            let buffer = t.get::<u32>(slot(2), Some(0))?;
            let data = buffers
                .get(buffer as usize)
                .get::<ForwardsUOffset<Vector<u8>>>(slot(0), None)?;
            Some((name, data.safe_slice().to_vec()))
        })
        .collect()
}

fn as_i16(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn generated_tables_equal_the_model_constants() {
    let Some(shared) = shared_dir() else { return };
    let tflite =
        std::fs::read(micro_speech_dir(&shared).join("audio_preprocessor_int8.tflite")).unwrap();
    let constants = model_constants(&tflite);
    let constant = |name: &str| -> Vec<i16> {
        let (_, data) = constants
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no constant tensor {name}"));
        as_i16(data)
    };
    assert_eq!(constant("Const"), hann_window_q12().to_vec(), "window");
    let fb = FilterBankTables::micro_speech().unwrap();
    assert_eq!(
        constant("signal_filter_bank/Const"),
        fb.weights[..fb.num_weights].to_vec()
    );
    assert_eq!(
        constant("signal_filter_bank/Const_1"),
        fb.unweights[..fb.num_weights].to_vec()
    );
    assert_eq!(
        constant("signal_filter_bank/Const_2"),
        fb.channel_frequency_starts.to_vec()
    );
    assert_eq!(
        constant("signal_filter_bank/Const_3"),
        fb.channel_weight_starts.to_vec()
    );
    assert_eq!(
        constant("signal_filter_bank/Const_4"),
        fb.channel_widths.to_vec()
    );
    assert_eq!(
        constant("signal_pcan/Const"),
        pcan_gain_lut().to_vec(),
        "PCAN gain table"
    );
}

/// Compiles micro_speech_quantized.tflite with mote and classifies one [49, 40] feature map.
struct Classifier {
    artefact: Vec<u8>,
}

impl Classifier {
    fn new(shared: &Path) -> Self {
        let tflite =
            std::fs::read(micro_speech_dir(shared).join("micro_speech_quantized.tflite")).unwrap();
        let graph = mote_tflite::import(&tflite).unwrap();
        let compiled = mote_compiler::compile(&graph).unwrap();
        Classifier {
            artefact: compiled.bytes,
        }
    }

    fn scores(&self, features: &[[i8; NUM_CHANNELS]; FRAMES_PER_SECOND]) -> [i8; 4] {
        let bytes = AlignedBytes::new(&self.artefact);
        let model = Model::from_bytes(bytes.as_slice()).unwrap();
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
        let input = interpreter.input_bytes_mut(0).unwrap();
        assert_eq!(input.len(), FRAMES_PER_SECOND * NUM_CHANNELS);
        for (dst, &src) in input.iter_mut().zip(features.iter().flatten()) {
            *dst = src as u8;
        }
        interpreter.invoke().unwrap();
        let out = interpreter.output_bytes(0).unwrap();
        [out[0] as i8, out[1] as i8, out[2] as i8, out[3] as i8]
    }
}

#[test]
fn the_four_recordings_are_classified_as_tflm_classifies_them() {
    let Some(shared) = shared_dir() else { return };
    let classifier = Classifier::new(&shared);
    // TFLM's micro_speech_test: noise is expected to come out as silence.
    let cases = [
        ("yes_1000ms.wav", "yes"),
        ("no_1000ms.wav", "no"),
        ("silence_1000ms.wav", "silence"),
        ("noise_1000ms.wav", "silence"),
    ];
    for (wav, want) in cases {
        let audio = read_wav(&micro_speech_dir(&shared).join("testdata").join(wav));
        assert_eq!(num_frames(audio.len()), FRAMES_PER_SECOND, "{wav}");
        let features = micro_features_1s(&audio).unwrap();
        let scores = classifier.scores(&features);
        let best = (0..4).max_by_key(|&i| scores[i]).unwrap();
        eprintln!("{wav}: scores {scores:?} -> {}", LABELS[best]);
        assert_eq!(LABELS[best], want, "{wav}: scores {scores:?}");
    }
}

#[test]
fn a_clip_is_the_frames_of_one_stateful_front_end() {
    let Some(shared) = shared_dir() else { return };
    let audio = read_wav(&micro_speech_dir(&shared).join("testdata/yes_1000ms.wav"));
    let clip = micro_features_1s(&audio).unwrap();
    let mut frontend = MicroFrontend::new().unwrap();
    for (f, row) in clip.iter().enumerate() {
        let start = f * 320;
        assert_eq!(
            &frontend
                .process_slice(&audio[start..start + WINDOW_SAMPLES])
                .unwrap(),
            row,
            "frame {f}"
        );
    }
    // The state matters: frame 10 from a fresh front end differs from frame 10 in sequence.
    let fresh = MicroFrontend::new()
        .unwrap()
        .process_slice(&audio[3200..3200 + WINDOW_SAMPLES])
        .unwrap();
    assert_ne!(fresh, clip[10]);
}

/// Runs `audio_preprocessor_int8.tflite` in TFLM over every frame of each wav (one
/// interpreter per clip, never reset: the noise estimate evolves as in TFLM's example) and
/// prints `{path: [[40 ints] per frame]}` as JSON.
const TFLM_CLIP_SCRIPT: &str = r#"
import json, sys, wave
import numpy as np
from tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
out = {}
for path in sys.argv[2:]:
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    with wave.open(path) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    rows = []
    for start in range(0, len(audio) - 480 + 1, 320):
        interpreter.set_input(audio[start:start + 480].reshape(1, 480).astype(np.int16), 0)
        interpreter.invoke()
        rows.append(interpreter.get_output(0).astype(int).tolist())
    out[path] = rows
print(json.dumps(out))
"#;

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn whole_clips_match_one_tflm_interpreter_frame_after_frame() {
    let Some(shared) = shared_dir() else { return };
    let Some(python) = mote_testdata::tflm_python() else { return };
    let dir = micro_speech_dir(&shared);
    let mut clips: Vec<PathBuf> = [
        "yes_1000ms.wav",
        "no_1000ms.wav",
        "silence_1000ms.wav",
        "noise_1000ms.wav",
    ]
    .iter()
    .map(|w| dir.join("testdata").join(w))
    .collect();
    // Synthetic clips: the reference chirp, and a louder one (2 s) that saturates the window
    // and the auto-scale (samples at -32768) and drives PCAN over a wide range.
    let scratch = std::env::temp_dir().join(format!("mote-dsp-clips-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut chirp = [0i16; 16_000];
    mote_dsp::signal::reference_clip(&mut chirp);
    clips.push(scratch.join("chirp.wav"));
    write_wav(clips.last().unwrap(), &chirp);
    let mut loud = vec![0i16; 32_000];
    mote_dsp::signal::chirp_with_noise(&mut loud, 16_000.0, 7_000.0, 50.0, 40_000.0, 20_000.0, 7);
    assert!(loud.contains(&i16::MIN));
    clips.push(scratch.join("loud.wav"));
    write_wav(clips.last().unwrap(), &loud);

    let out = Command::new(&python)
        .arg("-c")
        .arg(TFLM_CLIP_SCRIPT)
        .arg(dir.join("audio_preprocessor_int8.tflite"))
        .args(&clips)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "TFLM failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tflm: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut frames_compared = 0;
    for clip in &clips {
        let rows = tflm[clip.to_str().unwrap()].as_array().unwrap();
        let audio = read_wav(clip);
        let mut frontend = MicroFrontend::new().unwrap();
        let mut ours = vec![[0i8; NUM_CHANNELS]; num_frames(audio.len())];
        frontend.process_clip(&audio, &mut ours).unwrap();
        assert_eq!(ours.len(), rows.len(), "{}", clip.display());
        for (f, (got, want)) in ours.iter().zip(rows).enumerate() {
            let want: Vec<i8> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap() as i8)
                .collect();
            assert_eq!(
                got.as_slice(),
                want.as_slice(),
                "{} frame {f}",
                clip.display()
            );
            frames_compared += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(frames_compared, 4 * 49 + 49 + 99);
}

/// Reads an unsigned little-endian integer of `width` bytes at `at`.
fn read_uint(b: &[u8], at: usize, width: usize) -> u64 {
    (0..width).fold(0u64, |v, i| v | (b[at + i] as u64) << (8 * i))
}

fn read_int(b: &[u8], at: usize, width: usize) -> i64 {
    let v = read_uint(b, at, width);
    let shift = 64 - 8 * width as u32;
    ((v << shift) as i64) >> shift
}

/// The integer and boolean entries of a flexbuffer whose root is a map (what TFLM's custom
/// operators keep their options in): a minimal reader of the format, enough for that.
fn flexbuffer_map(b: &[u8]) -> Vec<(String, i64)> {
    const INT: u8 = 1;
    const UINT: u8 = 2;
    const MAP: u8 = 9;
    const BOOL: u8 = 26;
    let root_width = b[b.len() - 1] as usize;
    let root_type = b[b.len() - 2];
    let root_at = b.len() - 2 - root_width;
    assert_eq!(root_type >> 2, MAP, "the options are not a map");
    let width = 1usize << (root_type & 3);
    let values = root_at - read_uint(b, root_at, root_width) as usize;
    let length = read_uint(b, values - width, width) as usize;
    let keys_width = read_uint(b, values - 2 * width, width) as usize;
    let keys_field = values - 3 * width;
    let keys = keys_field - read_uint(b, keys_field, width) as usize;
    let types = values + length * width;
    (0..length)
        .filter_map(|i| {
            let key_field = keys + i * keys_width;
            let key_at = key_field - read_uint(b, key_field, keys_width) as usize;
            let key_len = b[key_at..].iter().position(|&c| c == 0).unwrap();
            let key = String::from_utf8(b[key_at..key_at + key_len].to_vec()).unwrap();
            let at = values + i * width;
            match b[types + i] >> 2 {
                INT => Some((key, read_int(b, at, width))),
                UINT | BOOL => Some((key, read_uint(b, at, width) as i64)),
                _ => None,
            }
        })
        .collect()
}

/// Each custom operator's name and options, in order.
fn custom_operators(tflite: &[u8]) -> Vec<(String, Vec<(String, i64)>)> {
    use flatbuffers::{Follow, ForwardsUOffset, Table, Vector};
    type Tables<'a> = ForwardsUOffset<Vector<'a, ForwardsUOffset<Table<'a>>>>;
    const fn slot(n: u16) -> u16 {
        4 + 2 * n
    }
    let model = <ForwardsUOffset<Table>>::follow(tflite, 0);
    let codes = model.get::<Tables>(slot(1), None).unwrap();
    let subgraph = model.get::<Tables>(slot(2), None).unwrap().get(0);
    let operators = subgraph.get::<Tables>(slot(3), None).unwrap();
    operators
        .iter()
        .filter_map(|op| {
            let code = codes.get(op.get::<u32>(slot(0), Some(0))? as usize);
            let name = code
                .get::<ForwardsUOffset<&str>>(slot(1), None)?
                .to_string();
            let options = op
                .get::<ForwardsUOffset<Vector<u8>>>(slot(5), None)
                .map(|v| flexbuffer_map(v.safe_slice()))
                .unwrap_or_default();
            Some((name, options))
        })
        .collect()
}

#[test]
fn the_front_ends_constants_are_the_models_operator_options() {
    let Some(shared) = shared_dir() else { return };
    let path = micro_speech_dir(&shared).join("audio_preprocessor_int8.tflite");
    let tflite = std::fs::read(path).unwrap();
    let o = MODEL_OPTIONS;
    let expected: &[(&str, &str, i64)] = &[
        ("SignalWindow", "shift", o.window_shift),
        ("SignalRfft", "fft_length", o.fft_length),
        ("SignalEnergy", "start_index", o.energy_start),
        ("SignalEnergy", "end_index", o.energy_end),
        ("SignalFilterBank", "num_channels", o.num_channels),
        (
            "SignalFilterBankSpectralSubtraction",
            "num_channels",
            o.num_channels,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "smoothing_bits",
            o.smoothing_bits,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "spectral_subtraction_bits",
            o.spectral_subtraction_bits,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "smoothing",
            o.smoothing,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "one_minus_smoothing",
            o.one_minus_smoothing,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "alternate_smoothing",
            o.alternate_smoothing,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "alternate_one_minus_smoothing",
            o.alternate_one_minus_smoothing,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "min_signal_remaining",
            o.min_signal_remaining,
        ),
        (
            "SignalFilterBankSpectralSubtraction",
            "clamping",
            o.clamping as i64,
        ),
        ("SignalPCAN", "snr_shift", o.snr_shift),
        (
            "SignalFilterBankLog",
            "input_correction_bits",
            o.input_correction_bits,
        ),
        ("SignalFilterBankLog", "output_scale", o.output_scale),
    ];
    let operators = custom_operators(&tflite);
    assert!(operators.len() >= 9, "{operators:?}");
    for (op, key, want) in expected {
        let options = &operators
            .iter()
            .find(|(name, _)| name == op)
            .unwrap_or_else(|| panic!("no {op} in the model"))
            .1;
        let got = options
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{op} has no option {key}: {options:?}"))
            .1;
        assert_eq!(got, *want, "{op}.{key}");
    }
    // The int8 mapping's scalar constants: MUL by `Const1`, ADD `Cast_3`, DIV by `Const_1`.
    let constants = model_constants(&tflite);
    let scalar = |name: &str| -> i64 {
        let (_, d) = constants.iter().find(|(n, _)| n == name).unwrap();
        i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64
    };
    assert_eq!(scalar("Const1"), o.output_multiplier);
    assert_eq!(scalar("Cast_3"), o.output_rounding);
    assert_eq!(scalar("Const_1"), o.output_divisor);
    assert_eq!(
        (scalar("Const_2"), scalar("clip_by_value/Minimum/y")),
        (-128, 127)
    );
}
