//! Flags that take the place of a config's own values.
//!
//! `search`, `train` and `retrain` all let flags override what a config file (or a stored
//! campaign) says. Every such override is written here, once, so the commands cannot drift
//! apart on what `--seed` or `--channels` means, and a request records only which flags were
//! given.

use evonas::eval::train::TrainConfig;
use evonas::search::CampaignConfig;
use evonas::space::Knobs;

use super::args::KnobArgs;

/// The knobs `--channels`/`--cells` ask for, refusing zero (a network needs a channel and a
/// cell) before anything is built with them.
pub fn knobs(args: KnobArgs) -> anyhow::Result<Knobs> {
    let knobs = Knobs {
        channels: args.channels,
        cells: args.cells,
    };
    // Refused before anything is decoded or printed: `--channels 100000` would start printing
    // a network no machine holds.
    knobs.check().map_err(|e| anyhow::anyhow!("--{e}"))?;
    Ok(knobs)
}

/// `base` with each knob `over` sets in place of its own: flags over a config's knobs, and a
/// config's knobs over a document's.
pub fn knobs_over(base: Knobs, over: Knobs) -> Knobs {
    Knobs {
        channels: over.channels.or(base.channels),
        cells: over.cells.or(base.cells),
    }
}

/// The flag values a command was given; `None` (or `false`) keeps the config's own value.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--name`: the campaign's name.
    pub name: Option<String>,
    /// `--seed`: the campaign seed, or a training run's initialisation and data-order seed.
    pub seed: Option<u64>,
    /// `--epochs`.
    pub epochs: Option<u32>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// The training images: `Some(None)` means the whole training split (retrain uses all of
    /// it unless `--train-size` says otherwise, whatever the search used).
    pub train_size: Option<Option<usize>>,
    /// `--test`: also measure the test split (never turns a protocol's own test off).
    pub test: bool,
    /// Shorten the protocol's learning-rate warmup to fit the overriding `--epochs`. Retrain
    /// sets it because its epochs are chosen afresh; `train` does not, so a config whose
    /// warmup exceeds `--epochs` is reported there rather than silently changed.
    pub fit_warmup: bool,
    /// `--channels` / `--cells`.
    pub knobs: Knobs,
}

impl Overrides {
    /// Applies `--name` and `--seed` to a campaign config.
    pub fn apply_to_campaign(&self, config: &mut CampaignConfig) {
        if let Some(n) = &self.name {
            config.name.clone_from(n);
        }
        if let Some(s) = self.seed {
            config.seed = s;
        }
    }

    /// Applies the training flags to a training protocol.
    pub fn apply_to_training(&self, config: &mut TrainConfig) {
        if let Some(e) = self.epochs {
            config.epochs = e;
            if self.fit_warmup {
                config.warmup_epochs = config.warmup_epochs.min(f64::from(e));
            }
        }
        if let Some(s) = self.seed {
            config.seed = s;
        }
        if let Some(t) = self.threads {
            config.threads = t;
        }
        if let Some(n) = self.train_size {
            config.train_size = n;
        }
        config.test |= self.test;
    }

    /// `base` with the knob flags in place of its own knobs (each knob separately).
    pub fn apply_to_knobs(&self, base: Knobs) -> Knobs {
        knobs_over(base, self.knobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knob_flags_replace_only_the_knobs_they_set() {
        let o = Overrides {
            knobs: Knobs {
                channels: Some(4),
                cells: None,
            },
            ..Overrides::default()
        };
        let base = Knobs {
            channels: Some(16),
            cells: Some(5),
        };
        assert_eq!(
            o.apply_to_knobs(base),
            Knobs {
                channels: Some(4),
                cells: Some(5),
            }
        );
    }

    #[test]
    fn training_flags_keep_what_they_do_not_set() {
        let base = TrainConfig {
            epochs: 10,
            warmup_epochs: 3.0,
            train_size: Some(100),
            test: true,
            ..TrainConfig::default()
        };
        // `train` with only --epochs: the warmup is not touched (the check reports it).
        let mut c = base.clone();
        Overrides {
            epochs: Some(2),
            ..Overrides::default()
        }
        .apply_to_training(&mut c);
        assert_eq!(
            (c.epochs, c.warmup_epochs, c.train_size),
            (2, 3.0, Some(100))
        );
        assert!(c.test, "--test never turns a protocol's own test off");
        // `retrain`: the whole training split and a warmup that fits.
        let mut c = base;
        Overrides {
            epochs: Some(2),
            train_size: Some(None),
            fit_warmup: true,
            ..Overrides::default()
        }
        .apply_to_training(&mut c);
        assert_eq!((c.epochs, c.warmup_epochs, c.train_size), (2, 2.0, None));
    }

    #[test]
    fn knob_flags_of_zero_are_refused() {
        let zero = KnobArgs {
            channels: Some(0),
            cells: None,
        };
        assert!(knobs(zero).is_err());
    }
}
