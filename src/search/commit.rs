//! The commit step: a round's results applied, in proposal order, to the campaign's state
//! (counters, best, history digest, seen functions, strategy). Pure: state and results in,
//! events out. The loop writes the events and the new header in one atomic store commit, so
//! this function is the whole meaning of "committing a round".

use std::collections::HashSet;

use super::budget::{self, Spent};
use super::config::BudgetConfig;
use super::strategy::Strategy;
use crate::eval::{Fidelity, Outcome};
use crate::hash::FunctionalHash;
use crate::space::{AnySpace, SpaceError};
use crate::store::campaign::{
    Best, CampaignHeader, CampaignState, Event, FinishReason, Inflight, SlotResult, Source,
};

/// The state a commit changes, besides the header.
pub struct Searcher<'a> {
    /// The campaign's strategy.
    pub strategy: &'a mut dyn Strategy,
    /// Functions the campaign has committed.
    pub seen: &'a mut HashSet<FunctionalHash>,
}

/// What a round is committed against.
pub struct Round<'a> {
    /// The campaign's space (genotypes are read back in it for the strategy).
    pub space: &'a AnySpace,
    /// The budgets.
    pub budget: &'a BudgetConfig,
    /// The campaign's wall time so far, earlier sessions included.
    pub elapsed: f64,
    /// The fidelity of the round's results.
    pub fidelity: &'a Fidelity,
}

/// One screening stage's verdict on a candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct ScreenStep {
    /// The stage.
    pub stage: u32,
    /// Its fidelity.
    pub fidelity: Fidelity,
    /// Its result.
    pub result: SlotResult,
    /// Simulated seconds charged for it.
    pub seconds: f64,
    /// Whether the candidate went on.
    pub kept: bool,
}

/// How a candidate of a round was answered: the screens it passed through, in order, and the
/// campaign evaluator's result if it got that far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answered {
    /// Screening stages, in order.
    pub screens: Vec<ScreenStep>,
    /// The campaign evaluator's result (None: a screen stopped it).
    pub last: Option<SlotResult>,
}

impl From<SlotResult> for Answered {
    fn from(result: SlotResult) -> Self {
        Answered {
            screens: Vec::new(),
            last: Some(result),
        }
    }
}

/// What committing a round produced.
#[derive(Debug, PartialEq)]
pub struct Committed {
    /// Journal events, in order.
    pub events: Vec<Event>,
    /// The budget that ended the campaign during or right after the round, if one did.
    pub end: Option<FinishReason>,
}

/// Applies `results` (one per candidate of `inflight`) to `header` and `searcher`. A budget
/// reached part-way stops the round there: later candidates are not committed. Screening
/// results are journalled (with their promotion decisions), charged and chained into the
/// history digest; a candidate a screen stopped is seen but never joins the strategy's
/// population.
pub fn commit_round(
    header: &mut CampaignHeader,
    searcher: Searcher<'_>,
    round: &Round<'_>,
    inflight: &Inflight,
    results: &[Answered],
) -> Result<Committed, SpaceError> {
    // Wall time is spent by the round as a whole (its evaluations already ran, their results
    // are stored): it ends the campaign after the round, never part-way through committing it.
    let mid_round = BudgetConfig {
        wall_seconds: None,
        ..round.budget.clone()
    };
    let reached = |budget: &BudgetConfig, h: &CampaignHeader| {
        budget::reached(
            budget,
            Spent {
                counters: &h.counters,
                simulated_seconds: h.simulated_seconds,
                elapsed_seconds: round.elapsed,
            },
        )
    };
    let mut events = Vec::new();
    let mut end = None;
    for (cand, answered) in inflight.candidates.iter().zip(results) {
        if let Some(reason) = reached(&mid_round, header) {
            end = Some(reason);
            break;
        }
        let genotype = round.space.parse_value(&cand.genotype)?;
        let proposal = header.counters.proposals;
        header.counters.proposals += 1;
        let hash = cand.hash;
        for step in &answered.screens {
            if step.result.source == Source::Evaluated {
                header.counters.screen_evaluations += 1;
            }
            header.simulated_seconds += step.seconds;
            let fitness = step.result.outcome.fitness();
            events.push(Event::Screened {
                proposal,
                hash,
                stage: step.stage,
                fidelity: step.fidelity.clone(),
                fitness,
                seconds: step.seconds,
                source: step.result.source,
                kept: step.kept,
            });
            header.history_digest = chain(&header.history_digest, &hash, fitness);
        }
        let Some(result) = &answered.last else {
            let c = &mut header.counters;
            c.screened += 1;
            if answered
                .screens
                .iter()
                .all(|s| s.result.source == Source::Cache)
            {
                c.consecutive_hits += 1;
            } else {
                c.consecutive_hits = 0;
            }
            searcher.seen.insert(hash);
            // Never a member: what it scored is another fidelity's figure.
            searcher
                .strategy
                .observe(&genotype, &cand.genotype, hash, None);
            continue;
        };
        let c = &mut header.counters;
        match result.source {
            Source::Evaluated => {
                c.consecutive_hits = 0;
                c.evaluations += 1;
            }
            Source::Cache => {
                c.consecutive_hits += 1;
                c.cache_hits += 1;
            }
        }
        match &result.outcome {
            Outcome::Done {
                fitness,
                metrics,
                simulated_seconds,
                ..
            } => {
                events.push(match result.source {
                    Source::Evaluated => {
                        header.simulated_seconds += simulated_seconds;
                        Event::Evaluated {
                            proposal,
                            hash,
                            fitness: *fitness,
                            metrics: metrics.clone(),
                            simulated_seconds: *simulated_seconds,
                        }
                    }
                    Source::Cache => Event::CacheHit {
                        proposal,
                        hash,
                        fitness: *fitness,
                        metrics: metrics.clone(),
                    },
                });
                if improves(header.best.as_ref(), *fitness, round.fidelity) {
                    header.best = Some(Best {
                        genotype: notation(&cand.genotype),
                        functional_hash: hash,
                        fitness: *fitness,
                        metrics: metrics.clone(),
                        proposal,
                        fidelity: round.fidelity.clone(),
                    });
                }
            }
            Outcome::Failed { kind, reason } => {
                header.counters.failures += 1;
                events.push(Event::Failed {
                    proposal,
                    hash,
                    kind: *kind,
                    reason: reason.clone(),
                    source: result.source,
                });
            }
        }
        let fitness = result.outcome.fitness();
        header.history_digest = chain(&header.history_digest, &hash, fitness);
        searcher.seen.insert(hash);
        for dead in searcher
            .strategy
            .observe(&genotype, &cand.genotype, hash, fitness)
        {
            events.push(Event::AgedOut {
                hash: dead.hash,
                genotype: notation(&dead.genotype),
            });
        }
    }
    if end.is_none() {
        end = reached(round.budget, header);
    }
    header.counters.rounds += 1;
    header.round += 1;
    header.strategy = searcher.strategy.save();
    header.elapsed_seconds = round.elapsed;
    if let Some(reason) = end {
        events.push(Event::Finished { reason });
        header.state = CampaignState::Finished;
        header.finish_reason = Some(reason);
    }
    Ok(Committed { events, end })
}

/// Whether `fitness` at `fidelity` replaces `best`: a higher fidelity always does, a lower one
/// never, and within one fidelity a strictly higher fitness does (ties keep the earlier).
fn improves(best: Option<&Best>, fitness: f64, fidelity: &Fidelity) -> bool {
    let Some(best) = best else {
        return true;
    };
    if best.fidelity.comparable(fidelity) {
        fitness > best.fitness
    } else {
        fidelity.rank() > best.fidelity.rank()
    }
}

/// The native notation of a stored genotype value as one line of text.
pub fn notation(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One link of the history chain: blake3(previous || printed hash || fitness bits or
/// "failed"). Any change to what a campaign saw, in order, changes the digest.
pub fn chain(previous: &str, hash: &FunctionalHash, fitness: Option<f64>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(previous.as_bytes());
    h.update(hash.to_string().as_bytes());
    match fitness {
        Some(f) => h.update(&f.to_bits().to_le_bytes()),
        None => h.update(b"failed"),
    };
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::SeedableRng;

    use super::*;
    use crate::eval::FailureKind;
    use crate::search::strategy::random::RandomSearch;
    use crate::store::campaign::Candidate;
    use crate::store::{Commit, Store};

    fn done(fitness: f64, simulated_seconds: f64) -> Outcome {
        Outcome::Done {
            fitness,
            metrics: BTreeMap::from([("valid_accuracy".to_string(), fitness)]),
            curves: BTreeMap::new(),
            simulated_seconds,
            wall_seconds: 0.0,
        }
    }

    /// A round of three: a new function (evaluated), the same function again (a hit), and a
    /// failure.
    fn round() -> (AnySpace, Inflight, Vec<Answered>) {
        let space = AnySpace::builtin("nb201").expect("built-in space");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let a = space.sample(&mut rng);
        let b = space.sample(&mut rng);
        let hash = |g| FunctionalHash::of(&space.decode(g).expect("decodes"));
        let cand = |g, random| Candidate {
            genotype: space.to_value(g).expect("value"),
            hash: hash(g),
            random,
        };
        let inflight = Inflight {
            round: 0,
            candidates: vec![cand(&a, true), cand(&a, false), cand(&b, true)],
        };
        let results = vec![
            SlotResult {
                source: Source::Evaluated,
                outcome: done(71.5, 100.0),
            },
            SlotResult {
                source: Source::Cache,
                outcome: done(71.5, 0.0),
            },
            SlotResult {
                source: Source::Evaluated,
                outcome: Outcome::failed(FailureKind::Diverged, "diverged: loss is NaN"),
            },
        ];
        (
            space,
            inflight,
            results.into_iter().map(Answered::from).collect(),
        )
    }

    #[test]
    fn a_round_becomes_events_counters_best_and_digest() {
        let (space, inflight, results) = round();
        let mut header = CampaignHeader::new("c", "", serde_json::Value::Null, 0);
        let start = header.history_digest.clone();
        let mut seen = HashSet::new();
        let budget = BudgetConfig {
            evaluations: Some(2),
            ..BudgetConfig::default()
        };
        let searcher = Searcher {
            strategy: &mut RandomSearch,
            seen: &mut seen,
        };
        let round = Round {
            space: &space,
            budget: &budget,
            elapsed: 12.5,
            fidelity: &Fidelity::Full,
        };
        let committed =
            commit_round(&mut header, searcher, &round, &inflight, &results).expect("commits");
        let (ha, hb) = (inflight.candidates[0].hash, inflight.candidates[2].hash);
        let metrics = BTreeMap::from([("valid_accuracy".to_string(), 71.5)]);
        assert_eq!(
            committed.events,
            [
                Event::Evaluated {
                    proposal: 0,
                    hash: ha,
                    fitness: 71.5,
                    metrics: metrics.clone(),
                    simulated_seconds: 100.0,
                },
                Event::CacheHit {
                    proposal: 1,
                    hash: ha,
                    fitness: 71.5,
                    metrics: metrics.clone(),
                },
                Event::Failed {
                    proposal: 2,
                    hash: hb,
                    kind: FailureKind::Diverged,
                    reason: "diverged: loss is NaN".into(),
                    source: Source::Evaluated,
                },
                // Two real evaluations: the budget is reached after the round.
                Event::Finished {
                    reason: FinishReason::Evaluations(2),
                },
            ]
        );
        assert_eq!(committed.end, Some(FinishReason::Evaluations(2)));
        let c = header.counters;
        assert_eq!(
            (
                c.proposals,
                c.evaluations,
                c.cache_hits,
                c.failures,
                c.rounds
            ),
            (3, 2, 1, 1, 1)
        );
        assert_eq!(c.consecutive_hits, 0, "the failure was a real evaluation");
        assert_eq!(header.simulated_seconds, 100.0);
        assert_eq!(header.elapsed_seconds, 12.5);
        assert_eq!((header.round, header.state), (1, CampaignState::Finished));
        let best = header.best.as_ref().expect("a best");
        assert_eq!((best.functional_hash, best.proposal), (ha, 0));
        let digest = chain(
            &chain(&chain(&start, &ha, Some(71.5)), &ha, Some(71.5)),
            &hb,
            None,
        );
        assert_eq!(header.history_digest, digest);
        assert_eq!(seen, HashSet::from([ha, hb]));

        // Written as the loop writes it, an in-memory store reads back the same journal and
        // header.
        let store = Store::temporary().expect("in-memory store");
        let mut commit = Commit::new();
        commit.append(&mut header.next_seq, &committed.events);
        commit.put_header(&header);
        store.commit("c", &commit).expect("commit");
        let journal: Vec<Event> = store
            .journal("c")
            .expect("journal")
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        assert_eq!(journal, committed.events);
        assert_eq!(store.campaign("c").expect("read"), Some(header));
    }

    /// The test round committed under `budget` by a campaign `elapsed` seconds old, with a
    /// fresh header and a random strategy.
    fn commit_under(budget: BudgetConfig, elapsed: f64) -> (CampaignHeader, Committed) {
        let (space, inflight, results) = round();
        let mut header = CampaignHeader::new("c", "", serde_json::Value::Null, 0);
        let searcher = Searcher {
            strategy: &mut RandomSearch,
            seen: &mut HashSet::new(),
        };
        let round = Round {
            space: &space,
            budget: &budget,
            elapsed,
            fidelity: &Fidelity::Full,
        };
        let committed =
            commit_round(&mut header, searcher, &round, &inflight, &results).expect("commits");
        (header, committed)
    }

    #[test]
    fn a_budget_reached_mid_round_commits_no_further_candidate() {
        let budget = BudgetConfig {
            proposals: Some(1),
            ..BudgetConfig::default()
        };
        let (header, committed) = commit_under(budget, 0.0);
        assert_eq!(committed.events.len(), 2, "{:?}", committed.events);
        assert!(matches!(committed.events[0], Event::Evaluated { .. }));
        assert_eq!(
            committed.events[1],
            Event::Finished {
                reason: FinishReason::Proposals(1)
            }
        );
        assert_eq!(header.counters.proposals, 1);
        assert_eq!(header.finish_reason, Some(FinishReason::Proposals(1)));
    }

    #[test]
    fn a_wall_time_budget_spent_during_a_round_still_commits_the_round() {
        // The round's evaluations took the campaign past its wall budget: what they found is
        // committed, then the campaign ends.
        let budget = BudgetConfig {
            wall_seconds: Some(10.0),
            ..BudgetConfig::default()
        };
        let (header, committed) = commit_under(budget, 25.0);
        assert_eq!(header.counters.proposals, 3);
        assert_eq!(committed.end, Some(FinishReason::WallSeconds(10.0)));
        assert!(header.best.is_some());
    }

    #[test]
    fn best_so_far_never_ranks_across_fidelities() {
        let best = |fitness, fidelity| Best {
            genotype: String::new(),
            functional_hash: FunctionalHash::from_parts(2, [0; 32]),
            fitness,
            metrics: BTreeMap::new(),
            proposal: 0,
            fidelity,
        };
        let short = Fidelity::Epochs { epochs: 4 };
        let long = Fidelity::Epochs { epochs: 50 };
        let proxy = Fidelity::Proxy {
            name: "synflow".into(),
        };
        // Within a fidelity, the fitter wins; ties keep the earlier.
        assert!(improves(Some(&best(60.0, short.clone())), 61.0, &short));
        assert!(!improves(Some(&best(60.0, short.clone())), 60.0, &short));
        // A 4-epoch 90% does not beat a 50-epoch 70%; a 50-epoch 10% replaces a 4-epoch 90%.
        assert!(!improves(Some(&best(70.0, long.clone())), 90.0, &short));
        assert!(improves(Some(&best(90.0, short.clone())), 10.0, &long));
        // A proxy's huge score never replaces a trained figure; full beats everything.
        assert!(!improves(Some(&best(50.0, short.clone())), 1e9, &proxy));
        assert!(improves(Some(&best(99.0, long)), 1.0, &Fidelity::Full));
        assert!(improves(None, f64::MIN, &proxy));
    }
}
