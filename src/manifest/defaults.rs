//! Built-in defaults: the lowest layer. Keys whose default depends on the model
//! or the machine (such as `max_seq_len` or `gpus`) have none here; the planner
//! resolves them.

use super::values::{LogFormat, ModelKind, Strategy};
use super::wire::{
    ByteSizeValue, RawDevices, RawManifest, RawModel, RawParallelism, RawPrecision, RawServer,
    RawWorkload,
};
use crate::units::{ByteSize, DType, KvCacheDtype, Quantization};

/// Headroom kept free on every GPU for the CUDA context, cuBLAS workspaces and
/// allocator fragmentation that no planner term covers.
pub const RESERVE: ByteSize = ByteSize::mib(512);
pub(crate) const HOST: &str = "127.0.0.1";
pub(crate) const PORT: u16 = 8080;
pub(crate) const MAX_BATCH_SIZE: u32 = 1;
/// Seconds of 503 on `/health` after a stop signal, before the listener closes.
pub(crate) const DRAIN_SECONDS: u32 = 5;
/// Seconds requests in flight then have before they are cut.
pub(crate) const GRACE_SECONDS: u32 = 10;
/// Seconds one generation may take.
pub(crate) const REQUEST_TIMEOUT_SECONDS: u32 = 600;

pub(crate) fn raw_defaults() -> RawManifest {
    RawManifest {
        version: None,
        name: None,
        extends: None,
        model: Some(RawModel {
            kind: Some(ModelKind::Auto),
            ..RawModel::default()
        }),
        precision: Some(RawPrecision {
            dtype: Some(DType::Auto),
            quantization: Some(Quantization::None),
            kv_cache: Some(KvCacheDtype::Auto),
        }),
        workload: Some(RawWorkload {
            max_batch_size: Some(crate::manifest::wire::BatchSize::Value(u64::from(
                MAX_BATCH_SIZE,
            ))),
            ..RawWorkload::default()
        }),
        devices: Some(RawDevices {
            reserve: Some(ByteSizeValue::Text("512MiB".into())),
            cpu_offload: Some(false),
            ..RawDevices::default()
        }),
        parallelism: Some(RawParallelism {
            strategy: Some(Strategy::Auto),
            ..RawParallelism::default()
        }),
        server: Some(RawServer {
            host: Some(HOST.into()),
            port: Some(u32::from(PORT)),
            // Defaults to `workload.max_batch_size`, so the server never admits more
            // sequences than memory was planned for.
            max_seqs: None,
            api_key: None,
            cors_origins: None,
            drain_seconds: Some(DRAIN_SECONDS),
            grace_seconds: Some(GRACE_SECONDS),
            request_timeout_seconds: Some(REQUEST_TIMEOUT_SECONDS),
            log_format: Some(LogFormat::Plain),
        }),
        // Read only by `render --target kubernetes`, which applies its own
        // defaults: `config` does not print a table most manifests never use.
        kubernetes: None,
    }
}
