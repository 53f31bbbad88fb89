//! The `evonas` command line: parses arguments, calls the library, prints results and errors.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use evonas::hash::census::census;
use evonas::ir::{cost, Network, Op};
use evonas::space::input::{self, Parsed};
use evonas::space::{AnySpace, ArchDocument, Knobs, Size, BUILTIN};

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

#[derive(Subcommand, Debug)]
enum Command {
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        Command::Enumerate { space, json } => enumerate(&space, json),
        Command::Hash { space, file } => hash(space.as_deref(), file),
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

fn enumerate(space: &str, json: bool) -> anyhow::Result<ExitCode> {
    let s = load_space(space)?;
    let start = Instant::now();
    let Some(result) = census(&s, &|_| {}) else {
        bail!(
            "space {} ({}) is too large to enumerate (about {} genotypes); enumerate works for nb201 and nb101 spaces",
            s.name(),
            s.family(),
            s.size()
        );
    };
    let c = result?;
    let seconds = start.elapsed().as_secs_f64();
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
