//! `render --target kubernetes`: the objects for each kind of plan
//! (snapshotted), a typed round trip through `k8s-openapi`, every refusal at
//! its line, `-o DIR` and `--check DIR`, and the Argo CD plugin's command.
//! The rendered YAML is also checked against the official schemas by
//! `kubernetes-validate` in `.ci/run` (`scripts/validate-kubernetes`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;

fn fixtures() -> PathBuf {
    support::fixtures().join("kubernetes")
}

/// The four kinds of plan with a `[kubernetes]` table.
const RENDERED: [&str; 4] = ["quickstart-cpu", "pipeline-2gpu", "tensor-4gpu", "mig"];

fn deployctl(dir: &Path) -> Command {
    let mut cmd = support::deployctl();
    support::without_model_caches(&mut cmd)
        .current_dir(dir)
        .env("NO_COLOR", "1");
    cmd
}

fn render(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = deployctl(dir)
        .args([
            "--color",
            "never",
            "render",
            "deploy.toml",
            "--target",
            "kubernetes",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_kind_of_plan_renders_as_snapshotted() {
    for name in RENDERED {
        let (code, stdout, stderr) = render(&fixtures().join(name), &[]);
        assert_eq!(code, Some(0), "{name}: {stderr}");
        insta::assert_snapshot!(format!("kubernetes_{name}"), stdout);
    }
}

/// YAML → the typed object → YAML, equal: a field the API does not have
/// would be dropped by the typed model (it ignores unknown fields), and the
/// comparison would fail.
#[test]
fn every_object_survives_a_typed_round_trip() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    fn again<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
        let typed: T = serde_json::from_value(doc.clone()).unwrap();
        serde_json::to_value(typed).unwrap()
    }
    let mut kinds = BTreeSet::new();
    for name in RENDERED {
        let (_, stdout, _) = render(&fixtures().join(name), &[]);
        for doc in support::yaml_documents(&stdout) {
            let kind = doc["kind"].as_str().unwrap().to_owned();
            let round = match kind.as_str() {
                "ConfigMap" => again::<ConfigMap>(&doc),
                "Deployment" => again::<Deployment>(&doc),
                "Service" => again::<Service>(&doc),
                "PodDisruptionBudget" => again::<PodDisruptionBudget>(&doc),
                other => panic!("{name}: unexpected kind {other}"),
            };
            assert_eq!(round, doc, "{name}: {kind}");
            kinds.insert(kind);
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

#[test]
fn the_pods_hold_what_the_plans_say() {
    let deployment = |name: &str| -> Value {
        let (_, stdout, _) = render(&fixtures().join(name), &[]);
        support::yaml_documents(&stdout)
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap()
    };
    let pod = |d: &Value| d["spec"]["template"]["spec"].clone();
    let container = |d: &Value| pod(d)["containers"][0].clone();

    // The CPU plan asks for no GPU and mounts no /dev/shm.
    let cpu = deployment("quickstart-cpu");
    assert!(
        container(&cpu)["resources"]["limits"]
            .get("nvidia.com/gpu")
            .is_none()
    );
    let mounts = container(&cpu)["volumeMounts"].to_string();
    assert!(
        !mounts.contains("/dev/shm") && mounts.contains("\"/models\""),
        "{mounts}"
    );

    // Two GPUs for the pipeline, requests equal to limits, and /dev/shm.
    let pipeline = deployment("pipeline-2gpu");
    let resources = &container(&pipeline)["resources"];
    assert_eq!(resources["limits"]["nvidia.com/gpu"], "2");
    assert_eq!(resources["requests"]["nvidia.com/gpu"], "2");
    assert!(
        container(&pipeline)["volumeMounts"]
            .to_string()
            .contains("/dev/shm")
    );
    assert_eq!(pipeline["spec"]["replicas"], 2);
    assert_eq!(pipeline["spec"]["strategy"]["type"], "Recreate");

    // Four for tensor parallelism, with a core for each extra rank.
    let tensor = deployment("tensor-4gpu");
    assert_eq!(
        container(&tensor)["resources"]["limits"]["nvidia.com/gpu"],
        "4"
    );
    assert_eq!(container(&tensor)["resources"]["requests"]["cpu"], "5");
    assert_eq!(container(&tensor)["startupProbe"]["failureThreshold"], 360);
    let affinity = &pod(&tensor)["affinity"]["nodeAffinity"];
    assert!(affinity["requiredDuringSchedulingIgnoredDuringExecution"].is_object());

    // One MIG slice, by its resource name.
    let mig = deployment("mig");
    assert_eq!(
        container(&mig)["resources"]["limits"]["nvidia.com/mig-3g.40gb"],
        "1"
    );

    for d in [&cpu, &pipeline, &tensor, &mig] {
        let c = container(d);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
        assert_eq!(pod(d)["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod(d)["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        // The drain (5 s) and the grace (10 s), and a margin.
        assert_eq!(pod(d)["terminationGracePeriodSeconds"], 25);
        let env = c["env"].to_string();
        assert!(
            env.contains("\"DEPLOYCTL_SERVER__HOST\",\"value\":\"0.0.0.0\"")
                || env.contains("0.0.0.0"),
            "{env}"
        );
        // The key is a reference, never a value.
        assert!(!env.contains("\"value\":\"KEY"), "{env}");
    }
    let tensor_volumes = pod(&tensor)["volumes"].to_string();
    assert!(
        tensor_volumes.contains("\"secretName\":\"qwen-api-key\""),
        "{tensor_volumes}"
    );
    assert!(
        tensor_volumes.contains("\"claimName\":\"qwen-weights\""),
        "{tensor_volumes}"
    );
}

/// `# expect: CODE @ LINE` at the top of each refused manifest.
#[test]
fn each_refusal_has_its_code_at_its_line() {
    let dir = support::fixtures().join("kubernetes-refused");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(str::to_owned)
            .collect();
        let file = path.file_name().unwrap().to_str().unwrap();
        let out = deployctl(&dir)
            .args(["--color", "never", "render", file, "--target", "kubernetes"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{file}: {stderr}");
        assert!(out.stdout.is_empty(), "{file}: nothing rendered");
        let mut found = BTreeSet::new();
        let mut code = None;
        for line in stderr.lines() {
            if line.starts_with("deployctl::") {
                code = line.split_whitespace().next().map(str::to_owned);
            } else if let (Some(c), Some(at)) = (&code, line.split(&format!("[{file}:")).nth(1)) {
                let line_no = at.split(':').next().unwrap();
                found.insert(format!("{c} @ {line_no}"));
                code = None;
            }
        }
        assert_eq!(found, expected, "{file}:\n{stderr}");
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
}

#[test]
fn a_directory_render_is_checked_fresh_and_stale() {
    let fixture = fixtures().join("pipeline-2gpu");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("k8s");
    let (code, stdout, stderr) = render(&fixture, &["-o", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.is_empty());
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "configmap.yaml",
            "deployment.yaml",
            "kustomization.yaml",
            "poddisruptionbudget.yaml",
            "service.yaml"
        ]
        .map(String::from)
        .into()
    );
    // The files are the stream, one object each.
    let (_, stream, _) = render(&fixture, &[]);
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    assert!(
        stream.contains(&deployment),
        "the file is a document of the stream"
    );
    let check = |expect: i32| {
        let (code, _, stderr) = render(&fixture, &["--check", dir.to_str().unwrap()]);
        assert_eq!(code, Some(expect), "{stderr}");
        stderr
    };
    check(0);
    std::fs::write(dir.join("service.yaml"), "# edited by hand\n").unwrap();
    assert!(check(1).contains("service.yaml: differs"));
    render(&fixture, &["-o", dir.to_str().unwrap()]);
    std::fs::remove_file(dir.join("configmap.yaml")).unwrap();
    assert!(check(1).contains("configmap.yaml: missing"));
    // A folder never rendered is stale too; a file is no folder to write.
    let never = out.path().join("never");
    let (code, _, stderr) = render(&fixture, &["--check", never.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("deployment.yaml: missing"), "{stderr}");
    let file = out.path().join("file");
    std::fs::write(&file, "").unwrap();
    let (code, _, stderr) = render(&fixture, &["-o", file.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("is a file; `-o` takes the directory"),
        "{stderr}"
    );
}

#[test]
fn the_render_is_the_same_bytes_from_anywhere() {
    let fixture = fixtures().join("tensor-4gpu");
    let (_, here, _) = render(&fixture, &[]);
    let out = deployctl(Path::new("/"))
        .args(["render"])
        .arg(fixture.join("deploy.toml"))
        .args(["--target", "kubernetes"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), here);
}

/// The Argo CD Config Management Plugin's `generate` command, run as Argo CD
/// runs it: in the application's directory.
#[test]
fn the_argo_cd_plugin_generates_the_render() {
    let plugin: Value = serde_norway::from_str(
        &std::fs::read_to_string(support::examples().join("gitops/argocd/plugin.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let command: Vec<String> = plugin["spec"]["generate"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let args: Vec<String> = plugin["spec"]["generate"]["args"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(command[0], "sh", "{command:?}");
    let app = support::examples().join("gitops/production");
    let bin = support::deployctl_bin();
    let out = support::scrub(&mut Command::new(&command[0]))
        .args(&command[1..])
        .args(&args)
        .current_dir(&app)
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", bin.parent().unwrap().display()),
        )
        .env("ARGOCD_APP_NAME", "qwen")
        .env("ARGOCD_APP_NAMESPACE", "llm")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, direct, _) = render(&app, &[]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), direct);
}

/// The GitOps example commits its rendered objects; they must be current.
#[test]
fn the_gitops_example_s_rendered_objects_are_current() {
    let app = support::examples().join("gitops/production");
    let (code, _, stderr) = render(&app, &["--check", "k8s"]);
    assert_eq!(code, Some(0), "{stderr}");
}
