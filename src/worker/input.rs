//! The input thread: decodes files and dataset samples and answers predictions with its own
//! handle on the current model, so neither waits for a training run on the main worker thread.
//! Of several queued predictions only the newest runs; the others end as cancelled.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use candle_core::Device;

use super::error::JobError;
use super::job::{JobId, JobKind, Registry};
use super::protocol::{DecodedAudio, DecodedImage, DecodedInput, Outcome, Source};
use super::{EventSender, run_job};
use crate::data::audio::read_wav;
use crate::data::image::{ImageConfig, decode_image_file};
use crate::data::synthetic::render_sample;
use crate::data::text::MAX_TEXT_BYTES;
use crate::data::{AudioError, ImageError};
use crate::engine::extract::{ExtractOptions, Extractor, merge_word_pieces};
use crate::engine::{self, EngineError, RawInput};
use crate::model::checkpoint::LoadedModel;

/// Work for the input thread.
pub(super) enum Msg {
    /// The model to predict with changed.
    Model(Option<Arc<LoadedModel>>, Device),
    /// Decode something.
    Decode(JobId, Source),
    /// Predict.
    Predict(JobId, RawInput),
    /// Change a project.
    Project(JobId, PathBuf, super::project::ProjectOp),
    /// End the thread.
    Shutdown,
}

/// Why an input could not be opened or predicted.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// An image that cannot be decoded.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A WAV that cannot be read.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Preparing or running the model.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No current model to predict with.
    #[error("there is no model yet: train one or load one from models/")]
    NoModel,
    /// A WAV without samples.
    #[error("{}: the WAV file has no samples; choose another file", .0.display())]
    EmptyWav(PathBuf),
    /// A file that cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A folder given as a text file.
    #[error("{} is a folder, not a text file", .0.display())]
    Folder(PathBuf),
    /// A text file too large for a sentence.
    #[error("{} is {kib} KiB; a sentence for the model should be under {} KiB", path.display(), MAX_TEXT_BYTES / 1024)]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        kib: u64,
    },
    /// A text file that is not UTF-8.
    #[error("{} is not UTF-8 text; save it as UTF-8 and try again", .0.display())]
    NotUtf8(PathBuf),
    /// An example folder with none of the three files.
    #[error("{}: no image.png, sound.wav or text.txt in this example folder", .0.display())]
    EmptyExample(PathBuf),
    /// A synthetic sample index past the end.
    #[error("sample {index} does not exist: {spec} has {samples} samples")]
    NoSample {
        /// The index asked for.
        index: usize,
        /// The dataset spec.
        spec: String,
        /// Its sample count.
        samples: usize,
    },
}

/// Largest side of a decoded image kept for display and prediction (the model sees 32 pixels).
const MAX_SIDE: u32 = 1024;

pub(super) fn run(inbox: &mpsc::Receiver<Msg>, events: &EventSender, registry: &Registry) {
    let mut model: Option<Arc<LoadedModel>> = None;
    let mut device = Device::Cpu;
    // Backbones stay loaded between predictions (created on the first that needs one).
    let mut extractor: Option<Extractor> = None;
    let mut projects = super::project::Projects::default();
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        batch.extend(inbox.try_iter());
        let newest_predict = batch.iter().rposition(|m| matches!(m, Msg::Predict(..)));
        for (i, msg) in batch.into_iter().enumerate() {
            match msg {
                Msg::Shutdown => return,
                Msg::Model(m, d) => {
                    model = m;
                    if !matches!((&device, &d), (Device::Cpu, Device::Cpu)) {
                        extractor = None;
                    }
                    device = d;
                }
                Msg::Decode(id, source) => run_job(registry, events, id, JobKind::Decode, |_| {
                    Ok(Outcome::Decoded(Box::new(decode(&source)?)))
                }),
                Msg::Project(id, dir, op) => {
                    run_job(registry, events, id, JobKind::Project, |_| {
                        projects.run(&dir, op)
                    });
                }
                Msg::Predict(id, input) => {
                    // Superseded by a newer request: the user has moved on.
                    let newest = Some(i) == newest_predict;
                    run_job(registry, events, id, JobKind::Predict, |_| {
                        if !newest {
                            return Err(JobError::Cancelled);
                        }
                        let prediction =
                            predict(model.as_deref(), &device, &mut extractor, &input)?;
                        Ok(Outcome::Prediction(Box::new(prediction)))
                    });
                }
            }
        }
        super::release_freed_memory();
    }
}

fn predict(
    model: Option<&LoadedModel>,
    device: &Device,
    extractor: &mut Option<Extractor>,
    input: &RawInput,
) -> Result<engine::Prediction, InputError> {
    let model = model.ok_or(InputError::NoModel)?;
    let mut sample = engine::prepare_input(input, &model.card.features)?;
    let backbones = model.model.config().backbones;
    if backbones.is_scratch() {
        return Ok(engine::predict(model, &sample, device)?);
    }
    let extractor =
        extractor.get_or_insert_with(|| Extractor::new(ExtractOptions::default(), device.clone()));
    extractor.input(input, &mut sample, &backbones)?;
    let mut prediction = engine::predict(model, &sample, device)?;
    if let (Some(_), Some(text)) = (backbones.text, sample.text.as_ref())
        && prediction.present[1]
    {
        // The backbone read word pieces; the panel shades words.
        let encoding = extractor.word_pieces(&text.raw)?;
        let (words, weights) = merge_word_pieces(&encoding, &text.raw, &prediction.attention[1]);
        prediction.words = words;
        prediction.attention[1] = weights;
    }
    Ok(prediction)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn decode_image(path: &Path) -> Result<DecodedImage, InputError> {
    let cfg = ImageConfig::default();
    let image = decode_image_file(path, &cfg)?;
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

fn decode_audio(path: &Path) -> Result<DecodedAudio, InputError> {
    let wave = read_wav(path, crate::data::audio::AudioConfig::default().max_seconds)?;
    if wave.samples.is_empty() {
        return Err(InputError::EmptyWav(path.to_path_buf()));
    }
    Ok(DecodedAudio {
        name: file_name(path),
        sample_rate: wave.sample_rate,
        samples: wave.samples,
    })
}

fn read_text(path: &Path) -> Result<String, InputError> {
    let read = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if meta.is_dir() {
        return Err(InputError::Folder(path.to_path_buf()));
    }
    if meta.len() > MAX_TEXT_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            kib: meta.len() / 1024,
        });
    }
    let bytes = std::fs::read(path).map_err(read)?;
    String::from_utf8(bytes)
        .map(|t| t.trim().to_owned())
        .map_err(|_| InputError::NotUtf8(path.to_path_buf()))
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
pub(super) fn decode(source: &Source) -> Result<DecodedInput, InputError> {
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
                return Err(InputError::EmptyExample(dir.clone()));
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
                return Err(InputError::NoSample {
                    index: *index,
                    spec: config.spec(),
                    samples: config.samples,
                });
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
