//! The input thread: decodes files and dataset samples and answers predictions with its own
//! handle on the current model, so neither waits for a training run on the main worker thread.
//! Of several queued predictions only the newest is answered (the user has moved on).

use std::path::Path;
use std::sync::{Arc, mpsc};

use candle_core::Device;

use super::EventSender;
use super::protocol::{DecodedAudio, DecodedImage, DecodedInput, Event, Source};
use crate::data::audio::read_wav;
use crate::data::image::{ImageConfig, decode_image_file};
use crate::data::synthetic::render_sample;
use crate::engine::{self, RawInput};
use crate::model::checkpoint::LoadedModel;

/// Work for the input thread.
pub(super) enum Job {
    /// The model to predict with changed.
    Model(Option<Arc<LoadedModel>>, Device),
    /// Decode something.
    Decode { request_id: u64, source: Source },
    /// Predict.
    Predict { request_id: u64, input: RawInput },
    /// End the thread.
    Shutdown,
}

/// Largest side of a decoded image kept for display and prediction (the model sees 32 pixels).
const MAX_SIDE: u32 = 1024;

pub(super) fn run(jobs: &mpsc::Receiver<Job>, events: &EventSender) {
    let mut model: Option<Arc<LoadedModel>> = None;
    let mut device = Device::Cpu;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let newest_predict = batch.iter().rposition(|j| matches!(j, Job::Predict { .. }));
        for (i, job) in batch.into_iter().enumerate() {
            match job {
                Job::Shutdown => return,
                Job::Model(m, d) => {
                    model = m;
                    device = d;
                }
                Job::Decode { request_id, source } => match decode(&source) {
                    Ok(input) => events.send(Event::Decoded {
                        request_id,
                        input: Box::new(input),
                    }),
                    Err(message) => events.send(Event::Failed {
                        context: "Opening an input".into(),
                        message,
                    }),
                },
                Job::Predict { request_id, input } if Some(i) == newest_predict => {
                    match predict(model.as_deref(), &device, &input) {
                        Ok(prediction) => events.send(Event::Prediction {
                            request_id,
                            prediction: Box::new(prediction),
                        }),
                        Err(message) => events.send(Event::Failed {
                            context: "Predicting".into(),
                            message,
                        }),
                    }
                }
                Job::Predict { .. } => {} // superseded by a newer request
            }
        }
        super::release_freed_memory();
    }
}

fn predict(
    model: Option<&LoadedModel>,
    device: &Device,
    input: &RawInput,
) -> Result<engine::Prediction, String> {
    let model = model
        .ok_or_else(|| "there is no model yet: train one or load one from models/".to_owned())?;
    let sample = engine::prepare_input(input, &model.card.features).map_err(|e| e.to_string())?;
    engine::predict(model, &sample, device).map_err(|e| e.to_string())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn decode_image(path: &Path) -> Result<DecodedImage, String> {
    let cfg = ImageConfig::default();
    let image = decode_image_file(path, &cfg).map_err(|e| e.to_string())?;
    let image = if image.width().max(image.height()) > MAX_SIDE {
        image.resize(MAX_SIDE, MAX_SIDE, ::image::imageops::FilterType::Triangle)
    } else {
        image
    };
    // Transparent areas over white, as the model's preprocessing does.
    let rgba = image.to_rgba8();
    let rgb = rgba
        .pixels()
        .flat_map(|p| {
            let a = u16::from(p.0[3]);
            [0, 1, 2].map(|c| ((u16::from(p.0[c]) * a + 255 * (255 - a)) / 255) as u8)
        })
        .collect();
    Ok(DecodedImage {
        name: file_name(path),
        width: rgba.width(),
        height: rgba.height(),
        rgb,
    })
}

fn decode_audio(path: &Path) -> Result<DecodedAudio, String> {
    let wave = read_wav(path, crate::data::audio::AudioConfig::default().max_seconds)
        .map_err(|e| e.to_string())?;
    if wave.samples.is_empty() {
        return Err(format!(
            "{}: the WAV file has no samples; choose another file",
            path.display()
        ));
    }
    Ok(DecodedAudio {
        name: file_name(path),
        sample_rate: wave.sample_rate,
        samples: wave.samples,
    })
}

/// Largest text file accepted as an input.
const MAX_TEXT_BYTES: u64 = 64 * 1024;

fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a folder, not a text file", path.display()));
    }
    if meta.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "{} is {} KiB; a sentence for the model should be under {} KiB",
            path.display(),
            meta.len() / 1024,
            MAX_TEXT_BYTES / 1024
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes)
        .map(|t| t.trim().to_owned())
        .map_err(|_| {
            format!(
                "{} is not UTF-8 text; save it as UTF-8 and try again",
                path.display()
            )
        })
}

/// RGB bytes from `[0, 1]` CHW planes.
pub(crate) fn chw_to_rgb(chw: &[f32], size: usize) -> Vec<u8> {
    let plane = size * size;
    (0..plane)
        .flat_map(|i| {
            [0, 1, 2].map(|c| {
                (chw.get(c * plane + i)
                    .copied()
                    .unwrap_or(0.0)
                    .clamp(0.0, 1.0)
                    * 255.0)
                    .round() as u8
            })
        })
        .collect()
}

/// Decode a source (also used by tests through the worker).
pub(super) fn decode(source: &Source) -> Result<DecodedInput, String> {
    match source {
        Source::ImageFile(path) => Ok(DecodedInput {
            image: Some(decode_image(path)?),
            ..DecodedInput::default()
        }),
        Source::AudioFile(path) => Ok(DecodedInput {
            audio: Some(decode_audio(path)?),
            ..DecodedInput::default()
        }),
        Source::TextFile(path) => Ok(DecodedInput {
            text: Some(read_text(path)?),
            ..DecodedInput::default()
        }),
        Source::Example(dir) => {
            let part = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
            let input = DecodedInput {
                image: part("image.png").as_deref().map(decode_image).transpose()?,
                audio: part("sound.wav").as_deref().map(decode_audio).transpose()?,
                text: part("text.txt").as_deref().map(read_text).transpose()?,
            };
            if input == DecodedInput::default() {
                return Err(format!(
                    "{}: no image.png, sound.wav or text.txt in this example folder",
                    dir.display()
                ));
            }
            Ok(input)
        }
        Source::Files { image, audio, text } => Ok(DecodedInput {
            image: image.as_deref().map(decode_image).transpose()?,
            audio: audio.as_deref().map(decode_audio).transpose()?,
            text: text.clone(),
        }),
        Source::Synthetic {
            config,
            features,
            index,
        } => {
            if *index >= config.samples {
                return Err(format!(
                    "sample {index} does not exist: {} has {} samples",
                    config.spec(),
                    config.samples
                ));
            }
            let r = render_sample(config, features, *index);
            let size = features.image.size;
            let id = format!("syn_{index:05}");
            Ok(DecodedInput {
                image: r.image.map(|px| DecodedImage {
                    name: id.clone(),
                    width: size,
                    height: size,
                    rgb: chw_to_rgb(&px, size as usize),
                }),
                text: r.text,
                audio: r.audio.map(|samples| DecodedAudio {
                    name: id.clone(),
                    sample_rate: features.audio.sample_rate,
                    samples,
                }),
            })
        }
    }
}
