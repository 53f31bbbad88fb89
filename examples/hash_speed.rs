//! Quick single-thread timing of decoding and hashing per space; pass a space name to time only
//! that one. The criterion benches (`cargo bench`) are the reference numbers.
use std::time::{Duration, Instant};

use evonas::hash::{FunctionalHash, StructuralHash};
use evonas::space::{AnySpace, BUILTIN};
use rand::SeedableRng;

fn main() {
    let only = std::env::args().nth(1);
    for (name, _) in BUILTIN {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let space = AnySpace::builtin(name).expect("built-in");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let (mut dec, mut fh, mut sh) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let (mut count, mut nodes) = (0usize, 0usize);
        for _ in 0..20 {
            let gs: Vec<_> = (0..500).map(|_| space.sample(&mut rng)).collect();
            let t = Instant::now();
            let nets: Vec<_> = gs
                .iter()
                .map(|g| space.decode(g).expect("decodes"))
                .collect();
            dec += t.elapsed();
            let t = Instant::now();
            let f: Vec<_> = nets.iter().map(FunctionalHash::of).collect();
            fh += t.elapsed();
            let t = Instant::now();
            let s: Vec<_> = nets.iter().map(StructuralHash::of).collect();
            sh += t.elapsed();
            count += f.len().min(s.len());
            nodes += nets.iter().map(|n| n.len()).sum::<usize>();
        }
        let per = |d: Duration| d.as_secs_f64() / count as f64 * 1e6;
        println!(
            "{name:<15} nodes {:>5}  decode {:>7.1} us  functional {:>7.1} us ({:>6.0}/s)  structural {:>7.1} us",
            nodes / count,
            per(dec),
            per(fh),
            1e6 / per(fh),
            per(sh),
        );
    }
}
