//! Collision check: hashes N random networks of a space and reports functional-hash
//! collisions between networks of different structural classes, each checked for a necessary
//! condition of true equivalence (equal parameter and FLOP counts).
//! Usage: `collisions SPACE N [SEED]`; prints one JSON line.
use std::collections::HashMap;
use std::time::Instant;

use evonas::hash::{FunctionalHash, StructuralHash};
use evonas::ir::cost;
use evonas::space::AnySpace;
use rand::SeedableRng;
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "nasnet".into());
    let n: u64 = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let seed: u64 = args.next().map_or(Ok(0), |s| s.parse())?;
    let space = AnySpace::load(&name)?;
    let start = Instant::now();
    const CHUNK: u64 = 20_000;
    let mut seen: HashMap<FunctionalHash, (StructuralHash, u64, u64)> = HashMap::new();
    let (mut collisions, mut same_cost, mut same_structure) = (0u64, 0u64, 0u64);
    let mut chunk = 0;
    while chunk * CHUNK < n {
        let count = CHUNK.min(n - chunk * CHUNK);
        // Each chunk has its own seeded stream, so the sample is the same for any thread count.
        let rows: Vec<_> = (0..count)
            .into_par_iter()
            .map(|i| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                    seed ^ (chunk * CHUNK + i).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let g = space.sample(&mut rng);
                let net = space.decode(&g).expect("samples decode");
                let c = cost(&net);
                let (f, s) = evonas::hash::hash(&net);
                (f, s, c.params, c.flops)
            })
            .collect();
        for (f, s, p, fl) in rows {
            match seen.get(&f) {
                None => {
                    seen.insert(f, (s, p, fl));
                }
                Some(&(s0, p0, fl0)) if s0 != s => {
                    collisions += 1;
                    same_cost += u64::from(p0 == p && fl0 == fl);
                }
                Some(_) => same_structure += 1,
            }
        }
        chunk += 1;
        eprint!("\r{} / {n}", (chunk * CHUNK).min(n));
    }
    eprintln!();
    println!(
        "{}",
        serde_json::json!({
            "space": name,
            "networks": n,
            "functional_classes": seen.len(),
            "repeats_same_structure": same_structure,
            "functional_collisions_across_structural_classes": collisions,
            "of_which_equal_params_and_flops": same_cost,
            "seconds": start.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
