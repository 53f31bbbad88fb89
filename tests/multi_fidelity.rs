//! Multi-fidelity campaigns end to end: successive halving and Hyperband rungs, `[[screen]]`
//! stages, zero-cost warm-up and warm start from the cache; their promotions, their costs, and
//! their survival of SIGKILL.

use std::collections::BTreeMap;
use std::path::Path;

use evonas::store::campaign::{Event, Source};
use evonas::store::Store;

use crate::campaign::{kill_and_resume_config, search, status};
use crate::util::{tempdir, write};

/// A mock campaign of strategy `strategy` (TOML lines) with `extra` sections appended.
fn mock(name: &str, strategy: &str, budget: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nspace = \"nb201\"\nseed = 5\n[strategy]\n{strategy}\n[budget]\n{budget}\n\
         [evaluator]\nkind = \"mock\"\nsim_seconds = 10\nseed = 2\n{extra}"
    )
}

/// Runs `text` to its end in a fresh store; returns the store's directory holder and its path.
fn run(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    let cfg = write(&dir, "c.toml", text);
    let store = dir.path().join("store");
    search(&cfg, &store).ok();
    (dir, store)
}

fn journal(store: &Path, name: &str) -> Vec<Event> {
    let s = Store::open(store).unwrap();
    s.journal(name)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// Per proposal: its screening verdicts (stage, fitness, kept) and its final fitness.
type Path_ = (Vec<(u32, Option<f64>, bool)>, Option<f64>);

fn by_proposal(events: &[Event]) -> BTreeMap<u64, Path_> {
    let mut out: BTreeMap<u64, Path_> = BTreeMap::new();
    for e in events {
        match e {
            Event::Screened {
                proposal,
                stage,
                fitness,
                kept,
                ..
            } => out
                .entry(*proposal)
                .or_default()
                .0
                .push((*stage, *fitness, *kept)),
            Event::Evaluated {
                proposal, fitness, ..
            }
            | Event::CacheHit {
                proposal, fitness, ..
            } => out.entry(*proposal).or_default().1 = Some(*fitness),
            _ => {}
        }
    }
    out
}

/// Checks one screening stage of proposals `range`: `kept` of them went on, and they are the
/// best by that stage's score (ties to the earlier proposal).
fn check_promotion(
    paths: &BTreeMap<u64, Path_>,
    range: std::ops::Range<u64>,
    depth: usize,
    kept: usize,
) {
    let at: Vec<(u64, f64, bool)> = range
        .filter_map(|p| {
            let (steps, _) = &paths[&p];
            steps.get(depth).map(|&(_, f, k)| (p, f.unwrap(), k))
        })
        .collect();
    let mut ranked = at.clone();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let best: Vec<u64> = ranked.iter().take(kept).map(|x| x.0).collect();
    let mut promoted: Vec<u64> = at.iter().filter(|x| x.2).map(|x| x.0).collect();
    promoted.sort_unstable();
    let mut best_sorted = best.clone();
    best_sorted.sort_unstable();
    assert_eq!(promoted, best_sorted, "stage {depth}: not the best {kept}");
}

#[test]
fn hyperband_runs_the_brackets_of_li_et_al_and_promotes_the_best_of_each_rung() {
    // R = 27, eta = 3: brackets s = 3..0 of 27, 12, 6 and 4 architectures.
    let text = mock(
        "hb",
        "kind = \"hyperband\"\neta = 3\nmin_epochs = 1\nmax_epochs = 27",
        "proposals = 49",
        "",
    );
    let (_dir, store) = run(&text);
    let events = journal(&store, "hb");
    let paths = by_proposal(&events);
    assert_eq!(paths.len(), 27 + 12 + 6 + 4);
    // Bracket s = 3: 27 at 1 epoch -> 9 at 3 -> 3 at 9 -> 1 at 27.
    let depth = |r: std::ops::Range<u64>, d: usize| r.filter(|p| paths[p].0.len() > d).count();
    assert_eq!(
        (depth(0..27, 0), depth(0..27, 1), depth(0..27, 2)),
        (27, 9, 3)
    );
    check_promotion(&paths, 0..27, 0, 9);
    check_promotion(&paths, 0..27, 1, 3);
    check_promotion(&paths, 0..27, 2, 1);
    assert_eq!((0..27).filter(|p| paths[p].1.is_some()).count(), 1);
    // Bracket s = 2: 12 at 3 epochs -> 4 at 9 -> 1 at 27; s = 1: 6 at 9 -> 2 at 27; s = 0: 4.
    assert_eq!((depth(27..39, 0), depth(27..39, 1)), (12, 4));
    check_promotion(&paths, 27..39, 0, 4);
    check_promotion(&paths, 27..39, 1, 1);
    assert_eq!((27..39).filter(|p| paths[p].1.is_some()).count(), 1);
    check_promotion(&paths, 39..45, 0, 2);
    assert_eq!((39..45).filter(|p| paths[p].1.is_some()).count(), 2);
    assert!((45..49).all(|p| paths[&p].0.is_empty() && paths[&p].1.is_some()));
    // Every rung's cost is charged: sim_seconds (10) per epoch trained, hits free.
    let mut epochs = 0.0;
    for e in &events {
        match e {
            Event::Screened {
                seconds, source, ..
            } => {
                if *source == Source::Evaluated {
                    epochs += seconds / 10.0;
                } else {
                    assert_eq!(*seconds, 0.0);
                }
            }
            Event::Evaluated {
                simulated_seconds, ..
            } => epochs += simulated_seconds / 10.0,
            _ => {}
        }
    }
    let v = status(&store, "hb");
    assert_eq!(v["simulated_seconds"].as_f64().unwrap(), epochs * 10.0);
    // At most 27 + 27 + 27 + 27 epochs per rung level, by Hyperband's design: about 5 x 27
    // epochs per bracket, never 49 x 27.
    assert!(epochs < 49.0 * 27.0 / 2.0, "{epochs} epochs");
    assert_eq!(v["evaluations"], 1 + 1 + 2 + 4);
    assert_eq!(v["screened"], 49 - 8);
    // Best so far is a full-fidelity (27-epoch) figure.
    assert_eq!(v["best"]["fidelity"], "27 epochs", "{}", v["best"]);
}

#[test]
fn successive_halving_with_a_given_number_of_candidates() {
    let text = mock(
        "sh",
        "kind = \"successive-halving\"\neta = 2\nmin_epochs = 2\nmax_epochs = 8\ncandidates = 10",
        "proposals = 20",
        "",
    );
    let (_dir, store) = run(&text);
    let paths = by_proposal(&journal(&store, "sh"));
    // Rounds of 10 at 2 epochs -> 5 at 4 -> 2 at 8.
    for r in [0..10, 10..20] {
        check_promotion(&paths, r.clone(), 0, 5);
        check_promotion(&paths, r.clone(), 1, 2);
        assert_eq!(r.filter(|p| paths[p].1.is_some()).count(), 2);
    }
}

#[test]
fn screens_keep_their_best_fraction_and_charge_their_fixed_seconds() {
    let text = mock(
        "scr",
        "kind = \"regularized-evolution\"\npopulation = 4\nsample = 2",
        "proposals = 48",
        "[parallel]\nround_size = 8\n\
         [[screen]]\nevaluator = { kind = \"zero-cost\", proxy = \"params\" }\nkeep = 0.5\nseconds = 0.25\n\
         [[screen]]\nevaluator = { kind = \"mock\", seed = 2, epochs = 1, sim_seconds = 10 }\nkeep = 1\n",
    );
    let (_dir, store) = run(&text);
    let events = journal(&store, "scr");
    let paths = by_proposal(&events);
    assert_eq!(paths.len(), 48);
    for round in 0..6u64 {
        let r = round * 8..round * 8 + 8;
        check_promotion(&paths, r.clone(), 0, 4);
        check_promotion(&paths, r.clone(), 1, 1);
        assert_eq!(r.filter(|p| paths[p].1.is_some()).count(), 1);
    }
    // The proxy's fixed 0.25 s for every candidate, hits included; the mock's 10 s per
    // evaluated epoch; 10 s per final evaluation.
    let v = status(&store, "scr");
    let evaluated = |stage: u32| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Screened { stage: s, source: Source::Evaluated, .. } if *s == stage))
            .count() as f64
    };
    let expected = 48.0 * 0.25 + evaluated(2) * 10.0 + v["evaluations"].as_f64().unwrap() * 10.0;
    assert!((v["simulated_seconds"].as_f64().unwrap() - expected).abs() < 1e-9);
}

#[test]
fn zero_cost_warm_up_starts_evolution_from_the_best_of_the_pool() {
    let text = mock(
        "wu",
        "kind = \"regularized-evolution\"\npopulation = 5\nsample = 2\n\
         [strategy.warmup]\npool = 40\nevaluator = { kind = \"zero-cost\", proxy = \"flops\" }",
        "proposals = 60",
        "",
    );
    let (_dir, store) = run(&text);
    let events = journal(&store, "wu");
    let paths = by_proposal(&events);
    // Round 0: 40 scored by FLOPs, the 5 with the most go on to the evaluator.
    check_promotion(&paths, 0..40, 0, 5);
    assert_eq!((0..40).filter(|p| paths[p].1.is_some()).count(), 5);
    // Then plain evolution: no more screens.
    assert!((40..60).all(|p| paths[&p].0.is_empty() && paths[&p].1.is_some()));
}

#[test]
fn warm_start_proposes_the_best_functions_the_cache_holds_first() {
    let dir = tempdir();
    let store = dir.path().join("store");
    let campaign = |name: &str, text: &str| {
        let cfg = write(&dir, &format!("{name}.toml"), text);
        search(&cfg, &store).ok();
    };
    let rea = "kind = \"regularized-evolution\"\npopulation = 5\nsample = 2";
    campaign("first", &mock("first", rea, "evaluations = 60", ""));
    let first = journal(&store, "first");
    let mut fits: Vec<f64> = by_proposal(&first).values().filter_map(|p| p.1).collect();
    fits.sort_by(|a, b| b.total_cmp(a));
    fits.dedup();
    campaign(
        "warm",
        &mock(
            "warm",
            &format!("{rea}\nwarm_start = true"),
            "proposals = 20",
            "",
        ),
    );
    let warm = journal(&store, "warm");
    let paths = by_proposal(&warm);
    let head: Vec<f64> = (0..5).map(|p| paths[&p].1.unwrap()).collect();
    assert_eq!(
        head,
        fits[..5],
        "the population starts from the cache's best five"
    );
    assert!(
        warm.iter()
            .take_while(|e| !matches!(e, Event::Evaluated { .. }))
            .filter(|e| matches!(e, Event::CacheHit { .. }))
            .count()
            >= 5
    );
    let v = status(&store, "warm");
    assert_eq!(v["best"]["fitness"].as_f64().unwrap(), fits[0]);
    // A warm start that finds nothing in the cache (another mock seed, another protocol)
    // starts at random like a cold one.
    campaign(
        "other",
        &mock(
            "other",
            &format!("{rea}\nwarm_start = true"),
            "proposals = 5",
            "",
        )
        .replace("seed = 2", "seed = 3"),
    );
    let other = journal(&store, "other");
    assert!(other.iter().all(|e| !matches!(e, Event::CacheHit { .. })));
}

#[test]
fn staged_campaigns_survive_sigkill_and_resume_with_the_same_digest() {
    let budget = "simulated_seconds = 400000";
    kill_and_resume_config(
        &mock(
            "kill",
            "kind = \"hyperband\"\neta = 3\nmin_epochs = 1\nmax_epochs = 27",
            budget,
            "",
        ),
        8,
    );
    kill_and_resume_config(
        &mock(
            "kill",
            "kind = \"regularized-evolution\"\npopulation = 10\nsample = 3\n\
             [strategy.warmup]\npool = 200\nseconds = 0.5\n\
             evaluator = { kind = \"zero-cost\", proxy = \"params\" }",
            "simulated_seconds = 8000",
            "[parallel]\nround_size = 8\nthreads = 2\n\
             [[screen]]\nevaluator = { kind = \"mock\", seed = 2, epochs = 2, sim_seconds = 10 }\nkeep = 0.25\n",
        ),
        8,
    );
}

#[test]
fn bad_multi_fidelity_configs_are_refused_naming_the_key() {
    let dir = tempdir();
    let refused = |text: &str, needle: &str| {
        let cfg = write(&dir, "bad.toml", text);
        let err = search(&cfg, &dir.path().join("store")).fails();
        assert!(err.contains(needle), "wanted {needle:?} in: {err}");
    };
    let hb = "kind = \"hyperband\"\nmin_epochs = 1\nmax_epochs = 27";
    refused(
        &mock("b", hb, "proposals = 5", "").replace(
            "kind = \"mock\"\nsim_seconds = 10\nseed = 2",
            "kind = \"nb201-table\"\npath = \"nowhere\"",
        ),
        "has no epochs to vary",
    );
    refused(
        &mock(
            "b",
            &hb.replace("max_epochs = 27", "max_epochs = 0"),
            "proposals = 5",
            "",
        ),
        "min_epochs <= max_epochs",
    );
    refused(
        &mock("b", &format!("{hb}\neta = 1"), "proposals = 5", ""),
        "eta must be at least 2",
    );
    let rea = "kind = \"regularized-evolution\"\npopulation = 4\nsample = 2";
    let screen = "[[screen]]\nevaluator = { kind = \"zero-cost\", proxy = \"params\" }\n";
    refused(
        &mock("b", rea, "proposals = 5", &format!("{screen}keep = 0\n")),
        "keep must be a count of at least 1",
    );
    refused(
        &mock("b", rea, "proposals = 5", &format!("{screen}keep = 1.5\n")),
        "keep must be",
    );
    refused(
        &mock(
            "b",
            rea,
            "proposals = 5",
            "[[screen]]\nevaluator = { kind = \"zero-cost\", proxy = \"nope\" }\nkeep = 1\n",
        ),
        "[[screen]] 1: evaluator",
    );
    refused(
        &mock("b", hb, "proposals = 5", &format!("{screen}keep = 1\n")),
        "successive halving and Hyperband screen by training epochs themselves",
    );
    refused(
        &mock(
            "b",
            &format!("{rea}\n[strategy.warmup]\npool = 2\nevaluator = {{ kind = \"zero-cost\", proxy = \"params\" }}"),
            "proposals = 5",
            "",
        ),
        "[strategy.warmup] pool must be between population",
    );
    refused(
        &mock(
            "b",
            rea,
            "proposals = 5",
            &format!("[parallel]\nmode = \"async\"\nin_flight = 2\n{screen}keep = 1\n"),
        ),
        "need rounds",
    );
}
