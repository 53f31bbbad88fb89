//! The coordinator's side of the queue: publishes a campaign's cache misses as jobs, collects
//! their answers, and publishes again what the server lost.
//!
//! Publishing is idempotent: a job's id derives from its campaign, round and slot, and the hash
//! `evonas:published:<campaign>` maps it to its entry on the job stream, so a resumed
//! coordinator publishes only what is not already there. Answers are read from the start of
//! the campaign's results stream and deleted once committed to the store: a coordinator killed
//! between the two finds the answer again and ignores it (the slot is already stored), one
//! killed before committing finds it and commits it. A job whose entry vanished without an
//! answer (a Redis restart that lost data) is published again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::address::QueueAddress;
use super::link::{Link, QueueError};
use super::message::{Answer, CampaignKey, JobId, JobMessage, ResultMessage};
use crate::eval::job::Job;

/// How often the coordinator checks that its outstanding jobs are still on the stream.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A job published and not yet answered.
struct Outstanding {
    /// Its entry on the job stream.
    entry: String,
    message: JobMessage,
}

/// An answer read from the results stream, to commit and then [`Remote::done`].
#[derive(Debug)]
pub struct Received {
    /// The job answered.
    pub id: JobId,
    /// Which worker answered.
    pub worker: String,
    /// The answer.
    pub answer: Answer,
    entry: String,
}

/// A campaign's connection to the queue.
pub struct Remote {
    link: Link,
    campaign: CampaignKey,
    max_deliveries: u32,
    outstanding: HashMap<JobId, Outstanding>,
    last_check: Instant,
}

impl Remote {
    /// Connects to the queue at `addr` for the campaign keyed `campaign`.
    pub fn connect(
        addr: &QueueAddress,
        campaign: CampaignKey,
        max_deliveries: u32,
    ) -> Result<Remote, QueueError> {
        let mut link = Link::connect(addr)?;
        link.ensure_group()?;
        Ok(Remote {
            link,
            campaign,
            max_deliveries,
            outstanding: HashMap::new(),
            last_check: Instant::now(),
        })
    }

    /// The queue's address.
    pub fn addr(&self) -> &QueueAddress {
        self.link.addr()
    }

    /// The id of `job`, slot `slot` of round (or proposal) `round` of this campaign.
    pub fn job_id(&self, round: u64, slot: u32, job: &Job) -> JobId {
        JobId::of(&self.campaign, round, slot, job)
    }

    /// Jobs published and not answered yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Publishes each job unless the queue already holds it, on the job stream or answered on
    /// the results stream (a resumed coordinator publishes only what was lost). Safe to call
    /// again after a failure.
    pub fn submit(&mut self, jobs: &[(JobId, Job)]) -> Result<(), QueueError> {
        let published = self.campaign.published();
        // Jobs not on the stream: published never, or answered (or lost) since.
        let mut gone = Vec::new();
        for (id, job) in jobs {
            if self.outstanding.contains_key(id) {
                continue;
            }
            let message = JobMessage {
                id: *id,
                reply: self.campaign.results(),
                max_deliveries: self.max_deliveries,
                job: job.clone(),
            };
            match self.link.published_entry(&published, &id.to_string())? {
                Some(entry) if self.link.job_exists(&entry)? => {
                    tracing::debug!(job = %id, "already on the queue");
                    self.outstanding.insert(*id, Outstanding { entry, message });
                }
                entry => gone.push((message, entry)),
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        // Read after seeing the jobs gone: an answer leaves with its job in one step, so an
        // answered job's answer is there now.
        let answered = self.answered()?;
        for (message, entry) in gone {
            let id = message.id;
            let entry = match entry {
                Some(entry) if answered.contains(&id) => entry,
                _ => self
                    .link
                    .publish(&published, &id.to_string(), &message.encode())?,
            };
            self.outstanding.insert(id, Outstanding { entry, message });
        }
        Ok(())
    }

    /// The ids of the answers waiting on the results stream.
    fn answered(&mut self) -> Result<Vec<JobId>, QueueError> {
        Ok(self
            .link
            .read_all(&self.campaign.results(), 4096, Duration::ZERO)?
            .iter()
            .filter_map(|e| ResultMessage::id_of(&e.fields))
            .collect())
    }

    /// Answers to outstanding jobs, waiting up to `wait` for the first. Malformed entries and
    /// answers to jobs not outstanding (duplicates, or already committed) are logged and
    /// deleted. Every few seconds, republishes outstanding jobs the server lost.
    pub fn poll(&mut self, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let results = self.campaign.results();
        let mut out = Vec::new();
        for entry in self.link.read_all(&results, 256, wait)? {
            match ResultMessage::decode(&entry.fields) {
                Ok(m) if self.outstanding.contains_key(&m.id) => out.push(Received {
                    id: m.id,
                    worker: m.worker,
                    answer: m.answer,
                    entry: entry.id,
                }),
                Ok(m) => {
                    tracing::debug!(job = %m.id, worker = %m.worker, "ignoring an answer to a job not outstanding (a duplicate, or committed before a restart)");
                    self.link.delete(&results, &entry.id)?;
                }
                Err(e) => {
                    tracing::warn!(entry = %entry.id, "skipping a malformed entry on the results stream: {e}");
                    self.link.delete(&results, &entry.id)?;
                }
            }
        }
        if self.last_check.elapsed() >= CHECK_EVERY {
            self.republish_lost()?;
            self.last_check = Instant::now();
        }
        Ok(out)
    }

    /// Publishes again each outstanding job whose entry is gone with no answer waiting.
    fn republish_lost(&mut self) -> Result<(), QueueError> {
        let mut missing = Vec::new();
        for (id, o) in &self.outstanding {
            if !self.link.job_exists(&o.entry)? {
                missing.push(*id);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        // An answer leaves with its job in one transaction: look for answers once more.
        let answered = self.answered()?;
        self.link.ensure_group()?;
        let published = self.campaign.published();
        for id in missing.into_iter().filter(|id| !answered.contains(id)) {
            tracing::warn!(job = %id, "the job vanished from the queue unanswered (Redis lost its data?); publishing it again");
            let Some(o) = self.outstanding.get_mut(&id) else {
                continue;
            };
            o.entry = self
                .link
                .publish(&published, &id.to_string(), &o.message.encode())?;
        }
        Ok(())
    }

    /// Forgets an answer committed to the store: deletes it from the results stream and the
    /// job's record.
    pub fn done(&mut self, received: &Received) -> Result<(), QueueError> {
        self.outstanding.remove(&received.id);
        self.link
            .delete(&self.campaign.results(), &received.entry)?;
        self.link
            .forget(&self.campaign.published(), &received.id.to_string())
    }

    /// Withdraws every job the campaign published and nobody answered (this session's and
    /// earlier ones') and deletes the campaign's keys (it finished): jobs not yet taken are
    /// never evaluated; an answer a worker sends later is never read (its stream expires a
    /// week later). Best effort: a failure here costs only some wasted evaluations.
    pub fn close(&mut self) {
        let published = self.campaign.published();
        // Every job this campaign ever published and nobody answered, earlier sessions' too.
        let mut entries: Vec<String> = self.outstanding.drain().map(|(_, o)| o.entry).collect();
        entries.extend(self.link.published_entries(&published).unwrap_or_default());
        for entry in entries {
            let _ = self.link.skip(&entry);
        }
        let _ = self.link.delete_key(&published);
        let _ = self.link.delete_key(&self.campaign.results());
    }
}
