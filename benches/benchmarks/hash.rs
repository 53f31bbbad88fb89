//! Hashing throughput per space (networks per second on one core, decoding excluded), and the
//! NB-201 census end to end (decode + both hashes for all 15,625 cells).

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use evonas::census::census;
use evonas::hash::{FunctionalHash, StructuralHash};
use evonas::space::{AnySpace, BUILTIN};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn hashes(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Elements(1));
    for (name, _) in BUILTIN {
        let space = AnySpace::builtin(name).expect("built-in spaces load");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let nets: Vec<_> = (0..256)
            .map(|_| {
                space
                    .decode(&space.sample(&mut rng))
                    .expect("samples decode")
            })
            .collect();
        let mut i = 0;
        group.bench_function(format!("{name}/functional"), |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % nets.len();
                    &nets[i]
                },
                FunctionalHash::of,
                BatchSize::SmallInput,
            )
        });
        // The previous version in the same run: what rule 8 (positive scales) costs.
        group.bench_function(format!("{name}/functional-v2"), |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % nets.len();
                    &nets[i]
                },
                |n| FunctionalHash::of_version(n, 2),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("{name}/structural"), |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % nets.len();
                    &nets[i]
                },
                StructuralHash::of,
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn nb201_census(c: &mut Criterion) {
    let space = AnySpace::builtin("nb201").expect("nb201 loads");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut group = c.benchmark_group("enumerate");
    group.throughput(Throughput::Elements(15_625));
    group.sample_size(10);
    group.bench_function("nb201/census-1-thread", |b| {
        b.iter(|| pool.install(|| census(&space, &|_| {})).expect("finite"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = hashes, nb201_census
}
