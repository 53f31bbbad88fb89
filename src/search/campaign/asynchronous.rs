//! Asynchronous mode (`[parallel] mode = "async"`): `in_flight` evaluations run on the queue's
//! workers at all times, and a new candidate is proposed the moment one is answered, as in
//! Real et al.'s asynchronous aging evolution. No worker waits for a round's slowest job.
//!
//! Each answer is committed in one atomic store write together with the proposals that replace
//! it (journal events, cache record, strategy state, the pending set), so a coordinator killed
//! at any instant resumes with exactly the proposals it had pending: none is lost, none is
//! answered twice. Proposal `i` draws from seeded stream `i`, but which answers have arrived
//! when it is drawn depends on the workers, so unlike round mode two runs differ.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{retry, strip_cost, Campaign, End, SearchError};
use crate::eval::EvalRecord;
use crate::hash::FunctionalHash;
use crate::queue::message::JobId;
use crate::queue::remote::{Received, Remote};
use crate::search::budget;
use crate::search::commit::notation;
use crate::search::config::ConfigError;
use crate::store::cache::CacheKey;
use crate::store::campaign::{Candidate, Event, Inflight, Pending, SlotResult, Source};
use crate::store::Commit;

/// A pending proposal's answer, ready to commit.
struct Answered {
    index: u64,
    result: SlotResult,
    /// The cache record to write with it (an evaluation's).
    record: Option<EvalRecord>,
}

impl<'a> Campaign<'a> {
    /// Runs an asynchronous campaign until a budget is reached or `stop` is set.
    pub(super) fn run_async(
        &mut self,
        stop: &AtomicBool,
        progress: &mut dyn FnMut(&Campaign<'_>),
    ) -> Result<End, SearchError> {
        let Some(mut remote) = self.remote.take() else {
            return Err(SearchError::Config(ConfigError::Invalid {
                origin: self.header.name.clone(),
                message: "[parallel] mode = \"async\" evaluates on workers: give [parallel] queue or --queue".into(),
            }));
        };
        self.start_session()?;
        let end = self.async_loop(&mut remote, stop, progress);
        if let Ok(End::Finished(_)) = &end {
            // Proposals still in flight when the budget ran out are not wanted any more.
            remote.close();
        }
        self.remote = Some(remote);
        end
    }

    fn async_loop(
        &mut self,
        remote: &mut Remote,
        stop: &AtomicBool,
        progress: &mut dyn FnMut(&Campaign<'_>),
    ) -> Result<End, SearchError> {
        let name = self.header.name.clone();
        let width = self.config.parallel.in_flight.unwrap_or(1);
        let policy = self.config.cache.policy;
        let mut pending = self.store.pending(&name)?.unwrap_or_default();
        // Jobs published in this session: id -> (proposal index, the record it adds to).
        let mut jobs: HashMap<JobId, (u64, Option<EvalRecord>)> = HashMap::new();
        let mut submitted: std::collections::HashSet<u64> = std::collections::HashSet::new();
        loop {
            if let Some(reason) = budget::reached(&self.config.budget, self.spent()) {
                let mut c = Commit::new();
                c.clear_pending(&name);
                self.store.commit(&name, &c)?;
                return self.finish(reason);
            }
            if stop.load(Ordering::SeqCst) {
                return self.interrupt();
            }
            if pending.proposals.len() < width {
                let mut c = Commit::new();
                self.refill(&mut pending, width, &mut c)?;
                c.put_header(&self.header);
                self.store.commit_with(&name, &c, false)?;
            }
            // Answer from the cache what it holds; publish the rest (one job per function).
            let mut answered = Vec::new();
            let mut leaders: HashMap<FunctionalHash, u64> = HashMap::new();
            let mut publish = Vec::new();
            for (index, candidate) in &pending.proposals {
                if policy.uses_cache() {
                    if leaders.contains_key(&candidate.hash) {
                        continue; // answered with the first proposal of its function
                    }
                    leaders.insert(candidate.hash, *index);
                }
                if submitted.contains(index) {
                    continue;
                }
                match self.lookup(0, candidate.hash, policy, self.coin(*index, 0))? {
                    Ok(hit) => answered.push(Answered {
                        index: *index,
                        result: hit,
                        record: None,
                    }),
                    Err(base) => {
                        let job = self.job(candidate, base.as_ref().map_or(0, |r| r.evaluations));
                        let id = remote.job_id(*index, 0, &job);
                        publish.push((id, job));
                        jobs.insert(id, (*index, base));
                        submitted.insert(*index);
                    }
                }
            }
            if !publish.is_empty() {
                retry(stop, || remote.submit(&publish))?;
            }
            let mut received: Vec<Received> = Vec::new();
            if answered.is_empty() {
                match remote.poll(Duration::from_millis(200)) {
                    Ok(r) => received = r,
                    Err(e) => {
                        tracing::warn!("{e}; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                }
                for r in &received {
                    if let Some((index, base)) = jobs.remove(&r.id) {
                        let (result, record) = self.received(base, r);
                        answered.push(Answered {
                            index,
                            result,
                            record,
                        });
                    }
                }
            }
            if answered.is_empty() {
                continue;
            }
            let end = self.commit_answers(&mut pending, answered, width)?;
            for r in &received {
                retry(stop, || remote.done(r))?;
            }
            progress(self);
            if let Some(end) = end {
                return Ok(end);
            }
        }
    }

    /// Proposes until `width` proposals are pending, journaling them into `c` with the
    /// strategy's new state and the pending set.
    fn refill(
        &mut self,
        pending: &mut Pending,
        width: usize,
        c: &mut Commit,
    ) -> Result<(), SearchError> {
        let mut events = Vec::new();
        while pending.proposals.len() < width {
            let index = pending.next;
            let Some(candidate) = self.propose(index, 1)?.pop() else {
                break;
            };
            events.push(Event::Proposed {
                round: index,
                slot: 0,
                genotype: notation(&candidate.genotype),
                hash: candidate.hash,
            });
            pending.proposals.push((index, candidate));
            pending.next += 1;
        }
        self.header.strategy = self.strategy.save();
        c.append(&mut self.header.next_seq, &events);
        c.put_pending(&self.header.name, pending);
        Ok(())
    }

    /// Commits answers (with the answers of later proposals of the same functions, as hits) in
    /// proposal order, and the proposals replacing them, in one atomic write. Returns the end of
    /// the campaign if a budget was reached.
    fn commit_answers(
        &mut self,
        pending: &mut Pending,
        mut answered: Vec<Answered>,
        width: usize,
    ) -> Result<Option<End>, SearchError> {
        let name = self.header.name.clone();
        let policy = self.config.cache.policy;
        // Later proposals of an answered function are answered with it.
        if policy.uses_cache() {
            let mut followers = Vec::new();
            for a in &answered {
                let Some(hash) = hash_of(pending, a.index) else {
                    continue;
                };
                for (index, candidate) in &pending.proposals {
                    if *index > a.index && candidate.hash == hash {
                        followers.push(Answered {
                            index: *index,
                            result: SlotResult {
                                source: Source::Cache,
                                outcome: strip_cost(&a.result.outcome),
                            },
                            record: None,
                        });
                    }
                }
            }
            answered.extend(followers);
        }
        answered.sort_by_key(|a| a.index);
        answered.dedup_by_key(|a| a.index);
        let mut c = Commit::new();
        let mut end = None;
        for a in answered {
            let Some(pos) = pending.proposals.iter().position(|(i, _)| *i == a.index) else {
                continue;
            };
            let (index, candidate): (u64, Candidate) = pending.proposals.remove(pos);
            if let (true, Some(record)) = (policy.uses_cache(), &a.record) {
                c.put_record(
                    &CacheKey::new(candidate.hash, self.stages[0].protocol),
                    record,
                );
            }
            let inflight = Inflight {
                round: index,
                candidates: vec![candidate],
            };
            let committed = self.apply(&inflight, &[a.result.into()])?;
            c.append(&mut self.header.next_seq, &committed.events);
            if committed.end.is_some() {
                end = committed.end;
                break;
            }
        }
        if end.is_some() {
            c.clear_pending(&name);
        } else {
            self.refill(pending, width, &mut c)?;
        }
        self.header.updated_unix = crate::eval::unix_now();
        c.put_header(&self.header);
        self.store.commit(&name, &c)?;
        Ok(end.map(End::Finished))
    }
}

fn hash_of(pending: &Pending, index: u64) -> Option<FunctionalHash> {
    pending
        .proposals
        .iter()
        .find(|(i, _)| *i == index)
        .map(|(_, c)| c.hash)
}
