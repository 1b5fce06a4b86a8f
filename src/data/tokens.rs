//! Frozen-backbone tokens of one sample's modality, kept as f16 (half the memory of f32; the
//! backbones' outputs lose nothing that matters to a trained projection at that precision).

use std::sync::Arc;

use half::f16;

/// A `rows × cols` matrix of backbone tokens (one row per image position, word piece or audio
/// window). Cheap to clone: the values are shared.
#[derive(Clone, Debug)]
pub struct TokenMatrix {
    values: Arc<[f16]>,
    rows: usize,
    cols: usize,
}

impl TokenMatrix {
    /// From row-major f32 values; `None` when `values.len() != rows × cols` or there are no rows.
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Option<Self> {
        (rows > 0 && cols > 0 && values.len() == rows * cols).then(|| Self {
            values: values.iter().map(|&v| f16::from_f32(v)).collect(),
            rows,
            cols,
        })
    }

    /// From row-major f16 values; `None` when the length does not match.
    pub fn from_f16(rows: usize, cols: usize, values: Vec<f16>) -> Option<Self> {
        (rows > 0 && cols > 0 && values.len() == rows * cols).then(|| Self {
            values: values.into(),
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

    /// The stored values, row-major.
    pub fn values(&self) -> &[f16] {
        &self.values
    }

    /// Writes the first `out.len() / cols` rows as f32 into `out` (row-major).
    pub fn write_f32(&self, out: &mut [f32]) {
        for (o, v) in out.iter_mut().zip(self.values.iter()) {
            *o = v.to_f32();
        }
    }

    /// The first `rows` rows (`None` when there are fewer, or `rows` is 0).
    pub fn first_rows(&self, rows: usize) -> Option<Self> {
        (rows > 0 && rows <= self.rows).then(|| Self {
            values: self.values[..rows * self.cols].into(),
            rows,
            cols: self.cols,
        })
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.values.len() * 2
    }
}

impl PartialEq for TokenMatrix {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows && self.cols == other.cols && self.values == other.values
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
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if &header[..4] != MAGIC || word(4) != FORMAT_VERSION {
            return None;
        }
        let (rows, cols) = (word(8) as usize, word(12) as usize);
        if body.len() != rows.checked_mul(cols)?.checked_mul(2)? {
            return None;
        }
        let values = body
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]))
            .collect();
        TokenMatrix::from_f16(rows, cols, values)
    }

    /// Stores tokens under `key` (temporary file + rename, so readers never see half an entry).
    pub fn put(&self, key: &str, tokens: &TokenMatrix) -> Result<(), CacheError> {
        let path = self.path(key);
        let io = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut bytes = Vec::with_capacity(HEADER + tokens.bytes());
        bytes.extend_from_slice(MAGIC);
        for v in [FORMAT_VERSION, tokens.rows as u32, tokens.cols as u32] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        for v in tokens.values.iter() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
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
        assert_eq!(cache.get(&key), Some(tokens));
        std::fs::write(cache.path(&key), b"FLTK\x01\0\0\0garbage").unwrap();
        assert!(cache.get(&key).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
