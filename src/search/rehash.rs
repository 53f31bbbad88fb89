//! `evonas cache rehash`: carries a cache forward to the current functional-hash version.
//!
//! A cache key holds the hash version that made it, so bumping the version makes every record
//! unreachable for new campaigns. Rehashing decodes each older record's genotype again, checks
//! that it reproduces the record's own key under the old version (so a record is never moved on
//! a guess about the knobs or space file it was measured with), and stores it under the key of
//! the current version. Records whose functions the new version finds equal are merged: two
//! measurements of one function are two evaluations of it ([`EvalRecord::merge`]).
//!
//! Nothing is lost: the whole rewrite is one atomic store write; a record that cannot be
//! rehashed (an older version this build cannot compute, or no known space and knobs that
//! reproduce its key) stays under its old key and is listed; and records that an unfinished
//! campaign of an older version still reads stay where they are (see [`Store::cache_pins`]), so
//! that campaign resumes to the end it would have reached. A second run changes nothing.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::config::CampaignConfig;
use super::SearchError;
use crate::eval::job::SpaceSource;
use crate::eval::{DecodeContext, EvalRecord};
use crate::hash::functional::{OLDEST, VERSION};
use crate::hash::FunctionalHash;
use crate::space::{AnySpace, Knobs};
use crate::store::cache::{CacheKey, Entry};
use crate::store::Store;

/// What a rehash did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// The version records were carried to.
    pub version: u32,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Records before.
    pub records_before: u64,
    /// Records after.
    pub records_after: u64,
    /// Evaluations over all records, before and after (equal: nothing is lost).
    pub evaluations_before: u64,
    /// See `evaluations_before`.
    pub evaluations_after: u64,
    /// Records already under the current version (left as they are, unless merged into).
    pub current: u64,
    /// Older records now alone under their new key.
    pub moved: u64,
    /// Older records folded together with others of the same function...
    pub merged: u64,
    /// ... into this many records.
    pub merged_into: u64,
    /// Older records left in place because an unfinished campaign reads them.
    pub kept: Vec<Kept>,
    /// Older records left in place because they could not be rehashed.
    pub unrehashable: Vec<Unrehashable>,
}

/// Records kept for one unfinished campaign.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Kept {
    /// The campaign.
    pub campaign: String,
    /// Its hash version.
    pub version: u32,
    /// How many records.
    pub records: u64,
}

/// A record left under its old key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unrehashable {
    /// Its key.
    pub key: CacheKey,
    /// Its space's name.
    pub space: String,
    /// Its genotype.
    pub genotype: String,
    /// Why.
    pub reason: String,
}

/// Where a record's network can be decoded: a space, knobs and input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Context {
    source: SpaceSource,
    decoded_with: DecodeContext,
}

/// Loads spaces once per context.
#[derive(Default)]
struct Spaces {
    loaded: HashMap<Context, Option<AnySpace>>,
}

/// Checks stored keys against their records: decodes a record's genotype in the contexts this
/// store knows and finds the one that reproduces the key's hash.
pub(crate) struct Verifier {
    campaigns: HashMap<crate::eval::Fingerprint, Vec<Context>>,
    spaces: Spaces,
}

impl Verifier {
    /// A verifier with the contexts of `store`'s campaigns.
    pub(crate) fn new(store: &Store) -> Result<Self, SearchError> {
        Ok(Verifier {
            campaigns: campaign_contexts(store)?,
            spaces: Spaces::default(),
        })
    }

    /// The record's key under the current version, with the context that reproduced `key`;
    /// or why that cannot be found.
    pub(crate) fn check(
        &mut self,
        key: &CacheKey,
        record: &EvalRecord,
    ) -> Result<(CacheKey, DecodeContext), String> {
        new_key(key, record, &self.campaigns, &mut self.spaces)
    }
}

impl Spaces {
    fn get(&mut self, c: &Context) -> Option<&AnySpace> {
        self.loaded
            .entry(c.clone())
            .or_insert_with(|| {
                crate::eval::job::decoding_space(
                    &c.source,
                    &c.decoded_with.knobs,
                    c.decoded_with.input,
                )
                .ok()
            })
            .as_ref()
    }
}

/// Rehashes every record of `store`'s cache to [`VERSION`]; with `dry_run`, only reports.
pub fn rehash(store: &Store, dry_run: bool) -> Result<Report, SearchError> {
    let entries = store.cache_entries()?;
    let pins = store.cache_pins()?;
    let mut verifier = Verifier::new(store)?;
    let mut report = Report {
        version: VERSION,
        dry_run,
        records_before: entries.len() as u64,
        evaluations_before: entries
            .iter()
            .map(|e| u64::from(e.record.evaluations))
            .sum(),
        ..Report::default()
    };
    // Current records, by key: the targets older ones may merge into.
    let mut current: BTreeMap<CacheKey, EvalRecord> = BTreeMap::new();
    // Older records by their new key, in old-key order.
    let mut carried: BTreeMap<CacheKey, Vec<(CacheKey, EvalRecord)>> = BTreeMap::new();
    let mut kept: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for Entry { key, record } in entries {
        if key.hash.version() == VERSION {
            report.current += 1;
            current.insert(key, record);
            continue;
        }
        if let Some(pin) = pins.iter().find(|p| p.holds(&key)) {
            *kept.entry((pin.campaign.clone(), pin.version)).or_default() += 1;
            continue;
        }
        match verifier.check(&key, &record) {
            Ok((new, decoded_with)) => {
                let mut record = record;
                record.decoded_with = record.decoded_with.or(Some(decoded_with));
                carried.entry(new).or_default().push((key, record));
            }
            Err(reason) => report.unrehashable.push(Unrehashable {
                key,
                space: record.space.clone(),
                genotype: record.genotype.clone(),
                reason,
            }),
        }
    }
    report.kept = kept
        .into_iter()
        .map(|((campaign, version), records)| Kept {
            campaign,
            version,
            records,
        })
        .collect();
    let mut remove = Vec::new();
    let mut put = Vec::new();
    for (new, sources) in carried {
        let target = current.get(&new).cloned();
        let alone = target.is_none() && sources.len() == 1;
        let mut sources = sources.into_iter();
        let mut merged = match target {
            Some(t) => t,
            None => match sources.next() {
                Some((old, r)) => {
                    remove.push(old);
                    r
                }
                None => continue,
            },
        };
        for (old, r) in sources {
            merged.merge(&r);
            remove.push(old);
        }
        if alone {
            report.moved += 1;
        } else {
            report.merged_into += 1;
        }
        put.push(Entry {
            key: new,
            record: merged,
        });
    }
    report.merged = remove.len() as u64 - report.moved;
    // Records merged into an existing current one were counted as current before.
    let new_keys = put.iter().filter(|e| !current.contains_key(&e.key)).count() as u64;
    report.records_after = report.records_before - remove.len() as u64 + new_keys;
    report.evaluations_after = report.evaluations_before;
    if !dry_run && !remove.is_empty() {
        store.cache_replace(&remove, &put)?;
        let after = store.cache_entries()?;
        report.records_after = after.len() as u64;
        report.evaluations_after = after.iter().map(|e| u64::from(e.record.evaluations)).sum();
    }
    Ok(report)
}

/// Per protocol fingerprint, the contexts the store's campaigns decoded their candidates in.
fn campaign_contexts(
    store: &Store,
) -> Result<HashMap<crate::eval::Fingerprint, Vec<Context>>, SearchError> {
    let mut out: HashMap<_, Vec<Context>> = HashMap::new();
    for h in store.campaigns()? {
        let Some(protocol) = &h.protocol else {
            continue;
        };
        // A campaign whose config no longer reads, or whose space file is gone, offers
        // nothing; its records are then listed as unrehashable with the reason.
        let Ok(config) = serde_json::from_value::<CampaignConfig>(h.effective_config.clone())
        else {
            continue;
        };
        let Ok(source) = SpaceSource::of(&config.space) else {
            continue;
        };
        let c = Context {
            source,
            decoded_with: DecodeContext {
                knobs: config.knobs,
                input: protocol.input,
            },
        };
        let list = out.entry(protocol.fingerprint).or_default();
        if !list.contains(&c) {
            list.push(c);
        }
    }
    Ok(out)
}

/// The key `record` belongs under now, with the context that reproduced its old key.
fn new_key(
    key: &CacheKey,
    record: &EvalRecord,
    campaigns: &HashMap<crate::eval::Fingerprint, Vec<Context>>,
    spaces: &mut Spaces,
) -> Result<(CacheKey, DecodeContext), String> {
    let old = key.hash.version();
    if !(OLDEST..=VERSION).contains(&old) {
        return Err(format!(
            "hash version {old} cannot be computed by this evonas (it computes {OLDEST} to {VERSION})"
        ));
    }
    // Candidates, most specific first: what the record says it was decoded with, what this
    // store's campaigns of its protocol used, the built-in space as it comes.
    let mut candidates: Vec<Context> = Vec::new();
    let from_campaigns = campaigns.get(&key.protocol).map_or(&[][..], |v| &v[..]);
    if let Some(d) = record.decoded_with {
        for c in from_campaigns {
            candidates.push(Context {
                source: c.source.clone(),
                decoded_with: d,
            });
        }
        candidates.push(Context {
            source: SpaceSource::Builtin(record.space.clone()),
            decoded_with: d,
        });
    }
    candidates.extend(from_campaigns.iter().cloned());
    candidates.push(Context {
        source: SpaceSource::Builtin(record.space.clone()),
        decoded_with: DecodeContext {
            knobs: Knobs::default(),
            input: None,
        },
    });
    let mut decoded_any = false;
    for c in candidates {
        let Some(space) = spaces.get(&c) else {
            continue;
        };
        if space.name() != record.space {
            continue;
        }
        let Ok(net) = space.parse(&record.genotype).and_then(|g| space.decode(&g)) else {
            continue;
        };
        decoded_any = true;
        if FunctionalHash::of_version(&net, old).is_ok_and(|h| h == key.hash) {
            let new = CacheKey::new(FunctionalHash::of(&net), key.protocol);
            return Ok((new, c.decoded_with));
        }
    }
    Err(if decoded_any {
        format!(
            "no space and knobs known to this store reproduce its version-{old} hash: it was measured under knobs, an input or a space file of a campaign this store does not hold (rehash it in the store of that campaign)"
        )
    } else {
        format!(
            "its genotype does not decode in any space `{}` known to this store",
            record.space
        )
    })
}
