//! The evaluator registry as a library user meets it: an evaluator defined here, registered
//! under its own kind, runs a campaign through the public API, and its results are cached
//! under its own protocol.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use evonas::eval::registry::{typed, EvaluatorSettings, Registry, SettingsError};
use evonas::eval::{Evaluator, FailureKind, Outcome, Protocol, Task};
use evonas::search::{Campaign, CampaignConfig};
use evonas::store::Store;
use serde::{Deserialize, Serialize};

/// `[evaluator] kind = "fewer-params"`: fitness is minus the parameter count in thousands.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FewerParams {
    /// Networks above this many parameters fail.
    max_params: u64,
}

impl EvaluatorSettings for FewerParams {
    fn check(&self) -> Result<(), SettingsError> {
        if self.max_params == 0 {
            return Err(SettingsError::invalid("max_params", "must be positive"));
        }
        Ok(())
    }
}

struct FewerParamsEvaluator {
    max_params: u64,
    protocol: Protocol,
    calls: Arc<AtomicUsize>,
}

impl Evaluator for FewerParamsEvaluator {
    fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    fn evaluate(&self, task: &Task<'_>) -> Outcome {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let params = evonas::ir::cost(task.network).params;
        if params > self.max_params {
            return Outcome::failed(FailureKind::Unsupported, format!("{params} parameters"));
        }
        Outcome::Done {
            fitness: -(params as f64) / 1e3,
            metrics: [("params".to_string(), params as f64)].into(),
            curves: Default::default(),
            simulated_seconds: 1.0,
            wall_seconds: 0.0,
        }
    }
}

fn registry(calls: &Arc<AtomicUsize>) -> Registry {
    let calls = Arc::clone(calls);
    let mut r = Registry::builtin();
    r.register(typed("fewer-params", move |s: FewerParams| {
        Ok(Box::new(FewerParamsEvaluator {
            max_params: s.max_params,
            protocol: Protocol::new(
                serde_json::json!({"kind": "fewer-params", "max_params": s.max_params}),
            ),
            calls: Arc::clone(&calls),
        }))
    }));
    r
}

const CONFIG: &str = r#"
name = "small"
space = "nb201"
seed = 1
[knobs]
channels = 8
cells = 1
[strategy]
kind = "regularized-evolution"
population = 8
sample = 3
[budget]
evaluations = 40
[evaluator]
kind = "fewer-params"
max_params = 60000
[parallel]
round_size = 4
threads = 2
"#;

#[test]
fn a_registered_evaluator_runs_a_campaign_through_the_public_api() {
    let calls = Arc::new(AtomicUsize::new(0));
    let registry = registry(&calls);
    let config = CampaignConfig::parse_with(CONFIG, "<test>", &registry).unwrap();
    assert_eq!(config.evaluator.kind, "fewer-params");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut campaign = Campaign::open_with(&store, config.clone(), CONFIG, &registry).unwrap();
    campaign.run(&AtomicBool::new(false), &mut |_| {}).unwrap();
    let h = campaign.header().clone();
    drop(campaign);
    assert_eq!(h.counters.evaluations, 40, "{:?}", h.counters);
    // Every evaluation went through it; a round that crosses the budget may evaluate (and
    // cache) up to round_size - 1 more than the campaign commits.
    let first_calls = calls.load(Ordering::Relaxed);
    assert!((40..40 + 4).contains(&first_calls), "{first_calls} calls");
    let best = h.best.expect("a best network");
    assert!(best.fitness < 0.0 && best.fitness > -60.0, "{best:?}");
    // The same search again under another name, by proposals: the cache answers every
    // candidate, the evaluator is not called, and the search takes the same path.
    let proposals = h.counters.proposals;
    let again = CONFIG
        .replace("name = \"small\"", "name = \"again\"")
        .replace("evaluations = 40", &format!("proposals = {proposals}"));
    let config = CampaignConfig::parse_with(&again, "<test>", &registry).unwrap();
    let mut campaign = Campaign::open_with(&store, config, &again, &registry).unwrap();
    campaign.run(&AtomicBool::new(false), &mut |_| {}).unwrap();
    let h2 = campaign.header().clone();
    assert_eq!(h2.counters.evaluations, 0, "{:?}", h2.counters);
    assert_eq!(h2.counters.cache_hits, proposals);
    assert_eq!(h2.best.map(|b| b.genotype), Some(best.genotype));
    assert_eq!(calls.load(Ordering::Relaxed), first_calls);
    drop(campaign);
    // Resuming the finished campaign needs the same registry; without it the kind is unknown.
    let e = Campaign::resume(&store, "small")
        .err()
        .expect("an unknown kind");
    assert!(
        e.to_string().contains(
            "kind \"fewer-params\" is unknown; known kinds: mock, nb201-table, train, zero-cost"
        ),
        "{e}"
    );
}

#[test]
fn settings_are_checked_with_the_key_named() {
    let calls = Arc::new(AtomicUsize::new(0));
    let registry = registry(&calls);
    let e = CampaignConfig::parse_with(
        &CONFIG.replace("max_params = 60000", "max_params = 0"),
        "c.toml",
        &registry,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "c.toml: [evaluator] max_params must be positive");
    let e = CampaignConfig::parse_with(
        &CONFIG.replace("max_params = 60000", "max_parms = 6"),
        "c.toml",
        &registry,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("c.toml: [evaluator] unknown field `max_parms`"),
        "{e}"
    );
    // The built-in registry does not know the kind, and says which kinds it knows.
    let e = CampaignConfig::parse(CONFIG, "c.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "c.toml: [evaluator] kind \"fewer-params\" is unknown; known kinds: mock, nb201-table, train, zero-cost"
    );
}
