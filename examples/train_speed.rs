//! Trainer throughput on the reference NB-201 network (C = 16, N = 1, batch 64, 32x32), in
//! images per second of forward + backward + SGD step: burn-flex, tch-CPU (when built with
//! `--features tch`) and, when PyTorch is importable, PyTorch eager on the same network, in one
//! run, for each thread count, alternating the backends round after round (the median is
//! reported with the spread, since this machine's CPU time is noisy).
//!
//! ```text
//! cargo run --release --example train_speed -- [--threads 1,2] [--steps S] [--rounds R] [--python PATH]
//! scripts/libtorch.sh run --example train_speed -- --threads 1,2   # with tch
//! ```
//!
//! The PyTorch side is `experiments/train_speed/torch_ref.py` running evonas' own PyTorch
//! export of the same architecture document, so every side trains exactly the same graph.

use std::process::{Command, Stdio};
use std::time::Instant;

use evonas::eval::train::backend::{Backend, OptimizerSpec};
use evonas::eval::train::{guarded, BurnFlex, Model};
use evonas::ir::Network;
use evonas::space::{AnySpace, ArchDocument, Knobs};

const REFERENCE: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
const BATCH: usize = 64;
const SGD: OptimizerSpec = OptimizerSpec::Sgd {
    momentum: 0.9,
    nesterov: true,
    weight_decay: 5e-4,
};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Images per second of `steps` training steps after 3 warm-up steps, on `b`.
fn measure<B: Backend>(b: &mut B, net: &Network, steps: usize) -> anyhow::Result<f64> {
    let model = Model::build(net, b, 0)?;
    let x: Vec<f32> = (0..BATCH * 3 * 32 * 32)
        .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
        .collect();
    let mut targets = vec![0f32; BATCH * 10];
    for i in 0..BATCH {
        targets[i * 10 + (i * 3) % 10] = 1.0;
    }
    let warmup = 3;
    let mut start = Instant::now();
    let mut last = Vec::new();
    for i in 0..warmup + steps {
        if i == warmup {
            start = Instant::now();
        }
        let input = b.tensor(x.clone(), [BATCH, 3, 32, 32]);
        let t = b.tensor(targets.clone(), [BATCH, 10, 1, 1]);
        let logits = model.forward(b, input, true)?;
        let loss = b.cross_entropy(logits, t);
        last.push(b.keep_loss(&loss));
        b.step(loss, 0.05);
    }
    // Reading the losses waits for every queued step (a no-op on the CPU).
    let _ = b.read_losses(last);
    Ok((BATCH * steps) as f64 / start.elapsed().as_secs_f64())
}

fn flex(net: &Network, threads: usize, steps: usize) -> anyhow::Result<f64> {
    Ok(guarded(threads, || {
        let mut b = BurnFlex::new(SGD);
        measure(&mut b, net, steps)
            .map_err(|e| evonas::eval::train::TrainError::Panic(e.to_string()))
    })?)
}

#[cfg(feature = "tch")]
fn tch_cpu(net: &Network, threads: usize, steps: usize) -> anyhow::Result<Option<f64>> {
    use evonas::eval::train::torch::{Compute, Tch, TchOptions};
    tch::set_num_threads(threads as i32);
    let mut b = Tch::new(
        SGD,
        TchOptions {
            device: tch::Device::Cpu,
            compute: Compute::Fp32,
            channels_last: false,
        },
    );
    Ok(Some(measure(&mut b, net, steps)?))
}

#[cfg(not(feature = "tch"))]
fn tch_cpu(_: &Network, _: usize, _: usize) -> anyhow::Result<Option<f64>> {
    Ok(None)
}

/// PyTorch eager on the exported module; None (with the reason printed once) when it cannot run.
fn pytorch(
    python: &str,
    module: &std::path::Path,
    threads: usize,
    steps: usize,
) -> Option<(f64, String)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/train_speed/torch_ref.py"
    );
    let out = Command::new(python)
        .arg(script)
        .arg("--module")
        .arg(module)
        .args(["--batch", &BATCH.to_string(), "--steps", &steps.to_string()])
        .args(["--threads", &threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "PyTorch: not importable with {python} ({})",
            err.lines().last().unwrap_or("").trim()
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        v["images_per_second"].as_f64()?,
        v["torch"].as_str().unwrap_or("?").to_string(),
    ))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn show(name: &str, v: &mut [f64], base: Option<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let m = median(v);
    let spread = (v[v.len() - 1] - v[0]) / m * 100.0;
    let ratio = base.map_or(String::new(), |b| format!("  {:.2}x PyTorch", m / b));
    println!(
        "  {name:<10} {m:8.1} img/s  (median of {}, spread {spread:.0}%){ratio}",
        v.len()
    );
    Some(m)
}

fn main() -> anyhow::Result<()> {
    let threads: Vec<usize> = arg("--threads")
        .unwrap_or_else(|| "1".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let steps: usize = arg("--steps").map_or(Ok(20), |s| s.parse())?;
    let rounds: usize = arg("--rounds").map_or(Ok(3), |s| s.parse())?;
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    let knobs = Knobs {
        channels: Some(16),
        cells: Some(1),
    };
    let space = AnySpace::builtin("nb201")?.with_knobs(&knobs);
    let g = space.parse(REFERENCE)?;
    let net = space.decode(&g)?;
    let params = evonas::ir::cost(&net).params;
    let doc = ArchDocument::new(&space, knobs, &g)?;
    let module = std::env::temp_dir().join(format!("evonas_train_speed_{}.py", std::process::id()));
    std::fs::write(&module, evonas::export::pytorch::render(&[doc]))?;
    println!(
        "reference NB-201 network (C=16, N=1, {params} params), batch {BATCH}, {steps} steps, {rounds} rounds"
    );
    let mut torch_ok = true;
    let mut torch_version = String::new();
    for &t in &threads {
        let (mut f, mut c, mut p) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            f.push(flex(&net, t, steps)?);
            if let Some(v) = tch_cpu(&net, t, steps)? {
                c.push(v);
            }
            if torch_ok {
                match pytorch(&python, &module, t, steps) {
                    Some((v, version)) => {
                        p.push(v);
                        torch_version = version;
                    }
                    None => torch_ok = false,
                }
            }
        }
        println!("{t} thread(s):");
        let base = show(&format!("PyTorch {torch_version}"), &mut p, None);
        show("tch-CPU", &mut c, base);
        show("burn-flex", &mut f, base);
    }
    let _ = std::fs::remove_file(&module);
    Ok(())
}
