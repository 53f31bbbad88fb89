//! Search strategies: how the next candidates are chosen. One file per strategy; adding one is
//! a file here and a line in [`build`].

pub mod evolution;
pub mod random;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::config::StrategyConfig;
use crate::hash::FunctionalHash;
use crate::space::{AnyGenotype, AnySpace, SpaceError};

/// A population member as the strategy keeps it (and stores it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Genotype in native notation (JSON).
    pub genotype: serde_json::Value,
    /// Functional hash.
    pub hash: FunctionalHash,
    /// Fitness.
    pub fitness: f64,
}

/// What a strategy may use to propose.
pub struct Ctx<'a> {
    /// The space.
    pub space: &'a AnySpace,
    /// This round's seeded stream.
    pub rng: &'a mut dyn RngCore,
    /// Hashes a genotype (memoized by the campaign).
    pub hash: &'a mut dyn FnMut(&AnyGenotype) -> Result<FunctionalHash, SpaceError>,
    /// Whether a function was already seen by this campaign or is in the cache.
    pub known: &'a dyn Fn(&FunctionalHash) -> bool,
}

/// One proposed candidate.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// The genotype.
    pub genotype: AnyGenotype,
    /// Its functional hash.
    pub hash: FunctionalHash,
    /// Whether it was drawn at random (not by mutation).
    pub random: bool,
}

/// A search strategy. Proposals of one round see the state as of the round's start; results are
/// observed in proposal order.
pub trait Strategy: Send + Sync {
    /// Proposes the next candidate.
    fn propose(&mut self, ctx: &mut Ctx<'_>) -> Result<Proposal, SpaceError>;
    /// Sees a committed candidate (`fitness` is None if it failed); returns members that left
    /// the population.
    fn observe(
        &mut self,
        genotype: &AnyGenotype,
        value: &serde_json::Value,
        hash: FunctionalHash,
        fitness: Option<f64>,
    ) -> Vec<Member>;
    /// The state to store.
    fn save(&self) -> serde_json::Value;
}

/// Builds a strategy, restoring `saved` state if given.
pub fn build(
    config: &StrategyConfig,
    space: &AnySpace,
    saved: Option<&serde_json::Value>,
) -> Result<Box<dyn Strategy>, SpaceError> {
    Ok(match config {
        StrategyConfig::RegularizedEvolution(c) => Box::new(evolution::RegularizedEvolution::new(
            c.clone(),
            space,
            saved,
        )?),
        // Halving strategies draw at random; their rounds' rungs do the selecting
        // (`search::stages`).
        StrategyConfig::Random
        | StrategyConfig::SuccessiveHalving(_)
        | StrategyConfig::Hyperband(_) => Box::new(random::RandomSearch),
    })
}

/// Draws a uniformly random genotype and hashes it.
pub(crate) fn random_proposal(ctx: &mut Ctx<'_>) -> Result<Proposal, SpaceError> {
    let genotype = ctx.space.sample(ctx.rng);
    let hash = (ctx.hash)(&genotype)?;
    Ok(Proposal {
        genotype,
        hash,
        random: true,
    })
}
