//! The zero-cost warm-up experiment (experiments/nb201_warmup/): regularized evolution (P=10,
//! S=3) plain, with a zero-cost warm-up (Abdelfattah et al. 2021), with a zero-cost screen on
//! every round, and warm-started from a cache another campaign filled; random search beside
//! them. NAS-Bench-201 cifar10-valid table, 12,000 simulated seconds, SEEDS seeds each.
//!
//! Usage: `nb201_warmup TABLE_DIR OUT_DIR SEEDS PROXY SECONDS [SECONDS...]`: PROXY is the
//! zero-cost proxy (a name `[evaluator] kind = "zero-cost"` takes), each SECONDS a charge per
//! proxy evaluation on the simulated clock (the proxy's measured cost, and any other costs to
//! test). Writes `results.md`, `results.json` and `best_test_accuracy.svg` into OUT_DIR.

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

const BUDGET: f64 = 12_000.0;
const GRID: usize = 300;
const REA: &str =
    "kind = \"regularized-evolution\"\npopulation = 10\nsample = 3\ndedup_patience = 10";

/// One arm of the experiment.
struct Setting {
    label: String,
    /// `[strategy]` body and any sections after `[evaluator]`.
    strategy: String,
    extra: String,
    /// Warm start: the store is first filled by a plain campaign of another seed.
    warmed: bool,
}

fn settings(proxy: &str, charges: &[f64]) -> Vec<Setting> {
    let plain = |label: &str, strategy: &str, warmed| Setting {
        label: label.into(),
        strategy: strategy.into(),
        extra: String::new(),
        warmed,
    };
    let warmup = |pool: usize, s: f64| {
        Setting {
        label: format!("REA + {proxy} warm-up (M={pool}, {s} s/proxy)"),
        strategy: format!(
            "{REA}\n[strategy.warmup]\npool = {pool}\nseconds = {s}\nevaluator = {{ kind = \"zero-cost\", proxy = \"{proxy}\" }}"
        ),
        extra: String::new(),
        warmed: false,
    }
    };
    let mut out = vec![plain("REA (plain)", REA, false), warmup(100, charges[0])];
    for &s in charges {
        out.push(warmup(1000, s));
        out.push(Setting {
            label: format!("REA + {proxy} screen (best 1 of 10, {s} s/proxy)"),
            strategy: REA.into(),
            extra: format!(
                "[parallel]\nround_size = 10\n[[screen]]\nkeep = 1\nseconds = {s}\nevaluator = {{ kind = \"zero-cost\", proxy = \"{proxy}\" }}\n"
            ),
            warmed: false,
        });
    }
    out.push(plain(
        "REA in a store warmed by one campaign (cold start)",
        REA,
        true,
    ));
    out.push(plain(
        "REA in that store, warm start from the cache",
        &format!("{REA}\nwarm_start = true"),
        true,
    ));
    out.push(plain("random search", "kind = \"random\"", false));
    out
}

/// Best-so-far test accuracy on the time grid, and the final figures.
struct Run {
    curve: Vec<f64>,
    /// At a tenth of the budget.
    early_test: f64,
    final_test: f64,
    evaluations: u64,
}

fn grid_time(i: usize) -> f64 {
    // Log-spaced from 10 to 12,000 s.
    10.0 * (BUDGET / 10.0).powf(i as f64 / (GRID - 1) as f64)
}

fn config(table: &Path, name: &str, seed: u64, strategy: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nspace = \"nb201\"\nseed = {seed}\n[strategy]\n{strategy}\n[budget]\nsimulated_seconds = {BUDGET}\nproposals = 200000\n[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\ndataset = \"cifar10-valid\"\n{extra}[cache]\npolicy = \"once\"\n",
        table.display()
    )
}

fn run(
    table: &Path,
    s: &Setting,
    seed: u64,
) -> Result<Run, Box<dyn std::error::Error + Send + Sync>> {
    let store = Store::temporary()?;
    let search = |name: &str, seed: u64, strategy: &str, extra: &str| {
        let toml = config(table, name, seed, strategy, extra);
        let config = CampaignConfig::parse(&toml, "experiment")?;
        let mut campaign = Campaign::open(&store, config, &toml)?;
        campaign.run(&AtomicBool::new(false), &mut |_| {})?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    if s.warmed {
        search("earlier", seed + 1_000_000, REA, "")?;
    }
    search("run", seed, &s.strategy, &s.extra)?;
    let points = support::replay(store.journal("run")?.into_iter().map(|(_, e)| e));
    let last = support::at(&points, BUDGET);
    Ok(Run {
        curve: (0..GRID)
            .map(|i| support::at(&points, grid_time(i)).best_test)
            .collect(),
        early_test: support::at(&points, BUDGET / 10.0).best_test,
        final_test: last.best_test,
        evaluations: last.evaluations,
    })
}

fn std_dev(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
}

const USAGE: &str = "usage: nb201_warmup TABLE_DIR OUT_DIR SEEDS PROXY SECONDS [SECONDS...]";

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let table = PathBuf::from(args.next().ok_or(USAGE)?);
    let out = PathBuf::from(args.next().ok_or(USAGE)?);
    let seeds: u64 = args.next().ok_or(USAGE)?.parse()?;
    let proxy = args.next().ok_or(USAGE)?;
    let charges: Vec<f64> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
    if charges.is_empty() {
        return Err(USAGE.into());
    }
    std::fs::create_dir_all(&out)?;
    let start = std::time::Instant::now();
    let settings = settings(&proxy, &charges);
    let mut results: Vec<Vec<Run>> = Vec::new();
    for s in &settings {
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
    let target = curves[0][GRID - 1].0;
    let mut md = format!(
        "Mean over {seeds} seeds; ± is the 95% interval (1.96 standard errors), sd the seeds' standard deviation. Test accuracy: CIFAR-10 test accuracy (%) of the candidate with the best cifar10-valid validation accuracy found within {BUDGET:.0} simulated seconds. \"Reaches plain REA\" is the simulated time at which the mean curve first reaches plain REA's mean at {BUDGET:.0} s ({target:.2}).\n\n\
         | setting | test accuracy at {:.0} s | test accuracy at {BUDGET:.0} s | sd | evaluations | reaches plain REA at (s) | speed-up |\n|---|---|---|---|---|---|---|\n",
        BUDGET / 10.0
    );
    let mut json = BTreeMap::new();
    for ((s, runs), curve) in settings.iter().zip(&results).zip(&curves) {
        let finals: Vec<f64> = runs.iter().map(|r| r.final_test).collect();
        let (m, ci) = mean_ci(&finals);
        let (em, eci) = mean_ci(&runs.iter().map(|r| r.early_test).collect::<Vec<_>>());
        let sd = std_dev(&finals);
        let e = runs.iter().map(|r| r.evaluations as f64).sum::<f64>() / runs.len() as f64;
        let reach = (0..GRID).find(|&i| curve[i].0 >= target).map(grid_time);
        let (reach_text, speed) = match reach {
            Some(t) => (format!("{t:.0}"), format!("{:.1}x", BUDGET / t)),
            None => ("not within the budget".into(), "-".into()),
        };
        md.push_str(&format!(
            "| {} | {em:.2} ± {eci:.2} | {m:.2} ± {ci:.2} | {sd:.2} | {e:.0} | {reach_text} | {speed} |\n",
            s.label
        ));
        json.insert(
            s.label.clone(),
            serde_json::json!({"mean_test_at_tenth": em, "ci95_at_tenth": eci, "mean_test": m, "ci95": ci, "sd": sd, "evaluations": e, "reaches_plain_rea_at": reach}),
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
    let labels: Vec<&str> = settings.iter().map(|s| s.label.as_str()).collect();
    plot(
        &out.join("best_test_accuracy.svg"),
        &curves,
        &labels,
        target,
    )?;
    Ok(())
}

fn plot(
    path: &Path,
    curves: &[Vec<(f64, f64)>],
    labels: &[&str],
    target: f64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "NAS-Bench-201 CIFAR-10: mean best test accuracy vs simulated time",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((10f64..BUDGET).log_scale(), 86f64..94.6f64)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s, log scale): training, and proxies at their charge")
        .y_desc("test accuracy (%)")
        .draw()?;
    for (k, (curve, label)) in curves.iter().zip(labels).enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let pts: Vec<(f64, f64)> = curve
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0.is_finite())
            .map(|(i, p)| (grid_time(i), p.0))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .draw_series(LineSeries::new(
            vec![(10.0, target), (BUDGET, target)],
            BLACK.mix(0.3),
        ))?
        .label(format!("plain REA at {BUDGET:.0} s ({target:.2})"))
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
