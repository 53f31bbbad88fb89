//! The candidate operations a space's TOML may list, and how each expands into IR.
//!
//! A space file names its ops and says what each one is:
//!
//! ```toml
//! [[ops]]
//! name = "nor_conv_3x3"
//! kind = "relu_conv_bn"
//! kernel = 3
//! ```
//!
//! so a variant space (say, with a 5x5 convolution) needs no Rust.

use serde::{Deserialize, Serialize};

use super::SpaceFileError;
use crate::ir::blocks::{self, ConvGeometry, InvertedResidual};
use crate::ir::{GraphError, NetworkBuilder, NodeId, Op};

/// How an identity op behaves on an edge that changes the shape (stride 2 or new width).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityReduce {
    /// DARTS' factorized reduction (two shifted 1x1 stride-2 convolutions).
    #[default]
    FactorizedReduce,
    /// A 1x1 convolution, batch norm and ReLU (FBNet's `skip` block).
    ConvBnRelu,
}

/// What a candidate op computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpKind {
    /// Zero (`none`): the edge contributes nothing.
    Zero,
    /// Identity (`skip_connect`); on a shape-changing edge it becomes `reduce`.
    Identity {
        /// What to do where the shape changes.
        #[serde(default)]
        reduce: IdentityReduce,
    },
    /// ReLU, `k x k` convolution (optionally dilated), batch norm.
    ReluConvBn {
        /// Kernel size.
        kernel: u32,
        /// Dilation.
        #[serde(default = "one")]
        dilation: u32,
    },
    /// `k x k` convolution, batch norm, ReLU.
    ConvBnRelu {
        /// Kernel size.
        kernel: u32,
    },
    /// Average pooling (padding excluded from the divisor).
    AvgPool {
        /// Window size.
        kernel: u32,
    },
    /// Max pooling.
    MaxPool {
        /// Window size.
        kernel: u32,
    },
    /// DARTS separable convolution (two depthwise-separable convolutions).
    SepConv {
        /// Kernel size.
        kernel: u32,
    },
    /// DARTS dilated depthwise-separable convolution.
    DilConv {
        /// Kernel size.
        kernel: u32,
        /// Dilation.
        dilation: u32,
    },
    /// ReLU, `1 x k` then `k x 1` convolution, batch norm.
    #[serde(rename = "conv_1xk_kx1")]
    Conv1xkKx1 {
        /// Kernel length.
        kernel: u32,
    },
    /// FBNet / MobileNetV2 inverted residual block.
    InvertedResidual {
        /// Depthwise kernel size.
        kernel: u32,
        /// Channel expansion.
        expansion: u32,
        /// Groups of the 1x1 convolutions.
        #[serde(default = "one")]
        groups: u32,
    },
}

fn one() -> u32 {
    1
}

/// A named candidate op, as listed in a space's TOML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpDef {
    /// The name used in genotypes (`nor_conv_3x3`, `sep_conv_5x5`, `k3_e6`, ...).
    pub name: String,
    /// What it computes.
    #[serde(flatten)]
    pub kind: OpKind,
}

impl OpKind {
    /// Whether this op is the zero op.
    pub fn is_zero(&self) -> bool {
        matches!(self, OpKind::Zero)
    }

    /// Checks parameters that serde cannot (odd kernels, positive sizes).
    pub fn check(&self) -> Result<(), SpaceFileError> {
        let odd = |k: u32| {
            if k == 0 || k % 2 == 0 {
                Err(SpaceFileError::invalid(
                    "kernel",
                    format!("must be odd and positive, got {k}"),
                ))
            } else {
                Ok(())
            }
        };
        match *self {
            OpKind::Zero | OpKind::Identity { .. } => Ok(()),
            OpKind::ReluConvBn { kernel, dilation } | OpKind::DilConv { kernel, dilation } => {
                odd(kernel)?;
                if dilation == 0 {
                    return Err(SpaceFileError::invalid("dilation", "must be >= 1"));
                }
                Ok(())
            }
            OpKind::ConvBnRelu { kernel }
            | OpKind::AvgPool { kernel }
            | OpKind::MaxPool { kernel }
            | OpKind::SepConv { kernel }
            | OpKind::Conv1xkKx1 { kernel } => odd(kernel),
            OpKind::InvertedResidual {
                kernel,
                expansion,
                groups,
            } => {
                odd(kernel)?;
                if expansion == 0 || groups == 0 {
                    return Err(SpaceFileError::invalid(
                        "expansion",
                        "expansion and groups must be >= 1",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Appends this op, applied to `x` with the given output channels and stride, to `b`.
    pub fn apply(
        &self,
        b: &mut NetworkBuilder,
        x: NodeId,
        out_channels: u32,
        stride: u32,
        label: &str,
    ) -> Result<NodeId, GraphError> {
        let c_in = b.shape(x).channels;
        let same_shape = stride == 1 && c_in == out_channels;
        match *self {
            OpKind::Zero => blocks::zero(b, x, out_channels, stride, label),
            OpKind::Identity { reduce } => match (same_shape, reduce) {
                (true, _) => b.add(Op::Identity, &[x], format!("{label}/identity")),
                (false, IdentityReduce::FactorizedReduce) if stride == 2 => {
                    blocks::factorized_reduce(b, x, out_channels, label)
                }
                (false, _) => {
                    blocks::conv_bn_relu(b, x, out_channels, ConvGeometry::same(1, stride), label)
                }
            },
            OpKind::ReluConvBn { kernel, dilation } => blocks::relu_conv_bn(
                b,
                x,
                out_channels,
                ConvGeometry::dilated(kernel, stride, dilation),
                label,
            ),
            OpKind::ConvBnRelu { kernel } => blocks::conv_bn_relu(
                b,
                x,
                out_channels,
                ConvGeometry::same(kernel, stride),
                label,
            ),
            OpKind::AvgPool { kernel } | OpKind::MaxPool { kernel } => {
                let max = matches!(self, OpKind::MaxPool { .. });
                let x = if c_in == out_channels {
                    x
                } else {
                    let g = ConvGeometry::same(1, 1);
                    blocks::relu_conv_bn(b, x, out_channels, g, &format!("{label}/project"))?
                };
                blocks::pool(b, x, max, kernel, stride, label)
            }
            OpKind::SepConv { kernel } => {
                blocks::sep_conv(b, x, out_channels, kernel, stride, label)
            }
            OpKind::DilConv { kernel, dilation } => blocks::dil_conv(
                b,
                x,
                out_channels,
                ConvGeometry::dilated(kernel, stride, dilation),
                label,
            ),
            OpKind::Conv1xkKx1 { kernel } => {
                blocks::conv_1xk_kx1(b, x, out_channels, kernel, stride, label)
            }
            OpKind::InvertedResidual {
                kernel,
                expansion,
                groups,
            } => blocks::inverted_residual(
                b,
                x,
                out_channels,
                InvertedResidual {
                    kernel,
                    expansion,
                    groups,
                    stride,
                },
                label,
            ),
        }
    }
}

/// The op list of a space: names in a fixed order (genotypes store indices into it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpSet {
    defs: Vec<OpDef>,
}

impl OpSet {
    /// Checks names are unique and non-empty and parameters are sane.
    pub fn new(defs: Vec<OpDef>) -> Result<Self, SpaceFileError> {
        if defs.is_empty() {
            return Err(SpaceFileError::invalid(
                "ops",
                "is empty; list at least one op",
            ));
        }
        for (i, d) in defs.iter().enumerate() {
            if d.name.trim().is_empty() || d.name.contains(['|', '~', '+', ' ', '"']) {
                return Err(SpaceFileError::invalid(
                    format!("ops[{i}].name"),
                    format!(
                        "`{}` must be non-empty and free of | ~ + spaces and quotes",
                        d.name
                    ),
                ));
            }
            if defs[..i].iter().any(|e| e.name == d.name) {
                return Err(SpaceFileError::invalid(
                    format!("ops[{i}].name"),
                    format!("`{}` is listed twice", d.name),
                ));
            }
            d.kind
                .check()
                .map_err(|e| e.within(&format!("ops[{i}] ({})", d.name)))?;
        }
        if defs.len() > usize::from(u8::MAX) {
            return Err(SpaceFileError::invalid(
                "ops",
                "at most 255 ops are supported",
            ));
        }
        Ok(OpSet { defs })
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether the list is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// The op at an index.
    pub fn get(&self, i: u8) -> &OpDef {
        &self.defs[usize::from(i)]
    }

    /// The index of a named op.
    pub fn index_of(&self, name: &str) -> Option<u8> {
        self.defs
            .iter()
            .position(|d| d.name == name)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// All op names, comma-separated (for error messages).
    pub fn names(&self) -> String {
        self.defs
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The definitions, in order.
    pub fn defs(&self) -> &[OpDef] {
        &self.defs
    }

    /// Number of ops as a u8 (fits by construction).
    pub fn count(&self) -> u8 {
        u8::try_from(self.defs.len()).expect("checked in OpSet::new")
    }
}
