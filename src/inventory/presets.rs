//! Common GPUs by name, for `--gpus 4xA100-80GB`. Memory is what NVML reports as
//! total for the card, not its marketing size.

use crate::units::{ByteSize, ComputeCapability};

pub struct Preset {
    /// Accepted names, compared without case, spaces, dashes or underscores.
    pub names: &'static [&'static str],
    /// The name NVML reports.
    pub full_name: &'static str,
    pub memory: ByteSize,
    pub compute_capability: ComputeCapability,
}

const fn cc(major: u32, minor: u32) -> ComputeCapability {
    ComputeCapability { major, minor }
}

pub const PRESETS: &[Preset] = &[
    Preset {
        names: &["H200", "H200-141GB"],
        full_name: "NVIDIA H200",
        memory: ByteSize::mib(143_771),
        compute_capability: cc(9, 0),
    },
    Preset {
        names: &["H100", "H100-80GB"],
        full_name: "NVIDIA H100 80GB HBM3",
        memory: ByteSize::mib(81_559),
        compute_capability: cc(9, 0),
    },
    Preset {
        names: &["A100-80GB", "A100"],
        full_name: "NVIDIA A100-SXM4-80GB",
        memory: ByteSize::mib(81_920),
        compute_capability: cc(8, 0),
    },
    Preset {
        names: &["A100-40GB"],
        full_name: "NVIDIA A100-SXM4-40GB",
        memory: ByteSize::mib(40_960),
        compute_capability: cc(8, 0),
    },
    Preset {
        names: &["L40S", "L40S-48GB"],
        full_name: "NVIDIA L40S",
        memory: ByteSize::mib(46_068),
        compute_capability: cc(8, 9),
    },
    Preset {
        names: &["L4", "L4-24GB"],
        full_name: "NVIDIA L4",
        memory: ByteSize::mib(23_034),
        compute_capability: cc(8, 9),
    },
    Preset {
        names: &["A10", "A10G", "A10-24GB"],
        full_name: "NVIDIA A10",
        memory: ByteSize::mib(23_028),
        compute_capability: cc(8, 6),
    },
    Preset {
        names: &["A6000", "RTXA6000"],
        full_name: "NVIDIA RTX A6000",
        memory: ByteSize::mib(49_140),
        compute_capability: cc(8, 6),
    },
    Preset {
        names: &["RTX4090", "4090"],
        full_name: "NVIDIA GeForce RTX 4090",
        memory: ByteSize::mib(24_564),
        compute_capability: cc(8, 9),
    },
    Preset {
        names: &["RTX3090", "3090"],
        full_name: "NVIDIA GeForce RTX 3090",
        memory: ByteSize::mib(24_576),
        compute_capability: cc(8, 6),
    },
    Preset {
        names: &["RTX3060", "3060"],
        full_name: "NVIDIA GeForce RTX 3060",
        memory: ByteSize::mib(12_288),
        compute_capability: cc(8, 6),
    },
    Preset {
        names: &["V100-32GB", "V100"],
        full_name: "Tesla V100-SXM2-32GB",
        memory: ByteSize::mib(32_768),
        compute_capability: cc(7, 0),
    },
    Preset {
        names: &["V100-16GB"],
        full_name: "Tesla V100-SXM2-16GB",
        memory: ByteSize::mib(16_384),
        compute_capability: cc(7, 0),
    },
    Preset {
        names: &["T4", "T4-16GB"],
        full_name: "Tesla T4",
        memory: ByteSize::mib(15_360),
        compute_capability: cc(7, 5),
    },
];

fn key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn find(name: &str) -> Option<&'static Preset> {
    let wanted = key(name);
    PRESETS
        .iter()
        .find(|p| p.names.iter().any(|n| key(n) == wanted))
}

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.names[0]).collect()
}
