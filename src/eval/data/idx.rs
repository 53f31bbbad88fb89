//! IDX files (MNIST, Fashion-MNIST): a 4-byte magic (0, 0, type, dimensions), big-endian u32
//! sizes, then the data. Only unsigned-byte data (type 0x08) is used by these data sets.
//! Gzipped files (`.gz`, detected by their magic) are decompressed on the fly.

use std::io::Read;
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
    if bytes.starts_with(&[0x1f, 0x8b]) {
        parse_stream(flate2::read::GzDecoder::new(bytes), true, path)
    } else {
        parse_stream(bytes, false, path)
    }
}

/// Reads the header first and judges the size it promises before reading the data, so a
/// gzip stream that would expand without bound is never read past what the header promises
/// (and a header promising more than the data-set limit is refused at once).
fn parse_stream(mut r: impl Read, gzipped: bool, path: &Path) -> Result<Idx, DataError> {
    let damaged = |e: std::io::Error| {
        if gzipped && e.kind() != std::io::ErrorKind::UnexpectedEof {
            format(path, format!("damaged gzip stream: {e}"))
        } else {
            format(path, "truncated header".into())
        }
    };
    let wrong_magic = || {
        format(
            path,
            "wrong magic: IDX files start with two zero bytes (is this an IDX file?)".into(),
        )
    };
    let mut head = [0u8; 4];
    r.read_exact(&mut head).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            wrong_magic()
        } else {
            damaged(e)
        }
    })?;
    if head[0] != 0 || head[1] != 0 {
        return Err(wrong_magic());
    }
    if head[2] != 0x08 {
        return Err(format(
            path,
            format!(
                "data type 0x{:02x}; only unsigned bytes (0x08) are supported",
                head[2]
            ),
        ));
    }
    let nd = usize::from(head[3]);
    if nd == 0 {
        return Err(format(path, "truncated header".into()));
    }
    let mut sizes = vec![0u8; 4 * nd];
    r.read_exact(&mut sizes).map_err(damaged)?;
    let dims: Vec<usize> = sizes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format(path, "dimensions overflow".into()))?;
    let limit = crate::limits::Input::Data;
    if expected as u64 > limit.max_bytes() {
        return Err(format(
            path,
            limit.refusal(
                &format!("the data its header promises ({dims:?})"),
                expected as u64,
            ),
        ));
    }
    // One byte more than promised tells "too long" from "exact" without reading further.
    let mut data = Vec::new();
    r.take(expected as u64 + 1)
        .read_to_end(&mut data)
        .map_err(damaged)?;
    if data.len() != expected {
        let has = if data.len() > expected {
            "more".to_string()
        } else {
            data.len().to_string()
        };
        return Err(format(
            path,
            format!(
                "header promises {dims:?} = {expected} bytes of data, the file has {has} (truncated?)"
            ),
        ));
    }
    Ok(Idx { dims, data })
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
