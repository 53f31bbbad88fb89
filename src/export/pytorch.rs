//! A self-contained PyTorch file: one `nn.Module` class per exported architecture, so a
//! discovered network can be retrained in the user's own PyTorch pipeline.
//!
//! Each class carries its decoded IR as a literal node list and builds one PyTorch layer per
//! weight-bearing node (`Conv2d`, `BatchNorm2d`, `Linear`) with exactly the IR's settings;
//! `forward` walks the nodes in topological order. Average pooling excludes padding
//! (`count_include_pad=False`), as in the IR. The file needs only `torch`.

use std::fmt::Write;

use serde_json::Value;

use super::short_name;
use crate::space::ArchDocument;

const BASE: &str = r#"import torch
import torch.nn as nn
import torch.nn.functional as F


class EvonasNetwork(nn.Module):
    """A network given as evonas IR nodes: (id, op, inputs, (channels, height, width))."""

    NODES = []

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict()
        shapes = {n[0]: n[3] for n in self.NODES}
        for node_id, op, inputs, _shape in self.NODES:
            kind = op["kind"]
            src = shapes[inputs[0]] if inputs else None
            if kind == "conv":
                self.layers[str(node_id)] = nn.Conv2d(
                    src[0], op["out_channels"], tuple(op["kernel"]), tuple(op["stride"]),
                    tuple(op["padding"]), tuple(op["dilation"]), op["groups"], op["bias"])
            elif kind == "batch_norm":
                self.layers[str(node_id)] = nn.BatchNorm2d(src[0], affine=op["affine"])
            elif kind == "linear":
                self.layers[str(node_id)] = nn.Linear(src[0], op["out_features"], op["bias"])

    def forward(self, x):
        values = {}
        for node_id, op, inputs, shape in self.NODES:
            kind = op["kind"]
            args = [values[i] for i in inputs]
            if kind == "input":
                y = x
            elif kind in ("output", "identity"):
                y = args[0]
            elif kind in ("conv", "batch_norm"):
                y = self.layers[str(node_id)](args[0])
            elif kind == "relu":
                y = F.relu(args[0])
            elif kind == "avg_pool":
                y = F.avg_pool2d(args[0], op["kernel"], op["stride"], op["padding"],
                                 count_include_pad=False)
            elif kind == "max_pool":
                y = F.max_pool2d(args[0], op["kernel"], op["stride"], op["padding"])
            elif kind == "zero":
                y = args[0].new_zeros((args[0].shape[0],) + tuple(shape))
            elif kind == "add":
                y = args[0]
                for a in args[1:]:
                    y = y + a
            elif kind == "concat":
                y = torch.cat(args, 1)
            elif kind == "channel_shuffle":
                b, c, h, w = args[0].shape
                g = op["groups"]
                y = args[0].reshape(b, g, c // g, h, w).transpose(1, 2).reshape(b, c, h, w)
            elif kind == "truncate":
                y = args[0][:, : op["channels"]]
            elif kind == "crop":
                y = args[0][:, :, op["rows"]:, op["cols"]:]
            elif kind == "global_avg_pool":
                y = args[0].mean((2, 3), keepdim=True)
            elif kind == "linear":
                y = self.layers[str(node_id)](args[0].flatten(1))[:, :, None, None]
            else:
                raise ValueError(f"unknown op {kind}")
            values[node_id] = y
        return values[self.NODES[-1][0]].flatten(1)
"#;

/// A JSON value as a Python literal.
fn py(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(items) => format!("[{}]", items.iter().map(py).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    py(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn class_name(rank: usize, doc: &ArchDocument) -> String {
    let s = short_name(rank, doc);
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => format!("Arch{rank}"),
    }
}

fn docstring(doc: &ArchDocument) -> String {
    let genotype = match &doc.genotype {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut s = format!("{} architecture `{}`", doc.space, genotype);
    if let Some(r) = &doc.result {
        let _ = write!(
            s,
            ".\n\n    functional hash {}; fitness {}; {} parameters; campaign `{}`",
            r.functional_hash,
            r.fitness.map_or("-".into(), |f| format!("{f:.4}")),
            r.params,
            r.provenance.campaign
        );
    }
    s.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"")
}

/// The Python source for `docs` (ranked in order, from 1).
pub fn render(docs: &[ArchDocument]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\"\"\"Architectures exported by evonas {}: one torch.nn.Module class per architecture.\n\n\
         Each class computes the decoded evonas IR network exactly (its NODES list). Build one with\n\
         `Arch1_xxxxxxxx()`; ARCHITECTURES maps names to classes; PARAMS gives evonas' parameter count.\n\"\"\"",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(BASE);
    let mut names = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let name = class_name(i + 1, doc);
        let _ = writeln!(out, "\n\nclass {name}(EvonasNetwork):");
        let _ = writeln!(out, "    \"\"\"{}\"\"\"\n", docstring(doc));
        let _ = writeln!(out, "    NODES = [");
        for n in &doc.network.nodes {
            let op = serde_json::to_value(n.op).unwrap_or(Value::Null);
            let shape = n.shape.map_or("None".to_string(), |s| {
                format!("({}, {}, {})", s.channels, s.height, s.width)
            });
            let inputs: Vec<String> = n.inputs.iter().map(usize::to_string).collect();
            let _ = writeln!(
                out,
                "        ({}, {}, [{}], {}),",
                n.id,
                py(&op),
                inputs.join(", "),
                shape
            );
        }
        let _ = writeln!(out, "    ]");
        if let Ok(net) = doc.network() {
            let _ = writeln!(out, "    PARAMS = {}", crate::ir::cost(&net).params);
        }
        names.push(name);
    }
    let _ = writeln!(out, "\n\nARCHITECTURES = {{");
    for n in &names {
        let _ = writeln!(out, "    {:?}: {n},", n.to_lowercase());
    }
    let _ = writeln!(out, "}}");
    out
}
