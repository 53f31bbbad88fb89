//! Reading architectures from a file or stdin: documents (one per line, an array, or a
//! pretty-printed one) or genotypes in a space's native notation. Errors name the input and
//! the architecture's position in it, since inputs are often long pipelines.

use std::path::Path;

use anyhow::{bail, Context};

use evonas::space::input::{self, Parsed};
use evonas::space::{AnySpace, ArchDocument};

/// The text of `file` (`-` or none: stdin) and a name for it in messages.
pub fn read_input(file: Option<&Path>) -> anyhow::Result<(String, String)> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let text = evonas::limits::read_text(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok((text, p.display().to_string()))
        }
        _ => {
            let bytes = evonas::limits::read_capped(
                std::io::stdin().lock(),
                evonas::limits::Input::Text,
                "stdin",
            )
            .context("cannot read stdin")?;
            let text = String::from_utf8(bytes).context("stdin is not UTF-8 text")?;
            Ok((text, "stdin".to_string()))
        }
    }
}

/// Every architecture in `file`; native notation is read in `space`.
pub fn read_architectures(
    file: Option<&Path>,
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

/// The first architecture in `file` (the rest are not read, so they need not parse).
pub fn read_first_architecture(file: &Path, space: Option<&AnySpace>) -> anyhow::Result<Parsed> {
    let (text, origin) = read_input(Some(file))?;
    let items = input::split(&text);
    let Some(first) = items.first() else {
        bail!("{origin}: no architecture found");
    };
    input::parse(first, space).with_context(|| format!("{origin}: architecture 1"))
}

/// The architecture documents in `file`, each checked to decode (hand-written ones may give
/// only `space`, `genotype` and `knobs`).
pub fn read_documents(file: &Path) -> anyhow::Result<Vec<ArchDocument>> {
    let (text, origin) = read_input(Some(file))?;
    let mut docs = Vec::new();
    for (i, item) in input::split(&text).iter().enumerate() {
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
