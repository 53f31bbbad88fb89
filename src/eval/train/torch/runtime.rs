//! What a tch training evaluator keeps between candidates: its devices (one evaluation on
//! each at a time), the data sets already uploaded to each device, and the libtorch settings
//! of its protocol.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use tch::{Cuda, Device};

use super::{libtorch_version, set_kernels, DeviceData, Tch, TchOptions};
use crate::eval::train::config::{DeviceSpec, TrainConfig};
use crate::eval::train::{train, Progress, Splits, TrainError, TrainReport};
use crate::ir::Network;

/// A tch evaluator's devices and the data it holds on them.
pub struct Runtime {
    devices: Vec<Device>,
    busy: Mutex<Vec<bool>>,
    free: Condvar,
    /// Uploaded data sets by (device, data set address): two slots on one device (`devices =
    /// ["cpu", "cpu"]`) share one copy.
    held: Mutex<HashMap<(Device, usize), Arc<DeviceData>>>,
    version: String,
}

/// Why a tch evaluator cannot start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(pub String);

fn cuda_summary() -> String {
    format!(
        "cuda {} cudnn {}",
        tch::utils::version_cudart(),
        tch::utils::version_cudnn()
    )
}

/// The libtorch device `spec` names, checked against what libtorch sees. `auto` picks the
/// first GPU, or the CPU (said on stderr) when there is none.
pub fn resolve(spec: DeviceSpec) -> Result<Device, DeviceError> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => {
            if Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                eprintln!("device = \"auto\": libtorch sees no CUDA GPU, training on the CPU");
                Ok(Device::Cpu)
            }
        }
        DeviceSpec::Cuda(n) => {
            if !Cuda::is_available() {
                return Err(DeviceError(format!(
                    "device = \"cuda:{n}\", but libtorch {} sees no CUDA GPU (no driver, or \
                     CUDA_VISIBLE_DEVICES hides them); use device = \"cpu\" or \"auto\"",
                    libtorch_version()
                )));
            }
            let count = Cuda::device_count().max(0) as usize;
            if n >= count {
                return Err(DeviceError(format!(
                    "device = \"cuda:{n}\", but libtorch sees {count} GPU(s): cuda:0..cuda:{}",
                    count.saturating_sub(1)
                )));
            }
            Ok(Device::Cuda(n))
        }
    }
}

impl Runtime {
    /// The devices `config` names (`devices`, else `device`), all of one kind.
    pub fn new(config: &TrainConfig) -> Result<Runtime, DeviceError> {
        let specs = if config.devices.is_empty() {
            vec![config.device]
        } else {
            config.devices.clone()
        };
        let devices = specs
            .into_iter()
            .map(resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let gpu = devices.iter().any(|d| d.is_cuda());
        if gpu && devices.iter().any(|d| !d.is_cuda()) {
            return Err(DeviceError(
                "devices mixes the CPU and GPUs; results differ between them, so one protocol \
                 uses one kind"
                    .into(),
            ));
        }
        if gpu && config.deterministic && std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
            // cuBLAS is deterministic only with a fixed workspace, read when its first handle
            // is made: set here, before any CUDA work of this process (libtorch refuses
            // nondeterministic cuBLAS calls under deterministic algorithms otherwise).
            std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
        }
        let mut version = format!("libtorch {}", libtorch_version());
        if gpu {
            version = format!("{version} {}", cuda_summary());
        }
        // Caps on the CPU kernels libtorch may pick change its floats (and make them the same
        // on every CPU that has the capped instruction set): part of the protocol.
        for var in ["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"] {
            if let Ok(v) = std::env::var(var) {
                version = format!("{version} {var}={v}");
            }
        }
        Ok(Runtime {
            busy: Mutex::new(vec![false; devices.len()]),
            devices,
            free: Condvar::new(),
            held: Mutex::new(HashMap::new()),
            version,
        })
    }

    /// `cpu` or `cuda`: the device kind, part of the protocol.
    pub fn device_kind(&self) -> &'static str {
        if self.devices.iter().any(|d| d.is_cuda()) {
            "cuda"
        } else {
            "cpu"
        }
    }

    /// libtorch's version, with CUDA's and cuDNN's on a GPU: part of the protocol.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The GPU models of this evaluator's devices (`nvidia-smi`), on a GPU.
    pub fn gpu_names(&self) -> Option<String> {
        let indices: Vec<usize> = self
            .devices
            .iter()
            .filter_map(|d| match d {
                Device::Cuda(i) => Some(*i),
                _ => None,
            })
            .collect();
        if indices.is_empty() {
            return None;
        }
        Some(
            crate::eval::machine::nvidia_names(&indices)
                .unwrap_or_else(|| format!("{} CUDA device(s)", indices.len())),
        )
    }

    /// Waits for a free device; it is given back when the returned slot drops.
    fn acquire(&self) -> Slot<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(i) = busy.iter().position(|b| !b) {
                busy[i] = true;
                return Slot { runtime: self, i };
            }
            busy = self.free.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn hold(
        &self,
        device: Device,
        data: &crate::eval::data::Dataset,
        splits: &Splits,
    ) -> Arc<DeviceData> {
        let key = (device, data as *const _ as usize);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            held.entry(key)
                .or_insert_with(|| Arc::new(DeviceData::upload(data, &splits.norm, device))),
        )
    }

    /// Trains `net` on one free device: a panic inside libtorch becomes a failure, and CUDA
    /// running out of memory becomes [`TrainError::GpuMemory`] (the device stays usable).
    pub fn train(
        &self,
        net: &Network,
        splits: &Splits,
        config: &TrainConfig,
        seed: u64,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TrainReport, TrainError> {
        let slot = self.acquire();
        let device = self.devices[slot.i];
        let held: Vec<_> = [
            Some(&splits.train),
            Some(&splits.valid),
            splits.test.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|d| (d, self.hold(device, d, splits)))
        .collect();
        let options = TchOptions {
            device,
            precision: config.precision,
            channels_last: config.channels_last,
        };
        let result = crate::eval::train::guarded(1, || {
            tch::set_num_threads(config.threads.max(1) as i32);
            set_kernels(device.is_cuda(), config.deterministic);
            let mut backend = Tch::new(config.optimizer_spec(), options);
            for (data, h) in &held {
                backend.hold(data, Arc::clone(h));
            }
            train(&mut backend, net, splits, config, seed, progress)
        });
        result.map_err(gpu_memory)
    }
}

/// A caught libtorch panic that says CUDA ran out of memory becomes [`TrainError::GpuMemory`]
/// with libtorch's first line (how much it tried to allocate, how much the GPU has).
fn gpu_memory(e: TrainError) -> TrainError {
    match e {
        TrainError::Panic(m) if m.contains("out of memory") => {
            let m = m.trim_start_matches("Torch(\"").trim_start();
            let line = m.lines().next().unwrap_or(m).chars().take(300).collect();
            TrainError::GpuMemory(line)
        }
        e => e,
    }
}

struct Slot<'a> {
    runtime: &'a Runtime,
    i: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self.runtime.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy[self.i] = false;
        self.runtime.free.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::FailureKind;

    #[test]
    fn cuda_out_of_memory_is_a_memory_failure_with_libtorch_words() {
        let panic = TrainError::Panic(
            "Torch(\"CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity \
             of 139.81 GiB of which 3.2 GiB is free.\nException raised from malloc at ...\")"
                .into(),
        );
        let e = gpu_memory(panic);
        assert_eq!(e.kind(), FailureKind::OutOfMemory);
        let text = e.to_string();
        assert!(
            text.starts_with("out of GPU memory: CUDA out of memory. Tried to allocate 20.00 GiB"),
            "{text}"
        );
        assert!(!text.contains("Exception raised"), "{text}");
        // Other panics stay what they are.
        let other = gpu_memory(TrainError::Panic("shape mismatch".into()));
        assert_eq!(other.kind(), FailureKind::Other);
    }

    #[test]
    fn one_evaluation_per_device_at_a_time() {
        let config = TrainConfig {
            backend: crate::eval::train::config::BackendKind::Tch,
            devices: vec![DeviceSpec::Cpu, DeviceSpec::Cpu],
            ..TrainConfig::default()
        };
        let rt = Runtime::new(&config).unwrap();
        let a = rt.acquire();
        let b = rt.acquire();
        assert_ne!(a.i, b.i);
        let third = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let c = rt.acquire();
                third.store(true, std::sync::atomic::Ordering::SeqCst);
                c.i
            });
            // Both devices are busy: the third evaluation waits until one is given back.
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(!third.load(std::sync::atomic::Ordering::SeqCst));
            let freed = a.i;
            drop(a);
            assert_eq!(waiter.join().unwrap(), freed);
        });
        drop(b);
    }
}
