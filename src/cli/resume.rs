//! `evonas resume`: continue an interrupted or killed campaign where it stopped.

use std::process::ExitCode;

use evonas::queue::QueueAddress;
use evonas::search::campaign::Campaign;
use evonas::store::campaign::CampaignState;

use super::args::ResumeArgs;
use super::campaign::{drive, finish_reason, header};
use super::store::StoreDir;

/// `evonas resume`.
pub struct Request {
    name: String,
    store: StoreDir,
    queue: Queue,
    quiet: bool,
}

/// Where a resumed campaign evaluates.
enum Queue {
    /// As its stored config says.
    Stored,
    /// On this queue.
    Given(Box<QueueAddress>),
    /// Here.
    Local,
}

impl Request {
    pub fn new(a: ResumeArgs) -> anyhow::Result<Self> {
        let queue = match (a.queue, a.local) {
            (Some(url), _) => Queue::Given(Box::new(QueueAddress::parse(&url)?)),
            (None, true) => Queue::Local,
            (None, false) => Queue::Stored,
        };
        Ok(Request {
            name: a.name,
            store: a.store.into(),
            queue,
            quiet: a.quiet,
        })
    }
}

/// The `[parallel] queue` of a stored config's text (the queue is not part of a campaign's
/// identity, so only the verbatim text keeps it).
fn stored_queue(config_toml: &str) -> anyhow::Result<Option<QueueAddress>> {
    let value: toml::Value = match toml::from_str(config_toml) {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    match value
        .get("parallel")
        .and_then(|p| p.get("queue"))
        .and_then(|q| q.as_str())
    {
        Some(url) => Ok(Some(QueueAddress::parse(url)?)),
        None => Ok(None),
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
    let queue = match r.queue {
        Queue::Stored => stored_queue(&h.config_toml)?,
        Queue::Given(q) => Some(*q),
        Queue::Local => None,
    };
    let mut campaign = Campaign::resume(&store, &r.name)?;
    match queue {
        Some(q) => campaign.use_queue(&q)?,
        // A campaign started with `search --queue` does not store the queue: say where this
        // session evaluates.
        None => {
            tracing::info!("evaluating in this process (give --queue URL to evaluate on workers)")
        }
    }
    drive(campaign, &r.store, r.quiet)
}
