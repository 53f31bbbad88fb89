//! `evonas rank`: two evaluators on the same architectures, and how well they agree.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Context};
use serde::Deserialize;

use evonas::eval::job::{Runner, SpaceSource};
use evonas::eval::registry::{EvaluatorSpec, Registry};
use evonas::rank::{self, Score, Side};
use evonas::space::{AnySpace, Knobs};

use super::args::RankArgs;
use super::progress::Progress;
use super::store::StoreDir;

/// One side: the evaluator file's name, its evaluator and knobs.
struct Evaluator {
    label: String,
    spec: EvaluatorSpec,
    knobs: Knobs,
}

/// What an evaluator file holds (other keys of a campaign config are ignored).
#[derive(Deserialize)]
struct EvaluatorFile {
    evaluator: EvaluatorSpec,
    #[serde(default)]
    knobs: Knobs,
}

impl Evaluator {
    fn load(path: &Path) -> anyhow::Result<Evaluator> {
        let origin = path.display().to_string();
        let text =
            evonas::limits::read_text(path).with_context(|| format!("cannot read {origin}"))?;
        let mut file: EvaluatorFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
        file.evaluator
            .normalize(
                &Registry::builtin(),
                Some(path.parent().unwrap_or(Path::new("."))),
            )
            .map_err(|e| anyhow::anyhow!("{origin}: [evaluator] {e}"))?;
        file.knobs
            .check()
            .map_err(|e| anyhow::anyhow!("{origin}: [knobs] {e}"))?;
        let label = path
            .file_stem()
            .map_or(origin.clone(), |s| s.to_string_lossy().into_owned());
        Ok(Evaluator {
            label,
            spec: file.evaluator,
            knobs: file.knobs,
        })
    }
}

/// Where the architectures come from.
enum Archs {
    File(PathBuf),
    Sample { n: usize, seed: Option<u64> },
}

/// `evonas rank`.
pub struct Request {
    reference: Evaluator,
    candidate: Evaluator,
    space: String,
    archs: Archs,
    top_k: Vec<usize>,
    threads: usize,
    svg: Option<PathBuf>,
    json: bool,
    store: StoreDir,
    quiet: bool,
}

impl Request {
    pub fn new(a: RankArgs) -> anyhow::Result<Self> {
        let reference = Evaluator::load(&a.reference)?;
        let candidate = Evaluator::load(&a.candidate)?;
        let archs = match (a.archs, a.sample) {
            (Some(f), _) => Archs::File(f),
            (None, Some(0)) => bail!("--sample must be at least 1"),
            (None, Some(n)) => Archs::Sample { n, seed: a.seed },
            (None, None) => bail!("give --archs FILE or --sample N"),
        };
        if a.top_k.contains(&0) {
            bail!("--top-k values must be at least 1");
        }
        let threads = match a.threads {
            Some(0) => bail!("--threads must be at least 1"),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Request {
            reference,
            candidate,
            space: a.space.unwrap_or_else(|| "nb201".into()),
            archs,
            top_k: a.top_k,
            threads,
            svg: a.svg,
            json: a.json,
            store: a.store.into(),
            quiet: a.quiet,
        })
    }
}

/// The architectures in `space`'s native notation, distinct.
fn architectures(space: &AnySpace, archs: &Archs) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    match archs {
        Archs::File(path) => {
            let file = (path.as_os_str() != "-").then_some(path.as_path());
            for (i, p) in super::input::read_architectures(file, Some(space))?
                .into_iter()
                .enumerate()
            {
                let (Some(s), Some(g)) = (&p.space, &p.genotype) else {
                    bail!(
                        "architecture {}: not an architecture of a known space",
                        i + 1
                    );
                };
                if s.name() != space.name() {
                    bail!(
                        "architecture {}: of space {}, but --space is {} (rank one space at a time)",
                        i + 1,
                        s.name(),
                        space.name()
                    );
                }
                let v = space.to_value(g)?;
                if seen.insert(v.to_string()) {
                    out.push(v);
                }
            }
        }
        Archs::Sample { n, seed } => {
            let mut rng = super::sample::rng_for(*seed);
            let mut tries = 0;
            while out.len() < *n && tries < n.saturating_mul(100) {
                tries += 1;
                let v = space.to_value(&space.sample(&mut rng))?;
                if seen.insert(v.to_string()) {
                    out.push(v);
                }
            }
            if out.len() < *n {
                eprintln!(
                    "note: the space gave only {} distinct architectures",
                    out.len()
                );
            }
        }
    }
    Ok(out)
}

fn score_side(
    r: &Request,
    store: &evonas::store::Store,
    side: &Evaluator,
    source: &SpaceSource,
    genotypes: &[serde_json::Value],
) -> anyhow::Result<(Side, Vec<Score>)> {
    let runner = Runner::new(&side.spec, &Registry::builtin())
        .with_context(|| format!("{}: [evaluator]", side.label))?;
    let total = genotypes.len();
    let bar = Mutex::new(Progress::new(r.quiet, total as u64, &side.label));
    let scores = rank::score(
        store,
        &runner,
        source,
        &side.knobs,
        genotypes,
        r.threads,
        &|done| {
            if let Ok(mut b) = bar.lock() {
                b.update(done as u64, || format!("{done}/{total} scored"));
            }
        },
    )
    .with_context(|| side.label.clone())?;
    if let Ok(mut b) = bar.into_inner() {
        b.finish(format!("{total} scored"));
    }
    Ok((rank::side(&side.label, &runner, &scores), scores))
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let source = SpaceSource::of(&r.space)?;
    let space = source.load()?;
    let genotypes = architectures(&space, &r.archs)?;
    let store = r.store.open()?;
    let (reference, ref_scores) = score_side(&r, &store, &r.reference, &source, &genotypes)?;
    let (candidate, cand_scores) = score_side(&r, &store, &r.candidate, &source, &genotypes)?;
    let mut ks = r.top_k.clone();
    if ks.is_empty() {
        ks.push(10.min(genotypes.len()).max(1));
        let tenth = (genotypes.len() / 10).max(1);
        if !ks.contains(&tenth) {
            ks.push(tenth);
        }
    }
    let agreement = rank::agreement(&ref_scores, &cand_scores, &ks);
    let points: Vec<(f64, f64)> = ref_scores
        .iter()
        .zip(&cand_scores)
        .filter_map(|(a, b)| Some((b.fitness?, a.fitness?)))
        .collect();
    if let Some(path) = &r.svg {
        let svg = rank::scatter_svg(&reference, &candidate, &points, &agreement);
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if r.json {
        let architectures: Vec<serde_json::Value> = genotypes
            .iter()
            .zip(ref_scores.iter().zip(&cand_scores))
            .map(|(g, (a, b))| serde_json::json!({"genotype": g, "reference": a, "candidate": b}))
            .collect();
        let out = serde_json::json!({
            "space": space.name(),
            "architectures": genotypes.len(),
            "agreement": agreement,
            "reference": reference,
            "candidate": candidate,
            "scores": architectures,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} architectures of {}; both scored {} (failures: reference {}, candidate {})",
        genotypes.len(),
        space.name(),
        agreement.both,
        reference.failures,
        candidate.failures
    );
    println!("Spearman rho   {}", rank::fmt(agreement.spearman));
    println!("Kendall tau-b  {}", rank::fmt(agreement.kendall_tau_b));
    println!("Pearson r      {}", rank::fmt(agreement.pearson));
    for t in &agreement.top_k {
        println!("top-{:<3} precision {}", t.k, rank::fmt(t.precision));
    }
    for s in [&reference, &candidate] {
        let sim = if s.simulated_seconds_per_evaluation > 0.0 {
            format!(", {:.1} simulated", s.simulated_seconds_per_evaluation)
        } else {
            String::new()
        };
        println!(
            "{}: {:.4} s per evaluation{sim} ({} evaluated now, {} from the cache; fidelity {})",
            s.label, s.seconds_per_evaluation, s.evaluated, s.cached, s.fidelity
        );
    }
    if let Some(path) = &r.svg {
        println!("scatter plot: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
