//! What `train` and `retrain` share: loading the protocol's data, and a training run with a
//! progress bar per epoch.

use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use evonas::eval::train::{self, Progress, Splits, TrainConfig, TrainReport};
use evonas::ir::Network;

/// A progress bar per epoch on a terminal, a line per epoch otherwise.
pub struct Bars {
    quiet: bool,
    tty: bool,
    bar: Option<ProgressBar>,
    label: String,
}

impl Bars {
    /// Bars whose prefix starts with `label` (retrain: which of the K networks this is).
    pub fn new(quiet: bool, label: String) -> Self {
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

/// Trains `net` under `config` from `seed` with `trainer`, showing progress on `bars`.
pub fn train_net(
    trainer: &train::Trainer,
    net: &Network,
    splits: &Splits,
    config: &TrainConfig,
    seed: u64,
    bars: &mut Bars,
) -> Result<TrainReport, train::TrainError> {
    let result = trainer.train(net, splits, config, seed, &mut |p| bars.update(p));
    bars.finish();
    result
}

/// The protocol's backend and devices (checked before the data is loaded, since a large data
/// set takes a while), then its data, announced first.
pub fn load_splits(config: &TrainConfig, quiet: bool) -> anyhow::Result<(train::Trainer, Splits)> {
    let trainer = train::Trainer::new(config).context("[evaluator]")?;
    if !quiet {
        eprintln!("loading data ({:?})...", config.data);
    }
    let splits = Splits::load(config).context("[evaluator] data")?;
    Ok((trainer, splits))
}
