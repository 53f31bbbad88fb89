//! `evonas train` and `evonas retrain`: training outside a campaign, with progress bars.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use evonas::eval::train::{self, Progress, Splits, TrainConfig, TrainReport};
use evonas::ir::{cost, Network};
use evonas::search::config::QUICKSTART;
use evonas::search::results::found;
use evonas::search::CampaignConfig;
use evonas::space::{AnySpace, Knobs};
use evonas::store::Store;

use super::{KnobArgs, StoreArgs};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Architecture: a document (e.g. from `evonas sample`) or a genotype in native notation
    /// (with --space); the first one in the file is trained. `-` reads stdin.
    #[arg(long, short)]
    arch: PathBuf,
    /// Space of a genotype in native notation.
    #[arg(long, short)]
    space: Option<String>,
    /// Campaign config whose [evaluator] and [knobs] give the protocol.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Epochs (overrides the protocol's).
    #[arg(long)]
    epochs: Option<u32>,
    /// Seed of initialisation and data order (overrides the protocol's).
    #[arg(long)]
    seed: Option<u64>,
    /// Also report accuracy on the test split.
    #[arg(long)]
    test: bool,
    /// Threads for this run (default: the protocol's).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    knobs: KnobArgs,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct RetrainArgs {
    /// Campaign name.
    name: String,
    /// How many of the best distinct functions to retrain.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Epochs of each retraining.
    #[arg(long)]
    epochs: u32,
    /// Training images (default: the campaign's whole training split).
    #[arg(long)]
    train_size: Option<usize>,
    /// Threads per training run (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Width/depth knobs for the retrained networks (default: the campaign's).
    #[command(flatten)]
    knobs: KnobArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

/// The parts of a campaign config `train` reads; other keys are ignored.
#[derive(Deserialize)]
struct ProtocolFile {
    #[serde(default)]
    knobs: Knobs,
    evaluator: toml::Value,
}

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

fn merge(base: Knobs, over: Knobs) -> Knobs {
    Knobs {
        channels: over.channels.or(base.channels),
        cells: over.cells.or(base.cells),
    }
}

/// A progress bar per epoch on a terminal, a line per epoch otherwise.
struct Bars {
    quiet: bool,
    tty: bool,
    bar: Option<ProgressBar>,
    label: String,
}

impl Bars {
    fn new(quiet: bool, label: String) -> Self {
        Bars {
            quiet,
            tty: std::io::stderr().is_terminal(),
            bar: None,
            label,
        }
    }

    fn update(&mut self, p: Progress) {
        if self.quiet {
            return;
        }
        if p.step == 1 {
            if let Some(b) = self.bar.take() {
                b.finish();
            }
            if self.tty {
                let b = ProgressBar::new(p.steps as u64);
                let style = ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, loss {msg} (ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                b.set_style(style);
                b.set_prefix(format!("{}epoch {}/{}", self.label, p.epoch, p.epochs));
                self.bar = Some(b);
            }
        }
        if let Some(b) = &self.bar {
            b.set_position(p.step as u64);
            b.set_message(format!("{:.4}", p.loss));
        }
        if p.step == p.steps && !self.tty {
            tracing::info!(
                "{}epoch {}/{}: mean training loss {:.4}",
                self.label,
                p.epoch,
                p.epochs,
                p.loss
            );
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

fn run(
    net: &Network,
    splits: &Splits,
    config: &TrainConfig,
    seed: u64,
    bars: &mut Bars,
) -> Result<TrainReport, train::TrainError> {
    let result = train::train_flex(net, splits, config, seed, &mut |p| bars.update(p));
    bars.finish();
    result
}

fn load_splits(config: &TrainConfig, quiet: bool) -> anyhow::Result<Splits> {
    if !quiet {
        eprintln!("loading data ({:?})...", config.data);
    }
    Splits::load(config).context("[evaluator] data")
}

pub fn train_one(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let (mut config, file_knobs) = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
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
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    if let Some(s) = a.seed {
        config.seed = s;
    }
    if let Some(t) = a.threads {
        config.threads = t;
    }
    config.test |= a.test;
    config.check().map_err(anyhow::Error::msg)?;
    let space = a.space.as_deref().map(AnySpace::load).transpose()?;
    let (text, origin) = super::read_input(Some(a.arch.clone()))?;
    let items = evonas::space::input::split(&text);
    let Some(first) = items.first() else {
        bail!("{origin}: no architecture found");
    };
    let parsed = evonas::space::input::parse(first, space.as_ref())
        .with_context(|| format!("{origin}: architecture 1"))?;
    let splits = load_splits(&config, a.quiet)?;
    let knobs = merge(merge(parsed.knobs, file_knobs), a.knobs.knobs()?);
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
    if !a.quiet {
        eprintln!(
            "training {name}: {} params, {:.2} M FLOPs, {} training / {} validation images, {} epochs",
            c.params,
            c.flops as f64 / 1e6,
            splits.train.len(),
            splits.valid.len(),
            config.epochs
        );
    }
    let mut bars = Bars::new(a.quiet, String::new());
    match run(&net, &splits, &config, config.seed, &mut bars) {
        Ok(r) => {
            let out = serde_json::json!({
                "architecture": name,
                "params": c.params,
                "flops": c.flops,
                "seed": config.seed,
                "protocol": train::TrainEvaluator::protocol_for(&config, &splits).description,
                "record": r,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: training failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn retrain(a: RetrainArgs) -> anyhow::Result<ExitCode> {
    if a.top == 0 || a.epochs == 0 {
        bail!("--top and --epochs must be at least 1");
    }
    let dir = &a.store.store;
    if !dir.exists() {
        bail!("no store at {} (pass --store DIR)", dir.display());
    }
    let store = Store::open_existing(dir)?;
    let Some(header) = store.campaign(&a.name)? else {
        let known: Vec<String> = store.campaigns()?.into_iter().map(|h| h.name).collect();
        let known = known.join(", ");
        bail!(
            "no campaign `{}` in store {}; known campaigns: {}",
            a.name,
            dir.display(),
            if known.is_empty() { "none" } else { &known }
        );
    };
    let cfg: CampaignConfig = serde_json::from_value(header.effective_config.clone())
        .with_context(|| format!("campaign `{}`: stored config", a.name))?;
    if cfg.evaluator.kind != "train" {
        bail!(
            "campaign `{}` does not train its candidates (its evaluator is {:?}); retrain needs [evaluator] kind = \"train\"",
            a.name,
            cfg.evaluator.kind
        );
    }
    let mut config: TrainConfig = cfg
        .evaluator
        .decode("train")
        .map_err(|e| anyhow::anyhow!("campaign `{}`: stored config: [evaluator] {e}", a.name))?;
    let best = found(&store, &a.name)?;
    drop(store);
    if best.is_empty() {
        bail!("campaign `{}` has no scored architectures yet", a.name);
    }
    config.epochs = a.epochs;
    config.train_size = a.train_size;
    config.threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    config.test = true;
    config.warmup_epochs = config.warmup_epochs.min(f64::from(a.epochs));
    config.check().map_err(anyhow::Error::msg)?;
    let splits = load_splits(&config, a.quiet)?;
    let space = AnySpace::load(&cfg.space)?
        .with_knobs(&merge(cfg.knobs, a.knobs.knobs()?))
        .with_io(splits.input(), splits.classes());
    let mut rows = Vec::new();
    let k = a.top.min(best.len());
    for (i, f) in best.iter().take(k).enumerate() {
        let g = space.parse(&f.genotype)?;
        let net = space.decode(&g)?;
        let mut bars = Bars::new(a.quiet, format!("[{}/{k}] ", i + 1));
        if !a.quiet {
            eprintln!(
                "[{}/{k}] {} (search fitness {:.2})",
                i + 1,
                f.genotype,
                f.fitness
            );
        }
        let result = run(&net, &splits, &config, config.seed, &mut bars);
        let c = cost(&net);
        rows.push(serde_json::json!({
            "rank": i + 1,
            "genotype": f.genotype,
            "functional_hash": f.hash,
            "search_fitness": f.fitness,
            "params": c.params,
            "flops": c.flops,
            "result": match &result {
                Ok(r) => serde_json::to_value(r)?,
                Err(e) => serde_json::json!({"failed": e.to_string()}),
            },
        }));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:>4}  {:>8}  {:>8}  {:>8}  {:>10}  genotype",
            "rank", "search", "valid", "test", "params"
        );
        for r in &rows {
            let get = |k: &str| {
                r["result"][k]
                    .as_f64()
                    .map_or("-".into(), |v| format!("{v:.2}"))
            };
            println!(
                "{:>4}  {:>8.2}  {:>8}  {:>8}  {:>10}  {}",
                r["rank"],
                r["search_fitness"].as_f64().unwrap_or(f64::NAN),
                get("valid_accuracy"),
                get("test_accuracy"),
                r["params"],
                r["genotype"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
