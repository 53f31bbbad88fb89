//! Checks against data evonas did not write: the NAS-Bench-201 table's arch strings,
//! NASLib's NAS-Bench-101 and NAS-Bench-301 cells with their published parameter counts, and
//! DARTS' own genotype.

use std::collections::HashSet;

use evonas::ir::{cost, Network, Op};
use evonas::space::{AnyGenotype, AnySpace, Knobs};

use crate::util::shared_data;

fn nb201_arch_strings() -> Option<Vec<String>> {
    let path = shared_data("nb201/nb201_test_acc_200ep.csv")?;
    let text = std::fs::read_to_string(&path).expect("the NB-201 table is readable");
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let col = header
        .split(',')
        .position(|c| c == "arch")
        .expect("an `arch` column");
    Some(
        lines
            .map(|l| l.split(',').nth(col).expect("an arch field").to_string())
            .collect(),
    )
}

#[test]
fn every_nb201_arch_string_parses_prints_back_and_decodes() {
    let Some(archs) = nb201_arch_strings() else {
        return;
    };
    assert_eq!(archs.len(), 15_625);
    let space = AnySpace::builtin("nb201").unwrap();
    let mut seen = HashSet::new();
    for arch in &archs {
        let cell = space.parse(arch).unwrap();
        assert_eq!(&space.format(&cell).unwrap(), arch);
        let net = space.decode(&cell).unwrap();
        assert_eq!(net.output_shape().channels, 10);
        seen.insert(cell);
    }
    // The table holds every cell once, and so does our enumeration.
    let all: HashSet<_> = space.enumerate().expect("nb201 is finite").collect();
    assert_eq!(seen, all);
}

/// Parameter counts of NAS-Bench-201 networks (C=16, N=5, 10 classes), as the benchmark
/// reports them (`params` in MB = 1e6 parameters), cross-checked by hand:
/// stem 3*16*9 + 2*16 = 464; reductions 14,464 (16->32) and 57,600 (32->64); last BN 128;
/// classifier 64*10 + 10 = 650; each ReLU-Conv3x3-BN edge costs 9C^2 + 2C per cell.
#[test]
fn nb201_parameter_counts_match_the_benchmark() {
    let space = AnySpace::builtin("nb201").unwrap();
    let params = |arch: &str| cost(&space.decode(&space.parse(arch).unwrap()).unwrap()).params;
    // The largest cell: every edge nor_conv_3x3. NAS-Bench-201: 1.531546 MB.
    let all_conv =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    assert_eq!(params(all_conv), 1_531_546);
    // The smallest: every edge none, only the skeleton. NAS-Bench-201: 0.073306 MB.
    let all_none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    assert_eq!(params(all_none), 73_306);
    // Cell 1 of the benchmark: three nor_conv_3x3 edges per cell.
    // 464 + 15*2,336 + 14,464 + 15*9,280 + 57,600 + 15*36,992 + 778 = 802,426.
    let cell1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    assert_eq!(params(cell1), 802_426);
    // Pools and skips carry no parameters: swapping them changes nothing.
    let swapped = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|avg_pool_3x3~2|";
    assert_eq!(params(swapped), 802_426);
}

/// NASLib's NAS-Bench-101 encoding: 49 adjacency entries then 7 op codes
/// (0 input, 1 output, 2 maxpool3x3, 3 conv1x1-bn-relu, 4 conv3x3-bn-relu; the only code
/// order under which the published parameter counts match for all 500 cells).
fn naslib_nb101_to_notation(key: &str) -> String {
    let nums: Vec<u8> = key
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(|x| x.trim().parse().expect("a small integer"))
        .collect();
    assert_eq!(nums.len(), 56, "7x7 matrix plus 7 ops");
    let matrix: Vec<Vec<u8>> = nums[..49].chunks(7).map(|r| r.to_vec()).collect();
    let names = [
        "input",
        "output",
        "maxpool3x3",
        "conv1x1-bn-relu",
        "conv3x3-bn-relu",
    ];
    let ops: Vec<&str> = nums[49..].iter().map(|&o| names[usize::from(o)]).collect();
    serde_json::json!({"matrix": matrix, "ops": ops}).to_string()
}

/// NAS-Bench-101 gives the channels left over when a cell's output width does not divide
/// evenly among the vertices feeding it to the lowest-numbered vertices, so two numberings of one
/// cell can differ by a channel per vertex. evonas gives them in a canonical order instead (one
/// network per isomorphism class, as the benchmark's own hash assumes). Cells without a
/// remainder must match the published counts exactly; the others within 1%.
#[test]
fn naslib_nb101_cells_parse_decode_and_match_published_parameter_counts() {
    let Some(path) = shared_data("naslib_zc/zc_nasbench101.json") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cells = v["nasbench101"]["cifar10"].as_object().unwrap();
    assert_eq!(cells.len(), 500);
    let space = AnySpace::builtin("nb101").unwrap();
    let (mut exact, mut even_split) = (0, 0);
    for (key, record) in cells {
        let notation = naslib_nb101_to_notation(key);
        let g = space.parse(&notation).unwrap();
        let AnyGenotype::Nb101(cell) = &g else {
            panic!("an nb101 genotype");
        };
        let pruned = cell.pruned().unwrap();
        let v = pruned.vertices();
        let fan_in = (1..v - 1).filter(|&i| pruned.edge(i, v - 1)).count() as u32;
        let net = space.decode(&g).unwrap();
        let published = (record["params"].as_f64().unwrap() * 1e6).round() as u64;
        let ours = cost(&net).params;
        let remainder = fan_in > 0 && [128u32, 256, 512].iter().any(|c| c % fan_in != 0);
        if remainder {
            let rel = (ours as f64 - published as f64).abs() / published as f64;
            assert!(
                rel < 0.01,
                "{notation}: {ours} parameters, NAS-Bench-101 says {published}"
            );
        } else {
            even_split += 1;
            assert_eq!(ours, published, "{notation}");
        }
        exact += usize::from(ours == published);
    }
    assert!(
        even_split > 200,
        "enough cells without a remainder: {even_split}"
    );
    assert!(exact >= 450, "{exact} of 500 match exactly");
}

/// The parameters NASLib's NAS-Bench-301 network has, which its zero-cost files publish
/// (`params`, counted by tensorwatch: every parameter of every module that runs). That network
/// is the `darts` space's (DARTS' NetworkCIFAR at C = 32 with 8 cells; its auxiliary head is
/// an identity edge unless `prepare_evaluation` runs, so it has none) except for one thing:
/// NASLib builds the cell ops' batch norms with `affine=False` (nasbench301/graph.py,
/// `_set_ops`: the separable and dilated convolutions, and the factorized reduction of a
/// stride-2 `skip_connect`), so they have no weight and bias. evonas builds them affine, as
/// DARTS' evaluation network does: 2 C parameters more per such batch norm. The stem's, the
/// cells' input preprocessing's and the classifier's parameters are the same in both.
fn naslib_nb301_params(net: &Network) -> u64 {
    // Cell op nodes are labelled `cellK:kind/bJ/P/op/...` by the NASNet decoder.
    let in_cell_op = |label: &str| {
        label
            .split('/')
            .nth(1)
            .and_then(|s| s.strip_prefix('b'))
            .is_some_and(|j| j.parse::<u32>().is_ok())
    };
    let affine_in_cell_ops: u64 = net
        .nodes()
        .iter()
        .filter(|n| n.op == Op::BatchNorm { affine: true } && in_cell_op(&n.label))
        .map(|n| 2 * u64::from(n.shape.channels))
        .sum();
    cost(net).params - affine_in_cell_ops
}

/// Three cells of NASLib's zero-cost NAS-Bench-301 file (its first three keys, the compact
/// encoding as written there) with their published parameter counts; needs no data.
#[test]
fn darts_space_reads_naslib_nb301_cells_with_their_published_parameter_counts() {
    let space = AnySpace::builtin("darts").unwrap();
    for (key, published, evonas_params) in [
        (
            "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]",
            856_298,
            864_874,
        ),
        (
            "[[(0, 5), (1, 0), (2, 1), (0, 2), (3, 2), (0, 3), (1, 0), (3, 5)], [(1, 1), (0, 2), (0, 5), (1, 0), (0, 6), (2, 2), (4, 6), (0, 0)]]",
            673_834,
            678_954,
        ),
    ] {
        let net = space.decode(&space.parse(key).unwrap()).unwrap();
        assert_eq!(cost(&net).params, evonas_params, "{key}");
        // 8,576 = 67 x 128 and 5,120 = 40 x 128: the cell ops' batch-norm affine parameters.
        assert_eq!(naslib_nb301_params(&net), published, "{key}");
    }
}

/// Every one of the 725 cells of NASLib's zero-cost NAS-Bench-301 file reads in the `darts`
/// space as written (the compact encoding), prints back to it, and has exactly the published
/// parameter count under NASLib's convention (`naslib_nb301_params`).
#[test]
fn naslib_nb301_cells_parse_decode_and_match_published_parameter_counts() {
    let Some(path) = shared_data("naslib_zc/zc_nasbench301.json") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cells = v["cifar10"].as_object().unwrap();
    assert_eq!(cells.len(), 725);
    let AnySpace::NasNet(darts) = AnySpace::builtin("darts").unwrap() else {
        panic!("nasnet family");
    };
    let space = AnySpace::NasNet(darts.clone());
    for (key, record) in cells {
        let g = space.parse(key).unwrap();
        let AnyGenotype::NasNet(cell) = &g else {
            panic!("a nasnet genotype");
        };
        assert_eq!(&darts.compact(cell), key);
        let net = space.decode(&g).unwrap();
        let published = (record["params"]["score"].as_f64().unwrap() * 1e6).round() as u64;
        assert_eq!(naslib_nb301_params(&net), published, "{key}");
    }
}

/// DARTS' own result, `DARTS_V2` in its `genotypes.py`, pasted as written there: at DARTS'
/// evaluation size (C = 36, 20 cells) it has the 3,349,342 parameters DARTS' `train.py` logs
/// ("param size = 3.349342MB", which leaves the auxiliary head out), so the `darts` space
/// builds DARTS' evaluation network exactly (batch norms affine).
#[test]
fn darts_v2_has_the_parameters_darts_reports() {
    let darts_v2 = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
        ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
        ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), \
        ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), \
        ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
    let space = AnySpace::builtin("darts").unwrap().with_knobs(&Knobs {
        channels: Some(36),
        cells: Some(6),
    });
    let net = space.decode(&space.parse(darts_v2).unwrap()).unwrap();
    assert_eq!(cost(&net).params, 3_349_342);
}
