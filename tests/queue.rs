//! The work queue end to end: a coordinator (`evonas search --queue`) and `evonas worker`
//! processes on a throw-away `redis-server`, with workers, coordinators and the server itself
//! killed at awkward moments.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::campaign::{outcome, status};
use crate::util::{evonas, shared_data, tempdir, write, Redis};

/// A mock campaign whose evaluations sleep `sleep_ms` (a stand-in for training).
fn mock_config(name: &str, sleep_ms: u64, evaluations: u64, extra: &str) -> String {
    format!(
        r#"name = "{name}"
space = "nb201"
seed = 5
[strategy]
kind = "regularized-evolution"
population = 6
sample = 2
[budget]
evaluations = {evaluations}
[evaluator]
kind = "mock"
sleep_ms = {sleep_ms}
[parallel]
round_size = 4
{extra}"#
    )
}

/// The cache's keys with their evaluation counts.
fn cache_counts(store: &Path) -> Vec<(String, u64)> {
    let export = evonas(
        &["cache", "export", "--store", store.to_str().unwrap()],
        None,
    )
    .ok();
    let mut keys: Vec<(String, u64)> = export
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["key"].as_str().unwrap().to_string(),
                v["record"]["evaluations"].as_u64().unwrap(),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// The same campaign run in this process, the yardstick.
fn reference(dir: &Path, cfg: &Path, name: &str) -> (serde_json::Value, Vec<(String, u64)>) {
    let store = dir.join("reference");
    evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "-q",
        ],
        None,
    )
    .ok();
    let s = status(&store, name);
    assert_eq!(s["state"], "finished");
    (outcome(&s), cache_counts(&store))
}

/// A worker process logging to `dir/NAME.log`, its summary (JSON) to `dir/NAME.json`.
struct Worker {
    child: Child,
    log: PathBuf,
    summary: PathBuf,
}

impl Worker {
    fn start(redis: &Redis, dir: &Path, name: &str, extra: &[&str]) -> Worker {
        Self::start_on(&redis.url(), &[], dir, name, extra)
    }

    fn start_on(
        queue: &str,
        env: &[(&str, &Path)],
        dir: &Path,
        name: &str,
        extra: &[&str],
    ) -> Worker {
        let log = dir.join(format!("{name}.log"));
        let summary = dir.join(format!("{name}.json"));
        let child = Command::new(env!("CARGO_BIN_EXE_evonas"))
            .args(["worker", "--queue", queue, "--name", name, "--json"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&summary).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker {
            child,
            log,
            summary,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text` (panics after 60 s).
    fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "worker never logged {text:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the worker to exit by itself and returns how many jobs it evaluated.
    fn finish(mut self) -> u64 {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "worker failed:\n{}", self.log());
        let text = std::fs::read_to_string(&self.summary).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("summary {text:?}: {e}\n{}", self.log()));
        v["evaluated"].as_u64().unwrap()
    }

    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn search_args<'a>(cfg: &'a Path, store: &'a Path, queue: &'a str) -> Vec<&'a str> {
    vec![
        "search",
        "--config",
        cfg.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--queue",
        queue,
        "-q",
    ]
}

/// A coordinator process (its log in `dir/coordinator.log`).
fn coordinator(args: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

fn wait_success(mut child: Child, log: &Path) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "coordinator failed:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!(
                "coordinator still running after 180 s:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs campaign `name` of config `cfg` (which names its queue) into `store`, SIGKILLing the
/// coordinator at random moments (`seed`) six times and resuming it with `evonas resume`
/// (which finds the queue in the stored config) until it finishes; returns the kills landed.
fn kill_and_resume(cfg: &Path, store: &Path, name: &str, log: &Path, seed: u64) -> u32 {
    let store_arg = store.to_str().unwrap().to_string();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut kills = 0;
    for attempt in 0.. {
        assert!(attempt < 100, "the campaign never finished");
        let args: Vec<&str> = if attempt == 0 {
            vec![
                "search",
                "--config",
                cfg.to_str().unwrap(),
                "--store",
                &store_arg,
                "-q",
            ]
        } else {
            vec!["resume", name, "--store", &store_arg, "-q"]
        };
        let mut child = coordinator(&args, log);
        if kills < 6 {
            std::thread::sleep(Duration::from_millis(rng.random_range(150..650)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
            let _ = child.wait();
        } else {
            wait_success(child, log);
        }
        if status(store, name)["state"] == "finished" {
            break;
        }
    }
    kills
}

#[test]
fn round_mode_on_three_workers_ends_bit_for_bit_where_the_single_process_run_does() {
    let Some(table) = shared_data("nb201") else {
        return;
    };
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let cfg = write(
        &dir,
        "c.toml",
        &format!(
            "name = \"t\"\nspace = \"nb201\"\nseed = 2\n[strategy]\nkind = \"regularized-evolution\"\npopulation = 10\nsample = 3\n[budget]\nsimulated_seconds = 30000\n[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\ndataset = \"cifar10-valid\"\n[parallel]\nround_size = 4\n",
            table.display()
        ),
    );
    let (want, want_cache) = reference(dir.path(), &cfg, "t");
    // One of them evaluates two jobs at once.
    let workers: Vec<Worker> = (0..3)
        .map(|i| {
            let threads = if i == 0 { "2" } else { "1" };
            Worker::start(
                &redis,
                dir.path(),
                &format!("w{i}"),
                &["--idle-exit", "3", "--threads", threads],
            )
        })
        .collect();
    let store = dir.path().join("remote");
    evonas(&search_args(&cfg, &store, &redis.url()), None).ok();
    assert_eq!(outcome(&status(&store, "t")), want);
    assert_eq!(cache_counts(&store), want_cache);
    let evaluated: u64 = workers.into_iter().map(Worker::finish).sum();
    assert_eq!(evaluated, want["evaluations"].as_u64().unwrap());
}

#[test]
fn hyperband_rungs_and_screens_run_on_workers_to_the_single_process_outcome() {
    let Some(redis) = Redis::start() else {
        return;
    };
    // Hyperband's rungs are evaluators of their own (the mock at 1, 3 and 9 epochs), and a
    // screen's evaluator is another kind: each job carries its stage's evaluator.
    for (name, text) in [
        (
            "hb",
            "name = \"hb\"\nspace = \"nb201\"\nseed = 4\n[strategy]\nkind = \"hyperband\"\nmin_epochs = 1\nmax_epochs = 9\n[budget]\nproposals = 40\n[evaluator]\nkind = \"mock\"\n",
        ),
        (
            "scr",
            "name = \"scr\"\nspace = \"nb201\"\nseed = 4\n[strategy]\nkind = \"random\"\n[budget]\nproposals = 40\n[evaluator]\nkind = \"mock\"\n[parallel]\nround_size = 8\n[[screen]]\nkeep = 2\nevaluator = { kind = \"zero-cost\", proxy = \"params\" }\n",
        ),
    ] {
        let dir = tempdir();
        let cfg = write(&dir, &format!("{name}.toml"), text);
        let (want, want_cache) = reference(dir.path(), &cfg, name);
        let worker = Worker::start(&redis, dir.path(), &format!("w-{name}"), &["--idle-exit", "3"]);
        let store = dir.path().join(format!("remote-{name}"));
        evonas(&search_args(&cfg, &store, &redis.url()), None).ok();
        let got = status(&store, name);
        assert_eq!(outcome(&got), want);
        assert_eq!(cache_counts(&store), want_cache);
        // Every evaluation, at every stage, ran once on the worker (the last round's past the
        // budget included, which both runs perform and cache).
        assert_eq!(worker.finish(), want_cache.len() as u64);
        assert!(want_cache.iter().all(|(_, n)| *n == 1));
        assert!(want["screen_evaluations"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_worker_killed_mid_job_has_its_job_taken_over_and_evaluated_once() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let cfg = write(&dir, "c.toml", &mock_config("k", 300, 16, ""));
    let (want, want_cache) = reference(dir.path(), &cfg, "k");
    let lease = ["--lease-seconds", "1", "--idle-exit", "4"];
    let a = Worker::start(&redis, dir.path(), "a", &lease);
    let b = Worker::start(&redis, dir.path(), "b", &lease);
    let store = dir.path().join("remote");
    let log = dir.path().join("coordinator.log");
    let c = coordinator(&search_args(&cfg, &store, &redis.url()), &log);
    // Rounds of 4 on two workers: right after its first answer, `a` holds its next job.
    a.wait_for("evaluated");
    let a_log = a.kill();
    wait_success(c, &log);
    assert!(a_log.contains("evaluated"), "{a_log}");
    let b_log = b.log();
    assert!(
        b_log.contains("took over a job whose lease expired"),
        "{b_log}"
    );
    assert_eq!(outcome(&status(&store, "k")), want);
    // One evaluation per function in the store, whatever was evaluated twice on the way.
    assert_eq!(cache_counts(&store), want_cache);
    assert!(b.finish() >= 1);
}

#[test]
fn a_coordinator_killed_mid_round_and_resumed_loses_nothing_and_commits_nothing_twice() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let queue = redis.url();
    let text = mock_config("r", 100, 24, &format!("queue = \"{queue}\"\n"));
    let cfg = write(&dir, "c.toml", &text);
    let local = write(&dir, "local.toml", &mock_config("r", 100, 24, ""));
    let (want, want_cache) = reference(dir.path(), &local, "r");
    let workers: Vec<Worker> = (0..2)
        .map(|i| Worker::start(&redis, dir.path(), &format!("w{i}"), &["--idle-exit", "5"]))
        .collect();
    let store = dir.path().join("remote");
    let log = dir.path().join("coordinator.log");
    let kills = kill_and_resume(&cfg, &store, "r", &log, 7);
    assert!(kills >= 3, "only {kills} kills landed");
    assert_eq!(outcome(&status(&store, "r")), want);
    assert_eq!(cache_counts(&store), want_cache);
    // Republishing on resume is idempotent: no job was evaluated twice.
    let evaluated: u64 = workers.into_iter().map(Worker::finish).sum();
    assert_eq!(evaluated, want["evaluations"].as_u64().unwrap());
}

#[test]
fn a_redis_restart_that_loses_everything_costs_only_the_outstanding_jobs() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let cfg = write(&dir, "c.toml", &mock_config("z", 150, 24, ""));
    let (want, want_cache) = reference(dir.path(), &cfg, "z");
    let workers: Vec<Worker> = (0..2)
        .map(|i| Worker::start(&redis, dir.path(), &format!("w{i}"), &["--idle-exit", "8"]))
        .collect();
    let store = dir.path().join("remote");
    let log = dir.path().join("coordinator.log");
    let c = coordinator(&search_args(&cfg, &store, &redis.url()), &log);
    workers[0].wait_for("evaluated");
    redis.restart_empty();
    wait_success(c, &log);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(outcome(&status(&store, "z")), want, "{log_text}");
    assert_eq!(cache_counts(&store), want_cache);
    for w in workers {
        w.finish();
    }
}

#[test]
fn a_poison_job_becomes_a_recorded_failure_and_garbage_entries_are_skipped() {
    use evonas::queue::link::Link;
    use evonas::queue::message::{CampaignKey, JOBS};
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let store = dir.path().join("remote");
    std::fs::create_dir_all(&store).unwrap();
    let addr = evonas::queue::QueueAddress::parse_with(&redis.url(), None).unwrap();
    let mut link = Link::connect(&addr).unwrap();
    let f = |pairs: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    };
    let elsewhere = CampaignKey::of(&store, "elsewhere", 0).results();
    // Garbage on the job stream: unreadable, and readable enough to be refused to its sender.
    link.add(JOBS, &f(&[("hello", "world")])).unwrap();
    link.add(
        JOBS,
        &f(&[
            ("v", "1"),
            ("id", "0123456789abcdef0123456789abcdef"),
            ("reply", &elsewhere),
            ("max_deliveries", "3"),
            ("job", "{\"not\": \"a job\"}"),
        ]),
    )
    .unwrap();
    // One delivery allowed: the job whose worker is killed is poison at its next delivery.
    let cfg = write(
        &dir,
        "c.toml",
        &mock_config("p", 1500, 5, "max_deliveries = 1\n")
            .replace("round_size = 4", "round_size = 1"),
    );
    let log = dir.path().join("coordinator.log");
    let c = coordinator(&search_args(&cfg, &store, &redis.url()), &log);
    let lease = ["--lease-seconds", "1", "--idle-exit", "5"];
    let a = Worker::start(&redis, dir.path(), "a", &lease);
    a.wait_for("evaluator ready");
    let a_log = a.kill();
    assert!(
        a_log.contains("skipping a malformed entry on the job stream"),
        "{a_log}"
    );
    assert!(a_log.contains("refusing a malformed job"), "{a_log}");
    let b = Worker::start(&redis, dir.path(), "b", &lease);
    // Garbage on the campaign's results stream, once the campaign exists (its key includes
    // its creation time, which the status snapshot gives).
    let snapshot = store.join("status").join("p.json");
    let start = Instant::now();
    let created = loop {
        let text = std::fs::read_to_string(&snapshot).unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if let Some(c) = v["created_unix"].as_u64() {
                break c;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no status snapshot"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let results = CampaignKey::of(&store, "p", created).results();
    link.add(&results, &f(&[("v", "1"), ("id", "nonsense")]))
        .unwrap();
    wait_success(c, &log);
    let b_log = b.log();
    assert!(b_log.contains("poison job"), "{b_log}");
    let coordinator_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        coordinator_log.contains("skipping a malformed entry on the results stream"),
        "{coordinator_log}"
    );
    assert!(coordinator_log.contains("poison job"), "{coordinator_log}");
    let s = status(&store, "p");
    assert_eq!(s["state"], "finished");
    assert_eq!(s["failures"], 1, "{s}");
    // The poison job's failure is the infrastructure's, not the function's: not cached.
    let export = evonas(
        &["cache", "export", "--store", store.to_str().unwrap()],
        None,
    )
    .ok();
    let evaluations = s["evaluations"].as_u64().unwrap();
    assert_eq!(export.lines().count() as u64, evaluations - 1, "{export}");
    assert!(!export.contains("poison"), "{export}");
    b.finish();
}

#[test]
fn sigterm_releases_the_job_in_hand_to_another_worker_at_once() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let cfg = write(
        &dir,
        "c.toml",
        &mock_config("s", 4000, 1, "").replace("round_size = 4", "round_size = 1"),
    );
    let store = dir.path().join("remote");
    let log = dir.path().join("coordinator.log");
    let c = coordinator(&search_args(&cfg, &store, &redis.url()), &log);
    // A 60 s lease: without the release, `b` (idle-exit 3 s) would never see the job.
    let a = Worker::start(&redis, dir.path(), "a", &["--lease-seconds", "60"]);
    a.wait_for("evaluator ready");
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(a.child.id() as libc::pid_t, libc::SIGTERM) };
    a.wait_for("released the job");
    let b = Worker::start(&redis, dir.path(), "b", &["--idle-exit", "3"]);
    b.wait_for("took over a job whose lease expired");
    wait_success(c, &log);
    assert_eq!(status(&store, "s")["evaluations"], 1);
    b.finish();
    // `a` finishes its job (its answer is a duplicate the coordinator ignores) and exits.
    a.finish();
}

#[test]
fn queue_urls_are_checked_and_passwords_never_come_from_urls() {
    let dir = tempdir();
    let cfg = write(&dir, "c.toml", &mock_config("u", 0, 2, ""));
    let store = dir.path().join("s");
    let s = store.to_str().unwrap();
    let c = cfg.to_str().unwrap();
    let e = evonas(
        &[
            "search",
            "--config",
            c,
            "--store",
            s,
            "--queue",
            "http://x:1",
        ],
        None,
    )
    .fails();
    assert!(e.contains("redis://"), "{e}");
    let e = evonas(
        &[
            "search",
            "--config",
            c,
            "--store",
            s,
            "--queue",
            "redis://u:hunter2@127.0.0.1:1/0",
        ],
        None,
    )
    .fails();
    assert!(
        e.contains("EVONAS_REDIS_PASSWORD") && !e.contains("hunter2"),
        "{e}"
    );
    // Nothing listens on port 1.
    let e = evonas(
        &[
            "search",
            "--config",
            c,
            "--store",
            s,
            "--queue",
            "redis://127.0.0.1:1/0",
        ],
        None,
    )
    .fails();
    assert!(
        e.contains("cannot connect to the queue at redis://127.0.0.1:1/0"),
        "{e}"
    );
    let e = evonas(&["worker", "--queue", "redis://127.0.0.1:1/0"], None).fails();
    assert!(e.contains("cannot connect"), "{e}");
    let e = evonas(
        &[
            "worker",
            "--queue",
            "redis://127.0.0.1:1/0",
            "--lease-seconds",
            "0",
        ],
        None,
    )
    .fails();
    assert!(e.contains("--lease-seconds"), "{e}");
    // In a config, the queue is checked with the rest of it.
    let bad = write(
        &dir,
        "bad.toml",
        &mock_config("u", 0, 2, "queue = \"redis://u:pw@h:1/0\"\n"),
    );
    let e = evonas(
        &["search", "--config", bad.to_str().unwrap(), "--store", s],
        None,
    )
    .fails();
    assert!(e.contains("[parallel] queue") && !e.contains(":pw@"), "{e}");
}

#[test]
fn async_mode_killed_and_resumed_answers_every_proposal_exactly_once() {
    use evonas::store::campaign::Event;
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let width = 3;
    let text = mock_config(
        "a",
        100,
        30,
        &format!(
            "mode = \"async\"\nin_flight = {width}\nqueue = \"{}\"\n",
            redis.url()
        ),
    )
    .replace("round_size = 4\n", "");
    let cfg = write(&dir, "c.toml", &text);
    let workers: Vec<Worker> = (0..3)
        .map(|i| Worker::start(&redis, dir.path(), &format!("w{i}"), &["--idle-exit", "5"]))
        .collect();
    let store = dir.path().join("remote");
    let log = dir.path().join("coordinator.log");
    let kills = kill_and_resume(&cfg, &store, "a", &log, 11);
    assert!(kills >= 3, "only {kills} kills landed");
    let s = status(&store, "a");
    assert_eq!(s["evaluations"], 30, "{s}");
    // Nothing evaluated twice in the store.
    let counts = cache_counts(&store);
    assert_eq!(counts.len(), 30);
    assert!(counts.iter().all(|(_, n)| *n == 1), "{counts:?}");
    // Every proposal was answered once: the journal's proposals are numbered 0, 1, 2, ...
    // without a repeat, and all but the ones in flight when the budget ran out are answered.
    let db = evonas::store::Store::open_existing(&store).unwrap();
    let journal = db.journal("a").unwrap();
    let proposed: Vec<u64> = journal
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Proposed { round, .. } => Some(*round),
            _ => None,
        })
        .collect();
    assert_eq!(proposed, (0..proposed.len() as u64).collect::<Vec<_>>());
    let answers = journal
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Evaluated { .. } | Event::CacheHit { .. } | Event::Failed { .. }
            )
        })
        .count();
    assert_eq!(answers as u64, s["proposals"].as_u64().unwrap());
    let unanswered = proposed.len() - answers;
    assert!(unanswered <= width, "{unanswered} proposals never answered");
    // Workers evaluated each job once, plus at most the jobs withdrawn at the end.
    let evaluated: u64 = workers.into_iter().map(Worker::finish).sum();
    assert!(
        (30..=30 + width as u64).contains(&evaluated),
        "workers evaluated {evaluated} jobs for 30 evaluations"
    );
}

#[test]
fn async_mode_needs_a_queue_and_in_flight() {
    let dir = tempdir();
    let store = dir.path().join("s");
    let s = store.to_str().unwrap();
    let no_width = write(
        &dir,
        "a.toml",
        &mock_config("a", 0, 4, "mode = \"async\"\n"),
    );
    let e = evonas(
        &[
            "search",
            "--config",
            no_width.to_str().unwrap(),
            "--store",
            s,
        ],
        None,
    )
    .fails();
    assert!(e.contains("in_flight"), "{e}");
    let local = write(
        &dir,
        "b.toml",
        &mock_config("b", 0, 4, "mode = \"async\"\nin_flight = 2\n"),
    );
    let e = evonas(
        &["search", "--config", local.to_str().unwrap(), "--store", s],
        None,
    )
    .fails();
    assert!(e.contains("queue"), "{e}");
}

/// A certificate authority and a server certificate for localhost / 127.0.0.1, made with the
/// `openssl` command (CI installs it; elsewhere its absence skips the test).
fn tls_certificates(dir: &Path) -> Option<PathBuf> {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let openssl = |args: &[&str]| -> bool {
        Command::new("openssl")
            .args(args)
            .current_dir(&certs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !openssl(&["version"]) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("openssl is not installed, and CI=true requires it");
        }
        eprintln!("SKIPPED: openssl is not installed");
        return None;
    }
    std::fs::write(
        certs.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=evonas test CA",
        ][..],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ][..],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ][..],
    ] {
        assert!(openssl(args), "openssl {args:?} failed");
    }
    Some(certs)
}

#[test]
fn rediss_checks_the_server_against_the_given_certificate_authority() {
    let dir = tempdir();
    let Some(certs) = tls_certificates(dir.path()) else {
        return;
    };
    let Some(redis) = Redis::start_tls(&certs) else {
        return;
    };
    let queue = format!("rediss://localhost:{}/0", redis.port);
    let cfg = write(&dir, "c.toml", &mock_config("tls", 0, 8, ""));
    let store = dir.path().join("store");
    let args = search_args(&cfg, &store, &queue);
    // Without the private CA the server's certificate is not trusted.
    let run = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args(&args)
        .env_remove("EVONAS_REDIS_CA")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot connect to the queue at rediss://localhost"),
        "{err}"
    );
    // With it, a campaign runs on a worker over TLS.
    let ca = certs.join("ca.crt");
    let env = [("EVONAS_REDIS_CA", ca.as_path())];
    let worker = Worker::start_on(&queue, &env, dir.path(), "w", &["--idle-exit", "2"]);
    let run = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args(&args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(status(&store, "tls")["evaluations"], 8);
    assert!(worker.finish() >= 8);
    // A CA file that is not one is named.
    let not_pem = write(&dir, "not.pem", "hello");
    let other = dir.path().join("other");
    let run = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args(search_args(&cfg, &other, &queue))
        .env("EVONAS_REDIS_CA", &not_pem)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("EVONAS_REDIS_CA") && err.contains("not a PEM certificate"),
        "{err}"
    );
}

#[test]
fn a_worker_that_cannot_run_a_job_hands_it_back_and_stops() {
    let Some(cifar) = shared_data("cifar10") else {
        return;
    };
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempdir();
    let cfg = write(
        &dir,
        "c.toml",
        &format!(
            "name = \"e\"\nspace = \"nb201\"\n[knobs]\nchannels = 4\ncells = 1\n[strategy]\nkind = \"random\"\n[budget]\nevaluations = 2\n[evaluator]\nkind = \"train\"\ndata = \"cifar10\"\npath = \"{}\"\ntrain_files = [\"jpeg_lossy_test_part0.bin\"]\nvalid_size = 900\nepochs = 1\nbatch_size = 50\n",
            cifar.display()
        ),
    );
    let store = dir.path().join("remote");
    let log = dir.path().join("coordinator.log");
    let c = coordinator(&search_args(&cfg, &store, &redis.url()), &log);
    // This worker may not read a data set over 1 MB (the job's is 3 MB): it cannot build the
    // job's evaluator.
    let bad_log = dir.path().join("bad2.log");
    let status_bad = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args([
            "worker",
            "--queue",
            &redis.url(),
            "--name",
            "bad2",
            "--idle-exit",
            "60",
        ])
        .env("EVONAS_MAX_DATA_MB", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&bad_log).unwrap())
        .status()
        .unwrap();
    let bad_text = std::fs::read_to_string(&bad_log).unwrap();
    assert_eq!(status_bad.code(), Some(1), "{bad_text}");
    assert!(bad_text.contains("cannot run this job here"), "{bad_text}");
    assert!(bad_text.contains("went back to the queue"), "{bad_text}");
    // Another worker takes the job over at once and the campaign ends without a failure.
    let good = Worker::start(&redis, dir.path(), "good", &["--idle-exit", "3"]);
    wait_success(c, &log);
    let s = status(&store, "e");
    assert_eq!(s["evaluations"], 2, "{s}");
    assert_eq!(s["failures"], 0, "{s}");
    assert!(good.finish() >= 2);
}
