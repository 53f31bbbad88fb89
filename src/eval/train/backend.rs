//! The [`Backend`] trait: the few tensor operations the IR needs, parameter storage and one
//! optimizer step. The interpreter ([`super::model`]) and the training loop ([`super::train`])
//! are written once against it; burn on its `flex` CPU device is the first implementation
//! ([`super::flex`]), libtorch follows behind the same trait.
//!
//! Everything is a 4-D `N x C x H x W` tensor: flat features after global pooling are
//! `N x C x 1 x 1`, so a linear layer is a 1x1 map and one tensor type covers the whole IR.
//! Parameter values are created by evonas itself (from its own seeded RNG), so initialisation
//! is identical on every backend.

use crate::eval::data::{Crop, Dataset};
use crate::ir::Conv;

/// Per-channel mean and standard deviation images are normalised with.
pub type Norm = (Vec<f32>, Vec<f32>);

/// The target probability of the true class and of every other one under label smoothing:
/// `1 - smoothing + smoothing / classes` and `smoothing / classes`.
pub fn smoothing_levels(classes: usize, smoothing: f64) -> (f32, f32) {
    let off = (smoothing / classes as f64) as f32;
    ((1.0 - smoothing) as f32 + off, off)
}

/// Target probabilities (`labels.len() x classes`, row-major) with label smoothing
/// ([`smoothing_levels`]).
pub fn target_probabilities(labels: &[u8], classes: usize, smoothing: f64) -> Vec<f32> {
    let (on, off) = smoothing_levels(classes, smoothing);
    let mut t = vec![off; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        t[i * classes + usize::from(l)] = on;
    }
    t
}

/// Index of a learnable tensor inside one backend instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub(crate) usize);

/// Index of a batch-norm layer's state (affine parameters and running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NormId(pub(crate) usize);

/// The optimizer a backend applies in [`Backend::step`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerSpec {
    /// SGD with heavy-ball momentum (dampening 0, as in the NAS literature and PyTorch).
    Sgd {
        /// Momentum factor (0: plain SGD).
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba), PyTorch's defaults for betas and epsilon.
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator epsilon.
        epsilon: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
}

/// [`Backend::batch`] built on the host and copied to the backend: what every backend does
/// with data it does not hold itself.
pub fn host_batch<B: Backend + ?Sized>(
    backend: &B,
    data: &Dataset,
    norm: &Norm,
    indices: &[usize],
    crops: Option<&[Crop]>,
    smoothing: f64,
) -> (B::Tensor, B::Tensor) {
    let [c, h, w] = data.shape;
    let (x, y) = data.batch(indices, norm, crops);
    let t = target_probabilities(&y, data.classes, smoothing);
    (
        backend.tensor(x, [indices.len(), c, h, w]),
        backend.tensor(t, [indices.len(), data.classes, 1, 1]),
    )
}

/// Tensor operations, parameters and optimisation for training IR networks.
///
/// Shapes are validated by the IR before a network is interpreted; implementations may still
/// panic on a mismatch (burn does), and the caller treats a panic as a failed evaluation.
pub trait Backend {
    /// A 4-D tensor on the backend's device.
    type Tensor: Clone;
    /// A scalar loss that can be differentiated.
    type Loss;

    /// Short name (`"burn-flex"`), part of every training protocol.
    fn name(&self) -> &'static str;

    /// Registers a learnable tensor of `shape` holding `values` (row-major).
    fn param(&mut self, shape: [usize; 4], values: Vec<f32>) -> ParamId;
    /// A batch-norm layer over `channels` (scale 1 and shift 0 when `affine`; running mean 0
    /// and variance 1).
    fn norm(&mut self, channels: usize, affine: bool) -> NormId;
    /// The current values of a parameter (row-major).
    fn param_values(&self, p: ParamId) -> Vec<f32>;
    /// Overwrites a parameter's values (gradient checks, checkpoints).
    fn set_param_values(&mut self, p: ParamId, values: Vec<f32>);
    /// All parameters, in creation order.
    fn params(&self) -> Vec<ParamId>;

    /// Whether operations take part in the autodiff graph: off while measuring accuracy, so
    /// inference records nothing and keeps nothing alive. With it off, parameters and every
    /// tensor made by [`Backend::tensor`], [`Backend::zeros`] and [`Backend::input`] carry no
    /// autodiff state, so scoring needs one batch's activations whatever the number of images.
    fn track_gradients(&mut self, on: bool);

    /// A constant tensor from host values, in the current mode.
    fn tensor(&self, values: Vec<f32>, shape: [usize; 4]) -> Self::Tensor;
    /// A network's input batch made before the mode was set, brought into the current mode
    /// (with tracking off: stripped of any autodiff state).
    fn input(&self, x: Self::Tensor) -> Self::Tensor;
    /// A tensor of zeros, in the current mode.
    fn zeros(&self, shape: [usize; 4]) -> Self::Tensor;
    /// Host copy of a tensor's values (row-major).
    fn values(&self, x: &Self::Tensor) -> Vec<f32>;
    /// A tensor's shape.
    fn shape(&self, x: &Self::Tensor) -> [usize; 4];

    /// Convolution with weight `[out, in / groups, kh, kw]` and optional bias `[1, out, 1, 1]`.
    fn conv2d(
        &self,
        x: Self::Tensor,
        weight: ParamId,
        bias: Option<ParamId>,
        conv: &Conv,
    ) -> Self::Tensor;
    /// Batch normalisation: batch statistics (and a running-statistics update, momentum 0.1)
    /// when `training`, running statistics otherwise.
    fn batch_norm(&mut self, x: Self::Tensor, norm: NormId, training: bool) -> Self::Tensor;
    /// Rectified linear unit.
    fn relu(&self, x: Self::Tensor) -> Self::Tensor;
    /// Average pooling whose divisor counts only positions inside the input.
    fn avg_pool(
        &self,
        x: Self::Tensor,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self::Tensor;
    /// Max pooling; padded positions never win.
    fn max_pool(
        &self,
        x: Self::Tensor,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self::Tensor;
    /// Element-wise sum.
    fn add(&self, a: Self::Tensor, b: Self::Tensor) -> Self::Tensor;
    /// Concatenation along channels.
    fn concat(&self, xs: Vec<Self::Tensor>) -> Self::Tensor;
    /// ShuffleNet's channel shuffle.
    fn channel_shuffle(&self, x: Self::Tensor, groups: usize) -> Self::Tensor;
    /// `len` entries of dimension `dim` (1: channels, 2: rows, 3: columns) from `start`.
    fn narrow(&self, x: Self::Tensor, dim: usize, start: usize, len: usize) -> Self::Tensor;
    /// Mean over the spatial dimensions, keeping them as `1 x 1`.
    fn global_avg_pool(&self, x: Self::Tensor) -> Self::Tensor;

    /// Mean cross-entropy of `logits` (`N x K x 1 x 1`) against target probabilities
    /// (`N x K x 1 x 1`; label smoothing is applied by the caller).
    fn cross_entropy(&self, logits: Self::Tensor, targets: Self::Tensor) -> Self::Loss;
    /// The loss value (waits for the device).
    fn loss_value(&self, loss: &Self::Loss) -> f32;

    /// A batch of `data`: the images at `indices`, shifted by `crops`, normalised by `norm`, in
    /// the current mode; and their target probabilities (`N x classes x 1 x 1`) smoothed by
    /// `smoothing`. The default builds both on the host; a GPU backend holding the data on its
    /// device overrides it, so a step copies only the indices and crops.
    fn batch(
        &mut self,
        data: &Dataset,
        norm: &Norm,
        indices: &[usize],
        crops: Option<&[Crop]>,
        smoothing: f64,
    ) -> (Self::Tensor, Self::Tensor) {
        host_batch(self, data, norm, indices, crops, smoothing)
    }

    /// A copy of `loss`'s value kept where it is (outside the autodiff graph), to be read
    /// later with others by [`Backend::read_losses`].
    fn keep_loss(&self, loss: &Self::Loss) -> Self::Loss;
    /// The values of kept losses, in order (one transfer on a GPU backend).
    fn read_losses(&self, losses: Vec<Self::Loss>) -> Vec<f32> {
        losses.iter().map(|l| self.loss_value(l)).collect()
    }
    /// Steps the training loop may take between reads of the loss: 1 on the CPU, where a read
    /// costs nothing; more on a GPU, where each read waits for the device to catch up.
    fn loss_read_interval(&self) -> usize {
        1
    }
    /// Gradients of `loss` for every parameter, in [`Backend::params`] order (tests, checks).
    fn gradients(&mut self, loss: Self::Loss) -> Vec<Vec<f32>> {
        let (params, _) = self.gradients_f64(loss, &[]);
        params
            .into_iter()
            .map(|g| g.into_iter().map(|v| v as f32).collect())
            .collect()
    }
    /// Gradients of `loss`, as 64-bit values: for every parameter, in [`Backend::params`]
    /// order, and for each of `inputs` (tensors made by [`Backend::variable`]; zeros where
    /// `loss` does not depend on one). 64 bits because after [`Backend::double`] they may not
    /// fit a float32 (synflow's gradients reach 1e48 in NB-201 networks).
    fn gradients_f64(
        &mut self,
        loss: Self::Loss,
        inputs: &[Self::Tensor],
    ) -> (Vec<Vec<f64>>, Vec<Vec<f64>>);
    /// `x` as a leaf of the autodiff graph whose gradient [`Backend::gradients_f64`] returns
    /// (PyTorch's `x.requires_grad_()`: zero-cost proxies differentiate the output with
    /// respect to the input images). Needs gradient tracking on.
    fn variable(&self, x: Self::Tensor) -> Self::Tensor;
    /// The sum of every element of `x`, as a loss: differentiating it gives what PyTorch's
    /// `x.backward(torch.ones_like(x))` gives (synflow, jacov).
    fn sum(&self, x: Self::Tensor) -> Self::Loss;
    /// Converts every parameter to 64-bit floats and makes every tensor created afterwards
    /// ([`Backend::tensor`], [`Backend::zeros`], [`Backend::param`]) 64-bit: PyTorch's
    /// `net.double()`, which NASLib's synflow runs because its activations and gradients
    /// overflow float32 in deep networks. There is no way back; a backend instance is
    /// discarded after its proxy.
    fn double(&mut self);
    /// A batch-norm layer's running variance (zen scores with it).
    fn running_var(&self, norm: NormId) -> Vec<f32>;
    /// Back-propagates `loss` and applies one optimizer step with learning rate `lr`.
    fn step(&mut self, loss: Self::Loss, lr: f64);
}
