//! [`Backend`] on burn 0.22 with its pure-Rust `flex` CPU device (autodiff on top): the
//! default build, no system libraries.
//!
//! Parameters live in one `Vec<Param<Tensor<4>>>` so burn's own optimizers (SGD with momentum,
//! Adam) update them as a module; batch-norm scale and shift are stored as `1 x C x 1 x 1` and
//! reshaped when used. burn's SGD momentum dampening defaults to 0.1; evonas sets 0, as the
//! NAS literature and PyTorch do, and Adam's epsilon to PyTorch's 1e-8 (burn: 1e-5).

use burn::module::Param;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::module::{avg_pool2d, batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, FloatDType, TensorData};

use super::backend::{Backend, NormId, OptimizerSpec, ParamId};
use crate::ir::Conv;

const BN_EPSILON: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

struct Norm {
    channels: usize,
    /// Scale and shift parameters, when affine.
    affine: Option<(ParamId, ParamId)>,
    /// Running statistics, on the inner device: they never take part in a graph.
    running_mean: Tensor<1>,
    running_var: Tensor<1>,
}

/// burn-flex training state for one network: device, parameters, batch-norm statistics and
/// optimizer.
pub struct BurnFlex {
    device: Device,
    params: Vec<Param<Tensor<4>>>,
    norms: Vec<Norm>,
    optimizer: ModuleOptimizer,
    track: bool,
    /// Float type of parameters and new tensors: F32, or F64 after [`Backend::double`].
    dtype: DType,
}

impl BurnFlex {
    /// A fresh backend instance using `optimizer` in [`Backend::step`].
    pub fn new(optimizer: OptimizerSpec) -> Self {
        let optimizer = match optimizer {
            OptimizerSpec::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then_some(MomentumConfig {
                    momentum,
                    dampening: 0.0,
                    nesterov,
                }))
                .with_weight_decay(decay(weight_decay))
                .init(),
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
            } => AdamConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(decay(weight_decay))
                .init(),
        };
        BurnFlex {
            device: Device::flex().autodiff(),
            params: Vec::new(),
            norms: Vec::new(),
            optimizer,
            track: true,
            dtype: DType::F32,
        }
    }

    /// A parameter's value: in the autodiff graph while training; in inference a plain
    /// tensor of the inner device, so nothing is recorded (burn's autodiff registers even
    /// untracked operations in its graph, and only a backward pass frees them: scoring with
    /// autodiff tensors kept every batch's activations alive).
    fn value(&self, p: ParamId) -> Tensor<4> {
        let v = self.params[p.0].val();
        if self.track {
            v
        } else {
            v.inner()
        }
    }

    /// The device new tensors go to in the current mode.
    fn mode_device(&self) -> Device {
        if self.track {
            self.device.clone()
        } else {
            self.device.clone().inner()
        }
    }

    fn vector(&self, p: ParamId, len: usize) -> Tensor<1> {
        self.value(p).reshape([len])
    }

    /// A tensor of `values` on `device`, in the backend's float type.
    fn make(&self, values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, shape), (device, self.dtype))
    }
}

fn decay(weight_decay: f64) -> Option<WeightDecayConfig> {
    (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32))
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    // The flex device stores f32; a conversion only happens for other dtypes.
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Host copy in 64 bits (exact for float32 tensors, full range for float64 ones).
fn host_f64(t: Tensor<4>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap_or_default()
}

impl Backend for BurnFlex {
    type Tensor = Tensor<4>;
    type Loss = Tensor<1>;

    fn name(&self) -> &'static str {
        "burn-flex"
    }

    fn param(&mut self, shape: [usize; 4], values: Vec<f32>) -> ParamId {
        let t = self.make(values, shape, &self.device);
        self.params.push(Param::from_tensor(t));
        ParamId(self.params.len() - 1)
    }

    fn norm(&mut self, channels: usize, affine: bool) -> NormId {
        let affine = affine.then(|| {
            (
                self.param([1, channels, 1, 1], vec![1.0; channels]),
                self.param([1, channels, 1, 1], vec![0.0; channels]),
            )
        });
        self.norms.push(Norm {
            channels,
            affine,
            running_mean: Tensor::zeros([channels], &self.device.clone().inner()),
            running_var: Tensor::ones([channels], &self.device.clone().inner()),
        });
        NormId(self.norms.len() - 1)
    }

    fn param_values(&self, p: ParamId) -> Vec<f32> {
        host(self.value(p).detach())
    }

    fn set_param_values(&mut self, p: ParamId, values: Vec<f32>) {
        let shape: [usize; 4] = self.params[p.0].val().dims();
        let t = self.make(values, shape, &self.device);
        self.params[p.0] = Param::from_tensor(t);
    }

    fn params(&self) -> Vec<ParamId> {
        (0..self.params.len()).map(ParamId).collect()
    }

    fn track_gradients(&mut self, on: bool) {
        self.track = on;
    }

    fn tensor(&self, values: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
        self.make(values, shape, &self.mode_device())
    }

    fn input(&self, x: Tensor<4>) -> Tensor<4> {
        if self.track {
            x
        } else {
            x.inner()
        }
    }

    fn zeros(&self, shape: [usize; 4]) -> Tensor<4> {
        Tensor::zeros(shape, (&self.mode_device(), self.dtype))
    }

    fn values(&self, x: &Tensor<4>) -> Vec<f32> {
        host(x.clone().detach())
    }

    fn shape(&self, x: &Tensor<4>) -> [usize; 4] {
        x.dims()
    }

    fn conv2d(
        &self,
        x: Tensor<4>,
        weight: ParamId,
        bias: Option<ParamId>,
        conv: &Conv,
    ) -> Tensor<4> {
        let u = |a: [u32; 2]| a.map(|v| v as usize);
        let bias = bias.map(|b| self.vector(b, conv.out_channels as usize));
        conv2d(
            x,
            self.value(weight),
            bias,
            ConvOptions::new(
                u(conv.stride),
                u(conv.padding),
                u(conv.dilation),
                conv.groups as usize,
            ),
        )
    }

    fn batch_norm(&mut self, x: Tensor<4>, norm: NormId, training: bool) -> Tensor<4> {
        let n = &self.norms[norm.0];
        let c = n.channels;
        let (gamma, beta) = match n.affine {
            Some((g, b)) => (self.vector(g, c), self.vector(b, c)),
            None => (
                Tensor::ones([c], (&x.device(), x.dtype())),
                Tensor::zeros([c], (&x.device(), x.dtype())),
            ),
        };
        if !training {
            let (m, v) = (
                n.running_mean.clone().cast(x.dtype()),
                n.running_var.clone().cast(x.dtype()),
            );
            return batch_norm(x, gamma, beta, m, v, BN_EPSILON);
        }
        let [b, _, h, w] = x.dims();
        let count = (b * h * w) as f64;
        let out = batch_norm_train(x, gamma, beta, BN_EPSILON);
        // PyTorch's running statistics: the variance is the unbiased batch variance.
        let unbias = if count > 1.0 {
            count / (count - 1.0)
        } else {
            1.0
        };
        let n = &mut self.norms[norm.0];
        // Statistics leave the graph: kept in it, each step's would hold the last one's alive.
        // They stay float32 whatever the activations' type.
        n.running_mean = n.running_mean.clone().mul_scalar(1.0 - BN_MOMENTUM)
            + out
                .mean
                .inner()
                .cast(FloatDType::F32)
                .mul_scalar(BN_MOMENTUM);
        n.running_var = n.running_var.clone().mul_scalar(1.0 - BN_MOMENTUM)
            + out
                .variance
                .inner()
                .cast(FloatDType::F32)
                .mul_scalar(BN_MOMENTUM * unbias);
        out.output
    }

    fn relu(&self, x: Tensor<4>) -> Tensor<4> {
        burn::tensor::activation::relu(x)
    }

    fn avg_pool(&self, x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Tensor<4> {
        avg_pool2d(
            x,
            AvgPoolOptions::new([kernel, kernel])
                .with_stride([stride, stride])
                .with_padding([padding, padding])
                .with_count_include_pad(false),
        )
    }

    fn max_pool(&self, x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Tensor<4> {
        max_pool2d(
            x,
            MaxPoolOptions::new([kernel, kernel])
                .with_stride([stride, stride])
                .with_padding([padding, padding]),
        )
    }

    fn add(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
        a + b
    }

    fn concat(&self, xs: Vec<Tensor<4>>) -> Tensor<4> {
        Tensor::cat(xs, 1)
    }

    fn channel_shuffle(&self, x: Tensor<4>, groups: usize) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        x.reshape([n, groups, c / groups, h * w])
            .swap_dims(1, 2)
            .reshape([n, c, h, w])
    }

    fn narrow(&self, x: Tensor<4>, dim: usize, start: usize, len: usize) -> Tensor<4> {
        x.narrow(dim, start, len)
    }

    fn global_avg_pool(&self, x: Tensor<4>) -> Tensor<4> {
        x.mean_dim(3).mean_dim(2)
    }

    fn cross_entropy(&self, logits: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
        let [n, k, _, _] = logits.dims();
        burn::tensor::loss::cross_entropy_with_logits(
            logits.reshape([n, k]),
            targets.reshape([n, k]),
        )
    }

    fn keep_loss(&self, loss: &Tensor<1>) -> Tensor<1> {
        loss.clone().detach()
    }

    fn loss_value(&self, loss: &Tensor<1>) -> f32 {
        loss.clone().detach().into_scalar::<f32>()
    }

    fn gradients_f64(
        &mut self,
        loss: Tensor<1>,
        inputs: &[Tensor<4>],
    ) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let grads = loss.backward();
        let of = |t: Tensor<4>| {
            let dims: [usize; 4] = t.dims();
            match t.grad(&grads) {
                Some(g) => host_f64(g),
                None => vec![0.0; dims.iter().product()],
            }
        };
        let params = self.params.iter().map(|p| of(p.val())).collect();
        let inputs = inputs.iter().map(|x| of(x.clone())).collect();
        (params, inputs)
    }

    fn variable(&self, x: Tensor<4>) -> Tensor<4> {
        x.detach().require_grad()
    }

    fn sum(&self, x: Tensor<4>) -> Tensor<1> {
        x.sum()
    }

    fn double(&mut self) {
        self.dtype = DType::F64;
        // Rebuilt from their (float32, so exact) values: a cast inside the graph would make
        // them non-leaves, without gradients of their own.
        for i in 0..self.params.len() {
            let old = self.params[i].val();
            let t = self.make(host(old.clone()), old.dims(), &self.device);
            self.params[i] = Param::from_tensor(t);
        }
    }

    fn running_var(&self, norm: NormId) -> Vec<f32> {
        host(self.norms[norm.0].running_var.clone())
    }

    fn step(&mut self, loss: Tensor<1>, lr: f64) {
        let grads = loss.backward();
        let grads = GradientsParams::from_grads(grads, &self.params);
        let params = std::mem::take(&mut self.params);
        self.params = self.optimizer.step(lr, params, grads);
    }
}
