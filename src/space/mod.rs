//! Search spaces: what a genotype is, how to sample and mutate one, and how it decodes to IR.
//!
//! Each space family (`nb201`, `nb101`, `nasnet`, `fbnet`) is one module holding its genotype
//! type, its native notation and its decoder; the numbers (ops, node and edge limits, the macro
//! skeleton) come from a TOML file, so a variant needs no Rust. The built-in spaces are the files
//! in `search_spaces/`, embedded at compile time; `--space path/to/file.toml` loads another.
//!
//! [`SearchSpace`] is the typed interface each family implements; [`AnySpace`] and
//! [`AnyGenotype`] wrap the four for code (the CLI, campaigns) that picks a space at run time.

pub mod doc;
pub mod fbnet;
pub mod input;
pub mod nasnet;
pub mod nb101;
pub mod nb201;
pub mod ops;

use std::path::Path;

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::ir::{GraphError, Network};

pub use doc::ArchDocument;

/// Why a space file, a genotype or a decoding is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// No built-in space has this name and no such file exists.
    #[error(
        "unknown space `{name}`; built-in spaces: {known} (or give a path to a space TOML file)"
    )]
    Unknown {
        /// The name given.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// A space TOML file is malformed.
    #[error("space definition {source_name}: {message}")]
    Config {
        /// File path or built-in name.
        source_name: String,
        /// What is wrong, with the key where known.
        message: String,
    },
    /// A genotype in native notation does not parse.
    #[error("space {space}: cannot parse `{input}`: {message}")]
    Parse {
        /// The space.
        space: String,
        /// The offending text.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// A genotype is not valid in its space.
    #[error("space {space}: invalid genotype: {message}")]
    Invalid {
        /// The space.
        space: String,
        /// Why.
        message: String,
    },
    /// A genotype of one space was given to another.
    #[error("a {found} genotype was given to space {expected}")]
    WrongSpace {
        /// The space asked.
        expected: String,
        /// The genotype's family.
        found: &'static str,
    },
    /// The decoded graph is invalid (a bug in a decoder or a space file's numbers).
    #[error("decoding produced an invalid network: {0}")]
    Graph(GraphError),
}

impl From<GraphError> for SpaceError {
    fn from(e: GraphError) -> Self {
        SpaceError::Graph(e)
    }
}

/// Width and depth knobs applied to a space's macro skeleton, so the same genotype can be
/// trained as a small proxy and as the full network.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// Base channels (NB-201 and NASNet: C; NB-101: stem channels; FBNet: stem width, with
    /// every other width scaled in proportion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// Cells per stage (NB-201: N; NB-101: cells per stack; NASNet: normal cells per stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<u32>,
}

impl Knobs {
    /// Whether no knob is set.
    pub fn is_empty(&self) -> bool {
        self.channels.is_none() && self.cells.is_none()
    }
}

/// How many genotypes a space holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Size {
    /// Exactly this many (finite spaces small enough to enumerate).
    Exact(u64),
    /// About `10^x` genotypes.
    Log10(f64),
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Exact(n) => write!(f, "{n}"),
            Size::Log10(x) => write!(f, "~10^{x:.1}"),
        }
    }
}

/// The typed interface of a search space.
///
/// Randomness is always an argument: the same RNG state gives the same samples and mutations.
pub trait SearchSpace {
    /// The space's genotype.
    type Genotype: Clone + PartialEq + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync;

    /// The space's name.
    fn name(&self) -> &str;
    /// A random genotype.
    fn sample(&self, rng: &mut dyn RngCore) -> Self::Genotype;
    /// A mutated copy of `g`, different from it except for an explicit identity mutation.
    fn mutate(&self, g: &Self::Genotype, rng: &mut dyn RngCore) -> Self::Genotype;
    /// The full network of `g`.
    fn decode(&self, g: &Self::Genotype) -> Result<Network, SpaceError>;
    /// Parses the native notation.
    fn parse(&self, text: &str) -> Result<Self::Genotype, SpaceError>;
    /// Prints the native notation (on one line).
    fn format(&self, g: &Self::Genotype) -> String;
    /// The native notation as a JSON value (a string for arch strings).
    fn to_value(&self, g: &Self::Genotype) -> serde_json::Value;
    /// Reads the native notation from a JSON value.
    fn parse_value(&self, v: &serde_json::Value) -> Result<Self::Genotype, SpaceError>;
    /// A text drawing of the cells.
    fn describe(&self, g: &Self::Genotype) -> String;
    /// How many genotypes there are.
    fn size(&self) -> Size;
    /// Every genotype, where the space is finite and small enough.
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Self::Genotype> + Send + '_>>;
}

impl SearchSpace for nb201::Nb201 {
    type Genotype = nb201::Cell;
    fn name(&self) -> &str {
        self.name()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> nb201::Cell {
        self.sample(rng)
    }
    fn mutate(&self, g: &nb201::Cell, rng: &mut dyn RngCore) -> nb201::Cell {
        self.mutate(g, rng)
    }
    fn decode(&self, g: &nb201::Cell) -> Result<Network, SpaceError> {
        if !self.check(g) {
            return Err(SpaceError::Invalid {
                space: self.name().into(),
                message: "wrong number of edges or op index out of range".into(),
            });
        }
        self.decode(g)
    }
    fn parse(&self, text: &str) -> Result<nb201::Cell, SpaceError> {
        self.parse(text)
    }
    fn format(&self, g: &nb201::Cell) -> String {
        self.format(g)
    }
    fn to_value(&self, g: &nb201::Cell) -> serde_json::Value {
        serde_json::Value::String(self.format(g))
    }
    fn parse_value(&self, v: &serde_json::Value) -> Result<nb201::Cell, SpaceError> {
        match v.as_str() {
            Some(s) => self.parse(s),
            None => Err(SpaceError::Parse {
                space: self.name().into(),
                input: v.to_string(),
                message: "expected an arch string".into(),
            }),
        }
    }
    fn describe(&self, g: &nb201::Cell) -> String {
        self.describe(g)
    }
    fn size(&self) -> Size {
        match self.size() {
            Some(n) => Size::Exact(n),
            None => Size::Log10(f64::INFINITY),
        }
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = nb201::Cell> + Send + '_>> {
        Some(Box::new(self.enumerate()))
    }
}

impl SearchSpace for nb101::Nb101 {
    type Genotype = nb101::Cell;
    fn name(&self) -> &str {
        self.name()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> nb101::Cell {
        self.sample(rng)
    }
    fn mutate(&self, g: &nb101::Cell, rng: &mut dyn RngCore) -> nb101::Cell {
        self.mutate(g, rng)
    }
    fn decode(&self, g: &nb101::Cell) -> Result<Network, SpaceError> {
        self.decode(g)
    }
    fn parse(&self, text: &str) -> Result<nb101::Cell, SpaceError> {
        self.parse(text)
    }
    fn format(&self, g: &nb101::Cell) -> String {
        self.format(g)
    }
    fn to_value(&self, g: &nb101::Cell) -> serde_json::Value {
        serde_json::to_value(self.notation(g)).expect("notation serialises")
    }
    fn parse_value(&self, v: &serde_json::Value) -> Result<nb101::Cell, SpaceError> {
        self.parse_value(v)
    }
    fn describe(&self, g: &nb101::Cell) -> String {
        self.describe(g)
    }
    fn size(&self) -> Size {
        Size::Exact(self.enumerate().count() as u64)
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = nb101::Cell> + Send + '_>> {
        Some(Box::new(self.enumerate()))
    }
}

impl SearchSpace for nasnet::NasNet {
    type Genotype = nasnet::Genotype;
    fn name(&self) -> &str {
        self.name()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> nasnet::Genotype {
        self.sample(rng)
    }
    fn mutate(&self, g: &nasnet::Genotype, rng: &mut dyn RngCore) -> nasnet::Genotype {
        self.mutate_detailed(g, rng).0
    }
    fn decode(&self, g: &nasnet::Genotype) -> Result<Network, SpaceError> {
        if !self.check(g) {
            return Err(SpaceError::Invalid {
                space: self.name().into(),
                message: "wrong block count, state or op index".into(),
            });
        }
        self.decode(g)
    }
    fn parse(&self, text: &str) -> Result<nasnet::Genotype, SpaceError> {
        self.parse(text)
    }
    fn format(&self, g: &nasnet::Genotype) -> String {
        self.format(g)
    }
    fn to_value(&self, g: &nasnet::Genotype) -> serde_json::Value {
        serde_json::to_value(self.notation(g)).expect("notation serialises")
    }
    fn parse_value(&self, v: &serde_json::Value) -> Result<nasnet::Genotype, SpaceError> {
        self.parse_value(v)
    }
    fn describe(&self, g: &nasnet::Genotype) -> String {
        self.describe(g)
    }
    fn size(&self) -> Size {
        Size::Log10(self.log10_size())
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = nasnet::Genotype> + Send + '_>> {
        None
    }
}

impl SearchSpace for fbnet::FbNet {
    type Genotype = fbnet::Genotype;
    fn name(&self) -> &str {
        self.name()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> fbnet::Genotype {
        self.sample(rng)
    }
    fn mutate(&self, g: &fbnet::Genotype, rng: &mut dyn RngCore) -> fbnet::Genotype {
        self.mutate(g, rng)
    }
    fn decode(&self, g: &fbnet::Genotype) -> Result<Network, SpaceError> {
        if !self.check(g) {
            return Err(SpaceError::Invalid {
                space: self.name().into(),
                message: "wrong layer count or block index".into(),
            });
        }
        self.decode(g)
    }
    fn parse(&self, text: &str) -> Result<fbnet::Genotype, SpaceError> {
        self.parse(text)
    }
    fn format(&self, g: &fbnet::Genotype) -> String {
        self.format(g)
    }
    fn to_value(&self, g: &fbnet::Genotype) -> serde_json::Value {
        serde_json::to_value(self.names(g)).expect("names serialise")
    }
    fn parse_value(&self, v: &serde_json::Value) -> Result<fbnet::Genotype, SpaceError> {
        self.parse_value(v)
    }
    fn describe(&self, g: &fbnet::Genotype) -> String {
        self.describe(g)
    }
    fn size(&self) -> Size {
        Size::Log10(self.log10_size())
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = fbnet::Genotype> + Send + '_>> {
        None
    }
}

/// A genotype of any family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AnyGenotype {
    /// NAS-Bench-201 cell.
    Nb201(nb201::Cell),
    /// NAS-Bench-101 cell.
    Nb101(nb101::Cell),
    /// NASNet genotype.
    NasNet(nasnet::Genotype),
    /// FBNet genotype.
    FbNet(fbnet::Genotype),
}

impl AnyGenotype {
    fn family(&self) -> &'static str {
        match self {
            AnyGenotype::Nb201(_) => "nb201",
            AnyGenotype::Nb101(_) => "nb101",
            AnyGenotype::NasNet(_) => "nasnet",
            AnyGenotype::FbNet(_) => "fbnet",
        }
    }
}

/// A space of any family, chosen at run time.
#[derive(Clone, Debug)]
pub enum AnySpace {
    /// NAS-Bench-201 family.
    Nb201(nb201::Nb201),
    /// NAS-Bench-101 family.
    Nb101(nb101::Nb101),
    /// NASNet family.
    NasNet(nasnet::NasNet),
    /// FBNet family.
    FbNet(fbnet::FbNet),
}

/// The built-in space files, embedded at compile time: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("nb201", include_str!("../../search_spaces/nb201.toml")),
    ("nb101", include_str!("../../search_spaces/nb101.toml")),
    ("nasnet", include_str!("../../search_spaces/nasnet.toml")),
    ("fbnet", include_str!("../../search_spaces/fbnet.toml")),
    (
        "fbnet-imagenet",
        include_str!("../../search_spaces/fbnet-imagenet.toml"),
    ),
];

macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            AnySpace::Nb201($s) => $body,
            AnySpace::Nb101($s) => $body,
            AnySpace::NasNet($s) => $body,
            AnySpace::FbNet($s) => $body,
        }
    };
}

macro_rules! with_genotype {
    ($self:expr, $g:expr, $s:ident, $x:ident => $body:expr) => {
        match ($self, $g) {
            (AnySpace::Nb201($s), AnyGenotype::Nb201($x)) => Ok($body),
            (AnySpace::Nb101($s), AnyGenotype::Nb101($x)) => Ok($body),
            (AnySpace::NasNet($s), AnyGenotype::NasNet($x)) => Ok($body),
            (AnySpace::FbNet($s), AnyGenotype::FbNet($x)) => Ok($body),
            (space, g) => Err(SpaceError::WrongSpace {
                expected: space.name().to_string(),
                found: g.family(),
            }),
        }
    };
}

#[derive(Deserialize)]
struct FamilyOnly {
    family: Option<String>,
}

impl AnySpace {
    /// A built-in space by name.
    pub fn builtin(name: &str) -> Result<AnySpace, SpaceError> {
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => AnySpace::from_toml(text, n),
            None => Err(SpaceError::Unknown {
                name: name.to_string(),
                known: builtin_names(),
            }),
        }
    }

    /// A built-in space by name, or a space TOML file by path.
    pub fn load(name_or_path: &str) -> Result<AnySpace, SpaceError> {
        if BUILTIN.iter().any(|(n, _)| *n == name_or_path) {
            return AnySpace::builtin(name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| SpaceError::Config {
                source_name: name_or_path.to_string(),
                message: format!("cannot read the file: {e}"),
            })?;
            return AnySpace::from_toml(&text, name_or_path);
        }
        Err(SpaceError::Unknown {
            name: name_or_path.to_string(),
            known: builtin_names(),
        })
    }

    /// Parses a space TOML; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<AnySpace, SpaceError> {
        let err = |message: String| SpaceError::Config {
            source_name: source_name.to_string(),
            message,
        };
        let head: FamilyOnly = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let family = head
            .family
            .ok_or_else(|| err("missing key `family` (nb201, nb101, nasnet or fbnet)".into()))?;
        let parse = |e: toml::de::Error| err(e.to_string());
        match family.as_str() {
            "nb201" => nb201::Nb201::from_config(toml::from_str(text).map_err(parse)?)
                .map(AnySpace::Nb201)
                .map_err(err),
            "nb101" => nb101::Nb101::from_config(toml::from_str(text).map_err(parse)?)
                .map(AnySpace::Nb101)
                .map_err(err),
            "nasnet" => nasnet::NasNet::from_config(toml::from_str(text).map_err(parse)?)
                .map(AnySpace::NasNet)
                .map_err(err),
            "fbnet" => fbnet::FbNet::from_config(toml::from_str(text).map_err(parse)?)
                .map(AnySpace::FbNet)
                .map_err(err),
            other => Err(err(format!(
                "unknown family `{other}`; expected nb201, nb101, nasnet or fbnet"
            ))),
        }
    }

    /// The space's name.
    pub fn name(&self) -> &str {
        dispatch!(self, s => s.name())
    }

    /// The family (`nb201`, `nb101`, `nasnet`, `fbnet`).
    pub fn family(&self) -> &'static str {
        match self {
            AnySpace::Nb201(_) => "nb201",
            AnySpace::Nb101(_) => "nb101",
            AnySpace::NasNet(_) => "nasnet",
            AnySpace::FbNet(_) => "fbnet",
        }
    }

    /// One-line description.
    pub fn description(&self) -> &str {
        dispatch!(self, s => s.description())
    }

    /// The space for another input shape and class count (a training data set's).
    pub fn with_io(&self, input: [u32; 3], classes: u32) -> AnySpace {
        match self {
            AnySpace::Nb201(s) => AnySpace::Nb201(s.with_io(input, classes)),
            AnySpace::Nb101(s) => AnySpace::Nb101(s.with_io(input, classes)),
            AnySpace::NasNet(s) => AnySpace::NasNet(s.with_io(input, classes)),
            AnySpace::FbNet(s) => AnySpace::FbNet(s.with_io(input, classes)),
        }
    }

    /// The space with width/depth knobs applied.
    pub fn with_knobs(&self, k: &Knobs) -> AnySpace {
        match self {
            AnySpace::Nb201(s) => AnySpace::Nb201(s.with_knobs(k)),
            AnySpace::Nb101(s) => AnySpace::Nb101(s.with_knobs(k)),
            AnySpace::NasNet(s) => AnySpace::NasNet(s.with_knobs(k)),
            AnySpace::FbNet(s) => AnySpace::FbNet(s.with_knobs(k)),
        }
    }

    /// How many genotypes there are.
    pub fn size(&self) -> Size {
        dispatch!(self, s => SearchSpace::size(s))
    }

    /// A random genotype.
    pub fn sample(&self, rng: &mut dyn RngCore) -> AnyGenotype {
        match self {
            AnySpace::Nb201(s) => AnyGenotype::Nb201(s.sample(rng)),
            AnySpace::Nb101(s) => AnyGenotype::Nb101(s.sample(rng)),
            AnySpace::NasNet(s) => AnyGenotype::NasNet(s.sample(rng)),
            AnySpace::FbNet(s) => AnyGenotype::FbNet(s.sample(rng)),
        }
    }

    /// A mutated copy of `g`.
    pub fn mutate(
        &self,
        g: &AnyGenotype,
        rng: &mut dyn RngCore,
    ) -> Result<AnyGenotype, SpaceError> {
        match (self, g) {
            (AnySpace::Nb201(s), AnyGenotype::Nb201(x)) => Ok(AnyGenotype::Nb201(s.mutate(x, rng))),
            (AnySpace::Nb101(s), AnyGenotype::Nb101(x)) => Ok(AnyGenotype::Nb101(s.mutate(x, rng))),
            (AnySpace::NasNet(s), AnyGenotype::NasNet(x)) => {
                Ok(AnyGenotype::NasNet(SearchSpace::mutate(s, x, rng)))
            }
            (AnySpace::FbNet(s), AnyGenotype::FbNet(x)) => Ok(AnyGenotype::FbNet(s.mutate(x, rng))),
            (space, g) => Err(SpaceError::WrongSpace {
                expected: space.name().to_string(),
                found: g.family(),
            }),
        }
    }

    /// The full network of `g`.
    pub fn decode(&self, g: &AnyGenotype) -> Result<Network, SpaceError> {
        with_genotype!(self, g, s, x => SearchSpace::decode(s, x)?)
    }

    /// Parses the native notation.
    pub fn parse(&self, text: &str) -> Result<AnyGenotype, SpaceError> {
        Ok(match self {
            AnySpace::Nb201(s) => AnyGenotype::Nb201(s.parse(text)?),
            AnySpace::Nb101(s) => AnyGenotype::Nb101(s.parse(text)?),
            AnySpace::NasNet(s) => AnyGenotype::NasNet(s.parse(text)?),
            AnySpace::FbNet(s) => AnyGenotype::FbNet(s.parse(text)?),
        })
    }

    /// Reads the native notation from a JSON value.
    pub fn parse_value(&self, v: &serde_json::Value) -> Result<AnyGenotype, SpaceError> {
        Ok(match self {
            AnySpace::Nb201(s) => AnyGenotype::Nb201(SearchSpace::parse_value(s, v)?),
            AnySpace::Nb101(s) => AnyGenotype::Nb101(SearchSpace::parse_value(s, v)?),
            AnySpace::NasNet(s) => AnyGenotype::NasNet(SearchSpace::parse_value(s, v)?),
            AnySpace::FbNet(s) => AnyGenotype::FbNet(SearchSpace::parse_value(s, v)?),
        })
    }

    /// Prints the native notation on one line.
    pub fn format(&self, g: &AnyGenotype) -> Result<String, SpaceError> {
        with_genotype!(self, g, s, x => SearchSpace::format(s, x))
    }

    /// The native notation as a JSON value.
    pub fn to_value(&self, g: &AnyGenotype) -> Result<serde_json::Value, SpaceError> {
        with_genotype!(self, g, s, x => SearchSpace::to_value(s, x))
    }

    /// A text drawing of the cells.
    pub fn describe(&self, g: &AnyGenotype) -> Result<String, SpaceError> {
        with_genotype!(self, g, s, x => SearchSpace::describe(s, x))
    }

    /// Every genotype, for finite spaces small enough to list.
    pub fn enumerate(&self) -> Option<Box<dyn Iterator<Item = AnyGenotype> + Send + '_>> {
        match self {
            AnySpace::Nb201(s) => Some(Box::new(s.enumerate().map(AnyGenotype::Nb201))),
            AnySpace::Nb101(s) => Some(Box::new(s.enumerate().map(AnyGenotype::Nb101))),
            AnySpace::NasNet(_) | AnySpace::FbNet(_) => None,
        }
    }
}

/// Comma-separated built-in space names.
pub fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A uniformly random value in `0..n` other than `current` (`n >= 2`; with `n < 2`, `current`).
pub(crate) fn pick_other(rng: &mut dyn RngCore, n: u8, current: u8) -> u8 {
    if n < 2 {
        return current;
    }
    let r = rng.random_range(0..n - 1);
    if r >= current {
        r + 1
    } else {
        r
    }
}

/// Parses JSON, turning errors into a [`SpaceError::Parse`] that names the path.
pub(crate) fn parse_json_named<T: serde::de::DeserializeOwned>(
    text: &str,
    space: &str,
) -> Result<T, SpaceError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| SpaceError::Parse {
        space: space.to_string(),
        input: text.to_string(),
        message: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("at `{}`: {}", e.path(), e.inner())
        },
    })
}
