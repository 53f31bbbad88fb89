//! `evonas worker`: a stateless process that takes jobs from the queue, evaluates them exactly
//! as a campaign evaluates its own candidates ([`Runner::run`]), and answers on the results
//! stream its coordinator named. Workers never open a store.
//!
//! Each worker thread is one consumer of the group: it first takes over a job whose lease has
//! expired (its holder died), else reads a new one; while it evaluates, a second connection
//! renews the lease every third of its length; the answer, the acknowledgement and the job's
//! deletion are one transaction. A job is therefore always either on the stream (pending on a
//! live worker, or waiting) or answered: a killed worker loses nothing, and a job whose every
//! delivery killed its worker is answered as poison after `max_deliveries`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::address::QueueAddress;
use super::link::{Entry, Link, QueueError};
use super::message::{Answer, JobMessage, ResultMessage};
use crate::eval::job::{Job, Runner};
use crate::eval::registry::Registry;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Its name (consumers are `NAME-0`, `NAME-1`, ...); unique per process.
    pub name: String,
    /// Jobs evaluated at once (one consumer thread each).
    pub threads: usize,
    /// Training devices, given to training evaluators as their `devices`.
    pub devices: Vec<String>,
    /// Lease length: a job whose holder has not renewed it for this long is taken over.
    pub lease: Duration,
    /// Exit after this long without a job (None: wait for ever).
    pub idle_exit: Option<Duration>,
    /// Exit after this many answered jobs (None: no limit).
    pub max_jobs: Option<u64>,
}

/// What a worker did, for its closing line and for benchmarks.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WorkerSummary {
    /// Jobs answered with an evaluation.
    pub evaluated: u64,
    /// Jobs answered as refused or poison, and garbage entries skipped.
    pub rejected: u64,
    /// Seconds spent evaluating, summed over threads.
    pub busy_seconds: f64,
    /// Seconds the worker ran, times its threads.
    pub thread_seconds: f64,
    /// Why the worker stopped taking jobs, if it could not run one here (its evaluator cannot
    /// be built: data missing, another evonas version, an unknown kind): the job went back to
    /// the queue for other workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A worker process's state: its evaluators (built once per protocol, data loaded once) and
/// counters.
pub struct Worker {
    addr: QueueAddress,
    options: WorkerOptions,
    registry: Registry,
    runners: Mutex<HashMap<String, Arc<Runner>>>,
    evaluated: AtomicU64,
    rejected: AtomicU64,
    busy_micros: AtomicU64,
    /// Set when a job cannot run here: every thread stops.
    broken: Mutex<Option<String>>,
}

/// Evaluators (protocols) a worker keeps at most.
const MAX_RUNNERS: usize = 16;

/// Pause after a failed queue command before trying again (Redis restarting, network down).
const RETRY: Duration = Duration::from_secs(1);

impl Worker {
    /// A worker for the queue at `addr` with the built-in evaluator kinds.
    pub fn new(addr: QueueAddress, options: WorkerOptions) -> Worker {
        Self::with_registry(addr, options, Registry::builtin())
    }

    /// A worker with the evaluator kinds of `registry`.
    pub fn with_registry(addr: QueueAddress, options: WorkerOptions, registry: Registry) -> Worker {
        Worker {
            addr,
            options,
            registry,
            runners: Mutex::new(HashMap::new()),
            evaluated: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
            broken: Mutex::new(None),
        }
    }

    /// Runs until `stop` is set (then finishes or releases the job in hand), the idle limit or
    /// the job limit is reached. Fails only if the queue cannot be reached at start.
    pub fn run(&self, stop: &AtomicBool) -> Result<WorkerSummary, QueueError> {
        let mut first = Link::connect(&self.addr)?;
        first.ensure_group()?;
        drop(first);
        let start = Instant::now();
        let threads = self.options.threads.max(1);
        std::thread::scope(|s| {
            for t in 0..threads {
                let consumer = format!("{}-{t}", self.options.name);
                s.spawn(move || self.consume(&consumer, stop));
            }
        });
        Ok(WorkerSummary {
            evaluated: self.evaluated.load(Ordering::SeqCst),
            rejected: self.rejected.load(Ordering::SeqCst),
            busy_seconds: self.busy_micros.load(Ordering::SeqCst) as f64 / 1e6,
            thread_seconds: start.elapsed().as_secs_f64() * threads as f64,
            error: self
                .broken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        })
    }

    fn answered(&self) -> u64 {
        self.evaluated.load(Ordering::SeqCst) + self.rejected.load(Ordering::SeqCst)
    }

    /// One consumer's loop.
    fn consume(&self, consumer: &str, stop: &AtomicBool) {
        let mut link: Option<Link> = None;
        let mut idle_since = Instant::now();
        let mut cursor = "0-0".to_string();
        let poll = Duration::from_millis(500).min(self.options.lease / 2);
        while !stop.load(Ordering::SeqCst) {
            if self
                .broken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
            {
                return;
            }
            if self.options.max_jobs.is_some_and(|m| self.answered() >= m) {
                return;
            }
            if let Some(limit) = self.options.idle_exit {
                if idle_since.elapsed() >= limit {
                    tracing::info!(consumer, "no job for {:.0} s: exiting", limit.as_secs_f64());
                    return;
                }
            }
            let l = match Link::reuse(&mut link, &self.addr) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(consumer, "{e}; retrying in {} s", RETRY.as_secs());
                    std::thread::sleep(RETRY);
                    continue;
                }
            };
            let next = match l.claim_expired(consumer, self.options.lease, &mut cursor) {
                Ok(Some((entry, deliveries))) => {
                    tracing::info!(consumer, entry = %entry.id, deliveries, "took over a job whose lease expired");
                    Ok(Some((entry, deliveries)))
                }
                Ok(None) => l.read_new(consumer, poll).map(|e| e.map(|e| (e, 1))),
                Err(e) => Err(e),
            };
            match next {
                Ok(Some((entry, deliveries))) => {
                    self.handle(l, consumer, &entry, deliveries, stop);
                    idle_since = Instant::now();
                }
                Ok(None) => {}
                Err(e) => {
                    if e.to_string().contains("NOGROUP") {
                        // The server lost its data (a restart without persistence).
                        tracing::warn!(
                            consumer,
                            "the workers' group is gone (Redis restarted?); creating it again"
                        );
                        if let Err(e) = l.ensure_group() {
                            tracing::warn!(consumer, "{e}");
                        }
                    } else {
                        tracing::warn!(consumer, "{e}; retrying in {} s", RETRY.as_secs());
                        std::thread::sleep(RETRY);
                    }
                }
            }
        }
    }

    /// Decodes, checks and evaluates one entry, and answers it.
    fn handle(
        &self,
        link: &mut Link,
        consumer: &str,
        entry: &Entry,
        deliveries: u64,
        stop: &AtomicBool,
    ) {
        let message = match JobMessage::decode(&entry.fields) {
            Ok(m) => m,
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::SeqCst);
                match JobMessage::address(&entry.fields) {
                    Some((id, reply)) => {
                        tracing::warn!(consumer, entry = %entry.id, job = %id, "refusing a malformed job: {e}");
                        let answer = Answer::Refused {
                            reason: format!("malformed job: {e}"),
                        };
                        self.send(link, consumer, &entry.id, &reply, id, answer, stop);
                    }
                    None => {
                        tracing::warn!(consumer, entry = %entry.id, "skipping a malformed entry on the job stream: {e}");
                        if let Err(e) = link.skip(&entry.id) {
                            tracing::warn!(consumer, "{e}");
                        }
                    }
                }
                return;
            }
        };
        if deliveries > u64::from(message.max_deliveries) {
            tracing::warn!(consumer, job = %message.id, deliveries, "poison job: delivered {deliveries} times without an answer; answering it as a failure");
            self.rejected.fetch_add(1, Ordering::SeqCst);
            let answer = Answer::Poison { deliveries };
            self.send(
                link,
                consumer,
                &entry.id,
                &message.reply,
                message.id,
                answer,
                stop,
            );
            return;
        }
        let started = Instant::now();
        let answer = match self.evaluate(consumer, &entry.id, &message, stop) {
            Ok(a) => a,
            Err(reason) => {
                // Not the job's fault: hand it to other workers, stop taking jobs here.
                tracing::error!(consumer, job = %message.id, "cannot run this job here: {reason}; releasing it to other workers and stopping");
                if let Err(e) = link.renew(consumer, &entry.id, true) {
                    tracing::warn!(
                        consumer,
                        "cannot release the job ({e}); it returns when its lease expires"
                    );
                }
                *self.broken.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
                return;
            }
        };
        self.busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::SeqCst);
        match &answer {
            Answer::Evaluation { .. } => {
                self.evaluated.fetch_add(1, Ordering::SeqCst);
                tracing::info!(consumer, job = %message.id, seconds = started.elapsed().as_secs_f64(), "evaluated");
            }
            Answer::Refused { reason } => {
                self.rejected.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(consumer, job = %message.id, "refused: {reason}");
            }
            Answer::Poison { .. } => {}
        }
        self.send(
            link,
            consumer,
            &entry.id,
            &message.reply,
            message.id,
            answer,
            stop,
        );
    }

    /// Evaluates a job while a second connection renews its lease (from the start: building
    /// an evaluator can load a data set for longer than a lease). Err: the job cannot run in
    /// this worker (its evaluator cannot be built here, another protocol or evonas version),
    /// which is not the job's fault.
    fn evaluate(
        &self,
        consumer: &str,
        entry: &str,
        message: &JobMessage,
        stop: &AtomicBool,
    ) -> Result<Answer, String> {
        use crate::eval::job::JobError;
        let (done, finished) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(|| self.renew_lease(consumer, entry, finished, stop));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let runner = self.runner(&message.job)?;
                Ok(runner.run(&message.job))
            }));
            // Wakes the renewer at once (it would otherwise finish its wait).
            drop(done);
            match result {
                Ok(Err(reason)) => Err(reason),
                Ok(Ok(Ok(evaluation))) => Ok(Answer::Evaluation {
                    evaluation: Box::new(evaluation),
                }),
                // A genotype that does not decode is the job's fault: answered as refused.
                Ok(Ok(Err(e @ JobError::Space(_)))) => Ok(Answer::Refused {
                    reason: e.to_string(),
                }),
                Ok(Ok(Err(e))) => Err(e.to_string()),
                Err(panic) => Ok(Answer::Refused {
                    reason: format!(
                        "the evaluation panicked: {}",
                        crate::eval::panic_message(&*panic)
                    ),
                }),
            }
        })
    }

    /// Renews the lease on `entry` every third of its length until `finished` disconnects;
    /// when `stop` is set, releases it instead (so another worker may take it over at once)
    /// and stops renewing.
    fn renew_lease(
        &self,
        consumer: &str,
        entry: &str,
        finished: std::sync::mpsc::Receiver<()>,
        stop: &AtomicBool,
    ) {
        use std::sync::mpsc::RecvTimeoutError;
        let every = self.options.lease / 3;
        let mut link: Option<Link> = None;
        let mut last = Instant::now();
        loop {
            // Woken at once when the evaluation ends; checks for a stop every 100 ms.
            match finished.recv_timeout(Duration::from_millis(100).min(every)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let stopping = stop.load(Ordering::SeqCst);
            if !stopping && last.elapsed() < every {
                continue;
            }
            let l = match Link::reuse(&mut link, &self.addr) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(consumer, "cannot renew the lease: {e}");
                    last = Instant::now();
                    continue;
                }
            };
            match l.renew(consumer, entry, stopping) {
                Ok(()) if stopping => {
                    tracing::info!(consumer, entry, "stopping: released the job to other workers; finishing it unless killed first");
                    return;
                }
                Ok(()) => {}
                Err(e) => tracing::warn!(consumer, "cannot renew the lease: {e}"),
            }
            last = Instant::now();
        }
    }

    /// Sends an answer, retrying while the queue is unreachable (an answer is never dropped
    /// while the process lives; if it dies, the job is delivered again).
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        link: &mut Link,
        consumer: &str,
        entry: &str,
        reply: &str,
        id: super::message::JobId,
        answer: Answer,
        stop: &AtomicBool,
    ) {
        let fields = ResultMessage {
            id,
            worker: consumer.to_string(),
            answer,
        }
        .encode();
        let mut tries = 0u32;
        loop {
            match link.answer(reply, &fields, entry) {
                Ok(()) => return,
                Err(e) => {
                    tries += 1;
                    tracing::warn!(consumer, job = %id, "cannot send the answer ({e}); retrying");
                    if e.to_string().contains("NOGROUP") {
                        // The server lost the group (a restart): the answer went out, the
                        // acknowledgement needs the group back.
                        let _ = link.ensure_group();
                    }
                    // A stopping worker gives up after a minute: the job is still pending and
                    // will be delivered again.
                    if stop.load(Ordering::SeqCst) && tries > 60 {
                        return;
                    }
                    std::thread::sleep(RETRY);
                }
            }
        }
    }

    /// The runner for a job's evaluator (built on first use, then kept: data is loaded once per
    /// worker, not per job).
    fn runner(&self, job: &Job) -> Result<Arc<Runner>, String> {
        let key =
            serde_json::to_string(&(&job.evaluator, job.protocol)).map_err(|e| e.to_string())?;
        // A poisoned lock only means a thread panicked while inserting; the map is fine.
        if let Some(r) = self
            .runners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(r));
        }
        let spec = job.evaluator.with_devices(&self.options.devices);
        let evaluator = spec
            .build(&self.registry)
            .map_err(|e| format!("cannot build the job's evaluator here: {e}"))?;
        let runner = Arc::new(Runner::with_evaluator(job.evaluator.clone(), evaluator));
        tracing::info!(kind = %job.evaluator.kind, protocol = %job.protocol, "evaluator ready");
        let mut runners = self.runners.lock().unwrap_or_else(|p| p.into_inner());
        // A bound on what jobs can make a worker hold (each evaluator may hold a data set).
        if runners.len() >= MAX_RUNNERS {
            runners.clear();
        }
        runners.insert(key, Arc::clone(&runner));
        Ok(runner)
    }
}
