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
use crate::hash::FunctionalHash;
use crate::search::config::EvolutionConfig;
use crate::space::{AnyGenotype, AnySpace, SpaceError};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Saved {
    population: VecDeque<Member>,
    initial_proposed: usize,
    known_streak: u32,
    /// Warm start: members the initial population is proposed from before random samples.
    #[serde(skip_serializing_if = "VecDeque::is_empty")]
    seeds: VecDeque<Member>,
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

    /// The state of a new campaign whose initial population is proposed from `seeds` first
    /// (warm start from the cache), then at random.
    pub fn seeded(seeds: Vec<Member>) -> serde_json::Value {
        let state = Saved {
            seeds: seeds.into(),
            ..Saved::default()
        };
        serde_json::to_value(&state).expect("strategy state serialises")
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
            if let Some(seed) = self.state.seeds.pop_front() {
                return Ok(Proposal {
                    genotype: ctx.space.parse_value(&seed.genotype)?,
                    hash: seed.hash,
                    random: false,
                });
            }
            return random_proposal(ctx);
        }
        let parent_index = self.tournament(ctx.rng);
        let parent = self.genotypes[parent_index].clone();
        let parent_hash = self.state.population[parent_index].hash;
        let mut child = ctx.space.mutate(&parent, ctx.rng)?;
        let mut hash = (ctx.hash)(&child)?;
        let mut retries = 0;
        while retries < self.config.mutate_until_new && hash == parent_hash {
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
        hash: FunctionalHash,
        fitness: Option<f64>,
    ) -> Vec<Member> {
        let Some(fitness) = fitness else {
            return Vec::new();
        };
        self.state.population.push_back(Member {
            genotype: value.clone(),
            hash,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rea(p: usize, s: usize) -> (RegularizedEvolution, AnySpace) {
        let space = AnySpace::builtin("nb201").expect("built-in");
        let config = EvolutionConfig {
            population: p,
            sample: s,
            replacement: false,
            mutate_until_new: 0,
            dedup_patience: 0,
            warmup: None,
            warm_start: false,
        };
        (
            RegularizedEvolution::new(config, &space, None).expect("new"),
            space,
        )
    }

    #[test]
    fn the_oldest_member_dies_and_failures_never_join() {
        let (mut r, space) = rea(3, 2);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut dead = Vec::new();
        let h = |i: u8| FunctionalHash::from_parts(2, [i; 32]);
        for i in 0..5 {
            let g = space.sample(&mut rng);
            let v = space.to_value(&g).expect("value");
            dead.extend(r.observe(&g, &v, h(i), Some(f64::from(i))));
        }
        assert_eq!(
            dead.iter().map(|m| m.hash).collect::<Vec<_>>(),
            [h(0), h(1)]
        );
        let g = space.sample(&mut rng);
        let v = space.to_value(&g).expect("value");
        assert!(r.observe(&g, &v, h(9), None).is_empty());
        let alive: Vec<_> = r.state.population.iter().map(|m| m.hash).collect();
        assert_eq!(alive, [h(2), h(3), h(4)]);
        // Saved and restored, the population is the same.
        let again =
            RegularizedEvolution::new(r.config.clone(), &space, Some(&r.save())).expect("restore");
        assert_eq!(again.state.population, r.state.population);
    }

    #[test]
    fn tournament_takes_the_fittest_of_the_sample() {
        let (mut r, space) = rea(5, 5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for (i, f) in [3.0, 9.0, 1.0, 9.0, 2.0].iter().enumerate() {
            let g = space.sample(&mut rng);
            let v = space.to_value(&g).expect("value");
            r.observe(
                &g,
                &v,
                FunctionalHash::from_parts(2, [i as u8; 32]),
                Some(*f),
            );
        }
        // Sample = whole population: the fittest, ties to the oldest.
        for _ in 0..20 {
            assert_eq!(r.tournament(&mut rng), 1);
        }
    }
}
