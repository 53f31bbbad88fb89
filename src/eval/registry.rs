//! Evaluators by name: the `[evaluator]` table of a campaign names a `kind`, and a [`Registry`]
//! turns the table into a `Box<dyn Evaluator>`. The search sees only that box, so a library
//! user or a test adds an evaluator without touching the search:
//!
//! ```
//! use evonas::eval::registry::{typed, EvaluatorSettings, Registry};
//! use evonas::eval::{Evaluator, Outcome, Protocol, Task};
//! use serde::{Deserialize, Serialize};
//!
//! /// Scores a network by its parameter count (smaller is better).
//! #[derive(Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Small {
//!     scale: f64,
//! }
//! impl EvaluatorSettings for Small {}
//!
//! struct SmallEvaluator(Protocol, f64);
//! impl Evaluator for SmallEvaluator {
//!     fn protocol(&self) -> &Protocol {
//!         &self.0
//!     }
//!     fn evaluate(&self, task: &Task<'_>) -> Outcome {
//!         let params = evonas::ir::cost(task.network).params as f64;
//!         Outcome::Done {
//!             fitness: -self.1 * params,
//!             metrics: Default::default(),
//!             curves: Default::default(),
//!             simulated_seconds: 0.0,
//!             wall_seconds: 0.0,
//!         }
//!     }
//! }
//!
//! let mut registry = Registry::builtin();
//! registry.register(typed("small", |s: Small| {
//!     let protocol = Protocol::new(serde_json::json!({ "kind": "small", "scale": s.scale }));
//!     Ok(Box::new(SmallEvaluator(protocol, s.scale)))
//! }));
//! let config = evonas::search::CampaignConfig::parse_with(
//!     "name = \"c\"\nspace = \"nb201\"\n[strategy]\nkind = \"random\"\n\
//!      [budget]\nevaluations = 5\n[evaluator]\nkind = \"small\"\nscale = 2.0\n",
//!     "<doc>",
//!     &registry,
//! )?;
//! assert_eq!(config.evaluator.kind, "small");
//! # Ok::<(), evonas::search::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Evaluator;

/// An evaluator's settings: the `[evaluator]` table without `kind`, in its canonical form
/// (defaults filled in, relative paths resolved). Stored with each campaign.
pub type Settings = serde_json::Map<String, serde_json::Value>;

/// Why an evaluator could not be built from valid settings (missing data, unreadable table).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// Why an `[evaluator]` table is not valid settings. The message names the offending key; the
/// caller adds where the table came from (`c.toml: [evaluator] ...`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// A value is out of range or inconsistent with another key.
    #[error("{key} {problem}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong with it, said after the key (`must be positive, got 0`).
        problem: String,
    },
    /// The table does not decode (an unknown key, a wrong type); serde's message with the
    /// key's path.
    #[error("{0}")]
    Decode(String),
    /// The settings do not serialise back into a table.
    #[error("settings cannot be stored: {0}")]
    Unstorable(String),
    /// No evaluator of that kind is registered.
    #[error("kind {kind:?} is unknown; known kinds: {known}")]
    UnknownKind {
        /// The kind.
        kind: String,
        /// The registry's kinds, comma-separated.
        known: String,
    },
    /// A command that needs one kind of evaluator was given another.
    #[error("kind is {found:?}, this needs kind = {expected:?}")]
    WrongKind {
        /// The table's kind.
        found: String,
        /// The kind the command needs.
        expected: String,
    },
}

impl SettingsError {
    /// `key` is wrong: `problem` says how, after the key's name.
    pub fn invalid(key: &str, problem: impl Into<String>) -> Self {
        SettingsError::Invalid {
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

/// One kind of evaluator: how to read its settings and build it.
pub trait EvaluatorKind: Send + Sync {
    /// The `kind` value that selects it.
    fn kind(&self) -> &str;
    /// Checks `settings`, fills in defaults and resolves relative paths against `base` (the
    /// config file's folder, when there is one): the canonical settings. The message names the
    /// offending key.
    fn normalize(&self, settings: Settings, base: Option<&Path>)
        -> Result<Settings, SettingsError>;
    /// Builds the evaluator from canonical settings.
    fn build(&self, settings: &Settings) -> Result<Box<dyn Evaluator>, BuildError>;
}

/// Settings read with serde: [`typed`] turns a settings type and a constructor into an
/// [`EvaluatorKind`].
pub trait EvaluatorSettings: Serialize + DeserializeOwned {
    /// Range checks serde cannot make.
    fn check(&self) -> Result<(), SettingsError> {
        Ok(())
    }
    /// Makes relative paths relative to `dir` when they do not exist as given.
    fn resolve_relative_to(&mut self, _dir: &Path) {}
}

/// An [`EvaluatorKind`] from a settings type `C` and a constructor.
pub struct Typed<C, F> {
    kind: String,
    build: F,
    settings: PhantomData<fn() -> C>,
}

/// The evaluator kind `kind`, whose settings are a `C` and which `build` constructs.
pub fn typed<C, F>(kind: &str, build: F) -> Typed<C, F>
where
    C: EvaluatorSettings,
    F: Fn(C) -> Result<Box<dyn Evaluator>, BuildError> + Send + Sync,
{
    Typed {
        kind: kind.to_string(),
        build,
        settings: PhantomData,
    }
}

fn decode<C: DeserializeOwned>(settings: Settings) -> Result<C, SettingsError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(settings)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names an unknown key itself; the path would say it twice.
        SettingsError::Decode(if path == "." || inner.starts_with("unknown field") {
            inner
        } else {
            format!("{path}: {inner}")
        })
    })
}

impl<C, F> EvaluatorKind for Typed<C, F>
where
    C: EvaluatorSettings,
    F: Fn(C) -> Result<Box<dyn Evaluator>, BuildError> + Send + Sync,
{
    fn kind(&self) -> &str {
        &self.kind
    }

    fn normalize(
        &self,
        settings: Settings,
        base: Option<&Path>,
    ) -> Result<Settings, SettingsError> {
        let mut c: C = decode(settings)?;
        c.check()?;
        if let Some(dir) = base {
            c.resolve_relative_to(dir);
        }
        match serde_json::to_value(&c) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(other) => Err(SettingsError::Unstorable(format!("not a table: {other}"))),
            Err(e) => Err(SettingsError::Unstorable(e.to_string())),
        }
    }

    fn build(&self, settings: &Settings) -> Result<Box<dyn Evaluator>, BuildError> {
        let c: C = decode(settings.clone())?;
        (self.build)(c)
    }
}

/// `[evaluator]`: a `kind` from the [`Registry`] and its settings. After
/// [`CampaignConfig::parse_with`](crate::search::CampaignConfig::parse_with) the settings are canonical (checked, defaults filled in,
/// relative paths resolved), and that form is what a campaign stores and compares on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorSpec {
    /// The registry name (`nb201-table`, `train`, or one registered by the program).
    pub kind: String,
    /// Every other key of the table.
    #[serde(flatten)]
    pub settings: Settings,
}

impl EvaluatorSpec {
    /// Whether `devices` can be given to this evaluator (training evaluators place one
    /// evaluation on each device; the others run where they are).
    pub fn takes_devices(&self) -> bool {
        self.kind == "train"
    }

    /// This spec with its `devices` set to `devices` (which are not part of the protocol: where
    /// an evaluation runs changes no result). Unchanged when `devices` is empty or the
    /// evaluator does not take devices ([`EvaluatorSpec::takes_devices`]).
    pub fn with_devices(&self, devices: &[String]) -> EvaluatorSpec {
        let mut spec = self.clone();
        if spec.takes_devices() && !devices.is_empty() {
            let list = devices
                .iter()
                .map(|d| serde_json::Value::String(d.clone()))
                .collect();
            spec.settings
                .insert("devices".to_string(), serde_json::Value::Array(list));
        }
        spec
    }

    /// This spec training for `epochs` epochs instead (a rung of successive halving or
    /// Hyperband): `train`'s `epochs`, or the `mock`'s learning-curve `epochs`. Other kinds have
    /// no epochs to vary.
    pub fn at_epochs(&self, epochs: u32) -> Result<EvaluatorSpec, SettingsError> {
        if self.kind != "train" && self.kind != "mock" {
            return Err(SettingsError::invalid(
                "kind",
                format!(
                    "{:?} has no epochs to vary; successive halving and Hyperband need kind = \"train\" (or \"mock\")",
                    self.kind
                ),
            ));
        }
        let mut spec = self.clone();
        spec.settings.insert("epochs".to_string(), epochs.into());
        Ok(spec)
    }

    /// The settings as the type `C`, when `kind` is `expected` (e.g. a command that only
    /// works with training protocols).
    pub fn decode<C: DeserializeOwned>(&self, expected: &str) -> Result<C, SettingsError> {
        if self.kind != expected {
            return Err(SettingsError::WrongKind {
                found: self.kind.clone(),
                expected: expected.to_string(),
            });
        }
        decode(self.settings.clone())
    }

    /// The `[evaluator]` table as JSON (`kind` and the settings).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = self.settings.clone();
        m.insert("kind".into(), self.kind.clone().into());
        serde_json::Value::Object(m)
    }

    /// Builds the evaluator from `registry`.
    pub fn build(&self, registry: &Registry) -> Result<Box<dyn Evaluator>, SpecError> {
        let Some(kind) = registry.get(&self.kind) else {
            return Err(SpecError::UnknownKind {
                kind: self.kind.clone(),
                known: registry.names().join(", "),
            });
        };
        kind.build(&self.settings).map_err(SpecError::Build)
    }

    /// Checks the kind against `registry` and makes the settings canonical.
    pub fn normalize(
        &mut self,
        registry: &Registry,
        base: Option<&Path>,
    ) -> Result<(), SettingsError> {
        let Some(kind) = registry.get(&self.kind) else {
            return Err(SettingsError::UnknownKind {
                kind: self.kind.clone(),
                known: registry.names().join(", "),
            });
        };
        let settings = std::mem::take(&mut self.settings);
        self.settings = kind.normalize(settings, base)?;
        Ok(())
    }
}

/// Why an [`EvaluatorSpec`] does not give an evaluator.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The kind is not in the registry.
    #[error("[evaluator] kind {kind:?} is unknown; known kinds: {known}")]
    UnknownKind {
        /// The kind.
        kind: String,
        /// The registry's kinds.
        known: String,
    },
    /// The evaluator cannot be built (its table or data cannot be loaded).
    #[error("[evaluator] {0}")]
    Build(BuildError),
}

/// Evaluator kinds by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<String, Arc<dyn EvaluatorKind>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl Registry {
    /// No kinds at all.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// The kinds evonas ships: `nb201-table`, `train` and `mock`.
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        r.register(typed("mock", |c: super::mock::MockConfig| {
            Ok(Box::new(super::mock::Mock::new(c)))
        }));
        r.register(typed("nb201-table", |c: super::table::TableConfig| {
            Ok(Box::new(super::table::Nb201Table::load(c)?))
        }));
        r.register(typed("train", |c: super::train::TrainConfig| {
            let e = super::train::TrainEvaluator::new(c).map_err(|e| e.to_string())?;
            Ok(Box::new(e))
        }));
        r.register(typed("zero-cost", |c: super::zero_cost::ZeroCostConfig| {
            Ok(Box::new(super::zero_cost::ZeroCost::new(c)?))
        }));
        r
    }

    /// Adds (or replaces) a kind.
    pub fn register(&mut self, kind: impl EvaluatorKind + 'static) -> &mut Self {
        self.kinds.insert(kind.kind().to_string(), Arc::new(kind));
        self
    }

    /// The kind named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn EvaluatorKind> {
        self.kinds.get(name).map(|k| k.as_ref())
    }

    /// Every registered kind's name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.kinds.keys().map(String::as_str).collect()
    }
}
