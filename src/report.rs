//! `evonas report`: one self-contained HTML page about a campaign (no network fetches), with
//! SVG plots drawn by plotters: best fitness against evaluations and against evaluation time,
//! the cache hit rate over the run, fitness against parameters with the Pareto front, and the
//! top-10 table with a drawing of each cell.

use std::fmt::Write;

use plotters::prelude::*;

use crate::export::{self, ExportError, Objective, Selection};
use crate::space::{AnySpace, ArchDocument};
use crate::store::cache::CacheKey;
use crate::store::campaign::{Event, Source};
use crate::store::Store;

/// The run's curves, read from the journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curves {
    /// (real evaluations so far, best fitness so far), one point per scored proposal.
    pub by_evaluations: Vec<(f64, f64)>,
    /// (evaluation seconds so far, best fitness so far): simulated seconds for table
    /// evaluators, training wall seconds otherwise.
    pub by_time: Vec<(f64, f64)>,
    /// (proposals so far, cumulative cache hit rate in %).
    pub hit_rate: Vec<(f64, f64)>,
    /// Whether `by_time` is in simulated seconds.
    pub simulated: bool,
}

/// Reads the curves of campaign `name`.
pub fn curves(store: &Store, name: &str) -> Result<Curves, ExportError> {
    let header = store.campaign(name)?;
    let fingerprint = header
        .as_ref()
        .and_then(|h| h.protocol.as_ref())
        .map(|p| p.fingerprint);
    let mut c = Curves::default();
    let (mut proposals, mut evaluations, mut hits) = (0u64, 0u64, 0u64);
    let mut best = f64::NEG_INFINITY;
    let mut time = 0f64;
    for (_, e) in store.journal(name)? {
        let (fitness, evaluated, cost) = match &e {
            Event::Evaluated {
                hash,
                fitness,
                simulated_seconds,
                ..
            } => {
                let cost = if *simulated_seconds > 0.0 {
                    c.simulated = true;
                    *simulated_seconds
                } else {
                    match fingerprint {
                        Some(p) => store
                            .cache_get(&CacheKey::new(*hash, p))?
                            .map_or(0.0, |r| r.wall_seconds / f64::from(r.evaluations.max(1))),
                        None => 0.0,
                    }
                };
                (Some(*fitness), true, cost)
            }
            Event::CacheHit { fitness, .. } => (Some(*fitness), false, 0.0),
            Event::Failed { source, .. } => (None, *source == Source::Evaluated, 0.0),
            // A screen's cost is time spent; its score is another fidelity's and makes no best.
            Event::Screened { seconds, .. } => {
                time += seconds;
                continue;
            }
            _ => continue,
        };
        proposals += 1;
        if evaluated {
            evaluations += 1;
        } else {
            hits += 1;
        }
        time += cost;
        if let Some(f) = fitness {
            best = best.max(f);
        }
        if best.is_finite() {
            c.by_evaluations.push((evaluations as f64, best));
            c.by_time.push((time, best));
        }
        c.hit_rate
            .push((proposals as f64, 100.0 * hits as f64 / proposals as f64));
    }
    Ok(c)
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) fn range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

fn line_plot(title: &str, x_desc: &str, y_desc: &str, pts: &[(f64, f64)]) -> String {
    let mut svg = String::new();
    let result: PlotResult = (|| {
        let root = SVGBackend::with_string(&mut svg, (560, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x0, x1) = range(pts.iter().map(|p| p.0));
        let (y0, y1) = range(pts.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()?;
        chart.draw_series(LineSeries::new(
            pts.iter().copied(),
            RGBColor(30, 90, 200).stroke_width(2),
        ))?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = result {
        return format!("<p>plot unavailable: {e}</p>");
    }
    svg
}

fn scatter_plot(docs: &[ArchDocument], front: &[ArchDocument]) -> String {
    let point = |d: &ArchDocument| {
        d.result
            .as_ref()
            .and_then(|r| r.fitness.map(|f| (r.params as f64 / 1e3, f)))
    };
    let pts: Vec<(f64, f64)> = docs.iter().filter_map(point).collect();
    let mut line: Vec<(f64, f64)> = front.iter().filter_map(point).collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut svg = String::new();
    let result: PlotResult = (|| {
        let root = SVGBackend::with_string(&mut svg, (560, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x0, x1) = range(pts.iter().map(|p| p.0));
        let (y0, y1) = range(pts.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "fitness vs parameters (Pareto front in red)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc("parameters (thousands)")
            .y_desc("fitness")
            .draw()?;
        chart.draw_series(
            pts.iter()
                .map(|p| Circle::new(*p, 3, RGBColor(120, 140, 170).filled())),
        )?;
        chart.draw_series(LineSeries::new(
            line.iter().copied(),
            RGBColor(200, 30, 30).stroke_width(2),
        ))?;
        chart.draw_series(
            line.iter()
                .map(|p| Circle::new(*p, 4, RGBColor(200, 30, 30).filled())),
        )?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = result {
        return format!("<p>plot unavailable: {e}</p>");
    }
    svg
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report page of campaign `name`.
pub fn render(store: &Store, name: &str) -> Result<String, ExportError> {
    let docs = export::export(store, name, Selection::All)?;
    let front = export::pareto(docs.clone(), Objective::Params);
    let c = curves(store, name)?;
    let header = store.campaign(name)?;
    let status = header
        .as_ref()
        .map(|h| crate::search::status::status_json(h, false))
        .unwrap_or_default();
    let space = docs.first().and_then(|d| AnySpace::builtin(&d.space).ok());
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>evonas report: {n}</title>\n\
         <style>body{{font-family:sans-serif;margin:24px;color:#222}} .plots{{display:flex;flex-wrap:wrap;gap:12px}}\
         .plot{{border:1px solid #ddd}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px}}\
         pre{{margin:0;font-size:11px}} code{{font-size:12px}}</style></head><body>\n<h1>Campaign <code>{n}</code></h1>\n",
        n = html_escape(name)
    );
    let _ = writeln!(
        out,
        "<p>state <b>{}</b>; {} proposals, {} evaluations, {} cache hits ({:.1}%), {} failures; {:.1} s elapsed.</p>",
        html_escape(status["state"].as_str().unwrap_or("?")),
        status["proposals"],
        status["evaluations"],
        status["cache_hits"],
        100.0 * status["hit_rate"].as_f64().unwrap_or(0.0),
        status["failures"],
        status["elapsed_seconds"].as_f64().unwrap_or(0.0),
    );
    out.push_str("<div class=\"plots\">\n");
    let time_desc = if c.simulated {
        "simulated training seconds"
    } else {
        "training wall seconds"
    };
    for svg in [
        line_plot(
            "best fitness vs evaluations",
            "evaluations",
            "best fitness",
            &c.by_evaluations,
        ),
        line_plot(
            "best fitness vs time",
            time_desc,
            "best fitness",
            &c.by_time,
        ),
        line_plot("cache hit rate", "proposals", "hit rate (%)", &c.hit_rate),
        scatter_plot(&docs, &front),
    ] {
        let _ = writeln!(out, "<div class=\"plot\">{svg}</div>");
    }
    out.push_str("</div>\n<h2>Top 10</h2>\n<table><tr><th>#</th><th>fitness</th><th>fidelity</th><th>metrics</th><th>params</th><th>FLOPs</th><th>functional hash</th><th>architecture</th></tr>\n");
    for (i, d) in docs.iter().take(10).enumerate() {
        let Some(r) = &d.result else { continue };
        let metrics: Vec<String> = r
            .metrics
            .iter()
            .map(|(k, v)| format!("{}: {v:.3}", html_escape(k)))
            .collect();
        let genotype = match &d.genotype {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let drawing = space
            .as_ref()
            .and_then(|s| {
                s.parse_value(&d.genotype)
                    .ok()
                    .and_then(|g| s.describe(&g).ok())
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code><pre>{}</pre></td></tr>",
            i + 1,
            r.fitness.unwrap_or(f64::NAN),
            html_escape(&r.fidelity.to_string()),
            metrics.join("<br>"),
            r.params,
            r.flops,
            html_escape(&r.functional_hash.to_string().chars().take(19).collect::<String>()),
            html_escape(&genotype),
            html_escape(&drawing)
        );
    }
    out.push_str("</table>\n<p>Generated by evonas ");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str(".</p></body></html>\n");
    Ok(out)
}
