//! Graphviz (DOT) source of a network: one node per IR op, labelled with the op, its key
//! parameters and output shape, grouped into clusters by the label's path (`stage0/cell1/...`)
//! so cells read as boxes.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::ir::{Network, Op};

fn op_text(op: &Op) -> String {
    match op {
        Op::Conv(c) => {
            let mut s = format!("conv {}x{}", c.kernel[0], c.kernel[1]);
            if c.stride != [1, 1] {
                let _ = write!(s, " /{}", c.stride[0]);
            }
            if c.dilation != [1, 1] {
                let _ = write!(s, " dil {}", c.dilation[0]);
            }
            if c.groups > 1 {
                let _ = write!(s, " g{}", c.groups);
            }
            s
        }
        Op::AvgPool { kernel, stride, .. } => format!("avg_pool {kernel}x{kernel} /{stride}"),
        Op::MaxPool { kernel, stride, .. } => format!("max_pool {kernel}x{kernel} /{stride}"),
        Op::Linear { out_features, .. } => format!("linear {out_features}"),
        Op::ChannelShuffle { groups } => format!("shuffle g{groups}"),
        Op::Truncate { channels } => format!("truncate {channels}"),
        other => other.name().to_string(),
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The cluster path of a node label: everything up to its last two components
/// (`stage0/cell1/edge2<-1/nor_conv_3x3/conv` -> `stage0/cell1`).
fn cluster(label: &str) -> String {
    let parts: Vec<&str> = label.split('/').collect();
    if parts.len() > 2 {
        parts[..2].join("/")
    } else {
        String::new()
    }
}

/// DOT source for `net`, titled `name`.
pub fn render(name: &str, net: &Network) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(name));
    let _ = writeln!(out, "  rankdir=TB;");
    let _ = writeln!(out, "  label=\"{}\"; labelloc=t;", escape(name));
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\", fontsize=10];"
    );
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, n) in net.nodes().iter().enumerate() {
        groups.entry(cluster(&n.label)).or_default().push(i);
    }
    for (k, (group, ids)) in groups.iter().enumerate() {
        let indent = if group.is_empty() { "  " } else { "    " };
        if !group.is_empty() {
            let _ = writeln!(out, "  subgraph cluster_{k} {{");
            let _ = writeln!(out, "    label=\"{}\"; style=dashed;", escape(group));
        }
        for &i in ids {
            let n = &net.nodes()[i];
            let _ = writeln!(
                out,
                "{indent}n{i} [label=\"{}\\n{}\"];",
                escape(&op_text(&n.op)),
                n.shape
            );
        }
        if !group.is_empty() {
            let _ = writeln!(out, "  }}");
        }
    }
    for (i, n) in net.nodes().iter().enumerate() {
        for src in &n.inputs {
            let _ = writeln!(out, "  n{} -> n{i};", src.index());
        }
    }
    out.push_str("}\n");
    out
}
