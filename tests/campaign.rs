//! Campaigns end to end through the binary: determinism, crash safety (SIGKILL at random
//! moments), graceful stop, warm caches, and bad stores.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::util::{evonas, shared_data, tempdir, write, Run};

fn table_dir() -> Option<PathBuf> {
    shared_data("nb201/nb201_cifar10_valid_200ep.csv").map(|p| p.parent().unwrap().to_path_buf())
}

/// What scores the candidates of a test campaign: the data-free mock (always), and the
/// NAS-Bench-201 table (when `../shared/data` is there; required under CI).
pub enum Eval {
    Mock,
    Table(PathBuf),
}

impl Eval {
    /// The `[evaluator]` table, with `noise` points of per-evaluation noise seeded by 9.
    fn section(&self, noise: f64) -> String {
        match self {
            Eval::Mock => format!("kind = \"mock\"\nsim_seconds = 150\nnoise = {noise}\nseed = 9\n"),
            Eval::Table(t) => format!(
                "kind = \"nb201-table\"\npath = \"{}\"\ndataset = \"cifar10-valid\"\nnoise = {noise}\nnoise_seed = 9\n",
                t.display()
            ),
        }
    }
}

fn config(eval: &Eval, name: &str, extra: &str) -> String {
    config_with_noise(eval, name, extra, 0.0)
}

fn config_with_noise(eval: &Eval, name: &str, extra: &str, noise: f64) -> String {
    format!(
        r#"name = "{name}"
space = "nb201"
seed = 3
[strategy]
kind = "regularized-evolution"
population = 10
sample = 3
[budget]
simulated_seconds = 60000
[evaluator]
{}{extra}"#,
        eval.section(noise)
    )
}

/// `evonas status NAME --json`, parsed.
pub(crate) fn status(store: &Path, name: &str) -> serde_json::Value {
    let out = evonas(
        &["status", name, "--store", store.to_str().unwrap(), "--json"],
        None,
    )
    .ok();
    serde_json::from_str(&out).unwrap()
}

/// The fields that must match between an interrupted-and-resumed run and an uninterrupted one
/// (or one run on workers and one in process).
pub(crate) fn outcome(v: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "state": v["state"], "proposals": v["proposals"], "evaluations": v["evaluations"],
        "cache_hits": v["cache_hits"], "failures": v["failures"], "best": v["best"],
        "history_digest": v["history_digest"], "simulated_seconds": v["simulated_seconds"],
        "screened": v["screened"], "screen_evaluations": v["screen_evaluations"],
    })
}

/// `evonas search --config CFG --store STORE -q`.
pub(crate) fn search(cfg: &Path, store: &Path) -> Run {
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
}

fn run_search(cfg: &Path, store: &Path) -> String {
    search(cfg, store).ok()
}

fn search_status_and_determinism_across_threads(table: &Eval) {
    let dir = tempdir();
    let mut digests = Vec::new();
    for threads in [1, 2] {
        let cfg = write(
            &dir,
            &format!("c{threads}.toml"),
            &config(
                table,
                "det",
                &format!("[parallel]\nround_size = 4\nthreads = {threads}\n"),
            ),
        );
        let store = dir.path().join(format!("store{threads}"));
        let out = run_search(&cfg, &store);
        assert!(out.contains("finished"), "{out}");
        let v = status(&store, "det");
        assert_eq!(v["state"], "finished");
        assert!(v["proposals"].as_u64().unwrap() > 100);
        assert!(v["best"]["metrics"]["test_accuracy"].as_f64().unwrap() > 80.0);
        assert!(v["best"]["metrics"]["valid_accuracy"].as_f64().unwrap() > 80.0);
        assert!(v["best"]["functional_hash"]
            .as_str()
            .unwrap()
            .starts_with("f3:"));
        digests.push(outcome(&v));
    }
    assert_eq!(
        digests[0], digests[1],
        "1 and 2 threads give the same campaign"
    );
    // Same config again under the same name: already finished, nothing is redone.
    let cfg = dir.path().join("c1.toml");
    let again = run_search(&cfg, &dir.path().join("store1"));
    assert!(again.contains("already finished"), "{again}");
}

fn sigkill_at_random_moments_then_resume_ends_where_the_uninterrupted_run_does(table: &Eval) {
    kill_and_resume(table, "", 25);
}

/// Rounds of 4 evaluated on 2 threads: kills also land between the slots of a round.
fn sigkill_during_parallel_rounds_then_resume_ends_where_the_uninterrupted_run_does(table: &Eval) {
    kill_and_resume(table, "[parallel]\nround_size = 4\nthreads = 2\n", 20);
}

fn kill_and_resume(table: &Eval, extra: &str, wanted: u32) {
    // Four times the usual budget: enough work that the kills land before the campaign ends
    // (the mock and table evaluators take microseconds; a 60,000 s campaign was seen to finish
    // after only 18 kills).
    let text = config(table, "kill", extra)
        .replace("simulated_seconds = 60000", "simulated_seconds = 240000");
    assert!(text.contains("240000"));
    kill_and_resume_config(&text, wanted);
}

/// Campaign `kill` of config `text`, run once uninterrupted and once SIGKILLed `wanted` times at
/// random moments (alternating `search` and `resume`), ends in the same state: counters, best,
/// history digest, simulated seconds; and no evaluation ran twice.
pub(crate) fn kill_and_resume_config(text: &str, wanted: u32) {
    let dir = tempdir();
    let cfg = write(&dir, "kill.toml", text);
    // The reference: one uninterrupted run.
    let reference_store = dir.path().join("reference");
    run_search(&cfg, &reference_store);
    let reference = status(&reference_store, "kill");
    assert_eq!(reference["state"], "finished");
    // The same campaign killed again and again.
    let store = dir.path().join("killed");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut kills = 0;
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 400, "the campaign never finished");
        // `search` on an unfinished campaign with the same config resumes it; alternate with
        // `resume` once the campaign exists.
        let exists = evonas(
            &["status", "kill", "--store", store.to_str().unwrap()],
            None,
        )
        .code
            == 0;
        let args: Vec<String> = if !exists || attempts % 2 == 0 {
            vec![
                "search".into(),
                "--config".into(),
                cfg.display().to_string(),
            ]
        } else {
            vec!["resume".into(), "kill".into()]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_evonas"))
            .args(&args)
            .args(["--store", store.to_str().unwrap(), "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if kills < wanted {
            std::thread::sleep(Duration::from_millis(rng.random_range(5..60)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            let _ = child.wait();
        } else {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let run = evonas(
            &[
                "status",
                "kill",
                "--store",
                store.to_str().unwrap(),
                "--json",
            ],
            None,
        );
        if run.code == 0 {
            let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            if v["state"] == "finished" {
                break;
            }
        }
    }
    assert!(kills >= wanted.min(20), "only {kills} kills landed");
    let resumed = status(&store, "kill");
    assert_eq!(outcome(&resumed), outcome(&reference));
    // No evaluation was performed twice: every cached record holds exactly one evaluation, and
    // the cache holds exactly the functions the uninterrupted run evaluated (with rounds of K,
    // that includes the last round's evaluations past the budget, which both runs perform).
    let keys = |store: &Path| -> Vec<(String, u64)> {
        let export = evonas(
            &["cache", "export", "--store", store.to_str().unwrap()],
            None,
        )
        .ok();
        export
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["key"].as_str().unwrap().to_string(),
                    v["record"]["evaluations"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let killed = keys(&store);
    assert!(killed.iter().all(|(_, n)| *n == 1));
    assert_eq!(killed, keys(&reference_store));
    assert!(killed.len() as u64 >= resumed["evaluations"].as_u64().unwrap());
}

fn ctrl_c_saves_and_resume_continues_the_same_search(table: &Eval) {
    let dir = tempdir();
    let cfg = write(
        &dir,
        "int.toml",
        &config(table, "int", "").replace(
            "simulated_seconds = 60000",
            "simulated_seconds = 3000000\nproposals = 20000",
        ),
    );
    let reference_store = dir.path().join("reference");
    run_search(&cfg, &reference_store);
    let reference = status(&reference_store, "int");
    let store = dir.path().join("store");
    let child = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args([
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "-q",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs, another process can still read its status (from the snapshot it keeps),
    // and sees it move.
    let read_live = || {
        let out = evonas(
            &[
                "status",
                "int",
                "--store",
                store.to_str().unwrap(),
                "--json",
            ],
            None,
        );
        (out.code == 0).then(|| serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let live = loop {
        if let Some(v) = read_live().filter(|v| v["proposals"].as_u64() > Some(0)) {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live status within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(live["state"], "running");
    assert_eq!(live["name"], "int");
    let moved = loop {
        let v = read_live().expect("a live status");
        if v["proposals"].as_u64() > live["proposals"].as_u64() {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the live status never moved"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(moved["state"], "running");
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit 0 after Ctrl-C: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("interrupted") && stdout.contains("evonas resume int"),
        "{stdout}"
    );
    let saved = status(&store, "int");
    assert_eq!(saved["state"], "interrupted");
    assert!(saved["proposals"].as_u64() < reference["proposals"].as_u64());
    evonas(
        &["resume", "int", "--store", store.to_str().unwrap(), "-q"],
        None,
    )
    .ok();
    assert_eq!(outcome(&status(&store, "int")), outcome(&reference));
}

fn a_second_campaign_reuses_the_cache(table: &Eval) {
    let dir = tempdir();
    let store = dir.path().join("store");
    // A proposal budget, so both campaigns look at as many candidates.
    let by_proposals = |name: &str| {
        config(table, name, "").replace("simulated_seconds = 60000", "proposals = 400")
    };
    let first = write(&dir, "a.toml", &by_proposals("first"));
    run_search(&first, &store);
    let second_cfg = by_proposals("second").replace("seed = 3", "seed = 4");
    let second = write(&dir, "b.toml", &second_cfg);
    run_search(&second, &store);
    let warm = status(&store, "second");
    // The same campaign on an empty store.
    let cold_store = dir.path().join("cold");
    run_search(&second, &cold_store);
    let cold = status(&cold_store, "second");
    assert!(
        warm["evaluations"].as_u64() < cold["evaluations"].as_u64(),
        "{warm} vs {cold}"
    );
    assert!(warm["hit_rate"].as_f64() > cold["hit_rate"].as_f64());
    let stats = evonas(
        &[
            "cache",
            "stats",
            "--json",
            "--store",
            store.to_str().unwrap(),
        ],
        None,
    )
    .ok();
    let s: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        s["entries"].as_u64(),
        Some(
            status(&store, "first")["evaluations"].as_u64().unwrap()
                + warm["evaluations"].as_u64().unwrap()
        )
    );
    // Export, import into a fresh store: a third campaign there is as warm.
    let export = dir.path().join("cache.jsonl");
    evonas(
        &[
            "cache",
            "export",
            "--out",
            export.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        None,
    )
    .ok();
    let fresh = dir.path().join("fresh");
    let out = evonas(
        &[
            "cache",
            "import",
            export.to_str().unwrap(),
            "--store",
            fresh.to_str().unwrap(),
        ],
        None,
    )
    .ok();
    assert!(
        out.contains(&format!("imported {} of", s["entries"])),
        "{out}"
    );
    run_search(&second, &fresh);
    let imported = status(&fresh, "second");
    assert_eq!(imported["evaluations"].as_u64(), Some(0), "{imported}");
    assert_eq!(imported["history_digest"], warm["history_digest"]);
}

fn same_name_with_another_config_is_refused(table: &Eval) {
    let dir = tempdir();
    let store = dir.path().join("store");
    let a = write(&dir, "a.toml", &config(table, "same", ""));
    run_search(&a, &store);
    let b = write(
        &dir,
        "b.toml",
        &config(table, "same", "").replace("sample = 3", "sample = 5"),
    );
    let err = search(&b, &store).fails();
    assert!(err.contains("different config"), "{err}");
    let err = evonas(
        &["resume", "nope", "--store", store.to_str().unwrap()],
        None,
    )
    .fails();
    assert!(
        err.contains("no campaign `nope`") && err.contains("same"),
        "{err}"
    );
}

fn bad_stores_give_clear_errors_and_keep_their_data(table: &Eval) {
    let dir = tempdir();
    let store = dir.path().join("store");
    let cfg = write(&dir, "a.toml", &config(table, "keep", ""));
    run_search(&cfg, &store);
    let before = status(&store, "keep");
    // In use by another process: this test process holds it open.
    {
        let held = evonas::store::Store::open(&store).unwrap();
        let err = evonas(
            &["cache", "stats", "--store", store.to_str().unwrap()],
            None,
        )
        .fails();
        assert!(
            err.contains(&format!("in use by PID {}", std::process::id())),
            "{err}"
        );
        drop(held);
    }
    // A newer schema is refused and nothing changes.
    {
        let db = sled::open(&store).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert(b"schema", &99u32.to_le_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = evonas(&["status", "--store", store.to_str().unwrap()], None).fails();
    assert!(
        err.contains("schema 99") && err.contains("upgrade"),
        "{err}"
    );
    {
        let db = sled::open(&store).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert(b"schema", &1u32.to_le_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    assert_eq!(status(&store, "keep"), before);
    // A store folder that cannot be created.
    let file = write(&dir, "plain-file", "x");
    let bad = file.join("store");
    let err = search(&cfg, &bad).fails();
    assert!(err.contains("cannot create the folder"), "{err}");
    // A corrupt value is named, not a panic.
    {
        let db = sled::open(&store).unwrap();
        db.open_tree("campaigns")
            .unwrap()
            .insert(b"c/broken", b"{not json")
            .unwrap();
        db.flush().unwrap();
    }
    let err = evonas(
        &["status", "broken", "--store", store.to_str().unwrap()],
        None,
    )
    .fails();
    assert!(err.contains("corrupt") && err.contains("broken"), "{err}");
    // A truncated database file.
    let copy = dir.path().join("truncated");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&store).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
        }
    }
    let db_file = copy.join("db");
    let len = std::fs::metadata(&db_file).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db_file)
        .unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    let run = evonas(
        &[
            "status",
            "keep",
            "--store",
            copy.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    if run.code != 0 {
        assert!(run.stderr.contains("store"), "{}", run.stderr);
    }
    // The original is untouched by all of this.
    assert_eq!(status(&store, "keep"), before);
}

#[test]
fn bad_campaign_configs_are_named() {
    let dir = tempdir();
    let store = dir.path().join("store");
    let search_fails = |name: &str, text: &str| {
        let cfg = write(&dir, name, text);
        search(&cfg, &store).fails()
    };
    let err = search_fails(
        "bad.toml",
        "name = \"x\"\nspace = \"nb201\"\n[strategy]\nkind = \"annealing\"\n",
    );
    assert!(
        err.contains("bad.toml") && err.contains("annealing"),
        "{err}"
    );
    let no_budget = config(&Eval::Table(PathBuf::from("/nowhere")), "x", "")
        .replace("simulated_seconds = 60000", "");
    let err = search_fails("nobudget.toml", &no_budget);
    assert!(err.contains("no limit"), "{err}");
    let err = search_fails(
        "notable.toml",
        &config(&Eval::Table(PathBuf::from("/nowhere")), "x", ""),
    );
    assert!(
        err.contains("/nowhere") && err.contains("nb201_cifar10_valid_200ep.csv"),
        "{err}"
    );
    // A range error names the table and the key, once.
    let err = search_fails(
        "zero.toml",
        "name = \"x\"\nspace = \"nb201\"\n[strategy]\nkind = \"random\"\n[budget]\nevaluations = 1\n[evaluator]\nkind = \"train\"\nepochs = 0\n",
    );
    assert!(
        err.contains("zero.toml: [evaluator] epochs must be positive, got 0"),
        "{err}"
    );
    // Knobs that would build a network no machine holds are refused before anything runs.
    let err = search_fails(
        "huge.toml",
        "name = \"x\"\nspace = \"nb201\"\n[knobs]\nchannels = 100000\n[strategy]\nkind = \"random\"\n[budget]\nevaluations = 1\n[evaluator]\nkind = \"mock\"\n",
    );
    assert!(
        err.contains("huge.toml")
            && err.contains("[knobs] channels = 100000: must be between 1 and 4096"),
        "{err}"
    );
    // A hash version this build cannot compute.
    let err = search_fails(
        "hash.toml",
        "name = \"x\"\nspace = \"nb201\"\nhash_version = 9\n[strategy]\nkind = \"random\"\n[budget]\nevaluations = 1\n[evaluator]\nkind = \"mock\"\n",
    );
    assert!(
        err.contains("hash.toml")
            && err.contains(
                "`hash_version` = 9: this evonas computes functional hash versions 2 to 3"
            ),
        "{err}"
    );
    // An older one that it can: the campaign's hashes are of that version.
    let cfg = write(
        &dir,
        "v2.toml",
        "name = \"v2\"\nspace = \"nb201\"\nhash_version = 2\n[strategy]\nkind = \"random\"\n[budget]\nevaluations = 3\n[evaluator]\nkind = \"mock\"\n",
    );
    run_search(&cfg, &store);
    assert!(status(&store, "v2")["best"]["functional_hash"]
        .as_str()
        .unwrap()
        .starts_with("f2:"));
}

fn cache_policies_off_aggregate_and_forgetful(table: &Eval) {
    let dir = tempdir();
    let run = |policy: &str| {
        let store = dir.path().join(policy.replace(':', "_"));
        let text = config_with_noise(
            table,
            "p",
            &format!("[cache]\npolicy = \"{policy}\"\n"),
            0.5,
        );
        let cfg = write(&dir, &format!("{}.toml", policy.replace(':', "_")), &text);
        run_search(&cfg, &store);
        let export = evonas(
            &["cache", "export", "--store", store.to_str().unwrap()],
            None,
        )
        .ok();
        let records: Vec<serde_json::Value> = export
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (status(&store, "p"), records)
    };
    let (off, records) = run("off");
    assert_eq!(off["cache_hits"], 0);
    assert!(records.is_empty(), "off writes nothing");
    let (agg, records) = run("aggregate:3");
    assert!(agg["cache_hits"].as_u64().unwrap() > 0);
    let counts: Vec<u64> = records
        .iter()
        .map(|r| r["record"]["evaluations"].as_u64().unwrap())
        .collect();
    assert!(counts.iter().all(|&c| (1..=3).contains(&c)));
    assert!(
        counts.contains(&3),
        "some functions were evaluated three times: {counts:?}"
    );
    assert!(counts.iter().sum::<u64>() >= agg["evaluations"].as_u64().unwrap());
    let (forget, _) = run("forgetful:1");
    assert_eq!(
        forget["cache_hits"], 0,
        "forgetful:1 drops every hit and re-evaluates"
    );
    let (once, _) = run("once");
    assert!(once["hit_rate"].as_f64() > agg["hit_rate"].as_f64());
}

fn a_campaign_that_only_finds_known_functions_stops_as_stalled(table: &Eval) {
    let dir = tempdir();
    let cfg = write(
        &dir,
        "stall.toml",
        &config(table, "stall", "")
            .replace("population = 10\nsample = 3", "population = 5\nsample = 5")
            .replace(
                "simulated_seconds = 60000",
                "simulated_seconds = 100000000\nmax_consecutive_hits = 300",
            ),
    );
    let store = dir.path().join("store");
    let out = run_search(&cfg, &store);
    assert!(out.contains("stalled"), "{out}");
    let v = status(&store, "stall");
    assert_eq!(v["state"], "finished");
    assert!(v["finish_reason"]
        .as_str()
        .unwrap()
        .contains("dedup_patience"));
}

fn logs_are_json_lines_with_log_json_and_plain_lines_otherwise(table: &Eval) {
    let dir = tempdir();
    let cfg = write(&dir, "logs.toml", &config(table, "logs", ""));
    let store = dir.path().join("store");
    let run = evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--log-json",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events
        .iter()
        .any(|e| e["fields"]["campaign"] == "logs" && e["level"] == "INFO"));
    let last = events
        .iter()
        .rev()
        .find(|e| e["target"] == "evonas::progress")
        .expect("a final progress line");
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("proposals"),
        "{last}"
    );
    // -v adds a debug line per committed round; -q drops the progress lines.
    let store2 = dir.path().join("store2");
    let verbose = evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store2.to_str().unwrap(),
            "-v",
        ],
        None,
    )
    .stderr;
    assert!(
        verbose.contains("DEBUG") && verbose.contains("round committed"),
        "{verbose}"
    );
    let store3 = dir.path().join("store3");
    let quiet = evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store3.to_str().unwrap(),
            "-q",
        ],
        None,
    )
    .stderr;
    assert!(!quiet.contains("proposals"), "{quiet}");
}

/// Each campaign test runs on the mock evaluator (no data needed) and on the NAS-Bench-201 table.
macro_rules! on_both_evaluators {
    ($($name:ident),* $(,)?) => {
        mod on_mock {
            $(#[test]
            fn $name() {
                super::$name(&super::Eval::Mock);
            })*
        }
        mod on_nb201_table {
            $(#[test]
            fn $name() {
                if let Some(t) = super::table_dir() {
                    super::$name(&super::Eval::Table(t));
                }
            })*
        }
    };
}

on_both_evaluators!(
    search_status_and_determinism_across_threads,
    ctrl_c_saves_and_resume_continues_the_same_search,
    a_second_campaign_reuses_the_cache,
    same_name_with_another_config_is_refused,
    bad_stores_give_clear_errors_and_keep_their_data,
    cache_policies_off_aggregate_and_forgetful,
    a_campaign_that_only_finds_known_functions_stops_as_stalled,
    logs_are_json_lines_with_log_json_and_plain_lines_otherwise,
    sigkill_at_random_moments_then_resume_ends_where_the_uninterrupted_run_does,
    sigkill_during_parallel_rounds_then_resume_ends_where_the_uninterrupted_run_does,
);
