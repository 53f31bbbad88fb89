//! Integration tests: one binary (one link step), modules by topic.

/// The memory meter the `evonas` binary installs, so in-process tests measure evaluations too.
#[global_allocator]
static ALLOC: evonas::eval::memory::CountingAlloc = evonas::eval::memory::CountingAlloc;

mod bad_input;
mod campaign;
mod cli;
mod compat;
mod data;
mod export;
mod fuzz_corpus;
mod hash;
mod jobs;
mod memory;
mod multi_fidelity;
mod properties;
mod queue;
mod rank;
mod reference_data;
mod registry;
#[cfg(feature = "tch")]
mod tch;
mod train;
mod util;
mod zero_cost;
