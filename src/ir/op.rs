//! The primitive operations of the IR and their shape rules.
//!
//! Composite blocks (separable convolutions, ReLU-Conv-BN, MBConv, factorized reduction) are not
//! primitives: [`crate::ir::blocks`] expands them into these ops. Keeping the set small means the
//! functional hash, the cost model and every training backend implement each op exactly once, and
//! linearity arguments (which ops commute with sums) are made on primitives only.

use serde::{Deserialize, Serialize};

/// A feature-map shape without the batch dimension: channels x height x width.
///
/// Flat vectors (after global pooling) are `c x 1 x 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shape {
    /// Number of channels.
    pub channels: u32,
    /// Spatial height.
    pub height: u32,
    /// Spatial width.
    pub width: u32,
}

impl Shape {
    /// A `channels x height x width` shape.
    pub const fn new(channels: u32, height: u32, width: u32) -> Self {
        Shape {
            channels,
            height,
            width,
        }
    }

    /// Number of scalars in one sample of this shape.
    pub fn numel(&self) -> u64 {
        u64::from(self.channels) * u64::from(self.height) * u64::from(self.width)
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// A 2-D convolution. Bias is rare in NAS cells (batch norm follows), so it is explicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conv {
    /// Output channels.
    pub out_channels: u32,
    /// Kernel height and width (`[1, 7]` then `[7, 1]` for factorized 7x7 convolutions).
    pub kernel: [u32; 2],
    /// Stride along height and width.
    #[serde(default = "one2")]
    pub stride: [u32; 2],
    /// Zero padding along height and width.
    #[serde(default)]
    pub padding: [u32; 2],
    /// Dilation along height and width.
    #[serde(default = "one2")]
    pub dilation: [u32; 2],
    /// Channel groups; equal to the input channels for a depthwise convolution.
    #[serde(default = "one")]
    pub groups: u32,
    /// Whether the convolution adds a learned bias.
    #[serde(default)]
    pub bias: bool,
}

fn one() -> u32 {
    1
}
fn one2() -> [u32; 2] {
    [1, 1]
}

/// A primitive operation. Every node of an [`crate::ir::Network`] holds one.
///
/// Pooling windows are square; average pooling never counts padding (PyTorch's
/// `count_include_pad=False`, the convention of NAS-Bench-201 and DARTS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// The network input (no operands).
    Input {
        /// Input channels.
        channels: u32,
        /// Input height.
        height: u32,
        /// Input width.
        width: u32,
    },
    /// The network output: passes its single operand through.
    Output,
    /// 2-D convolution.
    Conv(Conv),
    /// Batch normalisation over channels, with or without a learned affine transform.
    BatchNorm {
        /// Learned scale and shift.
        #[serde(default = "yes")]
        affine: bool,
    },
    /// Rectified linear unit.
    Relu,
    /// Average pooling; the divisor counts only positions inside the input.
    AvgPool {
        /// Window size.
        kernel: u32,
        /// Stride.
        stride: u32,
        /// Zero padding on each side.
        padding: u32,
    },
    /// Max pooling; padded positions never win.
    MaxPool {
        /// Window size.
        kernel: u32,
        /// Stride.
        stride: u32,
        /// Padding on each side.
        padding: u32,
    },
    /// Identity.
    Identity,
    /// All zeros, with `out_channels` channels and the spatial size divided by `stride`
    /// (rounding up), so it can stand on a reducing edge.
    Zero {
        /// Output channels.
        out_channels: u32,
        /// Spatial stride.
        stride: u32,
    },
    /// Element-wise sum of one or more operands of equal shape.
    Add,
    /// Channel concatenation, in operand order.
    Concat,
    /// Channel shuffle (ShuffleNet): view channels as `groups x (c / groups)`, transpose, flatten.
    ChannelShuffle {
        /// Number of groups.
        groups: u32,
    },
    /// Keep the first `channels` channels (NAS-Bench-101's truncation of wider inputs).
    Truncate {
        /// Channels kept.
        channels: u32,
    },
    /// Drop the first `rows` rows and `cols` columns (DARTS' factorized reduction shifts one path
    /// by one pixel this way).
    Crop {
        /// Rows dropped from the top.
        rows: u32,
        /// Columns dropped from the left.
        cols: u32,
    },
    /// Global average pooling to `c x 1 x 1`.
    GlobalAvgPool,
    /// Fully connected layer on a `c x 1 x 1` input.
    Linear {
        /// Output features.
        out_features: u32,
        /// Whether a bias is learned.
        #[serde(default = "yes")]
        bias: bool,
    },
}

fn yes() -> bool {
    true
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// One or more.
    AtLeastOne,
}

impl Arity {
    /// Whether `n` operands are acceptable.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeastOne => n >= 1,
        }
    }
}

impl std::fmt::Display for Arity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arity::Exactly(k) => write!(f, "exactly {k}"),
            Arity::AtLeastOne => write!(f, "at least 1"),
        }
    }
}

/// Output spatial size of a window op: `floor((n + 2p - d(k-1) - 1) / s) + 1`.
fn window_out(n: u32, kernel: u32, stride: u32, padding: u32, dilation: u32) -> Option<u32> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = n.checked_add(padding.checked_mul(2)?)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

impl Op {
    /// Short lowercase name, as used in JSON (`"conv"`, `"avg_pool"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Output => "output",
            Op::Conv(_) => "conv",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Relu => "relu",
            Op::AvgPool { .. } => "avg_pool",
            Op::MaxPool { .. } => "max_pool",
            Op::Identity => "identity",
            Op::Zero { .. } => "zero",
            Op::Add => "add",
            Op::Concat => "concat",
            Op::ChannelShuffle { .. } => "channel_shuffle",
            Op::Truncate { .. } => "truncate",
            Op::Crop { .. } => "crop",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Linear { .. } => "linear",
        }
    }

    /// How many operands this op takes.
    pub fn arity(&self) -> Arity {
        match self {
            Op::Input { .. } => Arity::Exactly(0),
            Op::Add | Op::Concat => Arity::AtLeastOne,
            _ => Arity::Exactly(1),
        }
    }

    /// The output shape for the given operand shapes, or why they do not fit.
    ///
    /// The caller has already checked the arity.
    pub fn infer_shape(&self, inputs: &[Shape]) -> Result<Shape, ShapeError> {
        let first = inputs.first().copied();
        let x = || first.ok_or(ShapeError::MissingOperand);
        match *self {
            Op::Input {
                channels,
                height,
                width,
            } => {
                if channels == 0 || height == 0 || width == 0 {
                    return Err(ShapeError::ZeroInput {
                        channels,
                        height,
                        width,
                    });
                }
                Ok(Shape::new(channels, height, width))
            }
            Op::Output | Op::Identity | Op::Relu | Op::BatchNorm { .. } => x(),
            Op::Conv(c) => conv_shape(&c, x()?),
            Op::AvgPool {
                kernel,
                stride,
                padding,
            }
            | Op::MaxPool {
                kernel,
                stride,
                padding,
            } => {
                let s = x()?;
                if kernel == 0 {
                    return Err(ShapeError::Parameters("pool kernel is 0"));
                }
                if padding > kernel / 2 {
                    return Err(ShapeError::PoolPadding { padding, kernel });
                }
                let h = window_out(s.height, kernel, stride, padding, 1);
                let w = window_out(s.width, kernel, stride, padding, 1);
                match (h, w) {
                    (Some(h), Some(w)) => Ok(Shape::new(s.channels, h, w)),
                    _ => Err(ShapeError::Window {
                        window: format!("pool {kernel}x{kernel} stride {stride} padding {padding}"),
                        input: s,
                    }),
                }
            }
            Op::Zero {
                out_channels,
                stride,
            } => {
                let s = x()?;
                if stride == 0 || out_channels == 0 {
                    return Err(ShapeError::Parameters(
                        "zero op needs stride >= 1 and out_channels >= 1",
                    ));
                }
                Ok(Shape::new(
                    out_channels,
                    s.height.div_ceil(stride),
                    s.width.div_ceil(stride),
                ))
            }
            Op::Add => {
                let s = x()?;
                match inputs.iter().find(|t| **t != s) {
                    Some(other) => Err(ShapeError::AddMismatch {
                        first: s,
                        other: *other,
                    }),
                    None => Ok(s),
                }
            }
            Op::Concat => {
                let s = x()?;
                let mut channels = 0u32;
                for t in inputs {
                    if (t.height, t.width) != (s.height, s.width) {
                        return Err(ShapeError::ConcatMismatch {
                            first: s,
                            other: *t,
                        });
                    }
                    channels = channels
                        .checked_add(t.channels)
                        .ok_or(ShapeError::Parameters("channel count overflows"))?;
                }
                Ok(Shape::new(channels, s.height, s.width))
            }
            Op::ChannelShuffle { groups } => {
                let s = x()?;
                if groups == 0 || s.channels % groups != 0 {
                    return Err(ShapeError::Shuffle {
                        groups,
                        channels: s.channels,
                    });
                }
                Ok(s)
            }
            Op::Truncate { channels } => {
                let s = x()?;
                if channels == 0 || channels > s.channels {
                    return Err(ShapeError::Truncate {
                        from: s.channels,
                        to: channels,
                    });
                }
                Ok(Shape::new(channels, s.height, s.width))
            }
            Op::Crop { rows, cols } => {
                let s = x()?;
                if rows >= s.height || cols >= s.width {
                    return Err(ShapeError::Crop {
                        rows,
                        cols,
                        input: s,
                    });
                }
                Ok(Shape::new(s.channels, s.height - rows, s.width - cols))
            }
            Op::GlobalAvgPool => Ok(Shape::new(x()?.channels, 1, 1)),
            Op::Linear { out_features, .. } => {
                let s = x()?;
                if s.height != 1 || s.width != 1 {
                    return Err(ShapeError::NotFlat { input: s });
                }
                if out_features == 0 {
                    return Err(ShapeError::Parameters("linear layer with 0 outputs"));
                }
                Ok(Shape::new(out_features, 1, 1))
            }
        }
    }
}

fn conv_shape(c: &Conv, s: Shape) -> Result<Shape, ShapeError> {
    if c.out_channels == 0 || c.groups == 0 {
        return Err(ShapeError::Parameters(
            "conv needs out_channels >= 1 and groups >= 1",
        ));
    }
    if s.channels % c.groups != 0 || c.out_channels % c.groups != 0 {
        return Err(ShapeError::Groups {
            groups: c.groups,
            input: s.channels,
            output: c.out_channels,
        });
    }
    if c.kernel.contains(&0) || c.stride.contains(&0) || c.dilation.contains(&0) {
        return Err(ShapeError::Parameters(
            "conv kernel, stride and dilation must be >= 1",
        ));
    }
    let h = window_out(
        s.height,
        c.kernel[0],
        c.stride[0],
        c.padding[0],
        c.dilation[0],
    );
    let w = window_out(
        s.width,
        c.kernel[1],
        c.stride[1],
        c.padding[1],
        c.dilation[1],
    );
    match (h, w) {
        (Some(h), Some(w)) => Ok(Shape::new(c.out_channels, h, w)),
        _ => Err(ShapeError::Window {
            window: format!(
                "conv kernel {:?} stride {:?} padding {:?} dilation {:?}",
                c.kernel, c.stride, c.padding, c.dilation
            ),
            input: s,
        }),
    }
}

/// Why operand shapes do not fit an op (or its parameters are impossible).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The op needs an operand and has none.
    #[error("missing operand")]
    MissingOperand,
    /// The network input has a zero dimension.
    #[error("input shape {channels}x{height}x{width} has a zero dimension")]
    ZeroInput {
        /// Channels.
        channels: u32,
        /// Height.
        height: u32,
        /// Width.
        width: u32,
    },
    /// The op's own parameters are impossible (a zero kernel, zero outputs, an overflow).
    #[error("{0}")]
    Parameters(&'static str),
    /// Pool padding larger than half the kernel.
    #[error("pool padding {padding} must be at most half the kernel {kernel}")]
    PoolPadding {
        /// Padding.
        padding: u32,
        /// Kernel.
        kernel: u32,
    },
    /// A sliding window (pool or conv) does not fit the input.
    #[error("{window} does not fit input {input}")]
    Window {
        /// The window, described.
        window: String,
        /// The input shape.
        input: Shape,
    },
    /// Conv groups do not divide the channel counts.
    #[error(
        "conv groups {groups} must divide input channels {input} and output channels {output}"
    )]
    Groups {
        /// Groups.
        groups: u32,
        /// Input channels.
        input: u32,
        /// Output channels.
        output: u32,
    },
    /// Add operands of different shapes.
    #[error("add operands differ in shape: {first} vs {other}")]
    AddMismatch {
        /// The first operand.
        first: Shape,
        /// The first operand that differs.
        other: Shape,
    },
    /// Concat operands of different spatial sizes.
    #[error("concat operands differ in spatial size: {first} vs {other}")]
    ConcatMismatch {
        /// The first operand.
        first: Shape,
        /// The first operand that differs.
        other: Shape,
    },
    /// Channel shuffle groups that do not divide the channels.
    #[error("channel shuffle with {groups} groups needs channels divisible by it, got {channels}")]
    Shuffle {
        /// Groups.
        groups: u32,
        /// Channels.
        channels: u32,
    },
    /// Truncation to zero or more channels than there are.
    #[error("cannot truncate {from} channels to {to}")]
    Truncate {
        /// Channels in.
        from: u32,
        /// Channels asked for.
        to: u32,
    },
    /// A crop that leaves nothing.
    #[error("cannot crop {rows} rows and {cols} columns from {input}")]
    Crop {
        /// Rows removed.
        rows: u32,
        /// Columns removed.
        cols: u32,
        /// The input shape.
        input: Shape,
    },
    /// A linear layer on a spatial input.
    #[error("linear layer needs a flat c x 1 x 1 input, got {input}; add a global_avg_pool")]
    NotFlat {
        /// The input shape.
        input: Shape,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(out: u32, k: u32, s: u32, p: u32) -> Op {
        Op::Conv(Conv {
            out_channels: out,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        })
    }

    #[test]
    fn conv_shapes_follow_pytorch() {
        let s = Shape::new(16, 32, 32);
        assert_eq!(
            conv(32, 3, 1, 1).infer_shape(&[s]),
            Ok(Shape::new(32, 32, 32))
        );
        assert_eq!(
            conv(32, 3, 2, 1).infer_shape(&[s]),
            Ok(Shape::new(32, 16, 16))
        );
        assert_eq!(
            conv(32, 1, 2, 0).infer_shape(&[s]),
            Ok(Shape::new(32, 16, 16))
        );
        let odd = Shape::new(16, 31, 31);
        assert_eq!(
            conv(8, 1, 2, 0).infer_shape(&[odd]),
            Ok(Shape::new(8, 16, 16))
        );
    }

    #[test]
    fn dilated_and_asymmetric_convs() {
        let s = Shape::new(8, 16, 16);
        let dil = Op::Conv(Conv {
            out_channels: 8,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [2, 2],
            dilation: [2, 2],
            groups: 8,
            bias: false,
        });
        assert_eq!(dil.infer_shape(&[s]), Ok(s));
        let one_by_seven = Op::Conv(Conv {
            out_channels: 8,
            kernel: [1, 7],
            stride: [1, 2],
            padding: [0, 3],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        });
        assert_eq!(one_by_seven.infer_shape(&[s]), Ok(Shape::new(8, 16, 8)));
    }

    #[test]
    fn shape_errors_are_reported() {
        let s = Shape::new(6, 8, 8);
        assert!(Op::Add.infer_shape(&[s, Shape::new(6, 4, 4)]).is_err());
        assert!(Op::Concat.infer_shape(&[s, Shape::new(6, 4, 4)]).is_err());
        assert_eq!(
            Op::Concat.infer_shape(&[s, Shape::new(2, 8, 8)]),
            Ok(Shape::new(8, 8, 8))
        );
        assert!(Op::ChannelShuffle { groups: 4 }.infer_shape(&[s]).is_err());
        assert!(Op::Linear {
            out_features: 10,
            bias: true
        }
        .infer_shape(&[s])
        .is_err());
        let grouped = Op::Conv(Conv {
            out_channels: 6,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 4,
            bias: false,
        });
        assert!(grouped.infer_shape(&[s]).is_err());
    }

    #[test]
    fn zero_and_pools_reduce() {
        let s = Shape::new(4, 7, 7);
        let z = Op::Zero {
            out_channels: 8,
            stride: 2,
        };
        assert_eq!(z.infer_shape(&[s]), Ok(Shape::new(8, 4, 4)));
        let p = Op::AvgPool {
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        assert_eq!(p.infer_shape(&[s]), Ok(Shape::new(4, 4, 4)));
    }
}
