//! `[evaluator] kind = "zero-cost"`: training-free proxies through the training backend.

use crate::util::{evonas, rank_json, shared_data, tempdir, write};

fn proxy_toml(proxy: &str) -> String {
    format!(
        "[evaluator]\nkind = \"zero-cost\"\nproxy = \"{proxy}\"\ndata = \"synthetic\"\nsynthetic_images = 300\nbatch_size = 16\n[knobs]\nchannels = 4\ncells = 1\n"
    )
}

/// Every proxy scores a sample of NB-201 cells with finite, deterministic scores, recorded at
/// the proxy's fidelity; `params` is the network's parameter count in millions.
#[test]
fn every_proxy_scores_deterministically_through_the_cache() {
    let dir = tempdir();
    let store = dir.path().join("s");
    for proxy in [
        "nwot",
        "snip",
        "grad_norm",
        "l2_norm",
        "params",
        "flops",
        "synflow",
        "jacov",
        "zen",
    ] {
        let cand = write(&dir, &format!("{proxy}.toml"), &proxy_toml(proxy));
        let reference = write(&dir, "params.toml", &proxy_toml("params"));
        let run = || -> serde_json::Value {
            rank_json(&reference, &cand, &store, &["--sample", "6", "--seed", "2"])
        };
        let v = run();
        assert_eq!(v["candidate"]["fidelity"]["name"], proxy, "{v}");
        let fitness = |v: &serde_json::Value| -> Vec<f64> {
            v["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["candidate"]["fitness"].as_f64().unwrap_or(f64::NAN))
                .collect()
        };
        let scores = fitness(&v);
        assert!(scores.iter().all(|s| s.is_finite()), "{proxy}: {scores:?}");
        // Not one value for every network.
        assert!(
            scores.iter().any(|s| *s != scores[0]),
            "{proxy}: {scores:?}"
        );
        // Cached now: the second run evaluates nothing and gives the same scores.
        let again = run();
        assert_eq!(again["candidate"]["evaluated"], 0);
        assert_eq!(fitness(&again), scores);
    }
}

#[test]
fn params_and_flops_are_the_cost_model_in_millions() {
    let dir = tempdir();
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    let shown = evonas(&["show", "--space", "nb201"], Some(arch)).ok();
    let count = |label: &str| -> f64 {
        let line = shown.lines().find(|l| l.starts_with(label)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let archs = write(&dir, "a.txt", &format!("{arch}\n"));
    let p = write(
        &dir,
        "p.toml",
        "[evaluator]\nkind = \"zero-cost\"\nproxy = \"params\"\n",
    );
    let f = write(
        &dir,
        "f.toml",
        "[evaluator]\nkind = \"zero-cost\"\nproxy = \"flops\"\n",
    );
    let v = rank_json(
        &p,
        &f,
        &dir.path().join("s"),
        &["--archs", archs.to_str().unwrap()],
    );
    let s = &v["scores"][0];
    assert_eq!(
        s["reference"]["fitness"].as_f64().unwrap(),
        count("params:") / 1e6
    );
    assert_eq!(
        s["candidate"]["fitness"].as_f64().unwrap(),
        count("FLOPs:") / 1e6
    );
}

#[test]
fn a_campaign_searches_on_a_proxy() {
    let dir = tempdir();
    let cfg = write(
        &dir,
        "c.toml",
        &format!(
            "name = \"zc\"\nspace = \"nb201\"\n[strategy]\nkind = \"regularized-evolution\"\npopulation = 4\nsample = 2\n[budget]\nevaluations = 8\n{}",
            proxy_toml("nwot")
        ),
    );
    let store = dir.path().join("s");
    evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "-q",
        ],
        None,
    )
    .ok();
    let out = evonas(
        &["status", "zc", "--store", store.to_str().unwrap(), "--json"],
        None,
    )
    .ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "finished");
    assert_eq!(v["best"]["fidelity"], "proxy nwot", "{v}");
    assert!(v["best"]["metrics"]["nwot"].as_f64().unwrap().is_finite());
}

#[test]
fn bad_zero_cost_settings_are_named() {
    let dir = tempdir();
    let store = dir.path().join("s");
    let a = write(&dir, "a.toml", &proxy_toml("params"));
    for (text, want) in [
        (
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"magic\"\n",
            "magic",
        ),
        // The message lists the proxies there are.
        (
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"synflo\"\n",
            "synflow",
        ),
        (
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"zen\"\nbatch_size = 1\n",
            "batch_size",
        ),
        (
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"nwot\"\nbatch_size = 1\n",
            "batch_size",
        ),
        (
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"nwot\"\nbackend = \"torch\"\n",
            "backend",
        ),
        #[cfg(not(feature = "tch"))]
        (
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"nwot\"\nbackend = \"tch\"\n",
            "needs evonas built with libtorch",
        ),
    ] {
        let bad = write(&dir, "bad.toml", text);
        let e = evonas(
            &[
                "rank",
                "--reference",
                a.to_str().unwrap(),
                "--candidate",
                bad.to_str().unwrap(),
                "--sample",
                "2",
                "--store",
                store.to_str().unwrap(),
            ],
            None,
        )
        .fails();
        assert!(e.contains(want), "{e}");
    }
}

/// On real CIFAR-10 images, NASWOT orders a handful of NB-201 cells like their accuracy does
/// more often than not (the published Spearman is about 0.8 over the whole space).
#[test]
fn nwot_agrees_with_the_nb201_table_on_cifar10() {
    let (Some(table), Some(cifar)) = (shared_data("nb201"), shared_data("cifar10")) else {
        return;
    };
    let dir = tempdir();
    let reference = write(
        &dir,
        "t.toml",
        &format!(
            "[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\n",
            table.display()
        ),
    );
    let nwot = write(
        &dir,
        "n.toml",
        &format!(
            "[evaluator]\nkind = \"zero-cost\"\nproxy = \"nwot\"\ndata = \"cifar10\"\npath = \"{}\"\ntrain_files = [\"kaggle_train_first200.bin\"]\nbatch_size = 32\n[knobs]\nchannels = 8\ncells = 1\n",
            cifar.display()
        ),
    );
    let v = rank_json(
        &reference,
        &nwot,
        &dir.path().join("s"),
        &["--sample", "16", "--seed", "5"],
    );
    let rho = v["agreement"]["spearman"].as_f64().unwrap();
    assert!(rho > 0.3, "Spearman {rho}: {}", v["agreement"]);
}

/// A cell whose output ignores the input (every path to the output crosses `none`) gets
/// NASLib's degenerate scores: jacov and zen are not numbers (recorded as -1e8), synflow's
/// sum is 0 (kept as 0, as NASLib's log transform does).
#[test]
fn a_network_ignoring_its_input_gets_the_degenerate_scores() {
    let dir = tempdir();
    let archs = write(
        &dir,
        "a.txt",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|none~2|\n",
    );
    let reference = write(&dir, "params.toml", &proxy_toml("params"));
    for (proxy, want) in [("jacov", -1e8), ("zen", -1e8), ("synflow", 0.0)] {
        let cand = write(&dir, &format!("{proxy}.toml"), &proxy_toml(proxy));
        let v = rank_json(
            &reference,
            &cand,
            &dir.path().join("s"),
            &["--archs", archs.to_str().unwrap()],
        );
        for s in v["scores"].as_array().unwrap() {
            assert_eq!(
                s["candidate"]["fitness"].as_f64(),
                Some(want),
                "{proxy}: {s}"
            );
        }
    }
}
