//! `evonas spaces`: the built-in search spaces with their sizes.

use std::io::Write;
use std::process::ExitCode;

use evonas::space::{AnySpace, Size, BUILTIN};

pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16} {:<7} {:>12}  description",
        "name", "family", "size"
    )?;
    for (name, _) in BUILTIN {
        let s = AnySpace::builtin(name)?;
        let size = match s.size() {
            Size::Exact(n) => n.to_string(),
            other => other.to_string(),
        };
        writeln!(
            out,
            "{:<16} {:<7} {:>12}  {}",
            name,
            s.family(),
            size,
            s.description()
        )?;
    }
    writeln!(
        out,
        "\nAny command taking --space also accepts a path to a space TOML file (see search_spaces/)."
    )?;
    Ok(ExitCode::SUCCESS)
}
