//! `evonas sample`: random architectures of a space, one document per line.

use std::io::Write;
use std::process::ExitCode;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use evonas::space::{AnySpace, ArchDocument, Knobs};

use super::args::SampleArgs;
use super::overrides;

/// `evonas sample` with its knobs checked and its space loaded.
pub struct Request {
    space: AnySpace,
    count: usize,
    seed: Option<u64>,
    knobs: Knobs,
}

impl Request {
    pub fn new(a: SampleArgs) -> anyhow::Result<Self> {
        let knobs = overrides::knobs(a.knobs)?;
        Ok(Request {
            space: AnySpace::load(&a.space)?,
            count: a.count,
            seed: a.seed,
            knobs,
        })
    }
}

/// The generator of `--seed`, or of a seed drawn from the OS and printed so the run can be
/// repeated. Drawn only when the command gets that far, so a run that fails earlier prints no
/// seed it never used.
pub fn rng_for(seed: Option<u64>) -> ChaCha8Rng {
    let seed = seed.unwrap_or_else(|| {
        let s = rand::RngCore::next_u64(&mut ChaCha8Rng::from_os_rng());
        eprintln!("seed: {s} (pass --seed {s} to repeat)");
        s
    });
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    // Genotypes are drawn from the space as defined; the knobs only size the decoded network.
    let scaled = r.space.with_knobs(&r.knobs);
    let mut rng = rng_for(r.seed);
    let mut out = std::io::stdout().lock();
    for _ in 0..r.count {
        let g = r.space.sample(&mut rng);
        let doc = ArchDocument::new(&scaled, r.knobs, &g)?;
        writeln!(out, "{}", doc.to_json_line())?;
    }
    Ok(ExitCode::SUCCESS)
}
