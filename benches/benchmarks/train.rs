//! Trainer throughput on the reference NB-201 network (C = 16, N = 1, batch 64, 32x32):
//! `train/step-nb201-ref` is one forward + backward + SGD step on burn-flex, one thread, in
//! images per second; `train/step-nb201-ref-tch` the same on tch-CPU (built with `--features
//! tch`: `scripts/libtorch.sh bench -- train/`). The ratio against PyTorch is measured by `examples/train_speed`, which
//! runs both in the same process tree (`experiments/train_speed/README.md`).

use criterion::{criterion_group, Criterion, Throughput};
use evonas::eval::train::backend::{Backend, OptimizerSpec};
use evonas::eval::train::{BurnFlex, Model};
use evonas::space::{AnySpace, Knobs};

const REFERENCE: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

/// The reference NB-201 network (C = 16, N = 1).
fn reference() -> evonas::ir::Network {
    let space = AnySpace::builtin("nb201")
        .expect("built-in space")
        .with_knobs(&Knobs {
            channels: Some(16),
            cells: Some(1),
        });
    space
        .decode(&space.parse(REFERENCE).expect("reference cell"))
        .expect("decodes")
}

fn step(c: &mut Criterion) {
    let batch = 64;
    let net = reference();
    let x: Vec<f32> = (0..batch * 3 * 32 * 32)
        .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
        .collect();
    let mut targets = vec![0f32; batch * 10];
    for i in 0..batch {
        targets[i * 10 + (i * 3) % 10] = 1.0;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("one thread");
    let mut b = BurnFlex::new(OptimizerSpec::Sgd {
        momentum: 0.9,
        nesterov: true,
        weight_decay: 5e-4,
    });
    let model = Model::build(&net, &mut b, 0).expect("builds");
    let mut g = c.benchmark_group("train");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function("step-nb201-ref", |bench| {
        bench.iter(|| {
            pool.install(|| {
                let input = b.tensor(x.clone(), [batch, 3, 32, 32]);
                let logits = model.forward(&mut b, input, true).expect("no memory limit");
                let t = b.tensor(targets.clone(), [batch, 10, 1, 1]);
                let loss = b.cross_entropy(logits, t);
                b.step(loss, 0.05);
            })
        })
    });
    g.finish();
}

#[cfg(feature = "tch")]
fn step_tch(c: &mut Criterion) {
    use evonas::eval::train::torch::{Precision, Tch, TchOptions};
    let batch = 64;
    let net = reference();
    let x: Vec<f32> = (0..batch * 3 * 32 * 32)
        .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
        .collect();
    let targets: Vec<f32> = (0..batch * 10)
        .map(|i| f32::from(u8::from(i % 10 == (i / 10 * 3) % 10)))
        .collect();
    tch::set_num_threads(1);
    let mut b = Tch::new(
        OptimizerSpec::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
        },
        TchOptions {
            device: tch::Device::Cpu,
            precision: Precision::Fp32,
            channels_last: false,
        },
    );
    let model = Model::build(&net, &mut b, 0).expect("builds");
    let input = b.tensor(x, [batch, 3, 32, 32]);
    let t = b.tensor(targets, [batch, 10, 1, 1]);
    let mut g = c.benchmark_group("train");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function("step-nb201-ref-tch", |bench| {
        bench.iter(|| {
            let logits = model
                .forward(&mut b, input.clone(), true)
                .expect("no memory limit");
            let loss = b.cross_entropy(logits, t.clone());
            b.step(loss, 0.05);
        })
    });
    g.finish();
}

#[cfg(not(feature = "tch"))]
criterion_group!(benches, step);
#[cfg(feature = "tch")]
criterion_group!(benches, step, step_tch);
