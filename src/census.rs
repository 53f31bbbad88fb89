//! Class counts over a finite space: how many encodings, structural classes and functional
//! classes it holds.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::hash::{self, FunctionalHash, StructuralHash};
use crate::space::{AnyGenotype, AnySpace, SpaceError};

/// Counts over every encoding of a space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Census {
    /// Valid encodings.
    pub encodings: u64,
    /// Distinct structural hashes.
    pub structural_classes: u64,
    /// Distinct functional hashes.
    pub functional_classes: u64,
}

/// Decodes and hashes every encoding of `space` in parallel (rayon's pool); `progress` is called
/// with the number of encodings done so far after each chunk. `None` if the space is infinite.
pub fn census(
    space: &AnySpace,
    progress: &(dyn Fn(u64) + Sync),
) -> Option<Result<Census, SpaceError>> {
    let iter = space.enumerate()?;
    const CHUNK: usize = 16_384;
    let mut functional: HashSet<FunctionalHash> = HashSet::new();
    let mut structural: HashSet<StructuralHash> = HashSet::new();
    let mut encodings = 0u64;
    let mut buf: Vec<AnyGenotype> = Vec::with_capacity(CHUNK);
    let mut iter = iter.peekable();
    while iter.peek().is_some() {
        buf.clear();
        buf.extend(iter.by_ref().take(CHUNK));
        let hashed: Result<Vec<(FunctionalHash, StructuralHash)>, SpaceError> = buf
            .par_iter()
            .map(|g| space.decode(g).map(|net| hash::hash(&net)))
            .collect();
        let hashed = match hashed {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        encodings += hashed.len() as u64;
        for (f, s) in hashed {
            functional.insert(f);
            structural.insert(s);
        }
        progress(encodings);
    }
    Some(Ok(Census {
        encodings,
        structural_classes: structural.len() as u64,
        functional_classes: functional.len() as u64,
    }))
}
