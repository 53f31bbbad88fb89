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
//! Equivalent encodings get one functional hash:
//!
//! ```
//! use evonas::hash::FunctionalHash;
//! use evonas::space::AnySpace;
//!
//! let nb201 = AnySpace::builtin("nb201")?;
//! let hash = |arch: &str| -> Result<FunctionalHash, evonas::Error> {
//!     Ok(FunctionalHash::of(&nb201.decode(&nb201.parse(arch)?)?))
//! };
//! // Two cells wired differently that compute the same function, c(x) + avg_pool(c(x)).
//! let a = hash("|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|none~0|skip_connect~1|skip_connect~2|")?;
//! let b = hash("|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|")?;
//! assert_eq!(a, b);
//! # Ok::<(), evonas::Error>(())
//! ```
//!
//! # Glossary
//! - [`SearchSpace`](space::SearchSpace): what a genotype is in one space family, how to sample,
//!   mutate, print, parse and decode it. [`AnySpace`](space::AnySpace) picks one at run time.
//! - Genotype: an architecture in its space's native notation (an NB-201 arch string, an
//!   NB-101 matrix and ops, a DARTS genotype, an FBNet block list).
//! - [`Network`](ir::Network): the IR every genotype decodes to, a DAG of primitive ops.
//! - [`FunctionalHash`](hash::FunctionalHash): equal for networks computing the same function.
//! - [`Evaluator`](eval::Evaluator): scores a candidate under a [`Protocol`](eval::Protocol).
//! - [`Store`](store::Store): the sled database of cached results and campaigns.
//! - [`Strategy`](search::strategy::Strategy) and [`Campaign`](search::Campaign): how the
//!   search proposes candidates, and the crash-safe loop that runs it.
//!
//! # Flow
//! 1. `space` reads a space TOML; a strategy samples or mutates genotypes from a seeded stream.
//! 2. Each genotype decodes to an `ir::Network`; `hash` gives it a functional hash.
//! 3. `store::cache` answers it if an equivalent network was evaluated under the same protocol;
//!    otherwise an `eval::Evaluator` scores it (NAS-Bench-201 tables, or training on data with
//!    `eval::train`).
//! 4. `search::Campaign` commits every step to the `store` before acting on it, so a killed
//!    campaign resumes exactly where it stopped.
//!
//! Modules depend only on those listed before them: `fidelity`, `ir`, `hash`, `space`, `census`,
//! `eval`, `store`, `queue`, `search`.

#![warn(missing_docs)]

pub mod census;
pub mod error;
pub mod eval;
pub mod export;
pub mod fidelity;
pub mod hash;
pub mod hex;
pub mod ir;
pub mod limits;
pub(crate) mod mix;
pub mod queue;
pub mod rank;
pub mod report;
pub mod search;
pub mod space;
pub mod stats;
pub mod store;

pub use error::{Error, Result};
