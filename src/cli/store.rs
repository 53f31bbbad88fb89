//! The store folder a command works on (`--store DIR` / `EVONAS_STORE`).

use std::fmt;
use std::path::{Path, PathBuf};

use evonas::store::{Store, StoreError};

use super::args::StoreArgs;

/// The store folder from `--store`: commands that only read open it with
/// [`StoreDir::open_existing`], so a mistyped path is an error rather than a new empty store.
#[derive(Clone, Debug)]
pub struct StoreDir(PathBuf);

impl From<StoreArgs> for StoreDir {
    fn from(a: StoreArgs) -> Self {
        StoreDir(a.store)
    }
}

impl StoreDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The store, created if missing (for commands that write: `search`, `cache import`).
    pub fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.0)?)
    }

    /// The store, which must exist (commands that only read never create one).
    pub fn open_existing(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(&self.0)?)
    }

    /// [`StoreDir::open_existing`] keeping the store's own error, for commands that fall back
    /// to the files a running campaign keeps when another process holds the store
    /// ([`StoreError::InUse`]).
    pub fn try_open_existing(&self) -> Result<Store, StoreError> {
        Store::open_existing(&self.0)
    }
}

impl fmt::Display for StoreDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}
