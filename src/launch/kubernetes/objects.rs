//! The typed objects. Field choices follow what a platform engineer checks
//! (docs/kubernetes.md has the reasons): `Recreate`, so a rollout does not
//! wait for GPUs that the old pod holds; a startup probe with the load's
//! budget, then readiness and a patient liveness probe; the restricted
//! security context with writable `emptyDir`s only where the runtime writes.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, HostPathVolumeSource, KeyToPath,
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    PreferredSchedulingTerm, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Input, MANIFEST_DIR, MANIFEST_PATH, object_name};
use crate::manifest::env_name;
use crate::manifest::wire::{GpuAffinity, ServiceType};
use crate::manifest::{KeyPath, Kubernetes, ModelVolume, SecretSource};
use crate::plan::Kind;

/// The non-root user the image runs as (a high id, no login).
const USER: i64 = 65532;
/// Where the Hugging Face cache lives in the pod: an `emptyDir`.
const HF_HOME: &str = "/var/cache/huggingface";
/// The key of the API key in its Secret.
const API_KEY: &str = "api-key";
/// `/dev/shm` for NCCL between the ranks of one pod.
const SHM: &str = "8Gi";
const SHM_BYTES: u64 = 8 << 30;
/// Host memory beyond the plan's: the runtime, tokenizer, buffers.
const HOST_BASE: u64 = 4 << 30;

pub(super) struct Objects<'a> {
    input: &'a Input<'a>,
    k8s: Kubernetes,
    name: String,
    config_map: String,
    digest: String,
}

fn map<const N: usize>(entries: [(&str, String); N]) -> BTreeMap<String, String> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

impl<'a> Objects<'a> {
    pub(super) fn new(input: &'a Input<'a>, digest: &str) -> Self {
        let name = object_name(&input.manifest.name);
        Objects {
            k8s: input
                .manifest
                .kubernetes
                .clone()
                .unwrap_or_else(default_settings),
            config_map: format!("{name}-{}", &digest[..10]),
            digest: digest.to_owned(),
            name,
            input,
        }
    }

    fn selector(&self) -> BTreeMap<String, String> {
        map([
            ("app.kubernetes.io/name", self.name.clone()),
            ("app.kubernetes.io/instance", self.name.clone()),
        ])
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.k8s.labels.clone();
        labels.extend(self.selector());
        labels.insert(
            "app.kubernetes.io/component".into(),
            "inference-server".into(),
        );
        labels.insert("app.kubernetes.io/managed-by".into(), "deployctl".into());
        labels
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: self.k8s.namespace.clone(),
            labels: Some(self.labels()),
            ..ObjectMeta::default()
        }
    }

    pub(super) fn config_map(&self) -> ConfigMap {
        let mut data = map([("deploy.toml", self.input.manifest_text.to_owned())]);
        if let Some(config) = self.input.model_config {
            data.insert("model-config.json".into(), config.to_owned());
        }
        ConfigMap {
            metadata: self.meta(&self.config_map),
            data: Some(data),
            immutable: Some(true),
            ..ConfigMap::default()
        }
    }

    fn gpus(&self) -> usize {
        self.input.plan.devices.len()
    }

    fn tensor_ranks(&self) -> u64 {
        match self.input.plan.strategy {
            Kind::Tensor { size } => size,
            _ => 1,
        }
    }

    fn resources(&self) -> ResourceRequirements {
        let cpu = self
            .k8s
            .cpu
            .clone()
            // Each extra tensor-parallel rank is a process that spins a core.
            .unwrap_or_else(|| (2 + self.tensor_ranks() - 1).to_string());
        let host = self.input.plan.cpu.as_ref().map_or(0, |c| c.bytes.0);
        let memory = self.k8s.memory.map_or(host + HOST_BASE, |m| m.0);
        // `/dev/shm` is memory-backed and counts against the limit.
        let shm = if self.gpus() > 1 { SHM_BYTES } else { 0 };
        let mut requests = BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu)),
            ("memory".to_owned(), mebibytes(memory)),
        ]);
        let mut limits = BTreeMap::from([("memory".to_owned(), mebibytes(memory + shm))]);
        if self.gpus() > 0 {
            let n = Quantity(self.gpus().to_string());
            requests.insert(self.k8s.gpu_resource.clone(), n.clone());
            limits.insert(self.k8s.gpu_resource.clone(), n);
        }
        ResourceRequirements {
            limits: Some(limits),
            requests: Some(requests),
            ..ResourceRequirements::default()
        }
    }

    fn env(&self) -> Vec<EnvVar> {
        let value = |name: String, value: &str| EnvVar {
            name,
            value: Some(value.to_owned()),
            ..EnvVar::default()
        };
        // The pod is reached on its IP: probes, the Service.
        let mut env = vec![value(env_name(&KeyPath::parse("server.host")), "0.0.0.0")];
        if self.input.model_config.is_some() {
            env.push(value(
                env_name(&KeyPath::parse("model.config")),
                &format!("{MANIFEST_DIR}/model-config.json"),
            ));
        }
        env.push(value("HF_HOME".into(), HF_HOME));
        if let Some(SecretSource::Env(var)) = &self.input.manifest.server.api_key {
            env.push(EnvVar {
                name: var.clone(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: self.api_key_secret(),
                        key: API_KEY.into(),
                        ..SecretKeySelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            });
        }
        env
    }

    fn api_key_secret(&self) -> String {
        self.k8s
            .api_key_secret
            .clone()
            .unwrap_or_else(|| format!("{}-api-key", self.name))
    }

    fn probe(&self, period: i32, failures: i32) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/health".into()),
                port: IntOrString::String("http".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(period),
            failure_threshold: Some(failures),
            timeout_seconds: Some(5),
            ..Probe::default()
        }
    }

    fn volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        let empty = |name: &str, medium: Option<&str>, size: Option<&str>| Volume {
            name: name.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: medium.map(str::to_owned),
                size_limit: size.map(|s| Quantity(s.to_owned())),
            }),
            ..Volume::default()
        };
        let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
            name: name.into(),
            mount_path: path.into(),
            read_only: read_only.then_some(true),
            ..VolumeMount::default()
        };
        let mut volumes = vec![
            Volume {
                name: "manifest".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: self.config_map.clone(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            empty("tmp", None, None),
            empty("cache", None, None),
        ];
        let mut mounts = vec![
            mount("manifest", MANIFEST_DIR, true),
            mount("tmp", "/tmp", false),
            mount("cache", HF_HOME, false),
        ];
        if self.gpus() > 1 {
            volumes.push(empty("shm", Some("Memory"), Some(SHM)));
            mounts.push(mount("shm", "/dev/shm", false));
        }
        if let Some(storage) = &self.k8s.models {
            let mut volume = Volume {
                name: "models".into(),
                ..Volume::default()
            };
            match &storage.volume {
                ModelVolume::Claim(claim) => {
                    volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim.clone(),
                        read_only: Some(true),
                    });
                }
                ModelVolume::HostPath(dir) => {
                    volume.host_path = Some(HostPathVolumeSource {
                        path: dir.to_string_lossy().into_owned(),
                        type_: Some("Directory".into()),
                    });
                }
            }
            volumes.push(volume);
            mounts.push(mount("models", &storage.mount_path.to_string_lossy(), true));
        }
        if let Some(SecretSource::File(path)) = &self.input.manifest.server.api_key {
            let dir = path
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            volumes.push(Volume {
                name: "api-key".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(self.api_key_secret()),
                    items: Some(vec![KeyToPath {
                        key: API_KEY.into(),
                        path: file,
                        ..KeyToPath::default()
                    }]),
                    default_mode: Some(0o400),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            });
            mounts.push(mount("api-key", &dir, true));
        }
        (volumes, mounts)
    }

    fn affinity(&self) -> Option<Affinity> {
        let expect = self.input.manifest.devices.expect.as_ref()?;
        if self.k8s.gpu_affinity == GpuAffinity::None || self.gpus() == 0 {
            return None;
        }
        let req = |key: &str, operator: &str, value: String| NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(vec![value]),
        };
        let mut common = Vec::new();
        if let Some(count) = expect.count {
            common.push(req(
                "nvidia.com/gpu.count",
                "Gt",
                (count.saturating_sub(1)).to_string(),
            ));
        }
        if let Some(memory) = expect.memory {
            // GFD's label is each GPU's memory in MiB.
            let mib = memory.0 >> 20;
            common.push(req(
                "nvidia.com/gpu.memory",
                "Gt",
                mib.saturating_sub(1).to_string(),
            ));
        }
        let mut terms = Vec::new();
        match expect.min_compute_capability {
            Some(c) if c.minor > 0 => {
                let mut above = common.clone();
                above.push(req(
                    "nvidia.com/gpu.compute.major",
                    "Gt",
                    c.major.to_string(),
                ));
                let mut same = common.clone();
                same.push(req(
                    "nvidia.com/gpu.compute.major",
                    "In",
                    c.major.to_string(),
                ));
                same.push(req(
                    "nvidia.com/gpu.compute.minor",
                    "Gt",
                    (c.minor - 1).to_string(),
                ));
                terms.push(above);
                terms.push(same);
            }
            Some(c) => {
                let mut term = common;
                term.push(req(
                    "nvidia.com/gpu.compute.major",
                    "Gt",
                    c.major.saturating_sub(1).to_string(),
                ));
                terms.push(term);
            }
            None if common.is_empty() => return None,
            None => terms.push(common),
        }
        let term = |match_expressions| NodeSelectorTerm {
            match_expressions: Some(match_expressions),
            ..NodeSelectorTerm::default()
        };
        let node_affinity = match self.k8s.gpu_affinity {
            GpuAffinity::Required => NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: terms.into_iter().map(term).collect(),
                }),
                ..NodeAffinity::default()
            },
            _ => NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(
                    terms
                        .into_iter()
                        .map(|t| PreferredSchedulingTerm {
                            weight: 100,
                            preference: term(t),
                        })
                        .collect(),
                ),
                ..NodeAffinity::default()
            },
        };
        Some(Affinity {
            node_affinity: Some(node_affinity),
            ..Affinity::default()
        })
    }

    pub(super) fn deployment(&self) -> Deployment {
        let server = &self.input.manifest.server;
        let (volumes, volume_mounts) = self.volumes();
        let container = Container {
            name: "deployctl".into(),
            image: self.k8s.image.clone(),
            args: Some(vec![
                "apply".into(),
                MANIFEST_PATH.into(),
                "--log-format".into(),
                "json".into(),
            ]),
            env: Some(self.env()),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: i32::from(server.port),
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            }]),
            resources: Some(self.resources()),
            // One look every 10 s for the whole load budget.
            startup_probe: Some(
                self.probe(10, self.k8s.startup_seconds.div_ceil(10).max(1) as i32),
            ),
            readiness_probe: Some(self.probe(5, 2)),
            // A restart reloads the model: only after two minutes of failures.
            liveness_probe: Some(self.probe(30, 4)),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Capabilities::default()
                }),
                ..SecurityContext::default()
            }),
            volume_mounts: Some(volume_mounts),
            ..Container::default()
        };
        let tolerations: Vec<Toleration> = self
            .k8s
            .tolerations
            .iter()
            .map(|t| Toleration {
                key: t.key.clone(),
                operator: Some(t.operator.clone()),
                value: t.value.clone(),
                effect: t.effect.clone(),
                ..Toleration::default()
            })
            .collect();
        let grace = i64::from(server.drain_seconds) + i64::from(server.grace_seconds) + 10;
        let pod = PodSpec {
            containers: vec![container],
            affinity: self.affinity(),
            node_selector: (!self.k8s.node_selector.is_empty())
                .then(|| self.k8s.node_selector.clone()),
            tolerations: (!tolerations.is_empty()).then_some(tolerations),
            // The drain, then the grace period for what still runs, then a margin.
            termination_grace_period_seconds: Some(grace),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(USER),
                run_as_group: Some(USER),
                fs_group: Some(USER),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            volumes: Some(volumes),
            ..PodSpec::default()
        };
        let mut annotations = BTreeMap::from([
            (
                "deployctl.dev/manifest-sha256".to_owned(),
                self.digest.clone(),
            ),
            (
                "deployctl.dev/plan".to_owned(),
                format!(
                    "per pod: {}",
                    self.input.plan.strategy.describe(self.gpus())
                ),
            ),
        ]);
        annotations.insert(
            "kubectl.kubernetes.io/default-container".into(),
            "deployctl".into(),
        );
        Deployment {
            metadata: self.meta(&self.name),
            spec: Some(DeploymentSpec {
                replicas: Some(self.k8s.replicas as i32),
                selector: LabelSelector {
                    match_labels: Some(self.selector()),
                    ..LabelSelector::default()
                },
                // A new pod waits for the old one's GPUs: never two at once.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..DeploymentStrategy::default()
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels()),
                        annotations: Some(annotations),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(pod),
                },
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }
    }

    pub(super) fn service(&self) -> Service {
        let service_type = match self.k8s.service_type {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        };
        Service {
            metadata: self.meta(&self.name),
            spec: Some(ServiceSpec {
                type_: Some(service_type.into()),
                selector: Some(self.selector()),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: i32::from(self.input.manifest.server.port),
                    target_port: Some(IntOrString::String("http".into())),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    pub(super) fn disruption_budget(&self) -> Option<PodDisruptionBudget> {
        self.k8s.disruption_budget.then(|| PodDisruptionBudget {
            metadata: self.meta(&self.name),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(LabelSelector {
                    match_labels: Some(self.selector()),
                    ..LabelSelector::default()
                }),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        })
    }
}

/// `[kubernetes]` with every default, for a manifest that has none (the
/// refusals require an image, so this is only ever rendered in tests).
fn default_settings() -> Kubernetes {
    Kubernetes {
        namespace: None,
        image: None,
        replicas: 1,
        service_type: ServiceType::ClusterIP,
        labels: BTreeMap::new(),
        node_selector: BTreeMap::new(),
        tolerations: Vec::new(),
        gpu_affinity: GpuAffinity::Preferred,
        gpu_resource: "nvidia.com/gpu".into(),
        startup_seconds: crate::manifest::K8S_STARTUP_SECONDS,
        disruption_budget: false,
        api_key_secret: None,
        models: None,
        cpu: None,
        memory: None,
    }
}

/// `12345Mi`: whole mebibytes, rounded up.
fn mebibytes(bytes: u64) -> Quantity {
    Quantity(format!("{}Mi", bytes.div_ceil(1 << 20)))
}
