//! Sampling, mutation and decoding throughput per space (genotypes per second).

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use evonas::space::{AnySpace, BUILTIN};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn sample_mutate_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("space");
    group.throughput(Throughput::Elements(1));
    for (name, _) in BUILTIN {
        let space = AnySpace::builtin(name).expect("built-in spaces load");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        group.bench_function(format!("{name}/sample+mutate"), |b| {
            b.iter(|| {
                let g = space.sample(&mut rng);
                space.mutate(&g, &mut rng).expect("same space")
            })
        });
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        group.bench_function(format!("{name}/decode"), |b| {
            b.iter_batched(
                || space.sample(&mut rng),
                |g| space.decode(&g).expect("samples decode"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = sample_mutate_decode
}
