//! `evonas show`: ops, parameters, FLOPs and a drawing of each input architecture.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use evonas::ir::{cost, Network, Op};
use evonas::space::AnySpace;

use super::args::ShowArgs;
use super::input::read_architectures;

/// `evonas show` with its space (if any) loaded; the input is read when it runs.
pub struct Request {
    file: Option<PathBuf>,
    /// Needed only for native notation; documents name their own space.
    space: Option<AnySpace>,
}

impl Request {
    pub fn new(a: ShowArgs) -> anyhow::Result<Self> {
        Ok(Request {
            file: a.file,
            space: a.space.as_deref().map(AnySpace::load).transpose()?,
        })
    }
}

/// "op count, ..." most frequent first, without the network's input and output.
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

pub fn run(r: Request) -> anyhow::Result<ExitCode> {
    let archs = read_architectures(r.file.as_deref(), r.space.as_ref())?;
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
