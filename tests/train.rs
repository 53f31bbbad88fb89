//! The trainer: every op's values and gradients, determinism, learning, failures, and every
//! space at proxy scale.

use evonas::eval::data::synthetic;
use evonas::eval::train::backend::{Backend, OptimizerSpec};
use evonas::eval::train::{self, guarded, BurnFlex, Model, Splits, TrainConfig, TrainError};
use evonas::ir::{Conv, Network, NetworkBuilder, NodeId, Op, Shape};
use evonas::space::{AnySpace, Knobs, BUILTIN};
use rand::SeedableRng;

use crate::campaign::status;
use crate::util::{evonas, tempdir, write};

fn sgd() -> BurnFlex {
    BurnFlex::new(OptimizerSpec::Sgd {
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.0,
    })
}

fn conv(
    out: u32,
    k: [u32; 2],
    stride: u32,
    pad: [u32; 2],
    dil: u32,
    groups: u32,
    bias: bool,
) -> Op {
    Op::Conv(Conv {
        out_channels: out,
        kernel: k,
        stride: [stride, stride],
        padding: pad,
        dilation: [dil, dil],
        groups,
        bias,
    })
}

/// input 2x6x6 -> conv 1x1 (4 ch, bias) -> `body` -> global pool -> linear(3) -> output.
fn probe_net(body: impl Fn(&mut NetworkBuilder, NodeId) -> NodeId) -> Network {
    let mut b = NetworkBuilder::new();
    let x = b.input(Shape::new(2, 6, 6), "in").unwrap();
    let c = b
        .add(conv(4, [1, 1], 1, [0, 0], 1, 1, true), &[x], "pre")
        .unwrap();
    let y = body(&mut b, c);
    let g = b.add(Op::GlobalAvgPool, &[y], "gap").unwrap();
    let l = b
        .add(
            Op::Linear {
                out_features: 3,
                bias: true,
            },
            &[g],
            "fc",
        )
        .unwrap();
    b.finish(l).unwrap()
}

fn probe_input(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x: Vec<f32> = (0..n * 2 * 36)
        .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 1.5)
        .collect();
    let mut t = vec![0f32; n * 3];
    for i in 0..n {
        t[i * 3 + i % 3] = 1.0;
    }
    (x, t)
}

fn loss_of(backend: &mut BurnFlex, model: &Model, x: &[f32], t: &[f32], n: usize) -> f64 {
    let input = backend.tensor(x.to_vec(), [n, 2, 6, 6]);
    let logits = model.forward(backend, input, true).unwrap();
    let t = backend.tensor(t.to_vec(), [n, t.len() / n, 1, 1]);
    let loss = backend.cross_entropy(logits, t);
    f64::from(backend.loss_value(&loss))
}

/// Analytic gradients against central finite differences, on every parameter entry.
fn check_gradients(what: &str, net: &Network) {
    let n = 4;
    let (x, t) = probe_input(n);
    let mut backend = sgd();
    let model = Model::build(net, &mut backend, 7).unwrap();
    let input = backend.tensor(x.clone(), [n, 2, 6, 6]);
    let logits = model.forward(&mut backend, input, true).unwrap();
    let targets = backend.tensor(t.clone(), [n, t.len() / n, 1, 1]);
    let loss = backend.cross_entropy(logits, targets);
    let grads = backend.gradients(loss);
    let params = backend.params();
    assert_eq!(grads.len(), params.len());
    let mut checked = 0;
    for (p, g) in params.iter().zip(&grads) {
        let base = backend.param_values(*p);
        for i in 0..base.len() {
            let eps = 1e-2f32;
            let mut v = base.clone();
            v[i] = base[i] + eps;
            backend.set_param_values(*p, v.clone());
            let up = loss_of(&mut backend, &model, &x, &t, n);
            v[i] = base[i] - eps;
            backend.set_param_values(*p, v);
            let down = loss_of(&mut backend, &model, &x, &t, n);
            backend.set_param_values(*p, base.clone());
            let numeric = (up - down) / (2.0 * f64::from(eps));
            let analytic = f64::from(g[i]);
            let tol = 2e-3 + 3e-2 * numeric.abs().max(analytic.abs());
            assert!(
                (numeric - analytic).abs() <= tol,
                "{what}: parameter {p:?}[{i}]: analytic {analytic}, finite difference {numeric}"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{what}: only {checked} entries checked");
    // The gradient is not trivially zero everywhere.
    assert!(
        grads.iter().flatten().any(|g| g.abs() > 1e-4),
        "{what}: all gradients are zero"
    );
}

#[test]
fn every_op_matches_finite_difference_gradients() {
    type Body = Box<dyn Fn(&mut NetworkBuilder, NodeId) -> NodeId>;
    let cases: Vec<(&str, Body)> = vec![
        ("identity", Box::new(|_, x| x)),
        (
            "conv 3x3 pad 1",
            Box::new(|b, x| {
                b.add(conv(4, [3, 3], 1, [1, 1], 1, 1, false), &[x], "c")
                    .unwrap()
            }),
        ),
        (
            "conv 3x3 stride 2 dilation 2 pad 2",
            Box::new(|b, x| {
                b.add(conv(3, [3, 3], 2, [2, 2], 2, 1, false), &[x], "c")
                    .unwrap()
            }),
        ),
        (
            "depthwise conv 3x3",
            Box::new(|b, x| {
                b.add(conv(4, [3, 3], 1, [1, 1], 1, 4, false), &[x], "c")
                    .unwrap()
            }),
        ),
        (
            "grouped conv 1x3 then 3x1",
            Box::new(|b, x| {
                let y = b
                    .add(conv(4, [1, 3], 1, [0, 1], 1, 2, true), &[x], "c1")
                    .unwrap();
                b.add(conv(4, [3, 1], 1, [1, 0], 1, 1, false), &[y], "c2")
                    .unwrap()
            }),
        ),
        (
            "batch norm (affine)",
            Box::new(|b, x| b.add(Op::BatchNorm { affine: true }, &[x], "bn").unwrap()),
        ),
        (
            "batch norm (no affine) then relu",
            Box::new(|b, x| {
                let y = b.add(Op::BatchNorm { affine: false }, &[x], "bn").unwrap();
                b.add(Op::Relu, &[y], "r").unwrap()
            }),
        ),
        ("relu", Box::new(|b, x| b.add(Op::Relu, &[x], "r").unwrap())),
        (
            "avg pool 3 stride 1 pad 1",
            Box::new(|b, x| {
                b.add(
                    Op::AvgPool {
                        kernel: 3,
                        stride: 1,
                        padding: 1,
                    },
                    &[x],
                    "p",
                )
                .unwrap()
            }),
        ),
        (
            "max pool 3 stride 2 pad 1",
            Box::new(|b, x| {
                b.add(
                    Op::MaxPool {
                        kernel: 3,
                        stride: 2,
                        padding: 1,
                    },
                    &[x],
                    "p",
                )
                .unwrap()
            }),
        ),
        (
            "add of two branches",
            Box::new(|b, x| {
                let r = b.add(Op::Relu, &[x], "r").unwrap();
                let c = b
                    .add(conv(4, [3, 3], 1, [1, 1], 1, 1, false), &[x], "c")
                    .unwrap();
                b.add(Op::Add, &[r, c, x], "sum").unwrap()
            }),
        ),
        (
            "concat",
            Box::new(|b, x| {
                let c = b
                    .add(conv(2, [1, 1], 1, [0, 0], 1, 1, false), &[x], "c")
                    .unwrap();
                b.add(Op::Concat, &[c, x], "cat").unwrap()
            }),
        ),
        (
            "channel shuffle",
            Box::new(|b, x| {
                let c = b
                    .add(conv(4, [1, 1], 1, [0, 0], 1, 1, false), &[x], "c")
                    .unwrap();
                b.add(Op::ChannelShuffle { groups: 2 }, &[c], "s").unwrap()
            }),
        ),
        (
            "truncate",
            Box::new(|b, x| {
                let c = b
                    .add(conv(4, [1, 1], 1, [0, 0], 1, 1, false), &[x], "c")
                    .unwrap();
                b.add(Op::Truncate { channels: 3 }, &[c], "t").unwrap()
            }),
        ),
        (
            "crop and zero",
            Box::new(|b, x| {
                let c = b.add(Op::Crop { rows: 1, cols: 2 }, &[x], "crop").unwrap();
                let z = b
                    .add(
                        Op::Zero {
                            out_channels: 4,
                            stride: 1,
                        },
                        &[c],
                        "z",
                    )
                    .unwrap();
                b.add(Op::Add, &[c, z], "sum").unwrap()
            }),
        ),
    ];
    for (what, body) in cases {
        check_gradients(what, &probe_net(body));
    }
}

fn values(backend: &BurnFlex, t: &<BurnFlex as Backend>::Tensor) -> Vec<f32> {
    backend.values(t)
}

#[test]
fn op_values_match_hand_computation() {
    let b = sgd();
    // 1 x 1 x 3 x 3 input 1..9.
    let x = || b.tensor((1..=9).map(|v| v as f32).collect(), [1, 1, 3, 3]);
    // Average pooling excluding padding: the corner averages 4 values, the centre 9.
    let avg = b.avg_pool(x(), 3, 1, 1);
    let v = values(&b, &avg);
    assert_eq!(v[0], (1.0 + 2.0 + 4.0 + 5.0) / 4.0);
    assert_eq!(v[4], 5.0);
    assert_eq!(v[1], (1.0 + 2.0 + 3.0 + 4.0 + 5.0 + 6.0) / 6.0);
    // Max pooling with padding: padding never wins, even over negative values.
    let neg = b.tensor((1..=9).map(|v| -(v as f32)).collect(), [1, 1, 3, 3]);
    let m = b.max_pool(neg, 3, 2, 1);
    assert_eq!(values(&b, &m), vec![-1.0, -2.0, -4.0, -5.0]);
    // Crop via narrow: drop the first row and column.
    let c = b.narrow(b.narrow(x(), 2, 1, 2), 3, 1, 2);
    assert_eq!(values(&b, &c), vec![5.0, 6.0, 8.0, 9.0]);
    // Global average pooling.
    assert_eq!(values(&b, &b.global_avg_pool(x())), vec![5.0]);
    // Channel shuffle of 6 channels in 2 groups: 0 3 1 4 2 5.
    let ch = b.tensor((0..6).map(|v| v as f32).collect(), [1, 6, 1, 1]);
    assert_eq!(
        values(&b, &b.channel_shuffle(ch, 2)),
        vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
    // ReLU and addition.
    let r = b.relu(b.tensor(vec![-1.0, 2.0], [1, 2, 1, 1]));
    assert_eq!(values(&b, &b.add(r.clone(), r)), vec![0.0, 4.0]);
    // Concat along channels.
    let a = b.tensor(vec![1.0], [1, 1, 1, 1]);
    let z = b.zeros([1, 2, 1, 1]);
    assert_eq!(values(&b, &b.concat(vec![z, a])), vec![0.0, 0.0, 1.0]);
}

#[test]
fn conv_and_batch_norm_values_match_hand_computation() {
    let mut b = sgd();
    // 2x2 kernel of ones with bias 0.5 on 1..9, stride 1, no padding: window sums + 0.5.
    let w = b.param([1, 1, 2, 2], vec![1.0; 4]);
    let bias = b.param([1, 1, 1, 1], vec![0.5]);
    let x = b.tensor((1..=9).map(|v| v as f32).collect(), [1, 1, 3, 3]);
    let c = Conv {
        out_channels: 1,
        kernel: [2, 2],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
        bias: true,
    };
    let y = b.conv2d(x, w, Some(bias), &c);
    assert_eq!(b.values(&y), vec![12.5, 16.5, 24.5, 28.5]);
    // Batch norm in training mode normalises each channel to mean 0, variance 1.
    let n = b.norm(1, true);
    let x = b.tensor(vec![1.0, 3.0, 5.0, 7.0], [4, 1, 1, 1]);
    let y = b.batch_norm(x.clone(), n, true);
    let out = b.values(&y);
    let var: f32 = 5.0; // population variance of 1, 3, 5, 7
    for (o, v) in out.iter().zip([1.0f32, 3.0, 5.0, 7.0]) {
        assert!((o - (v - 4.0) / (var + 1e-5).sqrt()).abs() < 1e-5);
    }
    // Inference uses running statistics: after one update, mean 0.4 and variance
    // 0.9 + 0.1 * 20/3 (unbiased), as in PyTorch.
    let y = b.batch_norm(x, n, false);
    let inf = b.values(&y);
    let rv = 0.9 + 0.1 * 20.0 / 3.0;
    assert!((inf[0] - (1.0 - 0.4) / (rv + 1e-5f32).sqrt()).abs() < 1e-5);
}

fn tiny_splits(n: usize, valid: usize, seed: u64) -> Splits {
    let config = TrainConfig {
        synthetic_images: n,
        valid_size: valid,
        data_seed: seed,
        ..TrainConfig::default()
    };
    Splits::load(&config).unwrap()
}

fn nb201(cell: &str, channels: u32, io: &Splits) -> Network {
    let s = AnySpace::builtin("nb201")
        .unwrap()
        .with_knobs(&Knobs {
            channels: Some(channels),
            cells: Some(1),
        })
        .with_io(io.input(), io.classes());
    s.decode(&s.parse(cell).unwrap()).unwrap()
}

const REFERENCE: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

#[test]
fn training_is_deterministic_across_threads_and_the_loss_falls() {
    let splits = tiny_splits(700, 100, 1);
    let net = nb201(REFERENCE, 4, &splits);
    let config = TrainConfig {
        epochs: 3,
        batch_size: 32,
        learning_rate: 0.05,
        ..TrainConfig::default()
    };
    let run = |threads: usize, seed: u64| {
        let c = TrainConfig {
            threads,
            ..config.clone()
        };
        train::train_flex(&net, &splits, &c, seed, &mut |_| {}).unwrap()
    };
    let a = run(1, 5);
    let b = run(1, 5);
    let c = run(2, 5);
    for other in [&b, &c] {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.train_loss), bits(&other.train_loss));
        assert_eq!(a.valid_accuracy.to_bits(), other.valid_accuracy.to_bits());
        assert_eq!(a.valid_loss.to_bits(), other.valid_loss.to_bits());
    }
    assert_eq!(a.train_loss.len(), 3);
    assert!(
        a.train_loss[2] < a.train_loss[0] - 0.1,
        "loss did not fall: {:?}",
        a.train_loss
    );
    assert_eq!(a.steps, 3 * (600 / 32));
    let other_seed = run(1, 6);
    assert_ne!(a.train_loss, other_seed.train_loss);
}

/// A linear classifier on raw pixels (one convolution whose kernel covers the image).
fn linear_model(shape: [usize; 3], classes: u32) -> Network {
    let [c, h, w] = shape.map(|v| v as u32);
    let mut b = NetworkBuilder::new();
    let x = b.input(Shape::new(c, h, w), "in").unwrap();
    let l = b
        .add(conv(classes, [h, w], 1, [0, 0], 1, 1, true), &[x], "linear")
        .unwrap();
    b.finish(l).unwrap()
}

fn small_conv_net(shape: [usize; 3], classes: u32) -> Network {
    let [c, h, w] = shape.map(|v| v as u32);
    let mut b = NetworkBuilder::new();
    let mut x = b.input(Shape::new(c, h, w), "in").unwrap();
    for (i, ch) in [16u32, 32].into_iter().enumerate() {
        x = b
            .add(
                conv(ch, [3, 3], 1, [1, 1], 1, 1, false),
                &[x],
                format!("c{i}"),
            )
            .unwrap();
        x = b.add(Op::BatchNorm { affine: true }, &[x], "bn").unwrap();
        x = b.add(Op::Relu, &[x], "r").unwrap();
        x = b
            .add(
                Op::MaxPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                },
                &[x],
                "p",
            )
            .unwrap();
    }
    let g = b.add(Op::GlobalAvgPool, &[x], "gap").unwrap();
    let l = b
        .add(
            Op::Linear {
                out_features: classes,
                bias: true,
            },
            &[g],
            "fc",
        )
        .unwrap();
    b.finish(l).unwrap()
}

#[test]
fn synthetic_data_separates_a_linear_model_from_a_small_conv_net() {
    let splits = tiny_splits(3000, 500, 0);
    let config = TrainConfig {
        epochs: 4,
        batch_size: 64,
        learning_rate: 0.05,
        threads: 2,
        ..TrainConfig::default()
    };
    let linear = linear_model(splits.train.shape, splits.classes());
    let small = small_conv_net(splits.train.shape, splits.classes());
    let acc = |net: &Network| {
        train::train_flex(net, &splits, &config, 0, &mut |_| {})
            .unwrap()
            .valid_accuracy
    };
    let (lin, conv) = (acc(&linear), acc(&small));
    eprintln!("synthetic: linear {lin:.1}%, small conv {conv:.1}%");
    assert!(
        lin > 10.0 + 5.0,
        "the linear model should beat chance: {lin}"
    );
    assert!(
        conv > lin + 10.0,
        "the conv net ({conv}%) should clearly beat the linear model ({lin}%)"
    );
}

#[test]
fn every_space_builds_and_trains_one_step_at_proxy_scale() {
    let splits = tiny_splits(24, 8, 2);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 8,
        eval_batch_size: 8,
        ..TrainConfig::default()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for (name, _) in BUILTIN {
        let base = AnySpace::builtin(name).unwrap();
        let knobs = Knobs {
            channels: Some(if name.starts_with("fbnet") { 8 } else { 4 }),
            cells: Some(1),
        };
        let space = base
            .with_knobs(&knobs)
            .with_io(splits.input(), splits.classes());
        for _ in 0..3 {
            let g = space.sample(&mut rng);
            let net = space.decode(&g).unwrap();
            let r = train::train_flex(&net, &splits, &config, 0, &mut |_| {})
                .unwrap_or_else(|e| panic!("{name} {}: {e}", space.format(&g).unwrap()));
            assert_eq!(r.steps, 2, "{name}");
            assert!(r.train_loss[0].is_finite(), "{name}");
        }
    }
}

#[test]
fn failures_are_reasons_not_crashes() {
    let splits = tiny_splits(200, 40, 3);
    let net = nb201(REFERENCE, 4, &splits);
    // A learning rate that blows up: recorded as divergence.
    let wild = TrainConfig {
        learning_rate: 1e12,
        epochs: 2,
        batch_size: 16,
        ..TrainConfig::default()
    };
    let e = train::train_flex(&net, &splits, &wild, 0, &mut |_| {}).unwrap_err();
    assert!(matches!(e, TrainError::Diverged { .. }), "{e}");
    assert!(e.to_string().contains("diverged"), "{e}");
    // Over the memory limit.
    let small = TrainConfig {
        max_memory_mb: 1,
        ..TrainConfig::default()
    };
    let e = train::train_flex(&net, &splits, &small, 0, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("memory limit"), "{e}");
    // Images of the wrong shape for the network.
    let mnist_like = nb201(REFERENCE, 4, &splits);
    let other = {
        let mut s = splits.clone();
        s.train.shape = [1, 28, 28];
        s
    };
    let e = train::train_flex(&mnist_like, &other, &TrainConfig::default(), 0, &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, TrainError::Input { .. }), "{e}");
    // A panic inside a run is caught and returned with its message.
    let e = guarded::<()>(1, || panic!("backend exploded")).unwrap_err();
    assert_eq!(e, TrainError::Panic("backend exploded".into()));
    // A network that does not end in class scores.
    let mut b = NetworkBuilder::new();
    let x = b.input(Shape::new(3, 32, 32), "in").unwrap();
    let o = x;
    let e = train::train_flex(
        &b.finish(o).unwrap(),
        &splits,
        &TrainConfig::default(),
        0,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("classes x 1 x 1"), "{e}");
}

#[test]
fn adam_and_label_smoothing_train_too() {
    let splits = tiny_splits(400, 80, 4);
    let net = nb201(REFERENCE, 4, &splits);
    let config = TrainConfig {
        optimizer: evonas::eval::train::config::OptimizerKind::Adam,
        learning_rate: 0.003,
        label_smoothing: 0.1,
        warmup_epochs: 0.5,
        epochs: 3,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let r = train::train_flex(&net, &splits, &config, 0, &mut |_| {}).unwrap();
    assert!(r.train_loss[2] < r.train_loss[0], "{:?}", r.train_loss);
}

#[test]
fn a_parameter_step_moves_weights_against_the_gradient() {
    // Plain SGD (no momentum, no decay): w' = w - lr * g exactly.
    let mut b = BurnFlex::new(OptimizerSpec::Sgd {
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    });
    let net = probe_net(|_, x| x);
    let model = Model::build(&net, &mut b, 1).unwrap();
    let (x, t) = probe_input(2);
    let grad = {
        let input = b.tensor(x.clone(), [2, 2, 6, 6]);
        let logits = model.forward(&mut b, input, true).unwrap();
        let t = b.tensor(t.clone(), [2, t.len() / 2, 1, 1]);
        let loss = b.cross_entropy(logits, t);
        b.gradients(loss)
    };
    let before: Vec<Vec<f32>> = b.params().iter().map(|p| b.param_values(*p)).collect();
    let input = b.tensor(x, [2, 2, 6, 6]);
    let logits = model.forward(&mut b, input, true).unwrap();
    let t = b.tensor(t.clone(), [2, t.len() / 2, 1, 1]);
    let loss = b.cross_entropy(logits, t);
    b.step(loss, 0.5);
    for (i, p) in b.params().into_iter().enumerate() {
        let after = b.param_values(p);
        for ((a, w), g) in after.iter().zip(&before[i]).zip(&grad[i]) {
            assert!((a - (w - 0.5 * g)).abs() < 1e-6, "param {i}");
        }
    }
}

#[test]
fn the_synthetic_test_split_is_separate_and_optional() {
    let config = TrainConfig {
        synthetic_images: 300,
        valid_size: 50,
        test: true,
        synthetic_test_images: 60,
        ..TrainConfig::default()
    };
    let s = Splits::load(&config).unwrap();
    assert_eq!((s.train.len(), s.valid.len()), (250, 50));
    let test = s.test.as_ref().unwrap();
    assert_eq!(test.len(), 60);
    assert_ne!(
        test.pixels[..3072],
        synthetic::generate(300, 0).pixels[..3072]
    );
    // The digest covers the test split: asking for it changes the protocol.
    let without = Splits::load(&TrainConfig {
        test: false,
        ..config
    })
    .unwrap();
    assert_ne!(s.digest, without.digest);
}

/// A tiny training campaign (tests of other modules build theirs from it).
pub(crate) const CAMPAIGN: &str = r#"
name = "tiny"
space = "nb201"
seed = 3
[knobs]
channels = 4
cells = 1
[strategy]
kind = "regularized-evolution"
population = 3
sample = 2
[budget]
evaluations = 5
[evaluator]
kind = "train"
synthetic_images = 300
valid_size = 60
epochs = 1
batch_size = 32
[parallel]
round_size = 2
threads = THREADS
"#;

#[test]
fn a_training_campaign_is_reproducible_records_curves_and_retrains() {
    let dir = tempdir();
    let mut digests = Vec::new();
    for threads in ["1", "2"] {
        let cfg = write(
            &dir,
            &format!("c{threads}.toml"),
            &CAMPAIGN.replace("THREADS", threads),
        );
        let store = dir.path().join(format!("store{threads}"));
        let out = evonas(
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
        assert!(out.contains("best fitness"), "{out}");
        let st = status(&store, "tiny");
        assert_eq!(st["evaluations"], 5);
        assert!(st["best"]["metrics"]["valid_accuracy"].as_f64().unwrap() > 0.0);
        // The best figure says it comes from one epoch of training.
        assert_eq!(st["best"]["fidelity"], "1 epoch", "{st}");
        digests.push((st["history_digest"].clone(), st["best"]["fitness"].clone()));
    }
    assert_eq!(digests[0], digests[1], "thread count changed the campaign");
    // The cache holds the loss curve of every trained function.
    let store = dir.path().join("store1");
    let dump = evonas(
        &["cache", "export", "--store", store.to_str().unwrap()],
        None,
    )
    .ok();
    let first: serde_json::Value = serde_json::from_str(dump.lines().next().unwrap()).unwrap();
    // ...and where it was measured: CPU model, instruction set, library.
    let machine = &first["record"]["machine"];
    assert_eq!(machine["library"], "burn-flex 0.22.1", "{first}");
    assert!(!machine["cpu"].as_str().unwrap_or("").is_empty(), "{first}");
    assert_eq!(
        first["record"]["curves"]["train_loss"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{first}"
    );
    // Exported documents carry the fidelity of their figures.
    let docs = evonas(
        &[
            "export",
            "tiny",
            "--store",
            store.to_str().unwrap(),
            "--top",
            "1",
        ],
        None,
    )
    .ok();
    let docs: serde_json::Value = serde_json::from_str(&docs).unwrap();
    assert_eq!(
        docs[0]["result"]["fidelity"],
        serde_json::json!({"kind": "epochs", "epochs": 1}),
        "{docs}"
    );
    assert_eq!(
        docs[0]["result"]["provenance"]["machine"]["library"], "burn-flex 0.22.1",
        "{docs}"
    );
    // Retraining the best two reports test accuracy on the held-out split.
    let out = evonas(
        &[
            "retrain",
            "tiny",
            "--store",
            store.to_str().unwrap(),
            "--top",
            "2",
            "--epochs",
            "1",
            "--json",
            "-q",
        ],
        None,
    )
    .ok();
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let t = r["result"]["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&t), "{r}");
    }
    assert!(rows[0]["search_fitness"].as_f64() >= rows[1]["search_fitness"].as_f64());
}

#[test]
fn train_command_trains_a_document_and_rejects_bad_protocols() {
    let dir = tempdir();
    let doc = evonas(&["sample", "--space", "nb201", "--seed", "1"], None).ok();
    let arch = write(&dir, "arch.json", &doc);
    let cfg = write(
        &dir,
        "p.toml",
        "[knobs]\nchannels = 4\ncells = 1\n[evaluator]\nkind = \"train\"\nsynthetic_images = 200\nvalid_size = 50\nepochs = 2\nbatch_size = 25\n",
    );
    let run = || -> serde_json::Value {
        let args = [
            "train",
            "--arch",
            arch.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "-q",
            "--test",
        ];
        serde_json::from_str(&evonas(&args, None).ok()).unwrap()
    };
    let v = run();
    assert_eq!(v["record"]["train_loss"].as_array().unwrap().len(), 2);
    assert_eq!(v["record"]["steps"], 12);
    assert!(v["record"]["test_accuracy"].as_f64().is_some());
    assert_eq!(v["protocol"]["backend"], "burn-flex");
    // Same seed, same result.
    let w = run();
    assert_eq!(v["record"]["train_loss"], w["record"]["train_loss"]);

    let bad = [
        (
            "[evaluator]\nkind = \"nb201-table\"\npath = \"x\"\n",
            "kind = \"train\"",
        ),
        ("[evaluator]\nkind = \"train\"\nepoch = 3\n", "epoch"),
        (
            "[evaluator]\nkind = \"train\"\nlearning_rate = -1.0\n",
            "learning_rate",
        ),
        (
            "[evaluator]\nkind = \"train\"\ndata = \"cifar10\"\npath = \"/nonexistent/cifar\"\n",
            "/nonexistent/cifar/data_batch_1.bin",
        ),
        (
            "[evaluator]\nkind = \"train\"\ndata = \"idx\"\n",
            "needs `path`",
        ),
        ("[evaluator\n", "p.toml"),
    ];
    for (text, expect) in bad {
        let p = write(&dir, "p.toml", text);
        let err = evonas(
            &[
                "train",
                "--arch",
                arch.to_str().unwrap(),
                "--config",
                p.to_str().unwrap(),
            ],
            None,
        )
        .fails();
        assert!(err.contains(expect), "{text}: {err}");
    }
    // retrain on a campaign that does not train.
    let err = evonas(
        &[
            "retrain",
            "nothing",
            "--epochs",
            "1",
            "--store",
            dir.path().join("none").to_str().unwrap(),
        ],
        None,
    )
    .fails();
    assert!(err.contains("no store"), "{err}");
}

#[test]
fn the_quickstart_config_is_valid_and_trains_on_synthetic_data() {
    let c =
        evonas::search::CampaignConfig::parse(evonas::search::config::QUICKSTART, "<quickstart>")
            .unwrap();
    let t: TrainConfig = c.evaluator.decode("train").unwrap();
    assert_eq!(t.data, evonas::eval::train::config::DataFormat::Synthetic);
}

#[test]
fn documents_decoded_for_other_data_read_back() {
    // A Fashion-MNIST-shaped network (28x28x1, 10 classes) and a 100-class one: their
    // documents name the genotype, and reading them back must decode for the same input.
    let space = AnySpace::builtin("nasnet").unwrap();
    let knobs = Knobs {
        channels: Some(4),
        cells: Some(1),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for (input, classes) in [([1, 28, 28], 10), ([3, 32, 32], 100)] {
        let s = space.with_knobs(&knobs).with_io(input, classes);
        let g = s.sample(&mut rng);
        let doc = evonas::space::ArchDocument::new(&s, knobs, &g).unwrap();
        let parsed = evonas::space::input::parse(&doc.to_json_line(), None).unwrap();
        assert_eq!(parsed.genotype.as_ref(), Some(&g));
        assert_eq!(parsed.network.output_shape().channels, classes);
    }
}

#[test]
fn protocol_checks_name_the_key() {
    for (bad, key) in [
        (
            TrainConfig {
                train_size: Some(0),
                ..TrainConfig::default()
            },
            "train_size",
        ),
        (
            TrainConfig {
                adam_epsilon: -1.0,
                ..TrainConfig::default()
            },
            "adam_epsilon",
        ),
        (
            TrainConfig {
                warmup_epochs: 9.0,
                ..TrainConfig::default()
            },
            "warmup_epochs",
        ),
        (
            TrainConfig {
                label_smoothing: 1.0,
                ..TrainConfig::default()
            },
            "label_smoothing",
        ),
        (
            TrainConfig {
                test: true,
                synthetic_test_images: 0,
                ..TrainConfig::default()
            },
            "synthetic_test_images",
        ),
    ] {
        let e = bad.check().unwrap_err();
        assert!(
            matches!(e, evonas::eval::registry::SettingsError::Invalid { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains(key), "{e}");
    }
    // A network scoring 3 classes on 10-class data is refused with the reason.
    let splits = tiny_splits(100, 20, 5);
    let net = probe_net(|_, x| x);
    let e = train::train_flex(&net, &splits, &TrainConfig::default(), 0, &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, TrainError::Input { .. } | TrainError::Classes { .. }),
        "{e}"
    );
}

/// `evonas search` on CAMPAIGN with `extra` added to its [evaluator]: the error it fails with.
fn search_fails_with(extra: &str) -> String {
    let dir = tempdir();
    let text = CAMPAIGN
        .replace("THREADS", "1")
        .replace("batch_size = 32", &format!("batch_size = 32\n{extra}"));
    let cfg = write(&dir, "c.toml", &text);
    let store = dir.path().join("store");
    let args = [
        "search",
        "--config",
        cfg.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ];
    evonas(&args, None).fails()
}

#[cfg(not(feature = "tch"))]
#[test]
fn backend_tch_without_the_feature_says_how_to_build_it() {
    let err = search_fails_with("backend = \"tch\"");
    assert!(err.contains("scripts/libtorch.sh"), "{err}");
    assert!(err.contains("--features tch"), "{err}");
}

#[test]
fn burn_flex_refuses_gpu_only_settings_by_name() {
    for (extra, key) in [
        ("device = \"cuda:0\"", "device"),
        ("precision = \"bf16\"", "precision"),
        ("channels_last = true", "channels_last"),
    ] {
        let err = search_fails_with(extra);
        assert!(
            err.contains(key) && err.contains("burn-flex"),
            "{extra}: {err}"
        );
    }
}
