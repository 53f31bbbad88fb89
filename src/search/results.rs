//! What a campaign found, read back from its journal: every distinct function it scored, with
//! the genotype first proposed for it. Works on finished, interrupted and crashed campaigns
//! alike, since the journal is committed round by round.

use std::collections::{BTreeMap, HashMap};

use crate::hash::FunctionalHash;
use crate::store::campaign::Event;
use crate::store::{Store, StoreError};

/// One scored function of a campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Functional hash.
    pub hash: FunctionalHash,
    /// The first genotype proposed with this hash (native notation).
    pub genotype: String,
    /// Its fitness.
    pub fitness: f64,
    /// Its metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Proposal number of its first score.
    pub proposal: u64,
}

/// Every distinct function `name` scored, best first (ties: earlier proposal first).
pub fn found(store: &Store, name: &str) -> Result<Vec<Found>, StoreError> {
    let mut genotype: HashMap<FunctionalHash, String> = HashMap::new();
    let mut scored: HashMap<FunctionalHash, Found> = HashMap::new();
    for (_, e) in store.journal(name)? {
        match e {
            Event::Proposed {
                genotype: g, hash, ..
            } => {
                genotype.entry(hash).or_insert(g);
            }
            Event::Evaluated {
                proposal,
                hash,
                fitness,
                metrics,
                ..
            }
            | Event::CacheHit {
                proposal,
                hash,
                fitness,
                metrics,
            } => {
                // Under aggregation the latest score is the mean of the most evaluations.
                let g = genotype.get(&hash).cloned().unwrap_or_default();
                let first = scored.get(&hash).map_or(proposal, |f| f.proposal);
                scored.insert(
                    hash,
                    Found {
                        hash,
                        genotype: g,
                        fitness,
                        metrics,
                        proposal: first,
                    },
                );
            }
            _ => {}
        }
    }
    let mut out: Vec<Found> = scored.into_values().collect();
    out.sort_by(|a, b| {
        b.fitness
            .total_cmp(&a.fitness)
            .then(a.proposal.cmp(&b.proposal))
    });
    Ok(out)
}
