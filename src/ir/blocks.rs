//! Composite blocks of the NAS literature, expanded into primitive ops.
//!
//! Each function appends the block to a [`NetworkBuilder`] and returns the node holding its
//! result. The expansions follow the reference implementations the spaces come from
//! (NAS-Bench-201 and DARTS `operations.py`, NAS-Bench-101 `base_ops.py`, FBNet's blocks), so
//! parameter counts match the published ones.

use super::network::{GraphError, NetworkBuilder, NodeId};
use super::op::{Conv, Op};

type Result<T> = std::result::Result<T, GraphError>;

/// Geometry of one convolution; `same(k)` pads to keep the size at stride 1.
#[derive(Clone, Copy, Debug)]
pub struct ConvGeometry {
    /// Kernel height and width.
    pub kernel: [u32; 2],
    /// Stride along height and width.
    pub stride: [u32; 2],
    /// Padding along height and width.
    pub padding: [u32; 2],
    /// Dilation along height and width.
    pub dilation: [u32; 2],
}

impl ConvGeometry {
    /// A square `k x k` kernel with stride `s`, "same" padding and no dilation.
    pub fn same(k: u32, s: u32) -> Self {
        Self::dilated(k, s, 1)
    }

    /// A square `k x k` kernel with dilation `d` and the padding that keeps the size at stride 1.
    pub fn dilated(k: u32, s: u32, d: u32) -> Self {
        let p = d * (k - 1) / 2;
        ConvGeometry {
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            dilation: [d, d],
        }
    }
}

/// A plain convolution without bias.
pub fn conv(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    g: ConvGeometry,
    groups: u32,
    label: &str,
) -> Result<NodeId> {
    let op = Op::Conv(Conv {
        out_channels,
        kernel: g.kernel,
        stride: g.stride,
        padding: g.padding,
        dilation: g.dilation,
        groups,
        bias: false,
    });
    b.add(op, &[x], format!("{label}/conv"))
}

/// Affine batch norm.
pub fn bn(b: &mut NetworkBuilder, x: NodeId, label: &str) -> Result<NodeId> {
    b.add(Op::BatchNorm { affine: true }, &[x], format!("{label}/bn"))
}

/// ReLU.
pub fn relu(b: &mut NetworkBuilder, x: NodeId, label: &str) -> Result<NodeId> {
    b.add(Op::Relu, &[x], format!("{label}/relu"))
}

/// ReLU, convolution, batch norm (NAS-Bench-201's and DARTS' `ReLUConvBN`).
pub fn relu_conv_bn(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    g: ConvGeometry,
    label: &str,
) -> Result<NodeId> {
    let r = relu(b, x, label)?;
    let c = conv(b, r, out_channels, g, 1, label)?;
    bn(b, c, label)
}

/// Convolution, batch norm, ReLU (NAS-Bench-101's `conv3x3-bn-relu`, its projections, the stems).
pub fn conv_bn_relu(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    g: ConvGeometry,
    label: &str,
) -> Result<NodeId> {
    let c = conv(b, x, out_channels, g, 1, label)?;
    let n = bn(b, c, label)?;
    relu(b, n, label)
}

/// DARTS `DilConv`: ReLU, depthwise `k x k` convolution (dilated), pointwise 1x1, batch norm.
pub fn dil_conv(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    g: ConvGeometry,
    label: &str,
) -> Result<NodeId> {
    let c_in = b.shape(x).channels;
    let r = relu(b, x, label)?;
    let dw = conv(b, r, c_in, g, c_in, &format!("{label}/depthwise"))?;
    let pw = conv(
        b,
        dw,
        out_channels,
        ConvGeometry::same(1, 1),
        1,
        &format!("{label}/pointwise"),
    )?;
    bn(b, pw, label)
}

/// DARTS `SepConv`: two depthwise-separable convolutions (the first strided), each as
/// [`dil_conv`] without dilation; the first keeps the input channel count.
pub fn sep_conv(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    k: u32,
    stride: u32,
    label: &str,
) -> Result<NodeId> {
    let c_in = b.shape(x).channels;
    let first = dil_conv(
        b,
        x,
        c_in,
        ConvGeometry::same(k, stride),
        &format!("{label}/sep1"),
    )?;
    dil_conv(
        b,
        first,
        out_channels,
        ConvGeometry::same(k, 1),
        &format!("{label}/sep2"),
    )
}

/// DARTS `conv_7x1_1x7` generalised to `k`: ReLU, `1 x k` conv, `k x 1` conv, batch norm.
pub fn conv_1xk_kx1(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    k: u32,
    stride: u32,
    label: &str,
) -> Result<NodeId> {
    let c_in = b.shape(x).channels;
    let r = relu(b, x, label)?;
    let row = ConvGeometry {
        kernel: [1, k],
        stride: [1, stride],
        padding: [0, k / 2],
        dilation: [1, 1],
    };
    let a = conv(b, r, c_in, row, 1, &format!("{label}/1x{k}"))?;
    let col = ConvGeometry {
        kernel: [k, 1],
        stride: [stride, 1],
        padding: [k / 2, 0],
        dilation: [1, 1],
    };
    let c = conv(b, a, out_channels, col, 1, &format!("{label}/{k}x1"))?;
    bn(b, c, label)
}

/// Pooling with "same" padding; average pooling excludes padding from the divisor.
pub fn pool(
    b: &mut NetworkBuilder,
    x: NodeId,
    max: bool,
    k: u32,
    stride: u32,
    label: &str,
) -> Result<NodeId> {
    let padding = k / 2;
    let op = if max {
        Op::MaxPool {
            kernel: k,
            stride,
            padding,
        }
    } else {
        Op::AvgPool {
            kernel: k,
            stride,
            padding,
        }
    };
    let name = if max { "max_pool" } else { "avg_pool" };
    b.add(op, &[x], format!("{label}/{name}"))
}

/// DARTS `FactorizedReduce`: ReLU, then two 1x1 stride-2 convolutions, the second on the input
/// shifted by one pixel, concatenated, then batch norm. Halves the spatial size.
pub fn factorized_reduce(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    label: &str,
) -> Result<NodeId> {
    let r = relu(b, x, label)?;
    let half = out_channels / 2;
    let one = ConvGeometry::same(1, 2);
    let a = conv(b, r, half, one, 1, &format!("{label}/path1"))?;
    let shifted = b.add(
        Op::Crop { rows: 1, cols: 1 },
        &[r],
        format!("{label}/path2/shift"),
    )?;
    let c = conv(
        b,
        shifted,
        out_channels - half,
        one,
        1,
        &format!("{label}/path2"),
    )?;
    let cat = b.add(Op::Concat, &[a, c], format!("{label}/concat"))?;
    bn(b, cat, label)
}

/// NAS-Bench-201's `ResNetBasicblock` with stride 2: two ReLU-Conv-BN 3x3 (the first strided)
/// plus a shortcut of 2x2 average pooling and a 1x1 convolution.
pub fn resnet_reduction(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    label: &str,
) -> Result<NodeId> {
    let a = relu_conv_bn(
        b,
        x,
        out_channels,
        ConvGeometry::same(3, 2),
        &format!("{label}/conv_a"),
    )?;
    let c = relu_conv_bn(
        b,
        a,
        out_channels,
        ConvGeometry::same(3, 1),
        &format!("{label}/conv_b"),
    )?;
    let p = b.add(
        Op::AvgPool {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
        &[x],
        format!("{label}/shortcut/avg_pool"),
    )?;
    let s = conv(
        b,
        p,
        out_channels,
        ConvGeometry::same(1, 1),
        1,
        &format!("{label}/shortcut"),
    )?;
    b.add(Op::Add, &[s, c], format!("{label}/add"))
}

/// Parameters of an FBNet / MobileNetV2-style inverted residual block.
#[derive(Clone, Copy, Debug)]
pub struct InvertedResidual {
    /// Depthwise kernel size.
    pub kernel: u32,
    /// Channel expansion of the first 1x1 convolution.
    pub expansion: u32,
    /// Groups of the two 1x1 convolutions (channel shuffle follows the first when > 1).
    pub groups: u32,
    /// Stride of the depthwise convolution.
    pub stride: u32,
}

/// FBNet block: 1x1 group conv, BN, ReLU, channel shuffle (groups > 1), `k x k` depthwise conv
/// (strided), BN, ReLU, 1x1 group conv, BN, plus the input when shapes allow.
pub fn inverted_residual(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    p: InvertedResidual,
    label: &str,
) -> Result<NodeId> {
    let c_in = b.shape(x).channels;
    let mid = c_in * p.expansion;
    let mut h = conv(
        b,
        x,
        mid,
        ConvGeometry::same(1, 1),
        p.groups,
        &format!("{label}/expand"),
    )?;
    h = bn(b, h, &format!("{label}/expand"))?;
    h = relu(b, h, &format!("{label}/expand"))?;
    if p.groups > 1 {
        h = b.add(
            Op::ChannelShuffle { groups: p.groups },
            &[h],
            format!("{label}/shuffle"),
        )?;
    }
    h = conv(
        b,
        h,
        mid,
        ConvGeometry::same(p.kernel, p.stride),
        mid,
        &format!("{label}/depthwise"),
    )?;
    h = bn(b, h, &format!("{label}/depthwise"))?;
    h = relu(b, h, &format!("{label}/depthwise"))?;
    h = conv(
        b,
        h,
        out_channels,
        ConvGeometry::same(1, 1),
        p.groups,
        &format!("{label}/project"),
    )?;
    h = bn(b, h, &format!("{label}/project"))?;
    if p.stride == 1 && c_in == out_channels {
        h = b.add(Op::Add, &[x, h], format!("{label}/residual"))?;
    }
    Ok(h)
}

/// A zero op of the given output channels and stride.
pub fn zero(
    b: &mut NetworkBuilder,
    x: NodeId,
    out_channels: u32,
    stride: u32,
    label: &str,
) -> Result<NodeId> {
    b.add(
        Op::Zero {
            out_channels,
            stride,
        },
        &[x],
        format!("{label}/zero"),
    )
}

/// Global average pooling and a linear classifier with bias.
pub fn classifier(b: &mut NetworkBuilder, x: NodeId, classes: u32, label: &str) -> Result<NodeId> {
    let g = b.add(Op::GlobalAvgPool, &[x], format!("{label}/global_avg_pool"))?;
    b.add(
        Op::Linear {
            out_features: classes,
            bias: true,
        },
        &[g],
        format!("{label}/linear"),
    )
}

/// Sums several values, or passes a single one through without an `add` node.
pub fn sum(b: &mut NetworkBuilder, xs: &[NodeId], label: &str) -> Result<NodeId> {
    match xs {
        [one] => Ok(*one),
        _ => b.add(Op::Add, xs, format!("{label}/add")),
    }
}

/// Concatenates several values, or passes a single one through without a `concat` node.
pub fn concat(b: &mut NetworkBuilder, xs: &[NodeId], label: &str) -> Result<NodeId> {
    match xs {
        [one] => Ok(*one),
        _ => b.add(Op::Concat, xs, format!("{label}/concat")),
    }
}
