//! Journaling overhead of a campaign step and store size, measured in one process:
//! median time of a durable round commit (journal events + header with the strategy state,
//! flushed) against the median NAS-Bench-201 table lookup it records, and the store's size on
//! disk after 10,000 evaluations. Usage: `store_overhead TABLE_DIR`; prints JSON.
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use evonas::eval::table::{Nb201Table, TableConfig};
use evonas::search::campaign::Campaign;
use evonas::search::CampaignConfig;
use evonas::store::campaign::Event;
use evonas::store::{Commit, Store, TreeId};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: store_overhead TABLE_DIR")?,
    );
    let dir = tempfile::tempdir()?;
    let text = format!(
        "name = \"size\"\nspace = \"nb201\"\nseed = 0\n[strategy]\nkind = \"regularized-evolution\"\npopulation = 10\nsample = 3\n[budget]\nevaluations = 10000\n[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\n[cache]\npolicy = \"off\"\n[parallel]\nthreads = 1\n",
        table.display()
    );
    let store = Store::open(dir.path())?;
    let cfg = CampaignConfig::parse(&text, "size")?;
    let start = Instant::now();
    let mut campaign = Campaign::open(&store, cfg, &text)?;
    campaign.run(&AtomicBool::new(false), &mut |_| {})?;
    let run_seconds = start.elapsed().as_secs_f64();
    let proposals = campaign.header().counters.proposals;
    let mut header = campaign.header().clone();
    drop(campaign);
    store.flush()?;
    let bytes = store.size_on_disk();
    // Per-step commit, as the campaign writes it (K = 1).
    let mut commits = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        let mut c = Commit::new();
        c.append(
            &mut header.next_seq,
            &[Event::Evaluated {
                proposal: header.counters.proposals,
                hash: evonas::hash::FunctionalHash::from_parts(1, [0; 32]),
                fitness: 90.0,
                metrics: Default::default(),
                simulated_seconds: 100.0,
            }],
        );
        c.remove(TreeId::Campaigns, b"i/size".to_vec());
        header.counters.proposals += 1;
        c.put_header(&header);
        store.commit("size", &c)?;
        commits.push(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let nb201 = Nb201Table::load(TableConfig {
        path: table,
        dataset: Default::default(),
        noise: 0.0,
        noise_seed: 0,
        sim_epochs: 12.0,
    })?;
    let load_seconds = t.elapsed().as_secs_f64();
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    let mut lookups = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        std::hint::black_box(nb201.lookup(std::hint::black_box(arch)));
        lookups.push(t.elapsed().as_secs_f64());
    }
    let (mc, ml) = (median(commits), median(lookups));
    println!(
        "{}",
        serde_json::json!({
            "median_round_commit_ms": mc * 1e3,
            "median_table_lookup_us": ml * 1e6,
            "commit_over_lookup": mc / ml,
            "store_bytes_after_10000_evaluations": bytes,
            "proposals": proposals,
            "campaign_seconds_k1_durable": run_seconds,
        "table_load_seconds": load_seconds,
        })
    );
    Ok(())
}
