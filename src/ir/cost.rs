//! Parameter count and FLOPs of a network, read off the IR.
//!
//! FLOPs are multiply-accumulates of convolutions and linear layers, the convention of
//! NAS-Bench-201 and most NAS papers; element-wise ops, pooling and batch norm are not counted.

use super::network::Network;
use super::op::Op;

/// Static cost of one network for a single input sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    /// Trainable parameters (batch-norm running statistics are not parameters).
    pub params: u64,
    /// Multiply-accumulates of one forward pass.
    pub flops: u64,
}

/// Parameters and FLOPs of `net`.
pub fn cost(net: &Network) -> Cost {
    let mut total = Cost::default();
    for node in net.nodes() {
        let in_shape = node.inputs.first().map(|&i| net.node(i).shape);
        let out = node.shape;
        match (node.op, in_shape) {
            (Op::Conv(c), Some(x)) => {
                let per_out = u64::from(x.channels / c.groups)
                    * u64::from(c.kernel[0])
                    * u64::from(c.kernel[1]);
                let weights = u64::from(c.out_channels) * per_out;
                total.params += weights + if c.bias { u64::from(c.out_channels) } else { 0 };
                total.flops += out.numel() * per_out;
            }
            (Op::BatchNorm { affine: true }, _) => total.params += 2 * u64::from(out.channels),
            (Op::Linear { out_features, bias }, Some(x)) => {
                let weights = u64::from(x.channels) * u64::from(out_features);
                total.params += weights + if bias { u64::from(out_features) } else { 0 };
                total.flops += weights;
            }
            _ => {}
        }
    }
    total
}
