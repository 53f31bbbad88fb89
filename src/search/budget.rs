//! Budgets: whether a campaign must stop, and how far along it is. Pure functions of the
//! committed counters and the elapsed time, so the commit step and the loop agree on them.

use super::config::BudgetConfig;
use crate::store::campaign::{Counters, FinishReason};

/// What the budgets are measured against.
#[derive(Clone, Copy, Debug)]
pub struct Spent<'a> {
    /// Committed counters.
    pub counters: &'a Counters,
    /// Simulated seconds charged.
    pub simulated_seconds: f64,
    /// Wall seconds over all sessions.
    pub elapsed_seconds: f64,
}

/// The first budget `spent` has reached, in a fixed order (evaluations, proposals, simulated
/// time, wall time, stall), or None if the campaign may go on.
pub fn reached(budget: &BudgetConfig, spent: Spent<'_>) -> Option<FinishReason> {
    let c = spent.counters;
    if let Some(n) = budget.evaluations {
        if c.evaluations >= n {
            return Some(FinishReason::Evaluations(n));
        }
    }
    if let Some(n) = budget.proposals {
        if c.proposals >= n {
            return Some(FinishReason::Proposals(n));
        }
    }
    if let Some(s) = budget.simulated_seconds {
        if spent.simulated_seconds >= s {
            return Some(FinishReason::SimulatedSeconds(s));
        }
    }
    if let Some(s) = budget.wall_seconds {
        if spent.elapsed_seconds >= s {
            return Some(FinishReason::WallSeconds(s));
        }
    }
    if budget.max_consecutive_hits > 0 && c.consecutive_hits >= budget.max_consecutive_hits {
        return Some(FinishReason::Stalled(c.consecutive_hits));
    }
    None
}

/// Fraction of the tightest budget used (for progress bars and ETAs), in [0, 1].
pub fn fraction(budget: &BudgetConfig, spent: Spent<'_>) -> f64 {
    let c = spent.counters;
    let mut f: f64 = 0.0;
    if let Some(n) = budget.evaluations {
        f = f.max(c.evaluations as f64 / n.max(1) as f64);
    }
    if let Some(n) = budget.proposals {
        f = f.max(c.proposals as f64 / n.max(1) as f64);
    }
    if let Some(s) = budget.simulated_seconds {
        f = f.max(spent.simulated_seconds / s);
    }
    if let Some(s) = budget.wall_seconds {
        f = f.max(spent.elapsed_seconds / s);
    }
    f.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_budget_reached_is_the_reason() {
        let budget = BudgetConfig {
            evaluations: Some(10),
            proposals: Some(20),
            wall_seconds: Some(60.0),
            ..BudgetConfig::default()
        };
        let mut counters = Counters::default();
        fn spent(counters: &Counters, elapsed_seconds: f64) -> Spent<'_> {
            Spent {
                counters,
                simulated_seconds: 0.0,
                elapsed_seconds,
            }
        }
        assert_eq!(reached(&budget, spent(&counters, 0.0)), None);
        assert_eq!(
            reached(&budget, spent(&counters, 61.0)),
            Some(FinishReason::WallSeconds(60.0))
        );
        counters.proposals = 20;
        counters.evaluations = 10;
        assert_eq!(
            reached(&budget, spent(&counters, 61.0)),
            Some(FinishReason::Evaluations(10))
        );
        counters.evaluations = 5;
        assert_eq!(
            reached(&budget, spent(&counters, 0.0)),
            Some(FinishReason::Proposals(20))
        );
        assert_eq!(fraction(&budget, spent(&counters, 30.0)), 1.0);
        counters.proposals = 4;
        assert_eq!(fraction(&budget, spent(&counters, 30.0)), 0.5);
        counters.consecutive_hits = 10_000;
        assert_eq!(
            reached(&budget, spent(&counters, 0.0)),
            Some(FinishReason::Stalled(10_000))
        );
    }
}
