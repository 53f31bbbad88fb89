//! Where an evaluation ran: the CPU model and the instruction-set extensions its kernels may
//! pick, the GPU, and the training library with its version. Float results of training differ
//! between instruction sets (burn-flex and oneDNN choose SIMD kernels per CPU) and between
//! GPUs and library versions, so every training record says where its figures came from.

use serde::{Deserialize, Serialize};

/// The machine and software an evaluation ran on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`'s model name), or the architecture when unknown.
    pub cpu: String,
    /// SIMD extensions the CPU offers among those kernels choose between (`avx2`, `fma`,
    /// `avx512f`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isa: Vec<String>,
    /// GPU model(s), when the evaluation ran on a GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// The training library and its version (`burn-flex 0.22.1`, `libtorch 2.9.0 cuda 12080 ...`).
    pub library: String,
}

impl Machine {
    /// This machine, training with `library`, on `gpu` if any.
    pub fn this(library: impl Into<String>, gpu: Option<String>) -> Machine {
        Machine {
            cpu: cpu_model(),
            isa: isa(),
            gpu,
            library: library.into(),
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

#[cfg(target_arch = "x86_64")]
fn isa() -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! probe {
        ($($f:tt),*) => {$(
            if std::arch::is_x86_feature_detected!($f) {
                out.push($f.to_string());
            }
        )*};
    }
    probe!(
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512bf16"
    );
    out
}

#[cfg(target_arch = "aarch64")]
fn isa() -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! probe {
        ($($f:tt),*) => {$(
            if std::arch::is_aarch64_feature_detected!($f) {
                out.push($f.to_string());
            }
        )*};
    }
    probe!("neon", "fp16", "sve", "bf16");
    out
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn isa() -> Vec<String> {
    Vec::new()
}

/// GPU names as `nvidia-smi` gives them for device indices `indices`, when it is there.
pub fn nvidia_names(indices: &[usize]) -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=index,name", "--format=csv,noheader"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(','))
        .filter(|(i, _)| {
            i.trim()
                .parse::<usize>()
                .is_ok_and(|i| indices.contains(&i))
        })
        .map(|(_, n)| n.trim().to_string())
        .collect();
    names.dedup();
    (!names.is_empty()).then(|| names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_cpu_name_and_the_library() {
        let m = Machine::this("burn-flex 0.22.1", None);
        assert!(!m.cpu.is_empty());
        assert_eq!(m.library, "burn-flex 0.22.1");
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Machine>(&json).unwrap(), m);
    }
}
