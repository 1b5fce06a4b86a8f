//! What a backbone reads: the original picture, sentence or 16 kHz recording of a sample or of
//! a prediction's raw inputs.

use std::path::Path;

use super::super::{AudioInput, EngineError, ImageInput, RawInput};
use crate::data::{FeatureConfig, Origin, Sample, audio, image as data_image};
use crate::model::pretrained::speech;

/// One input as its backbone reads it: the picture at its own size, the sentence, the recording
/// at 16 kHz.
pub enum BackboneInput {
    /// A picture.
    Image(image::RgbImage),
    /// A sentence.
    Text(String),
    /// A mono recording at 16 kHz.
    Audio(Vec<f32>),
}

impl BackboneInput {
    /// The input of modality `m` from a prediction's raw inputs.
    pub(super) fn raw(raw: &RawInput, m: usize) -> Result<Self, EngineError> {
        let missing = || EngineError::Data("the input has no such modality".into());
        match m {
            0 => match raw.image.as_ref().ok_or_else(missing)? {
                ImageInput::File(path) => {
                    let img =
                        data_image::decode_image_file(path, &data_image::ImageConfig::default())
                            .map_err(|e| EngineError::Data(e.to_string()))?;
                    Ok(Self::Image(img.to_rgb8()))
                }
                ImageInput::Rgb {
                    width,
                    height,
                    pixels,
                } => image::RgbImage::from_raw(*width, *height, pixels.clone())
                    .map(Self::Image)
                    .ok_or_else(|| {
                        EngineError::Data(format!(
                            "the picture's pixels do not fill {width}×{height}"
                        ))
                    }),
            },
            1 => Ok(Self::Text(raw.text.clone().ok_or_else(missing)?)),
            _ => match raw.audio.as_ref().ok_or_else(missing)? {
                AudioInput::File(path) => Ok(Self::Audio(read_16k(path, 600.0)?)),
                AudioInput::Samples {
                    sample_rate,
                    samples,
                } => {
                    let wave = audio::Waveform {
                        samples: samples.clone(),
                        sample_rate: *sample_rate,
                    };
                    audio::resample(&wave, speech::SAMPLE_RATE, Path::new("recording"))
                        .map(Self::Audio)
                        .map_err(|e| EngineError::Data(e.to_string()))
                }
            },
        }
    }

    /// The input of modality `m` of a sample: the original file when there is one, else what the
    /// dataset holds (synthetic pictures are turned back into RGB).
    pub(super) fn of(
        sample: &Sample,
        m: usize,
        features: &FeatureConfig,
    ) -> Result<Self, EngineError> {
        let (image_file, audio_file) = match &sample.origin {
            Origin::Files { image, audio } => (image.clone(), audio.clone()),
            Origin::Synthetic { .. } => (None, None),
        };
        match m {
            0 => match image_file {
                Some(path) => {
                    let img = data_image::decode_image_file(&path, &features.image)
                        .map_err(|e| EngineError::Data(e.to_string()))?;
                    Ok(Self::Image(img.to_rgb8()))
                }
                None => Ok(Self::Image(pixels_to_rgb(sample, &features.image)?)),
            },
            1 => Ok(Self::Text(
                sample
                    .text
                    .as_ref()
                    .map(|t| t.raw.clone())
                    .unwrap_or_default(),
            )),
            _ => match audio_file {
                Some(path) => Ok(Self::Audio(read_16k(&path, features.audio.max_seconds)?)),
                None => Err(no_recording(sample)),
            },
        }
    }

    /// Whether modality `m` of `sample` can be given to a backbone: every picture and sentence
    /// can, a sound only when its recording is a file (synthetic sounds are log-mels only).
    pub(super) fn check(sample: &Sample, m: usize) -> Result<(), EngineError> {
        match (&sample.origin, m) {
            (Origin::Files { audio: Some(_), .. }, _) | (_, 0 | 1) => Ok(()),
            _ => Err(no_recording(sample)),
        }
    }

    /// What identifies the input's content.
    pub(super) fn key_bytes(&self) -> Vec<u8> {
        match self {
            Self::Image(img) => {
                let mut bytes = format!("{}x{}:", img.width(), img.height()).into_bytes();
                bytes.extend_from_slice(img.as_raw());
                bytes
            }
            Self::Text(text) => text.as_bytes().to_vec(),
            Self::Audio(samples) => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }
}

fn no_recording(sample: &Sample) -> EngineError {
    EngineError::Data(format!(
        "sample {}: the audio backbone needs the recording, and this dataset only holds log-mel spectrograms (synthetic sounds); train its audio from scratch",
        sample.id
    ))
}

/// A 16 kHz mono waveform from a WAV file.
fn read_16k(path: &Path, max_seconds: f64) -> Result<Vec<f32>, EngineError> {
    let wave = audio::read_wav(path, max_seconds).map_err(|e| EngineError::Data(e.to_string()))?;
    audio::resample(&wave, speech::SAMPLE_RATE, path).map_err(|e| EngineError::Data(e.to_string()))
}

/// A sample's normalised CHW pixels back to an RGB picture.
fn pixels_to_rgb(
    sample: &Sample,
    cfg: &data_image::ImageConfig,
) -> Result<image::RgbImage, EngineError> {
    let side = cfg.size as usize;
    let px = sample.image.as_deref().unwrap_or_default();
    if px.len() != 3 * side * side {
        return Err(EngineError::Data(format!(
            "sample {}: image has {} values, expected 3×{side}×{side}",
            sample.id,
            px.len()
        )));
    }
    let plane = side * side;
    Ok(image::RgbImage::from_fn(cfg.size, cfg.size, |x, y| {
        let at = y as usize * side + x as usize;
        image::Rgb(std::array::from_fn(|c| {
            let v = px[c * plane + at] * cfg.std[c] + cfg.mean[c];
            (v * 255.0).round().clamp(0.0, 255.0) as u8
        }))
    }))
}
