//! Checks against data evonas did not write: the NAS-Bench-201 table's arch strings and
//! NASLib's NAS-Bench-101 cells with their published parameter counts.

use std::collections::HashSet;

use evonas::ir::cost;
use evonas::space::{AnyGenotype, AnySpace};

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
