//! Format compatibility: files written by earlier versions of evonas, checked in under
//! `tests/compat/`, must keep reading the same (with a migration, or a clear refusal, when a
//! schema changes). `v1/` was written by evonas 0.1.0 at commit 7fa1b00 (store schema 1,
//! campaign schema 1, record schema 1, document schema 1, hash v2): an NB-201 table campaign
//! (`campaign.toml`), its store, `status --json`, `cache export` and `export --top 2`.
//!
//! `hash_v2/` (see its README) was written at commit 89e1d2a, the last with functional hash
//! version 2: a store with two finished campaigns and an interrupted one, and its cache export.
//!
//! Never regenerate these files to make a test pass: add `v2/` next to them instead.

use std::path::{Path, PathBuf};

use crate::util::{evonas, tempdir};

fn hash_v2(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat/hash_v2")
        .join(name)
}

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

/// A writable copy of the hash-v2 store.
fn hash_v2_store_copy(dir: &tempfile::TempDir) -> String {
    let store = dir.path().join("hash_v2_store");
    copy_dir(&hash_v2("store"), &store);
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
    // Asked for the version they were made with (version 2); today's default is newer.
    let out = evonas(&["hash", "--hash-version", "2"], Some(&text)).ok();
    let hashes: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    let recorded: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["result"]["functional_hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes, recorded);
    let today = evonas(&["hash"], Some(&text)).ok();
    assert!(today.lines().all(|l| l.starts_with("f3:")), "{today}");
    let refused = evonas(&["hash", "--hash-version", "1"], Some(&text)).fails();
    assert!(
        refused.contains("version 1 cannot be computed"),
        "{refused}"
    );
    // And they describe themselves: ops, params, FLOPs.
    let shown = evonas(&["show"], Some(&text)).ok();
    assert!(shown.contains("params"), "{shown}");
}

/// Today's binary runs the v1 campaign again from its config, asked for the hash version it
/// ran under, and takes the same path: the same history digest, counts and best as version 1
/// recorded.
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
        )
        .replace("seed = 7\n", "seed = 7\nhash_version = 2\n");
    assert!(text.contains("hash_version = 2"));
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

fn lines_json(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(json).collect()
}

fn rehash(store: &str) -> serde_json::Value {
    json(&evonas(&["cache", "rehash", "--store", store, "--json"], None).ok())
}

/// `cache export` of `store`, as (key -> record).
fn exported(store: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    lines_json(&evonas(&["cache", "export", "--store", store], None).ok())
        .into_iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["record"].clone()))
        .collect()
}

/// The hash-v2 export carried to today's version in a store that holds no campaign: the
/// counts are what the library's own hashes say they must be, nothing is lost, and a second
/// run changes nothing.
#[test]
fn a_hash_v2_cache_export_rehashes_without_losing_a_record() {
    use evonas::hash::FunctionalHash;
    use evonas::space::AnySpace;
    let dir = tempdir();
    let store = dir.path().join("fresh");
    let store = store.to_str().unwrap();
    let file = hash_v2("cache.jsonl");
    evonas(
        &["cache", "import", file.to_str().unwrap(), "--store", store],
        None,
    )
    .ok();
    let before = exported(store);
    assert_eq!(before.len(), 514);
    // What must happen, from the library: a record moves iff its genotype at the built-in
    // space's own knobs reproduces its v2 key (the `small` campaign's records were measured at
    // channels = 4, cells = 1, which a store without that campaign cannot know); records
    // then group by (v3 hash, protocol).
    let nb201 = AnySpace::builtin("nb201").unwrap();
    let mut groups: std::collections::BTreeMap<(String, String), u64> = Default::default();
    let mut unrehashable = 0;
    for (key, record) in &before {
        let net = nb201
            .decode(&nb201.parse(record["genotype"].as_str().unwrap()).unwrap())
            .unwrap();
        let v2 = FunctionalHash::of_version(&net, 2).unwrap();
        let key_bytes = evonas::hex::decode(key).unwrap();
        let (key_hash, protocol) = (evonas::hex::encode(&key_bytes[5..37]), &key[74..]);
        if evonas::hex::encode(v2.digest().bytes()) == key_hash {
            *groups
                .entry((FunctionalHash::of(&net).to_string(), protocol.to_string()))
                .or_default() += 1;
        } else {
            unrehashable += 1;
        }
    }
    let merged: u64 = groups.values().filter(|&&n| n > 1).sum();
    let merged_into = groups.values().filter(|&&n| n > 1).count() as u64;
    let report = rehash(store);
    assert_eq!(report["version"], 3);
    assert_eq!(report["records_before"], 514);
    assert_eq!(
        report["moved"],
        groups.len() as u64 - merged_into,
        "{report}"
    );
    assert_eq!(report["merged"], merged, "{report}");
    assert_eq!(report["merged_into"], merged_into, "{report}");
    assert!(merged > 0, "the fixture holds functions version 3 merges");
    let listed = report["unrehashable"].as_array().unwrap();
    assert_eq!(listed.len() as u64, unrehashable);
    assert!(unrehashable > 0 && report["kept"].as_array().unwrap().is_empty());
    assert_eq!(
        report["records_after"],
        groups.len() as u64 + unrehashable,
        "{report}"
    );
    // Nothing lost: every evaluation is still there, unrehashable records unchanged under
    // their old keys, every merged record the weighted mean of its parts.
    assert_eq!(report["evaluations_before"], report["evaluations_after"]);
    let after = exported(store);
    let evaluations = |m: &std::collections::BTreeMap<String, serde_json::Value>| -> u64 {
        m.values().map(|r| r["evaluations"].as_u64().unwrap()).sum()
    };
    assert_eq!(evaluations(&after), evaluations(&before));
    assert_eq!(after.len() as u64, groups.len() as u64 + unrehashable);
    for u in listed {
        let key = u["key"].as_str().unwrap();
        assert_eq!(after.get(key), before.get(key), "{u}");
        assert!(u["reason"].as_str().unwrap().contains("knobs"), "{u}");
    }
    let fitness_sum = |m: &std::collections::BTreeMap<String, serde_json::Value>| -> f64 {
        m.values()
            .map(|r| r["fitness"].as_f64().unwrap() * r["evaluations"].as_f64().unwrap())
            .sum()
    };
    assert!((fitness_sum(&after) - fitness_sum(&before)).abs() < 1e-6);
    // Moved records say what they were decoded with (the next rehash needs no campaign).
    let v3: Vec<_> = after
        .values()
        .filter(|r| !before.values().any(|b| b == *r))
        .collect();
    assert!(v3.iter().all(|r| r.get("decoded_with").is_some()));
    // A second run is a no-op.
    let again = rehash(store);
    assert_eq!(
        (again["moved"].clone(), again["merged"].clone()),
        (0.into(), 0.into())
    );
    assert_eq!(
        again["unrehashable"].as_array().unwrap().len() as u64,
        unrehashable
    );
    assert_eq!(exported(store), after);
}

/// In a store that still holds the campaigns, every record finds its knobs; the records of the
/// interrupted version-2 campaign stay put, so it resumes to exactly the end the uninterrupted
/// run reached; once it has finished, a second rehash carries its records too.
#[test]
fn rehash_keeps_what_an_unfinished_older_campaign_reads_and_it_resumes_to_the_same_digest() {
    let dir = tempdir();
    let store = hash_v2_store_copy(&dir);
    let dry = json(
        &evonas(
            &["cache", "rehash", "--store", &store, "--json", "--dry-run"],
            None,
        )
        .ok(),
    );
    assert_eq!(exported(&store).len(), 514, "a dry run writes nothing");
    let report = rehash(&store);
    assert_eq!(report["dry_run"], false);
    for k in [
        "moved",
        "merged",
        "merged_into",
        "kept",
        "unrehashable",
        "records_after",
    ] {
        assert_eq!(dry[k], report[k], "{k}");
    }
    assert!(
        report["unrehashable"].as_array().unwrap().is_empty(),
        "{report}"
    );
    let kept = report["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{report}");
    assert_eq!(kept[0]["campaign"], "night");
    assert_eq!(kept[0]["version"], 2);
    let kept_records = kept[0]["records"].as_u64().unwrap();
    assert!(kept_records > 0);
    assert_eq!(
        report["moved"].as_u64().unwrap() + report["merged"].as_u64().unwrap() + kept_records,
        514
    );
    // The campaign resumes under version 2 and ends where the uninterrupted run ended.
    evonas(&["resume", "night", "--store", &store, "-q"], None).ok();
    let now = json(&evonas(&["status", "night", "--store", &store, "--json"], None).ok());
    let then = json(&std::fs::read_to_string(hash_v2("night.final.json")).unwrap());
    for k in [
        "history_digest",
        "proposals",
        "evaluations",
        "cache_hits",
        "best",
        "finish_reason",
    ] {
        assert_eq!(now[k], then[k], "{k}");
    }
    assert!(now["best"]["functional_hash"]
        .as_str()
        .unwrap()
        .starts_with("f2:"));
    // Finished now: its records move too, and nothing older than version 3 is left.
    let last = rehash(&store);
    assert!(last["kept"].as_array().unwrap().is_empty(), "{last}");
    assert!(last["moved"].as_u64().unwrap() >= kept_records, "{last}");
    let stats = json(&evonas(&["cache", "stats", "--store", &store, "--json"], None).ok());
    assert_eq!(stats["stale_hash_version"], 0, "{stats}");
}

/// `gc` never deletes what an unfinished campaign reads.
#[test]
fn gc_keeps_the_records_of_an_unfinished_older_campaign() {
    let dir = tempdir();
    let store = hash_v2_store_copy(&dir);
    let out = evonas(&["cache", "gc", "--store", &store], None).ok();
    assert!(out.contains("removed 302 stale entries"), "{out}");
    assert!(out.contains("kept 212"), "{out}");
    evonas(&["resume", "night", "--store", &store, "-q"], None).ok();
    let now = json(&evonas(&["status", "night", "--store", &store, "--json"], None).ok());
    let then = json(&std::fs::read_to_string(hash_v2("night.final.json")).unwrap());
    assert_eq!(now["history_digest"], then["history_digest"]);
}

/// `cache import` of an untrusted file: each entry is checked, what fails is skipped and said,
/// nothing already stored is replaced unless asked.
#[test]
fn importing_an_untrusted_cache_checks_each_entry() {
    let dir = tempdir();
    let store = dir.path().join("s");
    let store = store.to_str().unwrap();
    let text = std::fs::read_to_string(hash_v2("cache.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut tampered = json(lines[0]);
    // Says it was decoded at the space's own knobs, but its genotype is another network.
    tampered["record"]["decoded_with"] = serde_json::json!({});
    tampered["record"]["genotype"] =
        "|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|".into();
    let mut newer = json(lines[1]);
    newer["record"]["schema"] = 9.into();
    let file = crate::util::write(
        &dir,
        "untrusted.jsonl",
        &format!("{tampered}\n{newer}\n{}\n{}\n", lines[2], lines[2]),
    );
    let file = file.to_str().unwrap();
    let import = |file: &str, extra: &[&str]| {
        let mut args = vec!["cache", "import", file, "--store", store, "--json"];
        args.extend_from_slice(extra);
        json(&evonas(&args, None).ok())
    };
    let r = import(file, &[]);
    assert_eq!(
        (r["read"].clone(), r["imported"].clone()),
        (4.into(), 1.into()),
        "{r}"
    );
    let reasons: Vec<(u64, &str)> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["line"].as_u64().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 3, "{r}");
    assert!(
        reasons[0].0 == 1 && reasons[0].1.contains("does not hash to its key"),
        "{r}"
    );
    assert!(
        reasons[1].0 == 2 && reasons[1].1.contains("record schema 9"),
        "{r}"
    );
    assert!(
        reasons[2].0 == 4 && reasons[2].1.contains("earlier in the file"),
        "{r}"
    );
    // The whole export: the existing record is kept, the rest verified where this store can.
    let all = hash_v2("cache.jsonl");
    let r = import(all.to_str().unwrap(), &[]);
    assert_eq!(r["kept_existing"], 1, "{r}");
    assert_eq!(r["imported"], 513, "{r}");
    assert_eq!(r["older_version"], 513, "{r}");
    // Records of `small` (knobs 4/1, unknown here) cannot be checked; the others can.
    assert!(r["verified"].as_u64().unwrap() > 300, "{r}");
    assert_eq!(
        r["verified"].as_u64().unwrap() + r["unverified"].as_u64().unwrap(),
        513
    );
    let text_out = evonas(
        &["cache", "import", all.to_str().unwrap(), "--store", store],
        None,
    )
    .ok();
    assert!(
        text_out.contains("kept 514 records this store already had"),
        "{text_out}"
    );
    let replaced = import(all.to_str().unwrap(), &["--overwrite"]);
    assert_eq!(replaced["replaced"], 514, "{replaced}");
}
