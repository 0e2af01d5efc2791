//! A GPU's CUDA compute capability, as NVML and `[devices.expect]` give it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ComputeCapability {
    pub major: u32,
    pub minor: u32,
}

impl ComputeCapability {
    /// `MAJOR.MINOR`, as NVML and the inventory files write it.
    pub fn parse(text: &str) -> Option<ComputeCapability> {
        let (major, minor) = text.split_once('.')?;
        Some(ComputeCapability {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::ComputeCapability;

    #[test]
    fn parses_major_dot_minor_only() {
        let cc = ComputeCapability::parse("8.9").unwrap();
        assert_eq!((cc.major, cc.minor), (8, 9));
        for bad in ["8", "8.", ".9", "8.9.1", "x.y", " 8.9", "99999999999.0"] {
            assert_eq!(ComputeCapability::parse(bad), None, "{bad}");
        }
    }
}
