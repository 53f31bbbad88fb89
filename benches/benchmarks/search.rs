//! Campaign throughput and journaling overhead with the NAS-Bench-201 table evaluator (needs
//! `../shared/data/nb201` or `EVONAS_SHARED_DATA`; skipped with a message otherwise).
//!
//! - `search/rea-table-K256`: proposals per second on one thread, durable store (every round
//!   committed and flushed), rounds of 256 proposals.
//! - `search/rea-table-K1`: the classic sequential algorithm, one flushed commit per proposal.
//! - `store/round-commit` vs `eval/table-lookup`: the journaling + state write of one step
//!   against the lookup it records.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use evonas::eval::table::{Nb201Table, TableConfig};
use evonas::search::campaign::Campaign;
use evonas::search::CampaignConfig;
use evonas::store::campaign::Event;
use evonas::store::{Commit, Store, TreeId};

fn table_dir() -> Option<PathBuf> {
    let root = std::env::var_os("EVONAS_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let dir = root.join("nb201");
    if dir.join("nb201_cifar10_valid_200ep.csv").exists() {
        Some(dir)
    } else {
        eprintln!("skipping search benchmarks: {} is missing", dir.display());
        None
    }
}

fn config(table: &std::path::Path, k: usize, proposals: u64) -> String {
    format!(
        "name = \"bench\"\nspace = \"nb201\"\nseed = 1\n[strategy]\nkind = \"regularized-evolution\"\npopulation = 100\nsample = 25\n[budget]\nproposals = {proposals}\n[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\n[cache]\npolicy = \"once\"\n[parallel]\nround_size = {k}\nthreads = 1\n",
        table.display()
    )
}

fn campaign_throughput(c: &mut Criterion) {
    let Some(table) = table_dir() else { return };
    let mut group = c.benchmark_group("search");
    group.sample_size(10);
    for (k, proposals) in [(256usize, 20_000u64), (1, 2_000)] {
        group.throughput(Throughput::Elements(proposals));
        group.bench_function(format!("rea-table-K{k}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("a temp dir"),
                |dir| {
                    let store = Store::open(dir.path()).expect("store opens");
                    let text = config(&table, k, proposals);
                    let cfg = CampaignConfig::parse(&text, "bench").expect("config parses");
                    let mut campaign = Campaign::open(&store, cfg, &text).expect("campaign opens");
                    campaign
                        .run(&AtomicBool::new(false), &mut |_| {})
                        .expect("campaign runs");
                    assert_eq!(campaign.header().counters.proposals, proposals);
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn step_overhead(c: &mut Criterion) {
    let Some(table) = table_dir() else { return };
    let nb201 = Nb201Table::load(TableConfig {
        path: table.clone(),
        dataset: Default::default(),
        noise: 0.0,
        noise_seed: 0,
        sim_epochs: 12.0,
    })
    .expect("table loads");
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    c.bench_function("eval/table-lookup", |b| {
        b.iter(|| nb201.lookup(arch).expect("in table"))
    });
    // A realistic step: the campaign header of a P=10 campaign, its events, a slot cleanup.
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).expect("store opens");
    let text = config(&table, 1, 200)
        .replace("population = 100", "population = 10")
        .replace("sample = 25", "sample = 3");
    let cfg = CampaignConfig::parse(&text, "bench").expect("config parses");
    let mut campaign = Campaign::open(&store, cfg, &text).expect("campaign opens");
    campaign
        .run(&AtomicBool::new(false), &mut |_| {})
        .expect("campaign runs");
    let mut header = campaign.header().clone();
    drop(campaign);
    c.bench_function("store/round-commit-durable", |b| {
        b.iter(|| {
            let mut commit = Commit::new();
            let events = [Event::Evaluated {
                proposal: header.counters.proposals,
                hash: evonas::hash::FunctionalHash::from_parts(1, [0; 32]),
                fitness: 90.0,
                metrics: Default::default(),
                simulated_seconds: 100.0,
            }];
            commit.append(&mut header.next_seq, &events);
            commit.remove(TreeId::Campaigns, b"i/bench".to_vec());
            header.counters.proposals += 1;
            commit.put_header(&header);
            store.commit("bench", &commit).expect("commit");
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = campaign_throughput, step_overhead
}
