//! `evonas enumerate`: every valid encoding of a finite space, with its structural and
//! functional classes.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;

use evonas::census::census;
use evonas::space::{AnySpace, Size};

use super::args::EnumerateArgs;
use super::progress::Progress;

/// `evonas enumerate` with its space loaded.
pub struct Request {
    space: AnySpace,
    json: bool,
    quiet: bool,
}

impl Request {
    pub fn new(a: EnumerateArgs) -> anyhow::Result<Self> {
        Ok(Request {
            space: AnySpace::load(&a.space)?,
            json: a.json,
            quiet: a.quiet,
        })
    }
}

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let s = &r.space;
    let start = Instant::now();
    let total = match s.size() {
        Size::Exact(n) => n,
        Size::Log10(_) => 0,
    };
    let bar = std::sync::Mutex::new(Progress::new(r.quiet, total, s.name()));
    let Some(result) = census(s, &|done| {
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
    if r.json {
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
