//! `evonas resume`: continue an interrupted or killed campaign where it stopped.

use std::process::ExitCode;

use evonas::search::campaign::Campaign;
use evonas::store::campaign::CampaignState;

use super::args::ResumeArgs;
use super::campaign::{drive, finish_reason, header};
use super::store::StoreDir;

/// `evonas resume`.
pub struct Request {
    name: String,
    store: StoreDir,
    quiet: bool,
}

impl Request {
    pub fn new(a: ResumeArgs) -> Self {
        Request {
            name: a.name,
            store: a.store.into(),
            quiet: a.quiet,
        }
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let store = r.store.open_existing()?;
    let h = header(&store, &r.name)?;
    if h.state == CampaignState::Finished {
        println!(
            "campaign `{}` already finished ({}); nothing to resume",
            r.name,
            finish_reason(&h)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let campaign = Campaign::resume(&store, &r.name)?;
    drive(campaign, &r.store, r.quiet)
}
