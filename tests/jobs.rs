//! Owned evaluation jobs: what a campaign evaluates in-process is a serialisable job that any
//! process with the same registry runs to the same outcome, and a runner refuses a job it
//! would answer wrongly (another protocol, another hash version, a newer schema).

use std::sync::atomic::AtomicBool;

use evonas::eval::job::{Job, JobError, Runner, SpaceSource};
use evonas::eval::registry::Registry;
use evonas::eval::Outcome;
use evonas::hash::FunctionalHash;
use evonas::search::{Campaign, CampaignConfig};
use evonas::store::campaign::{Candidate, Event};
use evonas::store::Store;

const CONFIG: &str = r#"
name = "jobs"
space = "nb201"
seed = 4
[knobs]
channels = 8
cells = 1
[strategy]
kind = "random"
[budget]
evaluations = 12
[evaluator]
kind = "mock"
seed = 9
noise = 0.5
[parallel]
round_size = 3
threads = 2
"#;

/// The fitness and metrics of an outcome (wall seconds differ from run to run).
fn score(o: &Outcome) -> (f64, Vec<(String, f64)>) {
    match o {
        Outcome::Done {
            fitness, metrics, ..
        } => (*fitness, metrics.clone().into_iter().collect()),
        Outcome::Failed { reason, .. } => panic!("failed: {reason}"),
    }
}

#[test]
fn a_serialised_job_runs_elsewhere_to_the_campaigns_outcome() {
    let config = CampaignConfig::parse(CONFIG, "<test>").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut campaign = Campaign::open(&store, config.clone(), CONFIG).unwrap();
    campaign.run(&AtomicBool::new(false), &mut |_| {}).unwrap();
    // The genotypes proposed, by hash, and the fitness the campaign recorded for each.
    let mut genotypes = std::collections::HashMap::new();
    let mut checked = 0;
    for (_, e) in store.journal("jobs").unwrap() {
        match e {
            Event::Proposed { genotype, hash, .. } => {
                genotypes.insert(hash, genotype);
            }
            Event::Evaluated { hash, fitness, .. } => {
                let candidate = Candidate {
                    genotype: serde_json::Value::String(genotypes[&hash].clone()),
                    hash,
                    random: true,
                };
                let job = campaign.job(&candidate, 0);
                // Another process: the job as text, a runner built from the job alone.
                let text = serde_json::to_string(&job).unwrap();
                let received: Job = serde_json::from_str(&text).unwrap();
                assert_eq!(received, job);
                let runner = Runner::new(&received.evaluator, &Registry::builtin()).unwrap();
                let evaluation = runner.run(&received).unwrap();
                assert_eq!(score(&evaluation.outcome).0, fitness, "{text}");
                assert_eq!(evaluation.space, "nb201");
                assert_eq!(evaluation.genotype, genotypes[&hash]);
                // The repeat index is part of the job: a second evaluation draws other noise.
                let again = runner.run(&campaign.job(&candidate, 1)).unwrap();
                assert_ne!(score(&again.outcome).0, fitness);
                checked += 1;
            }
            _ => {}
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn a_runner_refuses_jobs_it_would_answer_wrongly() {
    let config = CampaignConfig::parse(CONFIG, "<test>").unwrap();
    let store = Store::temporary().unwrap();
    let campaign = Campaign::open(&store, config.clone(), CONFIG).unwrap();
    let space = campaign.space();
    let genotype = space
        .parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|")
        .unwrap();
    let hash = FunctionalHash::of(&space.decode(&genotype).unwrap());
    let candidate = Candidate {
        genotype: space.to_value(&genotype).unwrap(),
        hash,
        random: true,
    };
    let job = campaign.job(&candidate, 0);
    let runner = Runner::new(&job.evaluator, &Registry::builtin()).unwrap();
    assert!(runner.run(&job).is_ok());

    let mut other_hash = job.clone();
    other_hash.hash = FunctionalHash::from_parts(1, *hash.digest().bytes());
    let e = runner.run(&other_hash).unwrap_err();
    assert!(matches!(e, JobError::HashVersion { here: 3, .. }), "{e}");
    assert!(e.to_string().contains("is of hash version 1"), "{e}");
    // An older version this build still computes is fine (a campaign started under it).
    let mut v2 = job.clone();
    v2.hash = FunctionalHash::of_version(&space.decode(&genotype).unwrap(), 2).unwrap();
    assert!(runner.run(&v2).is_ok());

    let mut other_protocol = job.clone();
    other_protocol
        .evaluator
        .settings
        .insert("noise".into(), 0.75.into());
    let e = runner.run(&other_protocol).unwrap_err();
    assert!(matches!(e, JobError::OtherEvaluator { .. }), "{e}");
    // A runner built for that evaluator has another fingerprint than the job says.
    let runner2 = Runner::new(&other_protocol.evaluator, &Registry::builtin()).unwrap();
    let e = runner2.run(&other_protocol).unwrap_err();
    assert!(matches!(e, JobError::Protocol { .. }), "{e}");

    let mut newer = job.clone();
    newer.schema += 1;
    let e = runner.run(&newer).unwrap_err();
    assert!(e.to_string().contains("upgrade evonas"), "{e}");

    let mut unknown = job.clone();
    unknown.evaluator.kind = "no-such-kind".into();
    let e = Runner::new(&unknown.evaluator, &Registry::builtin())
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("known kinds: mock, nb201-table, train"),
        "{e}"
    );
}

#[test]
fn a_job_carries_a_space_file_by_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    let builtin = evonas::space::BUILTIN
        .iter()
        .find(|(n, _)| *n == "nb201")
        .unwrap()
        .1;
    std::fs::write(
        &path,
        builtin.replace("name = \"nb201\"", "name = \"tiny\""),
    )
    .unwrap();
    let source = SpaceSource::of(path.to_str().unwrap()).unwrap();
    assert!(matches!(&source, SpaceSource::Toml { text, .. } if text.contains("\"tiny\"")));
    std::fs::remove_file(&path).unwrap();
    // The file is gone; the job's copy still loads.
    assert_eq!(source.load().unwrap().name(), "tiny");
    assert!(matches!(
        SpaceSource::of("nb201").unwrap(),
        SpaceSource::Builtin(n) if n == "nb201"
    ));
    let e = SpaceSource::of("no-such-space").unwrap_err();
    assert!(e.to_string().contains("nb201"), "{e}");
}

/// A campaign resumes under the hash version it started with, or, if this build cannot
/// compute that version, refuses with a message that says so (and changes nothing).
#[test]
fn a_campaign_of_a_hash_version_this_build_cannot_compute_is_refused() {
    let config = CampaignConfig::parse(CONFIG, "<test>").unwrap();
    let store = Store::temporary().unwrap();
    {
        // Stopped at once: a header, no rounds.
        let mut campaign = Campaign::open(&store, config.clone(), CONFIG).unwrap();
        assert_eq!(
            campaign.header().hash_version,
            Some(evonas::hash::functional::VERSION)
        );
        campaign.run(&AtomicBool::new(true), &mut |_| {}).unwrap();
    }
    let mut header = store.campaign("jobs").unwrap().unwrap();
    header.hash_version = Some(1);
    let mut c = evonas::store::Commit::new();
    c.put_header(&header);
    store.commit("jobs", &c).unwrap();
    let e = Campaign::resume(&store, "jobs").err().expect("refused");
    assert!(
        e.to_string().contains(
            "campaign `jobs` was started with functional hash version 1, which this evonas cannot compute"
        ),
        "{e}"
    );
    assert_eq!(store.campaign("jobs").unwrap().unwrap(), header);
}
