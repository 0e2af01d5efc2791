//! The Kubernetes objects a plan compiles to: a ConfigMap with the resolved
//! manifest, a Deployment whose container runs `deployctl apply` on it, a
//! Service, and optionally a PodDisruptionBudget. Typed (`k8s-openapi`), so
//! every field is one the API has; pure, so the same inputs give the same
//! bytes. `refusals` says what cannot run in a pod as written.

mod objects;
mod refusals;

pub use refusals::{AsWritten, refusals};

use sha2::{Digest as _, Sha256};

use crate::manifest::Manifest;
use crate::plan::Plan;

/// Where the pod mounts the manifest.
pub const MANIFEST_DIR: &str = "/etc/deployctl";
pub const MANIFEST_PATH: &str = "/etc/deployctl/deploy.toml";

/// What the render is made from.
pub struct Input<'a> {
    pub manifest: &'a Manifest,
    pub plan: &'a Plan,
    /// The resolved manifest, as `deployctl config` prints it.
    pub manifest_text: &'a str,
    /// `model.config`'s text, when the manifest names one: the pod plans
    /// from it as CI did.
    pub model_config: Option<&'a str>,
    /// deployctl's version, for the `app.kubernetes.io/managed-by` story.
    pub version: &'a str,
}

/// The rendered objects, in apply order, each with the file it goes in.
pub struct Rendered {
    pub files: Vec<(String, String)>,
}

impl Rendered {
    /// Every object in one YAML stream, as `kubectl apply -f -` takes it.
    pub fn stream(&self) -> String {
        self.files
            .iter()
            .filter(|(name, _)| name != KUSTOMIZATION)
            .map(|(_, text)| format!("---\n{text}"))
            .collect()
    }
}

pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// Renders `input`; call [`refusals`] first, which says what this cannot render.
pub fn render(input: &Input<'_>) -> Rendered {
    let digest = {
        let mut hash = Sha256::new();
        hash.update(input.manifest_text.as_bytes());
        if let Some(config) = input.model_config {
            hash.update([0]);
            hash.update(config.as_bytes());
        }
        hash.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let objects = objects::Objects::new(input, &digest);
    let mut files = vec![
        ("configmap.yaml".to_owned(), yaml(&objects.config_map())),
        ("deployment.yaml".to_owned(), yaml(&objects.deployment())),
        ("service.yaml".to_owned(), yaml(&objects.service())),
    ];
    if let Some(pdb) = objects.disruption_budget() {
        files.push(("poddisruptionbudget.yaml".to_owned(), yaml(&pdb)));
    }
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: files.iter().map(|(name, _)| name.clone()).collect(),
    };
    files.push((KUSTOMIZATION.to_owned(), yaml(&kustomization)));
    let header = header(input);
    for (_, text) in &mut files {
        text.insert_str(0, &header);
    }
    Rendered { files }
}

/// A comment atop each file: where it came from, and that the plan is per pod.
fn header(input: &Input<'_>) -> String {
    let gpus = input.plan.devices.len();
    let k8s = input.manifest.kubernetes.as_ref();
    let replicas = k8s.map_or(1, |k| k.replicas);
    format!(
        "# Rendered by deployctl {} from the manifest `{}`; do not edit: re-render.\n\
         # The plan is per pod: each of {replicas} replica(s) gets {} and plans {}.\n",
        input.version,
        input.manifest.name,
        match gpus {
            0 => "no GPU".to_owned(),
            1 => "1 GPU".to_owned(),
            n => format!("{n} GPUs"),
        },
        input.plan.strategy.describe(gpus),
    )
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: &'static str,
    kind: &'static str,
    resources: Vec<String>,
}

fn yaml<T: serde::Serialize>(value: &T) -> String {
    serde_norway::to_string(value).expect("Kubernetes objects serialize to YAML")
}

/// A Kubernetes name from the deployment's: lowercase, `.` and `_` as `-`,
/// at most 63 characters (Services need a DNS-1035 label).
pub fn object_name(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    let out = if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("m-{out}")
    } else {
        out.to_owned()
    };
    out.chars()
        .take(52)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_labels_with_room_for_a_suffix() {
        assert_eq!(object_name("qwen2.5-vl-7b"), "qwen2-5-vl-7b");
        assert_eq!(object_name("Qwen_2.5__VL"), "qwen-2-5-vl");
        assert_eq!(object_name("3b-chat"), "m-3b-chat");
        assert!(object_name(&"x".repeat(100)).len() <= 52);
    }
}
