//! The persistent store: one sled database per folder holding the evaluation cache
//! ([`cache`]) and every campaign with its journal ([`campaign`]).
//!
//! Layout (sled trees): `evals` (cache key -> [`crate::eval::EvalRecord`]), `campaigns`
//! (campaign headers, in-flight rounds), `journal/<campaign>` (sequence number -> event), `meta`
//! (schema version). Values are JSON. Writes go through [`Store::commit`]: one atomic
//! multi-tree transaction, flushed to disk before it returns when the store is durable, so a
//! crash at any instant leaves either all of a commit or none of it.
//!
//! Guarantees: a second process opening the same folder gets [`StoreError::InUse`] with the
//! holder's PID; a store written by a newer schema is refused before anything is written.

pub mod cache;
pub mod campaign;
pub mod files;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// Schema of the store layout and its values written by this build.
pub const STORE_SCHEMA: u32 = 1;
/// Oldest schema this build reads.
pub const OLDEST_READABLE_SCHEMA: u32 = 1;

const PID_FILE: &str = "evonas.pid";

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A command that only reads was pointed at a folder that holds no store.
    #[error("no store at {} (run `evonas search` first, or pass --store DIR / set EVONAS_STORE)", dir.display())]
    Missing {
        /// The folder.
        dir: PathBuf,
    },
    /// Another process holds the store.
    #[error("store {} is in use by PID {}; wait for it to finish or stop it (Ctrl-C lets it save its state)", dir.display(), pid.map_or("unknown".to_string(), |p| p.to_string()))]
    InUse {
        /// The store folder.
        dir: PathBuf,
        /// The holder, if its PID file is readable.
        pid: Option<u32>,
    },
    /// Written by a newer evonas.
    #[error("store {} has schema {found}, newer than this evonas reads ({STORE_SCHEMA}); upgrade evonas. Nothing was changed.", dir.display())]
    NewerSchema {
        /// The store folder.
        dir: PathBuf,
        /// Its schema.
        found: u32,
    },
    /// A value or the database itself is damaged.
    #[error("store {} is corrupt at {key}: {reason}", dir.display())]
    Corrupt {
        /// The store folder.
        dir: PathBuf,
        /// Which key (or `database`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The folder cannot be created, read or written.
    #[error("store {}: {message}", dir.display())]
    Io {
        /// The store folder.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Result with [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;

/// Which tree a write goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeId {
    /// The evaluation cache.
    Evals,
    /// Campaign headers and in-flight rounds.
    Campaigns,
    /// The journal of the commit's campaign.
    Journal,
}

/// A set of writes applied atomically by [`Store::commit`].
#[derive(Clone, Debug, Default)]
pub struct Commit {
    ops: Vec<(TreeId, Vec<u8>, Option<Vec<u8>>)>,
}

impl Commit {
    /// An empty commit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a JSON value.
    pub fn put<T: Serialize>(&mut self, tree: TreeId, key: Vec<u8>, value: &T) {
        let bytes = serde_json::to_vec(value).expect("store values serialise");
        self.ops.push((tree, key, Some(bytes)));
    }

    /// Removes a key.
    pub fn remove(&mut self, tree: TreeId, key: Vec<u8>) {
        self.ops.push((tree, key, None));
    }

    /// Whether the commit writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

type Trees = HashMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Where the bytes live: sled on disk, or maps in memory (throw-away stores for tests and
/// experiments, same semantics without the disk).
enum Backend {
    Sled {
        db: sled::Db,
        evals: sled::Tree,
        campaigns: sled::Tree,
    },
    Memory(Mutex<Trees>),
}

/// Key-value pairs read from a tree.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// An open store.
pub struct Store {
    backend: Backend,
    dir: PathBuf,
    durable: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

fn io_err(dir: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    }
}

/// A database error of the store in `dir`, said as a sentence (sled prints I/O errors in Rust's
/// debug form).
fn db_err(dir: &Path, e: sled::Error) -> StoreError {
    io_err(dir, sled_message(&e))
}

/// What a sled error means, with what to do about it where that is known.
fn sled_message(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) => io_message(io),
        other => other.to_string(),
    }
}

/// An I/O error as a sentence; a full disk says what to do.
pub(crate) fn io_message(io: &std::io::Error) -> String {
    if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) {
        "the disk is full (no space left on device). Everything committed before is intact: \
         free some space (or copy the store folder to a disk with room) and resume the campaign"
            .into()
    } else {
        format!("input/output error: {io}")
    }
}

impl Store {
    /// Opens (creating if needed) the durable store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_err(dir, format!("cannot create the folder: {e}")))?;
        // A store this process just dropped can stay locked for a moment (sled's background
        // threads release their handle after the drop returns): wait for it, briefly. A lock
        // held by another live process (its pid is in the pid file) is said at once.
        let mut waited = 0;
        loop {
            match Self::open_once(dir) {
                Err(StoreError::InUse { pid, .. })
                    if waited < 40 && pid.is_none_or(|p| p == std::process::id()) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    waited += 1;
                }
                other => return other,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Store> {
        let config = sled::Config::new().path(dir).flush_every_ms(None);
        // sled 0.34 can panic on some damaged files instead of returning an error: contain it,
        // quietly, and report the store as corrupt.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
        std::panic::set_hook(hook);
        let db = match opened {
            Ok(r) => r.map_err(|e| open_error(dir, e))?,
            Err(_) => {
                return Err(StoreError::Corrupt {
                    dir: dir.to_path_buf(),
                    key: "database".into(),
                    reason: "the database files are damaged (truncated or overwritten); restore a backup or start a new store".into(),
                })
            }
        };
        let store = Self::with_db(db, dir, true)?;
        let _ = std::fs::write(dir.join(PID_FILE), std::process::id().to_string());
        Ok(store)
    }

    /// Opens the store in `dir` only if there is one: commands that read (status, export,
    /// report, resume, retrain, cache stats/export) never create a store folder.
    pub fn open_existing(dir: &Path) -> Result<Store> {
        if !dir.join("conf").is_file() && !dir.join("db").is_file() {
            return Err(StoreError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        Self::open(dir)
    }

    /// A throw-away store in memory (tests, experiments): the same semantics, nothing on disk.
    pub fn temporary() -> Result<Store> {
        let mut trees = Trees::new();
        trees
            .entry("meta".into())
            .or_default()
            .insert(b"schema".to_vec(), STORE_SCHEMA.to_le_bytes().to_vec());
        Ok(Store {
            backend: Backend::Memory(Mutex::new(trees)),
            dir: PathBuf::from("<memory>"),
            durable: false,
        })
    }

    fn with_db(db: sled::Db, dir: &Path, durable: bool) -> Result<Store> {
        let tree = |name: &str| db.open_tree(name).map_err(|e| db_err(dir, e));
        let meta = tree("meta")?;
        match meta.get(b"schema").map_err(|e| db_err(dir, e))? {
            Some(v) => {
                let bytes: [u8; 4] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    dir: dir.to_path_buf(),
                    key: "meta/schema".into(),
                    reason: format!("expected 4 bytes, found {}", v.len()),
                })?;
                let found = u32::from_le_bytes(bytes);
                if found > STORE_SCHEMA {
                    return Err(StoreError::NewerSchema {
                        dir: dir.to_path_buf(),
                        found,
                    });
                }
                if found < OLDEST_READABLE_SCHEMA {
                    return Err(StoreError::Corrupt {
                        dir: dir.to_path_buf(),
                        key: "meta/schema".into(),
                        reason: format!("schema {found} predates the oldest readable ({OLDEST_READABLE_SCHEMA})"),
                    });
                }
            }
            None => {
                let has_data = db.tree_names().len() > 2
                    || !db.is_empty()
                    || db
                        .open_tree("evals")
                        .map(|t| !t.is_empty())
                        .unwrap_or(false);
                if has_data {
                    return Err(StoreError::Corrupt {
                        dir: dir.to_path_buf(),
                        key: "meta/schema".into(),
                        reason: "the store holds data but no schema version".into(),
                    });
                }
                meta.insert(b"schema", &STORE_SCHEMA.to_le_bytes())
                    .map_err(|e| db_err(dir, e))?;
                if durable {
                    db.flush().map_err(|e| db_err(dir, e))?;
                }
            }
        }
        Ok(Store {
            backend: Backend::Sled {
                evals: tree("evals")?,
                campaigns: tree("campaigns")?,
                db,
            },
            dir: dir.to_path_buf(),
            durable,
        })
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether commits are flushed to disk before they return.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    fn memory(&self) -> Option<std::sync::MutexGuard<'_, Trees>> {
        match &self.backend {
            // A poisoned lock only means another thread panicked mid-read; the maps are intact
            // (writes are applied whole under the lock).
            Backend::Memory(m) => Some(m.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Sled { .. } => None,
        }
    }

    fn sled_tree(&self, name: &str) -> Result<sled::Tree> {
        match &self.backend {
            Backend::Sled {
                db,
                evals,
                campaigns,
            } => match name {
                "evals" => Ok(evals.clone()),
                "campaigns" => Ok(campaigns.clone()),
                other => db.open_tree(other).map_err(|e| db_err(&self.dir, e)),
            },
            Backend::Memory(_) => unreachable!("sled_tree is only called on sled stores"),
        }
    }

    /// The value under `key` in tree `tree`.
    fn kv_get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(m) = self.memory() {
            return Ok(m.get(tree).and_then(|t| t.get(key)).cloned());
        }
        let t = self.sled_tree(tree)?;
        Ok(t.get(key)
            .map_err(|e| db_err(&self.dir, e))?
            .map(|v| v.to_vec()))
    }

    /// Every pair of tree `tree` whose key starts with `prefix`, in key order.
    fn kv_scan(&self, tree: &str, prefix: &[u8]) -> Result<Pairs> {
        if let Some(m) = self.memory() {
            return Ok(m
                .get(tree)
                .map(|t| {
                    t.range(prefix.to_vec()..)
                        .take_while(|(k, _)| k.starts_with(prefix))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default());
        }
        let t = self.sled_tree(tree)?;
        t.scan_prefix(prefix)
            .map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| db_err(&self.dir, e))
            })
            .collect()
    }

    /// The last key of tree `tree`.
    fn kv_last_key(&self, tree: &str) -> Result<Option<Vec<u8>>> {
        if let Some(m) = self.memory() {
            return Ok(m.get(tree).and_then(|t| t.keys().next_back().cloned()));
        }
        let t = self.sled_tree(tree)?;
        Ok(t.last()
            .map_err(|e| db_err(&self.dir, e))?
            .map(|(k, _)| k.to_vec()))
    }

    /// Applies `commit` atomically and, in a durable store, flushes it to disk before
    /// returning; `campaign` names the journal tree it writes to.
    pub fn commit(&self, campaign: &str, commit: &Commit) -> Result<()> {
        self.commit_with(campaign, commit, true)
    }

    /// Applies `commit` atomically; flushes only if `flush` (a later flushed commit, or a
    /// crash, decides whether it reaches the disk; it is never half-applied).
    pub fn commit_with(&self, campaign: &str, commit: &Commit, flush: bool) -> Result<()> {
        if commit.is_empty() {
            return Ok(());
        }
        let journal_name = format!("journal/{campaign}");
        if let Some(mut m) = self.memory() {
            for (tree, key, value) in &commit.ops {
                let name = match tree {
                    TreeId::Evals => "evals",
                    TreeId::Campaigns => "campaigns",
                    TreeId::Journal => journal_name.as_str(),
                };
                let t = m.entry(name.to_string()).or_default();
                match value {
                    Some(v) => t.insert(key.clone(), v.clone()),
                    None => t.remove(key),
                };
            }
            return Ok(());
        }
        let (evals, campaigns, journal) = (
            self.sled_tree("evals")?,
            self.sled_tree("campaigns")?,
            self.sled_tree(&journal_name)?,
        );
        (&evals, &campaigns, &journal)
            .transaction(|(evals, campaigns, journal)| {
                for (tree, key, value) in &commit.ops {
                    let t = match tree {
                        TreeId::Evals => evals,
                        TreeId::Campaigns => campaigns,
                        TreeId::Journal => journal,
                    };
                    match value {
                        Some(v) => {
                            t.insert(key.as_slice(), v.as_slice())?;
                        }
                        None => {
                            t.remove(key.as_slice())?;
                        }
                    }
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => db_err(&self.dir, e),
                TransactionError::Abort(()) => io_err(&self.dir, "a store transaction aborted"),
            })?;
        if self.durable && flush {
            self.flush()?;
        }
        Ok(())
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            dir: self.dir.clone(),
            key: key.to_string(),
            reason: e.to_string(),
        })
    }

    fn get_json<T: DeserializeOwned>(
        &self,
        tree: &str,
        label: &str,
        key: &[u8],
    ) -> Result<Option<T>> {
        match self.kv_get(tree, key)? {
            Some(v) => Ok(Some(self.decode(label, &v)?)),
            None => Ok(None),
        }
    }

    /// Size of the database on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        match &self.backend {
            Backend::Sled { db, .. } => db.size_on_disk().unwrap_or(0),
            Backend::Memory(_) => 0,
        }
    }

    /// Flushes everything written so far.
    pub fn flush(&self) -> Result<()> {
        match &self.backend {
            Backend::Sled { db, .. } => db.flush().map(|_| ()).map_err(|e| db_err(&self.dir, e)),
            Backend::Memory(_) => Ok(()),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.durable {
            let _ = self.flush();
            let pid = std::fs::read_to_string(self.dir.join(PID_FILE)).ok();
            if pid.as_deref().map(str::trim) == Some(&std::process::id().to_string()) {
                let _ = std::fs::remove_file(self.dir.join(PID_FILE));
            }
        }
    }
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            let pid = std::fs::read_to_string(dir.join(PID_FILE))
                .ok()
                .and_then(|s| s.trim().parse().ok());
            StoreError::InUse {
                dir: dir.to_path_buf(),
                pid,
            }
        }
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            io_err(dir, format!("not writable: {io}"))
        }
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            dir: dir.to_path_buf(),
            key: "database".into(),
            reason: format!(
                "sled reports corruption at {at:?}; restore a backup or start a new store"
            ),
        },
        other => db_err(dir, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn a_full_disk_is_said_as_a_sentence_with_what_to_do() {
        let full = sled::Error::Io(std::io::Error::from_raw_os_error(28));
        let e = db_err(Path::new("/data/store"), full).to_string();
        assert!(
            e.starts_with("store /data/store: the disk is full (no space left on device)"),
            "{e}"
        );
        assert!(e.contains("resume") && !e.contains("Os {"), "{e}");
        let other = sled::Error::Io(std::io::Error::other("cable unplugged"));
        let e = db_err(Path::new("s"), other).to_string();
        assert_eq!(e, "store s: input/output error: cable unplugged");
    }

    /// Random commits applied to a sled store (reopened now and then) and to a memory store
    /// read back the same, as a map model says.
    #[test]
    fn sled_and_memory_stores_agree_with_a_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        let memory = Store::temporary().expect("memory store");
        let mut sled_store = Some(Store::open(dir.path()).expect("sled store"));
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for step in 0..300 {
            let mut c = Commit::new();
            for _ in 0..rng.random_range(1..5) {
                let key = vec![b'k', rng.random_range(0..20u8)];
                if rng.random_bool(0.25) {
                    c.remove(TreeId::Campaigns, key.clone());
                    model.remove(&key);
                } else {
                    let v: u32 = rng.random();
                    c.put(TreeId::Campaigns, key.clone(), &v);
                    model.insert(key, serde_json::to_vec(&v).expect("json"));
                }
            }
            memory.commit("m", &c).expect("memory commit");
            sled_store
                .as_ref()
                .expect("open")
                .commit("m", &c)
                .expect("sled commit");
            if step % 50 == 49 {
                // Close (flush and release the lock) before reopening.
                drop(sled_store.take());
                sled_store = Some(Store::open(dir.path()).expect("reopen"));
            }
            let expected: Pairs = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(memory.kv_scan("campaigns", b"k").expect("scan"), expected);
            assert_eq!(
                sled_store
                    .as_ref()
                    .expect("open")
                    .kv_scan("campaigns", b"k")
                    .expect("scan"),
                expected
            );
        }
    }
}
