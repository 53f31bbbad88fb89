//! CIFAR-10 binary batches: records of 3,073 bytes, a label byte (0-9) and 3 x 32 x 32 pixels
//! (red, green, blue planes), any number of files concatenated.

use std::path::Path;

use super::{DataError, Dataset};

/// Bytes per record.
pub const RECORD: usize = 1 + 3 * 32 * 32;

/// Parses CIFAR-10 binary bytes; `path` names the source in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Dataset, DataError> {
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: format!(
                "{} bytes is not a whole number of 3,073-byte CIFAR-10 records (truncated, or not a CIFAR-10 binary batch)",
                bytes.len()
            ),
        });
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "record {i} has label {}; CIFAR-10 labels are 0-9 (is this CIFAR-100 or another format?)",
                    rec[0]
                ),
            });
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok(Dataset {
        shape: [3, 32, 32],
        classes: 10,
        pixels,
        labels,
    })
}

/// Reads and concatenates CIFAR-10 binary files.
pub fn read(paths: &[&Path]) -> Result<Dataset, DataError> {
    let mut all: Option<Dataset> = None;
    for p in paths {
        let bytes =
            crate::limits::read(p, crate::limits::Input::Data).map_err(|source| DataError::Io {
                path: p.to_path_buf(),
                source,
            })?;
        let d = parse(&bytes, p)?;
        match &mut all {
            None => all = Some(d),
            Some(a) => {
                a.pixels.extend_from_slice(&d.pixels);
                a.labels.extend_from_slice(&d.labels);
            }
        }
    }
    all.ok_or_else(|| DataError::Mismatch {
        message: "no CIFAR-10 files given".into(),
    })
}
