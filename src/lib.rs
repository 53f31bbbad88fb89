//! evonas: neural architecture search with unified functional hashing.
//!
//! ```
//! use evonas::space::AnySpace;
//! use rand::SeedableRng;
//!
//! let space = AnySpace::builtin("nb201")?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let genotype = space.sample(&mut rng);
//! let network = space.decode(&genotype)?;
//! let cost = evonas::ir::cost(&network);
//! assert!(cost.params > 70_000);
//! # Ok::<(), evonas::Error>(())
//! ```
//!
//! # Glossary
//! - [`SearchSpace`](space::SearchSpace): what a genotype is in one space family, how to sample,
//!   mutate, print, parse and decode it. [`AnySpace`](space::AnySpace) picks one at run time.
//! - Genotype: an architecture in its space's native notation (an NB-201 arch string, an
//!   NB-101 matrix and ops, a DARTS genotype, an FBNet block list).
//! - [`Network`](ir::Network): the IR every genotype decodes to, a DAG of primitive ops.
//! - [`ArchDocument`](space::ArchDocument): the JSON form of one architecture.
//!
//! # Flow
//! 1. `space` reads a space TOML and samples or mutates genotypes.
//! 2. The genotype decodes to an `ir::Network`; `ir::cost` counts its parameters and FLOPs.
//! 3. (Next: `hash` gives equivalent networks one functional hash; `eval` trains or looks up;
//!    `store` caches by hash; `search` runs regularized evolution.)
//!
//! Modules depend only on those listed before them: `ir`, `space`.

#![warn(missing_docs)]

pub mod error;
pub mod eval;
pub mod hash;
pub mod ir;
pub(crate) mod mix;
pub mod search;
pub mod space;
pub mod store;

pub use error::{Error, Result};
