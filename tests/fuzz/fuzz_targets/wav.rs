//! WAV decode + log-mel: any bytes give finite features of the configured shape or an error.
#![no_main]

use fusionlab::data::audio::{AudioConfig, MelSpectrogram, read_wav_from};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static MEL: OnceLock<MelSpectrogram> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mel = MEL.get_or_init(|| MelSpectrogram::new(&AudioConfig::default()));
    let path = Path::new("fuzz.wav");
    if let Ok(wave) = read_wav_from(data, path, mel.config().max_seconds)
        && let Ok(features) = mel.features(&wave, path)
    {
        assert_eq!(
            features.len(),
            mel.config().shape().iter().product::<usize>()
        );
        assert!(features.iter().all(|v| v.is_finite()), "non-finite log-mel");
    }
});
