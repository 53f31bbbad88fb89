//! Criterion benchmarks: `cargo bench`. Fixed seeds; throughput per element.

mod benchmarks;

criterion::criterion_main! {
    benchmarks::space::benches,
    benchmarks::hash::benches,
    benchmarks::search::benches,
    benchmarks::train::benches,
}
