//! Writing results to files.

use std::path::Path;

use anyhow::Context;

use evonas::store::files;

/// Writes `text` to `path` atomically (a reader or a crash never sees half a file).
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    files::write_atomic(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `text` to `out` (saying so on stderr, since stdout may be a pipe) or to stdout.
pub fn write_or_print(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(p) => {
            write_atomic(p, text)?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
