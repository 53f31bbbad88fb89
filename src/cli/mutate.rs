//! `evonas mutate`: one mutated document per input architecture.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use evonas::space::{AnySpace, ArchDocument};

use super::args::MutateArgs;
use super::input::read_architectures;
use super::sample::rng_for;

/// `evonas mutate` with its space loaded; the input is read when it runs.
pub struct Request {
    space: AnySpace,
    seed: Option<u64>,
    file: Option<PathBuf>,
}

impl Request {
    pub fn new(a: MutateArgs) -> anyhow::Result<Self> {
        Ok(Request {
            space: AnySpace::load(&a.space)?,
            seed: a.seed,
            file: a.file,
        })
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let archs = read_architectures(r.file.as_deref(), Some(&r.space))?;
    let mut rng = rng_for(r.seed);
    let mut out = std::io::stdout().lock();
    for a in archs {
        let g = a
            .genotype
            .context("the input has no genotype in this space")?;
        let child = r.space.mutate(&g, &mut rng)?;
        // The child keeps its parent's knobs, so a proxy network mutates into a proxy network.
        let doc = ArchDocument::new(&r.space.with_knobs(&a.knobs), a.knobs, &child)?;
        writeln!(out, "{}", doc.to_json_line())?;
    }
    Ok(ExitCode::SUCCESS)
}
