//! Bad input gets a clear error naming the input and what is wrong, a non-zero exit, no panic.

use crate::util::{evonas, tempdir, write};

#[test]
fn malformed_nb201_arch_strings() {
    let cases = [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "expected 3 nodes"),
        (
            "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "unknown op `conv_9x9`",
        ),
        (
            "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|",
            "should come from node 1",
        ),
        (
            "|none~0|+|none~0|+|none~0|none~1|none~2|",
            "expected 2 incoming edges",
        ),
        (
            "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "must start and end with `|`",
        ),
        (
            "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "is not `op~input`",
        ),
    ];
    for (arch, needle) in cases {
        let err = evonas(&["show", "--space", "nb201"], Some(arch)).fails();
        assert!(
            err.contains(needle),
            "{arch}: expected `{needle}` in:\n{err}"
        );
        assert!(err.contains("architecture 1"), "{err}");
    }
}

#[test]
fn malformed_nb101_nasnet_and_fbnet_genotypes() {
    let cases = [
        (
            "nb101",
            r#"{"matrix": [[0,1],[0,0]], "ops": ["input"]}"#,
            "ops has 1 entries",
        ),
        (
            "nb101",
            r#"{"matrix": [[0,1],[1,0]], "ops": ["input","output"]}"#,
            "upper-triangular",
        ),
        (
            "nb101",
            r#"{"matrix": [[0,0,0],[0,0,1],[0,0,0]], "ops": ["input","conv3x3-bn-relu","output"]}"#,
            "not reachable",
        ),
        (
            "nb101",
            r#"{"matrix": [[0,2],[0,0]], "ops": ["input","output"]}"#,
            "expected 0 or 1",
        ),
        (
            "nb101",
            r#"{"matrix": [[0,1],[0,0]], "ops": ["input","output"], "extra": 1}"#,
            "extra",
        ),
        (
            "nasnet",
            r#"{"normal": [["sep_conv_3x3", 0]], "reduce": []}"#,
            "expected 10",
        ),
        ("fbnet", r#"["k3_e1"]"#, "22 searchable layers"),
        (
            "fbnet",
            r#"["k3_e9","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1","k3_e1"]"#,
            "unknown block `k3_e9`",
        ),
    ];
    for (space, text, needle) in cases {
        let err = evonas(&["show", "--space", space], Some(text)).fails();
        assert!(
            err.contains(needle),
            "{space} {text}: expected `{needle}` in:\n{err}"
        );
    }
    let nasnet_bad_state = {
        let pairs: Vec<String> = (0..10)
            .map(|i| format!(r#"["skip_connect", {}]"#, if i == 0 { 5 } else { 0 }))
            .collect();
        format!(
            r#"{{"normal": [{p}], "reduce": [{p}]}}"#,
            p = pairs.join(",")
        )
    };
    let err = evonas(&["show", "--space", "nasnet"], Some(&nasnet_bad_state)).fails();
    assert!(err.contains("block 0 can read states"), "{err}");
}

/// The `darts` space's compact (NASLib) and Python (DARTS) forms: each mistake is named with
/// its place.
#[test]
fn malformed_darts_genotypes_name_the_pair() {
    let cell = "(0, 3), (1, 3), (0, 3), (1, 3), (0, 3), (1, 3), (0, 3), (1, 3)";
    let rest =
        "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), \
                ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1)";
    for (text, needle) in [
        (format!("[[{cell}], [{cell}], []]"), "found 3 items"),
        (format!("[[{cell}], [(0, 7), (1, 3)]]"), "`reduce[0]`: op index 7 is out of range; this space's ops are 0 to 6"),
        (
            format!("[[(0, 3), (0, 3), (0, 3), (1, 3), (0, 3), (1, 3), (0, 3), (1, 3)], [{cell}]]"),
            "`normal[0]` and `normal[1]`: block 0 reads state 0 twice",
        ),
        (format!("[[{cell}], [(0, 3), (1, 3), (2, 3), (3, 3), (0, 3), (1, 3), (0, 3), (1, 3)]]"), "`reduce[3]`: block 1 can read states 0..=2"),
        (format!("[[{cell}], [(0, 3, 1)]]"), "`reduce[0]` must be a pair (input, op index)"),
        (format!("[[{cell}], [(0, 3)]]"), "`reduce` has 1 pairs; expected 8"),
        (format!("[[{cell}], [(0, 3) (1, 3)]]"), "at character"),
        (
            format!("Genotype(normal=[('sep_conv_9x9', 0), {rest}], reduce=[('skip_connect', 0), {rest}])"),
            "`normal[0]`: unknown op `sep_conv_9x9`",
        ),
    ] {
        let err = evonas(&["show", "--space", "darts"], Some(&text)).fails();
        assert!(err.contains(needle), "{text}: expected `{needle}` in:\n{err}");
    }
}

#[test]
fn malformed_documents_name_the_field() {
    let good = evonas(&["sample", "--space", "nb201", "--seed", "1"], None).ok();
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    // Unknown op kind inside the network.
    v["network"]["nodes"][1]["op"]["kind"] = "gelu".into();
    let err = evonas(&["show"], Some(&v.to_string())).fails();
    assert!(
        err.contains("network.nodes[1].op") && err.contains("gelu"),
        "{err}"
    );
    // A cycle.
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    v["network"]["nodes"][1]["inputs"] = serde_json::json!([3]);
    let err = evonas(&["show"], Some(&v.to_string())).fails();
    assert!(err.contains("cycle"), "{err}");
    // A newer schema.
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    v["schema_version"] = 99.into();
    let err = evonas(&["show"], Some(&v.to_string())).fails();
    assert!(
        err.contains("schema_version 99") && err.contains("upgrade"),
        "{err}"
    );
    // A network that does not match its genotype.
    let other = evonas(&["sample", "--space", "nb201", "--seed", "2"], None).ok();
    let o: serde_json::Value = serde_json::from_str(other.trim()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    if v["genotype"] != o["genotype"] {
        v["genotype"] = o["genotype"].clone();
        let err = evonas(&["show"], Some(&v.to_string())).fails();
        assert!(err.contains("does not match"), "{err}");
    }
    // A missing field.
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    v.as_object_mut().unwrap().remove("genotype");
    let err = evonas(&["show"], Some(&v.to_string())).fails();
    assert!(err.contains("missing field `genotype`"), "{err}");
    // Without `network` the document is decoded from its genotype (hand-written documents),
    // to the same network.
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    v.as_object_mut().unwrap().remove("network");
    let decoded = evonas(&["show"], Some(&v.to_string())).ok();
    assert_eq!(decoded, evonas(&["show"], Some(good.trim())).ok());
    // Truncated JSON is not a document; without --space it cannot be read at all.
    let err = evonas(&["show"], Some(&good[..good.len() / 2])).fails();
    assert!(err.contains("--space"), "{err}");
}

#[test]
fn invalid_graphs_in_documents_are_rejected_with_the_node() {
    let doc = |nodes: serde_json::Value| {
        serde_json::json!({"schema_version": 1, "space": "custom", "genotype": null, "network": {"nodes": nodes}}).to_string()
    };
    let shape_mismatch = doc(serde_json::json!([
        {"id": 0, "op": {"kind": "input", "channels": 3, "height": 8, "width": 8}},
        {"id": 1, "op": {"kind": "max_pool", "kernel": 2, "stride": 2, "padding": 0}, "inputs": [0]},
        {"id": 2, "op": {"kind": "add"}, "inputs": [0, 1]},
        {"id": 3, "op": {"kind": "output"}, "inputs": [2]}
    ]));
    let err = evonas(&["show"], Some(&shape_mismatch)).fails();
    assert!(
        err.contains("node 2") && err.contains("differ in shape"),
        "{err}"
    );
    let dangling = doc(serde_json::json!([
        {"id": 0, "op": {"kind": "input", "channels": 3, "height": 8, "width": 8}},
        {"id": 1, "op": {"kind": "relu"}, "inputs": [0]},
        {"id": 2, "op": {"kind": "relu"}, "inputs": [0]},
        {"id": 3, "op": {"kind": "output"}, "inputs": [1]}
    ]));
    let err = evonas(&["show"], Some(&dangling)).fails();
    assert!(
        err.contains("node 2") && err.contains("does not reach the output"),
        "{err}"
    );
    let arity = doc(serde_json::json!([
        {"id": 0, "op": {"kind": "input", "channels": 3, "height": 8, "width": 8}},
        {"id": 1, "op": {"kind": "relu"}, "inputs": [0, 0]},
        {"id": 2, "op": {"kind": "output"}, "inputs": [1]}
    ]));
    let err = evonas(&["show"], Some(&arity)).fails();
    assert!(err.contains("takes exactly 1 operand"), "{err}");
    // A valid custom network is shown without a space.
    let ok = doc(serde_json::json!([
        {"id": 0, "op": {"kind": "input", "channels": 3, "height": 8, "width": 8}},
        {"id": 1, "op": {"kind": "relu"}, "inputs": [0]},
        {"id": 2, "op": {"kind": "output"}, "inputs": [1]}
    ]));
    let out = evonas(&["show"], Some(&ok)).ok();
    assert!(out.contains("space:    unknown"), "{out}");
}

#[test]
fn malformed_space_files() {
    let dir = tempdir();
    let nb201 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/search_spaces/nb201.toml"
    ))
    .unwrap();
    let cases = [
        (
            "syntax.toml",
            "name = \"x\"\nfamily = \n".to_string(),
            "syntax.toml",
        ),
        (
            "nofamily.toml",
            "name = \"x\"\n".to_string(),
            "missing key `family`",
        ),
        // A skeleton no machine could build is refused before decoding anything.
        (
            "deep.toml",
            nb201.replace("cells_per_stage = 5", "cells_per_stage = 1000000"),
            "skeleton: cells per stage = 1000000: must be at most 256",
        ),
        (
            "wide.toml",
            nb201.replace("input = [3, 32, 32]", "input = [3, 100000, 32]"),
            "skeleton: an input size = 100000: must be at most 4096",
        ),
        (
            "family.toml",
            "name = \"x\"\nfamily = \"resnet\"\n".to_string(),
            "unknown family `resnet`",
        ),
        (
            "unknown_key.toml",
            nb201.replace("nodes = 4", "nodes = 4\nnodez = 3"),
            "nodez",
        ),
        (
            "bad_kind.toml",
            nb201.replace("kind = \"avg_pool\"", "kind = \"avg_poool\""),
            "avg_poool",
        ),
        (
            "even_kernel.toml",
            nb201.replace("kernel = 3", "kernel = 4"),
            "must be odd",
        ),
        (
            "dup.toml",
            nb201.replace("name = \"avg_pool_3x3\"", "name = \"none\""),
            "listed twice",
        ),
        (
            "zero_channels.toml",
            nb201.replace("channels = 16", "channels = 0"),
            "positive",
        ),
    ];
    for (name, text, needle) in cases {
        let path = write(&dir, name, &text);
        let err = evonas(
            &["sample", "--space", path.to_str().unwrap(), "--seed", "1"],
            None,
        )
        .fails();
        assert!(
            err.contains(needle),
            "{name}: expected `{needle}` in:\n{err}"
        );
    }
    let err = evonas(&["sample", "--space", "no-such-space"], None).fails();
    assert!(
        err.contains("unknown space `no-such-space`") && err.contains("nb201"),
        "{err}"
    );
    let err = evonas(&["sample", "--space", "/no/such/file.toml"], None).fails();
    assert!(err.contains("cannot read the file"), "{err}");
}

#[test]
fn bad_flags_and_empty_input() {
    evonas(&["sample", "--space", "nb201", "-n", "x"], None).fails();
    evonas(&["frobnicate"], None).fails();
    let err = evonas(&["show", "--space", "nb201"], Some("\n\n")).fails();
    assert!(err.contains("no architectures found"), "{err}");
    let err = evonas(&["show", "/no/such/arch.json"], None).fails();
    assert!(err.contains("/no/such/arch.json"), "{err}");
    let err = evonas(&["sample", "--space", "nb201", "--channels", "0"], None).fails();
    assert!(
        err.contains("--channels = 0: must be between 1 and 4096"),
        "{err}"
    );
    // A network of absurd size is refused before anything is printed.
    let out = evonas(
        &[
            "sample",
            "--space",
            "nb201",
            "--channels",
            "100000",
            "--cells",
            "1000",
        ],
        None,
    );
    let err = out.fails();
    assert!(
        err.contains("--channels = 100000: must be between 1 and 4096"),
        "{err}"
    );
}

/// An error quotes at most a short excerpt of the offending input, once: a 200 KB file of
/// nested brackets is not echoed back.
#[test]
fn errors_quote_a_short_excerpt_of_huge_input() {
    let huge = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = evonas(&["show"], Some(&huge)).fails();
    assert!(
        err.len() < 600,
        "{} bytes of error: {}",
        err.len(),
        &err[..600]
    );
    assert!(err.contains("(200000 bytes in all)"), "{err}");
    let line = "|nor_conv_3x3~0|".repeat(20_000);
    let err = evonas(&["show", "--space", "nb201"], Some(&line)).fails();
    assert!(
        err.len() < 600,
        "{} bytes of error: {}",
        err.len(),
        &err[..600]
    );
    assert_eq!(err.matches("bytes in all").count(), 1, "{err}");
}

/// Every row of the README's bad-input table names a test that exists (so the table cannot
/// drift from what is tested).
#[test]
fn the_readme_bad_input_table_names_tests_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme
        .split("## Bad input")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Bad input section");
    let mut sources = String::new();
    let mut stack = vec![root.join("src"), root.join("tests")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                sources.push_str(&std::fs::read_to_string(p).unwrap());
            }
        }
    }
    let mut rows = 0;
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| input"))
    {
        let last = line.trim_end_matches('|').rsplit('|').next().unwrap();
        let names: Vec<&str> = last.split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "row names no test: {line}");
        for name in names {
            let f = name.rsplit("::").next().unwrap();
            assert!(
                sources.contains(&format!("fn {f}(")),
                "the README names `{name}`, which is not a test"
            );
        }
        rows += 1;
    }
    assert!(rows >= 20, "{rows} rows");
}

/// A space whose limits admit almost no cell (found by fuzzing: `max_edges = 0` sampled
/// forever) is refused when impossible, and samples and mutates in bounded time when merely
/// tight.
#[test]
fn nb101_spaces_with_tight_limits_sample_and_mutate_without_hanging() {
    use rand::SeedableRng;
    let nb101 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/search_spaces/nb101.toml"
    ))
    .unwrap();
    let line = |key: &str| {
        nb101
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_string()
    };
    let impossible = nb101.replace(&line("max_edges"), "max_edges = 0");
    let err = evonas::space::AnySpace::from_toml(&impossible, "x.toml")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("max_edges: must be at least 1"), "{err}");
    // 12 vertices, one edge: only the direct input-output cell is valid.
    let tight = nb101
        .replace(&line("max_edges"), "max_edges = 1")
        .replace(&line("max_vertices"), "max_vertices = 12");
    let space = evonas::space::AnySpace::from_toml(&tight, "tight.toml").unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // (A hang here would stop the test run; before the fix, `sample` never returned.)
    let g = space.sample(&mut rng);
    let m = space.mutate(&g, &mut rng).unwrap();
    space.decode(&g).unwrap();
    space.decode(&m).unwrap();
}
