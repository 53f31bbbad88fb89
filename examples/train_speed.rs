//! Trainer throughput on the reference NB-201 network (C = 16, N = 1, batch 64, 32x32), in
//! images per second of forward + backward + SGD step on one fixed batch: burn-flex, tch (when
//! built with `--features tch`) and, when PyTorch is importable, PyTorch eager on the same
//! network, in one run, for each thread count, alternating the backends round after round (the
//! median is reported with the spread, since this machine's CPU time is noisy).
//!
//! ```text
//! cargo run --release --example train_speed -- [--threads 1,2] [--steps S] [--rounds R] [--python PATH]
//! scripts/libtorch.sh run --release --example train_speed -- --threads 1,2      # with tch-CPU
//! train_speed --device cuda --precision bf16 --backends tch,pytorch             # on a GPU
//! train_speed --device cuda --losses 5      # first 5 step losses, CPU vs the device (tch)
//! ```
//!
//! `--device` (tch and PyTorch: `cpu`, `cuda`, `cuda:N`), `--precision fp32|bf16` (PyTorch:
//! autocast), `--channels-last`, `--backends` (any of `flex,tch,pytorch`), `--batch`.
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

/// Images per second of `steps` training steps after 3 warm-up steps, on `b`, with the
/// batch made once (as the PyTorch side does), and the losses of the first steps.
fn measure<B: Backend>(
    b: &mut B,
    net: &Network,
    steps: usize,
    batch: usize,
) -> anyhow::Result<(f64, Vec<f32>)> {
    let model = Model::build(net, b, 0)?;
    let x: Vec<f32> = (0..batch * 3 * 32 * 32)
        .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
        .collect();
    let mut targets = vec![0f32; batch * 10];
    for i in 0..batch {
        targets[i * 10 + (i * 3) % 10] = 1.0;
    }
    let input = b.tensor(x, [batch, 3, 32, 32]);
    let t = b.tensor(targets, [batch, 10, 1, 1]);
    let warmup = 3;
    let mut start = Instant::now();
    let mut losses = Vec::new();
    for i in 0..warmup + steps {
        if i == warmup {
            // Waits for the warm-up steps (a no-op on the CPU).
            let _ = b.read_losses(std::mem::take(&mut losses));
            start = Instant::now();
        }
        b.track_gradients(true);
        let logits = model.forward(b, b.input(input.clone()), true)?;
        let loss = b.cross_entropy(logits, t.clone());
        losses.push(b.keep_loss(&loss));
        b.step(loss, 0.05);
    }
    // Reading the losses waits for every queued step.
    let values = b.read_losses(losses);
    Ok((
        (batch * steps) as f64 / start.elapsed().as_secs_f64(),
        values,
    ))
}

/// What to measure.
struct Options {
    steps: usize,
    batch: usize,
    device: String,
    bf16: bool,
    channels_last: bool,
}

fn flex(net: &Network, threads: usize, o: &Options) -> anyhow::Result<f64> {
    Ok(guarded(threads, || {
        let mut b = BurnFlex::new(SGD);
        measure(&mut b, net, o.steps, o.batch)
            .map(|r| r.0)
            .map_err(|e| evonas::eval::train::TrainError::Panic(e.to_string()))
    })?)
}

#[cfg(feature = "tch")]
fn tch_on(
    net: &Network,
    threads: usize,
    o: &Options,
    device: &str,
) -> anyhow::Result<(f64, Vec<f32>)> {
    use evonas::eval::train::config::DeviceSpec;
    use evonas::eval::train::torch::{runtime, set_kernels, Precision, Tch, TchOptions};
    let spec: DeviceSpec = device.parse().map_err(anyhow::Error::msg)?;
    let device = runtime::resolve(spec)?;
    tch::set_num_threads(threads as i32);
    set_kernels(device.is_cuda(), false);
    let mut b = Tch::new(
        SGD,
        TchOptions {
            device,
            precision: if o.bf16 {
                Precision::Bf16
            } else {
                Precision::Fp32
            },
            channels_last: o.channels_last,
        },
    );
    measure(&mut b, net, o.steps, o.batch)
}

#[cfg(not(feature = "tch"))]
fn tch_on(_: &Network, _: usize, _: &Options, _: &str) -> anyhow::Result<(f64, Vec<f32>)> {
    anyhow::bail!(
        "this build has no tch backend (scripts/libtorch.sh run --release --example train_speed)"
    )
}

/// PyTorch eager on the exported module; None (with the reason printed) when it cannot run.
fn pytorch(
    python: &str,
    module: &std::path::Path,
    threads: usize,
    o: &Options,
) -> Option<(f64, String)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/train_speed/torch_ref.py"
    );
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg("--module")
        .arg(module)
        .args([
            "--batch",
            &o.batch.to_string(),
            "--steps",
            &o.steps.to_string(),
        ])
        .args(["--threads", &threads.to_string(), "--device", &o.device]);
    if o.bf16 {
        cmd.arg("--bf16");
    }
    if o.channels_last {
        cmd.arg("--channels-last");
    }
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "PyTorch: not usable with {python} ({})",
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
        "  {name:<22} {m:9.1} img/s  (median of {}, spread {spread:.0}%){ratio}",
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
    let rounds: usize = arg("--rounds").map_or(Ok(3), |s| s.parse())?;
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    let flag = |name: &str| std::env::args().any(|a| a == name);
    let o = Options {
        steps: arg("--steps").map_or(Ok(20), |s| s.parse())?,
        batch: arg("--batch").map_or(Ok(BATCH), |s| s.parse())?,
        device: arg("--device").unwrap_or_else(|| "cpu".into()),
        bf16: match arg("--precision").as_deref() {
            None | Some("fp32") => false,
            Some("bf16") => true,
            Some(p) => anyhow::bail!("--precision {p:?}: fp32 or bf16"),
        },
        channels_last: flag("--channels-last"),
    };
    let default_backends = if cfg!(feature = "tch") {
        "flex,tch,pytorch"
    } else {
        "flex,pytorch"
    };
    let backends = arg("--backends").unwrap_or_else(|| default_backends.into());
    let on = |b: &str| backends.split(',').any(|x| x == b);
    let knobs = Knobs {
        channels: Some(16),
        cells: Some(1),
    };
    let space = AnySpace::builtin("nb201")?.with_knobs(&knobs);
    let g = space.parse(REFERENCE)?;
    let net = space.decode(&g)?;
    let params = evonas::ir::cost(&net).params;
    if let Some(n) = arg("--losses") {
        // The first N step losses of tch on the CPU and on --device, from the same weights.
        let n: usize = n.parse()?;
        let short = Options { steps: n, ..o };
        let (_, cpu) = tch_on(&net, threads[0], &short, "cpu")?;
        let (_, dev) = tch_on(&net, threads[0], &short, &short.device)?;
        // The 3 warm-up steps come first.
        let (cpu, dev) = (&cpu[cpu.len() - n..], &dev[dev.len() - n..]);
        let worst = cpu
            .iter()
            .zip(dev)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("first {n} losses after 3 warm-up steps, tch cpu:    {cpu:?}");
        println!(
            "first {n} losses after 3 warm-up steps, tch {}: {dev:?}",
            short.device
        );
        println!("largest difference: {worst:.3e}");
        return Ok(());
    }
    let doc = ArchDocument::new(&space, knobs, &g)?;
    let module = std::env::temp_dir().join(format!("evonas_train_speed_{}.py", std::process::id()));
    std::fs::write(&module, evonas::export::pytorch::render(&[doc]))?;
    println!(
        "reference NB-201 network (C=16, N=1, {params} params), batch {}, {} steps, {rounds} rounds, device {}, {}{}",
        o.batch,
        o.steps,
        o.device,
        if o.bf16 { "bf16" } else { "fp32" },
        if o.channels_last { ", channels last" } else { "" }
    );
    let mut torch_ok = on("pytorch");
    let mut torch_version = String::new();
    for &t in &threads {
        let (mut f, mut c, mut p) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            if on("flex") && o.device == "cpu" && !o.bf16 && !o.channels_last {
                f.push(flex(&net, t, &o)?);
            }
            if on("tch") {
                c.push(tch_on(&net, t, &o, &o.device)?.0);
            }
            if torch_ok {
                match pytorch(&python, &module, t, &o) {
                    Some((v, version)) => {
                        p.push(v);
                        torch_version = version;
                    }
                    None => torch_ok = false,
                }
            }
        }
        println!("{t} thread(s):");
        let base = show(&format!("PyTorch {torch_version} eager"), &mut p, None);
        show("evonas tch", &mut c, base);
        show("evonas burn-flex", &mut f, base);
    }
    let _ = std::fs::remove_file(&module);
    Ok(())
}
