//! `evonas search`: start (or continue) a campaign from a config file or the quickstart.

use std::process::ExitCode;

use evonas::search::campaign::Campaign;
use evonas::search::status::status_json;
use evonas::search::CampaignConfig;
use evonas::store::campaign::CampaignState;

use super::args::SearchArgs;
use super::campaign::{drive, finish_reason};
use super::overrides::Overrides;
use super::store::StoreDir;

/// `evonas search`: the campaign config as it will run, flags applied.
pub struct Request {
    /// The config with `--name` and `--seed` applied, checked.
    config: CampaignConfig,
    /// The config file's text, stored verbatim with the campaign.
    text: String,
    store: StoreDir,
    quiet: bool,
}

impl Request {
    pub fn new(a: SearchArgs) -> anyhow::Result<Self> {
        let (mut config, text, origin) = match &a.config {
            Some(path) => {
                let (config, text) = CampaignConfig::load(path)?;
                (config, text, path.display().to_string())
            }
            None => {
                eprintln!("no --config: running the built-in quickstart campaign (NB-201 cells on synthetic data; see experiments/quickstart/synthetic.toml)");
                let text = evonas::search::config::QUICKSTART.to_string();
                let origin = "<quickstart>".to_string();
                (CampaignConfig::parse(&text, &origin)?, text, origin)
            }
        };
        let overrides = Overrides {
            name: a.name,
            seed: a.seed,
            ..Overrides::default()
        };
        overrides.apply_to_campaign(&mut config);
        if a.queue.is_some() {
            config.parallel.queue = a.queue;
        }
        // Checked after the overrides: a flag may be what makes the config valid (or not).
        config.check(&origin)?;
        Ok(Request {
            config,
            text,
            store: a.store.into(),
            quiet: a.quiet,
        })
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let store = r.store.open()?;
    if let Some(h) = store.campaign(&r.config.name)? {
        // Running a finished campaign's config again is a no-op, not an error: scripts re-run
        // `search` to make sure a campaign is done.
        if h.state == CampaignState::Finished
            && h.effective_config == serde_json::to_value(&r.config)?
        {
            println!(
                "campaign `{}` already finished ({}); nothing to do. Use --name for a new campaign.",
                r.config.name,
                finish_reason(&h)
            );
            println!("{}", serde_json::to_string_pretty(&status_json(&h, false))?);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let campaign = Campaign::open(&store, r.config, &r.text)?;
    drive(campaign, &r.store, r.quiet)
}
