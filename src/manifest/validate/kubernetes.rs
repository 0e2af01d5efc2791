//! `[kubernetes]`: names, labels and quantities as the API server will take
//! them, checked here so that a render never produces an object it rejects.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Checker, path};
use crate::diagnostic::Code;
use crate::manifest::validated::*;
use crate::manifest::wire::{self, GpuAffinity, ServiceType};

/// The startup probe's budget when the manifest names none: a large model on
/// a slow volume takes many minutes to load.
pub const STARTUP_SECONDS: u32 = 1800;

impl Checker<'_> {
    pub(super) fn kubernetes(&mut self, raw: &wire::RawKubernetes) -> Option<Kubernetes> {
        let before = self.out.len();
        if let Some(ns) = &raw.namespace {
            self.dns_label(ns, "kubernetes.namespace");
        }
        if let Some(secret) = &raw.api_key_secret {
            self.dns_subdomain(secret, "kubernetes.api_key_secret");
        }
        if let Some(image) = &raw.image {
            if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
                let at = self.value(&path("kubernetes.image"));
                self.error(
                    Code::InvalidValue,
                    at,
                    format!("`{image}` is not an image reference"),
                )
                .with_label("no spaces")
                .with_help("e.g. `image = \"ghcr.io/acme/deployctl@sha256:…\"`");
            }
        }
        let labels = self.labels(raw.labels.as_ref(), "kubernetes.labels");
        let node_selector = self.labels(raw.node_selector.as_ref(), "kubernetes.node_selector");
        let tolerations = raw
            .tolerations
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, t)| self.toleration(t, i))
            .collect();
        let gpu_resource = raw
            .gpu_resource
            .clone()
            .unwrap_or_else(|| "nvidia.com/gpu".to_owned());
        if !is_resource_name(&gpu_resource) {
            let at = self.value(&path("kubernetes.gpu_resource"));
            self.error(
                Code::InvalidValue,
                at,
                format!("`{gpu_resource}` is not an extended resource name"),
            )
            .with_label("expected DOMAIN/NAME")
            .with_help("e.g. `nvidia.com/gpu`, or `nvidia.com/mig-3g.40gb` for a MIG slice");
        }
        let models = raw.models.as_ref().and_then(|m| self.model_storage(m));
        if let Some(cpu) = &raw.cpu {
            if !is_cpu_quantity(cpu) {
                let at = self.value(&path("kubernetes.cpu"));
                self.error(
                    Code::InvalidValue,
                    at,
                    format!("`{cpu}` is not a CPU quantity"),
                )
                .with_label("cores, or millicores with `m`")
                .with_help("e.g. `cpu = \"8\"` or `cpu = \"500m\"`");
            }
        }
        let memory = match &raw.memory {
            Some(v) => self.size(v, &path("kubernetes.memory"), false),
            None => None,
        };
        (self.out[before..].iter().all(|d| !d.is_error())).then(|| Kubernetes {
            namespace: raw.namespace.clone(),
            image: raw.image.clone(),
            replicas: raw.replicas.unwrap_or(1),
            service_type: raw.service_type.unwrap_or(ServiceType::ClusterIP),
            labels,
            node_selector,
            tolerations,
            gpu_affinity: raw.gpu_affinity.unwrap_or(GpuAffinity::Preferred),
            gpu_resource,
            startup_seconds: raw.startup_seconds.unwrap_or(STARTUP_SECONDS),
            disruption_budget: raw.disruption_budget.unwrap_or(false),
            api_key_secret: raw.api_key_secret.clone(),
            models,
            cpu: raw.cpu.clone(),
            memory,
        })
    }

    fn labels(
        &mut self,
        raw: Option<&BTreeMap<String, String>>,
        key: &str,
    ) -> BTreeMap<String, String> {
        let mut kept = BTreeMap::new();
        for (name, value) in raw.into_iter().flatten() {
            let at = || path(&format!("{key}.{name}"));
            if !is_label_key(name) {
                let place = self.key(&at());
                self.error(
                    Code::InvalidValue,
                    place,
                    format!("`{name}` is not a label key"),
                )
                .with_label("[PREFIX/]NAME, NAME up to 63 characters")
                .with_help(
                    "letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit",
                );
            } else if !is_label_value(value) {
                let place = self.value(&at());
                self.error(
                    Code::InvalidValue,
                    place,
                    format!("`{value}` is not a label value"),
                )
                .with_label("up to 63 letters, digits, `-`, `_`, `.`")
                .with_help("start and end with a letter or digit, or leave it empty");
            } else {
                kept.insert(name.clone(), value.clone());
            }
        }
        kept
    }

    fn toleration(&mut self, raw: &wire::RawToleration, i: usize) -> Option<Toleration> {
        let at = |k: &str| path(&format!("kubernetes.tolerations.{i}.{k}"));
        let operator = raw.operator.clone().unwrap_or_else(|| "Equal".to_owned());
        if operator != "Equal" && operator != "Exists" {
            let place = self.value(&at("operator"));
            self.error(
                Code::InvalidValue,
                place,
                format!("`{operator}` is not a toleration operator"),
            )
            .with_label("`Equal` or `Exists`");
            return None;
        }
        if let Some(effect) = &raw.effect {
            if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect.as_str()) {
                let place = self.value(&at("effect"));
                self.error(
                    Code::InvalidValue,
                    place,
                    format!("`{effect}` is not a taint effect"),
                )
                .with_label("`NoSchedule`, `PreferNoSchedule` or `NoExecute`");
                return None;
            }
        }
        if operator == "Exists" && raw.value.is_some() {
            let place = self.value(&at("value"));
            self.error(
                Code::InvalidValue,
                place,
                "a toleration with `operator = \"Exists\"` takes no value",
            )
            .with_label("remove it, or use `operator = \"Equal\"`");
            return None;
        }
        Some(Toleration {
            key: raw.key.clone(),
            operator,
            value: raw.value.clone(),
            effect: raw.effect.clone(),
        })
    }

    fn model_storage(&mut self, raw: &wire::RawModelStorage) -> Option<ModelStorage> {
        let volume = match (&raw.claim, &raw.host_path) {
            (Some(claim), None) => {
                self.dns_subdomain(claim, "kubernetes.models.claim")?;
                ModelVolume::Claim(claim.clone())
            }
            (None, Some(dir)) if dir.starts_with('/') => ModelVolume::HostPath(PathBuf::from(dir)),
            (None, Some(dir)) => {
                let at = self.value(&path("kubernetes.models.host_path"));
                self.error(
                    Code::InvalidValue,
                    at,
                    format!("`{dir}` is not an absolute path"),
                )
                .with_label("a directory on the node, from `/`");
                return None;
            }
            (Some(_), Some(_)) => {
                let at = self.key(&path("kubernetes.models.host_path"));
                self.error(
                    Code::InvalidValue,
                    at,
                    "`kubernetes.models` takes a `claim` or a `host_path`, not both",
                )
                .with_label("one of them");
                return None;
            }
            (None, None) => {
                let at = self.key(&path("kubernetes.models"));
                self.error(
                    Code::MissingKey,
                    at,
                    "`kubernetes.models` needs a `claim` or a `host_path`",
                )
                .with_label("where the weights are")
                .with_help("e.g. `models = { claim = \"models\", mount_path = \"/models\" }`");
                return None;
            }
        };
        let Some(mount) = &raw.mount_path else {
            let at = self.key(&path("kubernetes.models"));
            self.error(
                Code::MissingKey,
                at,
                "`kubernetes.models` needs a `mount_path`",
            )
            .with_label("where the pod sees the weights")
            .with_help("e.g. `mount_path = \"/models\"`, with `model.source` under it");
            return None;
        };
        if !mount.starts_with('/') || mount == "/" {
            let at = self.value(&path("kubernetes.models.mount_path"));
            self.error(
                Code::InvalidValue,
                at,
                format!("`{mount}` is not a directory to mount at"),
            )
            .with_label("an absolute path other than `/`");
            return None;
        }
        Some(ModelStorage {
            volume,
            mount_path: PathBuf::from(mount),
        })
    }

    fn dns_label(&mut self, name: &str, key: &str) -> Option<()> {
        let ok = (1..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !ok {
            let at = self.value(&path(key));
            self.error(
                Code::InvalidValue,
                at,
                format!("`{name}` is not a Kubernetes name"),
            )
            .with_label("lowercase letters, digits and `-`, up to 63")
            .with_help("start and end with a letter or digit, e.g. `llm-serving`");
        }
        ok.then_some(())
    }

    fn dns_subdomain(&mut self, name: &str, key: &str) -> Option<()> {
        let ok = (1..=253).contains(&name.len())
            && name.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            let at = self.value(&path(key));
            self.error(
                Code::InvalidValue,
                at,
                format!("`{name}` is not a Kubernetes object name"),
            )
            .with_label("lowercase letters, digits, `-` and `.`")
            .with_help("start and end with a letter or digit, e.g. `qwen-models`");
        }
        ok.then_some(())
    }
}

fn is_label_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

/// `[prefix/]name`: the prefix a DNS subdomain, the name a label name.
pub(super) fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => {
            (1..=253).contains(&prefix.len())
                && prefix.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                && is_label_name(name)
        }
        None => is_label_name(key),
    }
}

pub(super) fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_name(value)
}

fn is_resource_name(name: &str) -> bool {
    name.split_once('/').is_some_and(|(domain, rest)| {
        domain.contains('.') && is_label_key(&format!("{domain}/{rest}"))
    })
}

fn is_cpu_quantity(text: &str) -> bool {
    let digits = text.strip_suffix('m').unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
        && !(text.ends_with('m') && fraction.is_some())
        && digits.parse::<f64>().is_ok_and(|v| v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_quantities_as_the_api_server_takes_them() {
        assert!(is_label_key("team"));
        assert!(is_label_key("example.com/team"));
        assert!(!is_label_key("Example.com/team"));
        assert!(!is_label_key("-team"));
        assert!(is_label_value(""));
        assert!(!is_label_value("a b"));
        assert!(is_resource_name("nvidia.com/gpu"));
        assert!(is_resource_name("nvidia.com/mig-3g.40gb"));
        assert!(!is_resource_name("gpu"));
        assert!(is_cpu_quantity("8") && is_cpu_quantity("500m") && is_cpu_quantity("1.5"));
        assert!(!is_cpu_quantity("1.5m") && !is_cpu_quantity("0") && !is_cpu_quantity("x"));
    }
}
