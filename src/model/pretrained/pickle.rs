//! Reader for PyTorch's legacy (non-zip, pre-1.6) `.pth` format, as used by the EfficientNet
//! package: five pickles (magic number, protocol, sys info, the state dict, the storage keys)
//! followed by each storage as an 8-byte little-endian element count and its raw bytes.
//!
//! The pickles are parsed with candle's [`Stack`]; `candle_core::pickle::read_all` itself only
//! opens zip-format files, so the framing and the strided tensor views are read here.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{DType, Device, Tensor};

use super::PretrainedError;

/// The first pickle: protocol 2, the 10-byte long 0x1950a86a20f9469cfc6c, STOP. Compared as bytes
/// because candle's LONG1 decoder shifts past 64 bits on a 10-byte long.
const MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];
/// The protocol version legacy files record.
const PROTOCOL: i64 = 1001;

/// Every float32 tensor of a legacy `.pth` state dict, in file order, contiguous on the CPU.
/// Int64 `num_batches_tracked` counters are skipped; any other dtype is an error.
pub(crate) fn read_legacy_pth(path: &Path) -> Result<Vec<(String, Tensor)>, PretrainedError> {
    let bytes = std::fs::read(path).map_err(|e| PretrainedError::io(path, e))?;
    parse(path, &bytes)
}

/// [`read_legacy_pth`] on bytes already read; `path` names the file in errors.
fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Tensor)>, PretrainedError> {
    let bad = |message: String| PretrainedError::format(path, message);
    if !bytes.starts_with(&MAGIC) {
        return Err(bad(
            "not a legacy PyTorch checkpoint (no pickled magic number at the start)".to_owned(),
        ));
    }
    let mut cursor = Cursor::new(bytes);
    cursor.set_position(MAGIC.len() as u64);
    match unpickle(path, &mut cursor, "protocol version")? {
        Object::Int(v) if i64::from(v) == PROTOCOL => {}
        other => {
            return Err(bad(format!(
                "protocol version {other:?}, expected {PROTOCOL}"
            )));
        }
    }
    let sys_info = unpickle(path, &mut cursor, "system info")?;
    if !entry(&sys_info, "little_endian").is_some_and(|v| *v == Object::Bool(true)) {
        return Err(bad(
            "not written on a little-endian machine (or no system info)".to_owned(),
        ));
    }
    let infos = tensor_infos(path, unpickle(path, &mut cursor, "state dict")?)?;
    let keys = match unpickle(path, &mut cursor, "storage keys")? {
        Object::List(keys) => keys,
        other => return Err(bad(format!("storage keys are {other:?}, expected a list"))),
    };
    let storages = storages(path, bytes, cursor.position() as usize, keys, &infos)?;
    let mut tensors = Vec::with_capacity(infos.len());
    for (info, key) in &infos {
        match info.dtype {
            DType::F32 => {}
            DType::I64 if info.name.ends_with("num_batches_tracked") => continue,
            other => {
                return Err(bad(format!(
                    "tensor {} has dtype {other:?}; only float32 is supported",
                    info.name
                )));
            }
        }
        let data = storages.get(key.as_str()).copied().unwrap_or_default();
        let values = gather_f32(data, info).ok_or_else(|| {
            bad(format!(
                "tensor {} reaches past the end of its storage",
                info.name
            ))
        })?;
        let tensor = Tensor::from_vec(values, info.layout.dims(), &Device::Cpu)?;
        tensors.push((info.name.clone(), tensor));
    }
    Ok(tensors)
}

/// One pickle from the cursor, with the byte offset in the error when it is damaged or cut short.
fn unpickle(
    path: &Path,
    cursor: &mut Cursor<&[u8]>,
    what: &str,
) -> Result<Object, PretrainedError> {
    let start = cursor.position();
    let mut stack = Stack::empty();
    stack
        .read_loop(cursor)
        .and_then(|()| stack.finalize())
        .map_err(|e| {
            PretrainedError::format(
                path,
                format!("{what} pickle at byte {start} is truncated or damaged: {e}"),
            )
        })
}

/// The value under a string key of a pickled dict.
fn entry<'a>(dict: &'a Object, key: &str) -> Option<&'a Object> {
    match dict {
        Object::Dict(items) => items
            .iter()
            .find(|(k, _)| *k == Object::Unicode(key.to_owned()))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Each tensor of the state dict with the key of the storage it views.
fn tensor_infos(path: &Path, state: Object) -> Result<Vec<(TensorInfo, String)>, PretrainedError> {
    let bad = |message: String| PretrainedError::format(path, message);
    let Object::Dict(items) = state else {
        return Err(bad("the main pickle is not a state dict".to_owned()));
    };
    let mut infos = Vec::with_capacity(items.len());
    for (name, value) in items {
        let Object::Unicode(name) = name else {
            return Err(bad(format!("state-dict key {name:?} is not a string")));
        };
        // OrderedDict attributes (`_metadata`) are merged into the dict by candle's BUILD.
        if name == "_metadata" {
            continue;
        }
        let info = value
            .into_tensor_info(Object::Unicode(name.clone()), Path::new(""))
            .map_err(|e| bad(format!("tensor {name}: {e}")))?
            .ok_or_else(|| bad(format!("state-dict entry {name} is not a tensor")))?;
        // candle names the storage "<dir>/<key>"; with an empty dir that is "/<key>".
        let key = info.path.strip_prefix('/').unwrap_or(&info.path).to_owned();
        infos.push((info, key));
    }
    Ok(infos)
}

/// The raw bytes of every storage, by key, from `offset` on: per key in `keys` order an
/// 8-byte element count then the elements.
fn storages<'a>(
    path: &Path,
    bytes: &'a [u8],
    mut offset: usize,
    keys: Vec<Object>,
    infos: &[(TensorInfo, String)],
) -> Result<HashMap<String, &'a [u8]>, PretrainedError> {
    let bad = |message: String| PretrainedError::format(path, message);
    let dtypes: HashMap<&str, DType> = infos
        .iter()
        .map(|(info, key)| (key.as_str(), info.dtype))
        .collect();
    let mut out = HashMap::with_capacity(keys.len());
    for key in keys {
        let Object::Unicode(key) = key else {
            return Err(bad(format!("storage key {key:?} is not a string")));
        };
        let dtype = dtypes
            .get(key.as_str())
            .copied()
            .ok_or_else(|| bad(format!("storage {key} is used by no tensor")))?;
        let count = bytes
            .get(offset..offset + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| {
                bad(format!(
                    "truncated: storage {key} starts past the end of the file"
                ))
            })?;
        let len = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size_in_bytes()));
        let data = len
            .and_then(|len| bytes.get(offset + 8..(offset + 8).checked_add(len)?))
            .ok_or_else(|| {
                bad(format!(
                    "truncated: storage {key} ({count} elements) runs past the end of the file"
                ))
            })?;
        offset += 8 + data.len();
        out.insert(key, data);
    }
    Ok(out)
}

/// The float32 elements of a (possibly permuted) view, in row-major order; `None` when the view
/// reaches outside `data`.
fn gather_f32(data: &[u8], info: &TensorInfo) -> Option<Vec<f32>> {
    let (dims, strides) = (info.layout.dims(), info.layout.stride());
    // candle records the storage offset in bytes.
    let start = info.layout.start_offset() / 4;
    let count: usize = dims.iter().product();
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; dims.len()];
    for _ in 0..count {
        let at = start + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        let bytes = data.get(at * 4..at * 4 + 4)?;
        values.push(f32::from_le_bytes(bytes.try_into().ok()?));
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            if index[d] < dims[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: &[u8]) -> String {
        match parse(Path::new("bad.pth"), bytes) {
            Err(PretrainedError::Format { path, message }) => {
                assert_eq!(path, Path::new("bad.pth"));
                message
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn garbage_and_truncated_files_are_format_errors() {
        assert!(message(b"PK\x03\x04 zip file").contains("not a legacy PyTorch checkpoint"));
        // The magic number, then a protocol pickle cut off after PROTO 2, BININT2.
        let mut cut = MAGIC.to_vec();
        cut.extend_from_slice(&[0x80, 0x02, b'M', 0xe9]);
        assert!(message(&cut).contains("protocol version pickle at byte 15 is truncated"));
    }
}
