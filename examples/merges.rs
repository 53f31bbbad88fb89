//! Lists functional classes that join several structural classes in a finite space, with a few
//! examples, and checks that every functional class has one parameter count and one FLOP count
//! (a necessary condition for the merges to be real). Then the same for the classes hash
//! version 3 joins that version 2 kept apart (rule 8, positive scales).
//! Usage: `merges SPACE [EXAMPLES]`.
use std::collections::HashMap;

use evonas::hash::{FunctionalHash, StructuralHash};
use evonas::ir::cost;
use evonas::space::AnySpace;
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "nb201".into());
    let examples: usize = std::env::args().nth(2).map_or(Ok(5), |s| s.parse())?;
    let space = AnySpace::load(&name)?;
    let all: Vec<_> = space.enumerate().ok_or("finite spaces only")?.collect();
    let rows: Vec<(
        FunctionalHash,
        StructuralHash,
        u64,
        u64,
        usize,
        FunctionalHash,
    )> = all
        .par_iter()
        .enumerate()
        .map(|(i, g)| {
            let net = space.decode(g).expect("enumerated genotypes decode");
            let c = cost(&net);
            let (f, s) = evonas::hash::hash(&net);
            let v2 = FunctionalHash::of_version(&net, 2).expect("version 2 is computable");
            (f, s, c.params, c.flops, i, v2)
        })
        .collect();
    let mut classes: HashMap<FunctionalHash, Vec<usize>> = HashMap::new();
    for (k, r) in rows.iter().enumerate() {
        classes.entry(r.0).or_default().push(k);
    }
    let mut multi_struct = 0;
    let mut inconsistent = 0;
    let mut shown = 0;
    for members in classes.values() {
        let mut structs: Vec<_> = members.iter().map(|&k| rows[k].1).collect();
        structs.sort();
        structs.dedup();
        let params: std::collections::HashSet<_> =
            members.iter().map(|&k| (rows[k].2, rows[k].3)).collect();
        if params.len() > 1 {
            inconsistent += 1;
        }
        if structs.len() > 1 {
            multi_struct += 1;
            if shown < examples {
                shown += 1;
                println!(
                    "functional class joining {} structural classes:",
                    structs.len()
                );
                let mut seen = Vec::new();
                for &k in members {
                    if !seen.contains(&rows[k].1) {
                        seen.push(rows[k].1);
                        let g = &all[rows[k].4];
                        println!("  params {:>9}  {}", rows[k].2, space.format(g)?);
                    }
                }
            }
        }
    }
    println!(
        "{name}: {} encodings, {} functional classes, {multi_struct} of them join several structural classes, {inconsistent} have more than one (params, FLOPs)",
        rows.len(),
        classes.len()
    );
    // Rule 8: the classes of version 3 that join several classes of version 2.
    let v2_classes: std::collections::HashSet<_> = rows.iter().map(|r| r.5).collect();
    let (mut joined, mut joined_inconsistent, mut shown) = (0, 0, 0);
    // Costs of each version-2 class, to tell rule 8's own disagreements from the zero-input
    // convention's (a version-2 class that already had several costs).
    let mut v2_costs: HashMap<FunctionalHash, std::collections::HashSet<(u64, u64)>> =
        HashMap::new();
    for r in &rows {
        v2_costs.entry(r.5).or_default().insert((r.2, r.3));
    }
    let mut introduced = 0;
    for members in classes.values() {
        let mut v2: Vec<_> = members.iter().map(|&k| rows[k].5).collect();
        v2.sort();
        v2.dedup();
        if v2.len() < 2 {
            continue;
        }
        joined += 1;
        let costs: std::collections::HashSet<_> =
            members.iter().map(|&k| (rows[k].2, rows[k].3)).collect();
        joined_inconsistent += usize::from(costs.len() > 1);
        introduced += usize::from(costs.len() > 1 && v2.iter().all(|h| v2_costs[h].len() == 1));
        if shown < examples {
            shown += 1;
            println!("version-3 class joining {} version-2 classes:", v2.len());
            let mut seen = Vec::new();
            for &k in members {
                if !seen.contains(&rows[k].5) {
                    seen.push(rows[k].5);
                    println!(
                        "  params {:>9}  {}",
                        rows[k].2,
                        space.format(&all[rows[k].4])?
                    );
                }
            }
        }
    }
    println!(
        "{name}: version 2 gives {} functional classes, version 3 {}; {joined} version-3 classes join several version-2 classes, {joined_inconsistent} of them with more than one (params, FLOPs), {introduced} of those joining version-2 classes that each had one",
        v2_classes.len(),
        classes.len()
    );
    Ok(())
}
