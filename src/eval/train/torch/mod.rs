//! [`Backend`] on libtorch through the `tch` crate (cargo feature `tch`): PyTorch's own CPU
//! kernels (oneDNN, OpenMP) and its CUDA/cuDNN path.
//!
//! Parameters are created by evonas (same values as on burn-flex) and updated by PyTorch's
//! fused SGD/Adam kernels (one call per step for all parameters; burn's optimizers follow the
//! same formulas), so the two backends train the same numbers (checked by the cross-backend
//! test).
//!
//! On a GPU a step never waits for the device: the training and validation images live on the
//! device ([`DeviceData`], uploaded once per evaluator and device), a batch is gathered,
//! cropped, flipped and normalised there from indices and crops sent in one small copy, and the
//! loss is read every [`GPU_LOSS_INTERVAL`] steps. `precision = "bf16"` runs convolutions and
//! the activations between them in bfloat16 with float32 parameters, batch-norm statistics and
//! loss (what PyTorch's autocast does); `channels_last` stores activations and weights NHWC.

use std::sync::Arc;

use tch::{Device, Kind, Tensor};

use super::backend::{host_batch, smoothing_levels, Backend, Norm, NormId, OptimizerSpec, ParamId};
pub use super::config::Precision;
use crate::eval::data::{Crop, Dataset};
use crate::ir::Conv;

pub mod runtime;

mod ffi {
    use torch_sys::C_tensor;
    extern "C" {
        pub fn evonas_torch_version() -> *const std::os::raw::c_char;
        pub fn evonas_torch_error() -> *const std::os::raw::c_char;
        pub fn evonas_torch_kernels(benchmark: i32, deterministic: i32);
        pub fn evonas_sgd_step(
            params: *mut *mut C_tensor,
            buffers: *mut *mut C_tensor,
            n: i32,
            weight_decay: f64,
            momentum: f64,
            lr: f64,
            nesterov: i32,
        ) -> i32;
        pub fn evonas_adam_step(
            params: *mut *mut C_tensor,
            first: *mut *mut C_tensor,
            second: *mut *mut C_tensor,
            steps: *mut *mut C_tensor,
            n: i32,
            lr: f64,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
        ) -> i32;
    }
}

/// The message of the shim's last failure on this thread.
fn shim_error() -> String {
    // SAFETY: the shim returns a pointer to its thread-local string, valid until its next call
    // on this thread.
    unsafe { std::ffi::CStr::from_ptr(ffi::evonas_torch_error()) }
        .to_string_lossy()
        .into_owned()
}

const BN_EPSILON: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

/// Steps between loss reads on a GPU (each read waits for the device to finish its queue).
pub const GPU_LOSS_INTERVAL: usize = 50;

/// The libtorch version the binary was built against, e.g. `2.9.0`.
pub fn libtorch_version() -> String {
    // SAFETY: the shim returns a pointer to a static, NUL-terminated string literal.
    unsafe { std::ffi::CStr::from_ptr(ffi::evonas_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Chooses libtorch's kernels for the whole process: cuDNN's autotuner on or off, and
/// deterministic algorithms (which turn the autotuner off).
pub fn set_kernels(benchmark: bool, deterministic: bool) {
    // SAFETY: plain setters of libtorch's global context.
    unsafe { ffi::evonas_torch_kernels(i32::from(benchmark), i32::from(deterministic)) }
}

/// Keeps libtorch's tensor buffers in the C heap instead of fresh `mmap`s: glibc serves
/// allocations above its mmap threshold (128 KB at first) with `mmap` and gives them back with
/// `munmap` on free, so every step's activations cost page faults and page zeroing in the
/// kernel (measured: 12.6% of a tch-CPU training process vs 5.3% in PyTorch's own, 0.87x its
/// speed). With the threshold at 256 MB and heap trimming above 1 GB, freed buffers are reused:
/// +15% img/s on the reference network (1 thread). Once per process; glibc only.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes glibc's allocation thresholds; any value is valid.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// How a [`Tch`] backend computes.
#[derive(Clone, Copy, Debug)]
pub struct TchOptions {
    /// The device.
    pub device: Device,
    /// Precision.
    pub precision: Precision,
    /// NHWC memory format for activations and weights.
    pub channels_last: bool,
}

/// A libtorch tensor that clones as a new handle on the same storage (what the interpreter
/// needs to feed one node to several others).
#[derive(Debug)]
pub struct TchTensor(pub Tensor);

impl Clone for TchTensor {
    fn clone(&self) -> Self {
        TchTensor(self.0.shallow_clone())
    }
}

/// A data set held on a device: raw pixels (`u8`), labels, and the normalisation.
pub struct DeviceData {
    images: Tensor,
    labels: Tensor,
    mean: Tensor,
    std: Tensor,
    classes: usize,
    len: usize,
}

// SAFETY: a `DeviceData` is never changed after `upload`; through `&DeviceData` the tensors
// are only read (`index_select`, arithmetic producing new tensors), and libtorch's tensors
// may be read from several threads at once (their reference counts are atomic).
unsafe impl Sync for DeviceData {}

impl DeviceData {
    /// Copies `data` to `device` (once per evaluator and device: a step then sends only indices).
    pub fn upload(data: &Dataset, norm: &Norm, device: Device) -> DeviceData {
        let [c, h, w] = data.shape.map(|v| v as i64);
        let n = data.len() as i64;
        let images = Tensor::from_slice(&data.pixels)
            .view([n, c, h, w])
            .to_device(device);
        let labels: Vec<i64> = data.labels.iter().map(|&l| i64::from(l)).collect();
        let stat = |v: &[f32]| Tensor::from_slice(v).view([1, c, 1, 1]).to_device(device);
        DeviceData {
            images,
            labels: Tensor::from_slice(&labels).to_device(device),
            mean: stat(&norm.0),
            std: stat(&norm.1),
            classes: data.classes,
            len: data.len(),
        }
    }
}

struct NormState {
    affine: Option<(ParamId, ParamId)>,
    running_mean: Tensor,
    running_var: Tensor,
}

/// Optimizer state of one parameter, in the layout of PyTorch's fused optimizers. Tensors an
/// optimizer does not use stay undefined (no memory): the shim never reads them.
struct Slot {
    /// SGD momentum buffer (with momentum), or Adam's first moment; zeros at first.
    first: Tensor,
    /// Adam's second moment; zeros at first.
    second: Tensor,
    /// Adam's step count, a float scalar on the device (advanced before each fused step).
    steps: Tensor,
}

impl Slot {
    fn for_param(p: &Tensor, optimizer: OptimizerSpec) -> Slot {
        let _guard = tch::no_grad_guard();
        match optimizer {
            OptimizerSpec::Sgd { momentum, .. } => Slot {
                first: if momentum > 0.0 {
                    p.zeros_like()
                } else {
                    Tensor::new()
                },
                second: Tensor::new(),
                steps: Tensor::new(),
            },
            OptimizerSpec::Adam { .. } => Slot {
                first: p.zeros_like(),
                second: p.zeros_like(),
                steps: Tensor::zeros([] as [i64; 0], (Kind::Float, p.device())),
            },
        }
    }
}

/// libtorch training state for one network: parameters, batch-norm statistics, optimizer
/// state, and the data sets it holds on its device.
pub struct Tch {
    options: TchOptions,
    params: Vec<Tensor>,
    slots: Vec<Slot>,
    norms: Vec<NormState>,
    optimizer: OptimizerSpec,
    no_grad: Option<tch::NoGradGuard>,
    /// Float64 parameters and computation ([`Backend::double`]).
    double: bool,
    /// Data sets held on the device, by the address of the host copy (an identity, never
    /// dereferenced).
    data: Vec<(usize, Arc<DeviceData>)>,
}

impl Tch {
    /// A fresh backend instance on `options.device`, using `optimizer` in [`Backend::step`].
    pub fn new(optimizer: OptimizerSpec, options: TchOptions) -> Self {
        tune_allocator();
        Tch {
            options,
            params: Vec::new(),
            slots: Vec::new(),
            norms: Vec::new(),
            optimizer,
            no_grad: None,
            double: false,
            data: Vec::new(),
        }
    }

    /// Serves batches of `dataset` from `held` (the same images on this backend's device).
    pub fn hold(&mut self, dataset: &Dataset, held: Arc<DeviceData>) {
        self.data.push((dataset as *const Dataset as usize, held));
    }

    fn held(&self, data: &Dataset) -> Option<Arc<DeviceData>> {
        self.data
            .iter()
            .find(|(p, d)| *p == data as *const Dataset as usize && d.len == data.len())
            .map(|(_, d)| Arc::clone(d))
    }

    fn layout(&self, x: Tensor) -> Tensor {
        if self.options.channels_last && x.dim() == 4 {
            // NHWC strides: what PyTorch's `channels_last` memory format is.
            x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
        } else {
            x
        }
    }

    fn compute_kind(&self) -> Kind {
        if self.double {
            return Kind::Double;
        }
        match self.options.precision {
            Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }

    /// Float type of parameters and of tensors made from host values: float32 (bf16 casts
    /// at each convolution) or float64 after [`Backend::double`].
    fn param_kind(&self) -> Kind {
        if self.double {
            Kind::Double
        } else {
            Kind::Float
        }
    }

    /// Host indices to the device in one copy, without waiting (pinned memory on CUDA).
    fn upload_i64(&self, values: &[i64]) -> Tensor {
        let t = Tensor::from_slice(values);
        match self.options.device {
            Device::Cpu => t,
            d => t.pin_memory(d).to_device_(d, Kind::Int64, true, false),
        }
    }

    fn device_batch(
        &self,
        held: &DeviceData,
        indices: &[usize],
        crops: Option<&[Crop]>,
        smoothing: f64,
    ) -> (Tensor, Tensor) {
        let b = indices.len();
        let mut host: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        if let Some(crops) = crops {
            host.extend(crops.iter().map(|c| c.dy));
            host.extend(crops.iter().map(|c| c.dx));
            host.extend(crops.iter().map(|c| i64::from(c.flip)));
        }
        let packed = self.upload_i64(&host);
        let idx = packed.narrow(0, 0, b as i64);
        let x = held.images.index_select(0, &idx).to_kind(Kind::Float) / 255.0;
        let x = match crops {
            Some(crops) => {
                let pad = crops
                    .iter()
                    .map(|c| c.dy.abs().max(c.dx.abs()))
                    .max()
                    .unwrap_or(0);
                let size = x.size();
                let (h, w) = (size[2], size[3]);
                let dev = x.device();
                let part = |k: i64| packed.narrow(0, k * b as i64, b as i64).view([-1, 1, 1]);
                let (dy, dx, flip) = (part(1), part(2), part(3));
                let xp = x.constant_pad_nd([pad, pad, pad, pad]);
                let ar_h = Tensor::arange(h, (Kind::Int64, dev)).view([1, h, 1]);
                let ar_w = Tensor::arange(w, (Kind::Int64, dev)).view([1, 1, w]);
                let rows = ar_h + dy + pad;
                let mirrored = (w - 1) - &ar_w;
                let cols = ar_w.where_self(&flip.eq(0), &mirrored) + dx + pad;
                let n = Tensor::arange(b as i64, (Kind::Int64, dev)).view([-1, 1, 1]);
                // [B, H, W, C] (advanced indices first), back to NCHW as a strided view.
                xp.index(&[Some(n), None, Some(rows), Some(cols)])
                    .permute([0, 3, 1, 2])
            }
            None => x,
        };
        let x = ((x - &held.mean) / &held.std).to_kind(self.compute_kind());
        let x = if self.options.channels_last {
            self.layout(x)
        } else {
            x.contiguous()
        };
        let (on, off) = smoothing_levels(held.classes, smoothing);
        let t = held
            .labels
            .index_select(0, &idx)
            .one_hot(held.classes as i64)
            .to_kind(Kind::Float)
            * f64::from(on - off)
            + f64::from(off);
        (x, t.view([b as i64, held.classes as i64, 1, 1]))
    }

    /// One optimizer step in PyTorch's fused kernels (one call for all parameters, as
    /// `torch.optim.SGD/Adam(fused=True)`); gradients are dropped afterwards.
    fn update(&mut self, lr: f64) {
        let mut params: Vec<*mut torch_sys::C_tensor> =
            self.params.iter_mut().map(|p| p.as_mut_ptr()).collect();
        let mut first: Vec<_> = self
            .slots
            .iter_mut()
            .map(|s| s.first.as_mut_ptr())
            .collect();
        let n = params.len() as i32;
        // SAFETY: every pointer is a live tensor owned by `self` for the duration of the call;
        // the shim reads the lists and updates the tensors in place, catching C++ exceptions.
        let status = match self.optimizer {
            OptimizerSpec::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => unsafe {
                ffi::evonas_sgd_step(
                    params.as_mut_ptr(),
                    first.as_mut_ptr(),
                    n,
                    weight_decay,
                    momentum,
                    lr,
                    i32::from(nesterov),
                )
            },
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
            } => {
                let mut second: Vec<_> = self
                    .slots
                    .iter_mut()
                    .map(|s| s.second.as_mut_ptr())
                    .collect();
                let mut steps: Vec<_> = self
                    .slots
                    .iter_mut()
                    .map(|s| s.steps.as_mut_ptr())
                    .collect();
                unsafe {
                    ffi::evonas_adam_step(
                        params.as_mut_ptr(),
                        first.as_mut_ptr(),
                        second.as_mut_ptr(),
                        steps.as_mut_ptr(),
                        n,
                        lr,
                        beta1,
                        beta2,
                        weight_decay,
                        epsilon,
                    )
                }
            }
        };
        if status != 0 {
            // Caught by the evaluation guard and recorded as a failure.
            panic!("optimizer step: {}", shim_error());
        }
    }
}

/// Host copy in 64 bits (exact for float32 tensors, full range for float64 ones).
fn host_f64(t: &Tensor) -> Vec<f64> {
    let t = t
        .detach()
        .to_kind(Kind::Double)
        .contiguous()
        .to_device(Device::Cpu)
        .flatten(0, -1);
    Vec::<f64>::try_from(&t).unwrap_or_default()
}

fn host(t: &Tensor) -> Vec<f32> {
    let t = t
        .detach()
        .to_kind(Kind::Float)
        .contiguous()
        .to_device(Device::Cpu)
        .flatten(0, -1);
    Vec::<f32>::try_from(&t).unwrap_or_default()
}

fn dims(t: &Tensor) -> [usize; 4] {
    let s = t.size();
    let mut d = [1usize; 4];
    for (o, v) in d.iter_mut().zip(s) {
        *o = v.max(0) as usize;
    }
    d
}

impl Backend for Tch {
    type Tensor = TchTensor;
    type Loss = Tensor;

    fn name(&self) -> &'static str {
        "tch"
    }

    fn param(&mut self, shape: [usize; 4], values: Vec<f32>) -> ParamId {
        let shape = shape.map(|v| v as i64);
        let t = Tensor::from_slice(&values)
            .view(shape)
            .to_device(self.options.device)
            .to_kind(self.param_kind());
        let t = self.layout(t).set_requires_grad(true);
        self.slots.push(Slot::for_param(&t, self.optimizer));
        self.params.push(t);
        ParamId(self.params.len() - 1)
    }

    fn norm(&mut self, channels: usize, affine: bool) -> NormId {
        let affine = affine.then(|| {
            (
                self.param([1, channels, 1, 1], vec![1.0; channels]),
                self.param([1, channels, 1, 1], vec![0.0; channels]),
            )
        });
        let opts = (self.param_kind(), self.options.device);
        self.norms.push(NormState {
            affine,
            running_mean: Tensor::zeros([channels as i64], opts),
            running_var: Tensor::ones([channels as i64], opts),
        });
        NormId(self.norms.len() - 1)
    }

    fn param_values(&self, p: ParamId) -> Vec<f32> {
        host(&self.params[p.0])
    }

    fn set_param_values(&mut self, p: ParamId, values: Vec<f32>) {
        let shape = self.params[p.0].size();
        let t = Tensor::from_slice(&values)
            .view(shape.as_slice())
            .to_device(self.options.device)
            .to_kind(self.param_kind());
        let t = self.layout(t).set_requires_grad(true);
        self.slots[p.0] = Slot::for_param(&t, self.optimizer);
        self.params[p.0] = t;
    }

    fn params(&self) -> Vec<ParamId> {
        (0..self.params.len()).map(ParamId).collect()
    }

    fn track_gradients(&mut self, on: bool) {
        if on {
            self.no_grad = None;
        } else if self.no_grad.is_none() {
            self.no_grad = Some(tch::no_grad_guard());
        }
    }

    fn tensor(&self, values: Vec<f32>, shape: [usize; 4]) -> TchTensor {
        let t = Tensor::from_slice(&values)
            .view(shape.map(|v| v as i64))
            .to_device(self.options.device)
            .to_kind(self.param_kind());
        TchTensor(self.layout(t))
    }

    fn input(&self, x: TchTensor) -> TchTensor {
        if self.no_grad.is_some() {
            TchTensor(x.0.detach())
        } else {
            x
        }
    }

    fn zeros(&self, shape: [usize; 4]) -> TchTensor {
        let t = Tensor::zeros(
            shape.map(|v| v as i64),
            (self.compute_kind(), self.options.device),
        );
        TchTensor(self.layout(t))
    }

    fn values(&self, x: &TchTensor) -> Vec<f32> {
        host(&x.0)
    }

    fn shape(&self, x: &TchTensor) -> [usize; 4] {
        dims(&x.0)
    }

    fn conv2d(
        &self,
        x: TchTensor,
        weight: ParamId,
        bias: Option<ParamId>,
        conv: &Conv,
    ) -> TchTensor {
        let i = |a: [u32; 2]| a.map(i64::from);
        let kind = self.compute_kind();
        let w = self.params[weight.0].to_kind(kind);
        let b = bias.map(|b| self.params[b.0].view([-1]).to_kind(kind));
        TchTensor(x.0.to_kind(kind).conv2d(
            &w,
            b.as_ref(),
            i(conv.stride),
            i(conv.padding),
            i(conv.dilation),
            i64::from(conv.groups),
        ))
    }

    fn batch_norm(&mut self, x: TchTensor, norm: NormId, training: bool) -> TchTensor {
        let n = &self.norms[norm.0];
        let (gamma, beta) = match n.affine {
            Some((g, b)) => (
                Some(self.params[g.0].view([-1])),
                Some(self.params[b.0].view([-1])),
            ),
            None => (None, None),
        };
        // libtorch updates the running statistics in place (unbiased variance, momentum 0.1),
        // outside the graph, as PyTorch does.
        TchTensor(x.0.batch_norm(
            gamma.as_ref(),
            beta.as_ref(),
            Some(&n.running_mean),
            Some(&n.running_var),
            training,
            BN_MOMENTUM,
            BN_EPSILON,
            true,
        ))
    }

    fn relu(&self, x: TchTensor) -> TchTensor {
        TchTensor(x.0.relu())
    }

    fn avg_pool(&self, x: TchTensor, kernel: usize, stride: usize, padding: usize) -> TchTensor {
        let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
        TchTensor(x.0.avg_pool2d([k, k], [s, s], [p, p], false, false, None::<i64>))
    }

    fn max_pool(&self, x: TchTensor, kernel: usize, stride: usize, padding: usize) -> TchTensor {
        let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
        TchTensor(x.0.max_pool2d([k, k], [s, s], [p, p], [1, 1], false))
    }

    fn add(&self, a: TchTensor, b: TchTensor) -> TchTensor {
        TchTensor(a.0 + b.0)
    }

    fn concat(&self, xs: Vec<TchTensor>) -> TchTensor {
        let xs: Vec<Tensor> = xs.into_iter().map(|x| x.0).collect();
        TchTensor(Tensor::cat(&xs, 1))
    }

    fn channel_shuffle(&self, x: TchTensor, groups: usize) -> TchTensor {
        let [n, c, h, w] = dims(&x.0).map(|v| v as i64);
        let g = groups as i64;
        let y =
            x.0.reshape([n, g, c / g, h, w])
                .transpose(1, 2)
                .reshape([n, c, h, w]);
        TchTensor(self.layout(y))
    }

    fn narrow(&self, x: TchTensor, dim: usize, start: usize, len: usize) -> TchTensor {
        TchTensor(x.0.narrow(dim as i64, start as i64, len as i64))
    }

    fn global_avg_pool(&self, x: TchTensor) -> TchTensor {
        TchTensor(x.0.mean_dim([2i64, 3].as_slice(), true, None::<Kind>))
    }

    fn cross_entropy(&self, logits: TchTensor, targets: TchTensor) -> Tensor {
        let [n, k, _, _] = dims(&logits.0).map(|v| v as i64);
        let logp = logits
            .0
            .to_kind(Kind::Float)
            .reshape([n, k])
            .log_softmax(1, None::<Kind>);
        let t = targets.0.reshape([n, k]).to_kind(Kind::Float);
        -(logp * t)
            .sum_dim_intlist([1i64].as_slice(), false, None::<Kind>)
            .mean(None::<Kind>)
    }

    fn loss_value(&self, loss: &Tensor) -> f32 {
        loss.double_value(&[]) as f32
    }

    fn batch(
        &mut self,
        data: &Dataset,
        norm: &Norm,
        indices: &[usize],
        crops: Option<&[Crop]>,
        smoothing: f64,
    ) -> (TchTensor, TchTensor) {
        let (x, t) = match self.held(data) {
            Some(held) => self.device_batch(&held, indices, crops, smoothing),
            None => {
                let (x, t) = host_batch(self, data, norm, indices, crops, smoothing);
                (x.0.to_kind(self.compute_kind()), t.0)
            }
        };
        (TchTensor(x), TchTensor(t))
    }

    fn keep_loss(&self, loss: &Tensor) -> Tensor {
        loss.detach()
    }

    fn read_losses(&self, losses: Vec<Tensor>) -> Vec<f32> {
        if losses.is_empty() {
            return Vec::new();
        }
        host(&Tensor::stack(&losses, 0))
    }

    fn loss_read_interval(&self) -> usize {
        match self.options.device {
            Device::Cpu => 1,
            _ => GPU_LOSS_INTERVAL,
        }
    }

    fn gradients_f64(
        &mut self,
        loss: Tensor,
        inputs: &[TchTensor],
    ) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        loss.backward();
        let take = |p: &mut Tensor| {
            let g = p.grad();
            let v = if g.defined() {
                host_f64(&g)
            } else {
                vec![0.0; p.numel()]
            };
            p.zero_grad();
            v
        };
        let params = self.params.iter_mut().map(take).collect();
        let inputs = inputs
            .iter()
            .map(|x| take(&mut x.0.shallow_clone()))
            .collect();
        (params, inputs)
    }

    fn variable(&self, x: TchTensor) -> TchTensor {
        TchTensor(x.0.detach().set_requires_grad(true))
    }

    fn sum(&self, x: TchTensor) -> Tensor {
        x.0.sum(None::<Kind>)
    }

    fn double(&mut self) {
        self.double = true;
        let _guard = tch::no_grad_guard();
        for i in 0..self.params.len() {
            let t = self.params[i]
                .detach()
                .to_kind(Kind::Double)
                .set_requires_grad(true);
            self.slots[i] = Slot::for_param(&t, self.optimizer);
            self.params[i] = t;
        }
        for n in &mut self.norms {
            n.running_mean = n.running_mean.to_kind(Kind::Double);
            n.running_var = n.running_var.to_kind(Kind::Double);
        }
    }

    fn running_var(&self, norm: NormId) -> Vec<f32> {
        host(&self.norms[norm.0].running_var)
    }

    fn step(&mut self, loss: Tensor, lr: f64) {
        loss.backward();
        self.update(lr);
    }
}
