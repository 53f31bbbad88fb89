//! The NAS-Bench-201 search experiment (experiments/nb201_rea/): regularized evolution (P=10,
//! S=3 and P=100, S=25) and random search, each with the cache off and on (`once`), 100 seeds
//! each, on the cifar10-valid table, budgets of 12,000 and 200,000 simulated seconds.
//!
//! Usage: `nb201_rea TABLE_DIR OUT_DIR [SEEDS]`. Writes `results.md`, `results.json` and
//! `best_test_accuracy.svg` into OUT_DIR.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use evonas::search::campaign::Campaign;
use evonas::search::CampaignConfig;
use evonas::store::Store;
use plotters::prelude::*;
use rayon::prelude::*;
use support::mean_ci;

#[path = "support/nb201.rs"]
mod support;

const BUDGETS: [f64; 2] = [12_000.0, 200_000.0];
const GRID: usize = 400;

struct Setting {
    label: &'static str,
    strategy: &'static str,
    cache: &'static str,
}

const SETTINGS: [Setting; 6] = [
    Setting {
        label: "REA P=10 S=3, no cache",
        strategy: "kind = \"regularized-evolution\"\npopulation = 10\nsample = 3",
        cache: "off",
    },
    Setting {
        label: "REA P=10 S=3, cache",
        strategy:
            "kind = \"regularized-evolution\"\npopulation = 10\nsample = 3\ndedup_patience = 10",
        cache: "once",
    },
    Setting {
        label: "REA P=100 S=25, no cache",
        strategy: "kind = \"regularized-evolution\"\npopulation = 100\nsample = 25",
        cache: "off",
    },
    Setting {
        label: "REA P=100 S=25, cache",
        strategy:
            "kind = \"regularized-evolution\"\npopulation = 100\nsample = 25\ndedup_patience = 10",
        cache: "once",
    },
    Setting {
        label: "random, no cache",
        strategy: "kind = \"random\"",
        cache: "off",
    },
    Setting {
        label: "random, cache",
        strategy: "kind = \"random\"",
        cache: "once",
    },
];

/// Best-so-far test accuracy on a time grid, plus counts at each budget.
struct Run {
    curve: Vec<f64>,
    proposals: [u64; 2],
    evaluations: [u64; 2],
    final_test: [f64; 2],
}

fn grid_time(i: usize) -> f64 {
    // Log-spaced from 1,000 to 200,000 s.
    1_000.0 * (200.0f64).powf(i as f64 / (GRID - 1) as f64)
}

fn run(
    table: &Path,
    s: &Setting,
    seed: u64,
) -> Result<Run, Box<dyn std::error::Error + Send + Sync>> {
    let toml = format!(
        "name = \"run\"\nspace = \"nb201\"\nseed = {seed}\n[strategy]\n{}\n[budget]\nsimulated_seconds = {}\nproposals = 200000\n[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\ndataset = \"cifar10-valid\"\n[cache]\npolicy = \"{}\"\n[parallel]\nthreads = 1\n",
        s.strategy,
        BUDGETS[1],
        table.display(),
        s.cache
    );
    let config = CampaignConfig::parse(&toml, "experiment")?;
    let store = Store::temporary()?;
    let mut campaign = Campaign::open(&store, config, &toml)?;
    campaign.run(&AtomicBool::new(false), &mut |_| {})?;
    let points = support::replay(store.journal("run")?.into_iter().map(|(_, e)| e));
    let at = |t: f64| {
        let p = support::at(&points, t);
        (p.best_test, p.proposals, p.evaluations)
    };
    let curve = (0..GRID).map(|i| at(grid_time(i)).0).collect();
    let a = at(BUDGETS[0]);
    let b = at(BUDGETS[1]);
    Ok(Run {
        curve,
        proposals: [a.1, b.1],
        evaluations: [a.2, b.2],
        final_test: [a.0, b.0],
    })
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let table = PathBuf::from(
        args.next()
            .ok_or("usage: nb201_rea TABLE_DIR OUT_DIR [SEEDS]")?,
    );
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: nb201_rea TABLE_DIR OUT_DIR [SEEDS]")?,
    );
    let seeds: u64 = args.next().map_or(Ok(100), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;
    let start = std::time::Instant::now();
    let mut results: Vec<Vec<Run>> = Vec::new();
    for s in &SETTINGS {
        let runs: Result<Vec<Run>, _> = (0..seeds)
            .into_par_iter()
            .map(|seed| run(&table, s, seed))
            .collect();
        results.push(runs?);
        eprintln!("{}: done ({:.0} s)", s.label, start.elapsed().as_secs_f64());
    }
    let curves: Vec<Vec<(f64, f64)>> = results
        .iter()
        .map(|runs| {
            support::mean_curve(&runs.iter().map(|r| r.curve.as_slice()).collect::<Vec<_>>())
        })
        .collect();
    // Table.
    let mut md = String::new();
    md.push_str(&format!("Mean over {seeds} seeds, 95% intervals (1.96 standard errors). Test accuracy is CIFAR-10 test accuracy (%) of the candidate with the best cifar10-valid validation accuracy found within the budget.\n\n"));
    md.push_str("| setting | budget (s) | best test accuracy | proposals | evaluations |\n|---|---|---|---|---|\n");
    let mut json = BTreeMap::new();
    for (s, runs) in SETTINGS.iter().zip(&results) {
        for (b, budget) in BUDGETS.iter().enumerate() {
            let (m, ci) = mean_ci(&runs.iter().map(|r| r.final_test[b]).collect::<Vec<_>>());
            let p = runs.iter().map(|r| r.proposals[b] as f64).sum::<f64>() / runs.len() as f64;
            let e = runs.iter().map(|r| r.evaluations[b] as f64).sum::<f64>() / runs.len() as f64;
            md.push_str(&format!(
                "| {} | {budget:.0} | {m:.2} ± {ci:.2} | {p:.0} | {e:.0} |\n",
                s.label
            ));
            json.insert(
                format!("{} @ {budget:.0}", s.label),
                serde_json::json!({"mean_test": m, "ci95": ci, "proposals": p, "evaluations": e}),
            );
        }
    }
    // Time the cached runs need to reach the uncached runs' final mean accuracy.
    md.push_str("\n| strategy | no-cache mean at 200,000 s | cache reaches it at (s) | speed-up |\n|---|---|---|---|\n");
    for pair in [(0usize, 1usize), (2, 3), (4, 5)] {
        let target = curves[pair.0][GRID - 1].0;
        let reach = (0..GRID)
            .find(|&i| curves[pair.1][i].0 >= target)
            .map(grid_time);
        let label = SETTINGS[pair.0].label.trim_end_matches(", no cache");
        match reach {
            Some(t) => md.push_str(&format!(
                "| {label} | {target:.2} | {t:.0} | {:.1}x |\n",
                BUDGETS[1] / t
            )),
            None => md.push_str(&format!(
                "| {label} | {target:.2} | not within 200,000 | - |\n"
            )),
        }
        json.insert(
            format!("{label} speed-up"),
            serde_json::json!({"target": target, "reached_at": reach}),
        );
    }
    md.push_str(&format!(
        "\nRun time: {:.0} s on this machine.\n",
        start.elapsed().as_secs_f64()
    ));
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    print!("{md}");
    plot(&out.join("best_test_accuracy.svg"), &curves)?;
    Ok(())
}

fn plot(
    path: &Path,
    curves: &[Vec<(f64, f64)>],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let lo = curves
        .iter()
        .flat_map(|c| c.iter().map(|p| p.0 - p.1))
        .filter(|x| x.is_finite())
        .fold(f64::MAX, f64::min)
        .max(85.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "NAS-Bench-201 CIFAR-10: mean best test accuracy vs simulated time",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((1_000f64..200_000f64).log_scale(), lo..94.6f64)?;
    chart
        .configure_mesh()
        .x_desc("simulated training time (s, log scale)")
        .y_desc("test accuracy (%)")
        .draw()?;
    let colors = [
        RGBColor(200, 30, 30),
        RGBColor(240, 140, 120),
        RGBColor(30, 60, 200),
        RGBColor(120, 150, 240),
        RGBColor(20, 20, 20),
        RGBColor(150, 150, 150),
    ];
    for (k, (curve, s)) in curves.iter().zip(&SETTINGS).enumerate() {
        let color = colors[k];
        let pts: Vec<(f64, f64)> = curve
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0.is_finite())
            .map(|(i, p)| (grid_time(i), p.0))
            .collect();
        let band: Vec<(f64, f64)> = curve
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0.is_finite())
            .map(|(i, p)| (grid_time(i), p.0 + p.1))
            .chain(
                curve
                    .iter()
                    .enumerate()
                    .rev()
                    .filter(|(_, p)| p.0.is_finite())
                    .map(|(i, p)| (grid_time(i), p.0 - p.1)),
            )
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(
            band,
            color.mix(0.15).filled(),
        )))?;
        let style = if s.cache == "once" {
            ShapeStyle::from(&color).stroke_width(3)
        } else {
            ShapeStyle::from(&color).stroke_width(1)
        };
        chart
            .draw_series(LineSeries::new(pts, style))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .draw_series(LineSeries::new(
            vec![(1_000.0, 94.3733), (200_000.0, 94.3733)],
            BLACK.mix(0.3),
        ))?
        .label("optimum 94.37")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.3)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
