//! Frozen-backbone tokens of one sample's modality, kept as f16 (half the memory of f32; the
//! backbones' outputs lose nothing that matters to a trained projection at that precision).

use std::sync::Arc;

use half::f16;

/// Where a matrix's values are.
#[derive(Clone, Debug)]
enum Values {
    /// Held in memory.
    Memory(Arc<[f16]>),
    /// A [`TokenCache`] entry, read when a batch needs it: large token maps (125 kB per image)
    /// stay on disk, where the OS page cache keeps them without counting them as ours.
    Cached(Arc<std::path::Path>),
}

/// A `rows × cols` matrix of backbone tokens (one row per image position, word piece or audio
/// window). Cheap to clone: the values are shared.
#[derive(Clone, Debug)]
pub struct TokenMatrix {
    values: Values,
    rows: usize,
    cols: usize,
}

impl TokenMatrix {
    /// From row-major f32 values; `None` when `values.len() != rows × cols` or there are no rows.
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Option<Self> {
        (rows > 0 && cols > 0 && values.len() == rows * cols).then(|| Self {
            values: Values::Memory(values.iter().map(|&v| f16::from_f32(v)).collect()),
            rows,
            cols,
        })
    }

    /// From row-major f16 values; `None` when the length does not match.
    pub fn from_f16(rows: usize, cols: usize, values: Vec<f16>) -> Option<Self> {
        (rows > 0 && cols > 0 && values.len() == rows * cols).then(|| Self {
            values: Values::Memory(values.into()),
            rows,
            cols,
        })
    }

    /// Number of tokens.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Width of each token.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether the values are read from the cache when needed (rather than held).
    pub fn is_cached(&self) -> bool {
        matches!(self.values, Values::Cached(_))
    }

    /// The values, row-major (read from the cache entry when they are not held).
    pub fn to_f16(&self) -> Result<Arc<[f16]>, CacheError> {
        match &self.values {
            Values::Memory(v) => Ok(v.clone()),
            Values::Cached(path) => Ok(read_values(path, self.rows * self.cols)?.into()),
        }
    }

    /// Writes the values as f32 into `out` (row-major, `rows × cols` long).
    pub fn write_f32(&self, out: &mut [f32]) -> Result<(), CacheError> {
        use half::slice::HalfFloatSliceExt as _;
        let n = self.rows * self.cols;
        let room = out.len();
        let Some(out) = out.get_mut(..n) else {
            return Err(CacheError::NoRoom { values: n, room });
        };
        match &self.values {
            Values::Memory(v) => v.convert_to_f32_slice(out),
            Values::Cached(path) => read_values(path, n)?.convert_to_f32_slice(out),
        }
        Ok(())
    }

    /// The same values held in memory (read once from the cache entry when they are not);
    /// `None` when the entry cannot be read.
    pub fn loaded(&self) -> Option<Self> {
        match &self.values {
            Values::Memory(_) => Some(self.clone()),
            Values::Cached(_) => Some(Self {
                values: Values::Memory(self.to_f16().ok()?),
                rows: self.rows,
                cols: self.cols,
            }),
        }
    }

    /// The first `rows` rows, in memory (`None` when there are fewer, `rows` is 0, or a cached
    /// entry cannot be read).
    pub fn first_rows(&self, rows: usize) -> Option<Self> {
        let values = self.to_f16().ok()?;
        (rows > 0 && rows <= self.rows).then(|| Self {
            values: Values::Memory(values[..rows * self.cols].into()),
            rows,
            cols: self.cols,
        })
    }

    /// Bytes held in memory (0 for a matrix read from the cache).
    pub fn bytes(&self) -> usize {
        match &self.values {
            Values::Memory(v) => v.len() * 2,
            Values::Cached(_) => 0,
        }
    }
}

impl PartialEq for TokenMatrix {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
            && self.cols == other.cols
            && matches!((self.to_f16(), other.to_f16()), (Ok(a), Ok(b)) if a == b)
    }
}

/// Per modality (in [`super::Modality`] order), the sample's backbone tokens when extracted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackboneTokens(pub [Option<TokenMatrix>; 3]);

impl BackboneTokens {
    /// The tokens of modality index `m`.
    pub fn get(&self, m: usize) -> Option<&TokenMatrix> {
        self.0.get(m).and_then(Option::as_ref)
    }
}

/// Environment variable that overrides the cache's root folder.
pub const CACHE_ENV: &str = "FUSIONLAB_CACHE_DIR";
const MAGIC: &[u8; 4] = b"FLTK";
const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 16;

/// What went wrong reading or writing the token cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// An entry a sample refers to can no longer be read.
    #[error(
        "token cache entry {} cannot be read ({reason}); delete it, or the whole cache folder, and run again: the tokens are computed again from the inputs",
        path.display()
    )]
    Unreadable {
        /// The entry.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A batch was built with too little room for a matrix (a bug, not bad data).
    #[error(
        "internal error: {values} token values do not fit the {room} a batch made room for; please report it"
    )]
    NoRoom {
        /// Values in the matrix.
        values: usize,
        /// Room in the batch.
        room: usize,
    },
    /// The file system refused.
    #[error("token cache {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Backbone outputs on disk, one small file per (input content, backbone, input size): an
/// `FLTK` header (version, rows, cols) then the f16 values, little-endian. A second run, a
/// comparison or a reopened app finds them instead of running the backbone again.
#[derive(Clone, Debug)]
pub struct TokenCache {
    dir: std::path::PathBuf,
}

impl TokenCache {
    /// The cache for one backbone variant (e.g. `efficientnet-lite0-224`) under `root`.
    pub fn new(root: &std::path::Path, variant: &str) -> Self {
        Self {
            dir: root.join("tokens").join(variant),
        }
    }

    /// The root named by the environment: `$FUSIONLAB_CACHE_DIR`, else `$XDG_CACHE_HOME/fusionlab`,
    /// else `~/.cache/fusionlab`.
    pub fn default_root() -> std::path::PathBuf {
        let from = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        };
        from(CACHE_ENV)
            .or_else(|| from("XDG_CACHE_HOME").map(|d| d.join("fusionlab")))
            .or_else(|| from("HOME").map(|h| h.join(".cache/fusionlab")))
            .unwrap_or_else(|| std::path::PathBuf::from("fusionlab-cache"))
    }

    /// The key of an input: the sha256 of its bytes (file content, UTF-8 text or pixels).
    pub fn key(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn path(&self, key: &str) -> std::path::PathBuf {
        self.dir
            .join(key.get(..2).unwrap_or("00"))
            .join(format!("{key}.fltk"))
    }

    /// The cached tokens for `key`; `None` when absent or unreadable (a damaged entry is simply
    /// computed again).
    pub fn get(&self, key: &str) -> Option<TokenMatrix> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let (header, body) = bytes.split_at_checked(HEADER)?;
        let (rows, cols) = parse_header(header)?;
        if body.len() != rows.checked_mul(cols)?.checked_mul(2)? {
            return None;
        }
        let values = body
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]))
            .collect();
        TokenMatrix::from_f16(rows, cols, values)
    }

    /// The cached tokens for `key` as a matrix that reads the entry when a batch needs it (only
    /// the header is read now); `None` when absent or damaged.
    pub fn get_lazy(&self, key: &str) -> Option<TokenMatrix> {
        use std::io::Read as _;
        let path = self.path(key);
        let mut file = std::fs::File::open(&path).ok()?;
        let mut header = [0u8; HEADER];
        file.read_exact(&mut header).ok()?;
        let (rows, cols) = parse_header(&header)?;
        let len = file.metadata().ok()?.len();
        (len == (HEADER + rows.checked_mul(cols)?.checked_mul(2)?) as u64 && rows > 0 && cols > 0)
            .then(|| TokenMatrix {
                values: Values::Cached(path.into()),
                rows,
                cols,
            })
    }

    /// Stores tokens under `key` (temporary file + rename, so readers never see half an entry).
    pub fn put(&self, key: &str, tokens: &TokenMatrix) -> Result<(), CacheError> {
        let path = self.path(key);
        let io = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        if let Values::Cached(at) = &tokens.values
            && **at == *path
        {
            return Ok(()); // already this entry
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let values = tokens.to_f16()?;
        let mut bytes = Vec::with_capacity(HEADER + values.len() * 2);
        bytes.extend_from_slice(MAGIC);
        for v in [FORMAT_VERSION, tokens.rows as u32, tokens.cols as u32] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        for v in values.iter() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// The `n` f16 values of an entry (its header already checked), read straight into place.
fn read_values(path: &std::path::Path, n: usize) -> Result<Vec<f16>, CacheError> {
    use std::io::{Read as _, Seek as _};
    let fail = |reason: String| CacheError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let len = file.metadata().map_err(|e| fail(e.to_string()))?.len();
    if len != (HEADER + n * 2) as u64 {
        return Err(fail("it changed since it was checked".into()));
    }
    file.seek(std::io::SeekFrom::Start(HEADER as u64))
        .map_err(|e| fail(e.to_string()))?;
    let mut values = vec![f16::ZERO; n];
    file.read_exact(bytemuck::cast_slice_mut(&mut values))
        .map_err(|e| fail(e.to_string()))?;
    if cfg!(target_endian = "big") {
        for v in &mut values {
            *v = f16::from_bits(u16::from_le(v.to_bits()));
        }
    }
    Ok(values)
}

/// Rows and columns from an entry's header; `None` unless it is ours, in this version.
fn parse_header(header: &[u8]) -> Option<(usize, usize)> {
    let word = |i: usize| Some(u32::from_le_bytes(header.get(i..i + 4)?.try_into().ok()?));
    (header.get(..4)? == MAGIC && word(4)? == FORMAT_VERSION)
        .then_some((word(8)? as usize, word(12)? as usize))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damaged_ones_read_as_missing() {
        let dir =
            std::env::temp_dir().join(format!("fusionlab-token-cache-{}", std::process::id()));
        let cache = TokenCache::new(&dir, "test-1");
        let key = TokenCache::key(b"some input");
        assert!(cache.get(&key).is_none());
        let tokens = TokenMatrix::from_f32(3, 2, &[0.5, -1.0, 2.0, 0.25, 0.0, 7.0]).unwrap();
        cache.put(&key, &tokens).unwrap();
        assert_eq!(cache.get(&key), Some(tokens.clone()));
        // Read lazily: nothing held, the same values when a batch asks.
        let lazy = cache.get_lazy(&key).unwrap();
        assert!(lazy.is_cached() && lazy.bytes() == 0);
        assert_eq!((lazy.rows(), lazy.cols()), (3, 2));
        assert_eq!(lazy, tokens);
        let mut out = [0f32; 6];
        lazy.write_f32(&mut out).unwrap();
        assert_eq!(out, [0.5, -1.0, 2.0, 0.25, 0.0, 7.0]);
        std::fs::write(cache.path(&key), b"FLTK\x01\0\0\0garbage").unwrap();
        assert!(cache.get(&key).is_none());
        assert!(cache.get_lazy(&key).is_none());
        // An entry damaged after it was checked fails the batch with the file's name.
        let err = lazy.write_f32(&mut out).unwrap_err().to_string();
        assert!(err.contains(".fltk"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
