//! Exact tensor names, dtypes and bytes from the headers of a directory's
//! `*.safetensors` shards, read without loading any data.

use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::tensor::Metadata;

use super::tensors::{StoredDtype, Tensor, TensorSizeError};

/// The weight files mistral.rs loads from a directory: `model.safetensors`,
/// `model-00001-of-00004.safetensors`, `consolidated.safetensors`.
pub(super) fn shards(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut shards: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".safetensors")
                && (name == "model.safetensors"
                    || name == "consolidated.safetensors"
                    || (name.starts_with("model-") && name.contains("-of-")))
        })
        .collect();
    shards.sort();
    Ok(shards)
}

/// Why the shards' tensor table could not be read. Errors name the shard.
#[derive(Debug, thiserror::Error)]
pub(super) enum SafetensorsError {
    #[error("{}: {source}", .shard.display())]
    Unreadable {
        shard: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a safetensors header ({source})", .shard.display())]
    NotAHeader {
        shard: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Implausible(#[from] TensorSizeError),
}

/// Reads the tensor table of every shard. Errors name the shard.
pub(super) fn read_tensors(shards: &[PathBuf]) -> Result<Vec<Tensor>, SafetensorsError> {
    let mut tensors = Vec::new();
    for shard in shards {
        let header = read_header(shard).map_err(|source| SafetensorsError::Unreadable {
            shard: shard.clone(),
            source,
        })?;
        // Only the header was read, so deserialize it directly: `read_metadata`
        // would insist on the data that follows it.
        let metadata: Metadata = serde_json::from_slice(&header[8..]).map_err(|source| {
            SafetensorsError::NotAHeader {
                shard: shard.clone(),
                source,
            }
        })?;
        let mut names: Vec<_> = metadata.tensors().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, info) in names {
            let (start, end) = info.data_offsets;
            let dtype = StoredDtype::from_safetensors(&format!("{:?}", info.dtype));
            tensors.push(Tensor {
                name,
                dims: info.shape.iter().map(|d| *d as u64).collect(),
                dtype,
                bytes: (end - start) as u64,
            });
        }
    }
    super::tensors::check_plausible(&tensors)?;
    Ok(tensors)
}

/// The 8-byte length and the JSON header, and nothing of the data.
fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = crate::files::open(path)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let n = u64::from_le_bytes(len);
    // safetensors caps headers at 100 MB; refuse anything larger before allocating.
    if n > 100_000_000 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "header larger than 100 MB",
        ));
    }
    let mut buffer = len.to_vec();
    buffer.resize(8 + n as usize, 0);
    file.read_exact(&mut buffer[8..])?;
    Ok(buffer)
}
