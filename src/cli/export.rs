//! `evonas export`: a campaign's architectures as JSON documents, Graphviz or PyTorch.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use evonas::export::{self, dot, pytorch, Objective, Selection};
use evonas::space::ArchDocument;
use evonas::store::Store;

use super::StoreArgs;

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
    name: Option<String>,
    /// Export architecture documents from FILE (`-`: stdin) instead of a campaign: one JSON
    /// document, an array, or one per line (hand-written ones with only `space`, `genotype`
    /// and `knobs` included).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "top", "pareto", "all"])]
    arch: Option<PathBuf>,
    /// The best K distinct functions.
    #[arg(long, conflicts_with_all = ["pareto", "all"])]
    top: Option<usize>,
    /// The Pareto front of (fitness up, --objective down).
    #[arg(long, conflicts_with = "all")]
    pareto: bool,
    /// The cost axis of --pareto.
    #[arg(long, value_enum, default_value_t = Axis::Params)]
    objective: Axis,
    /// Every scored function (default: --top 10).
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Output file (json, dot, pytorch; default stdout) or folder (svg; default `.`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the JSON Schema of the json format and exit.
    #[arg(long)]
    schema: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn write_out(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(p) => {
            super::write_atomic(p, text)?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The JSON Schema of `evonas export`'s output.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Vec<ArchDocument>)).unwrap_or_default()
}

fn svg(docs: &[ArchDocument], dir: &Path) -> anyhow::Result<()> {
    let probe = Command::new("dot").arg("-V").output();
    if probe.is_err() {
        bail!("--format svg needs Graphviz' `dot`, which is not installed; install it (Debian/Ubuntu: `sudo apt-get install graphviz`, macOS: `brew install graphviz`) or use --format dot");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, d) in docs.iter().enumerate() {
        let name = export::short_name(i + 1, d);
        let net = d.network()?;
        let src = dir.join(format!("{name}.dot"));
        let out = dir.join(format!("{name}.svg"));
        std::fs::write(&src, dot::render(&name, &net))
            .with_context(|| format!("cannot write {}", src.display()))?;
        let status = Command::new("dot")
            .arg("-Tsvg")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .status()
            .context("cannot run dot")?;
        if !status.success() {
            bail!("dot failed on {}", src.display());
        }
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

pub fn run(a: ExportArgs) -> anyhow::Result<ExitCode> {
    if a.schema {
        println!("{}", serde_json::to_string_pretty(&schema())?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(file) = &a.arch {
        let docs = read_documents(file)?;
        return write_docs(&docs, a.format, a.out.as_deref());
    }
    let Some(name) = a.name else {
        bail!("name a campaign (see `evonas status`) or give --arch FILE");
    };
    if a.top == Some(0) {
        bail!("--top must be at least 1");
    }
    let dir = &a.store.store;
    if !dir.exists() {
        bail!("no store at {} (pass --store DIR)", dir.display());
    }
    let selection = if a.pareto {
        Selection::Pareto(match a.objective {
            Axis::Params => Objective::Params,
            Axis::Flops => Objective::Flops,
        })
    } else if a.all {
        Selection::All
    } else {
        Selection::Top(a.top.unwrap_or(10))
    };
    let docs = match Store::open_existing(dir) {
        Ok(store) => export::export(&store, &name, selection)?,
        Err(evonas::store::StoreError::InUse { .. }) => {
            // A running campaign holds the store; its best architecture is kept on disk.
            let path = evonas::store::files::best_path(dir, &name);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "store {} is in use by a running campaign and {} is missing",
                    dir.display(),
                    path.display()
                )
            })?;
            eprintln!(
                "store in use by a running campaign: exporting its best so far ({})",
                path.display()
            );
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?
        }
        Err(e) => return Err(e.into()),
    };
    if docs.is_empty() {
        bail!("campaign `{name}` has no scored architectures yet");
    }
    write_docs(&docs, a.format, a.out.as_deref())
}

/// Architecture documents from a file or stdin (`-`).
fn read_documents(file: &Path) -> anyhow::Result<Vec<ArchDocument>> {
    let (text, origin) = super::read_input(Some(file.to_path_buf()))?;
    let mut docs = Vec::new();
    for (i, item) in evonas::space::input::split(&text).iter().enumerate() {
        let doc = ArchDocument::from_json(item)
            .with_context(|| format!("{origin}: architecture {}", i + 1))?;
        doc.network()
            .with_context(|| format!("{origin}: architecture {}", i + 1))?;
        docs.push(doc);
    }
    if docs.is_empty() {
        bail!("{origin}: no architecture documents");
    }
    Ok(docs)
}

fn write_docs(
    docs: &[ArchDocument],
    format: Format,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let a_out = out;
    match format {
        Format::Json => write_out(a_out, &(serde_json::to_string_pretty(&docs)? + "\n"))?,
        Format::Dot => {
            let mut text = String::new();
            for (i, d) in docs.iter().enumerate() {
                text.push_str(&dot::render(&export::short_name(i + 1, d), &d.network()?));
            }
            write_out(a_out, &text)?;
        }
        Format::Svg => svg(docs, a_out.unwrap_or(Path::new(".")))?,
        Format::Pytorch => write_out(a_out, &pytorch::render(docs))?,
    }
    Ok(ExitCode::SUCCESS)
}
