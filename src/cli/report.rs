//! `evonas report`: a campaign's self-contained HTML report page.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::ReportArgs;
use super::output::write_atomic;
use super::store::StoreDir;

/// `evonas report`.
pub struct Request {
    name: String,
    /// The folder `index.html` goes in.
    out: PathBuf,
    store: StoreDir,
}

impl Request {
    pub fn new(a: ReportArgs) -> Self {
        Request {
            name: a.name,
            out: a.out,
            store: a.store.into(),
        }
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let store = r.store.open_existing()?;
    // A missing campaign is reported by the library's reopening of it, worded as everywhere.
    let html = evonas::report::render(&store, &r.name)?;
    let path = r.out.join("index.html");
    write_atomic(&path, &html)?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
