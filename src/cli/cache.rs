//! `evonas cache`: statistics, export, import, rehashing and cleaning of the evaluation cache.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use evonas::store::files;

use super::args::CacheCommand;
use super::input::read_input;
use super::store::StoreDir;

/// What to do with the cache.
pub enum Action {
    Stats {
        json: bool,
    },
    Export {
        out: Option<PathBuf>,
    },
    Import {
        file: PathBuf,
        overwrite: bool,
        json: bool,
    },
    Gc,
    Rehash {
        dry_run: bool,
        json: bool,
    },
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
                json,
                store,
            } => (
                Action::Import {
                    file,
                    overwrite,
                    json,
                },
                store,
            ),
            CacheCommand::Gc { store } => (Action::Gc, store),
            CacheCommand::Rehash {
                dry_run,
                json,
                store,
            } => (Action::Rehash { dry_run, json }, store),
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
        Action::Import {
            file,
            overwrite,
            json,
        } => {
            let (text, origin) = read_input(Some(&file))?;
            let entries = files::parse_cache_lines(&text, &origin)?;
            let report = evonas::search::import::import(&store, entries, overwrite)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_import(&report);
            }
        }
        Action::Rehash { dry_run, json } => {
            let report = evonas::search::rehash::rehash(&store, dry_run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_rehash(&report);
            }
        }
        Action::Gc => {
            let (removed, kept) = store.cache_gc()?;
            println!("removed {removed} stale entries");
            if kept > 0 {
                println!(
                    "kept {kept} older-version entries that unfinished campaigns still read (finish them, then gc again)"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How many unrehashable entries the text report shows per reason (`--json` lists all).
const EXAMPLES: usize = 3;

fn print_rehash(r: &evonas::search::rehash::Report) {
    let v = r.version;
    let verb = if r.dry_run {
        "would rehash"
    } else {
        "rehashed"
    };
    println!(
        "{verb} the cache to functional hash version {v}: {} entries before, {} after",
        r.records_before, r.records_after
    );
    println!("  moved:  {} (under their version-{v} key)", r.moved);
    println!(
        "  merged: {} into {} (functions version {v} finds equal; their evaluations add up)",
        r.merged, r.merged_into
    );
    println!("  already version {v}: {}", r.current);
    for k in &r.kept {
        println!(
            "  kept:   {} under version {} that unfinished campaign `{}` reads (finish it, then rehash again)",
            k.records, k.version, k.campaign
        );
    }
    if !r.unrehashable.is_empty() {
        println!(
            "  could not rehash {} (left under their old keys):",
            r.unrehashable.len()
        );
        // Grouped by reason, a few examples each.
        let mut by_reason: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
        for u in &r.unrehashable {
            by_reason.entry(u.reason.as_str()).or_default().push(u);
        }
        for (reason, list) in by_reason {
            println!("    {}: {reason}, e.g.", list.len());
            for u in list.iter().take(EXAMPLES) {
                println!("      {} {} {}", u.key.hash, u.space, u.genotype);
            }
        }
        println!("    (--json lists every one)");
    }
    println!(
        "evaluations: {} before, {} after",
        r.evaluations_before, r.evaluations_after
    );
}

fn print_import(r: &evonas::search::import::Report) {
    println!("imported {} of {} entries", r.imported, r.read);
    if r.replaced > 0 {
        println!("  replaced {} existing records (--overwrite)", r.replaced);
    }
    if r.kept_existing > 0 {
        println!(
            "  kept {} records this store already had under the same key (--overwrite replaces them)",
            r.kept_existing
        );
    }
    println!(
        "  keys checked against their genotypes: {} verified, {} could not be checked here (trusted as given)",
        r.verified, r.unverified
    );
    if r.older_version > 0 {
        println!(
            "  {} under an older hash version: `evonas cache rehash` carries them forward",
            r.older_version
        );
    }
    if r.other_protocols > 0 {
        println!(
            "  {} for protocols no campaign in this store uses yet",
            r.other_protocols
        );
    }
    if !r.skipped.is_empty() {
        println!("  skipped {}:", r.skipped.len());
        for s in r.skipped.iter().take(EXAMPLES * 3) {
            println!("    line {}: {}", s.line, s.reason);
        }
        if r.skipped.len() > EXAMPLES * 3 {
            println!("    ... (--json lists every one)");
        }
    }
}
