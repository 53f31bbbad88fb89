//! `evonas worker`: evaluate jobs from a work queue until stopped (or idle, or a job limit).

use std::process::ExitCode;
use std::time::Duration;

use evonas::queue::worker::{Worker, WorkerOptions};
use evonas::queue::QueueAddress;

use super::args::WorkerArgs;
use super::campaign::{install_stop_handler, STOP};

/// `evonas worker`.
pub struct Request {
    addr: QueueAddress,
    options: WorkerOptions,
    json: bool,
}

fn seconds(flag: &str, s: f64) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s < 1e9) {
        anyhow::bail!("--{flag} must be a positive number of seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

/// This host's name, for the default worker name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into())
}

impl Request {
    pub fn new(a: WorkerArgs) -> anyhow::Result<Self> {
        let addr = QueueAddress::parse(&a.queue)?;
        let lease = seconds("lease-seconds", a.lease_seconds)?;
        if lease < Duration::from_secs(1) {
            anyhow::bail!(
                "--lease-seconds must be at least 1, got {}",
                a.lease_seconds
            );
        }
        let idle_exit = a.idle_exit.map(|s| seconds("idle-exit", s)).transpose()?;
        let threads = match a.threads {
            Some(0) => anyhow::bail!("--threads must be at least 1"),
            Some(n) => n,
            None => a.devices.len().max(1),
        };
        let name = a
            .name
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
        if name.is_empty() || name.len() > 200 || name.chars().any(|c| c.is_whitespace()) {
            anyhow::bail!("--name {name:?}: give 1 to 200 characters without spaces");
        }
        Ok(Request {
            addr,
            options: WorkerOptions {
                name,
                threads,
                devices: a.devices,
                lease,
                idle_exit,
                max_jobs: a.max_jobs,
            },
            json: a.json,
        })
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    install_stop_handler(
        "releasing the job in hand to other workers and finishing it if it ends first; press Ctrl-C again to quit at once",
        "exiting now (the job in hand is on the queue for another worker)",
    );
    let name = r.options.name.clone();
    tracing::info!(worker = %name, queue = %r.addr, threads = r.options.threads, "worker started");
    let worker = Worker::new(r.addr, r.options);
    let summary = worker.run(&STOP)?;
    if let Some(e) = &summary.error {
        anyhow::bail!(
            "worker {name} stopped: {e} (the job went back to the queue for other workers)"
        );
    }
    if r.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        let share = if summary.thread_seconds > 0.0 {
            100.0 * summary.busy_seconds / summary.thread_seconds
        } else {
            0.0
        };
        println!(
            "worker {name}: {} jobs evaluated, {} refused or skipped; {:.1} s evaluating of {:.1} s ({share:.0}%)",
            summary.evaluated, summary.rejected, summary.busy_seconds, summary.thread_seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
