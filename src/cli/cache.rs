//! `evonas cache`: statistics, export, import and cleaning of the evaluation cache.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use evonas::store::files;

use super::args::CacheCommand;
use super::input::read_input;
use super::store::StoreDir;

/// What to do with the cache.
pub enum Action {
    Stats { json: bool },
    Export { out: Option<PathBuf> },
    Import { file: PathBuf, overwrite: bool },
    Gc,
}

/// `evonas cache`: the subcommand and the store it works on.
pub struct Request {
    action: Action,
    store: StoreDir,
}

impl Request {
    pub fn new(c: CacheCommand) -> Self {
        let (action, store) = match c {
            CacheCommand::Stats { json, store } => (Action::Stats { json }, store),
            CacheCommand::Export { out, store } => (Action::Export { out }, store),
            CacheCommand::Import {
                file,
                overwrite,
                store,
            } => (Action::Import { file, overwrite }, store),
            CacheCommand::Gc { store } => (Action::Gc, store),
        };
        Request {
            action,
            store: store.into(),
        }
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    // Importing may start a store; the other subcommands only read or tidy one.
    let store = match &r.action {
        Action::Import { .. } => r.store.open()?,
        _ => r.store.open_existing()?,
    };
    match r.action {
        Action::Stats { json } => {
            let s = store.cache_stats()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "entries: {} ({} evaluations, {} failures, {} stale)",
                    s.entries, s.evaluations, s.failures, s.stale_hash_version
                );
                for (p, n) in &s.by_protocol {
                    println!("  protocol {p}: {n}");
                }
                println!("size on disk: {} bytes", s.bytes_on_disk);
            }
        }
        Action::Export { out } => {
            let entries = store.cache_entries()?;
            let text = files::cache_lines(&entries);
            match out {
                Some(p) => {
                    std::fs::write(&p, text)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    eprintln!("exported {} entries to {}", entries.len(), p.display());
                }
                None => print!("{text}"),
            }
        }
        Action::Import { file, overwrite } => {
            let (text, origin) = read_input(Some(&file))?;
            let entries = files::parse_cache_lines(&text, &origin)?;
            let n = store.cache_import(&entries, overwrite)?;
            println!("imported {n} of {} entries", entries.len());
        }
        Action::Gc => {
            let n = store.cache_gc()?;
            println!("removed {n} stale entries");
        }
    }
    Ok(ExitCode::SUCCESS)
}
