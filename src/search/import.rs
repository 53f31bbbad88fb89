//! `evonas cache import`: reading someone else's cache export into this store.
//!
//! Importing a cache means trusting its results as measured: a record says "this function,
//! under this protocol, scored this", and every campaign with that protocol will serve it
//! instead of evaluating. So the import checks what it can before writing anything: the
//! record schema, the hash version, and the key itself (the record's genotype must decode to a
//! network whose hash is the key). A record that contradicts its key is skipped; one whose key
//! cannot be checked here (it was measured under knobs or a space file this store knows
//! nothing of) is imported and counted as unverified. An existing record is never replaced
//! unless asked (`--overwrite`), and the whole import is one atomic write.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::rehash::Verifier;
use super::SearchError;
use crate::eval::RECORD_SCHEMA;
use crate::hash::functional::{OLDEST, VERSION};
use crate::store::cache::{CacheKey, Entry};
use crate::store::Store;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Entries in the file.
    pub read: u64,
    /// Entries written (new keys, and replaced ones with `overwrite`).
    pub imported: u64,
    /// Of those, entries that replaced an existing record (`overwrite` only).
    pub replaced: u64,
    /// Entries not written because this store already has a record under their key.
    pub kept_existing: u64,
    /// Imported entries whose key could be checked against their genotype.
    pub verified: u64,
    /// Imported entries whose key could not be checked here (trusted as given).
    pub unverified: u64,
    /// Imported entries under an older hash version (`evonas cache rehash` carries them).
    pub older_version: u64,
    /// Imported entries for protocols no campaign in this store uses (yet).
    pub other_protocols: u64,
    /// Entries skipped, with why.
    pub skipped: Vec<Skipped>,
}

/// An entry not imported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    /// Its line in the file (1-based).
    pub line: usize,
    /// Its key.
    pub key: CacheKey,
    /// Why.
    pub reason: String,
}

/// Imports `entries` (in file order) into `store`.
pub fn import(store: &Store, entries: Vec<Entry>, overwrite: bool) -> Result<Report, SearchError> {
    let mut verifier = Verifier::new(store)?;
    let protocols: HashSet<_> = store
        .campaigns()?
        .into_iter()
        .filter_map(|h| h.protocol.map(|p| p.fingerprint))
        .collect();
    let mut report = Report {
        read: entries.len() as u64,
        ..Report::default()
    };
    let mut put: BTreeMap<CacheKey, Entry> = BTreeMap::new();
    for (i, Entry { key, record }) in entries.into_iter().enumerate() {
        let line = i + 1;
        let mut skip = |reason: String| {
            report.skipped.push(Skipped { line, key, reason });
        };
        if record.schema > RECORD_SCHEMA {
            skip(format!(
                "written by a newer evonas (record schema {}, this one reads {RECORD_SCHEMA})",
                record.schema
            ));
            continue;
        }
        let version = key.hash.version();
        if !(OLDEST..=VERSION).contains(&version) {
            skip(format!(
                "hash version {version} is not one this evonas computes ({OLDEST} to {VERSION})"
            ));
            continue;
        }
        if put.contains_key(&key) {
            skip("the same key appears earlier in the file".into());
            continue;
        }
        // A record that says how it was decoded can be checked for certain in a built-in
        // space; one that does not may only be unknown here.
        let certain = record.decoded_with.is_some()
            && crate::space::BUILTIN
                .iter()
                .any(|(n, _)| *n == record.space);
        let verified = match verifier.check(&key, &record) {
            Ok(_) => true,
            Err(_) if certain => {
                skip(format!(
                    "its genotype `{}` does not hash to its key under the knobs it records",
                    crate::error::excerpt(&record.genotype)
                ));
                continue;
            }
            Err(_) => false,
        };
        if store.cache_get(&key)?.is_some() {
            if !overwrite {
                report.kept_existing += 1;
                continue;
            }
            report.replaced += 1;
        }
        report.imported += 1;
        report.verified += u64::from(verified);
        report.unverified += u64::from(!verified);
        report.older_version += u64::from(version < VERSION);
        report.other_protocols += u64::from(!protocols.contains(&key.protocol));
        put.insert(key, Entry { key, record });
    }
    let put: Vec<Entry> = put.into_values().collect();
    store.cache_replace(&[], &put)?;
    Ok(report)
}
