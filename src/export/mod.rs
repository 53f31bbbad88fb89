//! Getting results out of a store: the architectures a campaign scored, as architecture
//! documents carrying their hashes, metrics, cost, protocol and provenance
//! ([`ArchResult`]), and renderers for them ([`dot`], [`pytorch`]).
//!
//! Everything is read from the campaign's journal and the cache, which are committed round by
//! round, so a finished, an interrupted and a killed campaign export alike.

pub mod dot;
pub mod pytorch;

use crate::eval::unix_now;
use crate::hash::{self, FunctionalHash};
use crate::search::results::found;
use crate::search::{Campaign, CampaignConfig};
use crate::space::doc::{ArchResult, Provenance};
use crate::space::{AnySpace, ArchDocument, SpaceError};
use crate::store::cache;
use crate::store::campaign::CampaignState;
use crate::store::{Store, StoreError};

/// Which architectures to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The best `k` distinct functions by fitness.
    Top(usize),
    /// The non-dominated set for (fitness up, `objective` down).
    Pareto(Objective),
    /// Every scored function, best first.
    All,
}

/// The second axis of a Pareto front (minimised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Parameter count.
    Params,
    /// FLOPs.
    Flops,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such campaign.
    #[error("no campaign `{name}` in this store; known campaigns: {known}")]
    Unknown {
        /// Asked for.
        name: String,
        /// Present.
        known: String,
    },
    /// The stored config or a genotype cannot be read back.
    #[error("campaign `{name}`: {message}")]
    Stored {
        /// The campaign.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The space failed.
    #[error(transparent)]
    Space(#[from] SpaceError),
}

/// The documents of campaign `name`'s architectures chosen by `selection`, best first.
pub fn export(
    store: &Store,
    name: &str,
    selection: Selection,
) -> Result<Vec<ArchDocument>, ExportError> {
    let Some(header) = store.campaign(name)? else {
        let known: Vec<String> = store.campaigns()?.into_iter().map(|h| h.name).collect();
        return Err(ExportError::Unknown {
            name: name.to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    };
    let stored = |message: String| ExportError::Stored {
        name: name.to_string(),
        message,
    };
    let config: CampaignConfig = serde_json::from_value(header.effective_config.clone())
        .map_err(|e| stored(format!("stored config unreadable: {e}")))?;
    let mut space = AnySpace::load(&config.space)?.with_knobs(&config.knobs);
    let protocol = header.protocol.clone();
    if let Some((input, classes)) = protocol.as_ref().and_then(|p| p.input) {
        space = space.with_io(input, classes);
    }
    let fingerprint = protocol.as_ref().and_then(|p| p.fingerprint_bytes());
    let state = match header.state {
        CampaignState::Finished => "finished",
        CampaignState::Interrupted => "interrupted",
        CampaignState::Running => "running",
    };
    let evaluator = serde_json::to_value(&config.evaluator).unwrap_or_default();
    let exported_unix = unix_now();
    let mut docs = Vec::new();
    for f in found(store, name)? {
        let g = space
            .parse(&f.genotype)
            .map_err(|e| stored(format!("genotype {}: {e}", f.genotype)))?;
        let mut doc = ArchDocument::new(&space, config.knobs, &g)?;
        let net = doc
            .network()
            .map_err(|e| stored(format!("genotype {}: {e}", f.genotype)))?;
        let (_, structural) = hash::hash(&net);
        let cost = crate::ir::cost(&net);
        let record = match (FunctionalHash::parse(&f.hash), fingerprint) {
            (Some(h), Some(p)) => store.cache_get(&cache::key(&h, &p))?,
            _ => None,
        };
        let (metrics, curves, failure) = match record {
            Some(r) => (r.metrics, r.curves, r.failure),
            None => (f.metrics.clone(), Default::default(), None),
        };
        doc.result = Some(ArchResult {
            functional_hash: f.hash.clone(),
            structural_hash: structural.to_string(),
            fitness: Some(f.fitness),
            metrics,
            curves,
            failure,
            params: cost.params,
            flops: cost.flops,
            protocol: evaluator.clone(),
            provenance: Provenance {
                campaign: name.to_string(),
                proposal: f.proposal,
                seed: config.seed,
                campaign_state: state.to_string(),
                evonas_version: env!("CARGO_PKG_VERSION").to_string(),
                exported_unix,
            },
        });
        docs.push(doc);
    }
    Ok(select(docs, selection))
}

/// The document of a running campaign's best architecture so far (what `best.json` holds).
pub fn best_document(c: &Campaign<'_>) -> Option<ArchDocument> {
    let h = c.header();
    let best = h.best.as_ref()?;
    let space = c.space();
    let g = space.parse(&best.genotype).ok()?;
    let knobs = c.config().knobs;
    let mut doc = ArchDocument::new(space, knobs, &g).ok()?;
    let net = doc.network().ok()?;
    let (_, structural) = hash::hash(&net);
    let cost = crate::ir::cost(&net);
    doc.result = Some(ArchResult {
        functional_hash: best.functional_hash.clone(),
        structural_hash: structural.to_string(),
        fitness: Some(best.fitness),
        metrics: best.metrics.clone(),
        curves: Default::default(),
        failure: None,
        params: cost.params,
        flops: cost.flops,
        protocol: serde_json::to_value(&c.config().evaluator).unwrap_or_default(),
        provenance: Provenance {
            campaign: h.name.clone(),
            proposal: best.proposal,
            seed: c.config().seed,
            campaign_state: match h.state {
                CampaignState::Finished => "finished",
                CampaignState::Interrupted => "interrupted",
                CampaignState::Running => "running",
            }
            .to_string(),
            evonas_version: env!("CARGO_PKG_VERSION").to_string(),
            exported_unix: unix_now(),
        },
    });
    Some(doc)
}

fn fitness(d: &ArchDocument) -> f64 {
    d.result
        .as_ref()
        .and_then(|r| r.fitness)
        .unwrap_or(f64::NEG_INFINITY)
}

fn cost(d: &ArchDocument, o: Objective) -> u64 {
    d.result.as_ref().map_or(u64::MAX, |r| match o {
        Objective::Params => r.params,
        Objective::Flops => r.flops,
    })
}

/// Applies a selection to documents sorted best first.
pub fn select(docs: Vec<ArchDocument>, selection: Selection) -> Vec<ArchDocument> {
    match selection {
        Selection::All => docs,
        Selection::Top(k) => docs.into_iter().take(k).collect(),
        Selection::Pareto(o) => pareto(docs, o),
    }
}

/// The non-dominated documents for (fitness up, objective down), best fitness first: walking
/// down the fitness order, a document stays when it is cheaper than every fitter one kept.
pub fn pareto(docs: Vec<ArchDocument>, o: Objective) -> Vec<ArchDocument> {
    let mut docs = docs;
    docs.sort_by(|a, b| {
        fitness(b)
            .total_cmp(&fitness(a))
            .then(cost(a, o).cmp(&cost(b, o)))
    });
    let mut best_cost = u64::MAX;
    docs.into_iter()
        .filter(|d| {
            let c = cost(d, o);
            let keep = c < best_cost;
            best_cost = best_cost.min(c);
            keep
        })
        .collect()
}

/// A short name for a document: rank and functional-hash prefix.
pub fn short_name(rank: usize, doc: &ArchDocument) -> String {
    let hash = doc
        .result
        .as_ref()
        .map(|r| {
            r.functional_hash
                .split(':')
                .nth(1)
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let prefix: String = hash.chars().take(8).collect();
    if prefix.is_empty() {
        format!("arch{rank}")
    } else {
        format!("arch{rank}_{prefix}")
    }
}
