//! What the NAS-Bench-201 experiments share: reading a campaign's journal back as best-so-far
//! test accuracy against simulated time, and means with 95% intervals.

// Each experiment uses part of this module.
#![allow(dead_code)]

use evonas::store::campaign::Event;

/// One committed candidate: simulated seconds spent before it, best test accuracy after it.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Simulated seconds spent before this candidate.
    pub before: f64,
    /// Test accuracy of the best candidate (by fitness) so far.
    pub best_test: f64,
    /// Candidates committed so far.
    pub proposals: u64,
    /// Real evaluations so far (screens excluded).
    pub evaluations: u64,
}

/// Replays a journal: every charge (evaluations and screens) advances the simulated clock; a
/// candidate counts at time t if the time spent before it is below t (a budget lets an
/// evaluation start while time remains). Screening scores are other fidelities' figures and
/// never make a best.
pub fn replay(events: impl IntoIterator<Item = Event>) -> Vec<Point> {
    let mut sim = 0.0;
    let (mut best_fit, mut best_test) = (f64::MIN, f64::NAN);
    let (mut proposals, mut evaluations) = (0u64, 0u64);
    let mut points = Vec::new();
    for e in events {
        let (fitness, metrics, cost, evaluated) = match e {
            Event::Evaluated {
                fitness,
                metrics,
                simulated_seconds,
                ..
            } => (fitness, metrics, simulated_seconds, true),
            Event::CacheHit {
                fitness, metrics, ..
            } => (fitness, metrics, 0.0, false),
            Event::Screened { seconds, .. } => {
                sim += seconds;
                continue;
            }
            _ => continue,
        };
        let before = sim;
        sim += cost;
        proposals += 1;
        evaluations += u64::from(evaluated);
        if fitness > best_fit {
            best_fit = fitness;
            best_test = metrics.get("test_accuracy").copied().unwrap_or(f64::NAN);
        }
        points.push(Point {
            before,
            best_test,
            proposals,
            evaluations,
        });
    }
    points
}

/// The last point whose candidate started before `t` (NaN accuracy if none did).
pub fn at(points: &[Point], t: f64) -> Point {
    let mut last = Point {
        before: 0.0,
        best_test: f64::NAN,
        proposals: 0,
        evaluations: 0,
    };
    for p in points {
        if p.before < t {
            last = *p;
        } else {
            break;
        }
    }
    last
}

/// Mean and 95% interval half-width (1.96 standard errors) of the finite values.
pub fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = xs.len() as f64;
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, 1.96 * (var / n).sqrt())
}

/// Mean and 95% interval at each point of the runs' curves (all of one length).
pub fn mean_curve(curves: &[&[f64]]) -> Vec<(f64, f64)> {
    let len = curves.first().map_or(0, |c| c.len());
    (0..len)
        .map(|i| mean_ci(&curves.iter().map(|c| c[i]).collect::<Vec<_>>()))
        .collect()
}
