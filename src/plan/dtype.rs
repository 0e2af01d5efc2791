//! The data type a plan runs at: `auto` resolved as mistral.rs resolves it.

use super::decision::{Decision, DtypeReason};
use super::devices::Device;
use super::finding::Finding;
use crate::diagnostic::Code;
use crate::units::DType;

/// mistral.rs's `auto`: bf16 where every GPU supports it (compute capability
/// 8.0+), else f16. On the CPU, bf16; mistral.rs's GGUF builder takes no dtype
/// and probes for itself (it took f16 on the 2-core CI machine), the same size.
pub(super) fn resolve(
    asked: DType,
    devices: &[Device],
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> DType {
    let old: Vec<&Device> = devices
        .iter()
        .filter(|d| d.gpu.compute_capability.is_some_and(|c| c.major < 8))
        .collect();
    match asked {
        DType::Auto if devices.is_empty() => {
            decisions.push(Decision::Dtype {
                chosen: DType::Bf16,
                because: DtypeReason::OnCpu,
            });
            DType::Bf16
        }
        DType::Auto if old.is_empty() => {
            decisions.push(Decision::Dtype {
                chosen: DType::Bf16,
                because: DtypeReason::EveryGpuHasBf16,
            });
            DType::Bf16
        }
        DType::Auto => {
            decisions.push(Decision::Dtype {
                chosen: DType::F16,
                because: DtypeReason::OldGpu(old[0].gpu.label()),
            });
            DType::F16
        }
        DType::Bf16 if !old.is_empty() => {
            let gpu = old[0];
            findings.push(
                Finding::error(
                    Code::Bf16Unsupported,
                    format!(
                        "bf16 needs compute capability 8.0, but {} has {}",
                        gpu.gpu.label(),
                        gpu.gpu
                            .compute_capability
                            .map(|c| c.to_string())
                            .unwrap_or_default()
                    ),
                )
                .help("use `dtype = \"f16\"` (or `\"auto\"`, which picks f16 there)")
                .at("precision.dtype"),
            );
            DType::Bf16
        }
        other => other,
    }
}
