//! The crate's error type: each module's errors folded into one enum callers can match on.

use std::path::PathBuf;

use crate::ir::doc::DocError;
use crate::ir::GraphError;
use crate::space::doc::ArchDocError;
use crate::space::SpaceError;

/// Any evonas error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An invalid network graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// An invalid network document.
    #[error(transparent)]
    NetworkDoc(#[from] DocError),
    /// A space, genotype or decoding problem.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// An architecture document problem.
    #[error(transparent)]
    ArchDoc(#[from] ArchDocError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
