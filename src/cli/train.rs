//! `evonas train`: one architecture trained outside a campaign, under a campaign config's
//! protocol or the quickstart's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Deserialize;

use evonas::eval::train::{self, TrainConfig};
use evonas::ir::cost;
use evonas::search::config::QUICKSTART;
use evonas::space::{AnySpace, Knobs};

use super::args::TrainArgs;
use super::input::read_first_architecture;
use super::overrides::{self, knobs_over, Overrides};
use super::training::{load_splits, train_net, Bars};

/// `evonas train`: the protocol as it will run, flags applied; the architecture is read
/// when it runs.
pub struct Request {
    /// The protocol with the flags applied, checked.
    config: TrainConfig,
    /// The config's knobs with the knob flags over them; a document's own knobs fill in the
    /// rest.
    knobs: Knobs,
    /// For a genotype in native notation.
    space: Option<AnySpace>,
    arch: PathBuf,
    quiet: bool,
}

impl Request {
    pub fn new(a: TrainArgs) -> anyhow::Result<Self> {
        let flags = Overrides {
            seed: a.seed,
            epochs: a.epochs,
            threads: a.threads,
            test: a.test,
            knobs: overrides::knobs(a.knobs)?,
            ..Overrides::default()
        };
        let (mut config, file_knobs) = match &a.config {
            Some(p) => {
                let text = evonas::limits::read_text(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                let (mut c, k) = protocol_from(&text, &p.display().to_string())?;
                c.resolve_relative_to(p.parent().unwrap_or(Path::new(".")));
                (c, k)
            }
            // The quickstart's protocol, but not its proxy knobs: a document keeps its own size.
            None => (
                protocol_from(QUICKSTART, "<quickstart>")?.0,
                Knobs::default(),
            ),
        };
        flags.apply_to_training(&mut config);
        config.check().map_err(anyhow::Error::msg)?;
        Ok(Request {
            config,
            knobs: flags.apply_to_knobs(file_knobs),
            space: a.space.as_deref().map(AnySpace::load).transpose()?,
            arch: a.arch,
            quiet: a.quiet,
        })
    }
}

/// The parts of a campaign config `train` reads; other keys are ignored.
#[derive(Deserialize)]
struct ProtocolFile {
    #[serde(default)]
    knobs: Knobs,
    evaluator: toml::Value,
}

/// The training protocol and knobs of campaign config `text` (read from `origin`).
fn protocol_from(text: &str, origin: &str) -> anyhow::Result<(TrainConfig, Knobs)> {
    let file: ProtocolFile =
        toml::from_str(text).with_context(|| format!("{origin}: not a campaign config"))?;
    let mut table = match file.evaluator {
        toml::Value::Table(t) => t,
        _ => bail!("{origin}: [evaluator] must be a table"),
    };
    match table.remove("kind").as_ref().and_then(|k| k.as_str()) {
        Some("train") => {}
        other => bail!(
            "{origin}: [evaluator] kind is {}, `evonas train` needs kind = \"train\"",
            other.map_or("missing".to_string(), |k| format!("{k:?}"))
        ),
    }
    let config: TrainConfig = toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("{origin}: [evaluator]"))?;
    Ok((config, file.knobs))
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let parsed = read_first_architecture(&r.arch, r.space.as_ref())?;
    let (trainer, splits) = load_splits(&r.config, r.quiet)?;
    let knobs = knobs_over(parsed.knobs, r.knobs);
    let (net, name) = match (&parsed.space, &parsed.genotype) {
        (Some(s), Some(g)) => {
            let s = s
                .with_knobs(&knobs)
                .with_io(splits.input(), splits.classes());
            (s.decode(g)?, s.format(g)?)
        }
        _ => (parsed.network.clone(), "(network)".to_string()),
    };
    let c = cost(&net);
    let config = &r.config;
    if !r.quiet {
        eprintln!(
            "training {name}: {} params, {:.2} M FLOPs, {} training / {} validation images, {} epochs",
            c.params,
            c.flops as f64 / 1e6,
            splits.train.len(),
            splits.valid.len(),
            config.epochs
        );
    }
    let mut bars = Bars::new(r.quiet, String::new());
    match train_net(&trainer, &net, &splits, config, config.seed, &mut bars) {
        Ok(report) => {
            let out = serde_json::json!({
                "architecture": name,
                "params": c.params,
                "flops": c.flops,
                "seed": config.seed,
                "protocol": train::TrainEvaluator::protocol_for(config, &splits, &trainer).description,
                "machine": trainer.machine(),
                "record": report,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        // The failure is the command's result (e.g. a diverged run), not a usage error.
        Err(e) => {
            eprintln!("error: training failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
