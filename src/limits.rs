//! Size limits on what evonas reads, checked before anything is allocated for it.
//!
//! Every reader takes its input whole, so an input far larger than any real one (a 10 GB
//! "document", a gzip bomb, an IDX header claiming 2^32 images) would be read into memory
//! before its content could be judged. Each limit is far above real inputs and can be raised
//! by an environment variable the refusal names.

use std::io::Read;
use std::path::Path;

/// A kind of input, with its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Text: architecture documents and notations, space and campaign TOML, the NB-201 CSV
    /// tables, cache exports. Default 512 MiB (`EVONAS_MAX_INPUT_MB`): the largest real one,
    /// the NB-201 validation table, is 5 MB.
    Text,
    /// Data sets (IDX, CIFAR-10 batches), after decompression. Default 8 GiB
    /// (`EVONAS_MAX_DATA_MB`): CIFAR-10 is 180 MB, ImageNet-32 3.7 GB.
    Data,
}

impl Input {
    fn variable(self) -> &'static str {
        match self {
            Input::Text => "EVONAS_MAX_INPUT_MB",
            Input::Data => "EVONAS_MAX_DATA_MB",
        }
    }

    fn default_mb(self) -> u64 {
        match self {
            Input::Text => 512,
            Input::Data => 8192,
        }
    }

    /// The limit in bytes: the environment's value if it is a positive number of MB, else
    /// the default.
    pub fn max_bytes(self) -> u64 {
        std::env::var(self.variable())
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&mb| mb > 0)
            .unwrap_or(self.default_mb())
            .saturating_mul(1 << 20)
    }

    /// The refusal of `size` bytes of `what`.
    pub fn refusal(self, what: &str, size: u64) -> String {
        format!(
            "{what} is {} MB, above the limit of {} MB for {}; if it is real, raise the limit with {}=<MB>",
            size.div_ceil(1 << 20),
            self.max_bytes() >> 20,
            match self {
                Input::Text => "text inputs",
                Input::Data => "data sets",
            },
            self.variable()
        )
    }
}

/// Reads `path` whole, refusing (as an `InvalidData` error with the message of
/// [`Input::refusal`]) a file larger than `kind`'s limit before reading it.
pub fn read(path: &Path, kind: Input) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let limit = kind.max_bytes();
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large(kind, &path.display().to_string(), size));
    }
    read_capped(file, kind, &path.display().to_string())
}

/// Reads `path` as UTF-8 text within the text limit.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = read(path, Input::Text)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads a stream (stdin, a decompressor) named `what` to its end, refusing it once it passes
/// `kind`'s limit.
pub fn read_capped(r: impl Read, kind: Input, what: &str) -> std::io::Result<Vec<u8>> {
    capped(r, kind.max_bytes(), kind, what)
}

fn capped(r: impl Read, limit: u64, kind: Input, what: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_large(kind, what, out.len() as u64));
    }
    Ok(out)
}

fn too_large(kind: Input, what: &str, size: u64) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, kind.refusal(what, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_past_the_limit_are_refused_before_reading_with_the_variable_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        // A sparse file: 600 MB long, nothing allocated.
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(600 << 20).unwrap();
        let e = read(&path, Input::Text).unwrap_err().to_string();
        assert!(
            e.contains("big.json is 600 MB, above the limit of 512 MB for text inputs")
                && e.contains("EVONAS_MAX_INPUT_MB"),
            "{e}"
        );
        // A stream is cut just past the limit (a small one here), never read to its end.
        let e = capped(std::io::repeat(b'x'), 1000, Input::Data, "stdin")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("stdin") && e.contains("EVONAS_MAX_DATA_MB"),
            "{e}"
        );
        // Within the limit, the bytes.
        std::fs::write(&path, b"{}").unwrap();
        assert_eq!(read_text(&path).unwrap(), "{}");
    }
}
