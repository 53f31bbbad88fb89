//! How well one evaluator orders architectures like another (`evonas rank`): both score the
//! same architectures (through the cache, so nothing is evaluated twice across runs and
//! campaigns), and the agreement is given as Spearman's rho, Kendall's tau-b, Pearson's r and
//! top-k precision ([`crate::stats`]), with the cost of an evaluation on each side. This is the
//! "architecture rating accuracy" by which the NAS literature judges cheap evaluators (a
//! zero-cost proxy, short training) against an expensive one (a table, full training).

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::eval::job::{JobParts, Runner, SpaceSource};
use crate::eval::{EvalRecord, Fidelity, Fingerprint, Outcome};
use crate::hash::FunctionalHash;
use crate::space::{Knobs, SpaceError};
use crate::store::cache::CacheKey;
use crate::store::{Store, StoreError};

/// Why ranking failed (a candidate that cannot be scored is not an error: it is a failure in
/// the report).
#[derive(Debug, thiserror::Error)]
pub enum RankError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An architecture does not decode in the space.
    #[error("architecture {index}: {source}")]
    Space {
        /// Its position (1-based).
        index: usize,
        /// Why.
        source: SpaceError,
    },
    /// The evaluator cannot run a job.
    #[error(transparent)]
    Job(#[from] crate::eval::job::JobError),
    /// Could not build the thread pool.
    #[error("cannot start {threads} threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why.
        message: String,
    },
}

/// One evaluator's score of one architecture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// The fitness (None: the evaluation failed).
    pub fitness: Option<f64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Wall seconds the evaluation took (when it ran, even if served from the cache now).
    pub wall_seconds: f64,
    /// Simulated seconds it stands for (table evaluators).
    pub simulated_seconds: f64,
    /// Whether the cache answered it.
    pub cached: bool,
}

/// An evaluator with what its scores cost.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// A label (the settings file's name).
    pub label: String,
    /// The protocol's description.
    pub protocol: serde_json::Value,
    /// Its fingerprint (half of every cache key).
    pub fingerprint: Fingerprint,
    /// How much of a full evaluation a score costs.
    pub fidelity: Fidelity,
    /// Evaluations run now.
    pub evaluated: usize,
    /// Scores the cache held.
    pub cached: usize,
    /// Architectures it could not score.
    pub failures: usize,
    /// Mean wall seconds per evaluation (of the evaluations behind the scores, cached or not).
    pub seconds_per_evaluation: f64,
    /// Mean simulated seconds per evaluation.
    pub simulated_seconds_per_evaluation: f64,
}

/// Scores every genotype of `space` (native notation, decoded with `knobs` for the runner's
/// evaluator) from the cache or by evaluating it, `threads` at a time; `progress` is told how
/// many are done. New results go into the cache under the runner's protocol.
pub fn score(
    store: &Store,
    runner: &Runner,
    space: &SpaceSource,
    knobs: &Knobs,
    genotypes: &[serde_json::Value],
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Score>, RankError> {
    let decoding = runner
        .space(space, knobs)
        .map_err(|source| RankError::Space { index: 0, source })?;
    let fingerprint = runner.evaluator().protocol().fingerprint();
    // Hashes first (cheap, and an architecture that does not decode is the user's error).
    let hashes: Vec<FunctionalHash> = genotypes
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let decode = || -> Result<FunctionalHash, SpaceError> {
                let genotype = decoding.parse_value(g)?;
                Ok(FunctionalHash::of(&decoding.decode(&genotype)?))
            };
            decode().map_err(|source| RankError::Space {
                index: i + 1,
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| RankError::Threads {
            threads,
            message: e.to_string(),
        })?;
    let done = AtomicUsize::new(0);
    pool.install(|| {
        genotypes
            .par_iter()
            .zip(hashes.par_iter())
            .map(|(genotype, hash)| {
                let key = CacheKey::new(*hash, fingerprint);
                let score = match store.cache_get(&key)? {
                    Some(record) => from_record(&record, true),
                    None => {
                        let evaluation = runner.evaluate(JobParts {
                            space,
                            knobs,
                            genotype,
                            hash: *hash,
                            repeat: 0,
                        })?;
                        let record = evaluation.first_record();
                        store.cache_write(&key, &record)?;
                        from_record(&record, false)
                    }
                };
                progress(done.fetch_add(1, Ordering::SeqCst) + 1);
                Ok(score)
            })
            .collect()
    })
}

fn from_record(record: &EvalRecord, cached: bool) -> Score {
    let (fitness, failure) = match record.as_hit() {
        Outcome::Done { fitness, .. } => (Some(fitness), None),
        Outcome::Failed { reason, .. } => (None, Some(reason)),
    };
    let n = f64::from(record.evaluations.max(1));
    Score {
        fitness,
        failure,
        wall_seconds: record.wall_seconds / n,
        simulated_seconds: record.simulated_seconds / n,
        cached,
    }
}

/// The summary of one side's scores.
pub fn side(label: &str, runner: &Runner, scores: &[Score]) -> Side {
    let protocol = runner.evaluator().protocol();
    let n = scores.len().max(1) as f64;
    Side {
        label: label.to_string(),
        protocol: protocol.description.clone(),
        fingerprint: protocol.fingerprint(),
        fidelity: protocol.fidelity.clone(),
        evaluated: scores.iter().filter(|s| !s.cached).count(),
        cached: scores.iter().filter(|s| s.cached).count(),
        failures: scores.iter().filter(|s| s.fitness.is_none()).count(),
        seconds_per_evaluation: scores.iter().map(|s| s.wall_seconds).sum::<f64>() / n,
        simulated_seconds_per_evaluation: scores.iter().map(|s| s.simulated_seconds).sum::<f64>()
            / n,
    }
}

/// Top-k precision at one k.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopK {
    /// k.
    pub k: usize,
    /// Share of the candidate's top k among the reference's top k.
    pub precision: Option<f64>,
}

/// The agreement of two evaluators on the architectures both scored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Architectures both scored (the statistics are over these).
    pub both: usize,
    /// Spearman's rho (average ranks for ties).
    pub spearman: Option<f64>,
    /// Kendall's tau-b.
    pub kendall_tau_b: Option<f64>,
    /// Pearson's r.
    pub pearson: Option<f64>,
    /// Top-k precision at each k asked for.
    pub top_k: Vec<TopK>,
}

/// How well `candidate` orders the architectures like `reference` (pairs where either failed
/// are left out).
pub fn agreement(reference: &[Score], candidate: &[Score], ks: &[usize]) -> Agreement {
    let (x, y): (Vec<f64>, Vec<f64>) = reference
        .iter()
        .zip(candidate)
        .filter_map(|(r, c)| Some((c.fitness?, r.fitness?)))
        .unzip();
    Agreement {
        both: x.len(),
        spearman: crate::stats::spearman(&x, &y),
        kendall_tau_b: crate::stats::kendall_tau_b(&x, &y),
        pearson: crate::stats::pearson(&x, &y),
        top_k: ks
            .iter()
            .map(|&k| TopK {
                k,
                precision: crate::stats::top_k_precision(&x, &y, k),
            })
            .collect(),
    }
}

/// A scatter plot (SVG) of the candidate's scores (x) against the reference's (y).
pub fn scatter_svg(
    reference: &Side,
    candidate: &Side,
    points: &[(f64, f64)],
    agreement: &Agreement,
) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    let result: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (640, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x0, x1) = crate::report::range(points.iter().map(|p| p.0));
        let (y0, y1) = crate::report::range(points.iter().map(|p| p.1));
        let caption = format!(
            "{} vs {}: Spearman {}, Kendall {} (n = {})",
            candidate.label,
            reference.label,
            fmt(agreement.spearman),
            fmt(agreement.kendall_tau_b),
            agreement.both
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(format!("{} (candidate)", candidate.label))
            .y_desc(format!("{} (reference)", reference.label))
            .draw()?;
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new(*p, 2, RGBColor(40, 90, 160).mix(0.6).filled())),
        )?;
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => svg,
        Err(e) => format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"20\">plot unavailable: {e}</text></svg>"),
    }
}

/// A statistic with four decimals, or `-` when undefined.
pub fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: Option<f64>) -> Score {
        Score {
            fitness: f,
            failure: None,
            wall_seconds: 1.0,
            simulated_seconds: 0.0,
            cached: false,
        }
    }

    #[test]
    fn pairs_with_a_failure_are_left_out() {
        let reference = [s(Some(1.0)), s(Some(2.0)), s(None), s(Some(3.0))];
        let candidate = [s(Some(10.0)), s(Some(30.0)), s(Some(5.0)), s(Some(20.0))];
        let a = agreement(&reference, &candidate, &[1, 2]);
        assert_eq!(a.both, 3);
        // Ranks (1, 2, 3) against (1, 3, 2): rho = 1 - 6 * 2 / (3 * 8) = 0.5; tau = 1/3.
        assert!((a.spearman.unwrap() - 0.5).abs() < 1e-12);
        assert!((a.kendall_tau_b.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // Top 1: the candidate's is the second architecture, the reference's the fourth; top
        // 2: both are {second, fourth}.
        assert_eq!(a.top_k[0].precision, Some(0.0));
        assert_eq!(a.top_k[1].precision, Some(1.0));
    }

    #[test]
    fn ties_take_average_ranks() {
        // Candidate ties its first two: ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4).
        let reference = [s(Some(1.0)), s(Some(2.0)), s(Some(3.0)), s(Some(4.0))];
        let candidate = [s(Some(7.0)), s(Some(7.0)), s(Some(8.0)), s(Some(9.0))];
        let a = agreement(&reference, &candidate, &[]);
        // dx = (-1, -1, 0.5, 1.5), dy = (-1.5, -0.5, 0.5, 1.5): sxy = 4.5, sxx = 4.5,
        // syy = 5: rho = 4.5 / sqrt(22.5); tau-b: C = 5, D = 0, one tie in x: 5 / sqrt(5 * 6).
        assert!((a.spearman.unwrap() - 4.5 / 22.5f64.sqrt()).abs() < 1e-12);
        assert!((a.kendall_tau_b.unwrap() - 5.0 / 30f64.sqrt()).abs() < 1e-12);
    }
}
