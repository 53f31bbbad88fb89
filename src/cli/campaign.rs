//! Campaigns from the command line: finding a stored one by name, and driving one to its end
//! with a progress line, status snapshots and Ctrl-C handling (`search` and `resume`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use evonas::search::campaign::{Campaign, End, SearchError};
use evonas::search::status::status_json;
use evonas::store::campaign::CampaignHeader;
use evonas::store::files;
use evonas::store::Store;

use super::progress::Progress;
use super::store::StoreDir;

/// The header of campaign `name`. A missing campaign is reported as the library reports it
/// ([`SearchError::Unknown`], naming the store and the campaigns it holds), so every command
/// words it alike.
pub fn header(store: &Store, name: &str) -> anyhow::Result<CampaignHeader> {
    match store.campaign(name)? {
        Some(h) => Ok(h),
        None => Err(SearchError::unknown(store, name).into()),
    }
}

/// Why a finished campaign finished, for "already finished (...)" messages.
pub fn finish_reason(h: &CampaignHeader) -> String {
    h.finish_reason
        .map_or("budget reached".into(), |r| r.to_string())
}

/// Set by the first Ctrl-C / SIGTERM; the campaign (or worker) polls it between steps.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// First Ctrl-C / SIGTERM: set [`STOP`] and say `first`; second: say `second` and exit at once.
pub fn install_stop_handler(first: &'static str, second: &'static str) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let result = ctrlc::set_handler(move || {
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: {second}");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: {first}");
        });
        if let Err(e) = result {
            eprintln!("warning: cannot catch Ctrl-C ({e}); a kill is still safe");
        }
    });
}

/// Keeps the campaign's status snapshot current (best effort: a full disk must not stop the
/// search).
fn write_snapshot(dir: &StoreDir, c: &Campaign<'_>, live: bool) {
    let _ = files::write_status(dir.path(), &c.header().name, &status_json(c.header(), live));
}

/// Rewrites the campaign's best-architecture file with the best so far (best effort).
fn write_best(dir: &StoreDir, c: &Campaign<'_>) {
    if let Some(doc) = evonas::export::best_document(c) {
        let _ = files::write_best(dir.path(), &c.header().name, &[doc]);
    }
}

fn progress_line(c: &Campaign<'_>) -> String {
    let h = c.header();
    let n = &h.counters;
    let rate = if n.proposals == 0 {
        0.0
    } else {
        100.0 * n.cache_hits as f64 / n.proposals as f64
    };
    let best = match &h.best {
        Some(b) => {
            let test = b
                .metrics
                .get("test_accuracy")
                .map_or(String::new(), |t| format!(" (test {t:.2})"));
            format!("{:.3}{test}", b.fitness)
        }
        None => "-".into(),
    };
    let f = c.progress_fraction();
    let eta = if f > 0.0 && f < 1.0 {
        format!("{:.1} s", h.elapsed_seconds * (1.0 - f) / f)
    } else {
        "-".into()
    };
    let sim = if h.simulated_seconds > 0.0 {
        format!(" | sim {:.0} s", h.simulated_seconds)
    } else {
        String::new()
    };
    let screens = if n.screen_evaluations + n.screened > 0 {
        format!(
            " | screens {} (stopped {})",
            n.screen_evaluations, n.screened
        )
    } else {
        String::new()
    };
    format!(
        "[{}] proposals {} | evaluations {} | cache hits {} ({rate:.0}%) | failures {}{screens} | best {best}{sim} | elapsed {:.1} s | {:.0}% | ETA {eta}",
        h.name, n.proposals, n.evaluations, n.cache_hits, n.failures, h.elapsed_seconds, 100.0 * f
    )
}

/// Runs `campaign` until a budget is reached or Ctrl-C, keeping the status snapshot and the
/// best-architecture file current for readers while the store is held, and prints how it
/// ended.
pub fn drive(
    mut campaign: Campaign<'_>,
    store_dir: &StoreDir,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    install_stop_handler(
        "finishing the current step and saving; press Ctrl-C again to quit at once",
        "exiting now (the store is consistent; resume later)",
    );
    // The first round writes a snapshot at once, so `status` works from the start.
    let mut last_snapshot: Option<Instant> = None;
    let name = campaign.header().name.clone();
    tracing::info!(
        campaign = %name,
        store = %store_dir,
        "{} campaign `{name}`{}",
        if campaign.resumed() { "resuming" } else { "starting" },
        campaign
            .queue()
            .map_or(String::new(), |q| format!(" (evaluations on the workers of {q})"))
    );
    let mut best_written = None;
    let mut bar = Progress::new(quiet, 1000, &name);
    let mut rounds_seen = campaign.header().counters.rounds;
    let end = campaign.run(&STOP, &mut |c| {
        let h = c.header();
        let best = h.best.as_ref().map(|b| b.proposal);
        if best != best_written {
            write_best(store_dir, c);
            if let Some(b) = &h.best {
                tracing::debug!(fitness = b.fitness, genotype = %b.genotype, "new best");
            }
            best_written = best;
        }
        if h.counters.rounds != rounds_seen {
            rounds_seen = h.counters.rounds;
            tracing::debug!(
                round = h.counters.rounds,
                proposals = h.counters.proposals,
                evaluations = h.counters.evaluations,
                cache_hits = h.counters.cache_hits,
                failures = h.counters.failures,
                "round committed"
            );
        }
        if last_snapshot.is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0) {
            write_snapshot(store_dir, c, true);
            last_snapshot = Some(Instant::now());
        }
        bar.update((c.progress_fraction() * 1000.0) as u64, || progress_line(c));
    })?;
    write_snapshot(store_dir, &campaign, false);
    write_best(store_dir, &campaign);
    bar.finish(progress_line(&campaign));
    match end {
        End::Finished(reason) => {
            let h = campaign.header();
            println!("campaign `{name}` finished: {reason}");
            if let Some(b) = &h.best {
                println!("best fitness {:.4}: {}", b.fitness, b.genotype);
                for (k, v) in &b.metrics {
                    println!("  {k}: {v:.4}");
                }
            }
        }
        End::Interrupted => {
            println!(
                "campaign `{name}` interrupted and saved; resume with: evonas resume {name} --store {store_dir}"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
