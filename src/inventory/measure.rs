//! What a running deployment really holds, beside what was planned: per GPU
//! through NVML (this process and its tensor-parallel workers), or the resident
//! memory of the process for CPU deployments.

use serde::Serialize;

use crate::units::ByteSize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `GPU 0`, or `CPU (memory loaded)`: resident memory gained by the load.
    pub device: String,
    pub planned: ByteSize,
    pub measured: ByteSize,
    /// `measured − planned`, in MiB.
    pub difference_mib: i64,
    /// `(measured − planned) / planned`, in percent.
    pub difference_percent: f64,
    /// Set when the difference exceeds 10 %: the term most likely wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// What was planned for one device, to name the term most likely wrong.
#[derive(Debug, Clone, Copy)]
pub struct PlannedTerms {
    pub total: ByteSize,
    /// Planned for the prefill peak, which loading does not reach.
    pub activations: ByteSize,
    /// On the CPU, the KV cache and activations: mistral.rs allocates them as
    /// requests need them, having no paged attention there.
    pub on_demand: ByteSize,
}

pub fn compare(device: String, planned: PlannedTerms, measured: ByteSize) -> Row {
    let difference = measured.0 as i64 - planned.total.0 as i64;
    let percent = if planned.total.0 == 0 {
        0.0
    } else {
        difference as f64 * 100.0 / planned.total.0 as f64
    };
    let warning = (percent.abs() > 10.0).then(|| {
        let missing = (-difference).max(0) as u64;
        let on_demand = planned.on_demand.0;
        if difference < 0 && on_demand > 0 && missing <= on_demand + on_demand / 4 {
            "KV cache and activations: on the CPU they are allocated as requests need them, up to the planned figure".to_owned()
        } else if difference < 0 && planned.activations.0 > 0 && missing <= planned.activations.0 + planned.activations.0 / 4 {
            "activations: they are planned for the prefill peak, which no request has reached yet".to_owned()
        } else if difference < 0 {
            "KV cache or weights: less is allocated than planned (lazy allocation, or smaller tensors than laid out)".to_owned()
        } else {
            "overhead: the runtime holds buffers the memory model does not cover; raise `--overhead`".to_owned()
        }
    });
    Row {
        device,
        planned: planned.total,
        measured,
        difference_mib: difference / (1 << 20),
        difference_percent: (percent * 10.0).round() / 10.0,
        warning,
    }
}

/// Resident memory of a process (`VmRSS` in `/proc/PID/status`).
pub fn resident(pid: u32) -> Option<ByteSize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(ByteSize(kib * 1024))
}

/// This process and every process it started (tensor-parallel workers), from `/proc`.
pub fn family(pid: u32) -> Vec<u32> {
    let mut family = vec![pid];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        family.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
        i += 1;
    }
    family
}

/// Memory each GPU holds for `pids`, by NVML index; `None` without a driver.
pub fn gpu_memory(pids: &[u32]) -> Option<Vec<(u32, ByteSize)>> {
    let nvml = nvml_wrapper::Nvml::init().ok()?;
    let count = nvml.device_count().ok()?;
    let mut out = Vec::new();
    for index in 0..count {
        let device = nvml.device_by_index(index).ok()?;
        let used: u64 = device
            .running_compute_processes()
            .unwrap_or_default()
            .iter()
            .filter(|p| pids.contains(&p.pid))
            .map(|p| match p.used_gpu_memory {
                nvml_wrapper::enums::device::UsedGpuMemory::Used(b) => b,
                nvml_wrapper::enums::device::UsedGpuMemory::Unavailable => 0,
            })
            .sum();
        out.push((index, ByteSize(used)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(total_mib: u64, activations_mib: u64) -> PlannedTerms {
        PlannedTerms {
            total: ByteSize::mib(total_mib),
            activations: ByteSize::mib(activations_mib),
            on_demand: ByteSize(0),
        }
    }

    #[test]
    fn differences_over_ten_percent_name_a_term() {
        let close = compare("GPU 0".into(), terms(1000, 100), ByteSize::mib(1050));
        assert_eq!((close.difference_mib, close.difference_percent), (50, 5.0));
        assert!(close.warning.is_none());
        let low = compare("GPU 0".into(), terms(1000, 300), ByteSize::mib(750));
        assert!(low.warning.unwrap().starts_with("activations"));
        let high = compare("GPU 0".into(), terms(1000, 100), ByteSize::mib(1300));
        assert!(high.warning.unwrap().starts_with("overhead"));
        // On the CPU the KV cache is not there yet after loading.
        let cpu = PlannedTerms {
            on_demand: ByteSize::mib(400),
            ..terms(1000, 0)
        };
        let loaded = compare("CPU (memory loaded)".into(), cpu, ByteSize::mib(650));
        assert!(
            loaded
                .warning
                .unwrap()
                .starts_with("KV cache and activations")
        );
        let short = compare("CPU (memory loaded)".into(), cpu, ByteSize::mib(300));
        assert!(short.warning.unwrap().starts_with("KV cache or weights"));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(resident(me).is_some_and(|r| r.0 > 0));
        assert_eq!(family(me)[0], me);
    }
}
