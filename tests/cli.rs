//! The command line as a user drives it.

use crate::util::{evonas, tempdir, write};

#[test]
fn help_explains_every_command() {
    let out = evonas(&["--help"], None).ok();
    // Every subcommand is listed with a sentence, and its own --help explains it and its flags.
    let commands = [
        "search",
        "train",
        "retrain",
        "export",
        "report",
        "resume",
        "worker",
        "status",
        "rank",
        "cache",
        "spaces",
        "sample",
        "mutate",
        "show",
        "hash",
        "enumerate",
    ];
    let listed: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(listed, commands, "--help lists every command:\n{out}");
    for cmd in commands {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{cmd} ")))
            .unwrap_or_else(|| panic!("no line for {cmd}"));
        assert!(
            line.split_whitespace().count() > 4,
            "{cmd} has no explanation: {line}"
        );
        let help = evonas(&[cmd, "--help"], None).ok();
        assert!(help.contains("Usage: evonas"), "{cmd} --help:\n{help}");
        assert!(help.len() > 200, "{cmd} --help says too little:\n{help}");
    }
    let sample = evonas(&["sample", "--help"], None).ok();
    assert!(sample.contains("--seed") && sample.contains("--channels"));
    let cache = evonas(&["cache", "--help"], None).ok();
    for sub in ["stats", "export", "import", "gc"] {
        assert!(cache.contains(sub), "cache --help lacks {sub}:\n{cache}");
    }
}

#[test]
fn spaces_lists_builtins_with_sizes() {
    let out = evonas(&["spaces"], None).ok();
    for line in ["nb201", "nb101", "nasnet", "fbnet", "darts"] {
        assert!(out.contains(line), "{out}");
    }
    assert!(out.contains("15625") && out.contains("1293208"), "{out}");
}

#[test]
fn enumerate_counts_nb201_and_nb101() {
    let out = evonas(&["enumerate", "--space", "nb201", "--json"], None).ok();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["encodings"], 15_625);
    assert_eq!(v["structural_classes"], 11_155);
    // Hash version 3 (5,044 under version 2: rule 8 merges the rest).
    assert_eq!(v["functional_classes"], 4_954);
    // The whole of NAS-Bench-101, decoded and hashed (about 100 s on 2 cores): the structural
    // hash finds exactly the benchmark's published 423,624 isomorphism classes.
    let out = evonas(&["enumerate", "--space", "nb101", "--json"], None).ok();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["encodings"], 1_293_208);
    assert_eq!(v["structural_classes"], 423_624);
    assert_eq!(v["functional_classes"], 419_466);
    // Decoding and hashing 1.3 M cells takes real time (about 100 s here; 25 s at 50 k/s).
    let seconds = v["seconds"].as_f64().unwrap();
    assert!(seconds > 1.0 && seconds < 3600.0, "{seconds} s");
    let text = evonas(&["enumerate", "--space", "nb201"], None).ok();
    assert!(text.contains("15625"));
}

#[test]
fn enumerate_refuses_infinite_spaces_clearly() {
    let err = evonas(&["enumerate", "--space", "nasnet"], None).fails();
    assert!(err.contains("too large to enumerate"), "{err}");
}

#[test]
fn sample_is_reproducible_and_show_reads_it_back() {
    for space in ["nb201", "nb101", "nasnet", "fbnet"] {
        let args = ["sample", "--space", space, "-n", "3", "--seed", "11"];
        let a = evonas(&args, None).ok();
        let b = evonas(&args, None).ok();
        assert_eq!(a, b, "same seed, same samples");
        assert_eq!(a.lines().count(), 3);
        let shown = evonas(&["show"], Some(&a)).ok();
        assert_eq!(shown.matches("params:").count(), 3, "{shown}");
        assert!(shown.contains(&format!("space:    {space}")), "{shown}");
    }
    let c = evonas(&["sample", "--space", "nb201", "--seed", "12"], None).ok();
    let a = evonas(&["sample", "--space", "nb201", "--seed", "11"], None).ok();
    assert_ne!(a.lines().next(), c.lines().next());
}

#[test]
fn sample_without_seed_prints_the_seed_it_drew() {
    let run = evonas(&["sample", "--space", "nb201"], None);
    assert_eq!(run.code, 0);
    let seed_line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("seed: "))
        .unwrap();
    let seed = seed_line.split_whitespace().nth(1).unwrap();
    let again = evonas(&["sample", "--space", "nb201", "--seed", seed], None).ok();
    assert_eq!(again, run.stdout);
}

#[test]
fn show_reads_native_notation_and_files() {
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    let out = evonas(&["show", "--space", "nb201"], Some(arch)).ok();
    assert!(out.contains("params:   1531546"), "{out}");
    assert!(
        out.contains("node 3 = nor_conv_3x3(node 0) + nor_conv_3x3(node 1) + nor_conv_3x3(node 2)")
    );
    let dir = tempdir();
    let doc = evonas(&["sample", "--space", "fbnet", "--seed", "3"], None).ok();
    let path = write(&dir, "arch.json", &doc);
    let out = evonas(&["show", path.to_str().unwrap()], None).ok();
    assert!(
        out.contains("layer  stage  channels  stride  block"),
        "{out}"
    );
}

#[test]
fn show_reads_a_pretty_printed_document() {
    let line = evonas(&["sample", "--space", "nasnet", "--seed", "4"], None).ok();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    let out = evonas(&["show"], Some(&pretty)).ok();
    assert!(
        out.contains("normal cell:") && out.contains("reduce cell:"),
        "{out}"
    );
}

#[test]
fn mutate_reads_stdin_and_changes_the_genotype() {
    for space in ["nb201", "nb101", "nasnet", "fbnet"] {
        let parent = evonas(&["sample", "--space", space, "--seed", "5"], None).ok();
        let child = evonas(&["mutate", "--space", space, "--seed", "9"], Some(&parent)).ok();
        let p: serde_json::Value = serde_json::from_str(parent.trim()).unwrap();
        let c: serde_json::Value = serde_json::from_str(child.trim()).unwrap();
        assert_ne!(p["genotype"], c["genotype"], "{space}");
        assert_eq!(c["space"], space);
        // The child is a valid document that show accepts.
        evonas(&["show"], Some(&child)).ok();
    }
}

#[test]
fn knobs_make_a_proxy_network() {
    let full = evonas(&["sample", "--space", "nb201", "--seed", "1"], None).ok();
    let proxy = evonas(
        &[
            "sample",
            "--space",
            "nb201",
            "--seed",
            "1",
            "--channels",
            "8",
            "--cells",
            "1",
        ],
        None,
    )
    .ok();
    let f: serde_json::Value = serde_json::from_str(full.trim()).unwrap();
    let p: serde_json::Value = serde_json::from_str(proxy.trim()).unwrap();
    assert_eq!(f["genotype"], p["genotype"]);
    assert_eq!(p["knobs"]["channels"], 8);
    let shown = evonas(&["show"], Some(&proxy)).ok();
    assert!(shown.contains("knobs:"), "{shown}");
}

#[test]
fn a_user_defined_space_file_works_without_rust() {
    let dir = tempdir();
    let nb201 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/search_spaces/nb201.toml"
    ))
    .unwrap();
    // The extra op goes before [skeleton] so it joins the `ops` array.
    let variant = {
        let (head, skeleton) = nb201.split_once("[skeleton]").unwrap();
        format!(
            "{}[[ops]]\nname = \"nor_conv_5x5\"\nkind = \"relu_conv_bn\"\nkernel = 5\n\n[skeleton]{}",
            head.replace("name = \"nb201\"", "name = \"nb201-5x5\""),
            skeleton
        )
    };
    let path = write(&dir, "nb201-5x5.toml", &variant);
    let space = path.to_str().unwrap();
    let out = evonas(&["enumerate", "--space", space, "--json"], None).ok();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["encodings"], 6u64.pow(6));
    let arch = "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|nor_conv_5x5~2|";
    let shown = evonas(&["show", "--space", space], Some(arch)).ok();
    assert!(shown.contains("nor_conv_5x5(node 0)"), "{shown}");
}

/// A document written by hand with only `space`, `genotype` and `knobs` is decoded (the
/// network from the genotype), and reads like the full document evonas writes for it.
#[test]
fn hand_written_documents_are_decoded() {
    let cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    let hand = format!(
        r#"{{"space": "nb201", "genotype": "{cell}", "knobs": {{"channels": 8, "cells": 1}}}}"#
    );
    // `show` and `hash` read it; its hash is the genotype's, decoded with the same knobs.
    let shown = evonas(&["show"], Some(&hand)).ok();
    assert!(shown.contains("params:   55362"), "{shown}");
    let h = evonas(&["hash"], Some(&hand)).ok();
    let first = |s: &str| s.split('\t').next().unwrap().to_string();
    assert!(first(&h).starts_with("f3:"), "{h}");
    // `export --arch` writes the full document for it, which reads back to the same hash.
    let doc = evonas(&["export", "--arch", "-"], Some(&hand)).ok();
    let docs: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(docs[0]["schema_version"], 1);
    assert!(docs[0]["network"]["nodes"].as_array().unwrap().len() > 10);
    assert_eq!(first(&evonas(&["hash"], Some(&doc)).ok()), first(&h));
    // Errors name the field.
    let e = evonas(
        &["show"],
        Some(r#"{"space": "nb201", "genotype": "|bogus~0|"}"#),
    )
    .fails();
    assert!(e.contains("field `genotype`") && e.contains("bogus"), "{e}");
    let e = evonas(
        &["show"],
        Some(&hand.replace("\"channels\"", "\"chanels\"")),
    )
    .fails();
    assert!(e.contains("knobs") && e.contains("chanels"), "{e}");
}

/// `export --arch` takes documents from a file or stdin, without a campaign or a store.
#[test]
fn export_takes_documents_without_a_campaign() {
    let dir = tempdir();
    let docs = evonas(
        &[
            "sample",
            "--space",
            "fbnet",
            "-n",
            "2",
            "--seed",
            "1",
            "--channels",
            "8",
        ],
        None,
    )
    .ok();
    let dot = evonas(&["export", "--arch", "-", "--format", "dot"], Some(&docs)).ok();
    assert_eq!(dot.matches("digraph").count(), 2, "{dot}");
    let file = write(&dir, "docs.jsonl", &docs);
    let py = evonas(
        &[
            "export",
            "--arch",
            file.to_str().unwrap(),
            "--format",
            "pytorch",
        ],
        None,
    )
    .ok();
    assert_eq!(py.matches("(EvonasNetwork):").count(), 2, "{py}");
    let e = evonas(&["export", "--arch", "-"], Some("not a document")).fails();
    assert!(e.contains("stdin: architecture 1"), "{e}");
}

/// Commands that only read never create a store folder where there is none.
#[test]
fn reading_commands_never_create_a_store() {
    let dir = tempdir();
    let missing = dir.path().join("no-store");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["status", "--store", m],
        vec!["status", "x", "--store", m, "--json"],
        vec!["export", "x", "--store", m],
        vec![
            "report",
            "x",
            "--store",
            m,
            "--out",
            dir.path().join("r").to_str().unwrap(),
        ],
        vec!["resume", "x", "--store", m],
        vec!["retrain", "x", "--epochs", "1", "--store", m],
        vec!["cache", "stats", "--store", m],
        vec!["cache", "export", "--store", m],
        vec!["cache", "gc", "--store", m],
    ] {
        let e = evonas(&args, None).fails();
        assert!(e.contains("no store at"), "{args:?}: {e}");
        assert!(!missing.exists(), "{args:?} created {m}");
    }
}
