//! `evonas export`: a campaign's architectures (or documents from a file) as JSON documents,
//! Graphviz, SVG or PyTorch.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use evonas::export::{self, dot, pytorch, Objective, Selection};
use evonas::space::ArchDocument;
use evonas::store::{files, StoreError};

use super::args::{Axis, ExportArgs, Format};
use super::input::read_documents;
use super::output::write_or_print;
use super::store::StoreDir;

/// Where the documents come from.
pub enum Source {
    /// Only the JSON Schema of the json format is printed.
    Schema,
    /// Documents read from a file or stdin.
    Documents(PathBuf),
    /// A campaign's scored architectures.
    Campaign {
        name: String,
        selection: Selection,
        store: StoreDir,
    },
}

/// `evonas export`: where the documents come from and how they are written.
pub struct Request {
    source: Source,
    format: Format,
    /// File (or folder, for svg); none: stdout (svg: `.`).
    out: Option<PathBuf>,
}

impl Request {
    pub fn new(a: ExportArgs) -> anyhow::Result<Self> {
        let source = if a.schema {
            Source::Schema
        } else if let Some(file) = a.arch {
            Source::Documents(file)
        } else {
            let Some(name) = a.name else {
                bail!("name a campaign (see `evonas status`) or give --arch FILE");
            };
            if a.top == Some(0) {
                bail!("--top must be at least 1");
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
            Source::Campaign {
                name,
                selection,
                store: a.store.into(),
            }
        };
        Ok(Request {
            source,
            format: a.format,
            out: a.out,
        })
    }
}

/// The JSON Schema of `evonas export`'s output.
fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Vec<ArchDocument>)).unwrap_or_default()
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let docs = match r.source {
        Source::Schema => {
            println!("{}", serde_json::to_string_pretty(&schema())?);
            return Ok(ExitCode::SUCCESS);
        }
        Source::Documents(file) => read_documents(&file)?,
        Source::Campaign {
            name,
            selection,
            store,
        } => {
            let docs = campaign_documents(&name, selection, &store)?;
            if docs.is_empty() {
                bail!("campaign `{name}` has no scored architectures yet");
            }
            docs
        }
    };
    write_docs(&docs, r.format, r.out.as_deref())
}

/// The documents of campaign `name`; while a running campaign holds the store, the best so
/// far, which it keeps on disk for exactly this.
fn campaign_documents(
    name: &str,
    selection: Selection,
    dir: &StoreDir,
) -> anyhow::Result<Vec<ArchDocument>> {
    match dir.try_open_existing() {
        Ok(store) => Ok(export::export(&store, name, selection)?),
        Err(StoreError::InUse { .. }) => {
            let path = files::best_path(dir.path(), name);
            let text = evonas::limits::read_text(&path).with_context(|| {
                format!(
                    "store {dir} is in use by a running campaign and {} is missing",
                    path.display()
                )
            })?;
            eprintln!(
                "store in use by a running campaign: exporting its best so far ({})",
                path.display()
            );
            Ok(serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?)
        }
        Err(e) => Err(e.into()),
    }
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

fn write_docs(
    docs: &[ArchDocument],
    format: Format,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => write_or_print(out, &(serde_json::to_string_pretty(&docs)? + "\n"))?,
        Format::Dot => {
            let mut text = String::new();
            for (i, d) in docs.iter().enumerate() {
                text.push_str(&dot::render(&export::short_name(i + 1, d), &d.network()?));
            }
            write_or_print(out, &text)?;
        }
        Format::Svg => svg(docs, out.unwrap_or(Path::new(".")))?,
        Format::Pytorch => write_or_print(out, &pytorch::render(docs))?,
    }
    Ok(ExitCode::SUCCESS)
}
