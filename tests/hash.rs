//! The functional and structural hashes: invariances, near misses, determinism, golden values.

use std::collections::HashMap;

use evonas::hash::{hash, FunctionalHash, StructuralHash};
use evonas::ir::{blocks, cost, Network, NetworkBuilder, Op, Shape};
use evonas::space::{AnyGenotype, AnySpace, ArchDocument, Knobs, BUILTIN};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::util::{evonas, tempdir, write};

fn f_of(space: &AnySpace, text: &str) -> FunctionalHash {
    FunctionalHash::of(&space.decode(&space.parse(text).unwrap()).unwrap())
}

/// A random topological relabelling of an NB-101 cell's interior vertices, in its notation.
fn relabel_nb101(notation: &serde_json::Value, rng: &mut ChaCha8Rng) -> serde_json::Value {
    let matrix: Vec<Vec<u8>> = serde_json::from_value(notation["matrix"].clone()).unwrap();
    let ops: Vec<String> = serde_json::from_value(notation["ops"].clone()).unwrap();
    let v = matrix.len();
    // Random topological order of 1..v-1 (input stays first, output last).
    let mut placed = vec![false; v];
    placed[0] = true;
    let mut order = vec![0];
    while order.len() < v - 1 {
        let ready: Vec<usize> = (1..v - 1)
            .filter(|&i| !placed[i] && (0..v).all(|j| matrix[j][i] == 0 || placed[j]))
            .collect();
        let &next = ready.choose(rng).unwrap();
        placed[next] = true;
        order.push(next);
    }
    order.push(v - 1);
    let mut new_matrix = vec![vec![0u8; v]; v];
    for (a, &i) in order.iter().enumerate() {
        for (b, &j) in order.iter().enumerate() {
            new_matrix[a][b] = matrix[i][j];
        }
    }
    let new_ops: Vec<String> = order.iter().map(|&i| ops[i].clone()).collect();
    serde_json::json!({"matrix": new_matrix, "ops": new_ops})
}

#[test]
fn nb101_relabellings_hash_equal() {
    let space = AnySpace::builtin("nb101").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(101);
    let mut changed = 0;
    for _ in 0..150 {
        let g = space.sample(&mut rng);
        let notation = space.to_value(&g).unwrap();
        let base = hash(&space.decode(&g).unwrap());
        for _ in 0..4 {
            let other = relabel_nb101(&notation, &mut rng);
            changed += usize::from(other != notation);
            let h = space.parse_value(&other).unwrap();
            assert_eq!(
                hash(&space.decode(&h).unwrap()),
                base,
                "{notation} vs {other}"
            );
        }
    }
    assert!(changed > 300, "the relabellings really relabel: {changed}");
}

/// NASNet genotype with its blocks permuted (respecting which block reads which) and each
/// block's two operands swapped.
fn permute_nasnet(v: &serde_json::Value, rng: &mut ChaCha8Rng) -> serde_json::Value {
    let mut out = v.clone();
    for cell in ["normal", "reduce"] {
        let pairs: Vec<(String, u32)> = serde_json::from_value(v[cell].clone()).unwrap();
        let blocks = pairs.len() / 2;
        let reads = |b: usize| [pairs[2 * b].1, pairs[2 * b + 1].1];
        // Random topological order of the blocks.
        let mut placed = vec![false; blocks];
        let mut order = Vec::new();
        while order.len() < blocks {
            let ready: Vec<usize> = (0..blocks)
                .filter(|&b| {
                    !placed[b] && reads(b).iter().all(|&s| s < 2 || placed[s as usize - 2])
                })
                .collect();
            let &next = ready.choose(rng).unwrap();
            placed[next] = true;
            order.push(next);
        }
        let mut new_pos = vec![0u32; blocks];
        for (pos, &b) in order.iter().enumerate() {
            new_pos[b] = pos as u32;
        }
        let map = |s: u32| {
            if s < 2 {
                s
            } else {
                2 + new_pos[s as usize - 2]
            }
        };
        let mut new_pairs = Vec::new();
        for &b in &order {
            let (mut p, mut q) = (pairs[2 * b].clone(), pairs[2 * b + 1].clone());
            p.1 = map(p.1);
            q.1 = map(q.1);
            if rng.random_bool(0.5) {
                std::mem::swap(&mut p, &mut q);
            }
            new_pairs.push(p);
            new_pairs.push(q);
        }
        out[cell] = serde_json::to_value(new_pairs).unwrap();
        out.as_object_mut()
            .unwrap()
            .remove(&format!("{cell}_concat"));
    }
    out
}

#[test]
fn nasnet_permuted_blocks_and_swapped_operands_hash_equal() {
    let space = AnySpace::builtin("nasnet").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut changed = 0;
    for _ in 0..60 {
        let g = space.sample(&mut rng);
        let v = space.to_value(&g).unwrap();
        let base = hash(&space.decode(&g).unwrap()).0;
        for _ in 0..3 {
            let p = permute_nasnet(&v, &mut rng);
            let h = space.parse_value(&p).unwrap();
            changed += usize::from(h != g);
            assert_eq!(
                FunctionalHash::of(&space.decode(&h).unwrap()),
                base,
                "{v} vs {p}"
            );
        }
    }
    assert!(changed > 150, "{changed}");
}

#[test]
fn fbnet_skips_moved_inside_a_stage_hash_equal() {
    let space = AnySpace::builtin("fbnet").unwrap();
    let AnySpace::FbNet(fb) = &space else {
        panic!("fbnet family")
    };
    let stages = fb.layer_stages();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut moved = 0;
    for _ in 0..100 {
        let g = space.sample(&mut rng);
        let mut names: Vec<String> = serde_json::from_value(space.to_value(&g).unwrap()).unwrap();
        let base = hash(&space.decode(&g).unwrap()).0;
        // Move a skip among the non-first layers of its stage (those keep the shape).
        let candidates: Vec<usize> = (0..names.len())
            .filter(|&l| names[l] == "skip" && !stages[l].1)
            .collect();
        let Some(&from) = candidates.choose(&mut rng) else {
            continue;
        };
        let stage = stages[from].0;
        let same: Vec<usize> = (0..names.len())
            .filter(|&l| stages[l].0 == stage && !stages[l].1)
            .collect();
        let &to = same.choose(&mut rng).unwrap();
        let skip = names.remove(from);
        names.insert(to, skip);
        let h = space
            .parse_value(&serde_json::to_value(&names).unwrap())
            .unwrap();
        moved += usize::from(h != g);
        assert_eq!(FunctionalHash::of(&space.decode(&h).unwrap()), base);
    }
    assert!(moved > 20, "{moved}");
}

#[test]
fn near_misses_hash_differently() {
    let nb201 = AnySpace::builtin("nb201").unwrap();
    let pairs = [
        // conv3x3 vs conv1x1 on one edge.
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        ),
        // Same ops, different wiring: conv1x1(conv3x3(x)) vs conv3x3(conv1x1(x)).
        (
            "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|",
            "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
        ),
        // Same ops, different wiring: a chain versus two parallel branches.
        (
            "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|",
        ),
        // Two independent convolutions versus one convolution used twice (NAS-Bench-201's own
        // canonical form calls these equal; they differ in parameter count).
        (
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
            "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|skip_connect~2|",
        ),
        // x + x is not x.
        (
            "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
            "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        ),
        // avg pool vs identity.
        (
            "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
            "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        ),
    ];
    for (a, b) in pairs {
        assert_ne!(f_of(&nb201, a), f_of(&nb201, b), "{a} vs {b}");
    }
    let nb101 = AnySpace::builtin("nb101").unwrap();
    let cell = |ops: [&str; 2]| {
        serde_json::json!({"matrix": [[0,1,1,0],[0,0,0,1],[0,0,0,1],[0,0,0,0]],
            "ops": ["input", ops[0], ops[1], "output"]})
        .to_string()
    };
    let maxpool = f_of(&nb101, &cell(["conv3x3-bn-relu", "maxpool3x3"]));
    let conv1 = f_of(&nb101, &cell(["conv3x3-bn-relu", "conv1x1-bn-relu"]));
    let conv3 = f_of(&nb101, &cell(["conv3x3-bn-relu", "conv3x3-bn-relu"]));
    assert!(maxpool != conv1 && conv1 != conv3 && maxpool != conv3);
    let chain = serde_json::json!({"matrix": [[0,1,0,0],[0,0,1,0],[0,0,0,1],[0,0,0,0]],
        "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]})
    .to_string();
    assert_ne!(f_of(&nb101, &chain), maxpool, "same ops, different wiring");
    // NASNet: max pool vs avg pool in one pair.
    let nasnet = AnySpace::builtin("nasnet").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let g = nasnet.sample(&mut rng);
    let text = nasnet.format(&g).unwrap();
    let swapped = if text.contains("max_pool_3x3") {
        text.replacen("max_pool_3x3", "avg_pool_3x3", 1)
    } else {
        text.replacen("avg_pool_3x3", "max_pool_3x3", 1)
    };
    let v: serde_json::Value = serde_json::from_str(&swapped).unwrap();
    let mut v = v;
    v.as_object_mut().unwrap().remove("normal_concat");
    v.as_object_mut().unwrap().remove("reduce_concat");
    assert_ne!(f_of(&nasnet, &text), f_of(&nasnet, &v.to_string()));
}

fn conv_bn(b: &mut NetworkBuilder, x: evonas::ir::NodeId, label: &str) -> evonas::ir::NodeId {
    let g = blocks::ConvGeometry::same(3, 1);
    let c = blocks::conv(b, x, 4, g, 1, label).unwrap();
    blocks::bn(b, c, label).unwrap()
}

fn pooled(distribute: bool) -> Network {
    let mut b = NetworkBuilder::new();
    let x = b.input(Shape::new(4, 8, 8), "in").unwrap();
    let a = conv_bn(&mut b, x, "a");
    let c = conv_bn(&mut b, x, "b");
    let pool = Op::AvgPool {
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let out = if distribute {
        let pa = b.add(pool, &[a], "pa").unwrap();
        let pc = b.add(pool, &[c], "pc").unwrap();
        b.add(Op::Add, &[pc, pa], "sum").unwrap()
    } else {
        let s = b.add(Op::Add, &[a, c], "sum").unwrap();
        b.add(pool, &[s], "p").unwrap()
    };
    b.finish(out).unwrap()
}

#[test]
fn linear_ops_distribute_over_sums_but_weighted_ones_do_not() {
    assert_eq!(
        FunctionalHash::of(&pooled(true)),
        FunctionalHash::of(&pooled(false))
    );
    assert_ne!(
        StructuralHash::of(&pooled(true)),
        StructuralHash::of(&pooled(false))
    );
    // relu(a + b) is not relu(a) + relu(b).
    let relu = |distribute: bool| {
        let mut b = NetworkBuilder::new();
        let x = b.input(Shape::new(4, 8, 8), "in").unwrap();
        let a = conv_bn(&mut b, x, "a");
        let c = conv_bn(&mut b, x, "b");
        let out = if distribute {
            let ra = b.add(Op::Relu, &[a], "ra").unwrap();
            let rc = b.add(Op::Relu, &[c], "rc").unwrap();
            b.add(Op::Add, &[ra, rc], "sum").unwrap()
        } else {
            let s = b.add(Op::Add, &[a, c], "sum").unwrap();
            b.add(Op::Relu, &[s], "r").unwrap()
        };
        b.finish(out).unwrap()
    };
    assert_ne!(
        FunctionalHash::of(&relu(true)),
        FunctionalHash::of(&relu(false))
    );
}

#[test]
fn one_cell_in_three_notations_hashes_equal() {
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    let nb201 = AnySpace::builtin("nb201").unwrap();
    let native = f_of(&nb201, arch);
    // A custom space file: another name, the ops listed in another order.
    let dir = tempdir();
    let text = BUILTIN.iter().find(|(n, _)| *n == "nb201").unwrap().1;
    let (head, skeleton) = text.split_once("[skeleton]").unwrap();
    let (preamble, ops) = head.split_once("[[ops]]").unwrap();
    let mut op_blocks: Vec<&str> = ops.split("[[ops]]").collect();
    op_blocks.reverse();
    let custom = format!(
        "{}[[ops]]{}[skeleton]{}",
        preamble.replace("name = \"nb201\"", "name = \"my-cells\""),
        op_blocks.join("\n[[ops]]"),
        skeleton
    );
    let path = write(&dir, "my-cells.toml", &custom);
    let custom_space = AnySpace::load(path.to_str().unwrap()).unwrap();
    assert_eq!(custom_space.name(), "my-cells");
    assert_eq!(f_of(&custom_space, arch), native);
    // The IR document alone, with labels stripped and nodes given in reverse order.
    let doc = ArchDocument::new(&nb201, Knobs::default(), &nb201.parse(arch).unwrap()).unwrap();
    let mut v = serde_json::to_value(&doc).unwrap();
    v["space"] = "nowhere".into();
    let nodes = v["network"]["nodes"].as_array_mut().unwrap();
    for n in nodes.iter_mut() {
        n.as_object_mut().unwrap().remove("label");
        n.as_object_mut().unwrap().remove("shape");
    }
    nodes.reverse();
    let out = evonas(&["hash"], Some(&v.to_string())).ok();
    assert!(out.starts_with(&native.to_string()), "{out}");
    // And the CLI agrees on the native notation.
    let out = evonas(&["hash", "--space", "nb201"], Some(arch)).ok();
    assert!(out.starts_with(&native.to_string()), "{out}");
}

#[test]
fn hash_cli_prints_one_line_per_input_in_order() {
    let archs = evonas(
        &["sample", "--space", "nasnet", "-n", "5", "--seed", "2"],
        None,
    )
    .ok();
    let out = evonas(&["hash"], Some(&archs)).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5);
    for (line, input) in lines.iter().zip(archs.lines()) {
        let cols: Vec<&str> = line.splitn(3, '\t').collect();
        assert!(FunctionalHash::parse(cols[0]).is_some(), "{line}");
        assert!(StructuralHash::parse(cols[1]).is_some(), "{line}");
        assert_eq!(cols[2], input);
    }
    let err = evonas(&["hash", "--space", "nb201"], Some("|bogus~0|")).fails();
    assert!(err.contains("architecture 1"), "{err}");
}

#[test]
fn hashes_do_not_depend_on_threads() {
    let space = AnySpace::builtin("nasnet").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let nets: Vec<Network> = (0..64)
        .map(|_| space.decode(&space.sample(&mut rng)).unwrap())
        .collect();
    let sequential: Vec<_> = nets.iter().map(hash).collect();
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let parallel: Vec<_> = pool.install(|| {
            use rayon::prelude::*;
            nets.par_iter().map(hash).collect()
        });
        assert_eq!(parallel, sequential);
    }
}

/// NAS-Bench-201's `to_unique_str(consider_zero=True)`: its canonical form of a cell.
fn nb201_unique(ops: &[&str]) -> String {
    let mut nodes = vec!["0".to_string()];
    let mut e = 0;
    for _j in 1..4 {
        let mut cur = Vec::new();
        for node in nodes.iter() {
            let op = ops[e];
            e += 1;
            cur.push(if op == "none" || node == "#" {
                "#".to_string()
            } else if op == "skip_connect" {
                node.clone()
            } else {
                format!("({node})@{op}")
            });
        }
        cur.sort();
        nodes.push(cur.join("+"));
    }
    nodes[3].clone()
}

#[test]
fn nb201_classes_refine_and_coarsen_nas_bench_201_form_only_where_justified() {
    let space = AnySpace::builtin("nb201").unwrap();
    let all: Vec<AnyGenotype> = space.enumerate().unwrap().collect();
    let mut by_unique: HashMap<String, Vec<(FunctionalHash, u64)>> = HashMap::new();
    let mut functional = std::collections::HashSet::new();
    for g in &all {
        let text = space.format(g).unwrap();
        let ops: Vec<&str> = text
            .split(['|', '+'])
            .filter(|s| !s.is_empty())
            .map(|e| e.split('~').next().unwrap())
            .collect();
        let net = space.decode(g).unwrap();
        let f = FunctionalHash::of(&net);
        functional.insert(f);
        by_unique
            .entry(nb201_unique(&ops))
            .or_default()
            .push((f, cost(&net).params));
    }
    assert_eq!(
        by_unique.len(),
        6466,
        "NAS-Bench-201's form gives its published count"
    );
    assert_eq!(functional.len(), 4954);
    // Where the functional hash splits one of NAS-Bench-201's classes, the parts differ in
    // parameter count: they are different networks (a convolution used twice versus two
    // convolutions), so the split is right.
    let mut split = 0;
    for members in by_unique.values() {
        let mut params_of: HashMap<FunctionalHash, std::collections::BTreeSet<u64>> =
            HashMap::new();
        for (f, p) in members {
            params_of.entry(*f).or_default().insert(*p);
        }
        if params_of.len() > 1 {
            split += 1;
            let sets: Vec<_> = params_of.values().collect();
            for (i, a) in sets.iter().enumerate() {
                for b in &sets[i + 1..] {
                    assert!(
                        a.is_disjoint(b),
                        "split parts share a parameter count: {members:?}"
                    );
                }
            }
        }
    }
    assert_eq!(split, 430);
    // Coarser: functional classes that join several of NAS-Bench-201's classes (792 under
    // hash version 2 as well).
    let mut forms_of: HashMap<FunctionalHash, std::collections::HashSet<&String>> = HashMap::new();
    for (form, members) in &by_unique {
        for (f, _) in members {
            forms_of.entry(*f).or_default().insert(form);
        }
    }
    let coarser = forms_of.values().filter(|forms| forms.len() > 1).count();
    assert_eq!(coarser, 792);
}

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/hashes.tsv");
/// Written by version 2 (commit 89e1d2a); kept so older versions stay computable exactly.
const GOLDEN_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/hashes_v2.tsv");

/// The golden genotypes: a fixed sample of every built-in space.
fn golden_genotypes() -> Vec<(&'static str, AnySpace, AnyGenotype)> {
    let mut rows = Vec::new();
    for (name, seeds) in [
        ("nb201", 8),
        ("nb101", 8),
        ("nasnet", 8),
        ("fbnet", 6),
        ("fbnet-imagenet", 2),
        ("darts", 3),
    ] {
        let space = AnySpace::builtin(name).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        for _ in 0..seeds {
            let g = space.sample(&mut rng);
            rows.push((name, space.clone(), g));
        }
    }
    rows
}

/// `space  functional  structural  genotype` lines, the functional hash of `version`.
fn golden_text(version: u32) -> String {
    golden_genotypes()
        .into_iter()
        .map(|(name, space, g)| {
            let net = space.decode(&g).unwrap();
            let f = FunctionalHash::of_version(&net, version).unwrap();
            let s = StructuralHash::of(&net);
            format!("{name}\t{f}\t{s}\t{}\n", space.format(&g).unwrap())
        })
        .collect()
}

fn assert_golden(text: &str, path: &str) {
    let expected = std::fs::read_to_string(path).expect("the golden file exists");
    assert!(expected.lines().count() >= 30);
    for (want, got) in expected.lines().zip(text.lines()) {
        assert_eq!(got, want, "hash changed: bump the algorithm version");
    }
    assert_eq!(expected.lines().count(), text.lines().count());
}

/// Any change to these values must bump `hash::functional::VERSION` or
/// `hash::structural::VERSION`, or stored caches would serve results for the wrong networks.
/// Regenerate with `EVONAS_BLESS=1 cargo test golden` after bumping.
#[test]
fn golden_hashes_are_stable() {
    let text = golden_text(evonas::hash::functional::VERSION);
    if std::env::var("EVONAS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(GOLDEN, &text).unwrap();
    }
    assert_golden(&text, GOLDEN);
    // The golden genotypes also parse back to the same hashes (notation is stable too).
    let expected = std::fs::read_to_string(GOLDEN).unwrap();
    for line in expected.lines() {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        let space = AnySpace::builtin(cols[0]).unwrap();
        let (f, s) = hash(&space.decode(&space.parse(cols[3]).unwrap()).unwrap());
        assert_eq!(
            (f.to_string(), s.to_string()),
            (cols[1].to_string(), cols[2].to_string())
        );
    }
}

/// Version 2 is still computed bit for bit as version 2 computed it (campaigns started under it
/// resume with it; `cache rehash` checks version-2 keys with it).
#[test]
fn version_2_hashes_are_still_computed_exactly() {
    // The file pins the spaces that existed when version 2 was current (`darts` came later).
    let text: String = golden_text(2)
        .lines()
        .filter(|l| !l.starts_with("darts\t"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_golden(&text, GOLDEN_V2);
    // Versions this build does not compute are refused, not guessed.
    let net = AnySpace::builtin("nb201")
        .unwrap()
        .decode(
            &AnySpace::builtin("nb201")
                .unwrap()
                .sample(&mut ChaCha8Rng::seed_from_u64(1)),
        )
        .unwrap();
    for version in [0, 1, evonas::hash::functional::VERSION + 1] {
        let err = FunctionalHash::of_version(&net, version).unwrap_err();
        assert!(
            err.to_string().contains(&format!("version {version}")),
            "{err}"
        );
    }
}

/// Rule 8 (hash version 3): a positive scale `k` of a value vanishes where batch normalisation
/// divides it away, and stays wherever something sees it (a bias, an identity path to the
/// output, a sum or concatenation with unscaled parts). Networks over `a` and `b`, two
/// independent conv-BN branches of one input.
mod scale {
    use super::*;
    use evonas::ir::{Conv, NodeId};

    /// A network on a 4x8x8 input; `build` gets the input and returns the result.
    fn net(build: impl Fn(&mut NetworkBuilder, NodeId) -> NodeId) -> Network {
        let mut b = NetworkBuilder::new();
        let x = b.input(Shape::new(4, 8, 8), "in").unwrap();
        let out = build(&mut b, x);
        b.finish(out).unwrap()
    }

    /// Branch `a`: a 3x3 conv-BN of the input.
    fn branch_a(b: &mut NetworkBuilder, x: NodeId) -> NodeId {
        conv_bn(b, x, "a")
    }

    /// Branch `b`: a 1x1 conv-BN of the input (not interchangeable with `a`).
    fn branch_b(b: &mut NetworkBuilder, x: NodeId) -> NodeId {
        let c = blocks::conv(b, x, 4, blocks::ConvGeometry::same(1, 1), 1, "b").unwrap();
        blocks::bn(b, c, "b").unwrap()
    }

    /// `k · x`, written as a sum of k identity paths (how NB-201 and NASNet cells make it).
    fn times(b: &mut NetworkBuilder, k: usize, x: NodeId) -> NodeId {
        let paths: Vec<NodeId> = (0..k)
            .map(|_| b.add(Op::Identity, &[x], "id").unwrap())
            .collect();
        if k == 1 {
            return paths[0];
        }
        b.add(Op::Add, &paths, "sum").unwrap()
    }

    fn conv(bias: bool) -> Op {
        Op::Conv(Conv {
            out_channels: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
            bias,
        })
    }

    /// Positively homogeneous maps: `h(k·x) = k·h(x)` with the same weights.
    fn homogeneous() -> Vec<(&'static str, Vec<Op>)> {
        let pool = |avg: bool| {
            if avg {
                Op::AvgPool {
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                }
            } else {
                Op::MaxPool {
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                }
            }
        };
        vec![
            (
                "relu-conv (NB-201's ReLU-Conv-BN)",
                vec![Op::Relu, conv(false)],
            ),
            ("conv", vec![conv(false)]),
            (
                "depthwise conv",
                vec![Op::Conv(Conv {
                    groups: 4,
                    ..match conv(false) {
                        Op::Conv(c) => c,
                        _ => unreachable!(),
                    }
                })],
            ),
            ("max pool", vec![pool(false)]),
            ("avg pool then relu", vec![pool(true), Op::Relu]),
            ("crop", vec![Op::Crop { rows: 1, cols: 1 }]),
            ("nothing", vec![]),
        ]
    }

    fn chain(b: &mut NetworkBuilder, ops: &[Op], mut x: NodeId) -> NodeId {
        for op in ops {
            x = b.add(*op, &[x], "op").unwrap();
        }
        x
    }

    fn f(n: &Network) -> FunctionalHash {
        FunctionalHash::of(n)
    }

    fn f2(n: &Network) -> FunctionalHash {
        FunctionalHash::of_version(n, 2).unwrap()
    }

    #[test]
    fn normalisation_removes_a_positive_scale_behind_homogeneous_maps() {
        for (name, ops) in homogeneous() {
            // bn(h(k·a)) for k = 1, 2, 3: one function.
            let normalised = |k: usize| {
                net(|b, x| {
                    let a = branch_a(b, x);
                    let s = times(b, k, a);
                    let h = chain(b, &ops, s);
                    b.add(Op::BatchNorm { affine: true }, &[h], "bn").unwrap()
                })
            };
            assert_eq!(f(&normalised(2)), f(&normalised(1)), "{name}");
            assert_eq!(f(&normalised(3)), f(&normalised(1)), "{name}");
            // Version 2 kept them apart (that is what version 3 changed).
            assert_ne!(f2(&normalised(2)), f2(&normalised(1)), "{name}");
            // Without the normalisation the scale reaches the output: different functions.
            let bare = |k: usize| {
                net(|b, x| {
                    let a = branch_a(b, x);
                    let s = times(b, k, a);
                    chain(b, &ops, s)
                })
            };
            assert_ne!(f(&bare(2)), f(&bare(1)), "{name}");
            // An identity path from the scaled value keeps the scale visible beside the
            // normalised branch: bn(h(2a)) + 2a is not bn(h(a)) + a.
            let with_path = |k: usize| {
                net(|b, x| {
                    let a = branch_a(b, x);
                    let s = times(b, k, a);
                    let h = chain(b, &ops, s);
                    let n = b.add(Op::BatchNorm { affine: true }, &[h], "bn").unwrap();
                    // (Cropped like the branch where the branch crops: crop is homogeneous.)
                    let p = if b.shape(n) == b.shape(s) {
                        s
                    } else {
                        b.add(Op::Crop { rows: 1, cols: 1 }, &[s], "crop").unwrap()
                    };
                    b.add(Op::Add, &[n, p], "out").unwrap()
                })
            };
            assert_ne!(f(&with_path(2)), f(&with_path(1)), "{name}");
        }
    }

    #[test]
    fn a_bias_sees_the_scale() {
        // relu(conv_with_bias(2a)) = relu(2·conv(a) + bias): not relu(conv_with_bias(a)).
        let biased = |k: usize, bias: bool| {
            net(|b, x| {
                let a = branch_a(b, x);
                let s = times(b, k, a);
                let c = b.add(conv(bias), &[s], "conv").unwrap();
                b.add(Op::Relu, &[c], "relu").unwrap()
            })
        };
        assert_ne!(f(&biased(2, true)), f(&biased(1, true)));
        assert_ne!(f(&biased(2, false)), f(&biased(1, false)));
        // A linear layer with bias sees it too; without bias, a batch norm after it removes it.
        let linear = |k: usize, bias: bool, bn: bool| {
            net(|b, x| {
                let a = branch_a(b, x);
                let s = times(b, k, a);
                let g = b.add(Op::GlobalAvgPool, &[s], "gap").unwrap();
                let l = b
                    .add(
                        Op::Linear {
                            out_features: 3,
                            bias,
                        },
                        &[g],
                        "fc",
                    )
                    .unwrap();
                if bn {
                    b.add(Op::BatchNorm { affine: false }, &[l], "bn").unwrap()
                } else {
                    l
                }
            })
        };
        assert_ne!(f(&linear(2, true, false)), f(&linear(1, true, false)));
        assert_eq!(f(&linear(2, false, true)), f(&linear(1, false, true)));
    }

    #[test]
    fn only_a_common_scale_of_a_sum_or_concatenation_vanishes() {
        let normalised_sum = |ka: usize, kb: usize| {
            net(|b, x| {
                let (a, c) = (branch_a(b, x), branch_b(b, x));
                let sa = times(b, ka, a);
                let sc = times(b, kb, c);
                let s = b.add(Op::Add, &[sa, sc], "s").unwrap();
                let r = b.add(Op::Relu, &[s], "relu").unwrap();
                let h = b.add(conv(false), &[r], "conv").unwrap();
                b.add(Op::BatchNorm { affine: true }, &[h], "bn").unwrap()
            })
        };
        // bn(conv(relu(2a + 2b))) = bn(conv(relu(a + b))); 4a + 2b = 2(2a + b).
        assert_eq!(f(&normalised_sum(2, 2)), f(&normalised_sum(1, 1)));
        assert_eq!(f(&normalised_sum(3, 3)), f(&normalised_sum(1, 1)));
        assert_eq!(f(&normalised_sum(4, 2)), f(&normalised_sum(2, 1)));
        // 2a + b is another function than a + b, and than a + 2b.
        assert_ne!(f(&normalised_sum(2, 1)), f(&normalised_sum(1, 1)));
        assert_ne!(f(&normalised_sum(2, 1)), f(&normalised_sum(1, 2)));
        // The same for a concatenation mixed by a full convolution.
        let normalised_concat = |ka: usize, kb: usize| {
            net(|b, x| {
                let (a, c) = (branch_a(b, x), branch_b(b, x));
                let sa = times(b, ka, a);
                let sc = times(b, kb, c);
                let s = b.add(Op::Concat, &[sa, sc], "cat").unwrap();
                let h = b.add(conv(false), &[s], "conv").unwrap();
                b.add(Op::BatchNorm { affine: true }, &[h], "bn").unwrap()
            })
        };
        assert_eq!(f(&normalised_concat(2, 2)), f(&normalised_concat(1, 1)));
        assert_ne!(f(&normalised_concat(2, 1)), f(&normalised_concat(1, 1)));
    }

    #[test]
    fn coefficients_past_64_bits_stay_exact() {
        // A chain of 100 doublings: 2^100 · a. Past u64 the product is kept as nested terms, so
        // 100 and 101 doublings still differ, and the probe stays linear in the network size.
        let doublings = |n: usize| {
            net(|b, x| {
                let a = branch_a(b, x);
                let mut x = a;
                for _ in 0..n {
                    x = b.add(Op::Add, &[x, x], "double").unwrap();
                }
                x
            })
        };
        assert_ne!(f(&doublings(100)), f(&doublings(101)));
        assert_eq!(f(&doublings(100)), f(&doublings(100)));
        // Version 2 wrote coefficients as repeated operands: it refuses instead of hanging.
        assert!(FunctionalHash::of_version(&doublings(100), 2).is_err());
    }

    #[test]
    fn nb201_two_skip_paths_into_relu_conv_bn_equal_one() {
        let nb201 = AnySpace::builtin("nb201").unwrap();
        // node2 = x + x feeds only a ReLU-Conv-BN edge: the same as node2 = x, and as the
        // convolution on x directly.
        let doubled =
            "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|";
        let single = "|skip_connect~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|";
        let direct = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|";
        assert_eq!(f_of(&nb201, doubled), f_of(&nb201, single));
        assert_eq!(f_of(&nb201, doubled), f_of(&nb201, direct));
        // ... but an identity path from node2 to the cell output carries the 2: conv(x) + 2x
        // is not conv(x) + x.
        let doubled_path =
            "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|nor_conv_3x3~0|none~1|skip_connect~2|";
        let single_path =
            "|skip_connect~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|";
        assert_ne!(f_of(&nb201, doubled_path), f_of(&nb201, single_path));
    }

    #[test]
    fn nb101_two_equal_pools_into_a_convolution_equal_one() {
        let nb101 = AnySpace::builtin("nb101").unwrap();
        let cell = |matrix: serde_json::Value, ops: &[&str]| {
            serde_json::json!({"matrix": matrix, "ops": ops}).to_string()
        };
        // conv -> two max pools of it (one value) -> conv-bn-relu: mp + mp = 2·mp, which the
        // batch norm removes; the same as one pool.
        let two = cell(
            serde_json::json!([
                [0, 1, 0, 0, 0, 0],
                [0, 0, 1, 1, 0, 0],
                [0, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0]
            ]),
            &[
                "input",
                "conv3x3-bn-relu",
                "maxpool3x3",
                "maxpool3x3",
                "conv3x3-bn-relu",
                "output",
            ],
        );
        let one = cell(
            serde_json::json!([
                [0, 1, 0, 0, 0],
                [0, 0, 1, 0, 0],
                [0, 0, 0, 1, 0],
                [0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0]
            ]),
            &[
                "input",
                "conv3x3-bn-relu",
                "maxpool3x3",
                "conv3x3-bn-relu",
                "output",
            ],
        );
        assert_eq!(f_of(&nb101, &two), f_of(&nb101, &one));
        // With a max pool in place of the last convolution nothing normalises the 2 before the
        // cell output, and the last cell's output reaches the classifier (with bias).
        let two_pooled = two.replacen(
            "\"conv3x3-bn-relu\",\"output\"",
            "\"maxpool3x3\",\"output\"",
            1,
        );
        let one_pooled = one.replacen(
            "\"conv3x3-bn-relu\",\"output\"",
            "\"maxpool3x3\",\"output\"",
            1,
        );
        assert_ne!(two_pooled, two);
        assert_ne!(f_of(&nb101, &two_pooled), f_of(&nb101, &one_pooled));
    }

    fn nasnet(block3: [(&str, u32); 2]) -> String {
        let blocks = |b3: [(&str, u32); 2]| {
            serde_json::json!([
                ["skip_connect", 0],
                ["skip_connect", 0],
                [b3[0].0, b3[0].1],
                [b3[1].0, b3[1].1],
                ["sep_conv_3x3", 0],
                ["sep_conv_3x3", 1],
                ["max_pool_3x3", 1],
                ["avg_pool_3x3", 0],
                ["sep_conv_5x5", 1],
                ["skip_connect", 1]
            ])
        };
        serde_json::json!({"normal": blocks(block3), "reduce": blocks([("sep_conv_3x3", 2), ("sep_conv_5x5", 2)])})
            .to_string()
    }

    #[test]
    fn nasnet_two_equal_inputs_summed_into_separable_convolutions() {
        let space = AnySpace::builtin("nasnet").unwrap();
        // Block 2 = h0 + h0 = 2·h0, used only by separable convolutions (ReLU first, batch norm
        // inside): sep(2·h0) = sep(h0).
        let a = nasnet([("sep_conv_3x3", 2), ("sep_conv_5x5", 2)]);
        let b = nasnet([("sep_conv_3x3", 2), ("sep_conv_5x5", 0)]);
        assert_eq!(f_of(&space, &a), f_of(&space, &b));
        assert_ne!(
            FunctionalHash::of_version(&space.decode(&space.parse(&a).unwrap()).unwrap(), 2)
                .unwrap(),
            FunctionalHash::of_version(&space.decode(&space.parse(&b).unwrap()).unwrap(), 2)
                .unwrap()
        );
        // An identity from block 2 keeps the 2 beside a normalised branch.
        let c = nasnet([("skip_connect", 2), ("sep_conv_5x5", 2)]);
        let d = nasnet([("skip_connect", 0), ("sep_conv_5x5", 2)]);
        assert_ne!(f_of(&space, &c), f_of(&space, &d));
    }

    #[test]
    fn fbnet_has_no_scaled_sums_so_its_classes_are_unchanged() {
        // FBNet's only sums are MBConv residuals x + F(x), F ending in batch norm, after a
        // conv-BN stem: every term has scale 1, so versions 2 and 3 partition alike.
        for name in ["fbnet", "fbnet-imagenet"] {
            let space = AnySpace::builtin(name).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(15);
            let mut pairs = HashMap::new();
            for _ in 0..200 {
                let n = space.decode(&space.sample(&mut rng)).unwrap();
                let (v2, v3) = (f2(&n), f(&n));
                assert_eq!(
                    *pairs.entry(v3).or_insert(v2),
                    v2,
                    "{name}: v3 merged what v2 split"
                );
                assert_eq!(
                    pairs.values().filter(|&&p| p == v2).count(),
                    1,
                    "{name}: v3 split a v2 class"
                );
            }
        }
    }
}
