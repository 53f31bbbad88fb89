//! Getting results out of a store: the architectures a campaign scored, as architecture
//! documents carrying their hashes, metrics, cost, protocol and provenance
//! ([`ArchResult`]), and renderers for them ([`dot`], [`pytorch`]).
//!
//! Everything is read from the campaign's journal and the cache, which are committed round by
//! round, so a finished, an interrupted and a killed campaign export alike.

pub mod dot;
pub mod pytorch;

use crate::eval::EvalRecord;
use crate::eval::{unix_now, Fidelity};
use crate::hash;
use crate::search::campaign::{self, SearchError};
use crate::search::results::{found, Found};
use crate::search::{Campaign, CampaignConfig};
use crate::space::doc::{ArchResult, Provenance};
use crate::space::{AnySpace, ArchDocument, SpaceError};
use crate::store::cache::CacheKey;
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
    /// The campaign cannot be read back: there is none of that name, or its stored config
    /// does not parse (worded as everywhere else a stored campaign is reopened).
    #[error(transparent)]
    Campaign(#[from] SearchError),
    /// A stored genotype cannot be read back.
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
    let (header, config, space) = campaign::stored(store, name)?;
    let protocol = header.protocol.clone();
    let fingerprint = protocol.as_ref().map(|p| p.fingerprint);
    let context = Context {
        space: &space,
        config: &config,
        campaign: name,
        state: header.state,
        fidelity: protocol
            .as_ref()
            .map(|p| p.fidelity.clone())
            .unwrap_or_default(),
        exported_unix: unix_now(),
    };
    let mut docs = Vec::new();
    for f in found(store, name)? {
        let record = match fingerprint {
            Some(p) => store.cache_get(&CacheKey::new(f.hash, p))?,
            None => None,
        };
        docs.push(context.document(f, record)?);
    }
    Ok(select(docs, selection))
}

/// What every exported document of one campaign shares.
struct Context<'a> {
    space: &'a AnySpace,
    config: &'a CampaignConfig,
    campaign: &'a str,
    state: CampaignState,
    fidelity: Fidelity,
    exported_unix: u64,
}

impl Context<'_> {
    /// The document of one scored function, with its cache record's metrics and curves when
    /// the cache holds it (else the journal's metrics).
    fn document(&self, f: Found, record: Option<EvalRecord>) -> Result<ArchDocument, ExportError> {
        let bad = |e: &dyn std::fmt::Display| ExportError::Stored {
            name: self.campaign.to_string(),
            message: format!("genotype {}: {e}", f.genotype),
        };
        let g = self.space.parse(&f.genotype).map_err(|e| bad(&e))?;
        let mut doc = ArchDocument::new(self.space, self.config.knobs, &g)?;
        let net = doc.network().map_err(|e| bad(&e))?;
        let (_, structural) = hash::hash(&net);
        let cost = crate::ir::cost(&net);
        let (metrics, curves, failure, machine) = match record {
            Some(r) => (r.metrics, r.curves, r.failure, r.machine),
            None => (f.metrics, Default::default(), None, None),
        };
        doc.result = Some(ArchResult {
            functional_hash: f.hash,
            structural_hash: structural,
            fitness: Some(f.fitness),
            metrics,
            curves,
            failure,
            params: cost.params,
            flops: cost.flops,
            protocol: self.config.evaluator.to_json(),
            fidelity: self.fidelity.clone(),
            provenance: Provenance {
                campaign: self.campaign.to_string(),
                proposal: f.proposal,
                seed: self.config.seed,
                campaign_state: self.state.name().to_string(),
                evonas_version: env!("CARGO_PKG_VERSION").to_string(),
                exported_unix: self.exported_unix,
                machine,
            },
        });
        Ok(doc)
    }
}

/// The document of a running campaign's best architecture so far (what `best.json` holds).
pub fn best_document(c: &Campaign<'_>) -> Option<ArchDocument> {
    let h = c.header();
    let best = h.best.as_ref()?;
    let context = Context {
        space: c.space(),
        config: c.config(),
        campaign: &h.name,
        state: h.state,
        fidelity: best.fidelity.clone(),
        exported_unix: unix_now(),
    };
    let found = Found {
        hash: best.functional_hash,
        genotype: best.genotype.clone(),
        fitness: best.fitness,
        metrics: best.metrics.clone(),
        proposal: best.proposal,
    };
    context.document(found, None).ok()
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
        .map(|r| r.functional_hash.digest().hex())
        .unwrap_or_default();
    let prefix: String = hash.chars().take(8).collect();
    if prefix.is_empty() {
        format!("arch{rank}")
    } else {
        format!("arch{rank}_{prefix}")
    }
}
