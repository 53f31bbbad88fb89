//! IDX files (MNIST, Fashion-MNIST): a 4-byte magic (0, 0, type, dimensions), big-endian u32
//! sizes, then the data. Only unsigned-byte data (type 0x08) is used by these data sets.
//! Gzipped files (`.gz`, detected by their magic) are decompressed on the fly.

use std::path::Path;

use super::{DataError, Dataset};

/// A decoded IDX array of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Sizes of each dimension.
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

fn format(path: &Path, message: String) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message,
    }
}

/// Parses IDX bytes (gzipped or raw).
pub fn parse(bytes: &[u8], path: &Path) -> Result<Idx, DataError> {
    let raw;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        // Capped: a small gzip can expand without bound.
        let out = crate::limits::read_capped(
            flate2::read::GzDecoder::new(bytes),
            crate::limits::Input::Data,
            "its decompressed content",
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData if e.to_string().contains("limit") => {
                format(path, e.to_string())
            }
            _ => format(path, format!("damaged gzip stream: {e}")),
        })?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(format(
            path,
            "wrong magic: IDX files start with two zero bytes (is this an IDX file?)".into(),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format(
            path,
            format!(
                "data type 0x{:02x}; only unsigned bytes (0x08) are supported",
                bytes[2]
            ),
        ));
    }
    let nd = usize::from(bytes[3]);
    if nd == 0 || bytes.len() < 4 + 4 * nd {
        return Err(format(path, "truncated header".into()));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format(path, "dimensions overflow".into()))?;
    let limit = crate::limits::Input::Data.max_bytes();
    if expected as u64 > limit {
        return Err(format(
            path,
            crate::limits::Input::Data.refusal(
                &format!("the data its header promises ({dims:?})"),
                expected as u64,
            ),
        ));
    }
    let data = &bytes[4 + 4 * nd..];
    if data.len() != expected {
        return Err(format(
            path,
            format!(
                "header promises {dims:?} = {expected} bytes of data, the file has {} (truncated?)",
                data.len()
            ),
        ));
    }
    Ok(Idx {
        dims,
        data: data.to_vec(),
    })
}

/// Reads an IDX file.
pub fn read(path: &Path) -> Result<Idx, DataError> {
    let bytes =
        crate::limits::read(path, crate::limits::Input::Data).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    parse(&bytes, path)
}

/// Reads an image file (N x H x W) and a label file (N) into a one-channel data set.
pub fn read_pair(images: &Path, labels: &Path, classes: usize) -> Result<Dataset, DataError> {
    let i = read(images)?;
    let l = read(labels)?;
    if i.dims.len() != 3 {
        return Err(format(
            images,
            format!(
                "expected 3 dimensions (images x rows x columns), found {:?}",
                i.dims
            ),
        ));
    }
    if l.dims.len() != 1 {
        return Err(format(
            labels,
            format!("expected 1 dimension, found {:?}", l.dims),
        ));
    }
    if i.dims[0] != l.dims[0] {
        return Err(DataError::Mismatch {
            message: format!(
                "{} holds {} images but {} holds {} labels",
                images.display(),
                i.dims[0],
                labels.display(),
                l.dims[0]
            ),
        });
    }
    if let Some(bad) = l.data.iter().position(|&x| usize::from(x) >= classes) {
        return Err(format(
            labels,
            format!("label {} at {bad} is not below {classes}", l.data[bad]),
        ));
    }
    Ok(Dataset {
        shape: [1, i.dims[1], i.dims[2]],
        classes,
        pixels: i.data,
        labels: l.data,
    })
}
