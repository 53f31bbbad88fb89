//! `evonas status`: campaigns' state, counts and best so far.

use std::process::ExitCode;

use anyhow::{bail, Context};

use evonas::search::status::status_json;
use evonas::store::{files, StoreError};

use super::args::StatusArgs;
use super::campaign::header;
use super::store::StoreDir;

/// `evonas status`.
pub struct Request {
    /// One campaign, or all of them.
    name: Option<String>,
    store: StoreDir,
    json: bool,
}

impl Request {
    pub fn new(a: StatusArgs) -> Self {
        Request {
            name: a.name,
            store: a.store.into(),
            json: a.json,
        }
    }
}

/// The status objects asked for: from the store, or, while a running campaign holds it, from
/// the snapshots that campaign keeps up to date.
fn statuses(r: &Request) -> anyhow::Result<Vec<serde_json::Value>> {
    let name = r.name.as_deref();
    match r.store.try_open_existing() {
        Ok(store) => {
            let headers = match name {
                Some(n) => vec![header(&store, n)?],
                None => store.campaigns()?,
            };
            Ok(headers.iter().map(|h| status_json(h, false)).collect())
        }
        Err(StoreError::InUse { .. }) => {
            let folder = files::status_dir(r.store.path());
            let out = files::read_statuses(r.store.path(), name).with_context(|| {
                format!(
                    "the store is in use and {} has no readable status snapshots yet",
                    folder.display()
                )
            })?;
            if let (Some(n), true) = (name, out.is_empty()) {
                bail!(
                    "no status snapshot for campaign `{n}` in {}",
                    folder.display()
                );
            }
            Ok(out)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let values = statuses(&r)?;
    if r.json {
        match (&r.name, values.first()) {
            (Some(_), Some(one)) => println!("{}", serde_json::to_string_pretty(one)?),
            _ => println!("{}", serde_json::to_string_pretty(&values)?),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if values.is_empty() {
        println!("no campaigns in {}", r.store);
    }
    for v in &values {
        println!(
            "{}: {} | proposals {} | evaluations {} | cache hits {} | failures {} | elapsed {:.1} s",
            v["name"].as_str().unwrap_or("?"),
            v["state"].as_str().unwrap_or("?"),
            v["proposals"], v["evaluations"], v["cache_hits"], v["failures"],
            v["elapsed_seconds"].as_f64().unwrap_or(0.0)
        );
        if v["screened"].as_u64().unwrap_or(0) + v["screen_evaluations"].as_u64().unwrap_or(0) > 0 {
            println!(
                "  screens: {} evaluations, {} candidates stopped before the evaluator",
                v["screen_evaluations"], v["screened"]
            );
        }
        if let Some(b) = v.get("best").filter(|b| !b.is_null()) {
            println!(
                "  best {:.4}: {}",
                b["fitness"].as_f64().unwrap_or(f64::NAN),
                b["genotype"].as_str().unwrap_or("?")
            );
            if let Some(m) = b["metrics"].as_object() {
                for (k, x) in m {
                    println!("    {k}: {x}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
