//! The libtorch backend (feature `tch`): the same numbers as burn-flex on every built-in space
//! (to rounding, or to what rounding-sized input changes do where a network is not smooth),
//! data held on the device equal to host batches, precision and memory-format options, device
//! selection, and campaigns whose cache keys differ by backend.

use evonas::eval::data::Crop;
use evonas::eval::train::backend::{Backend, OptimizerSpec};
use evonas::eval::train::config::{BackendKind, DeviceSpec, Precision};
use evonas::eval::train::torch::{runtime, DeviceData, Tch, TchOptions};
use evonas::eval::train::{self, BurnFlex, Model, Splits, TrainConfig, Trainer};
use evonas::ir::Network;
use evonas::space::{AnySpace, Knobs, BUILTIN};
use rand::SeedableRng;

use crate::util::{evonas, rank_json, tempdir, write};

const SGD: OptimizerSpec = OptimizerSpec::Sgd {
    momentum: 0.9,
    nesterov: true,
    weight_decay: 5e-4,
};

fn cpu(precision: Precision, channels_last: bool) -> Tch {
    Tch::new(
        SGD,
        TchOptions {
            device: tch::Device::Cpu,
            precision,
            channels_last,
        },
    )
}

fn splits(n: usize, valid: usize) -> Splits {
    Splits::load(&TrainConfig {
        synthetic_images: n,
        valid_size: valid,
        data_seed: 5,
        ..TrainConfig::default()
    })
    .unwrap()
}

/// Largest difference between `a` and `b`, relative to `b`'s largest magnitude (entries near
/// zero make element-wise ratios meaningless).
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Each parameter's largest gradient difference, relative to the network's largest gradient
/// entry in `b`: a parameter whose gradient is ~1e-7 (a convolution whose contributions cancel
/// in the batch norm after it) holds only rounding noise, which no two computations share.
fn gradient_diffs(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<f32> {
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(1e-12);
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).fold(0f32, |m, (p, q)| m.max((p - q).abs())) / scale)
        .collect()
}

/// Logits, loss and gradients of one training-mode batch on `b`.
fn one_batch<B: Backend>(
    b: &mut B,
    net: &Network,
    splits: &Splits,
) -> (Vec<f32>, f32, Vec<Vec<f32>>) {
    let model = Model::build(net, b, 11).unwrap();
    let idx: Vec<usize> = (0..32).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let crops = Crop::draw(idx.len(), 4, &mut rng);
    b.track_gradients(true);
    let (x, t) = b.batch(&splits.train, &splits.norm, &idx, Some(&crops), 0.1);
    let logits = model.forward(b, x, true).unwrap();
    let values = b.values(&logits);
    let loss = b.cross_entropy(logits, t);
    let l = b.loss_value(&loss);
    (values, l, b.gradients(loss))
}

/// The same splits with images shifted by 1e-6 (in normalised units): how far rounding-sized
/// input changes move a backend's own results, the yardstick for how far two backends may
/// differ. Networks with many ReLUs are not smooth at that scale: an activation within rounding
/// of zero flips its ReLU, and in the deep spaces (NASNet family, FBNet) such a flip moves the
/// stem's gradients by a few per cent of the largest entry on either backend alone (measured
/// for an FBNet sample: 1.9e-2 on burn-flex, 3.1e-2 on tch, 2.2e-2 between them).
fn nudged(s: &Splits) -> Splits {
    let mut n = s.clone();
    for (m, sd) in n.norm.0.iter_mut().zip(&n.norm.1) {
        *m += 1e-6 * sd;
    }
    n
}

fn samples() -> Vec<(String, String, Network)> {
    let io = splits(40, 8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut out = Vec::new();
    for (name, _) in BUILTIN {
        let knobs = Knobs {
            channels: Some(if name.starts_with("fbnet") { 8 } else { 4 }),
            cells: Some(1),
        };
        let space = AnySpace::builtin(name)
            .unwrap()
            .with_knobs(&knobs)
            .with_io(io.input(), io.classes());
        for _ in 0..3 {
            let g = space.sample(&mut rng);
            out.push((
                name.to_string(),
                space.format(&g).unwrap(),
                space.decode(&g).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn logits_and_gradients_equal_burn_flex_on_every_space() {
    let data = splits(48, 8);
    let moved = nudged(&data);
    let largest = |d: Vec<f32>| d.into_iter().fold(0f32, f32::max);
    for (space, arch, net) in samples() {
        let (lf, sf, gf) = one_batch(&mut BurnFlex::new(SGD), &net, &data);
        let (lt, st, gt) = one_batch(&mut cpu(Precision::Fp32, false), &net, &data);
        // Gradients are held to 1e-4 of the largest entry, or, where the network is not smooth
        // at rounding scale, to what a 1e-6 input shift does on either backend alone.
        let (_, _, gf2) = one_batch(&mut BurnFlex::new(SGD), &net, &moved);
        let (_, _, gt2) = one_batch(&mut cpu(Precision::Fp32, false), &net, &moved);
        let own = largest(gradient_diffs(&gf2, &gf)).max(largest(gradient_diffs(&gt2, &gt)));
        let tolerance = 1e-4f32.max(2.0 * own);
        let what = format!("{space} {arch}");
        assert!(
            rel_diff(&lt, &lf) < 1e-4,
            "{what}: logits differ by {}",
            rel_diff(&lt, &lf)
        );
        assert!(
            (st - sf).abs() / sf.abs() < 1e-4,
            "{what}: loss {st} vs {sf}"
        );
        assert_eq!(gt.len(), gf.len(), "{what}");
        for (i, d) in gradient_diffs(&gt, &gf).into_iter().enumerate() {
            assert!(
                d < tolerance,
                "{what}: gradient of parameter {i} differs by {d} of the largest \
                 (a 1e-6 input shift moves either backend by {own})"
            );
        }
    }
}

/// Per-step training losses of `steps` steps (from the progress reports' running means).
fn curve<B: Backend>(b: &mut B, net: &Network, splits: &Splits, config: &TrainConfig) -> Vec<f64> {
    let mut means = Vec::new();
    train::train(b, net, splits, config, 9, &mut |p| means.push(p.loss)).unwrap();
    means
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let before = if i == 0 { 0.0 } else { means[i - 1] * i as f64 };
            m * (i + 1) as f64 - before
        })
        .collect()
}

/// Per-step losses on tch-CPU, batches served from the data it holds (the GPU path).
fn tch_curve(net: &Network, data: &Splits, config: &TrainConfig) -> Vec<f64> {
    let mut t = Tch::new(
        config.optimizer_spec(),
        TchOptions {
            device: tch::Device::Cpu,
            precision: Precision::Fp32,
            channels_last: false,
        },
    );
    let held = DeviceData::upload(&data.train, &data.norm, tch::Device::Cpu);
    t.hold(&data.train, std::sync::Arc::new(held));
    curve(&mut t, net, data, config)
}

/// The largest relative difference between two loss curves.
fn gap(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs() / y.abs()))
}

/// 5 steps of 16 images, augmentation and label smoothing on, for each sampled network of the
/// `spaces`; tch serves the batches from the data it holds (the GPU path), burn-flex builds
/// them on the host. Curves must agree to 1e-3, or to twice what a 1e-6 input shift does to
/// either backend's own curve (see `nudged`).
fn curves_agree(optimizer: evonas::eval::train::config::OptimizerKind, spaces: &[&str]) {
    let data = splits(88, 8);
    let moved = nudged(&data);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 16,
        eval_batch_size: 16,
        optimizer,
        learning_rate: 0.01,
        label_smoothing: 0.1,
        ..TrainConfig::default()
    };
    let flex_curve = |net: &Network, d: &Splits| {
        curve(&mut BurnFlex::new(config.optimizer_spec()), net, d, &config)
    };
    for (space, arch, net) in samples() {
        if !spaces.contains(&space.as_str()) {
            continue;
        }
        let flex = flex_curve(&net, &data);
        let torch = tch_curve(&net, &data, &config);
        assert_eq!(flex.len(), 5, "{space} {arch}");
        assert_eq!(torch.len(), 5, "{space} {arch}");
        let own = gap(&flex_curve(&net, &moved), &flex)
            .max(gap(&tch_curve(&net, &moved, &config), &torch));
        let tolerance = 1e-3f64.max(2.0 * own);
        for (i, (a, b)) in torch.iter().zip(&flex).enumerate() {
            assert!(
                (a - b).abs() / b.abs() < tolerance,
                "{space} {arch} ({optimizer:?}): step {} loss {a} (tch) vs {b} (burn-flex); a \
                 1e-6 input shift moves either by {own}",
                i + 1
            );
        }
    }
}

#[test]
fn five_step_loss_curves_equal_burn_flex_on_every_space() {
    let all: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    curves_agree(evonas::eval::train::config::OptimizerKind::Sgd, &all);
}

#[test]
fn adam_trains_the_same_curves() {
    curves_agree(
        evonas::eval::train::config::OptimizerKind::Adam,
        &["nb201", "nb101"],
    );
}

#[test]
fn batches_from_held_data_equal_host_batches() {
    let data = splits(40, 8);
    let idx = [3usize, 0, 17, 5, 5, 30];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let crops = Crop::draw(idx.len(), 4, &mut rng);
    for crops in [None, Some(crops.as_slice())] {
        let mut host = cpu(Precision::Fp32, false);
        let (hx, ht) = host.batch(&data.train, &data.norm, &idx, crops, 0.2);
        let mut held = cpu(Precision::Fp32, false);
        let d = DeviceData::upload(&data.train, &data.norm, tch::Device::Cpu);
        held.hold(&data.train, std::sync::Arc::new(d));
        let (dx, dt) = held.batch(&data.train, &data.norm, &idx, crops, 0.2);
        assert_eq!(host.shape(&hx), held.shape(&dx));
        assert!(rel_diff(&held.values(&dx), &host.values(&hx)) < 1e-6);
        assert!(rel_diff(&held.values(&dt), &host.values(&ht)) < 1e-6);
    }
}

#[test]
fn channels_last_computes_the_same_and_bf16_stays_close() {
    let data = splits(40, 8);
    let (name, arch, net) = samples().swap_remove(0);
    let (l32, s32, g32) = one_batch(&mut cpu(Precision::Fp32, false), &net, &data);
    let (lcl, _, gcl) = one_batch(&mut cpu(Precision::Fp32, true), &net, &data);
    assert!(rel_diff(&lcl, &l32) < 1e-4, "{name} {arch}");
    for d in gradient_diffs(&gcl, &g32) {
        assert!(d < 1e-4, "{name} {arch}: {d}");
    }
    // bfloat16 keeps 8 bits of mantissa: close, not equal.
    let (l16, s16, g16) = one_batch(&mut cpu(Precision::Bf16, false), &net, &data);
    assert!(rel_diff(&l16, &l32) < 0.05, "{}", rel_diff(&l16, &l32));
    assert!((s16 - s32).abs() / s32 < 0.02, "{s16} vs {s32}");
    assert!(
        l16 != l32,
        "bf16 computed exactly fp32's logits: precision not applied"
    );
    assert_eq!(g16.len(), g32.len());
}

#[test]
fn devices_resolve_or_say_why() {
    // This machine (and CI) has no GPU: auto falls back to the CPU, cuda is refused clearly.
    if tch::Cuda::is_available() {
        return;
    }
    assert_eq!(
        runtime::resolve(DeviceSpec::Auto).unwrap(),
        tch::Device::Cpu
    );
    let e = runtime::resolve(DeviceSpec::Cuda(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sees no CUDA GPU"), "{e}");
    let e = Trainer::new(&TrainConfig {
        backend: BackendKind::Tch,
        device: DeviceSpec::Cuda(1),
        ..TrainConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("cuda:1"), "{e}");
}

#[test]
fn the_protocol_names_backend_version_and_device_kind() {
    let data = splits(40, 8);
    let flex = TrainConfig::default();
    let tch_cfg = TrainConfig {
        backend: BackendKind::Tch,
        device: DeviceSpec::Cpu,
        ..TrainConfig::default()
    };
    let p_flex = train::TrainEvaluator::protocol_for(&flex, &data, &Trainer::new(&flex).unwrap());
    let trainer = Trainer::new(&tch_cfg).unwrap();
    let p_tch = train::TrainEvaluator::protocol_for(&tch_cfg, &data, &trainer);
    assert_ne!(p_flex.fingerprint(), p_tch.fingerprint());
    let d = &p_tch.description;
    assert_eq!(d["backend"], "tch");
    assert_eq!(d["device"], "cpu");
    let version = d["backend_version"].as_str().unwrap();
    assert!(version.starts_with("libtorch 2."), "{version}");
    // Two CPUs listed as devices train the same numbers: same protocol.
    let two = TrainConfig {
        devices: vec![DeviceSpec::Cpu, DeviceSpec::Cpu],
        ..tch_cfg.clone()
    };
    let p_two = train::TrainEvaluator::protocol_for(&two, &data, &Trainer::new(&two).unwrap());
    assert_eq!(p_two.fingerprint(), p_tch.fingerprint());
    // Precision changes results: another protocol.
    let bf16 = TrainConfig {
        precision: Precision::Bf16,
        ..tch_cfg
    };
    let p_bf16 = train::TrainEvaluator::protocol_for(&bf16, &data, &Trainer::new(&bf16).unwrap());
    assert_ne!(p_bf16.fingerprint(), p_tch.fingerprint());
}

/// The train tests' tiny campaign named `name`, on `backend`, with `parallel` added to its
/// [parallel] table.
fn campaign(name: &str, backend: &str, parallel: &str) -> String {
    let text = crate::train::CAMPAIGN
        .replace("name = \"tiny\"", &format!("name = \"{name}\""))
        .replace("THREADS", "2")
        // Four evaluations: both backends' campaigns propose the same cells that far.
        .replace("evaluations = 5", "evaluations = 4")
        .replace(
            "batch_size = 32",
            &format!("batch_size = 32\nbackend = \"{backend}\""),
        );
    format!("{text}{parallel}\n")
}

#[test]
fn campaigns_on_both_backends_run_and_keep_separate_cache_keys() {
    let dir = tempdir();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    for (name, backend, devices) in [
        ("flex", "burn-flex", ""),
        ("torch", "tch", "devices = [\"cpu\", \"cpu\"]"),
    ] {
        let text = campaign(name, backend, devices);
        let cfg = write(&dir, &format!("{name}.toml"), &text);
        let out = evonas(
            &[
                "search",
                "--config",
                cfg.to_str().unwrap(),
                "--store",
                s,
                "-q",
            ],
            None,
        )
        .ok();
        assert!(out.contains("best fitness"), "{backend}: {out}");
    }
    // The same functions were trained under two protocols: each under two keys.
    let dump = evonas(&["cache", "export", "--store", s], None).ok();
    let mut keys = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for line in dump.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let library = v["record"]["machine"]["library"].as_str().unwrap_or("");
        assert!(
            library.starts_with("burn-flex") || library.starts_with("libtorch 2."),
            "{line}"
        );
        keys.entry(v["record"]["genotype"].to_string())
            .or_default()
            .insert(v["key"].to_string());
    }
    assert!(!keys.is_empty());
    assert!(keys.values().all(|k| k.len() == 2), "{dump}");
}

#[test]
fn a_tch_config_asking_for_a_gpu_without_one_says_so() {
    if tch::Cuda::is_available() {
        return;
    }
    let dir = tempdir();
    let store = dir.path().join("store");
    let text = campaign("gpu", "tch", "devices = [\"cuda:0\"]");
    let cfg = write(&dir, "gpu.toml", &text);
    let run = evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        None,
    );
    let err = run.fails();
    assert!(err.contains("sees no CUDA GPU"), "{err}");
}

/// Every proxy that runs the network scores the same cells on libtorch as on burn-flex (the
/// same IR interpreted by two backends; only float rounding differs).
#[test]
fn zero_cost_proxies_score_alike_on_tch_and_burn_flex() {
    let dir = tempdir();
    let store = dir.path().join("s");
    for proxy in ["nwot", "snip", "grad_norm", "synflow", "jacov", "zen"] {
        let toml = |backend: &str| {
            format!(
                "[evaluator]\nkind = \"zero-cost\"\nproxy = \"{proxy}\"\ndata = \"synthetic\"\nsynthetic_images = 300\nbatch_size = 16\nbackend = \"{backend}\"\n[knobs]\nchannels = 4\ncells = 1\n"
            )
        };
        let flex = write(&dir, "flex.toml", &toml("burn-flex"));
        let torch = write(&dir, "tch.toml", &toml("tch"));
        let v = rank_json(&flex, &torch, &store, &["--sample", "6", "--seed", "4"]);
        assert_eq!(v["candidate"]["protocol"]["backend"], "tch", "{proxy}");
        for s in v["scores"].as_array().unwrap() {
            let a = s["reference"]["fitness"].as_f64().unwrap();
            let b = s["candidate"]["fitness"].as_f64().unwrap();
            assert!(
                (a - b).abs() <= 1e-2 * a.abs().max(1.0),
                "{proxy}: burn-flex {a}, tch {b}"
            );
        }
    }
}
