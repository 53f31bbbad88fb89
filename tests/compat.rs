//! Format compatibility: files written by earlier versions of evonas, checked in under
//! `tests/compat/`, must keep reading the same (with a migration, or a clear refusal, when a
//! schema changes). `v1/` was written by evonas 0.1.0 at commit 7fa1b00 (store schema 1,
//! campaign schema 1, record schema 1, document schema 1, hash v2): an NB-201 table campaign
//! (`campaign.toml`), its store, `status --json`, `cache export` and `export --top 2`.
//!
//! Never regenerate these files to make a test pass: add `v2/` next to them instead.

use std::path::{Path, PathBuf};

use crate::util::{evonas, tempdir};

fn v1(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat/v1")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A writable copy of the v1 store (sled opens read-write).
fn store_copy(dir: &tempfile::TempDir) -> String {
    let store = dir.path().join("store");
    copy_dir(&v1("store"), &store);
    store.to_str().unwrap().to_string()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Keys `status --json` gained since version 1, with the value a version-1 store must show.
/// Anything else that differs from the version-1 snapshot fails the test.
const STATUS_ADDITIONS: &[(&str, &str)] = &[
    // A v1 campaign's best figure is its evaluator's full protocol.
    ("/best/fidelity", "full"),
];

/// `now` with the known additions checked and removed, to compare with a version-1 snapshot.
fn without_additions(mut now: serde_json::Value) -> serde_json::Value {
    for (pointer, value) in STATUS_ADDITIONS {
        assert_eq!(
            now.pointer(pointer).and_then(|v| v.as_str()),
            Some(*value),
            "{pointer}"
        );
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        now.pointer_mut(parent)
            .and_then(|p| p.as_object_mut())
            .and_then(|m| m.remove(key));
    }
    now
}

#[test]
fn a_version_1_store_reads_the_same_and_its_campaign_is_recognised() {
    let dir = tempdir();
    let store = store_copy(&dir);
    let status = json(&evonas(&["status", "pin", "--store", &store, "--json"], None).ok());
    let expected = json(&std::fs::read_to_string(v1("status.json")).unwrap());
    assert_eq!(without_additions(status), expected);
    // The same config file: recognised as the same, finished campaign (its stored canonical
    // config equals today's reading of the file), so nothing is redone.
    let out = evonas(
        &[
            "search",
            "--config",
            v1("campaign.toml").to_str().unwrap(),
            "--store",
            &store,
        ],
        None,
    )
    .ok();
    assert!(out.contains("already finished"), "{out}");
    // Exports read the journal and the cache records of version 1.
    let mut now = json(&evonas(&["export", "pin", "--top", "2", "--store", &store], None).ok());
    let mut then = json(&std::fs::read_to_string(v1("documents.json")).unwrap());
    for docs in [&mut now, &mut then] {
        for d in docs.as_array_mut().unwrap() {
            let p = &mut d["result"]["provenance"];
            p["exported_unix"] = 0.into();
            p["evonas_version"] = "".into();
        }
    }
    // Documents gained `result.fidelity` since version 1; a v1 campaign's figures are full.
    for d in now.as_array_mut().unwrap() {
        let result = d["result"].as_object_mut().unwrap();
        assert_eq!(
            result.remove("fidelity"),
            Some(serde_json::json!({"kind": "full"}))
        );
    }
    assert_eq!(now, then);
}

#[test]
fn a_version_1_cache_export_imports_and_exports_back_unchanged() {
    let dir = tempdir();
    let store = dir.path().join("fresh");
    let store = store.to_str().unwrap();
    let file = v1("cache.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    evonas(
        &["cache", "import", file.to_str().unwrap(), "--store", store],
        None,
    )
    .ok();
    let stats = json(&evonas(&["cache", "stats", "--store", store, "--json"], None).ok());
    assert_eq!(stats["entries"], text.lines().count(), "{stats}");
    let back = evonas(&["cache", "export", "--store", store], None).ok();
    let mut a: Vec<serde_json::Value> = text.lines().map(json).collect();
    let mut b: Vec<serde_json::Value> = back.lines().map(json).collect();
    let key = |v: &serde_json::Value| v.to_string();
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b);
}

#[test]
fn version_1_documents_hash_to_their_recorded_hashes() {
    let text = std::fs::read_to_string(v1("documents.json")).unwrap();
    let docs = json(&text);
    let out = evonas(&["hash"], Some(&text)).ok();
    let hashes: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    let recorded: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["result"]["functional_hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes, recorded);
    // And they describe themselves: ops, params, FLOPs.
    let shown = evonas(&["show"], Some(&text)).ok();
    assert!(shown.contains("params"), "{shown}");
}

/// Today's binary runs the v1 campaign again from its config and takes the same path: the
/// same history digest, counts and best as version 1 recorded.
#[test]
fn the_version_1_campaign_replays_with_the_same_history_digest() {
    let Some(table) = crate::util::shared_data("nb201/nb201_cifar10_valid_200ep.csv") else {
        return;
    };
    let dir = tempdir();
    let text = std::fs::read_to_string(v1("campaign.toml"))
        .unwrap()
        .replace(
            "path = \"../shared/data/nb201\"",
            &format!("path = \"{}\"", table.parent().unwrap().display()),
        );
    let cfg = crate::util::write(&dir, "campaign.toml", &text);
    let store = dir.path().join("replay");
    let store = store.to_str().unwrap();
    evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store,
            "-q",
        ],
        None,
    )
    .ok();
    let now = without_additions(json(
        &evonas(&["status", "pin", "--store", store, "--json"], None).ok(),
    ));
    let then = json(&std::fs::read_to_string(v1("status.json")).unwrap());
    for k in [
        "history_digest",
        "proposals",
        "evaluations",
        "cache_hits",
        "failures",
        "best",
        "simulated_seconds",
        "finish_reason",
    ] {
        assert_eq!(now[k], then[k], "{k}");
    }
}
