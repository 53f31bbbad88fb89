//! The fuzz targets: one function per reader, each checking an invariant of what it accepts,
//! not only that it does not panic. Shared by the AFL++ binaries (`fuzz/src/bin/`) and by the
//! main crate's tests, which replay the committed corpus (`fuzz/corpus/<target>/`) on stable.
//!
//! A target returns whether the reader accepted the input (a rejection is the reader doing its
//! job) and panics when an invariant breaks; the fuzzer records a panic as a crash.

use std::path::Path;

use evonas::hash::{FunctionalHash, StructuralHash};
use evonas::ir::doc::NetworkDoc;
use evonas::ir::{cost, Network};
use evonas::space::{AnySpace, ArchDocument};

/// A target: the input's bytes in, whether the reader accepted them out.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by name (the binary and corpus folder names).
pub const TARGETS: &[(&str, Target)] = &[
    ("document", document),
    ("nb201_notation", nb201_notation),
    ("nb101_notation", nb101_notation),
    ("darts_notation", darts_notation),
    ("fbnet_notation", fbnet_notation),
    ("network", network),
    ("space_toml", space_toml),
    ("campaign_toml", campaign_toml),
    ("idx", idx),
    ("cifar", cifar),
    ("nb201_csv", nb201_csv),
    ("cache_import", cache_import),
];

/// Inputs past this size are skipped: the readers' own limits are tested by unit tests, and
/// the fuzzer's time is better spent on structure.
const MAX_LEN: usize = 1 << 16;

fn text(data: &[u8]) -> Option<&str> {
    if data.len() > MAX_LEN {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// An accepted network hashes (both hashes, the same twice), costs, and exports to a document
/// that reads back to a network with the same hashes and cost.
fn check_network(net: &Network) {
    let f = FunctionalHash::of(net);
    let s = StructuralHash::of(net);
    assert_eq!(
        f,
        FunctionalHash::of(net),
        "functional hash is deterministic"
    );
    let c = cost(net);
    let doc = NetworkDoc::from_network(net);
    let json = serde_json::to_string(&doc).expect("network documents serialise");
    let back: NetworkDoc = serde_json::from_str(&json).expect("an exported network reads back");
    let again = back.to_network().expect("an exported network is valid");
    assert_eq!(
        FunctionalHash::of(&again),
        f,
        "export round trip keeps the function"
    );
    assert_eq!(
        StructuralHash::of(&again),
        s,
        "export round trip keeps the structure"
    );
    assert_eq!(cost(&again), c, "export round trip keeps the cost");
}

/// A genotype in `space`'s one-line notation: if accepted, it prints back to text that parses
/// to the same genotype, and its network passes [`check_network`].
fn notation(space: &str, data: &[u8]) -> bool {
    let Some(text) = text(data) else { return false };
    let space = AnySpace::builtin(space).expect("built-in spaces load");
    let Ok(g) = space.parse(text) else {
        return false;
    };
    let printed = space.format(&g).expect("an accepted genotype prints");
    let again = space.parse(&printed).expect("a printed genotype parses");
    assert_eq!(again, g, "notation round trip: {printed}");
    if let Ok(net) = space.decode(&g) {
        check_network(&net);
    }
    true
}

/// NAS-Bench-201 arch strings.
pub fn nb201_notation(data: &[u8]) -> bool {
    notation("nb201", data)
}

/// NAS-Bench-101 `{"matrix": ..., "ops": ...}`.
pub fn nb101_notation(data: &[u8]) -> bool {
    notation("nb101", data)
}

/// DARTS / NASNet genotypes (JSON, DARTS' Python `Genotype(..)`, NASLib's compact form), in
/// the NASNet space and in the DARTS space (distinct inputs, 4 blocks).
pub fn darts_notation(data: &[u8]) -> bool {
    let nasnet = notation("nasnet", data);
    notation("darts", data) || nasnet
}

/// FBNet block lists.
pub fn fbnet_notation(data: &[u8]) -> bool {
    notation("fbnet", data)
}

/// Architecture documents: accepted ones print back to a document that reads to an equal
/// one, and their network passes [`check_network`].
pub fn document(data: &[u8]) -> bool {
    let Some(text) = text(data) else { return false };
    let Ok(doc) = ArchDocument::from_json(text) else {
        return false;
    };
    let again = ArchDocument::from_json(&doc.to_json_line()).expect("a printed document reads");
    assert_eq!(
        again.to_json_line(),
        doc.to_json_line(),
        "document round trip"
    );
    if let Ok(net) = doc.network() {
        check_network(&net);
    }
    true
}

/// A network in the IR's JSON form: accepted means valid, hashable, costable, exportable.
pub fn network(data: &[u8]) -> bool {
    let Some(text) = text(data) else { return false };
    let Ok(doc) = serde_json::from_str::<NetworkDoc>(text) else {
        return false;
    };
    if let Ok(net) = doc.to_network() {
        check_network(&net);
    }
    true
}

/// Space TOML files: an accepted space samples, and its samples print, parse back and decode
/// to networks that pass [`check_network`] (or are refused with an error, never a panic).
pub fn space_toml(data: &[u8]) -> bool {
    use rand::SeedableRng;
    let Some(text) = text(data) else { return false };
    let Ok(space) = AnySpace::from_toml(text, "fuzz.toml") else {
        return false;
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for _ in 0..2 {
        let g = space.sample(&mut rng);
        let Ok(printed) = space.format(&g) else {
            continue;
        };
        let again = space.parse(&printed).expect("a printed sample parses");
        assert_eq!(again, g, "sample round trip: {printed}");
        if let Ok(net) = space.decode(&g) {
            check_network(&net);
        }
    }
    true
}

/// Campaign TOML: an accepted config's canonical JSON reads back to the same config.
pub fn campaign_toml(data: &[u8]) -> bool {
    use evonas::search::CampaignConfig;
    let Some(text) = text(data) else { return false };
    let Ok(config) = CampaignConfig::parse(text, "fuzz.toml") else {
        return false;
    };
    let json = serde_json::to_value(&config).expect("configs serialise");
    let back: CampaignConfig = serde_json::from_value(json.clone()).expect("canonical reads back");
    assert_eq!(
        serde_json::to_value(&back).expect("configs serialise"),
        json,
        "config round trip"
    );
    true
}

/// IDX files: accepted data has exactly the size its dimensions claim.
pub fn idx(data: &[u8]) -> bool {
    if data.len() > MAX_LEN {
        return false;
    }
    let Ok(idx) = evonas::eval::data::idx::parse(data, Path::new("fuzz.idx")) else {
        return false;
    };
    let n: usize = idx.dims.iter().product();
    assert_eq!(idx.data.len(), n, "IDX data matches its dimensions");
    true
}

/// CIFAR-10 binary batches: accepted data is whole images with labels below 10.
pub fn cifar(data: &[u8]) -> bool {
    if data.len() > 1 << 20 {
        return false;
    }
    let Ok(set) = evonas::eval::data::cifar::parse(data, Path::new("fuzz.bin")) else {
        return false;
    };
    assert_eq!(set.pixels.len(), set.len() * set.image_len());
    assert!(set.labels.iter().all(|&l| usize::from(l) < set.classes));
    true
}

/// The two NB-201 table files, split at the first NUL byte: accepted rows are all finite.
pub fn nb201_csv(data: &[u8]) -> bool {
    let Some(text) = text(data) else { return false };
    let (valid, test) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(rows) = evonas::eval::table::parse_tables(
        valid,
        Path::new("valid.csv"),
        test,
        Path::new("test.csv"),
    ) else {
        return false;
    };
    for r in rows.values() {
        assert!(r.valid.is_finite() && r.epoch_seconds.is_finite() && r.test_c10.is_finite());
    }
    true
}

/// `cache import` files: accepted entries print back (as `cache export` writes them) to
/// lines that parse to the same entries.
pub fn cache_import(data: &[u8]) -> bool {
    use evonas::store::files::{cache_lines, parse_cache_lines};
    let Some(text) = text(data) else { return false };
    let Ok(entries) = parse_cache_lines(text, "fuzz.jsonl") else {
        return false;
    };
    let printed = cache_lines(&entries);
    let again = parse_cache_lines(&printed, "printed").expect("exported lines parse");
    assert_eq!(again, entries, "cache export round trip");
    true
}
