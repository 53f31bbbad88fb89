//! The low-level layer: every flag and argument as clap parses it, and nothing else.
//!
//! These types mirror the command line one to one, so `--help` is generated from them (their
//! doc comments are the help texts). No command reads them: [`super::Request::new`] turns them
//! into typed requests first, which is where values are checked, defaults resolved and configs
//! overridden.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// evonas: neural architecture search with unified functional hashing.
///
/// Architectures come from search spaces (NAS-Bench-201, NAS-Bench-101, NASNet, FBNet or your
/// own TOML file) and are exchanged as architecture documents: one JSON object per architecture
/// with the space, the genotype in the space's native notation and the decoded network.
#[derive(Parser, Debug)]
#[command(name = "evonas", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log detail on stderr (-v debug: every round; -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Logs and progress lines as JSON objects, one per line (for machines and log files).
    #[arg(long, global = true)]
    pub log_json: bool,
}

/// Width/depth scaling of the macro skeleton.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct KnobArgs {
    /// Base channels of the skeleton (NB-201/NASNet: C; NB-101: stem; FBNet: stem width).
    #[arg(long, value_name = "C")]
    pub channels: Option<u32>,
    /// Cells per stage (NB-201: N; NB-101: cells per stack; NASNet: normal cells per stage).
    #[arg(long, value_name = "N")]
    pub cells: Option<u32>,
}

/// Where campaigns and the cache live.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Store folder (created if missing).
    #[arg(
        long,
        env = "EVONAS_STORE",
        default_value = "evonas-store",
        value_name = "DIR"
    )]
    pub store: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
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
    ///
    /// Importing someone else's cache means trusting its results as measured: every campaign
    /// with the same protocol will serve them instead of evaluating. Each entry is checked
    /// first (record schema, hash version, and its key against its genotype where this store
    /// knows the space and knobs); entries that fail are skipped and listed with the reason,
    /// entries that cannot be checked here are imported and counted. One atomic write.
    Import {
        /// Input file; `-` reads stdin.
        file: PathBuf,
        /// Replace existing entries.
        #[arg(long)]
        overwrite: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove entries keyed by an older hash-algorithm version.
    ///
    /// New campaigns never hit them. Entries an unfinished campaign of that version still
    /// reads are kept. Run `cache rehash` first to carry older entries forward instead of
    /// deleting them.
    Gc {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Carry entries keyed by an older functional-hash version forward to the current one.
    ///
    /// Each entry's genotype is decoded again (with the knobs and input of the campaigns in
    /// this store, or those the entry records) and must reproduce its own key under the old
    /// version before it moves. Entries whose functions the new version finds equal are merged
    /// (their evaluations add up, fitness and metrics become the weighted means). Entries that
    /// an unfinished older-version campaign still reads stay where they are (finish it, then
    /// rehash again); entries that cannot be rehashed stay under their old key and are listed.
    /// One atomic write; a second run changes nothing.
    Rehash {
        /// Report what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON (every unrehashable entry listed).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a search campaign from a config file (none: the built-in quickstart on synthetic
    /// data); resumes an unfinished campaign of the same name and config. Ctrl-C stops cleanly
    /// (resume later with `evonas resume NAME`).
    ///
    /// Without --config it runs the built-in quickstart campaign: regularized evolution over
    /// NAS-Bench-201 cells trained briefly on evonas' synthetic data (a few minutes on 2 cores;
    /// the config is experiments/quickstart/synthetic.toml).
    Search(SearchArgs),
    /// Train one architecture under a training protocol and print its record as JSON.
    ///
    /// The protocol is the [evaluator] table (kind = "train") and [knobs] of a campaign config
    /// (--config); without one, the quickstart's protocol (synthetic data), with the network at
    /// the document's own size unless --channels/--cells say otherwise.
    Train(TrainArgs),
    /// Retrain the best K architectures of a campaign longer, on the full training set, and
    /// report their test accuracy (printed as a table; --json for JSON).
    Retrain(RetrainArgs),
    /// Export a campaign's architectures: JSON documents (with hashes, metrics, params, FLOPs,
    /// protocol and provenance), Graphviz, SVG or a PyTorch file. Works on finished,
    /// interrupted, killed and running campaigns (a running one: its best so far).
    Export(ExportArgs),
    /// Write a campaign report: one self-contained HTML page (DIR/index.html) with plots of
    /// best fitness vs evaluations and time, the cache hit rate, fitness vs parameters with the
    /// Pareto front, and the top-10 table.
    Report(ReportArgs),
    /// Continue an interrupted or killed campaign exactly where it stopped.
    Resume(ResumeArgs),
    /// Evaluate jobs from a work queue (Redis Streams) for the campaigns that publish there
    /// (`[parallel] queue` or `search --queue`). Workers are stateless: start as many as you
    /// have machines or GPUs, stop or kill them at any time (a killed worker's job is taken over
    /// by another once its lease expires). They never open a store.
    ///
    /// The Redis password, if any, is read from EVONAS_REDIS_PASSWORD, never from the URL.
    /// First Ctrl-C / SIGTERM: release the job in hand to other workers, finish it if possible,
    /// exit; second: exit at once.
    Worker(WorkerArgs),
    /// Show campaigns: state, counts, best so far (`--json` for machines).
    Status(StatusArgs),
    /// Score the same architectures with two evaluators and say how well the candidate orders
    /// them like the reference: Spearman's rho, Kendall's tau-b, Pearson's r, top-k precision,
    /// and seconds per evaluation on each side (how the literature judges a cheap evaluator,
    /// e.g. short training or a proxy, against an expensive one, e.g. a table).
    ///
    /// Each evaluator is a TOML file with an [evaluator] table and optional [knobs] (a campaign
    /// config works). Scores go through the store's cache: an architecture a campaign or an
    /// earlier `rank` already scored under that protocol is not evaluated again, and new scores
    /// serve later campaigns.
    Rank(RankArgs),
    /// Inspect and move the evaluation cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// List the built-in search spaces with their sizes.
    Spaces,
    /// Sample random architectures; prints one architecture document (JSON) per line.
    Sample(SampleArgs),
    /// Mutate architectures read from FILE or stdin (documents or native notation); prints
    /// one mutated architecture document per input.
    Mutate(MutateArgs),
    /// Summarise architectures: ops, parameters, FLOPs and a drawing of the cells.
    Show(ShowArgs),
    /// Hash architectures: prints `functional_hash<TAB>structural_hash<TAB>input` per line, in
    /// input order. Equal functional hashes mean the networks compute the same function.
    Hash(HashArgs),
    /// Count every valid encoding of a finite space (nb201, nb101 and their variants) with its
    /// structural and functional classes.
    Enumerate(EnumerateArgs),
}

// The argument structs below carry no doc comment of their own: clap would take it for the
// command's about text, which the variant's comment above gives.

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Campaign config (TOML); see experiments/*/ for examples. Default: the quickstart.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Campaign name (overrides the config's).
    #[arg(long)]
    pub name: Option<String>,
    /// Seed (overrides the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Evaluate on the workers of this queue (redis://HOST:PORT/DB or rediss://...; overrides
    /// `[parallel] queue`). Results are the same as in-process, in round mode bit for bit.
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Architecture: a document (e.g. from `evonas sample`) or a genotype in native notation
    /// (with --space); the first one in the file is trained. `-` reads stdin.
    #[arg(long, short)]
    pub arch: PathBuf,
    /// Space of a genotype in native notation.
    #[arg(long, short)]
    pub space: Option<String>,
    /// Campaign config whose [evaluator] and [knobs] give the protocol.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Epochs (overrides the protocol's).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Seed of initialisation and data order (overrides the protocol's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also report accuracy on the test split.
    #[arg(long)]
    pub test: bool,
    /// Threads for this run (default: the protocol's).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub knobs: KnobArgs,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct RetrainArgs {
    /// Campaign name.
    pub name: String,
    /// How many of the best distinct functions to retrain.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// Epochs of each retraining.
    #[arg(long)]
    pub epochs: u32,
    /// Training images (default: the campaign's whole training split).
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Threads per training run (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Width/depth knobs for the retrained networks (default: the campaign's).
    #[command(flatten)]
    pub knobs: KnobArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An array of architecture documents with hashes, metrics, cost, protocol, provenance.
    Json,
    /// Graphviz source, one digraph per architecture.
    Dot,
    /// SVG drawings rendered by Graphviz' `dot` (one file per architecture, in --out DIR).
    Svg,
    /// One self-contained Python file with an nn.Module class per architecture.
    Pytorch,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Parameter count.
    Params,
    /// FLOPs.
    Flops,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Campaign name (finished, interrupted, killed or still running).
    #[arg(required_unless_present_any = ["schema", "arch"])]
    pub name: Option<String>,
    /// Export architecture documents from FILE (`-`: stdin) instead of a campaign: one JSON
    /// document, an array, or one per line (hand-written ones with only `space`, `genotype`
    /// and `knobs` included).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "top", "pareto", "all"])]
    pub arch: Option<PathBuf>,
    /// The best K distinct functions.
    #[arg(long, conflicts_with_all = ["pareto", "all"])]
    pub top: Option<usize>,
    /// The Pareto front of (fitness up, --objective down).
    #[arg(long, conflicts_with = "all")]
    pub pareto: bool,
    /// The cost axis of --pareto.
    #[arg(long, value_enum, default_value_t = Axis::Params)]
    pub objective: Axis,
    /// Every scored function (default: --top 10).
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Output file (json, dot, pytorch; default stdout) or folder (svg; default `.`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the JSON Schema of the json format and exit.
    #[arg(long)]
    pub schema: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Campaign name.
    pub name: String,
    /// Output folder (created).
    #[arg(long, default_value = "evonas-report")]
    pub out: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// Campaign name.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Evaluate on the workers of this queue (default: the stored config's `[parallel] queue`).
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,
    /// Evaluate in this process even if the stored config names a queue.
    #[arg(long, conflicts_with = "queue")]
    pub local: bool,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Campaign name (all campaigns if omitted).
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    /// Space: a built-in name (see `evonas spaces`) or a path to a space TOML file.
    #[arg(long, short)]
    pub space: String,
    /// How many to sample.
    #[arg(short = 'n', long, default_value_t = 1)]
    pub count: usize,
    /// RNG seed; without it one is drawn from the OS and printed on stderr.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

#[derive(clap::Args, Debug)]
pub struct MutateArgs {
    /// Space: a built-in name or a path to a space TOML file.
    #[arg(long, short)]
    pub space: String,
    /// RNG seed; without it one is drawn from the OS and printed on stderr.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Input file; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Input file of architecture documents or genotypes; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// Space, needed to read native notation (documents name their own space).
    #[arg(long, short)]
    pub space: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct HashArgs {
    /// Space of genotypes in native notation (documents name their own space).
    #[arg(long, short)]
    pub space: Option<String>,
    /// Input: one architecture per line (document or native notation); `-` or nothing
    /// reads stdin.
    pub file: Option<PathBuf>,
    /// Functional-hash algorithm version (default: the newest; an older one reproduces the
    /// hashes an older evonas printed and stored).
    #[arg(long, value_name = "N")]
    pub hash_version: Option<u32>,
}

#[derive(clap::Args, Debug)]
pub struct EnumerateArgs {
    /// Space: a built-in name or a path to a space TOML file.
    #[arg(long, short)]
    pub space: String,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The queue: redis://HOST:PORT/DB or rediss://HOST:PORT/DB (TLS).
    #[arg(long, env = "EVONAS_QUEUE", value_name = "URL")]
    pub queue: String,
    /// Jobs evaluated at once (default: one per device, else 1; a training evaluator uses
    /// every core for one job).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Training devices this worker may use, comma-separated (cuda:0,cuda:1); one job on each
    /// at a time. Given to training evaluators as their `devices`.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub devices: Vec<String>,
    /// Lease on a job, renewed every third of it while evaluating: a worker silent this long
    /// is taken for dead and its job is taken over by another.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub lease_seconds: f64,
    /// Exit after this many seconds without a job (default: wait for ever). For batch
    /// schedulers: a worker array ends when the campaign's work does.
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
    /// Exit after answering this many jobs.
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<u64>,
    /// This worker's name in the queue and in logs (default: HOST-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the closing summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RankArgs {
    /// The reference evaluator (TOML with [evaluator], optional [knobs]; a campaign config works).
    #[arg(long, value_name = "FILE")]
    pub reference: PathBuf,
    /// The evaluator judged against it.
    #[arg(long, value_name = "FILE")]
    pub candidate: PathBuf,
    /// Architectures: documents or native notation, one per line (`-`: stdin).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "sample",
        required_unless_present = "sample"
    )]
    pub archs: Option<PathBuf>,
    /// Sample this many distinct random architectures of --space instead.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Space: a built-in name or a space file (for --sample and native notation; default nb201).
    #[arg(long)]
    pub space: Option<String>,
    /// Seed for --sample (default: drawn from the OS and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Top-k precision at these k, comma-separated (default: 10, and 10% of the architectures).
    #[arg(long, value_delimiter = ',', value_name = "K")]
    pub top_k: Vec<usize>,
    /// Evaluations at once (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write a scatter plot (candidate against reference) to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Print JSON (statistics, both sides, every architecture's scores).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}
