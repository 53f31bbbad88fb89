//! `evonas rank`: two evaluators on the same architectures, through the cache.

use crate::util::{evonas, rank_json, shared_data, tempdir, write};

#[test]
fn an_evaluator_against_itself_agrees_perfectly_and_the_cache_answers_the_second_run() {
    let dir = tempdir();
    let a = write(&dir, "a.toml", "[evaluator]\nkind = \"mock\"\nseed = 4\n");
    let b = write(&dir, "b.toml", "[evaluator]\nkind = \"mock\"\nseed = 4\n");
    let store = dir.path().join("s");
    let args = ["--sample", "40", "--seed", "3", "--top-k", "5,10"];
    let v = rank_json(&a, &b, &store, &args);
    let ag = &v["agreement"];
    assert_eq!(v["architectures"], 40);
    assert_eq!(ag["both"], 40);
    for k in ["spearman", "kendall_tau_b", "pearson"] {
        assert!((ag[k].as_f64().unwrap() - 1.0).abs() < 1e-12, "{k}: {ag}");
    }
    assert_eq!(ag["top_k"][0]["precision"], 1.0);
    assert_eq!(ag["top_k"][1]["k"], 10);
    // Same settings, same protocol: the candidate was answered by the reference's scores.
    assert_eq!(v["reference"]["fingerprint"], v["candidate"]["fingerprint"]);
    assert_eq!(v["candidate"]["evaluated"], 0);
    // A second run evaluates nothing.
    let again = rank_json(&a, &b, &store, &args);
    assert_eq!(again["reference"]["evaluated"], 0);
    assert_eq!(again["reference"]["cached"], 40);
    assert_eq!(again["agreement"], v["agreement"]);
}

#[test]
fn statistics_are_over_the_pairs_both_scored_and_match_the_listed_scores() {
    let dir = tempdir();
    let a = write(&dir, "a.toml", "[evaluator]\nkind = \"mock\"\nseed = 1\n");
    let b = write(
        &dir,
        "b.toml",
        "[evaluator]\nkind = \"mock\"\nseed = 2\nfail_fraction = 0.3\n",
    );
    let store = dir.path().join("s");
    let v = rank_json(&a, &b, &store, &["--sample", "60", "--seed", "8"]);
    let scores = v["scores"].as_array().unwrap();
    let (x, y): (Vec<f64>, Vec<f64>) = scores
        .iter()
        .filter_map(|s| {
            Some((
                s["candidate"]["fitness"].as_f64()?,
                s["reference"]["fitness"].as_f64()?,
            ))
        })
        .unzip();
    let failed = v["candidate"]["failures"].as_u64().unwrap();
    assert!(failed > 5, "{failed} failures at fail_fraction 0.3");
    assert_eq!(x.len() as u64, 60 - failed);
    assert_eq!(v["agreement"]["both"].as_u64().unwrap(), 60 - failed);
    let close = |k: &str, want: Option<f64>| {
        let got = v["agreement"][k].as_f64().unwrap();
        assert!(
            (got - want.unwrap()).abs() < 1e-12,
            "{k}: {got} vs {want:?}"
        );
    };
    close("spearman", evonas::stats::spearman(&x, &y));
    close("kendall_tau_b", evonas::stats::kendall_tau_b(&x, &y));
    close("pearson", evonas::stats::pearson(&x, &y));
    // Default k: 10 and a tenth of the architectures.
    let ks: Vec<u64> = v["agreement"]["top_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["k"].as_u64().unwrap())
        .collect();
    assert_eq!(ks, vec![10, 6]);
    // Independent landscapes: no real agreement.
    assert!(v["agreement"]["spearman"].as_f64().unwrap().abs() < 0.4);
}

#[test]
fn a_table_against_a_short_training_with_a_plot() {
    let Some(table) = shared_data("nb201") else {
        return;
    };
    let dir = tempdir();
    let reference = write(
        &dir,
        "table.toml",
        &format!(
            "[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\ndataset = \"cifar10-valid\"\n",
            table.display()
        ),
    );
    // A campaign config works as an evaluator file (its [knobs] too).
    let short = write(
        &dir,
        "short.toml",
        "name = \"x\"\nspace = \"nb201\"\n[knobs]\nchannels = 4\ncells = 1\n[strategy]\nkind = \"random\"\n[budget]\nevaluations = 1\n[evaluator]\nkind = \"train\"\ndata = \"synthetic\"\nsynthetic_images = 200\nvalid_size = 100\nepochs = 1\nbatch_size = 50\n",
    );
    let archs = write(
        &dir,
        "archs.txt",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|\n",
    );
    let svg = dir.path().join("plot.svg");
    let store = dir.path().join("s");
    let out = evonas(
        &[
            "rank",
            "--reference",
            reference.to_str().unwrap(),
            "--candidate",
            short.to_str().unwrap(),
            "--archs",
            archs.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "-q",
        ],
        None,
    )
    .ok();
    assert!(
        out.contains("3 architectures of nb201; both scored 3"),
        "{out}"
    );
    assert!(
        out.contains("Spearman rho") && out.contains("Kendall tau-b"),
        "{out}"
    );
    assert!(
        out.contains("short: ") && out.contains("fidelity 1 epoch"),
        "{out}"
    );
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.starts_with("<svg") && plot.contains("Spearman"),
        "{plot}"
    );
}

#[test]
fn bad_rank_input_is_named() {
    let dir = tempdir();
    let a = write(&dir, "a.toml", "[evaluator]\nkind = \"mock\"\n");
    let bad = write(&dir, "bad.toml", "[evaluator]\nkind = \"mock\"\nsed = 3\n");
    let s = dir.path().join("s");
    let s = s.to_str().unwrap();
    let e = evonas(
        &[
            "rank",
            "--reference",
            a.to_str().unwrap(),
            "--candidate",
            bad.to_str().unwrap(),
            "--sample",
            "3",
            "--store",
            s,
        ],
        None,
    )
    .fails();
    assert!(e.contains("bad.toml") && e.contains("sed"), "{e}");
    let e = evonas(
        &[
            "rank",
            "--reference",
            a.to_str().unwrap(),
            "--candidate",
            a.to_str().unwrap(),
            "--store",
            s,
        ],
        None,
    )
    .fails();
    assert!(e.contains("--sample") || e.contains("--archs"), "{e}");
    let other = write(&dir, "fb.txt", "");
    let e = evonas(
        &[
            "rank",
            "--reference",
            a.to_str().unwrap(),
            "--candidate",
            a.to_str().unwrap(),
            "--archs",
            other.to_str().unwrap(),
            "--store",
            s,
        ],
        None,
    )
    .fails();
    assert!(e.contains("no architectures"), "{e}");
}
