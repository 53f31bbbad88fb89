//! `evonas hash`: functional and structural hash of each input architecture.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use evonas::hash::{functional, FunctionalHash, StructuralHash};
use evonas::space::AnySpace;

use super::args::HashArgs;
use super::input::read_architectures;

/// `evonas hash` with its space (if any) loaded; the input is read when it runs.
pub struct Request {
    /// Needed only for native notation; documents name their own space.
    space: Option<AnySpace>,
    file: Option<PathBuf>,
    version: u32,
}

impl Request {
    pub fn new(a: HashArgs) -> anyhow::Result<Self> {
        Ok(Request {
            space: a.space.as_deref().map(AnySpace::load).transpose()?,
            file: a.file,
            version: a.hash_version.unwrap_or(functional::VERSION),
        })
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let archs = read_architectures(r.file.as_deref(), r.space.as_ref())?;
    // Buffered: inputs of thousands of lines are common (e.g. a whole sampled space).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for a in archs {
        let f = FunctionalHash::of_version(&a.network, r.version)?;
        let s = StructuralHash::of(&a.network);
        writeln!(out, "{f}\t{s}\t{}", a.source)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
