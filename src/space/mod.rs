//! Search spaces: what a genotype is, how to sample and mutate one, and how it decodes to IR.
//!
//! Each space family (`nb201`, `nb101`, `nasnet`, `fbnet`) is one module holding its genotype
//! type, its native notation and its decoder; the numbers (ops, node and edge limits, the macro
//! skeleton) come from a TOML file, so a variant needs no Rust. The built-in spaces are the files
//! in `search_spaces/`, embedded at compile time; `--space path/to/file.toml` loads another.
//!
//! [`SearchSpace`] is the typed interface each family implements, in its own file: building the
//! space from its TOML, `with_io`, `with_knobs`, sampling, mutation, notation, decoding, size and
//! enumeration. [`AnySpace`] and [`AnyGenotype`] are the run-time choice of family (the CLI,
//! campaigns, documents); they and their dispatch are generated once, by the `families!`
//! invocation below, and reach a family only through `SearchSpace`.
//!
//! Adding a family: write its file (a genotype type of its own and `impl SearchSpace`, with
//! `FAMILY` the `family` key its space files use), declare it with `pub mod` here, and add one
//! line to `families!`. Nothing else in the crate matches on the family; a built-in space file
//! for it, if wanted, is an entry in [`BUILTIN`].

pub mod doc;
pub mod fbnet;
pub mod input;
pub mod nasnet;
pub mod nb101;
pub mod nb201;
pub mod ops;
pub mod pyliteral;

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
    #[error(
        "space {space}: cannot parse `{}`: {message}",
        crate::error::excerpt(input)
    )]
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
    /// The network has no functional hash of the version asked for.
    #[error("cannot hash the network: {0}")]
    Hash(#[from] crate::hash::functional::VersionError),
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

/// Checks a skeleton's sizes against limits far above any real network (the knob limits for
/// channels and cells, at most 16 stages, inputs up to 4096 per side and channel count, a
/// million classes), so a space file cannot ask for a network no machine could build.
pub(crate) fn check_skeleton(
    input: [u32; 3],
    classes: u32,
    widths: &[u32],
    stages: u32,
    cells: u32,
) -> Result<(), SpaceFileError> {
    let bad = |what: &str, value: u32, max: u32| {
        Err(SpaceFileError::invalid(
            "skeleton",
            format!("{what} = {value}: must be at most {max}"),
        ))
    };
    if let Some(&v) = input.iter().find(|&&v| v > 4096) {
        return bad("an input size", v, 4096);
    }
    if classes > 1_000_000 {
        return bad("classes", classes, 1_000_000);
    }
    if let Some(&w) = widths.iter().find(|&&w| w > MAX_CHANNELS) {
        return bad("a channel count", w, MAX_CHANNELS);
    }
    if stages > 16 {
        return bad("stages", stages, 16);
    }
    if cells > MAX_CELLS {
        return bad("cells per stage", cells, MAX_CELLS);
    }
    Ok(())
}

/// The largest `channels` knob: a wider skeleton has more parameters than any machine holds
/// (an NB-201 network at C = 4096 already has ~10^10).
pub const MAX_CHANNELS: u32 = 4096;
/// The largest `cells` knob (the published skeletons use 5 to 20).
pub const MAX_CELLS: u32 = 256;

/// A knob out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    /// `channels` is 0 or above [`MAX_CHANNELS`].
    #[error("channels = {0}: must be between 1 and {MAX_CHANNELS} (a larger network would not fit in memory)")]
    Channels(u32),
    /// `cells` is 0 or above [`MAX_CELLS`].
    #[error("cells = {0}: must be between 1 and {MAX_CELLS}")]
    Cells(u32),
}

impl Knobs {
    /// Whether no knob is set.
    pub fn is_empty(&self) -> bool {
        self.channels.is_none() && self.cells.is_none()
    }

    /// Refuses knobs that give no network (0) or a network of absurd size, before anything
    /// is decoded or printed.
    pub fn check(&self) -> Result<(), KnobError> {
        if let Some(c) = self.channels.filter(|c| !(1..=MAX_CHANNELS).contains(c)) {
            return Err(KnobError::Channels(c));
        }
        if let Some(n) = self.cells.filter(|n| !(1..=MAX_CELLS).contains(n)) {
            return Err(KnobError::Cells(n));
        }
        Ok(())
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

/// What is wrong with the contents of a space file; the caller adds the file's name
/// ([`SpaceError::Config`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpaceFileError {
    /// The TOML does not read as the family's config (syntax, an unknown key, a wrong type).
    #[error("{0}")]
    Toml(String),
    /// A value is out of range or inconsistent with another.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key (`nodes`, `skeleton`, `ops[2] (avg_pool_3x3).kernel`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl SpaceFileError {
    /// `key` is wrong: `problem` says how.
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        SpaceFileError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// The same error with `prefix` before its key (an op's position in `ops`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            SpaceFileError::Invalid { key, problem } => SpaceFileError::Invalid {
                key: format!("{prefix}.{key}"),
                problem,
            },
            other => other,
        }
    }
}

/// The typed interface of a search space: everything the rest of the crate asks of a family.
///
/// Each family implements it in its own file; [`AnySpace`] reaches every family through it
/// alone, so a method a caller needs from "some space" belongs here, not in a match on the family.
/// Randomness is always an argument: the same RNG state gives the same samples and mutations.
pub trait SearchSpace: Clone + std::fmt::Debug + Send + Sync + Sized {
    /// The space's genotype.
    type Genotype: Clone + PartialEq + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync;
    /// The TOML form of a space file of this family, checked by [`SearchSpace::from_config`].
    type Config: serde::de::DeserializeOwned;
    /// The `family` key that selects this family in a space file; also the name
    /// [`AnySpace::family`] and wrong-space errors give.
    const FAMILY: &'static str;

    /// Builds the space from its parsed TOML, or says what is wrong with it.
    fn from_config(config: Self::Config) -> Result<Self, SpaceFileError>;
    /// Parses a space file of this family (its `family` key already matched).
    fn from_toml(text: &str) -> Result<Self, SpaceFileError> {
        let config = toml::from_str(text)
            .map_err(|e: toml::de::Error| SpaceFileError::Toml(e.to_string()))?;
        Self::from_config(config)
    }
    /// The space's name.
    fn name(&self) -> &str;
    /// One-line description.
    fn description(&self) -> &str;
    /// The space for another input shape (`[channels, height, width]`) and class count, as a
    /// data set requires.
    fn with_io(&self, input: [u32; 3], classes: u32) -> Self;
    /// The space with width/depth knobs applied to its macro skeleton.
    fn with_knobs(&self, k: &Knobs) -> Self;
    /// A random genotype.
    fn sample(&self, rng: &mut dyn RngCore) -> Self::Genotype;
    /// A mutated copy of `g`, different from it except for an explicit identity mutation.
    fn mutate(&self, g: &Self::Genotype, rng: &mut dyn RngCore) -> Self::Genotype;
    /// The full network of `g`, or an error if `g` does not fit this space.
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

/// Ties a family to its variants of [`AnySpace`] and [`AnyGenotype`]. Only `families!`
/// implements it, so the variants and the family types cannot drift apart.
trait Registered: SearchSpace {
    fn into_any(self) -> AnySpace;
    fn genotype_into_any(g: Self::Genotype) -> AnyGenotype;
    fn genotype_of(g: &AnyGenotype) -> Option<&Self::Genotype>;
}

/// [`SearchSpace`] in terms of [`AnySpace`] and [`AnyGenotype`], object-safe so that
/// `families!` needs one match (`AnySpace::as_dyn`) and `AnySpace`'s methods are written once
/// for every family, by the blanket impl below.
trait DynSpace {
    fn family(&self) -> &'static str;
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    fn with_io(&self, input: [u32; 3], classes: u32) -> AnySpace;
    fn with_knobs(&self, k: &Knobs) -> AnySpace;
    fn size(&self) -> Size;
    fn sample(&self, rng: &mut dyn RngCore) -> AnyGenotype;
    fn mutate(&self, g: &AnyGenotype, rng: &mut dyn RngCore) -> Result<AnyGenotype, SpaceError>;
    fn decode(&self, g: &AnyGenotype) -> Result<Network, SpaceError>;
    fn parse(&self, text: &str) -> Result<AnyGenotype, SpaceError>;
    fn parse_value(&self, v: &serde_json::Value) -> Result<AnyGenotype, SpaceError>;
    fn format(&self, g: &AnyGenotype) -> Result<String, SpaceError>;
    fn to_value(&self, g: &AnyGenotype) -> Result<serde_json::Value, SpaceError>;
    fn describe(&self, g: &AnyGenotype) -> Result<String, SpaceError>;
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = AnyGenotype> + Send + '_>>;
}

/// `g` as a genotype of `space`'s family, or the error saying whose genotype it is.
fn own<'g, S: Registered>(space: &S, g: &'g AnyGenotype) -> Result<&'g S::Genotype, SpaceError> {
    S::genotype_of(g).ok_or_else(|| SpaceError::WrongSpace {
        expected: space.name().to_string(),
        found: g.family(),
    })
}

impl<S: Registered> DynSpace for S {
    fn family(&self) -> &'static str {
        S::FAMILY
    }
    fn name(&self) -> &str {
        SearchSpace::name(self)
    }
    fn description(&self) -> &str {
        SearchSpace::description(self)
    }
    fn with_io(&self, input: [u32; 3], classes: u32) -> AnySpace {
        SearchSpace::with_io(self, input, classes).into_any()
    }
    fn with_knobs(&self, k: &Knobs) -> AnySpace {
        SearchSpace::with_knobs(self, k).into_any()
    }
    fn size(&self) -> Size {
        SearchSpace::size(self)
    }
    fn sample(&self, rng: &mut dyn RngCore) -> AnyGenotype {
        S::genotype_into_any(SearchSpace::sample(self, rng))
    }
    fn mutate(&self, g: &AnyGenotype, rng: &mut dyn RngCore) -> Result<AnyGenotype, SpaceError> {
        let child = SearchSpace::mutate(self, own(self, g)?, rng);
        Ok(S::genotype_into_any(child))
    }
    fn decode(&self, g: &AnyGenotype) -> Result<Network, SpaceError> {
        SearchSpace::decode(self, own(self, g)?)
    }
    fn parse(&self, text: &str) -> Result<AnyGenotype, SpaceError> {
        SearchSpace::parse(self, text).map(S::genotype_into_any)
    }
    fn parse_value(&self, v: &serde_json::Value) -> Result<AnyGenotype, SpaceError> {
        SearchSpace::parse_value(self, v).map(S::genotype_into_any)
    }
    fn format(&self, g: &AnyGenotype) -> Result<String, SpaceError> {
        Ok(SearchSpace::format(self, own(self, g)?))
    }
    fn to_value(&self, g: &AnyGenotype) -> Result<serde_json::Value, SpaceError> {
        Ok(SearchSpace::to_value(self, own(self, g)?))
    }
    fn describe(&self, g: &AnyGenotype) -> Result<String, SpaceError> {
        Ok(SearchSpace::describe(self, own(self, g)?))
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = AnyGenotype> + Send + '_>> {
        let all = SearchSpace::enumerate(self)?;
        Some(Box::new(all.map(S::genotype_into_any)))
    }
}

/// Generates, from one list of `Variant(module::SpaceType)` lines, everything that depends on
/// the set of families: the [`AnySpace`] and [`AnyGenotype`] enums (variants in list order, so
/// their derived `Hash` and `Debug` stay as they were), [`FAMILIES`], the [`Registered`] impls,
/// and the two matches that reach a family (`AnySpace::as_dyn`, `AnyGenotype::family`) and the
/// family lookup of a space file (`AnySpace::from_family`).
macro_rules! families {
    ($( $(#[$doc:meta])* $variant:ident($space:ty), )+) => {
        /// A genotype of any registered family.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum AnyGenotype {
            $( $(#[$doc])* $variant(<$space as SearchSpace>::Genotype), )+
        }

        /// A space of any registered family, chosen at run time.
        #[derive(Clone, Debug)]
        pub enum AnySpace {
            $( $(#[$doc])* $variant($space), )+
        }

        /// The `family` key of every registered family, in registration order.
        pub const FAMILIES: &[&str] = &[$( <$space as SearchSpace>::FAMILY ),+];

        $(
            impl Registered for $space {
                fn into_any(self) -> AnySpace {
                    AnySpace::$variant(self)
                }
                fn genotype_into_any(g: Self::Genotype) -> AnyGenotype {
                    AnyGenotype::$variant(g)
                }
                fn genotype_of(g: &AnyGenotype) -> Option<&Self::Genotype> {
                    match g {
                        AnyGenotype::$variant(x) => Some(x),
                        // Unreachable only while a single family is registered.
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )+

        impl AnyGenotype {
            /// The `family` key of the genotype's family.
            pub fn family(&self) -> &'static str {
                match self {
                    $( AnyGenotype::$variant(_) => <$space as SearchSpace>::FAMILY, )+
                }
            }
        }

        impl AnySpace {
            /// The family behind the enum: the one dispatch every `AnySpace` method goes through.
            fn as_dyn(&self) -> &dyn DynSpace {
                match self {
                    $( AnySpace::$variant(s) => s, )+
                }
            }

            /// The space file `text` built by the family whose key is `family`, or `None` if no
            /// registered family has that key.
            fn from_family(family: &str, text: &str) -> Option<Result<AnySpace, SpaceFileError>> {
                $(
                    if family == <$space as SearchSpace>::FAMILY {
                        return Some(<$space as SearchSpace>::from_toml(text).map(AnySpace::$variant));
                    }
                )+
                None
            }
        }
    };
}

// The registry. Adding a family = its file (a `pub mod` above, implementing `SearchSpace`) and
// one line here; nothing else in the crate matches on the family.
families! {
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
    // Last, so that tests drawing the other spaces' samples from one RNG draw what they did.
    ("darts", include_str!("../../search_spaces/darts.toml")),
];

#[derive(Deserialize)]
struct FamilyOnly {
    family: Option<String>,
}

/// The registered family keys for messages: `nb201, nb101, nasnet or fbnet`.
fn family_list() -> String {
    match FAMILIES.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
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
            let text = crate::limits::read_text(path).map_err(|e| SpaceError::Config {
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

    /// Parses a space TOML, built by the family its `family` key names; `source_name` names it
    /// in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<AnySpace, SpaceError> {
        let err = |message: String| SpaceError::Config {
            source_name: source_name.to_string(),
            message,
        };
        let head: FamilyOnly = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let family = head
            .family
            .ok_or_else(|| err(format!("missing key `family` ({})", family_list())))?;
        match AnySpace::from_family(&family, text) {
            Some(space) => space.map_err(|e| err(e.to_string())),
            None => Err(err(format!(
                "unknown family `{family}`; expected {}",
                family_list()
            ))),
        }
    }

    /// The space's name.
    pub fn name(&self) -> &str {
        self.as_dyn().name()
    }

    /// The family (`nb201`, `nb101`, `nasnet`, `fbnet`): its space files' `family` key.
    pub fn family(&self) -> &'static str {
        self.as_dyn().family()
    }

    /// One-line description.
    pub fn description(&self) -> &str {
        self.as_dyn().description()
    }

    /// The space for another input shape and class count (a training data set's).
    pub fn with_io(&self, input: [u32; 3], classes: u32) -> AnySpace {
        self.as_dyn().with_io(input, classes)
    }

    /// The space with width/depth knobs applied.
    pub fn with_knobs(&self, k: &Knobs) -> AnySpace {
        self.as_dyn().with_knobs(k)
    }

    /// How many genotypes there are.
    pub fn size(&self) -> Size {
        self.as_dyn().size()
    }

    /// A random genotype.
    pub fn sample(&self, rng: &mut dyn RngCore) -> AnyGenotype {
        self.as_dyn().sample(rng)
    }

    /// A mutated copy of `g`; an error if `g` belongs to another family.
    pub fn mutate(
        &self,
        g: &AnyGenotype,
        rng: &mut dyn RngCore,
    ) -> Result<AnyGenotype, SpaceError> {
        self.as_dyn().mutate(g, rng)
    }

    /// The full network of `g`.
    pub fn decode(&self, g: &AnyGenotype) -> Result<Network, SpaceError> {
        self.as_dyn().decode(g)
    }

    /// Parses the native notation.
    pub fn parse(&self, text: &str) -> Result<AnyGenotype, SpaceError> {
        self.as_dyn().parse(text)
    }

    /// Reads the native notation from a JSON value.
    pub fn parse_value(&self, v: &serde_json::Value) -> Result<AnyGenotype, SpaceError> {
        self.as_dyn().parse_value(v)
    }

    /// Prints the native notation on one line.
    pub fn format(&self, g: &AnyGenotype) -> Result<String, SpaceError> {
        self.as_dyn().format(g)
    }

    /// The native notation as a JSON value.
    pub fn to_value(&self, g: &AnyGenotype) -> Result<serde_json::Value, SpaceError> {
        self.as_dyn().to_value(g)
    }

    /// A text drawing of the cells.
    pub fn describe(&self, g: &AnyGenotype) -> Result<String, SpaceError> {
        self.as_dyn().describe(g)
    }

    /// Every genotype, for finite spaces small enough to list.
    pub fn enumerate(&self) -> Option<Box<dyn Iterator<Item = AnyGenotype> + Send + '_>> {
        self.as_dyn().enumerate()
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
