//! `evonas retrain`: the best K architectures of a campaign trained again, longer, on the
//! whole training split, with their test accuracy.

use std::process::ExitCode;

use anyhow::bail;

use evonas::eval::train::TrainConfig;
use evonas::ir::cost;
use evonas::search::campaign::stored;
use evonas::search::results::found;

use super::args::RetrainArgs;
use super::overrides::{self, Overrides};
use super::store::StoreDir;
use super::training::{load_splits, train_net, Bars};

/// `evonas retrain`: the campaign and the flags that replace its protocol's values.
pub struct Request {
    name: String,
    /// How many of the best distinct functions (at least 1).
    top: usize,
    /// What replaces the stored protocol's epochs, training size, threads and knobs.
    overrides: Overrides,
    store: StoreDir,
    json: bool,
    quiet: bool,
}

impl Request {
    pub fn new(a: RetrainArgs) -> anyhow::Result<Self> {
        if a.top == 0 || a.epochs == 0 {
            bail!("--top and --epochs must be at least 1");
        }
        let flags = Overrides {
            epochs: Some(a.epochs),
            // The whole training split unless --train-size says otherwise, whatever the
            // search trained on.
            train_size: Some(a.train_size),
            threads: Some(a.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            })),
            // Retraining is for the test accuracy the search never looked at.
            test: true,
            fit_warmup: true,
            knobs: overrides::knobs(a.knobs)?,
            ..Overrides::default()
        };
        Ok(Request {
            name: a.name,
            top: a.top,
            overrides: flags,
            store: a.store.into(),
            json: a.json,
            quiet: a.quiet,
        })
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let name = &r.name;
    let store = r.store.open_existing()?;
    let (_, cfg, space) = stored(&store, name)?;
    if cfg.evaluator.kind != "train" {
        bail!(
            "campaign `{name}` does not train its candidates (its evaluator is {:?}); retrain needs [evaluator] kind = \"train\"",
            cfg.evaluator.kind
        );
    }
    let mut config: TrainConfig = cfg
        .evaluator
        .decode("train")
        .map_err(|e| anyhow::anyhow!("campaign `{name}`: stored config: [evaluator] {e}"))?;
    let best = found(&store, name)?;
    // Training takes long; a search may want the store meanwhile.
    drop(store);
    if best.is_empty() {
        bail!("campaign `{name}` has no scored architectures yet");
    }
    r.overrides.apply_to_training(&mut config);
    config.check().map_err(anyhow::Error::msg)?;
    let (trainer, splits) = load_splits(&config, r.quiet)?;
    let space = space
        .with_knobs(&r.overrides.apply_to_knobs(cfg.knobs))
        .with_io(splits.input(), splits.classes());
    let mut rows = Vec::new();
    let k = r.top.min(best.len());
    for (i, f) in best.iter().take(k).enumerate() {
        let g = space.parse(&f.genotype)?;
        let net = space.decode(&g)?;
        let mut bars = Bars::new(r.quiet, format!("[{}/{k}] ", i + 1));
        if !r.quiet {
            eprintln!(
                "[{}/{k}] {} (search fitness {:.2})",
                i + 1,
                f.genotype,
                f.fitness
            );
        }
        let result = train_net(&trainer, &net, &splits, &config, config.seed, &mut bars);
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
    if r.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:>4}  {:>8}  {:>8}  {:>8}  {:>10}  genotype",
            "rank", "search", "valid", "test", "params"
        );
        for row in &rows {
            let get = |k: &str| {
                row["result"][k]
                    .as_f64()
                    .map_or("-".into(), |v| format!("{v:.2}"))
            };
            println!(
                "{:>4}  {:>8.2}  {:>8}  {:>8}  {:>10}  {}",
                row["rank"],
                row["search_fitness"].as_f64().unwrap_or(f64::NAN),
                get("valid_accuracy"),
                get("test_accuracy"),
                row["params"],
                row["genotype"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
