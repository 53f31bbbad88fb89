//! The store folder's plain files beside the database, and the cache's exchange format. Only
//! `store` knows their names and layout:
//! - `status/NAME.json`: a campaign's status, rewritten after every round, so `status` can read
//!   it while a running campaign holds the database lock;
//! - `best/NAME.json`: the campaign's best architecture so far, as a one-element array of
//!   architecture documents (what `export` reads for a running campaign);
//! - the cache export: one `{"key": ..., "record": ...}` JSON object per line.

use std::io;
use std::path::{Path, PathBuf};

use super::cache::Entry;

/// Why a store file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file or folder cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line or file does not hold what it should.
    #[error("{origin}:{line}: {message}")]
    Format {
        /// The file (or `<stdin>`).
        origin: String,
        /// 1-based line (1 for a whole-file document).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The folder of status snapshots.
pub fn status_dir(store: &Path) -> PathBuf {
    store.join("status")
}

/// Campaign `name`'s status snapshot.
pub fn status_path(store: &Path, name: &str) -> PathBuf {
    status_dir(store).join(format!("{name}.json"))
}

/// Campaign `name`'s best architecture so far.
pub fn best_path(store: &Path, name: &str) -> PathBuf {
    store.join("best").join(format!("{name}.json"))
}

/// Writes `text` to `path` atomically: a temporary file beside it, then a rename, so a reader
/// (or a crash) never sees half a file. Creates the folder.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let folder = match path.parent() {
        Some(f) if !f.as_os_str().is_empty() => f,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)?;
    let file = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    let tmp = folder.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Rewrites campaign `name`'s status snapshot.
pub fn write_status(store: &Path, name: &str, status: &serde_json::Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(status).map_err(io::Error::other)?;
    write_atomic(&status_path(store, name), &text)
}

/// Rewrites campaign `name`'s best-architecture file with `docs` (serialisable documents).
pub fn write_best<T: serde::Serialize>(store: &Path, name: &str, docs: &[T]) -> io::Result<()> {
    let text = serde_json::to_string_pretty(docs).map_err(io::Error::other)?;
    write_atomic(&best_path(store, name), &text)
}

/// The status snapshots in the store folder (of campaign `name` only, if given), in file-name
/// order.
pub fn read_statuses(
    store: &Path,
    name: Option<&str>,
) -> Result<Vec<serde_json::Value>, FileError> {
    let folder = status_dir(store);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FileError::Io { path, source }
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(io_err(&folder))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = crate::limits::read_text(&path).map_err(io_err(&path))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| FileError::Format {
            origin: path.display().to_string(),
            line: e.line(),
            message: e.to_string(),
        })?;
        if name.is_none_or(|n| v["name"] == n) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Cache entries in the export format: one JSON object per line.
pub fn cache_lines(entries: &[Entry]) -> String {
    let mut text = String::new();
    for e in entries {
        // Entries hold only strings, numbers and maps with string keys: they always serialise.
        if let Ok(line) = serde_json::to_string(e) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// Reads the export format; blank lines are skipped, a bad line is named.
pub fn parse_cache_lines(text: &str, origin: &str) -> Result<Vec<Entry>, FileError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| FileError::Format {
                origin: origin.to_string(),
                line: i + 1,
                message: format!("not a cache entry: {e}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lines_round_trip_and_a_bad_line_is_named() {
        let line = r#"{"key":"6600000002"#.to_string()
            + &"ab".repeat(64)
            + r#"","record":{"schema":1,"evaluations":1,"fitness":50.0,"metrics":{},"failure":null,"params":1,"flops":2,"simulated_seconds":0.0,"wall_seconds":0.0,"genotype":"g","space":"nb201","evonas_version":"0","created_unix":0,"updated_unix":0}}"#;
        let entries = parse_cache_lines(&format!("{line}\n\n{line}\n"), "x.jsonl").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            parse_cache_lines(&cache_lines(&entries), "y").unwrap(),
            entries
        );
        let e = parse_cache_lines(&format!("{line}\n{{\"key\": 1}}\n"), "x.jsonl").unwrap_err();
        assert!(
            e.to_string().starts_with("x.jsonl:2: not a cache entry"),
            "{e}"
        );
    }

    #[test]
    fn status_snapshots_are_written_atomically_and_read_back_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b", "a"] {
            write_status(dir.path(), name, &serde_json::json!({ "name": name })).unwrap();
        }
        let all = read_statuses(dir.path(), None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["name"], "a");
        assert_eq!(read_statuses(dir.path(), Some("b")).unwrap().len(), 1);
        assert!(read_statuses(dir.path(), Some("c")).unwrap().is_empty());
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(status_dir(dir.path()))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(read_statuses(&dir.path().join("missing"), None).is_err());
    }
}
