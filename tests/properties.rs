//! Property tests over every built-in space: sampled and mutated genotypes decode to valid
//! networks, documents round-trip exactly, mutations change the genotype, seeds replay.

use evonas::space::nasnet::Mutation;
use evonas::space::{AnySpace, ArchDocument, Knobs, SearchSpace, BUILTIN};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn spaces() -> Vec<AnySpace> {
    BUILTIN
        .iter()
        .map(|(name, _)| AnySpace::builtin(name).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Samples and chains of mutations all decode; every document round-trips through JSON to
    /// the same document, genotype and network.
    #[test]
    fn samples_and_mutation_chains_decode_and_round_trip(seed in any::<u64>(), steps in 1usize..6) {
        for space in spaces() {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut g = space.sample(&mut rng);
            for _ in 0..steps {
                let net = space.decode(&g).unwrap();
                prop_assert!(net.len() > 3);
                let doc = ArchDocument::new(&space, Knobs::default(), &g).unwrap();
                let back = ArchDocument::from_json(&doc.to_json_line()).unwrap();
                prop_assert_eq!(&back, &doc);
                prop_assert_eq!(back.network().unwrap(), net);
                prop_assert_eq!(back.genotype(&space).unwrap(), g.clone());
                // The native notation round-trips on its own too.
                let text = space.format(&g).unwrap();
                prop_assert_eq!(space.parse(&text).unwrap(), g.clone());
                g = space.mutate(&g, &mut rng).unwrap();
            }
        }
    }

    /// Mutation always changes the genotype (NASNet's identity mutation excepted, and it is
    /// reported as such).
    #[test]
    fn mutations_change_the_genotype(seed in any::<u64>()) {
        for space in spaces() {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let g = space.sample(&mut rng);
            let child = space.mutate(&g, &mut rng).unwrap();
            prop_assert_ne!(child, g, "space {}", space.name());
        }
    }

    /// The same seed gives the same samples and mutations.
    #[test]
    fn seeds_replay(seed in any::<u64>()) {
        for space in spaces() {
            let run = |seed: u64| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let a = space.sample(&mut rng);
                let b = space.mutate(&a, &mut rng).unwrap();
                (a, b)
            };
            prop_assert_eq!(run(seed), run(seed));
        }
    }

    /// Width and depth knobs give valid proxy networks that keep the genotype.
    #[test]
    fn knobs_scale_the_skeleton(seed in any::<u64>(), channels in 4u32..24, cells in 1u32..3) {
        for space in spaces().into_iter().filter(|s| s.name() != "fbnet-imagenet") {
            let knobs = Knobs { channels: Some(channels * 2), cells: Some(cells) };
            let proxy = space.with_knobs(&knobs);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let g = space.sample(&mut rng);
            let small = proxy.decode(&g).unwrap();
            let doc = ArchDocument::new(&proxy, knobs, &g).unwrap();
            prop_assert_eq!(doc.genotype(&space).unwrap(), g);
            prop_assert_eq!(doc.network().unwrap(), small);
        }
    }
}

#[test]
fn nasnet_identity_mutation_is_explicit_and_the_others_change_the_genotype() {
    let toml = AnySpace::builtin("nasnet").unwrap();
    let AnySpace::NasNet(base) = toml else {
        panic!("nasnet family");
    };
    let text = evonas::space::BUILTIN
        .iter()
        .find(|(n, _)| *n == "nasnet")
        .unwrap()
        .1
        .replace("identity = 0.0", "identity = 1.0");
    let AnySpace::NasNet(with_identity) = AnySpace::from_toml(&text, "test").unwrap() else {
        panic!("nasnet family");
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut kinds = [0usize; 3];
    for _ in 0..300 {
        let g = base.sample(&mut rng);
        let (child, kind) = with_identity.mutate_detailed(&g, &mut rng);
        match kind {
            Mutation::Identity => {
                kinds[2] += 1;
                assert_eq!(child, g);
            }
            Mutation::HiddenState => {
                kinds[0] += 1;
                assert_ne!(child, g);
            }
            Mutation::Op => {
                kinds[1] += 1;
                assert_ne!(child, g);
            }
        }
    }
    assert!(
        kinds.iter().all(|&k| k > 50),
        "all three mutations occur: {kinds:?}"
    );
}

/// The `darts` space's extra forms: NASLib's compact encoding and DARTS' Python `Genotype(..)`
/// read back every sample and mutant, and every block reads two different states throughout
/// (DARTS' rule, which sampling, mutation and parsing keep).
#[test]
fn darts_compact_and_python_forms_round_trip_and_inputs_stay_distinct() {
    let AnySpace::NasNet(darts) = AnySpace::builtin("darts").unwrap() else {
        panic!("nasnet family");
    };
    assert!(darts.distinct_inputs());
    let mut rng = ChaCha8Rng::seed_from_u64(301);
    let mut g = darts.sample(&mut rng);
    let mut moved = 0;
    for _ in 0..400 {
        for cell in [&g.normal, &g.reduce] {
            assert!(
                cell.blocks.iter().all(|b| b.inputs[0] != b.inputs[1]),
                "{g:?}"
            );
        }
        assert_eq!(darts.parse(&darts.compact(&g)).unwrap(), g);
        let n = darts.notation(&g);
        let python_pairs = |pairs: &[(String, u32)]| {
            let items: Vec<String> = pairs
                .iter()
                .map(|(op, i)| format!("('{op}', {i})"))
                .collect();
            format!("[{}]", items.join(", "))
        };
        let python = format!(
            "Genotype(normal={}, normal_concat=range(2, 6), reduce={}, reduce_concat=[2, 3, 4, 5])",
            python_pairs(&n.normal),
            python_pairs(&n.reduce)
        );
        assert_eq!(darts.parse(&python).unwrap(), g);
        let (child, kind) = darts.mutate_detailed(&g, &mut rng);
        assert_ne!(child, g);
        moved += usize::from(kind == Mutation::HiddenState);
        g = child;
    }
    assert!(moved > 100, "hidden-state mutations happen: {moved}");
}
