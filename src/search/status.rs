//! `evonas status`: a campaign's state as JSON, from its stored header.

use serde_json::{json, Value};

use crate::store::campaign::{CampaignHeader, CampaignState};

/// The status object. `live` is true when another process holds the store (the campaign is
/// running right now); a stored `running` state without a live process means it was killed,
/// and is reported as `interrupted`.
pub fn status_json(h: &CampaignHeader, live: bool) -> Value {
    let state = match (h.state, live) {
        (CampaignState::Finished, _) => "finished",
        (CampaignState::Running, true) => "running",
        (CampaignState::Running, false) | (CampaignState::Interrupted, _) => "interrupted",
    };
    let c = &h.counters;
    let hit_rate = if c.proposals == 0 {
        0.0
    } else {
        c.cache_hits as f64 / c.proposals as f64
    };
    let best = h.best.as_ref().map(|b| {
        json!({
            "genotype": b.genotype,
            "functional_hash": b.functional_hash,
            "fitness": b.fitness,
            "metrics": b.metrics,
            "proposal": b.proposal,
            "fidelity": b.fidelity.to_string(),
        })
    });
    let mut v = json!({
        "name": h.name,
        "state": state,
        "finish_reason": h.finish_reason,
        "space": h.effective_config.get("space"),
        "strategy": h.effective_config.get("strategy").and_then(|s| s.get("kind")),
        "proposals": c.proposals,
        "evaluations": c.evaluations,
        "cache_hits": c.cache_hits,
        "hit_rate": hit_rate,
        "failures": c.failures,
        "rounds": c.rounds,
        "best": best,
        "elapsed_seconds": h.elapsed_seconds,
        "simulated_seconds": h.simulated_seconds,
        "history_digest": h.history_digest,
        "created_unix": h.created_unix,
        "updated_unix": h.updated_unix,
    });
    // Only campaigns with screens, warm-ups or rungs have these (older readers never saw them).
    if c.screened + c.screen_evaluations > 0 {
        v["screened"] = c.screened.into();
        v["screen_evaluations"] = c.screen_evaluations.into();
    }
    v
}
