use std::path::Path;

use fusionlab::data::AudioError;
use fusionlab::data::audio::{
    AudioConfig, MelSpectrogram, Waveform, fixed_window, read_wav, resample,
};

use super::common::{temp_dir, write_tone};

fn write_wav(path: &Path, spec: hound::WavSpec, frames: usize, hz: f32) {
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    for i in 0..frames {
        let s = (std::f32::consts::TAU * hz * i as f32 / spec.sample_rate as f32).sin() * 0.5;
        for _ in 0..spec.channels {
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Float, _) => w.write_sample(s).expect("write"),
                (_, 8) => w.write_sample((s * 127.0) as i8).expect("write"),
                (_, 16) => w.write_sample((s * 32767.0) as i16).expect("write"),
                (_, bits) => w
                    .write_sample((s * ((1i64 << (bits - 1)) - 1) as f32) as i32)
                    .expect("write"),
            }
        }
    }
    w.finalize().expect("finalize");
}

fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

/// Index of the strongest mel band, averaged over time.
fn peak_band(mel: &[f32], cfg: &AudioConfig) -> usize {
    let [bands, frames] = cfg.shape();
    (0..bands)
        .max_by(|&a, &b| {
            let e = |m: usize| mel[m * frames..(m + 1) * frames].iter().sum::<f32>();
            e(a).total_cmp(&e(b))
        })
        .unwrap_or(0)
}

#[test]
fn every_integer_and_float_format_reads_at_half_scale() {
    let dir = temp_dir();
    for (bits, float) in [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        let path = dir.path().join(format!("tone{bits}{float}.wav"));
        write_wav(&path, spec(1, 8000, bits, float), 800, 250.0);
        let wave = read_wav(&path, 600.0).unwrap_or_else(|e| panic!("{bits}-bit: {e}"));
        assert_eq!(wave.sample_rate, 8000);
        assert_eq!(wave.samples.len(), 800);
        let peak = wave.samples.iter().fold(0f32, |p, s| p.max(s.abs()));
        assert!(
            (peak - 0.5).abs() < 0.02,
            "{bits}-bit float={float}: peak {peak}"
        );
    }
}

#[test]
fn stereo_24_bit_44k_works_end_to_end() {
    let dir = temp_dir();
    let path = dir.path().join("stereo.wav");
    write_wav(&path, spec(2, 44_100, 24, false), 44_100, 1000.0);
    let wave = read_wav(&path, 600.0).expect("read");
    assert_eq!(wave.samples.len(), 44_100, "downmixed to mono");
    let cfg = AudioConfig::default();
    let mel = MelSpectrogram::new(&cfg);
    let features = mel.features_from_file(&path).expect("features");
    assert_eq!(features.len(), 64 * 98);
    assert!(features.iter().all(|v| v.is_finite()));
    // 1 kHz lands in the band whose centre is nearest 1 kHz (HTK scale, 64 bands to 8 kHz).
    let hz_to_mel = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
    let expected = (hz_to_mel(1000.0) / hz_to_mel(8000.0) * 65.0).round() as usize - 1;
    let band = peak_band(&features, &cfg);
    assert!(
        band.abs_diff(expected) <= 1,
        "peak band {band}, expected {expected}"
    );
}

#[test]
fn resampling_keeps_pitch_and_duration() {
    let rate = 8000;
    let samples: Vec<f32> = (0..rate)
        .map(|i| (std::f32::consts::TAU * 440.0 * i as f32 / rate as f32).sin())
        .collect();
    let out = resample(
        &Waveform {
            samples,
            sample_rate: rate as u32,
        },
        16_000,
        Path::new("x"),
    )
    .expect("resample");
    assert!(
        (out.len() as i64 - 16_000).abs() < 64,
        "length {}",
        out.len()
    );
    // Count rising zero crossings in the middle half: 440 per second.
    let mid = &out[4000..12_000];
    let crossings = mid.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    assert!(
        (218..=222).contains(&crossings),
        "{crossings} crossings in 0.5 s"
    );
}

#[test]
fn fixed_window_pads_short_and_centres_long_clips_on_the_loudest_part() {
    let short = fixed_window(&[1.0, 1.0], 6);
    assert_eq!(short, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    let mut long = vec![0.01f32; 100];
    for s in &mut long[70..80] {
        *s = 1.0;
    }
    let w = fixed_window(&long, 20);
    assert_eq!(w.len(), 20);
    assert_eq!(
        w.iter().filter(|&&s| s == 1.0).count(),
        10,
        "the loud part is inside the window"
    );
}

#[test]
fn silence_and_short_clips_give_the_floor_and_the_full_shape() {
    let cfg = AudioConfig::default();
    let mel = MelSpectrogram::new(&cfg);
    let features = mel
        .features(
            &Waveform {
                samples: vec![0.0; 100],
                sample_rate: 16_000,
            },
            Path::new("s"),
        )
        .expect("mel");
    assert_eq!(features.len(), cfg.n_mels * cfg.frames());
    let floor = cfg.log_floor.ln();
    assert!(features.iter().all(|&v| (v - floor).abs() < 1e-4));
}

#[test]
fn not_a_wav_is_named() {
    let dir = temp_dir();
    let path = dir.path().join("song.wav");
    std::fs::write(&path, b"ID3\x03\x00 this is an mp3, honestly").expect("write");
    let err = read_wav(&path, 600.0).expect_err("not wav");
    assert!(matches!(err, AudioError::NotWav { .. }), "{err:?}");
    assert!(err.to_string().contains("song.wav"), "{err}");
}

#[test]
fn truncated_data_is_reported() {
    let dir = temp_dir();
    let path = dir.path().join("cut.wav");
    write_tone(&path, 16_000, 1.0, 300.0);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2 + 1]).expect("write");
    let err = read_wav(&path, 600.0).expect_err("truncated");
    assert!(matches!(err, AudioError::Truncated { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.wav"), "{err}");
}

#[test]
fn empty_wav_is_reported() {
    let dir = temp_dir();
    let path = dir.path().join("empty.wav");
    hound::WavWriter::create(&path, spec(1, 16_000, 16, false))
        .expect("create")
        .finalize()
        .expect("fin");
    let err = read_wav(&path, 600.0).expect_err("empty");
    assert!(matches!(err, AudioError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.wav"), "{err}");
}

fn riff_header(format_tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&36u32.to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&format_tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    b.extend_from_slice(&align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b
}

#[test]
fn header_without_data_is_truncated() {
    let dir = temp_dir();
    let path = dir.path().join("nodata.wav");
    std::fs::write(&path, riff_header(1, 1, 16_000, 16)).expect("write");
    let err = read_wav(&path, 600.0).expect_err("no data");
    assert!(matches!(err, AudioError::Truncated { .. }), "{err:?}");
    assert!(err.to_string().contains("nodata.wav"), "{err}");
}

#[test]
fn unsupported_encodings_are_named() {
    let dir = temp_dir();
    let path = dir.path().join("double.wav");
    let mut bytes = riff_header(3, 1, 16_000, 64); // 64-bit float
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&path, bytes).expect("write");
    let err = read_wav(&path, 600.0).expect_err("f64");
    assert!(matches!(err, AudioError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("double.wav"), "{err}");
}

#[test]
fn clips_over_ten_minutes_are_refused() {
    let dir = temp_dir();
    let path = dir.path().join("long.wav");
    write_tone(&path, 1000, 601.0, 100.0);
    let err = read_wav(&path, 600.0).expect_err("long");
    assert!(matches!(err, AudioError::TooLong { .. }), "{err:?}");
    assert!(
        err.to_string().contains("long.wav") && err.to_string().contains("600"),
        "{err}"
    );
}
