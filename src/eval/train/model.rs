//! The IR interpreter: an [`ir::Network`](crate::ir::Network) becomes a trainable [`Model`] on
//! any [`Backend`].
//!
//! Parameters are drawn from evonas' own seeded RNG with PyTorch's default initialisation
//! (uniform in `±1/sqrt(fan_in)` for convolution and linear weights and biases; batch norm
//! scale 1 and shift 0), so a network starts from the same weights on every backend and in the
//! exported PyTorch module's convention.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::backend::{Backend, NormId, ParamId};
use crate::eval::memory::{self, OutOfMemory};
use crate::ir::{Conv, Network, Op, Shape};

/// What one node needs at run time.
#[derive(Clone, Copy, Debug)]
enum Slot {
    None,
    Conv {
        weight: ParamId,
        bias: Option<ParamId>,
    },
    Norm(NormId),
}

/// A network bound to parameters on a backend.
#[derive(Clone, Debug)]
pub struct Model {
    net: Network,
    slots: Vec<Slot>,
    /// For each node, how many consumers read it (its value is dropped after the last).
    uses: Vec<usize>,
    classes: usize,
}

/// Why a network cannot be trained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The network does not end in class scores.
    #[error("the network's output is {0}; a classifier must output classes x 1 x 1")]
    NotAClassifier(Shape),
    /// The network has no global average pooling (zen scores the features before it).
    #[error("the network has no global average pooling, whose input zen scores")]
    NoGlobalPool,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

impl Model {
    /// Creates the network's parameters on `backend`, initialised from `seed`.
    pub fn build<B: Backend>(
        net: &Network,
        backend: &mut B,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let out = net.output_shape();
        if out.height != 1 || out.width != 1 {
            return Err(ModelError::NotAClassifier(out));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut slots = Vec::with_capacity(net.len());
        for node in net.nodes() {
            let in_shape = node.inputs.first().map(|&i| net.node(i).shape);
            let slot = match (&node.op, in_shape) {
                (Op::Conv(c), Some(s)) => {
                    let in_per_group = (s.channels / c.groups) as usize;
                    let [kh, kw] = c.kernel.map(|k| k as usize);
                    let out = c.out_channels as usize;
                    let fan_in = in_per_group * kh * kw;
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    let n = out * fan_in;
                    let weight =
                        backend.param([out, in_per_group, kh, kw], uniform(&mut rng, n, bound));
                    let bias = c
                        .bias
                        .then(|| backend.param([1, out, 1, 1], uniform(&mut rng, out, bound)));
                    Slot::Conv { weight, bias }
                }
                (Op::Linear { out_features, bias }, Some(s)) => {
                    let (out, fan_in) = (*out_features as usize, s.channels as usize);
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    let weight =
                        backend.param([out, fan_in, 1, 1], uniform(&mut rng, out * fan_in, bound));
                    let bias =
                        bias.then(|| backend.param([1, out, 1, 1], uniform(&mut rng, out, bound)));
                    Slot::Conv { weight, bias }
                }
                (Op::BatchNorm { affine }, Some(s)) => {
                    Slot::Norm(backend.norm(s.channels as usize, *affine))
                }
                _ => Slot::None,
            };
            slots.push(slot);
        }
        let mut uses = vec![0; net.len()];
        for node in net.nodes() {
            for &i in &node.inputs {
                uses[i.index()] += 1;
            }
        }
        Ok(Model {
            net: net.clone(),
            slots,
            uses,
            classes: out.channels as usize,
        })
    }

    /// Number of classes the network scores.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The interpreted network.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Runs the network on a batch (`N x C x H x W`); returns logits `N x classes x 1 x 1`.
    /// `training` selects batch statistics (and updates running ones) in batch norm, and
    /// whether the autodiff graph is recorded.
    ///
    /// Stops with [`OutOfMemory`] before any node once the calling thread's memory meter
    /// ([`crate::eval::memory`]) has crossed its limit.
    pub fn forward<B: Backend>(
        &self,
        backend: &mut B,
        x: B::Tensor,
        training: bool,
    ) -> Result<B::Tensor, OutOfMemory> {
        self.forward_observed(backend, x, training, training, &mut |_, _, _| {})
    }

    /// The convolution and linear weights (not biases), in node order: the layers zero-cost
    /// proxies sum over (NASLib's `Conv2d` and `Linear` weights).
    pub fn weights(&self) -> Vec<ParamId> {
        self.layers().map(|(weight, _)| weight).collect()
    }

    /// The convolution and linear biases, in node order (zen sets them to zero).
    pub fn biases(&self) -> Vec<ParamId> {
        self.layers().filter_map(|(_, bias)| bias).collect()
    }

    /// Weight and bias of every convolution and linear layer, in node order.
    fn layers(&self) -> impl Iterator<Item = (ParamId, Option<ParamId>)> + '_ {
        self.slots.iter().filter_map(|s| match s {
            Slot::Conv { weight, bias } => Some((*weight, *bias)),
            _ => None,
        })
    }

    /// The batch-norm layers, in node order (zen sums over their running variances).
    pub fn norms(&self) -> Vec<NormId> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Norm(n) => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// [`Model::forward`], showing `observe` the backend and every node's op and output as it
    /// is computed (zero-cost proxies read the ReLU outputs). `gradients` records the autodiff
    /// graph; without it batch norm may still use batch statistics (`training`), and nothing
    /// is held for a backward pass that will not come (burn keeps a recorded graph until one
    /// does: 725 NASWOT scores recorded without it held 23 GB).
    pub fn forward_observed<B: Backend>(
        &self,
        backend: &mut B,
        x: B::Tensor,
        training: bool,
        gradients: bool,
        observe: &mut dyn FnMut(&B, &Op, &B::Tensor),
    ) -> Result<B::Tensor, OutOfMemory> {
        backend.track_gradients(gradients);
        let x = backend.input(x);
        let batch = backend.shape(&x)[0];
        let mut values: Vec<Option<B::Tensor>> = vec![None; self.net.len()];
        let mut left = self.uses.clone();
        let mut input = Some(x);
        for (i, node) in self.net.nodes().iter().enumerate() {
            memory::check()?;
            // Operands, each moved out after its last use.
            let mut args: Vec<B::Tensor> = Vec::with_capacity(node.inputs.len());
            for &src in &node.inputs {
                let s = src.index();
                left[s] -= 1;
                let v = if left[s] == 0 {
                    values[s].take()
                } else {
                    values[s].clone()
                };
                args.push(v.expect("operands are computed before their consumers"));
            }
            let mut args = args.into_iter();
            let x0 = args.next();
            let first = move || x0.expect("arity checked by the IR");
            let s = node.shape;
            let value = match (&node.op, self.slots[i]) {
                (Op::Input { .. }, _) => input.take().expect("one input node"),
                (Op::Output | Op::Identity, _) => first(),
                (Op::Conv(c), Slot::Conv { weight, bias }) => {
                    backend.conv2d(first(), weight, bias, c)
                }
                (Op::Linear { out_features, .. }, Slot::Conv { weight, bias }) => {
                    let as_conv = Conv {
                        out_channels: *out_features,
                        kernel: [1, 1],
                        stride: [1, 1],
                        padding: [0, 0],
                        dilation: [1, 1],
                        groups: 1,
                        bias: bias.is_some(),
                    };
                    backend.conv2d(first(), weight, bias, &as_conv)
                }
                (Op::BatchNorm { .. }, Slot::Norm(n)) => backend.batch_norm(first(), n, training),
                (Op::Relu, _) => backend.relu(first()),
                (
                    Op::AvgPool {
                        kernel,
                        stride,
                        padding,
                    },
                    _,
                ) => backend.avg_pool(
                    first(),
                    *kernel as usize,
                    *stride as usize,
                    *padding as usize,
                ),
                (
                    Op::MaxPool {
                        kernel,
                        stride,
                        padding,
                    },
                    _,
                ) => backend.max_pool(
                    first(),
                    *kernel as usize,
                    *stride as usize,
                    *padding as usize,
                ),
                (Op::Zero { .. }, _) => backend.zeros([
                    batch,
                    s.channels as usize,
                    s.height as usize,
                    s.width as usize,
                ]),
                (Op::Add, _) => {
                    let a = first();
                    args.fold(a, |acc, b| backend.add(acc, b))
                }
                (Op::Concat, _) => {
                    let all: Vec<B::Tensor> = std::iter::once(first()).chain(args).collect();
                    backend.concat(all)
                }
                (Op::ChannelShuffle { groups }, _) => {
                    backend.channel_shuffle(first(), *groups as usize)
                }
                (Op::Truncate { channels }, _) => backend.narrow(first(), 1, 0, *channels as usize),
                (Op::Crop { rows, cols }, _) => {
                    let x = backend.narrow(first(), 2, *rows as usize, s.height as usize);
                    backend.narrow(x, 3, *cols as usize, s.width as usize)
                }
                (Op::GlobalAvgPool, _) => backend.global_avg_pool(first()),
                (op, slot) => unreachable!("node {i}: {op:?} built with {slot:?}"),
            };
            observe(backend, &node.op, &value);
            values[i] = Some(value);
        }
        Ok(values[self.net.output().index()]
            .take()
            .expect("the output node is computed last"))
    }
}
