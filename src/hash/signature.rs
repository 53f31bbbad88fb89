//! The label of one op, with or without channel widths.

use crate::ir::{Op, Shape};
use crate::mix::Mixer;

/// Feeds an op's kind and parameters. With `widths`, channel counts are included; without,
/// only what the structural hash looks at (kind, kernel, stride, padding, dilation, and whether a
/// convolution is full, depthwise or grouped).
pub fn op(m: Mixer, op: &Op, input: Option<Shape>, widths: bool) -> Mixer {
    let w = |m: Mixer, x: u32| if widths { m.word(u64::from(x)) } else { m };
    match *op {
        Op::Input {
            channels,
            height,
            width,
        } => {
            let m = m.word(1).word(u64::from(height)).word(u64::from(width));
            w(m, channels)
        }
        Op::Output => m.word(2),
        Op::Conv(c) => {
            let in_c = input.map_or(0, |s| s.channels);
            // Depthwise and full convolutions are different structures whatever the width;
            // other group counts are kept as they are.
            let groups = if c.groups == 1 {
                0
            } else if c.groups == in_c && c.groups == c.out_channels {
                1
            } else {
                2 + u64::from(c.groups)
            };
            let m = m
                .word(3)
                .word(u64::from(c.kernel[0]) | u64::from(c.kernel[1]) << 32)
                .word(u64::from(c.stride[0]) | u64::from(c.stride[1]) << 32)
                .word(u64::from(c.padding[0]) | u64::from(c.padding[1]) << 32)
                .word(u64::from(c.dilation[0]) | u64::from(c.dilation[1]) << 32)
                .word(groups)
                .word(u64::from(c.bias));
            w(m, c.out_channels)
        }
        Op::BatchNorm { affine } => m.word(4).word(u64::from(affine)),
        Op::Relu => m.word(5),
        Op::AvgPool {
            kernel,
            stride,
            padding,
        } => m
            .word(6)
            .word(u64::from(kernel))
            .word(u64::from(stride))
            .word(u64::from(padding)),
        Op::MaxPool {
            kernel,
            stride,
            padding,
        } => m
            .word(7)
            .word(u64::from(kernel))
            .word(u64::from(stride))
            .word(u64::from(padding)),
        Op::Identity => m.word(8),
        Op::Zero {
            out_channels,
            stride,
        } => w(m.word(9).word(u64::from(stride)), out_channels),
        Op::Add => m.word(10),
        Op::Concat => m.word(11),
        Op::ChannelShuffle { groups } => m.word(12).word(u64::from(groups)),
        Op::Truncate { channels } => w(m.word(13), channels),
        Op::Crop { rows, cols } => m.word(14).word(u64::from(rows)).word(u64::from(cols)),
        Op::GlobalAvgPool => m.word(15),
        Op::Linear { out_features, bias } => m
            .word(16)
            .word(u64::from(out_features))
            .word(u64::from(bias)),
    }
}

/// Feeds a shape.
pub fn shape(m: Mixer, s: Shape) -> Mixer {
    m.word(u64::from(s.channels))
        .word(u64::from(s.height))
        .word(u64::from(s.width))
}
