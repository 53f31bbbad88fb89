//! The NAS-Bench-201 table evaluator: looks a cell up in the benchmark's published results
//! instead of training it, and charges the simulated training time the benchmark reports.
//!
//! Reads two CSV files from a folder (the format of `../shared/data/nb201/`):
//! `nb201_cifar10_valid_200ep.csv` (the `cifar10-valid` setting: validation accuracy and
//! per-epoch training time) and `nb201_test_acc_200ep.csv` (test accuracy on CIFAR-10, CIFAR-100
//! and ImageNet16-120). Fitness is the validation accuracy for `cifar10-valid`; these files hold
//! no validation split for CIFAR-100 and ImageNet16-120, so there the fitness is their test
//! accuracy, and the simulated time is the CIFAR-10 one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{Evaluator, FailureKind, Outcome, Protocol, Task};
use crate::space::nb201::Nb201;
use crate::space::SearchSpace;

/// File with the `cifar10-valid` setting.
pub const VALID_FILE: &str = "nb201_cifar10_valid_200ep.csv";
/// File with the test accuracies.
pub const TEST_FILE: &str = "nb201_test_acc_200ep.csv";

/// Which benchmark setting gives the fitness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dataset {
    /// Train on half of CIFAR-10's training set, validate on the other half.
    #[default]
    #[serde(rename = "cifar10-valid")]
    Cifar10Valid,
    /// CIFAR-100 (fitness: test accuracy; no validation split in the files).
    #[serde(rename = "cifar100")]
    Cifar100,
    /// ImageNet16-120 (fitness: test accuracy; no validation split in the files).
    #[serde(rename = "imagenet16")]
    ImageNet16,
}

fn twelve() -> f64 {
    12.0
}

/// `[evaluator]` keys for `kind = "nb201-table"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Folder holding the two CSV files.
    pub path: PathBuf,
    /// Setting that gives the fitness.
    #[serde(default)]
    pub dataset: Dataset,
    /// Standard deviation of Gaussian noise added to the fitness, in accuracy points.
    #[serde(default)]
    pub noise: f64,
    /// Seed of the noise stream (independent of the search seed).
    #[serde(default)]
    pub noise_seed: u64,
    /// Epochs charged per real evaluation (NAS-Bench-201's search baselines charge 12).
    #[serde(default = "twelve")]
    pub sim_epochs: f64,
}

impl crate::eval::registry::EvaluatorSettings for TableConfig {
    fn resolve_relative_to(&mut self, dir: &std::path::Path) {
        if self.path.is_relative() && !self.path.exists() {
            let alt = dir.join(&self.path);
            if alt.exists() {
                self.path = alt;
            }
        }
    }
}

/// Why the table cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A file is missing or unreadable.
    #[error("{}: {source} (point [evaluator] path at a folder holding {VALID_FILE} and {TEST_FILE})", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are wrong.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A setting is out of range.
    #[error("[evaluator] {0}")]
    Config(String),
}

/// One cell's figures, as the two table files give them (all finite).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Row {
    /// `cifar10-valid` validation accuracy.
    pub valid: f64,
    /// Training seconds per epoch.
    pub epoch_seconds: f64,
    /// CIFAR-10 test accuracy.
    pub test_c10: f64,
    /// CIFAR-100 test accuracy.
    pub test_c100: f64,
    /// ImageNet16-120 test accuracy.
    pub test_im16: f64,
}

/// One row as the evaluator reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// Fitness for the configured dataset.
    pub fitness: f64,
    /// Reported metrics.
    pub metrics: Vec<(&'static str, f64)>,
    /// Simulated training seconds one evaluation costs.
    pub simulated_seconds: f64,
}

/// The loaded table.
#[derive(Debug)]
pub struct Nb201Table {
    rows: HashMap<String, Row>,
    config: TableConfig,
    protocol: Protocol,
}

fn read(path: &Path) -> Result<(String, Vec<u8>), TableError> {
    let bytes =
        crate::limits::read(path, crate::limits::Input::Text).map_err(|source| TableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| TableError::Malformed {
        path: path.to_path_buf(),
        line: 0,
        message: "not UTF-8 text".into(),
    })?;
    Ok((text, bytes))
}

/// Splits a CSV line (no quoting in these files) and finds named columns in the header.
struct Columns {
    index: Vec<usize>,
}

impl Columns {
    fn find(header: &str, names: &[&str], path: &Path) -> Result<Self, TableError> {
        let cols: Vec<&str> = header.trim_end_matches('\r').split(',').collect();
        let index = names
            .iter()
            .map(|n| {
                cols.iter()
                    .position(|c| c == n)
                    .ok_or_else(|| TableError::Malformed {
                        path: path.to_path_buf(),
                        line: 1,
                        message: format!("missing column `{n}` in the header"),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Columns { index })
    }

    fn row<'a>(&self, line: &'a str) -> Option<Vec<&'a str>> {
        let fields: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
        self.index.iter().map(|&i| fields.get(i).copied()).collect()
    }
}

/// Finds the named columns of CSV `text` (read from `path`, for messages) and calls `each` with
/// the 1-based line number and those columns of every non-empty data row.
fn rows_of(
    text: &str,
    path: &Path,
    names: &[&str],
    mut each: impl FnMut(usize, &[&str]) -> Result<(), TableError>,
) -> Result<(), TableError> {
    let mut lines = text.lines();
    let cols = Columns::find(lines.next().unwrap_or_default(), names, path)?;
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let n = i + 2;
        let f = cols.row(line).ok_or_else(|| TableError::Malformed {
            path: path.to_path_buf(),
            line: n,
            message: "too few columns".into(),
        })?;
        each(n, &f)?;
    }
    Ok(())
}

/// The rows of the two table files (their texts, and paths for messages): every cell of the test
/// file must be in the validation file.
pub fn parse_tables(
    valid: &str,
    valid_path: &Path,
    test: &str,
    test_path: &Path,
) -> Result<HashMap<String, Row>, TableError> {
    let mut rows: HashMap<String, Row> = HashMap::with_capacity(16_000);
    rows_of(
        valid,
        valid_path,
        &["arch_str", "valid-accuracy", "train-per-time"],
        |n, f| {
            let row = rows.entry(f[0].to_string()).or_default();
            row.valid = number(f[1], valid_path, n, "valid-accuracy")?;
            row.epoch_seconds = number(f[2], valid_path, n, "train-per-time")?;
            Ok(())
        },
    )?;
    rows_of(
        test,
        test_path,
        &["arch", "cifar10_test", "cifar100_test", "imagenet16_test"],
        |n, f| {
            let Some(row) = rows.get_mut(f[0]) else {
                return Err(TableError::Malformed {
                    path: test_path.to_path_buf(),
                    line: n,
                    message: format!("cell `{}` is not in {VALID_FILE}", f[0]),
                });
            };
            row.test_c10 = number(f[1], test_path, n, "cifar10_test")?;
            row.test_c100 = number(f[2], test_path, n, "cifar100_test")?;
            row.test_im16 = number(f[3], test_path, n, "imagenet16_test")?;
            Ok(())
        },
    )?;
    Ok(rows)
}

fn number(s: &str, path: &Path, line: usize, what: &str) -> Result<f64, TableError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| TableError::Malformed {
            path: path.to_path_buf(),
            line,
            message: format!("`{what}` is `{s}`, not a finite number"),
        })
}

impl Nb201Table {
    /// Loads the two CSV files of `config.path`.
    pub fn load(config: TableConfig) -> Result<Self, TableError> {
        if !(config.noise.is_finite() && config.noise >= 0.0) {
            return Err(TableError::Config(format!(
                "noise must be a non-negative number, got {}",
                config.noise
            )));
        }
        if !(config.sim_epochs.is_finite() && config.sim_epochs > 0.0) {
            return Err(TableError::Config(format!(
                "sim_epochs must be positive, got {}",
                config.sim_epochs
            )));
        }
        let valid_path = config.path.join(VALID_FILE);
        let test_path = config.path.join(TEST_FILE);
        let (valid, valid_bytes) = read(&valid_path)?;
        let (test, test_bytes) = read(&test_path)?;
        let rows = parse_tables(&valid, &valid_path, &test, &test_path)?;
        if rows.is_empty() {
            return Err(TableError::Malformed {
                path: valid_path,
                line: 1,
                message: "no rows".into(),
            });
        }
        let mut table_digest = blake3::Hasher::new();
        table_digest.update(&valid_bytes);
        table_digest.update(&test_bytes);
        // The table's final figures: full fidelity.
        let protocol = Protocol::new(serde_json::json!({
            "kind": "nb201-table",
            "dataset": config.dataset,
            "noise": config.noise,
            "noise_seed": if config.noise > 0.0 { config.noise_seed } else { 0 },
            "sim_epochs": config.sim_epochs,
            "table": table_digest.finalize().to_hex().to_string(),
        }));
        Ok(Nb201Table {
            rows,
            config,
            protocol,
        })
    }

    /// Number of cells in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Looks up an arch string, without noise.
    pub fn lookup(&self, arch: &str) -> Option<Lookup> {
        let r = self.rows.get(arch)?;
        let simulated_seconds = self.config.sim_epochs * r.epoch_seconds;
        let (fitness, metrics) = match self.config.dataset {
            Dataset::Cifar10Valid => (
                r.valid,
                vec![("valid_accuracy", r.valid), ("test_accuracy", r.test_c10)],
            ),
            Dataset::Cifar100 => (r.test_c100, vec![("test_accuracy", r.test_c100)]),
            Dataset::ImageNet16 => (r.test_im16, vec![("test_accuracy", r.test_im16)]),
        };
        Some(Lookup {
            fitness,
            metrics,
            simulated_seconds,
        })
    }

    /// The best fitness and best reported test accuracy in the table (the oracle).
    pub fn optimum(&self) -> (f64, f64) {
        let mut best = (f64::MIN, f64::MIN);
        for r in self.rows.keys().filter_map(|a| self.lookup(a)) {
            best.0 = best.0.max(r.fitness);
            let test = r
                .metrics
                .iter()
                .find(|(k, _)| *k == "test_accuracy")
                .map_or(0.0, |x| x.1);
            best.1 = best.1.max(test);
        }
        best
    }

    fn noise(&self, arch: &str, repeat: u32) -> f64 {
        if self.config.noise == 0.0 {
            return 0.0;
        }
        let mut h = blake3::Hasher::new();
        h.update(&self.config.noise_seed.to_le_bytes());
        h.update(arch.as_bytes());
        h.update(&repeat.to_le_bytes());
        let mut seed = [0u8; 32];
        seed.copy_from_slice(h.finalize().as_bytes());
        let mut rng = rand_chacha::ChaCha8Rng::from_seed(seed);
        // Box-Muller.
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        self.config.noise * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

impl Evaluator for Nb201Table {
    fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    fn evaluate(&self, task: &Task<'_>) -> Outcome {
        let start = Instant::now();
        // The table is keyed by NAS-Bench-201 arch strings, so only that family's notation can
        // be looked up; a variant nb201 space (other ops) simply misses the table below.
        if task.space.family() != <Nb201 as SearchSpace>::FAMILY {
            return Outcome::failed(
                FailureKind::Unsupported,
                format!(
                    "the nb201-table evaluator only knows NAS-Bench-201 cells, not space {}",
                    task.space.name()
                ),
            );
        }
        let arch = match task.space.format(task.genotype) {
            Ok(a) => a,
            Err(e) => return Outcome::failed(FailureKind::Unsupported, e.to_string()),
        };
        match self.lookup(&arch) {
            None => Outcome::failed(
                FailureKind::NotInTable,
                format!("cell {arch} is not in the NAS-Bench-201 table"),
            ),
            Some(Lookup {
                fitness,
                metrics,
                simulated_seconds,
            }) => Outcome::Done {
                fitness: fitness + self.noise(&arch, task.repeat),
                metrics: metrics
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                curves: Default::default(),
                simulated_seconds,
                wall_seconds: start.elapsed().as_secs_f64(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "arch_str,valid-accuracy,train-per-time\n|a|,90.5,7.2\n";
    const TEST: &str = "arch,cifar10_test,cifar100_test,imagenet16_test\n|a|,91,70,40\n";

    fn error(valid: &str, test: &str) -> String {
        parse_tables(valid, Path::new("v.csv"), test, Path::new("t.csv"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_table_files_name_the_file_line_and_column() {
        let rows = parse_tables(VALID, Path::new("v.csv"), TEST, Path::new("t.csv")).unwrap();
        assert_eq!(rows["|a|"].valid, 90.5);
        assert_eq!(rows["|a|"].test_im16, 40.0);
        let e = error("arch_str,valid-accuracy\n", TEST);
        assert!(
            e.contains("v.csv") && e.contains("missing column `train-per-time`"),
            "{e}"
        );
        let e = error(&VALID.replace("90.5", "NaN"), TEST);
        assert!(
            e.contains("v.csv:2: `valid-accuracy` is `NaN`, not a finite number"),
            "{e}"
        );
        let e = error(VALID, &TEST.replace("|a|", "|b|"));
        assert!(
            e.contains("t.csv") && e.contains("cell `|b|` is not in"),
            "{e}"
        );
        let e = error("arch_str,valid-accuracy,train-per-time\n|a|,1\n", TEST);
        assert!(e.contains("too few columns"), "{e}");
    }
}
