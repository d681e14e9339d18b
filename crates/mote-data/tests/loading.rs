//! Loading wav, csv, png and bmp folders written to a temporary directory, and the errors
//! that bad files give.

use std::path::Path;

use mote_data::{
    load_audio, load_csv, load_images, load_wav, CsvMode, CsvOptions, Error, ImageOptions,
};

fn write_wav(path: &Path, rate: u32, channels: u16, frames: &[Vec<i16>]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for frame in frames {
        for &s in frame {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
}

#[test]
fn wav_folders_give_labels_groups_and_16k_mono() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["no", "yes", "_background_noise_"] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
    }
    let mono: Vec<Vec<i16>> = (0..1600).map(|i| vec![(i % 100) as i16 * 100]).collect();
    write_wav(&dir.path().join("yes/alice__0.wav"), 16_000, 1, &mono);
    write_wav(
        &dir.path().join("yes/0a7c2a8d_nohash_1.wav"),
        16_000,
        1,
        &mono,
    );
    // Stereo: channels averaged.
    let stereo: Vec<Vec<i16>> = (0..1600).map(|_| vec![1000, 3000]).collect();
    write_wav(&dir.path().join("no/bob__7.wav"), 16_000, 2, &stereo);
    // 8 kHz: resampled to twice as many samples.
    let low: Vec<Vec<i16>> = (0..800).map(|_| vec![0]).collect();
    write_wav(&dir.path().join("no/carol.wav"), 8_000, 1, &low);
    // Not a class: skipped.
    write_wav(
        &dir.path().join("_background_noise_/x.wav"),
        16_000,
        1,
        &mono,
    );
    std::fs::write(dir.path().join("yes/notes.txt"), "ignored").unwrap();

    let ds = load_audio(dir.path()).unwrap();
    assert_eq!(ds.classes, ["no", "yes"]);
    assert_eq!(ds.items.len(), 4);
    let by_name = |name: &str| {
        ds.items
            .iter()
            .find(|i| i.source.file_name().unwrap() == name)
            .unwrap()
    };
    let bob = by_name("bob__7.wav");
    assert_eq!((bob.label, bob.group.as_str()), (0, "bob"));
    assert!(
        bob.data.samples.iter().all(|&s| s == 2000),
        "stereo averaged"
    );
    let carol = by_name("carol.wav");
    assert_eq!(carol.group, "carol");
    assert_eq!(carol.data.samples.len(), 1600);
    assert_eq!(by_name("0a7c2a8d_nohash_1.wav").group, "0a7c2a8d");
    let alice = by_name("alice__0.wav");
    assert_eq!((alice.label, alice.group.as_str()), (1, "alice"));
    assert_eq!(alice.data.samples[..3], [0, 100, 200]);
}

#[test]
fn bad_wav_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("yes")).unwrap();
    let bad = dir.path().join("yes/broken.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let err = load_audio(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Wav { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.wav"), "{err}");
    let err = load_wav(dir.path().join("yes/missing.wav")).unwrap_err();
    assert!(err.to_string().contains("missing.wav"), "{err}");
}

#[test]
fn empty_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_audio(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NoClasses { .. }), "{err:?}");
    assert!(err.to_string().contains(".wav"));
}

#[test]
fn csv_whole_files_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("walk")).unwrap();
    std::fs::create_dir(dir.path().join("run")).unwrap();
    // With a header, 10 rows × 3 channels.
    let mut text = String::from("x,y,z\n");
    for i in 0..10 {
        text += &format!("{i},{},{}\n", i * 10, -i);
    }
    std::fs::write(dir.path().join("walk/rec1.csv"), &text).unwrap();
    // Without a header, 4 rows × 3 channels.
    std::fs::write(
        dir.path().join("run/m3__a.csv"),
        "1,2,3\n4,5,6\n7,8,9\n1.5,2.5,-3e2\n",
    )
    .unwrap();

    let whole = load_csv(dir.path(), &CsvOptions::default()).unwrap();
    assert_eq!(whole.classes, ["run", "walk"]);
    assert_eq!(whole.items.len(), 2);
    let run = &whole.items[0].data;
    assert_eq!((run.frames, run.channels), (4, 3));
    assert_eq!(run.columns, ["c0", "c1", "c2"]);
    assert_eq!(run.values[11], -300.0);
    assert_eq!(whole.items[0].group, "m3");
    let walk = &whole.items[1].data;
    assert_eq!(walk.columns, ["x", "y", "z"]);
    assert_eq!(
        walk.channel(1),
        (0..10).map(|i| (i * 10) as f32).collect::<Vec<_>>()
    );

    let windows = load_csv(
        dir.path(),
        &CsvOptions {
            mode: CsvMode::Windows { window: 4, hop: 3 },
        },
    )
    .unwrap();
    // run: 4 frames → 1 window; walk: 10 frames → starts 0, 3, 6 → 3 windows.
    assert_eq!(windows.items.len(), 4);
    let walk_windows: Vec<_> = windows.items.iter().filter(|i| i.label == 1).collect();
    assert_eq!(walk_windows.len(), 3);
    assert!(walk_windows
        .iter()
        .all(|w| w.group == "rec1" && w.data.frames == 4));
    assert_eq!(walk_windows[2].data.channel(0), [6.0, 7.0, 8.0, 9.0]);

    let err = load_csv(
        dir.path(),
        &CsvOptions {
            mode: CsvMode::Windows { window: 0, hop: 1 },
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Options(_)));
}

#[test]
fn bad_csv_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    let path = dir.path().join("a/bad.csv");
    std::fs::write(&path, "t,v\n1,2\n3,oops\n").unwrap();
    let err = load_csv(dir.path(), &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.csv") && err.contains("line 3") && err.contains("column 2"),
        "{err}"
    );

    std::fs::write(&path, "1,2\n3\n").unwrap();
    let err = load_csv(dir.path(), &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.csv") && err.contains("line 2") && err.contains("1 columns"),
        "{err}"
    );

    std::fs::write(&path, "a,b\n").unwrap();
    let err = load_csv(dir.path(), &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no data rows"), "{err}");
}

#[test]
fn png_and_bmp_images() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cat")).unwrap();
    std::fs::create_dir(dir.path().join("dog")).unwrap();
    let rgb = image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8 * 10, y as u8 * 20, 200]));
    rgb.save(dir.path().join("cat/c1__0.png")).unwrap();
    let gray = image::GrayImage::from_fn(2, 2, |x, y| image::Luma([(x + 2 * y) as u8 * 50]));
    gray.save(dir.path().join("dog/d.bmp")).unwrap();

    let ds = load_images(dir.path(), &ImageOptions::default()).unwrap();
    assert_eq!(ds.classes, ["cat", "dog"]);
    let cat = &ds.items[0].data;
    assert_eq!((cat.width, cat.height, cat.channels), (4, 3, 3));
    // Pixel (x=3, y=2).
    let at = ((2 * 4 + 3) * 3) as usize;
    assert_eq!(cat.pixels[at..at + 3], [30, 40, 200]);
    assert_eq!(ds.items[0].group, "c1");
    let dog = &ds.items[1].data;
    // BMP stores 8-bit grayscale as a palette or RGB; either way it comes back as the
    // same gray levels.
    let levels: Vec<u8> = if dog.channels == 1 {
        dog.pixels.clone()
    } else {
        dog.pixels.chunks(3).map(|p| p[0]).collect()
    };
    assert_eq!(levels, [0, 50, 100, 150]);

    let gray_all = load_images(dir.path(), &ImageOptions { grayscale: true }).unwrap();
    assert!(gray_all.items.iter().all(|i| i.data.channels == 1));
    assert_eq!(gray_all.items[0].data.pixels.len(), 12);
}

#[test]
fn bad_image_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cat")).unwrap();
    std::fs::write(
        dir.path().join("cat/fake.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let err = load_images(dir.path(), &ImageOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Image { .. }), "{err:?}");
    assert!(err.to_string().contains("fake.png"), "{err}");
}
