//! Memory: scoring holds one batch's activations whatever the number of images (measured in a
//! child process with `getrusage`), the measured guard stops an evaluation over its limit and
//! the campaign goes on, and every built-in space trains and scores real MNIST within a bound.

use evonas::eval::data::Dataset;
use evonas::eval::memory;
use evonas::eval::train::backend::{Backend, OptimizerSpec};
use evonas::eval::train::{self, BurnFlex, Model, Splits, TrainConfig, TrainError};
use evonas::ir::Network;
use evonas::space::{AnySpace, Knobs, BUILTIN};
use rand::SeedableRng;

use crate::util::{evonas, evonas_measured, shared_data, tempdir, write};

/// A training protocol on synthetic data that scores 500 validation images in one batch.
const SCORES_500: &str = r#"kind = "train"
data = "synthetic"
synthetic_images = 564
valid_size = 500
epochs = 1
batch_size = 8
eval_batch_size = 500
"#;

/// Set in a child process: the space whose scoring memory it measures.
const CHILD: &str = "EVONAS_MEMORY_CHILD";
/// Images of the first scoring run; the second scores four times as many.
const N: usize = 256;
/// Growth of peak RSS allowed between the two runs (allocator slack), MB. The bug this
/// guards against kept 0.4-1.7 MB per scored image: hundreds of MB over 4N images.
const SLACK_MB: u64 = 24;

fn proxy(name: &str, input: [u32; 3], classes: u32) -> AnySpace {
    AnySpace::builtin(name)
        .unwrap()
        .with_knobs(&Knobs {
            channels: Some(8),
            cells: Some(1),
        })
        .with_io(input, classes)
}

/// A network of `name` at proxy scale, sampled with `seed`.
fn sampled(name: &str, seed: u64, input: [u32; 3], classes: u32) -> Network {
    let space = proxy(name, input, classes);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let g = space.sample(&mut rng);
    space.decode(&g).unwrap()
}

fn subset(d: &Dataset, range: std::ops::Range<usize>) -> Dataset {
    let len = d.image_len();
    Dataset {
        shape: d.shape,
        classes: d.classes,
        pixels: d.pixels[range.start * len..range.end * len].to_vec(),
        labels: d.labels[range].to_vec(),
    }
}

/// The child: trains two steps, scores N images, then 4N, printing peak RSS after each.
fn score_twice(space: &str) {
    let splits = Splits::load(&TrainConfig {
        synthetic_images: 5 * N + 128,
        valid_size: 5 * N,
        ..TrainConfig::default()
    })
    .unwrap();
    let net = sampled(space, 11, splits.input(), splits.classes());
    let mut b = BurnFlex::new(OptimizerSpec::Sgd {
        momentum: 0.9,
        nesterov: true,
        weight_decay: 5e-4,
    });
    let model = Model::build(&net, &mut b, 0).unwrap();
    let [c, h, w] = splits.train.shape;
    for step in 0..2 {
        let idx: Vec<usize> = (step * 64..(step + 1) * 64).collect();
        let (x, y) = splits.train.batch(&idx, &splits.norm, None);
        let mut t = vec![0f32; 64 * 10];
        for (i, &l) in y.iter().enumerate() {
            t[i * 10 + usize::from(l)] = 1.0;
        }
        let x = b.tensor(x, [64, c, h, w]);
        let logits = model.forward(&mut b, x, true).unwrap();
        let t = b.tensor(t, [64, 10, 1, 1]);
        let loss = b.cross_entropy(logits, t);
        b.step(loss, 0.01);
    }
    let first = subset(&splits.valid, 0..N);
    let second = subset(&splits.valid, N..5 * N);
    train::evaluate(&mut b, &model, &first, &splits.norm, 64).unwrap();
    let after_n = memory::peak_rss_mb().unwrap();
    train::evaluate(&mut b, &model, &second, &splits.norm, 64).unwrap();
    let after_5n = memory::peak_rss_mb().unwrap();
    println!("peak-rss-mb {after_n} {after_5n}");
}

#[test]
fn scoring_memory_does_not_grow_with_images() {
    if let Ok(space) = std::env::var(CHILD) {
        return score_twice(&space);
    }
    let exe = std::env::current_exe().unwrap();
    for (name, _) in BUILTIN {
        let out = std::process::Command::new(&exe)
            .args([
                "memory::scoring_memory_does_not_grow_with_images",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, name)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: child failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("peak-rss-mb ").map(|(_, v)| v.trim()))
            .unwrap_or_else(|| panic!("{name}: no measurement in\n{stdout}"));
        let [n, five_n]: [u64; 2] = line
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        eprintln!(
            "{name}: peak RSS {n} MB after {N} images, {five_n} MB after {} more",
            4 * N
        );
        assert!(
            five_n <= n + SLACK_MB,
            "{name}: scoring {} more images raised peak RSS from {n} MB to {five_n} MB",
            4 * N
        );
    }
}

fn synthetic(valid: usize, eval_batch: usize, limit_mb: u64) -> (Splits, TrainConfig) {
    let config = TrainConfig {
        synthetic_images: valid + 64,
        valid_size: valid,
        epochs: 1,
        batch_size: 32,
        eval_batch_size: eval_batch,
        max_memory_mb: limit_mb,
        ..TrainConfig::default()
    };
    (Splits::load(&config).unwrap(), config)
}

/// The guard measures: an evaluation whose estimate fits but whose scoring (one batch of
/// 2,000 images) holds more than the limit stops with the measured figure, and the next,
/// smaller evaluation in the same process trains under the same limit.
#[test]
fn measured_guard_stops_an_evaluation_over_its_limit() {
    assert!(memory::active(), "the test binary installs CountingAlloc");
    let (splits, config) = synthetic(2000, 2000, 150);
    let big = proxy("nb201", splits.input(), splits.classes());
    let conv = big
        .parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        .unwrap();
    let net = big.decode(&conv).unwrap();
    let estimate = train::memory_estimate_mb(&net, config.batch_size);
    assert!(estimate < 150, "the estimate ({estimate} MB) lets it start");
    let e = train::train_flex(&net, &splits, &config, 0, &mut |_| {}).unwrap_err();
    let TrainError::OutOfMemory(oom) = e else {
        panic!("expected a measured out-of-memory stop, got {e}")
    };
    assert_eq!(oom.limit_mb, 150);
    assert!(oom.used_mb > 150, "{oom:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "out of memory: used {} MB, limit 150 MB",
            oom.used_mb
        )),
        "{e}"
    );
    // The same limit, a network that fits: trains, and says what it used.
    let small = big
        .parse("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
        .unwrap();
    let (splits, config) = synthetic(2000, 64, 150);
    let r = train::train_flex(
        &big.decode(&small).unwrap(),
        &splits,
        &config,
        0,
        &mut |_| {},
    )
    .unwrap();
    let peak = r.peak_memory_mb.expect("measured");
    assert!(peak > 0 && peak <= 150, "peak {peak} MB");
}

/// A campaign whose limit some candidates cross: they are recorded as failures with the
/// measured figure, the process exits 0, and the other candidates train.
#[test]
fn campaign_goes_on_after_an_out_of_memory_failure() {
    let dir = tempdir();
    let config = write(
        &dir,
        "oom.toml",
        &format!(
            r#"
name = "oom"
space = "nb201"
seed = 3
[knobs]
channels = 8
cells = 1
[strategy]
kind = "random"
[budget]
evaluations = 6
[evaluator]
{SCORES_500}max_memory_mb = 72
[parallel]
round_size = 2
threads = 2
"#,
        ),
    );
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    evonas(
        &[
            "search",
            "--config",
            config.to_str().unwrap(),
            "--store",
            store,
            "-q",
        ],
        None,
    )
    .ok();
    let status: serde_json::Value =
        serde_json::from_str(&evonas(&["status", "oom", "--store", store, "--json"], None).ok())
            .unwrap();
    let failures = status["failures"].as_u64().unwrap();
    assert_eq!(status["evaluations"], 6, "{status}");
    assert!(failures >= 1, "no candidate crossed 72 MB: {status}");
    assert!(failures < 6, "every candidate failed: {status}");
    // A budget that admits one 72 MB evaluation at a time (of the two threads) changes
    // nothing but the pace: the same campaign, the same history.
    let store2 = dir.path().join("store2");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args([
            "search",
            "--config",
            config.to_str().unwrap(),
            "-q",
            "--store",
        ])
        .arg(&store2)
        .env("EVONAS_MEMORY_MB", "100")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: serde_json::Value = serde_json::from_str(
        &evonas(
            &[
                "status",
                "oom",
                "--json",
                "--store",
                store2.to_str().unwrap(),
            ],
            None,
        )
        .ok(),
    )
    .unwrap();
    assert_eq!(again["history_digest"], status["history_digest"]);
    assert_eq!(again["failures"], status["failures"]);
    // The cache holds each failure with its measured figure.
    let entries = evonas(&["cache", "export", "--store", store], None).ok();
    let reasons: Vec<String> = entries
        .lines()
        .filter_map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            e["record"]["failure"].as_str().map(str::to_string)
        })
        .collect();
    assert!(!reasons.is_empty(), "{entries}");
    for r in reasons {
        assert!(
            r.starts_with("out of memory: used ") && r.contains("limit 72 MB"),
            "{r}"
        );
    }
}

/// Every built-in space trains a few steps on real MNIST and scores its validation split and
/// the 10,000 test images through the `evonas train` command, within a bound on the whole
/// process's peak RSS (measured by `wait4`).
#[test]
fn every_space_trains_and_scores_mnist_within_bounds() {
    let Some(mnist) = shared_data("mnist/t10k-images-idx3-ubyte.gz") else {
        return;
    };
    let dir = tempdir();
    let config = write(
        &dir,
        "mnist.toml",
        &format!(
            r#"
[evaluator]
kind = "train"
data = "idx"
path = "{}"
train_files = ["derived_train-images-first10k-idx3-ubyte.gz", "derived_train-labels-first10k-idx1-ubyte.gz"]
test_files = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
valid_size = 1000
train_size = 1024
epochs = 1
batch_size = 32
augment = false
test = true
max_memory_mb = 4096
"#,
            mnist.parent().unwrap().display()
        ),
    );
    for (name, _) in BUILTIN {
        let doc = evonas(
            &[
                "sample",
                "--space",
                name,
                "-n",
                "1",
                "--seed",
                "5",
                "--channels",
                "4",
                "--cells",
                "1",
            ],
            None,
        )
        .ok();
        let arch = write(&dir, &format!("{name}.json"), &doc);
        let (run, peak_mb) = evonas_measured(&[
            "train",
            "--arch",
            arch.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "-q",
        ]);
        let out: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
        let record = &out["record"];
        // Scored: 10,000 test images (a network this small, trained 32 steps, may still be
        // near chance; what this test checks is that it ran through and what it held).
        let test = record["test_accuracy"].as_f64().unwrap();
        assert!(test > 0.0 && test <= 100.0, "{name}: {record}");
        let evaluation_mb = record["peak_memory_mb"].as_u64().unwrap();
        eprintln!(
            "{name}: test accuracy {test}%, peak RSS {peak_mb} MB, evaluation peak {evaluation_mb} MB"
        );
        assert!(
            evaluation_mb < peak_mb,
            "{name}: the evaluation is part of the process"
        );
        assert!(peak_mb < 500, "{name}: peak RSS {peak_mb} MB");
    }
}

/// The process budget (`EVONAS_MEMORY_MB`, else 85% of the memory available) caps a limit
/// that is more than the machine has, and the failure says which limit applied.
#[test]
fn a_limit_above_the_machine_budget_is_capped_and_said() {
    let dir = tempdir();
    let config = write(
        &dir,
        "big.toml",
        &format!(
            r#"
[knobs]
channels = 8
cells = 1
[evaluator]
{SCORES_500}max_memory_mb = 4096
"#,
        ),
    );
    let arch = write(
        &dir,
        "cell.txt",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    );
    let run = |budget: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_evonas"))
            .args(["train", "--space", "nb201", "--arch"])
            .arg(&arch)
            .arg("--config")
            .arg(&config)
            .arg("-q")
            .env("EVONAS_MEMORY_MB", budget)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // 40 MB for evaluations: the 4,096 MB limit is capped, and the run stops at 40.
    let (code, stdout, stderr) = run("40");
    assert_ne!(code, Some(0), "{stdout}");
    assert!(
        stderr.contains("out of memory: used ")
            && stderr.contains("limit 40 MB (all this machine has for evaluations; [evaluator] max_memory_mb is 4096"),
        "{stderr}"
    );
    // With room, the same run trains and reports what it held.
    let (code, stdout, stderr) = run("2000");
    assert_eq!(code, Some(0), "{stderr}");
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let peak = out["record"]["peak_memory_mb"].as_u64().unwrap();
    assert!(peak > 40 && peak < 2000, "{peak}");
}

/// The memory limit decides which networks fail, so it separates protocols (except the
/// default, left out so caches made before keep their keys); paths never enter a protocol,
/// even paths that are not UTF-8 (which once made every such description `null`).
#[test]
fn protocols_hold_the_memory_limit_and_no_paths() {
    use std::os::unix::ffi::OsStrExt;
    let (splits, config) = synthetic(100, 64, train::config::DEFAULT_MAX_MEMORY_MB);
    let protocol =
        |c: &TrainConfig| train::TrainEvaluator::protocol_for(c, &splits, &train::Trainer::Flex);
    let default = protocol(&config);
    assert!(default.description.get("max_memory_mb").is_none());
    let raised = TrainConfig {
        max_memory_mb: 8192,
        ..config.clone()
    };
    assert_eq!(protocol(&raised).description["max_memory_mb"], 8192);
    assert_ne!(protocol(&raised).fingerprint(), default.fingerprint());
    // Two folders whose names are not UTF-8: the same data, the same protocol, never null.
    let odd = |name: &[u8]| TrainConfig {
        path: Some(std::ffi::OsStr::from_bytes(name).into()),
        train_files: vec![std::ffi::OsStr::from_bytes(name).into()],
        ..config.clone()
    };
    let (a, b) = (protocol(&odd(b"data\xff1")), protocol(&odd(b"data\xfe2")));
    assert!(a.description.is_object(), "{}", a.description);
    assert!(a.description.get("path").is_none() && a.description.get("train_files").is_none());
    assert_eq!(a, default);
    assert_eq!(a.fingerprint(), b.fingerprint());
    // Another number of epochs is another fidelity, and another fingerprint.
    let longer = TrainConfig {
        epochs: config.epochs + 1,
        ..config.clone()
    };
    assert_eq!(
        default.fidelity,
        evonas::eval::Fidelity::Epochs {
            epochs: config.epochs
        }
    );
    assert_ne!(protocol(&longer).fidelity, default.fidelity);
    assert_ne!(protocol(&longer).fingerprint(), default.fingerprint());
    // Another data set (another digest) is another protocol.
    let (other, _) = synthetic(120, 64, train::config::DEFAULT_MAX_MEMORY_MB);
    assert_ne!(
        train::TrainEvaluator::protocol_for(&config, &other, &train::Trainer::Flex).fingerprint(),
        default.fingerprint()
    );
}
