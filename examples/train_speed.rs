//! Trainer throughput on the reference NB-201 network (C = 16, N = 1, batch 64, 32x32), in
//! images per second of forward + backward + SGD step, and, when PyTorch is importable, the
//! same network in PyTorch in the same run, as a ratio.
//!
//! ```text
//! cargo run --release --example train_speed -- [--threads T] [--steps S] [--python PATH]
//! ```
//!
//! The PyTorch side is `experiments/train_speed/torch_ref.py` running evonas' own PyTorch
//! export of the same architecture document, so both train exactly the same graph.

use std::process::{Command, Stdio};
use std::time::Instant;

use evonas::eval::train::backend::{Backend, OptimizerSpec};
use evonas::eval::train::{guarded, BurnFlex, Model};
use evonas::space::{AnySpace, ArchDocument, Knobs};

const REFERENCE: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let threads: usize = arg("--threads").map_or(Ok(1), |s| s.parse())?;
    let steps: usize = arg("--steps").map_or(Ok(20), |s| s.parse())?;
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    let batch = 64;
    let knobs = Knobs {
        channels: Some(16),
        cells: Some(1),
    };
    let space = AnySpace::builtin("nb201")?.with_knobs(&knobs);
    let g = space.parse(REFERENCE)?;
    let net = space.decode(&g)?;
    let params = evonas::ir::cost(&net).params;
    // Fixed pseudo-random inputs and labels.
    let x: Vec<f32> = (0..batch * 3 * 32 * 32)
        .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
        .collect();
    let mut targets = vec![0f32; batch * 10];
    for i in 0..batch {
        targets[i * 10 + (i * 3) % 10] = 1.0;
    }
    let warmup = 3;
    let burn_ips = guarded(threads, || {
        let mut b = BurnFlex::new(OptimizerSpec::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
        });
        let model = Model::build(&net, &mut b, 0)?;
        let mut start = Instant::now();
        for i in 0..warmup + steps {
            if i == warmup {
                start = Instant::now();
            }
            let input = b.tensor(x.clone(), [batch, 3, 32, 32]);
            let logits = model.forward(&mut b, input, true)?;
            let loss = b.cross_entropy(logits, targets.clone());
            b.step(loss, 0.05);
        }
        Ok((batch * steps) as f64 / start.elapsed().as_secs_f64())
    })?;
    println!(
        "reference NB-201 network (C=16, N=1, {params} params), batch {batch}, {threads} thread(s), {steps} steps"
    );
    println!("burn-flex: {burn_ips:.1} img/s");
    // The PyTorch side trains evonas' own PyTorch export of the same document.
    let doc = ArchDocument::new(&space, knobs, &g)?;
    let module = std::env::temp_dir().join(format!("evonas_train_speed_{}.py", std::process::id()));
    std::fs::write(&module, evonas::export::pytorch::render(&[doc]))?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/train_speed/torch_ref.py"
    );
    let child = Command::new(&python)
        .arg(script)
        .arg("--module")
        .arg(&module)
        .args(["--batch", &batch.to_string(), "--steps", &steps.to_string()])
        .args(["--threads", &threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(child) = child else {
        println!("PyTorch: {python} not found; no ratio");
        return Ok(());
    };
    let out = child.wait_with_output()?;
    let _ = std::fs::remove_file(&module);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        println!(
            "PyTorch: not importable with {python} ({}); no ratio",
            err.lines().last().unwrap_or("").trim()
        );
        return Ok(());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let torch_ips = v["images_per_second"].as_f64().unwrap_or(f64::NAN);
    println!(
        "PyTorch {}: {torch_ips:.1} img/s ({} params)",
        v["torch"].as_str().unwrap_or("?"),
        v["params"]
    );
    println!("ratio burn-flex / PyTorch: {:.2}x", burn_ips / torch_ips);
    Ok(())
}
