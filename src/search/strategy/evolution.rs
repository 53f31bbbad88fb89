//! Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
//! Architecture Search".
//!
//! The population starts with P random candidates. Then each step draws S members (with or
//! without replacement), mutates the fittest (ties: the oldest), and the child joins the
//! population while the oldest member dies. Options from the literature: re-mutate a child whose
//! functional hash equals its parent's (bounded retries), and fall back to a random sample after
//! too many children whose function is already known (dedup patience), instead of stalling.

use std::collections::VecDeque;

use rand::seq::index;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{random_proposal, Ctx, Member, Proposal, Strategy};
use crate::search::config::EvolutionConfig;
use crate::space::{AnyGenotype, AnySpace, SpaceError};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Saved {
    population: VecDeque<Member>,
    initial_proposed: usize,
    known_streak: u32,
}

/// The strategy.
pub struct RegularizedEvolution {
    config: EvolutionConfig,
    state: Saved,
    /// Parsed genotypes of `state.population`, same order.
    genotypes: VecDeque<AnyGenotype>,
}

impl RegularizedEvolution {
    /// A new strategy, or one restored from saved state.
    pub fn new(
        config: EvolutionConfig,
        space: &AnySpace,
        saved: Option<&serde_json::Value>,
    ) -> Result<Self, SpaceError> {
        let state: Saved = match saved {
            Some(v) if !v.is_null() && v.as_object().is_some_and(|o| !o.is_empty()) => {
                serde_json::from_value(v.clone()).map_err(|e| SpaceError::Invalid {
                    space: space.name().to_string(),
                    message: format!("stored strategy state is unreadable: {e}"),
                })?
            }
            _ => Saved::default(),
        };
        let genotypes = state
            .population
            .iter()
            .map(|m| space.parse_value(&m.genotype))
            .collect::<Result<_, _>>()?;
        Ok(RegularizedEvolution {
            config,
            state,
            genotypes,
        })
    }

    fn tournament(&self, rng: &mut dyn rand::RngCore) -> usize {
        let n = self.state.population.len();
        let s = self.config.sample.min(n).max(1);
        let picks: Vec<usize> = if self.config.replacement {
            (0..self.config.sample)
                .map(|_| rng.random_range(0..n))
                .collect()
        } else {
            index::sample(rng, n, s).into_vec()
        };
        // Fittest; ties go to the oldest (smallest index).
        let mut best = picks[0];
        for &i in &picks[1..] {
            let (fi, fb) = (
                self.state.population[i].fitness,
                self.state.population[best].fitness,
            );
            if fi > fb || (fi == fb && i < best) {
                best = i;
            }
        }
        best
    }
}

impl Strategy for RegularizedEvolution {
    fn propose(&mut self, ctx: &mut Ctx<'_>) -> Result<Proposal, SpaceError> {
        if self.state.initial_proposed < self.config.population || self.state.population.is_empty()
        {
            self.state.initial_proposed += 1;
            return random_proposal(ctx);
        }
        let parent_index = self.tournament(ctx.rng);
        let parent = self.genotypes[parent_index].clone();
        let parent_hash = self.state.population[parent_index].hash.clone();
        let mut child = ctx.space.mutate(&parent, ctx.rng)?;
        let mut hash = (ctx.hash)(&child)?;
        let mut retries = 0;
        while retries < self.config.mutate_until_new && hash.to_string() == parent_hash {
            child = ctx.space.mutate(&parent, ctx.rng)?;
            hash = (ctx.hash)(&child)?;
            retries += 1;
        }
        if self.config.dedup_patience > 0 {
            if (ctx.known)(&hash) {
                self.state.known_streak += 1;
                if self.state.known_streak >= self.config.dedup_patience {
                    self.state.known_streak = 0;
                    return random_proposal(ctx);
                }
            } else {
                self.state.known_streak = 0;
            }
        }
        Ok(Proposal {
            genotype: child,
            hash,
            random: false,
        })
    }

    fn observe(
        &mut self,
        genotype: &AnyGenotype,
        value: &serde_json::Value,
        hash: &str,
        fitness: Option<f64>,
    ) -> Vec<Member> {
        let Some(fitness) = fitness else {
            return Vec::new();
        };
        self.state.population.push_back(Member {
            genotype: value.clone(),
            hash: hash.to_string(),
            fitness,
        });
        self.genotypes.push_back(genotype.clone());
        let mut dead = Vec::new();
        while self.state.population.len() > self.config.population {
            self.genotypes.pop_front();
            if let Some(m) = self.state.population.pop_front() {
                dead.push(m);
            }
        }
        dead
    }

    fn save(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("strategy state serialises")
    }
}
