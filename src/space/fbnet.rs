//! The FBNet layer-wise space (Wu et al. 2019): a fixed macro of stages, each layer choosing one
//! of 9 candidate blocks (inverted residuals `k{3,5}_e{1,3,6}`, grouped `k{3,5}_e1_g2`, `skip`).
//!
//! Notation: the list of block names, one per searchable layer (22 in the paper), as JSON:
//! `["k3_e1", "skip", "k5_e6", ...]`.
//!
//! Skeleton (paper, Table 1): 3x3 conv stem (16 channels, stride 2) with BN and ReLU; stages of
//! (layers, channels, first stride) = (1,16,1) (4,24,2) (4,32,2) (4,64,2) (4,112,1) (4,184,2)
//! (1,352,1); a 1x1 conv head (1504) with BN and ReLU; global pooling and a linear classifier.
//! Input size, stem stride and classes are configurable for CIFAR-sized inputs.

use rand::{Rng, RngCore};
use serde::Deserialize;

use super::ops::{OpDef, OpSet};
use super::{pick_other, Knobs, SearchSpace, Size, SpaceError, SpaceFileError};
use crate::ir::blocks::{self, ConvGeometry};
use crate::ir::{Network, NetworkBuilder, Shape};

/// An FBNet genotype: one block index per searchable layer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Genotype {
    layers: Vec<u8>,
}

impl Genotype {
    /// The block index of each layer.
    pub fn layers(&self) -> &[u8] {
        &self.layers
    }
}

/// One stage of the macro.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Searchable layers in the stage.
    pub layers: u32,
    /// Output channels.
    pub channels: u32,
    /// Stride of the first layer.
    pub stride: u32,
}

/// The FBNet macro skeleton.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skeleton {
    /// Input `[channels, height, width]`.
    pub input: [u32; 3],
    /// Output classes.
    pub classes: u32,
    /// Stem channels.
    pub stem_channels: u32,
    /// Stem stride (2 for 224x224 inputs, 1 for 32x32).
    pub stem_stride: u32,
    /// The stages.
    pub stages: Vec<Stage>,
    /// Channels of the 1x1 head convolution.
    pub head_channels: u32,
}

/// The TOML form of an FBNet-family space.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Space name.
    pub name: String,
    /// Always `"fbnet"`.
    pub family: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Candidate blocks.
    pub ops: Vec<OpDef>,
    /// Macro skeleton.
    pub skeleton: Skeleton,
}

/// An FBNet-family space.
#[derive(Clone, Debug)]
pub struct FbNet {
    name: String,
    description: String,
    ops: OpSet,
    skeleton: Skeleton,
    width: f64,
}

impl FbNet {
    /// The candidate blocks.
    pub fn ops(&self) -> &OpSet {
        &self.ops
    }

    /// Searchable layers.
    pub fn layers(&self) -> usize {
        self.skeleton.stages.iter().map(|s| s.layers as usize).sum()
    }

    /// Stage of each layer, and whether it is the stage's first.
    pub fn layer_stages(&self) -> Vec<(usize, bool)> {
        self.skeleton
            .stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| (0..s.layers).map(move |l| (i, l == 0)))
            .collect()
    }

    fn scaled(&self, channels: u32) -> u32 {
        if (self.width - 1.0).abs() < f64::EPSILON {
            return channels;
        }
        let c = f64::from(channels) * self.width;
        let rounded = ((c + 4.0) / 8.0).floor() * 8.0;
        let rounded = if rounded < 0.9 * c {
            rounded + 8.0
        } else {
            rounded
        };
        (rounded as u32).max(8)
    }

    /// log10 of the number of genotypes.
    pub fn log10_size(&self) -> f64 {
        self.layers() as f64 * (self.ops.len() as f64).log10()
    }

    fn read_names(&self, names: &[String], text: &str) -> Result<Genotype, SpaceError> {
        let err = |message: String| SpaceError::Parse {
            space: self.name.clone(),
            input: text.to_string(),
            message,
        };
        if names.len() != self.layers() {
            return Err(err(format!(
                "{} blocks given; this space has {} searchable layers",
                names.len(),
                self.layers()
            )));
        }
        let layers = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                self.ops.index_of(n).ok_or_else(|| {
                    err(format!(
                        "layer {i}: unknown block `{n}`; known blocks: {}",
                        self.ops.names()
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Genotype { layers })
    }

    /// The block names.
    pub fn names(&self, g: &Genotype) -> Vec<String> {
        g.layers
            .iter()
            .map(|&l| self.ops.get(l).name.clone())
            .collect()
    }

    /// Whether a genotype fits this space.
    pub fn check(&self, g: &Genotype) -> bool {
        g.layers.len() == self.layers() && g.layers.iter().all(|&o| o < self.ops.count())
    }
}

impl SearchSpace for FbNet {
    type Genotype = Genotype;
    type Config = Config;
    const FAMILY: &'static str = "fbnet";

    /// Builds the space from its parsed TOML.
    fn from_config(c: Config) -> Result<Self, SpaceFileError> {
        let s = &c.skeleton;
        if s.stages.is_empty() || s.stages.iter().any(|st| st.layers == 0) {
            return Err(SpaceFileError::invalid(
                "skeleton",
                "every stage needs at least one layer",
            ));
        }
        if s.stages.iter().any(|st| st.channels == 0 || st.stride == 0)
            || s.stem_channels == 0
            || s.stem_stride == 0
            || s.head_channels == 0
            || s.classes == 0
            || s.input.contains(&0)
        {
            return Err(SpaceFileError::invalid(
                "skeleton",
                "sizes, channels and strides must be positive",
            ));
        }
        let widths: Vec<u32> = s
            .stages
            .iter()
            .map(|st| st.channels)
            .chain([s.stem_channels, s.head_channels])
            .collect();
        super::check_skeleton(
            s.input,
            s.classes,
            &widths,
            u32::try_from(s.stages.len()).unwrap_or(u32::MAX),
            s.stages.iter().map(|st| st.layers).max().unwrap_or(0),
        )?;
        Ok(FbNet {
            name: c.name,
            description: c.description,
            ops: OpSet::new(c.ops)?,
            skeleton: c.skeleton,
            width: 1.0,
        })
    }

    /// Space name.
    fn name(&self) -> &str {
        &self.name
    }

    /// One-line description.
    fn description(&self) -> &str {
        &self.description
    }

    /// The space for another input shape (`[channels, height, width]`) and class count, as a
    /// data set requires.
    fn with_io(&self, input: [u32; 3], classes: u32) -> Self {
        let mut s = self.clone();
        s.skeleton.input = input;
        s.skeleton.classes = classes;
        s
    }

    /// Applies the width knob: `channels` is the stem width, and every width scales with it
    /// (rounded to a multiple of 8, as MobileNet's `make_divisible`). FBNet has no depth knob:
    /// its genotype names every layer.
    fn with_knobs(&self, k: &Knobs) -> Self {
        let mut s = self.clone();
        if let Some(c) = k.channels {
            s.width = f64::from(c) / f64::from(self.skeleton.stem_channels);
        }
        s
    }

    /// A uniformly random genotype.
    fn sample(&self, rng: &mut dyn RngCore) -> Genotype {
        Genotype {
            layers: (0..self.layers())
                .map(|_| rng.random_range(0..self.ops.count()))
                .collect(),
        }
    }

    /// Replaces the block of one random layer with a different block.
    fn mutate(&self, g: &Genotype, rng: &mut dyn RngCore) -> Genotype {
        let mut layers = g.layers.clone();
        let l = rng.random_range(0..layers.len());
        layers[l] = pick_other(rng, self.ops.count(), layers[l]);
        Genotype { layers }
    }

    /// Decodes a genotype into the full network, after checking that it belongs to this space
    /// (a genotype from a document may have been written for another block or op count).
    fn decode(&self, g: &Genotype) -> Result<Network, SpaceError> {
        if !self.check(g) {
            return Err(SpaceError::Invalid {
                space: self.name.clone(),
                message: "wrong layer count or block index".into(),
            });
        }
        let s = &self.skeleton;
        let mut b = NetworkBuilder::new();
        let [c, h, w] = s.input;
        let mut x = b.input(Shape::new(c, h, w), "input")?;
        x = blocks::conv_bn_relu(
            &mut b,
            x,
            self.scaled(s.stem_channels),
            ConvGeometry::same(3, s.stem_stride),
            "stem",
        )?;
        let mut l = 0;
        for (i, st) in s.stages.iter().enumerate() {
            for k in 0..st.layers {
                let stride = if k == 0 { st.stride } else { 1 };
                let def = self.ops.get(g.layers[l]);
                let label = format!("stage{i}/layer{l}/{}", def.name);
                x = def
                    .kind
                    .apply(&mut b, x, self.scaled(st.channels), stride, &label)?;
                l += 1;
            }
        }
        x = blocks::conv_bn_relu(
            &mut b,
            x,
            self.scaled(s.head_channels),
            ConvGeometry::same(1, 1),
            "head",
        )?;
        x = blocks::classifier(&mut b, x, s.classes, "head")?;
        Ok(b.finish(x)?)
    }

    /// Parses the JSON list of block names.
    fn parse(&self, text: &str) -> Result<Genotype, SpaceError> {
        let names: Vec<String> = super::parse_json_named(text, &self.name)?;
        self.read_names(&names, text)
    }

    /// Parses the notation from a JSON value.
    fn parse_value(&self, value: &serde_json::Value) -> Result<Genotype, SpaceError> {
        let text = value.to_string();
        let names: Vec<String> =
            serde_path_to_error::deserialize(value).map_err(|e| SpaceError::Parse {
                space: self.name.clone(),
                input: text.clone(),
                message: format!("at `{}`: {}", e.path(), e.inner()),
            })?;
        self.read_names(&names, &text)
    }

    /// Prints the JSON list.
    fn format(&self, g: &Genotype) -> String {
        serde_json::to_string(&self.names(g)).expect("names serialise")
    }

    /// A table of layers with stage, channels, stride and block.
    fn describe(&self, g: &Genotype) -> String {
        let mut out = String::from("layer  stage  channels  stride  block\n");
        let mut l = 0;
        for (i, st) in self.skeleton.stages.iter().enumerate() {
            for k in 0..st.layers {
                let stride = if k == 0 { st.stride } else { 1 };
                out.push_str(&format!(
                    "{l:>5}  {i:>5}  {:>8}  {stride:>6}  {}\n",
                    self.scaled(st.channels),
                    self.ops.get(g.layers[l]).name
                ));
                l += 1;
            }
        }
        out
    }

    /// The block names as a JSON list (documents store the notation as a value).
    fn to_value(&self, g: &Genotype) -> serde_json::Value {
        serde_json::to_value(self.names(g)).expect("names serialise")
    }

    /// Too many genotypes to count exactly; see `log10_size`.
    fn size(&self) -> Size {
        Size::Log10(self.log10_size())
    }

    /// Too large to list.
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Genotype> + Send + '_>> {
        None
    }
}
