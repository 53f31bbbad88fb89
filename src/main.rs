//! The `evonas` command line: parses arguments, calls the library, prints results and errors.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use evonas::census::census;
use evonas::ir::{cost, Network, Op};
use evonas::search::campaign::{Campaign, End, SearchError};
use evonas::search::status::status_json;
use evonas::search::CampaignConfig;
use evonas::space::input::{self, Parsed};
use evonas::space::{AnySpace, ArchDocument, Knobs, Size, BUILTIN};
use evonas::store::files;
use evonas::store::{Store, StoreError};

#[path = "cli/export.rs"]
mod export;
#[path = "cli/progress.rs"]
mod progress;
#[path = "cli/train.rs"]
mod train;

/// evonas: neural architecture search with unified functional hashing.
///
/// Architectures come from search spaces (NAS-Bench-201, NAS-Bench-101, NASNet, FBNet or your
/// own TOML file) and are exchanged as architecture documents: one JSON object per architecture
/// with the space, the genotype in the space's native notation and the decoded network.
#[derive(Parser, Debug)]
#[command(name = "evonas", version, about, long_about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log detail on stderr (-v debug: every round; -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Logs and progress lines as JSON objects, one per line (for machines and log files).
    #[arg(long, global = true)]
    log_json: bool,
}

/// Width/depth scaling of the macro skeleton.
#[derive(clap::Args, Debug, Clone, Copy)]
struct KnobArgs {
    /// Base channels of the skeleton (NB-201/NASNet: C; NB-101: stem; FBNet: stem width).
    #[arg(long, value_name = "C")]
    channels: Option<u32>,
    /// Cells per stage (NB-201: N; NB-101: cells per stack; NASNet: normal cells per stage).
    #[arg(long, value_name = "N")]
    cells: Option<u32>,
}

impl KnobArgs {
    fn knobs(self) -> anyhow::Result<Knobs> {
        if self.channels == Some(0) || self.cells == Some(0) {
            bail!("--channels and --cells must be at least 1");
        }
        Ok(Knobs {
            channels: self.channels,
            cells: self.cells,
        })
    }
}

/// Where campaigns and the cache live.
#[derive(clap::Args, Debug, Clone)]
struct StoreArgs {
    /// Store folder (created if missing).
    #[arg(
        long,
        env = "EVONAS_STORE",
        default_value = "evonas-store",
        value_name = "DIR"
    )]
    store: PathBuf,
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Entry counts per protocol, failures, stale entries, size on disk.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write every entry as JSON lines (to --out or stdout).
    Export {
        /// Output file.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Read entries written by `cache export` (existing keys are kept unless --overwrite).
    Import {
        /// Input file; `-` reads stdin.
        file: PathBuf,
        /// Replace existing entries.
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove entries keyed by an older hash-algorithm version (never hit again).
    Gc {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a search campaign from a config file (none: the built-in quickstart on synthetic
    /// data); resumes an unfinished campaign of the same name and config. Ctrl-C stops cleanly
    /// (resume later with `evonas resume NAME`).
    ///
    /// Without --config it runs the built-in quickstart campaign: regularized evolution over
    /// NAS-Bench-201 cells trained briefly on evonas' synthetic data (a few minutes on 2 cores;
    /// the config is experiments/quickstart/synthetic.toml).
    Search {
        /// Campaign config (TOML); see experiments/*/ for examples. Default: the quickstart.
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
        /// Campaign name (overrides the config's).
        #[arg(long)]
        name: Option<String>,
        /// Seed (overrides the config's).
        #[arg(long)]
        seed: Option<u64>,
        /// No progress line.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Train one architecture under a training protocol and print its record as JSON.
    ///
    /// The protocol is the [evaluator] table (kind = "train") and [knobs] of a campaign config
    /// (--config); without one, the quickstart's protocol (synthetic data), with the network at
    /// the document's own size unless --channels/--cells say otherwise.
    Train(train::TrainArgs),
    /// Retrain the best K architectures of a campaign longer, on the full training set, and
    /// report their test accuracy (printed as a table; --json for JSON).
    Retrain(train::RetrainArgs),
    /// Export a campaign's architectures: JSON documents (with hashes, metrics, params, FLOPs,
    /// protocol and provenance), Graphviz, SVG or a PyTorch file. Works on finished,
    /// interrupted, killed and running campaigns (a running one: its best so far).
    Export(export::ExportArgs),
    /// Write a campaign report: one self-contained HTML page (DIR/index.html) with plots of
    /// best fitness vs evaluations and time, the cache hit rate, fitness vs parameters with the
    /// Pareto front, and the top-10 table.
    Report {
        /// Campaign name.
        name: String,
        /// Output folder (created).
        #[arg(long, default_value = "evonas-report")]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Continue an interrupted or killed campaign exactly where it stopped.
    Resume {
        /// Campaign name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
        /// No progress line.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show campaigns: state, counts, best so far (`--json` for machines).
    Status {
        /// Campaign name (all campaigns if omitted).
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect and move the evaluation cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// List the built-in search spaces with their sizes.
    Spaces,
    /// Sample random architectures; prints one architecture document (JSON) per line.
    Sample {
        /// Space: a built-in name (see `evonas spaces`) or a path to a space TOML file.
        #[arg(long, short)]
        space: String,
        /// How many to sample.
        #[arg(short = 'n', long, default_value_t = 1)]
        count: usize,
        /// RNG seed; without it one is drawn from the OS and printed on stderr.
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        knobs: KnobArgs,
    },
    /// Mutate architectures read from FILE or stdin (documents or native notation); prints
    /// one mutated architecture document per input.
    Mutate {
        /// Space: a built-in name or a path to a space TOML file.
        #[arg(long, short)]
        space: String,
        /// RNG seed; without it one is drawn from the OS and printed on stderr.
        #[arg(long)]
        seed: Option<u64>,
        /// Input file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// Summarise architectures: ops, parameters, FLOPs and a drawing of the cells.
    Show {
        /// Input file of architecture documents or genotypes; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// Space, needed to read native notation (documents name their own space).
        #[arg(long, short)]
        space: Option<String>,
    },
    /// Hash architectures: prints `functional_hash<TAB>structural_hash<TAB>input` per line, in
    /// input order. Equal functional hashes mean the networks compute the same function.
    Hash {
        /// Space of genotypes in native notation (documents name their own space).
        #[arg(long, short)]
        space: Option<String>,
        /// Input: one architecture per line (document or native notation); `-` or nothing
        /// reads stdin.
        file: Option<PathBuf>,
    },
    /// Count every valid encoding of a finite space (nb201, nb101 and their variants) with its
    /// structural and functional classes.
    Enumerate {
        /// Space: a built-in name or a path to a space TOML file.
        #[arg(long, short)]
        space: String,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
}

/// Every allocation is charged to the evaluation running on its thread, so an evaluation that
/// holds more than its `max_memory_mb` is stopped and recorded as a failure, never left to the
/// kernel's OOM killer (see `evonas::eval::memory`).
#[global_allocator]
static ALLOC: evonas::eval::memory::CountingAlloc = evonas::eval::memory::CountingAlloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::init_logging(cli.verbose, cli.log_json);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Spaces => spaces(),
        Command::Sample {
            space,
            count,
            seed,
            knobs,
        } => sample(&space, count, seed, knobs.knobs()?),
        Command::Mutate { space, seed, file } => mutate(&space, seed, file),
        Command::Show { file, space } => show(file, space.as_deref()),
        Command::Enumerate { space, json, quiet } => enumerate(&space, json, quiet),
        Command::Hash { space, file } => hash(space.as_deref(), file),
        Command::Search {
            config,
            store,
            name,
            seed,
            quiet,
        } => search(config.as_deref(), &store.store, name, seed, quiet),
        Command::Train(args) => train::train_one(args),
        Command::Export(args) => export::run(args),
        Command::Report { name, out, store } => report(&name, &out, &store.store),
        Command::Retrain(args) => train::retrain(args),
        Command::Resume { name, store, quiet } => resume(&name, &store.store, quiet),
        Command::Status { name, store, json } => status(name.as_deref(), &store.store, json),
        Command::Cache { command } => cache(command),
    }
}

fn load_space(name: &str) -> anyhow::Result<AnySpace> {
    Ok(AnySpace::load(name)?)
}

fn rng_for(seed: Option<u64>) -> ChaCha8Rng {
    let seed = seed.unwrap_or_else(|| {
        let s = rand::RngCore::next_u64(&mut ChaCha8Rng::from_os_rng());
        eprintln!("seed: {s} (pass --seed {s} to repeat)");
        s
    });
    ChaCha8Rng::seed_from_u64(seed)
}

fn read_input(file: Option<PathBuf>) -> anyhow::Result<(String, String)> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok((text, p.display().to_string()))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            Ok((text, "stdin".to_string()))
        }
    }
}

fn read_architectures(
    file: Option<PathBuf>,
    space: Option<&AnySpace>,
) -> anyhow::Result<Vec<Parsed>> {
    let (text, origin) = read_input(file)?;
    let items = input::split(&text);
    if items.is_empty() {
        bail!("{origin}: no architectures found (expected documents or genotypes, one per line)");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            input::parse(item, space).with_context(|| format!("{origin}: architecture {}", i + 1))
        })
        .collect()
}

fn spaces() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16} {:<7} {:>12}  description",
        "name", "family", "size"
    )?;
    for (name, _) in BUILTIN {
        let s = AnySpace::builtin(name)?;
        let size = match s.size() {
            Size::Exact(n) => n.to_string(),
            other => other.to_string(),
        };
        writeln!(
            out,
            "{:<16} {:<7} {:>12}  {}",
            name,
            s.family(),
            size,
            s.description()
        )?;
    }
    writeln!(
        out,
        "\nAny command taking --space also accepts a path to a space TOML file (see search_spaces/)."
    )?;
    Ok(ExitCode::SUCCESS)
}

fn sample(space: &str, count: usize, seed: Option<u64>, knobs: Knobs) -> anyhow::Result<ExitCode> {
    let base = load_space(space)?;
    let scaled = base.with_knobs(&knobs);
    let mut rng = rng_for(seed);
    let mut out = std::io::stdout().lock();
    for _ in 0..count {
        let g = base.sample(&mut rng);
        let doc = ArchDocument::new(&scaled, knobs, &g)?;
        writeln!(out, "{}", doc.to_json_line())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn mutate(space: &str, seed: Option<u64>, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let base = load_space(space)?;
    let archs = read_architectures(file, Some(&base))?;
    let mut rng = rng_for(seed);
    let mut out = std::io::stdout().lock();
    for a in archs {
        let g = a
            .genotype
            .context("the input has no genotype in this space")?;
        let child = base.mutate(&g, &mut rng)?;
        let doc = ArchDocument::new(&base.with_knobs(&a.knobs), a.knobs, &child)?;
        writeln!(out, "{}", doc.to_json_line())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn op_histogram(net: &Network) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for n in net.nodes() {
        if matches!(n.op, Op::Input { .. } | Op::Output) {
            continue;
        }
        match counts.iter_mut().find(|(name, _)| *name == n.op.name()) {
            Some((_, c)) => *c += 1,
            None => counts.push((n.op.name(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(n, c)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(file: Option<PathBuf>, space: Option<&str>) -> anyhow::Result<ExitCode> {
    let space = space.map(load_space).transpose()?;
    let archs = read_architectures(file, space.as_ref())?;
    let mut out = std::io::stdout().lock();
    for (i, a) in archs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let c = cost(&a.network);
        match (&a.space, &a.genotype) {
            (Some(s), Some(g)) => {
                writeln!(out, "space:    {} ({})", s.name(), s.family())?;
                writeln!(out, "genotype: {}", s.format(g)?)?;
            }
            _ => writeln!(
                out,
                "space:    unknown (network read from the document only)"
            )?,
        }
        if !a.knobs.is_empty() {
            writeln!(out, "knobs:    {}", serde_json::to_string(&a.knobs)?)?;
        }
        writeln!(
            out,
            "network:  {} nodes, input {} -> output {}",
            a.network.len(),
            a.network.input_shape(),
            a.network.output_shape()
        )?;
        writeln!(
            out,
            "params:   {} ({:.6} M)",
            c.params,
            c.params as f64 / 1e6
        )?;
        writeln!(
            out,
            "FLOPs:    {} ({:.2} M multiply-adds)",
            c.flops,
            c.flops as f64 / 1e6
        )?;
        writeln!(out, "ops:      {}", op_histogram(&a.network))?;
        if let (Some(s), Some(g)) = (&a.space, &a.genotype) {
            write!(out, "{}", s.describe(g)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn hash(space: Option<&str>, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let space = space.map(load_space).transpose()?;
    let archs = read_architectures(file, space.as_ref())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for a in archs {
        let (f, s) = evonas::hash::hash(&a.network);
        writeln!(out, "{f}\t{s}\t{}", a.source)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn enumerate(space: &str, json: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    let s = load_space(space)?;
    let start = Instant::now();
    let total = match s.size() {
        Size::Exact(n) => n,
        Size::Log10(_) => 0,
    };
    let bar = std::sync::Mutex::new(progress::Progress::new(quiet, total, s.name()));
    let Some(result) = census(&s, &|done| {
        if let Ok(mut b) = bar.lock() {
            b.update(done, || format!("{done} of {total} encodings hashed"));
        }
    }) else {
        bail!(
            "space {} ({}) is too large to enumerate (about {} genotypes); enumerate works for nb201 and nb101 spaces",
            s.name(),
            s.family(),
            s.size()
        );
    };
    let c = result?;
    let seconds = start.elapsed().as_secs_f64();
    if let Ok(mut b) = bar.lock() {
        b.finish(format!(
            "{} encodings hashed in {seconds:.1} s",
            c.encodings
        ));
    }
    if json {
        let v = serde_json::json!({
            "space": s.name(),
            "encodings": c.encodings,
            "structural_classes": c.structural_classes,
            "functional_classes": c.functional_classes,
            "seconds": seconds,
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} valid encodings, {} structural classes, {} functional classes ({seconds:.1} s)",
            s.name(),
            c.encodings,
            c.structural_classes,
            c.functional_classes
        );
    }
    Ok(ExitCode::SUCCESS)
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// First Ctrl-C / SIGTERM: ask the campaign to stop after saving; second: exit at once.
fn install_stop_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let result = ctrlc::set_handler(|| {
            if STOP.swap(true, std::sync::atomic::Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: exiting now (the store is consistent; resume later)");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current step and saving; press Ctrl-C again to quit at once");
        });
        if let Err(e) = result {
            eprintln!("warning: cannot catch Ctrl-C ({e}); a kill is still safe");
        }
    });
}

fn open_store(dir: &std::path::Path) -> anyhow::Result<Store> {
    Ok(Store::open(dir)?)
}

/// The store in `dir`, which must exist (commands that only read never create one).
fn open_existing_store(dir: &std::path::Path) -> anyhow::Result<Store> {
    Ok(Store::open_existing(dir)?)
}

/// Writes `text` to `path` atomically (a reader or a crash never sees half a file).
fn write_atomic(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    files::write_atomic(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Keeps the campaign's status snapshot current (best effort: a full disk must not stop the
/// search).
fn write_snapshot(dir: &std::path::Path, c: &Campaign<'_>, live: bool) {
    let _ = files::write_status(dir, &c.header().name, &status_json(c.header(), live));
}

/// Rewrites the campaign's best-architecture file with the best so far (best effort).
fn write_best(dir: &std::path::Path, c: &Campaign<'_>) {
    if let Some(doc) = evonas::export::best_document(c) {
        let _ = files::write_best(dir, &c.header().name, &[doc]);
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
    format!(
        "[{}] proposals {} | evaluations {} | cache hits {} ({rate:.0}%) | failures {} | best {best}{sim} | elapsed {:.1} s | {:.0}% | ETA {eta}",
        h.name, n.proposals, n.evaluations, n.cache_hits, n.failures, h.elapsed_seconds, 100.0 * f
    )
}

fn drive(
    mut campaign: Campaign<'_>,
    store_dir: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    install_stop_handler();
    // The first round writes a snapshot at once, so `status` works from the start.
    let mut last_snapshot: Option<Instant> = None;
    let name = campaign.header().name.clone();
    tracing::info!(
        campaign = %name,
        store = %store_dir.display(),
        "{} campaign `{name}`",
        if campaign.resumed() { "resuming" } else { "starting" }
    );
    let mut best_written = None;
    let mut bar = progress::Progress::new(quiet, 1000, &name);
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
                "campaign `{name}` interrupted and saved; resume with: evonas resume {name} --store {}",
                store_dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn search(
    config: Option<&std::path::Path>,
    store_dir: &std::path::Path,
    name: Option<String>,
    seed: Option<u64>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let (mut cfg, text, origin) = match config {
        Some(path) => {
            let (cfg, text) = CampaignConfig::load(path)?;
            (cfg, text, path.display().to_string())
        }
        None => {
            eprintln!("no --config: running the built-in quickstart campaign (NB-201 cells on synthetic data; see experiments/quickstart/synthetic.toml)");
            let text = evonas::search::config::QUICKSTART.to_string();
            let origin = "<quickstart>".to_string();
            (CampaignConfig::parse(&text, &origin)?, text, origin)
        }
    };
    if let Some(n) = name {
        cfg.name = n;
    }
    if let Some(s) = seed {
        cfg.seed = s;
    }
    cfg.check(&origin)?;
    let store = open_store(store_dir)?;
    if let Some(h) = store.campaign(&cfg.name)? {
        if h.state == evonas::store::campaign::CampaignState::Finished
            && h.effective_config == serde_json::to_value(&cfg)?
        {
            println!("campaign `{}` already finished ({}); nothing to do. Use --name for a new campaign.", cfg.name, h.finish_reason.map_or("budget reached".into(), |r| r.to_string()));
            println!("{}", serde_json::to_string_pretty(&status_json(&h, false))?);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let campaign = Campaign::open(&store, cfg, &text)?;
    drive(campaign, store_dir, quiet)
}

fn report(
    name: &str,
    out: &std::path::Path,
    store_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(store_dir)?;
    let html = evonas::report::render(&store, name)?;
    let path = out.join("index.html");
    write_atomic(&path, &html)?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn resume(name: &str, store_dir: &std::path::Path, quiet: bool) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(store_dir)?;
    if let Some(h) = store.campaign(name)? {
        if h.state == evonas::store::campaign::CampaignState::Finished {
            println!(
                "campaign `{name}` already finished ({}); nothing to resume",
                h.finish_reason
                    .map_or("budget reached".into(), |r| r.to_string())
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    let campaign = Campaign::resume(&store, name).map_err(|e| match e {
        SearchError::Unknown { .. } => anyhow::anyhow!(e),
        other => anyhow::anyhow!(other),
    })?;
    drive(campaign, store_dir, quiet)
}

fn status(name: Option<&str>, store_dir: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let values: Vec<serde_json::Value> = match Store::open_existing(store_dir) {
        Ok(store) => {
            let headers = match name {
                Some(n) => match store.campaign(n)? {
                    Some(h) => vec![h],
                    None => {
                        let known: Vec<String> =
                            store.campaigns()?.into_iter().map(|h| h.name).collect();
                        bail!(
                            "no campaign `{n}` in store {}; known: {}",
                            store_dir.display(),
                            if known.is_empty() {
                                "(none)".into()
                            } else {
                                known.join(", ")
                            }
                        );
                    }
                },
                None => store.campaigns()?,
            };
            headers.iter().map(|h| status_json(h, false)).collect()
        }
        Err(StoreError::InUse { .. }) => {
            // A campaign is running: read the snapshots it keeps up to date.
            let folder = files::status_dir(store_dir);
            let out = files::read_statuses(store_dir, name).with_context(|| {
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
            out
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        if name.is_some() {
            println!("{}", serde_json::to_string_pretty(&values[0])?);
        } else {
            println!("{}", serde_json::to_string_pretty(&values)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if values.is_empty() {
        println!("no campaigns in {}", store_dir.display());
    }
    for v in &values {
        println!(
            "{}: {} | proposals {} | evaluations {} | cache hits {} | failures {} | elapsed {:.1} s",
            v["name"].as_str().unwrap_or("?"),
            v["state"].as_str().unwrap_or("?"),
            v["proposals"], v["evaluations"], v["cache_hits"], v["failures"],
            v["elapsed_seconds"].as_f64().unwrap_or(0.0)
        );
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

fn cache(command: CacheCommand) -> anyhow::Result<ExitCode> {
    let store_dir = match &command {
        CacheCommand::Stats { store, .. }
        | CacheCommand::Export { store, .. }
        | CacheCommand::Import { store, .. }
        | CacheCommand::Gc { store } => store.store.clone(),
    };
    // Importing may start a store; the other subcommands only read or tidy one.
    let store = match &command {
        CacheCommand::Import { .. } => open_store(&store_dir)?,
        _ => open_existing_store(&store_dir)?,
    };
    match command {
        CacheCommand::Stats { json, .. } => {
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
        CacheCommand::Export { out, .. } => {
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
        CacheCommand::Import {
            file, overwrite, ..
        } => {
            let (text, origin) = read_input(Some(file))?;
            let entries = files::parse_cache_lines(&text, &origin)?;
            let n = store.cache_import(&entries, overwrite)?;
            println!("imported {n} of {} entries", entries.len());
        }
        CacheCommand::Gc { .. } => {
            let n = store.cache_gc()?;
            println!("removed {n} stale entries");
        }
    }
    Ok(ExitCode::SUCCESS)
}
