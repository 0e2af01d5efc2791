//! What cannot run in a pod as written, each with its own code, found before
//! anything is rendered.

use std::path::Path;

use crate::diagnostic::Code;
use crate::manifest::{Gpu, Manifest, ModelSource, SecretSource, is_loopback};
use crate::plan::{Finding, Plan};

/// What the render needs to know of the manifest as written, not as validated.
pub struct AsWritten<'a> {
    /// `model.source` as the file says it, before paths are resolved.
    pub model_source: &'a str,
    /// `server.host` was set by the manifest (or a flag), not defaulted.
    pub host_set: bool,
    /// The plan fits its hardware.
    pub fits: bool,
}

/// Everything that stops `manifest` with `plan` from rendering, and the
/// warnings that come with what does render.
/// Without a plan (no hardware known), what the manifest alone shows.
pub fn refusals(manifest: &Manifest, plan: Option<&Plan>, written: &AsWritten<'_>) -> Vec<Finding> {
    let mut found = Vec::new();
    if plan.is_some() && !written.fits {
        // Read in mistral.rs 0.8.1: each tensor-parallel rank is a process
        // on one device (`pipeline/normal.rs:338-340`), a worker node's ranks
        // are offset past the head's (`distributed.rs:354-363`), and
        // `NcclComm::from_device` bails unless the rank is the device's
        // ordinal (`mistralrs-quant/src/distributed/mod.rs:232-236`): every
        // worker node fails there. docs/kubernetes.md has the reading.
        found.push(
            Finding::error(
                Code::KubernetesOneNode,
                "the plan does not fit one pod's GPUs, and no layout across nodes is rendered: mistral.rs 0.8.1's multi-node tensor parallelism cannot start a worker node",
            )
            .help("fit one node: the errors above say how far over it is, and which quantization or how many GPUs per node would fit; see docs/kubernetes.md, \"Beyond one machine\"")
            .at("model.source"),
        );
    }
    let k8s = manifest.kubernetes.as_ref();
    if k8s.and_then(|k| k.image.as_ref()).is_none() {
        found.push(
            Finding::error(
                Code::KubernetesNoImage,
                "a Kubernetes render needs the image its container runs",
            )
            .help("add `[kubernetes]` with `image = \"REGISTRY/deployctl:TAG\"`: an image with deployctl as its entrypoint (the repository's Containerfile builds one)")
            .at(if k8s.is_some() { "kubernetes" } else { "name" }),
        );
    }
    // In a pod the GPUs are the ones it was given, numbered from 0.
    if let Some(gpus) = &manifest.devices.gpus {
        let in_order = gpus
            .iter()
            .enumerate()
            .all(|(i, g)| matches!(g, Gpu::Ordinal(n) if *n as usize == i));
        if !in_order {
            let by = if gpus.iter().any(|g| matches!(g, Gpu::Uuid(_))) {
                "by UUID"
            } else {
                "by this machine's ordinals"
            };
            found.push(
                Finding::error(
                    Code::KubernetesHostGpus,
                    format!("`devices.gpus` names GPUs {by}, which a pod does not have: it sees the GPUs it is given, as 0 to N−1"),
                )
                .help(format!(
                    "remove `devices.gpus` (the pod requests {} GPU(s)), or list `[{}]`; choose the machine with `[kubernetes] node_selector`",
                    gpus.len(),
                    (0..gpus.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                ))
                .at("devices.gpus"),
            );
        }
    }
    let local = match &manifest.model.source {
        ModelSource::LocalDirectory { path } | ModelSource::Gguf { path } => Some(path),
        ModelSource::Hub { .. } => None,
    };
    if let Some(path) = local {
        if Path::new(written.model_source).is_relative() {
            found.push(
                Finding::error(
                    Code::KubernetesPodPath,
                    format!("`model.source = \"{}\"` is relative to the manifest, which in the pod is a ConfigMap", written.model_source),
                )
                .help("give the path the pod sees, from `/`: in the image, or under `[kubernetes.models] mount_path`")
                .at("model.source"),
            );
        } else if let Some(storage) = k8s.and_then(|k| k.models.as_ref()) {
            if !path.starts_with(&storage.mount_path) {
                found.push(
                    Finding::error(
                        Code::KubernetesPodPath,
                        format!(
                            "`model.source` is `{}`, outside `kubernetes.models.mount_path` (`{}`), where the weights are mounted",
                            path.display(),
                            storage.mount_path.display()
                        ),
                    )
                    .help("put the model under the mount path, or mount where the model is")
                    .at("model.source"),
                );
            }
        }
    }
    if written.host_set && is_loopback(&manifest.server.host) {
        found.push(
            Finding::error(
                Code::KubernetesLoopbackHost,
                format!("`server.host = \"{}\"` answers only inside the pod: probes and the Service reach it on the pod's address", manifest.server.host),
            )
            .help("remove `server.host`: the render binds 0.0.0.0 in the pod")
            .at("server.host"),
        );
    }
    if let Some(SecretSource::File(file)) = &manifest.server.api_key {
        let dir = file.parent().unwrap_or(Path::new("/"));
        if dir == Path::new("/") || dir == Path::new(super::MANIFEST_DIR) || file.is_relative() {
            found.push(
                Finding::error(
                    Code::KubernetesPodPath,
                    format!(
                        "`server.api_key.file = \"{}\"` cannot be a Secret mounted in the pod",
                        file.display()
                    ),
                )
                .help("put it in a directory of its own, e.g. `/var/run/secrets/deployctl/api-key`")
                .at("server.api_key.file"),
            );
        }
    }
    if manifest.server.api_key.is_none() {
        found.push(
            Finding::warning(
                Code::KubernetesOpenService,
                "the Service is open: anyone who reaches it in the cluster (or beyond, with `NodePort` or `LoadBalancer`) can use the model",
            )
            .help("add `server.api_key = { env = \"DEPLOYCTL_API_KEY\" }` and a Secret `NAME-api-key` with the key `api-key`")
            .at("name"),
        );
    }
    let gpu_resource = k8s.map_or("nvidia.com/gpu", |k| k.gpu_resource.as_str());
    let gpus = plan.map_or(0, |p| p.devices.len());
    if gpu_resource.contains("/mig-") && gpus > 1 {
        found.push(
            Finding::error(
                Code::KubernetesMigSlices,
                format!(
                    "the plan uses {gpus} GPUs, but `{gpu_resource}` is a MIG slice: CUDA shows a process one slice, and slices have no NVLink between them"
                ),
            )
            .help("plan for one slice (`devices.gpus = [0]`), or request whole GPUs with `gpu_resource = \"nvidia.com/gpu\"`")
            .at("kubernetes.gpu_resource"),
        );
    }
    found
}
