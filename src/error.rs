//! The crate's error type: each module's errors folded into one enum callers can match on.
//! Functions return their module's own error (it says precisely what can go wrong there); `?`
//! turns any of them into an [`Error`] where a caller mixes modules.

use std::path::PathBuf;

use crate::eval::data::DataError;
use crate::eval::job::JobError;
use crate::eval::registry::SpecError;
use crate::eval::table::TableError;
use crate::eval::train::TrainError;
use crate::export::ExportError;
use crate::ir::doc::DocError;
use crate::ir::GraphError;
use crate::search::config::ConfigError;
use crate::search::SearchError;
use crate::space::doc::ArchDocError;
use crate::space::input::InputError;
use crate::space::SpaceError;
use crate::store::StoreError;

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
    /// Architecture input (files, stdin) could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A campaign config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An `[evaluator]` table does not give an evaluator.
    #[error(transparent)]
    Evaluator(#[from] SpecError),
    /// A benchmark table could not be loaded.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A data set could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A training run produced no result.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// An evaluation job could not be run.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The store failed or holds damaged data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A campaign could not start or continue.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// An export could not be made.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// At most a short, cut excerpt of user input, for quoting it in an error message: a 200 KB
/// file must not be echoed back. Longer text keeps its first 80 characters, then says how long
/// it was.
pub fn excerpt(text: &str) -> String {
    const KEEP: usize = 80;
    let mut chars = text.char_indices();
    match chars.nth(KEEP) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpts_are_short_and_say_how_long_the_input_was() {
        assert_eq!(excerpt("|nor_conv_3x3~0|"), "|nor_conv_3x3~0|");
        let long = "[".repeat(100_000);
        let e = excerpt(&long);
        assert!(e.len() < 120, "{e}");
        assert!(e.ends_with("… (100000 bytes in all)"), "{e}");
        // Cut on a character boundary.
        let wide = "é".repeat(200);
        assert!(excerpt(&wide).starts_with(&"é".repeat(80)));
    }
}
