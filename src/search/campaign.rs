//! The campaign loop: propose a round from the seeded stream, answer each candidate from the
//! cache or the evaluator (in parallel), commit the round in proposal order, repeat until a
//! budget is reached or a stop is requested.
//!
//! Every step is written to the store before the search acts on it (see
//! [`crate::store::campaign`]), so a campaign killed at any instant resumes exactly where it
//! stopped, and with a deterministic evaluator ends bit for bit where the uninterrupted run would
//! have: round `r` draws from ChaCha8 stream `r` of the campaign seed, whatever happened before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

mod asynchronous;

use super::budget::{self, Spent};
use super::commit::{commit_round, notation, Answered, Round, ScreenStep, Searcher};
use super::config::{CampaignConfig, ConfigError, Mode, StrategyConfig};
use super::stages::{slot_key, Stages};
use super::strategy::{self, Member, Strategy};
use crate::eval::job::{Evaluation, Job, JobError, JobParts, Runner, SpaceSource, JOB_SCHEMA};
use crate::eval::registry::{Registry, SpecError};
use crate::eval::{unix_now, EvalRecord, FailureKind, Fingerprint, Outcome};
use crate::hash::FunctionalHash;
use crate::queue::address::AddressError;
use crate::queue::message::{Answer, CampaignKey, JobId};
use crate::queue::remote::{Received, Remote};
use crate::queue::{QueueAddress, QueueError};
use crate::space::{AnyGenotype, AnySpace, SpaceError};
use crate::store::cache::{CacheKey, CachePolicy, Decision};
use crate::store::campaign::{
    CampaignHeader, CampaignState, Candidate, Event, FinishReason, Inflight, SlotResult, Source,
    StoredProtocol,
};
use crate::store::{Commit, Store, StoreError};

/// Why a campaign cannot start or continue.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The space or a genotype is wrong.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The evaluator cannot be built: an unknown kind, or its table or data cannot be loaded.
    #[error(transparent)]
    Evaluator(#[from] SpecError),
    /// A job could not be run.
    #[error(transparent)]
    Job(#[from] JobError),
    /// A campaign of that name exists with another config.
    #[error("campaign `{name}` already exists in this store with a different config; choose another name (--name) or resume it with `evonas resume {name}`")]
    ConfigMismatch {
        /// The name.
        name: String,
    },
    /// No campaign of that name.
    #[error("no campaign `{name}` in store {store}; known campaigns: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The store.
        store: String,
        /// Names in the store.
        known: String,
    },
    /// The stored config no longer parses.
    #[error("campaign `{name}`: its stored config is unreadable: {message}")]
    StoredConfig {
        /// The campaign.
        name: String,
        /// Why.
        message: String,
    },
    /// The campaign runs under a functional-hash version this build cannot compute.
    #[error("campaign `{name}` was started with functional hash version {version}, which this evonas cannot compute (it computes versions {} to {}); resume it with the evonas that started it", crate::hash::functional::OLDEST, crate::hash::functional::VERSION)]
    HashVersion {
        /// The campaign.
        name: String,
        /// Its hash version.
        version: u32,
    },
    /// The queue's URL is wrong.
    #[error("[parallel] queue: {0}")]
    QueueAddress(#[from] AddressError),
    /// The queue cannot be reached.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Could not build the thread pool.
    #[error("cannot start {threads} evaluation threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why.
        message: String,
    },
}

impl SearchError {
    /// "No campaign `name`", naming the store and the campaigns it holds (or the store's own
    /// error if it cannot even list them): the one wording every command uses.
    pub fn unknown(store: &Store, name: &str) -> SearchError {
        match store.campaigns() {
            Ok(headers) => {
                let known: Vec<String> = headers.into_iter().map(|h| h.name).collect();
                SearchError::Unknown {
                    name: name.to_string(),
                    store: store.dir().display().to_string(),
                    known: if known.is_empty() {
                        "(none)".into()
                    } else {
                        known.join(", ")
                    },
                }
            }
            Err(e) => SearchError::Store(e),
        }
    }
}

/// The functional-hash version a campaign runs under: a stored campaign's own (so its history
/// keeps one kind of hash), else the config's, else the newest.
fn hash_version(
    store: &Store,
    existing: Option<&CampaignHeader>,
    config: &CampaignConfig,
) -> Result<u32, SearchError> {
    use crate::hash::functional::{OLDEST, VERSION};
    let stored = match existing {
        Some(h) => store.campaign_hash_version(h)?,
        None => None,
    };
    let version = stored.or(config.hash_version).unwrap_or(VERSION);
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(SearchError::HashVersion {
            name: config.name.clone(),
            version,
        });
    }
    Ok(version)
}

/// Evaluations at least this long are flushed to disk on their own, the moment they end.
pub const SLOW_EVALUATION_SECONDS: f64 = 0.05;

/// How a session ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// A budget was reached.
    Finished(FinishReason),
    /// A stop was requested; the campaign can be resumed.
    Interrupted,
}

/// One evaluator of a campaign: its `[evaluator]` (stage 0), a screen, a warm-up or a rung.
struct Stage {
    runner: Runner,
    protocol: Fingerprint,
    /// Fixed simulated seconds per scored candidate ([`crate::search::stages::StageSpec`]).
    seconds: Option<f64>,
}

/// A campaign ready to run (new or resumed).
pub struct Campaign<'a> {
    store: &'a Store,
    config: CampaignConfig,
    space: AnySpace,
    space_source: SpaceSource,
    /// Its evaluators; 0 is the one whose results the search keeps.
    stages: Vec<Stage>,
    /// Which stages each round runs.
    plan: Stages,
    header: CampaignHeader,
    strategy: Box<dyn Strategy>,
    memo: HashMap<AnyGenotype, FunctionalHash>,
    seen: HashSet<FunctionalHash>,
    /// The functional-hash version of every hash this campaign makes (the one it started with).
    hash_version: u32,
    pool: rayon::ThreadPool,
    /// The work queue, when evaluations run on workers.
    remote: Option<Remote>,
    session_start: Instant,
    elapsed_before: f64,
    resumed: bool,
}

fn config_json(config: &CampaignConfig) -> serde_json::Value {
    serde_json::to_value(config).expect("configs serialise")
}

impl<'a> Campaign<'a> {
    /// Starts campaign `config.name`, or resumes it if the store holds an unfinished campaign
    /// of that name with the same config. `config_toml` is stored verbatim. Built-in
    /// evaluator kinds only; see [`Campaign::open_with`].
    pub fn open(
        store: &'a Store,
        config: CampaignConfig,
        config_toml: &str,
    ) -> Result<Campaign<'a>, SearchError> {
        Self::open_with(store, config, config_toml, &Registry::builtin())
    }

    /// [`Campaign::open`] with the evaluator kinds of `registry`.
    pub fn open_with(
        store: &'a Store,
        config: CampaignConfig,
        config_toml: &str,
        registry: &Registry,
    ) -> Result<Campaign<'a>, SearchError> {
        let space_source = SpaceSource::of(&config.space)?;
        let existing = store.campaign(&config.name)?;
        if let Some(h) = &existing {
            if h.effective_config != config_json(&config) {
                return Err(SearchError::ConfigMismatch {
                    name: config.name.clone(),
                });
            }
        }
        let plan = Stages::of(&config)?;
        check_devices(&config)?;
        let stages = plan
            .specs
            .iter()
            .map(|s| {
                // Devices go to every training stage (where an evaluation runs is not part of
                // its protocol).
                let spec = s.evaluator.with_devices(&config.parallel.devices);
                let runner = Runner::new(&spec, registry).map_err(SearchError::Job)?;
                Ok(Stage {
                    protocol: runner.evaluator().protocol().fingerprint(),
                    runner,
                    seconds: s.seconds,
                })
            })
            .collect::<Result<Vec<_>, SearchError>>()?;
        if config.budget.simulated_seconds.is_some() {
            for (i, s) in plan.specs.iter().enumerate().skip(1) {
                if s.seconds.is_none() && matches!(s.evaluator.kind.as_str(), "zero-cost" | "train")
                {
                    tracing::warn!(
                        "stage {i} ({} evaluator) simulates no time: it is free on the simulated_seconds budget unless its `seconds` is set (e.g. to the seconds per evaluation `evonas rank` measures)",
                        s.evaluator.kind
                    );
                }
            }
        }
        let evaluator = stages[0].runner.evaluator();
        let protocol = stages[0].protocol;
        let devices = config.parallel.devices.len();
        let threads = config.parallel.threads.unwrap_or_else(|| {
            if devices > 0 {
                devices
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            }
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| SearchError::Threads {
                threads,
                message: e.to_string(),
            })?;
        let resumed = existing.is_some();
        let hash_version = hash_version(store, existing.as_ref(), &config)?;
        let header = match existing {
            Some(h) => h,
            None => {
                CampaignHeader::new(&config.name, config_toml, config_json(&config), unix_now())
            }
        };
        let elapsed_before = header.elapsed_seconds;
        let mut header = header;
        // Events of an in-flight round are journaled before the header is rewritten.
        header.next_seq = header.next_seq.max(store.journal_end(&config.name)?);
        // The functions this campaign has seen (what strategies call "known").
        let mut seen = HashSet::new();
        if resumed {
            for (_, e) in store.journal(&config.name)? {
                match e {
                    Event::Evaluated { hash, .. }
                    | Event::CacheHit { hash, .. }
                    | Event::Failed { hash, .. }
                    | Event::Screened { hash, .. } => {
                        seen.insert(hash);
                    }
                    _ => {}
                }
            }
        }
        // The space jobs decode in: knobs and the evaluator's input shape applied.
        let space = AnySpace::clone(&*stages[0].runner.space(&space_source, &config.knobs)?);
        if !resumed {
            if let StrategyConfig::RegularizedEvolution(e) = &config.strategy {
                if e.warm_start {
                    let seeds = warm_start(store, &space, protocol, hash_version, e.population)?;
                    tracing::info!(
                        "warm start: {} of the population from the cache",
                        seeds.len()
                    );
                    header.strategy = strategy::evolution::RegularizedEvolution::seeded(seeds);
                }
            }
        }
        let strategy = strategy::build(&config.strategy, &space, Some(&header.strategy))?;
        header.hash_version = Some(hash_version);
        header.protocol = Some(StoredProtocol {
            description: evaluator.protocol().description.clone(),
            fingerprint: protocol,
            fidelity: evaluator.protocol().fidelity.clone(),
            input: evaluator.input(),
        });
        let queue = config.parallel.queue.clone();
        let mut campaign = Campaign {
            store,
            space,
            config,
            space_source,
            stages,
            plan,
            header,
            strategy,
            memo: HashMap::new(),
            seen,
            hash_version,
            pool,
            remote: None,
            session_start: Instant::now(),
            elapsed_before,
            resumed,
        };
        if let Some(url) = queue {
            campaign.use_queue(&QueueAddress::parse(&url)?)?;
        }
        Ok(campaign)
    }

    /// Evaluates cache misses on the workers of the queue at `addr` from now on (see
    /// [`crate::queue`]); fails if the queue cannot be reached.
    pub fn use_queue(&mut self, addr: &QueueAddress) -> Result<(), SearchError> {
        let key = CampaignKey::of(
            self.store.dir(),
            &self.header.name,
            self.header.created_unix,
        );
        let remote = Remote::connect(addr, key, self.config.parallel.max_deliveries)?;
        tracing::info!(queue = %addr, "evaluating on the queue's workers");
        self.remote = Some(remote);
        Ok(())
    }

    /// The work queue, if evaluations run on workers.
    pub fn queue(&self) -> Option<&QueueAddress> {
        self.remote.as_ref().map(Remote::addr)
    }

    /// Reopens a stored campaign from its own stored config (built-in evaluator kinds).
    pub fn resume(store: &'a Store, name: &str) -> Result<Campaign<'a>, SearchError> {
        Self::resume_with(store, name, &Registry::builtin())
    }

    /// [`Campaign::resume`] with the evaluator kinds of `registry`.
    pub fn resume_with(
        store: &'a Store,
        name: &str,
        registry: &Registry,
    ) -> Result<Campaign<'a>, SearchError> {
        let (h, config) = stored_config(store, name)?;
        Campaign::open_with(store, config, &h.config_toml, registry)
    }

    /// The current header.
    pub fn header(&self) -> &CampaignHeader {
        &self.header
    }

    /// Whether this opened an existing campaign.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The space candidates are decoded in (knobs and the evaluator's input applied).
    pub fn space(&self) -> &AnySpace {
        &self.space
    }

    /// The config.
    pub fn config(&self) -> &CampaignConfig {
        &self.config
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.session_start.elapsed().as_secs_f64()
    }

    fn round_rng(&self, round: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(round);
        rng
    }

    /// The forgetful policy's coin for slot key `slot` of round `round`.
    fn coin(&self, round: u64, slot: u32) -> f64 {
        let mut h = blake3::Hasher::new();
        h.update(b"forgetful");
        h.update(&self.config.seed.to_le_bytes());
        h.update(&round.to_le_bytes());
        h.update(&slot.to_le_bytes());
        let b = h.finalize();
        let x = u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"));
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn spent(&self) -> Spent<'_> {
        Spent {
            counters: &self.header.counters,
            simulated_seconds: self.header.simulated_seconds,
            elapsed_seconds: self.elapsed(),
        }
    }

    /// Fraction of the tightest budget used so far (for progress and ETA).
    pub fn progress_fraction(&self) -> f64 {
        budget::fraction(&self.config.budget, self.spent())
    }

    fn propose_round(&mut self) -> Result<Inflight, SearchError> {
        let round = self.header.round;
        let candidates = self.propose(round, self.plan.plan(round).pool)?;
        Ok(Inflight { round, candidates })
    }

    /// `k` proposals drawn from seeded stream `stream` (a round, or in async mode a proposal).
    fn propose(&mut self, stream: u64, k: usize) -> Result<Vec<Candidate>, SearchError> {
        let mut rng = self.round_rng(stream);
        let mut candidates = Vec::with_capacity(k);
        let space = self.space.clone();
        for _ in 0..k {
            let mut strategy =
                std::mem::replace(&mut self.strategy, Box::new(strategy::random::RandomSearch));
            let result = {
                // "Known" means committed by this campaign before this round: state that a
                // resumed run rebuilds exactly, so a re-proposed round is the same round.
                let seen = &self.seen;
                let known = move |h: &FunctionalHash| seen.contains(h);
                let memo = &mut self.memo;
                let version = self.hash_version;
                let mut hash = |g: &AnyGenotype| -> Result<FunctionalHash, SpaceError> {
                    if let Some(h) = memo.get(g) {
                        return Ok(*h);
                    }
                    let h = FunctionalHash::of_version(&space.decode(g)?, version)?;
                    if memo.len() > 200_000 {
                        memo.clear();
                    }
                    memo.insert(g.clone(), h);
                    Ok(h)
                };
                let mut ctx = strategy::Ctx {
                    space: &space,
                    rng: &mut rng,
                    hash: &mut hash,
                    known: &known,
                };
                strategy.propose(&mut ctx)
            };
            self.strategy = strategy;
            let p = result?;
            candidates.push(Candidate {
                genotype: space.to_value(&p.genotype)?,
                hash: p.hash,
                random: p.random,
            });
        }
        Ok(candidates)
    }

    /// Runs until a budget is reached or `stop` is set; `progress` is called after each round.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        progress: &mut dyn FnMut(&Campaign<'_>),
    ) -> Result<End, SearchError> {
        if self.config.parallel.mode == Mode::Async {
            return self.run_async(stop, progress);
        }
        self.start_session()?;
        loop {
            if let Some(reason) = budget::reached(&self.config.budget, self.spent()) {
                return self.finish(reason);
            }
            if stop.load(Ordering::SeqCst) {
                return self.interrupt();
            }
            let inflight = self.next_round()?;
            let Some(results) = self.answer(&inflight, stop)? else {
                return self.interrupt();
            };
            let end = self.commit_round(&inflight, results)?;
            progress(self);
            if let Some(end) = end {
                return Ok(end);
            }
        }
    }

    /// Marks the campaign running and journals the session's start.
    fn start_session(&mut self) -> Result<(), SearchError> {
        let mut c = Commit::new();
        self.header.state = CampaignState::Running;
        self.header.finish_reason = None;
        let how = if self.resumed { "resume" } else { "start" };
        c.append(
            &mut self.header.next_seq,
            &[Event::Session {
                unix: unix_now(),
                how: how.into(),
            }],
        );
        c.put_header(&self.header);
        self.store.commit(&self.header.name, &c)?;
        Ok(())
    }

    /// The round to answer: the stored in-flight round if a session stopped inside it (proposed
    /// again to bring the strategy where it was, and checked against the stored one), else a
    /// new round, written as in-flight before any evaluation.
    fn next_round(&mut self) -> Result<Inflight, SearchError> {
        let name = self.header.name.clone();
        if let Some(stored) = self.store.inflight(&name)? {
            if stored.round == self.header.round {
                // Proposing is deterministic given the committed state.
                if self.propose_round()? != stored {
                    return Err(SearchError::Store(self.store.inflight_differs(&name)));
                }
                return Ok(stored);
            }
        }
        let round = self.propose_round()?;
        let events: Vec<Event> = round
            .candidates
            .iter()
            .enumerate()
            .map(|(slot, cand)| Event::Proposed {
                round: round.round,
                slot: slot as u32,
                genotype: notation(&cand.genotype),
                hash: cand.hash,
            })
            .collect();
        let mut c = Commit::new();
        c.append(&mut self.header.next_seq, &events);
        c.put_inflight(&name, &round);
        // Not flushed: if it is lost, the round is proposed again identically.
        self.store.commit_with(&name, &c, false)?;
        Ok(round)
    }

    /// Answers the round: every candidate through the round's screens (each keeping its best),
    /// the survivors by the campaign's evaluator, each from stored slot results, the cache or
    /// an evaluation. Returns None if a stop was requested before all evaluations ran.
    fn answer(
        &mut self,
        inflight: &Inflight,
        stop: &AtomicBool,
    ) -> Result<Option<Vec<Answered>>, SearchError> {
        let plan = self.plan.plan(inflight.round);
        let n = inflight.candidates.len();
        let mut answered = vec![Answered::default(); n];
        let mut alive: Vec<usize> = (0..n).collect();
        let mut done = self.store.slots(&self.header.name)?;
        for step in &plan.screens {
            let Some(results) = self.answer_stage(step.stage, inflight, &alive, &mut done, stop)?
            else {
                return Ok(None);
            };
            let kept = promote(&alive, &results, step.keep.of(alive.len()));
            let fidelity = &self.stages[step.stage]
                .runner
                .evaluator()
                .protocol()
                .fidelity;
            for (&i, result) in alive.iter().zip(results) {
                answered[i].screens.push(ScreenStep {
                    stage: step.stage as u32,
                    fidelity: fidelity.clone(),
                    seconds: self.charge(step.stage, &result),
                    result,
                    kept: kept.binary_search(&i).is_ok(),
                });
            }
            alive = kept;
        }
        let Some(results) = self.answer_stage(0, inflight, &alive, &mut done, stop)? else {
            return Ok(None);
        };
        for (&i, result) in alive.iter().zip(results) {
            answered[i].last = Some(result);
        }
        Ok(Some(answered))
    }

    /// What a screening result costs on the simulated clock: the stage's fixed `seconds` for
    /// every candidate it scores, else an evaluation's own simulated seconds (a hit costs
    /// nothing). Never wall seconds: a simulated budget ends where it ends on every run.
    fn charge(&self, stage: usize, result: &SlotResult) -> f64 {
        if let Some(s) = self.stages[stage].seconds {
            return s;
        }
        match (&result.source, &result.outcome) {
            (
                Source::Evaluated,
                Outcome::Done {
                    simulated_seconds, ..
                },
            ) => *simulated_seconds,
            _ => 0.0,
        }
    }

    /// Answers slots `slots` of the round at stage `stage` (in that order): from `done` (the
    /// slot results stored so far, which this extends), the cache or the stage's evaluator.
    /// None if a stop was requested before all evaluations ran.
    fn answer_stage(
        &mut self,
        stage: usize,
        inflight: &Inflight,
        slots: &[usize],
        done: &mut BTreeMap<u32, SlotResult>,
        stop: &AtomicBool,
    ) -> Result<Option<Vec<SlotResult>>, SearchError> {
        let policy = self.config.cache.policy;
        let key = |i: usize| slot_key(stage, i);
        // Within a round, equal functions are evaluated once (unless the cache is off): the
        // first slot leads, later ones are answered as hits from its result.
        let mut leader: HashMap<usize, usize> = slots.iter().map(|&i| (i, i)).collect();
        if policy.uses_cache() {
            let mut first: HashMap<FunctionalHash, usize> = HashMap::new();
            for &i in slots {
                leader.insert(i, *first.entry(inflight.candidates[i].hash).or_insert(i));
            }
        }
        let todo: Vec<usize> = slots
            .iter()
            .copied()
            .filter(|&i| leader[&i] == i && !done.contains_key(&key(i)))
            .collect();
        let round = inflight.round;
        let coins: HashMap<usize, f64> = slots
            .iter()
            .map(|&i| (i, self.coin(round, key(i))))
            .collect();
        if let Some(mut remote) = self.remote.take() {
            let answered = self.answer_remote(&mut remote, stage, inflight, &todo, &coins, stop);
            self.remote = Some(remote);
            match answered? {
                Some(results) => done.extend(results.into_iter().map(|(i, r)| (key(i), r))),
                None => return Ok(None),
            }
        } else {
            let this = &*self;
            let fresh: Vec<Result<Option<(usize, SlotResult)>, SearchError>> =
                this.pool.install(|| {
                    todo.par_iter()
                        .map(|&i| {
                            if stop.load(Ordering::SeqCst) {
                                return Ok(None);
                            }
                            this.answer_slot(stage, i, &inflight.candidates[i], policy, coins[&i])
                                .map(|r| Some((i, r)))
                        })
                        .collect()
                });
            let mut interrupted = false;
            for r in fresh {
                match r? {
                    Some((i, result)) => {
                        done.insert(key(i), result);
                    }
                    None => interrupted = true,
                }
            }
            if interrupted {
                return Ok(None);
            }
        }
        let mut out = Vec::with_capacity(slots.len());
        for &i in slots {
            let lead = leader[&i];
            let result = match done.get(&key(i)) {
                Some(r) if lead == i => r.clone(),
                _ => {
                    let first = done
                        .get(&key(lead))
                        .expect("leaders are answered before followers");
                    SlotResult {
                        source: Source::Cache,
                        outcome: strip_cost(&first.outcome),
                    }
                }
            };
            out.push(result);
        }
        Ok(Some(out))
    }

    /// The owned job that evaluates `candidate` for the `repeat`-th time under this campaign's
    /// protocol (what this process runs itself, and what another process could run).
    pub fn job(&self, candidate: &Candidate, repeat: u32) -> Job {
        self.stage_job(0, candidate, repeat)
    }

    /// [`Campaign::job`] at stage `stage` (a screen's, a warm-up's or a rung's evaluator).
    fn stage_job(&self, stage: usize, candidate: &Candidate, repeat: u32) -> Job {
        let s = &self.stages[stage];
        Job {
            schema: JOB_SCHEMA,
            space: self.space_source.clone(),
            knobs: self.config.knobs,
            genotype: candidate.genotype.clone(),
            evaluator: s.runner.spec().clone(),
            protocol: s.protocol,
            hash: candidate.hash,
            repeat,
        }
    }

    /// Answers a slot from the cache, or says it needs an evaluation (on top of `base`, the
    /// record an aggregating policy adds to).
    fn lookup(
        &self,
        stage: usize,
        hash: FunctionalHash,
        policy: CachePolicy,
        coin: f64,
    ) -> Result<Result<SlotResult, Option<EvalRecord>>, SearchError> {
        let key = CacheKey::new(hash, self.stages[stage].protocol);
        let existing = if policy.uses_cache() {
            self.store.cache_get(&key)?
        } else {
            None
        };
        Ok(match policy.decide(existing, coin) {
            Decision::Hit(record) => Ok(SlotResult {
                source: Source::Cache,
                outcome: record.as_hit(),
            }),
            Decision::Evaluate { base } => Err(base),
        })
    }

    fn answer_slot(
        &self,
        stage: usize,
        slot: usize,
        candidate: &Candidate,
        policy: CachePolicy,
        coin: f64,
    ) -> Result<SlotResult, SearchError> {
        let base = match self.lookup(stage, candidate.hash, policy, coin)? {
            Ok(hit) => return Ok(hit),
            Err(base) => base,
        };
        let evaluation = self.stages[stage].runner.evaluate(JobParts {
            space: &self.space_source,
            knobs: &self.config.knobs,
            genotype: &candidate.genotype,
            hash: candidate.hash,
            repeat: base.as_ref().map_or(0, |r| r.evaluations),
        })?;
        self.record(stage, slot, candidate.hash, policy, base, evaluation)
    }

    /// What an evaluation means for its slot and its cache record (on top of `base`, the record
    /// an aggregating policy adds to).
    fn evaluated(
        &self,
        base: Option<EvalRecord>,
        evaluation: Evaluation,
    ) -> (SlotResult, EvalRecord) {
        let record = match base {
            Some(mut r) => {
                r.add(&evaluation.outcome);
                if evaluation.machine.is_some() {
                    r.machine = evaluation.machine.clone();
                }
                r
            }
            None => evaluation.first_record(),
        };
        let outcome = evaluation.outcome;
        // Under aggregation the search sees the running mean; the cost is this evaluation's.
        let served = match (&outcome, record.as_hit()) {
            (
                Outcome::Done {
                    simulated_seconds,
                    wall_seconds,
                    ..
                },
                Outcome::Done {
                    fitness,
                    metrics,
                    curves,
                    ..
                },
            ) => Outcome::Done {
                fitness,
                metrics,
                curves,
                simulated_seconds: *simulated_seconds,
                wall_seconds: *wall_seconds,
            },
            _ => outcome,
        };
        let result = SlotResult {
            source: Source::Evaluated,
            outcome: served,
        };
        (result, record)
    }

    /// Stores an evaluation of slot `slot`: its slot result and (unless the cache is off) its
    /// cache record, in one commit.
    fn record(
        &self,
        stage: usize,
        slot: usize,
        hash: FunctionalHash,
        policy: CachePolicy,
        base: Option<EvalRecord>,
        evaluation: Evaluation,
    ) -> Result<SlotResult, SearchError> {
        let (result, record) = self.evaluated(base, evaluation);
        self.store_slot(stage, slot, hash, policy, &result, Some(&record), false)?;
        Ok(result)
    }

    /// Writes slot `slot`'s result at stage `stage` and, unless the cache is off or there is
    /// none, its cache record, in one commit.
    #[allow(clippy::too_many_arguments)]
    fn store_slot(
        &self,
        stage: usize,
        slot: usize,
        hash: FunctionalHash,
        policy: CachePolicy,
        result: &SlotResult,
        record: Option<&EvalRecord>,
        always_flush: bool,
    ) -> Result<(), SearchError> {
        let mut c = Commit::new();
        c.put_slot(&self.header.name, slot_key(stage, slot), result);
        if let (true, Some(record)) = (policy.uses_cache(), record) {
            c.put_record(&CacheKey::new(hash, self.stages[stage].protocol), record);
        }
        // An evaluation that took real time is on disk before anything else happens; an
        // instant one (a table lookup) rides with the round's flushed commit.
        let slow = always_flush
            || match &result.outcome {
                Outcome::Done { wall_seconds, .. } => *wall_seconds >= SLOW_EVALUATION_SECONDS,
                Outcome::Failed { .. } => true,
            };
        self.store.commit_with(&self.header.name, &c, slow)?;
        Ok(())
    }

    /// What a worker's answer means for its slot and the cache: an evaluation (checked), or a
    /// failure that is not the candidate's doing (the worker refused the job, or every worker
    /// that took it died), which the search sees but the cache does not keep, so a later
    /// campaign evaluates the function again.
    fn received(&self, base: Option<EvalRecord>, r: &Received) -> (SlotResult, Option<EvalRecord>) {
        let lost = |reason: String| {
            // A worker's words are bounded before they enter the journal.
            let reason: String = reason.chars().take(1000).collect();
            (
                SlotResult {
                    source: Source::Evaluated,
                    outcome: Outcome::failed(FailureKind::Other, reason),
                },
                None,
            )
        };
        match &r.answer {
            Answer::Evaluation { evaluation } => {
                match check_evaluation(evaluation, self.space.name()) {
                    Ok(()) => {
                        let (result, record) = self.evaluated(base, (**evaluation).clone());
                        (result, Some(record))
                    }
                    Err(why) => {
                        tracing::warn!(job = %r.id, worker = %r.worker, "rejecting an answer: {why}");
                        lost(format!(
                            "worker {} answered with an invalid evaluation: {why}",
                            r.worker
                        ))
                    }
                }
            }
            Answer::Refused { reason } => {
                tracing::warn!(job = %r.id, worker = %r.worker, "a worker refused a job: {reason}");
                lost(format!("worker {} refused the job: {reason}", r.worker))
            }
            Answer::Poison { deliveries } => {
                tracing::warn!(job = %r.id, "poison job: {deliveries} deliveries without an answer");
                lost(format!("poison job: delivered {deliveries} times, every worker that took it died or released it before answering ([parallel] max_deliveries = {})", self.config.parallel.max_deliveries))
            }
        }
    }

    /// Answers the slots `todo` through the queue: hits from the cache here, misses as jobs for
    /// the workers, each answer stored the moment it arrives. None if a stop was requested
    /// first (the jobs stay on the queue; a resumed campaign collects them).
    fn answer_remote(
        &self,
        remote: &mut Remote,
        stage: usize,
        inflight: &Inflight,
        todo: &[usize],
        coins: &HashMap<usize, f64>,
        stop: &AtomicBool,
    ) -> Result<Option<Vec<(usize, SlotResult)>>, SearchError> {
        let policy = self.config.cache.policy;
        let mut out = Vec::with_capacity(todo.len());
        let mut waiting: HashMap<JobId, (usize, Option<EvalRecord>)> = HashMap::new();
        let mut jobs = Vec::new();
        for &i in todo {
            let candidate = &inflight.candidates[i];
            match self.lookup(stage, candidate.hash, policy, coins[&i])? {
                Ok(hit) => out.push((i, hit)),
                Err(base) => {
                    let repeat = base.as_ref().map_or(0, |r| r.evaluations);
                    let job = self.stage_job(stage, candidate, repeat);
                    let id = remote.job_id(inflight.round, slot_key(stage, i), &job);
                    jobs.push((id, job));
                    waiting.insert(id, (i, base));
                }
            }
        }
        retry(stop, || remote.submit(&jobs))?;
        while !waiting.is_empty() {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let received = match remote.poll(std::time::Duration::from_millis(200)) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("{e}; retrying");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            for r in received {
                let Some((slot, base)) = waiting.remove(&r.id) else {
                    continue;
                };
                let hash = inflight.candidates[slot].hash;
                let (result, record) = self.received(base, &r);
                // Flushed whatever its cost: the answer leaves Redis right after.
                self.store_slot(stage, slot, hash, policy, &result, record.as_ref(), true)?;
                out.push((slot, result));
                retry(stop, || remote.done(&r))?;
            }
        }
        Ok(Some(out))
    }

    /// Applies a round's results to the header, the strategy and the seen functions (the pure
    /// commit step, [`commit_round`]); the caller writes the events.
    fn apply(
        &mut self,
        inflight: &Inflight,
        results: &[Answered],
    ) -> Result<super::commit::Committed, SearchError> {
        let round = Round {
            space: &self.space,
            budget: &self.config.budget,
            elapsed: self.elapsed(),
            fidelity: &self.stages[0].runner.evaluator().protocol().fidelity,
        };
        let searcher = Searcher {
            strategy: &mut *self.strategy,
            seen: &mut self.seen,
        };
        Ok(commit_round(
            &mut self.header,
            searcher,
            &round,
            inflight,
            results,
        )?)
    }

    /// Commits a round (see [`commit_round`]) in one atomic store write; returns the end of the
    /// campaign if a budget was reached.
    fn commit_round(
        &mut self,
        inflight: &Inflight,
        results: Vec<Answered>,
    ) -> Result<Option<End>, SearchError> {
        let committed = self.apply(inflight, &results)?;
        self.header.updated_unix = unix_now();
        let mut c = Commit::new();
        c.append(&mut self.header.next_seq, &committed.events);
        let plan = self.plan.plan(inflight.round);
        let stages: Vec<usize> = std::iter::once(0)
            .chain(plan.screens.iter().map(|s| s.stage))
            .collect();
        let n = inflight.candidates.len();
        c.clear_inflight(
            &self.header.name,
            stages
                .iter()
                .flat_map(|&stage| (0..n).map(move |i| slot_key(stage, i))),
        );
        c.put_header(&self.header);
        self.store.commit(&self.header.name, &c)?;
        Ok(committed.end.map(End::Finished))
    }

    fn finish(&mut self, reason: FinishReason) -> Result<End, SearchError> {
        if self.header.state != CampaignState::Finished {
            self.header.state = CampaignState::Finished;
            self.header.finish_reason = Some(reason);
            self.header.elapsed_seconds = self.elapsed();
            let mut c = Commit::new();
            c.append(&mut self.header.next_seq, &[Event::Finished { reason }]);
            c.put_header(&self.header);
            self.store.commit(&self.header.name.clone(), &c)?;
        }
        Ok(End::Finished(reason))
    }

    fn interrupt(&mut self) -> Result<End, SearchError> {
        self.header.state = CampaignState::Interrupted;
        self.header.elapsed_seconds = self.elapsed();
        self.header.updated_unix = unix_now();
        let mut c = Commit::new();
        c.append(&mut self.header.next_seq, &[Event::Interrupted]);
        c.put_header(&self.header);
        self.store.commit(&self.header.name.clone(), &c)?;
        Ok(End::Interrupted)
    }
}

/// Retries a queue command while the queue is unreachable (a Redis restart), until a stop is
/// requested.
fn retry<T>(
    stop: &AtomicBool,
    mut f: impl FnMut() -> Result<T, QueueError>,
) -> Result<T, SearchError> {
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if !stop.load(Ordering::SeqCst) => {
                tracing::warn!("{e}; retrying");
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether a worker's evaluation is one this campaign can store: of its space, with finite
/// figures (a worker is another process, possibly another version, possibly hostile).
fn check_evaluation(e: &Evaluation, space: &str) -> Result<(), String> {
    if e.space != space {
        return Err(format!(
            "it is of space {:?}, the campaign's is {space:?}",
            e.space
        ));
    }
    if let Outcome::Done {
        fitness,
        metrics,
        simulated_seconds,
        wall_seconds,
        ..
    } = &e.outcome
    {
        let finite = fitness.is_finite()
            && metrics.values().all(|v| v.is_finite())
            && simulated_seconds.is_finite()
            && *simulated_seconds >= 0.0
            && wall_seconds.is_finite()
            && *wall_seconds >= 0.0;
        if !finite {
            return Err("a figure is not finite, or a time is negative".into());
        }
    }
    Ok(())
}

/// A hit costs nothing: the same outcome without its simulated and wall seconds.
fn strip_cost(o: &Outcome) -> Outcome {
    match o {
        Outcome::Done {
            fitness,
            metrics,
            curves,
            ..
        } => Outcome::Done {
            fitness: *fitness,
            metrics: metrics.clone(),
            curves: curves.clone(),
            simulated_seconds: 0.0,
            wall_seconds: 0.0,
        },
        other => other.clone(),
    }
}

/// Campaign `name` read back from `store` as it was stored: its header, its config, and the
/// space its candidates were decoded in (the stored knobs and the evaluator's input shape
/// applied), without building an evaluator or touching the campaign.
///
/// Everything that reads a stored campaign (export, report, retrain) reopens it here, so they
/// agree on that space and report a missing campaign ([`SearchError::Unknown`]) or an
/// unreadable stored config ([`SearchError::StoredConfig`]) in the same words.
pub fn stored(
    store: &Store,
    name: &str,
) -> Result<(CampaignHeader, CampaignConfig, AnySpace), SearchError> {
    let (header, config) = stored_config(store, name)?;
    let mut space = AnySpace::load(&config.space)?.with_knobs(&config.knobs);
    if let Some((input, classes)) = header.protocol.as_ref().and_then(|p| p.input) {
        space = space.with_io(input, classes);
    }
    Ok((header, config, space))
}

/// The stored header and config of campaign `name`: the one place a missing campaign and an
/// unreadable stored config are said.
fn stored_config(
    store: &Store,
    name: &str,
) -> Result<(CampaignHeader, CampaignConfig), SearchError> {
    let Some(header) = store.campaign(name)? else {
        return Err(SearchError::unknown(store, name));
    };
    let config: CampaignConfig =
        serde_json::from_value(header.effective_config.clone()).map_err(|e| {
            SearchError::StoredConfig {
                name: name.to_string(),
                message: e.to_string(),
            }
        })?;
    Ok((header, config))
}

/// Refuses `[parallel] devices` for a campaign whose evaluator does not train (they are given
/// to its training stages as `devices`, which are not part of a protocol).
fn check_devices(config: &CampaignConfig) -> Result<(), SearchError> {
    let spec = &config.evaluator;
    if !config.parallel.devices.is_empty() && !spec.takes_devices() {
        return Err(SearchError::Config(ConfigError::Invalid {
            origin: config.name.clone(),
            message: format!(
                "[parallel] devices is for training evaluators; [evaluator] kind is {:?}",
                spec.kind
            ),
        }));
    }
    Ok(())
}

/// The slots of `slots` (ascending) whose results are the `keep` best, in slot order: failures
/// never go on; equal scores go to the earlier proposal.
fn promote(slots: &[usize], results: &[SlotResult], keep: usize) -> Vec<usize> {
    let mut scored: Vec<(usize, f64)> = slots
        .iter()
        .zip(results)
        .filter_map(|(&i, r)| r.outcome.fitness().map(|f| (i, f)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept: Vec<usize> = scored.into_iter().take(keep).map(|(i, _)| i).collect();
    kept.sort_unstable();
    kept
}

/// The best `population` functions the cache holds under `protocol` for `space` (decoded with
/// the same knobs and input, hashed with `hash_version`), fittest first, ties by key: a new
/// campaign's warm start.
fn warm_start(
    store: &Store,
    space: &AnySpace,
    protocol: Fingerprint,
    hash_version: u32,
    population: usize,
) -> Result<Vec<Member>, SearchError> {
    // Cheap filters first; only the fittest are decoded and hashed, until P check out (a big
    // cache holds many records of the protocol).
    let mut candidates: Vec<(f64, crate::store::cache::Entry)> = store
        .cache_entries()?
        .into_iter()
        .filter(|e| {
            e.key.protocol == protocol
                && e.key.hash.version() == hash_version
                && e.record.space == space.name()
                && e.record.failure.is_none()
        })
        .filter_map(|e| Some((e.record.fitness?, e)))
        .collect();
    candidates.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.key.to_bytes().cmp(&b.1.key.to_bytes()))
    });
    let mut members = Vec::with_capacity(population);
    for (fitness, entry) in candidates {
        if members.len() == population {
            break;
        }
        // A record of another width or input decodes to another network: not this function.
        let Ok(genotype) = space.parse(&entry.record.genotype) else {
            continue;
        };
        let Ok(network) = space.decode(&genotype) else {
            continue;
        };
        if FunctionalHash::of_version(&network, hash_version).ok() != Some(entry.key.hash) {
            continue;
        }
        members.push(Member {
            genotype: space.to_value(&genotype)?,
            hash: entry.key.hash,
            fitness,
        });
    }
    Ok(members)
}
