//! The fuzz targets as a library, for the AFL++ binaries in `src/bin/`.
#[path = "../targets.rs"]
pub mod targets;
