//! Benchmark: the quickstart model (SmolLM2-135M-Instruct, Q4_1 GGUF, CPU)
//! through `deployctl apply`, beside a bare mistral.rs builder program loading
//! the same file. Prints time to ready and generation speed for both; it is not
//! a pass/fail test. Run: `cargo bench --bench apply --profile dev` (fetches the
//! model once; the dev profile optimises every dependency, mistral.rs included,
//! and skips the release build's link-time optimisation of all of mistral.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mistralrs::{GgufModelBuilder, RequestBuilder, TextMessageRole, TextMessages, TokenSource};

const PROMPT: &str = "Write three sentences about the sea.";
const MAX_TOKENS: usize = 96;
const RUNS: usize = 5;

fn model() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-demo-model");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Load time and tokens per second of a bare builder program.
fn bare(model: &Path) -> (f64, f64) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let start = Instant::now();
        let m = GgufModelBuilder::new(
            model.parent().unwrap().display(),
            vec![model.file_name().unwrap().to_string_lossy()],
        )
        .with_token_source(TokenSource::None)
        .with_force_cpu()
        .build()
        .await
        .unwrap();
        let load = start.elapsed().as_secs_f64();
        let request =
            RequestBuilder::from(TextMessages::new().add_message(TextMessageRole::User, PROMPT))
                .set_sampler_max_len(MAX_TOKENS)
                .set_sampler_temperature(0.0);
        let start = Instant::now();
        let reply = m.send_chat_request(request).await.unwrap();
        let tokens = reply.usage.completion_tokens as f64;
        (load, tokens / start.elapsed().as_secs_f64())
    })
}

/// Time from `deployctl apply` to `/health` 200, and tokens per second over HTTP.
fn through_deployctl(model: &Path) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            "version = 1\nname = \"bench\"\n[model]\nsource = {:?}\n[devices]\ngpus = []\n[server]\nport = {port}\n",
            model.display().to_string()
        ),
    )
    .unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_deployctl"));
    let start = Instant::now();
    let mut child = Command::new(binary)
        .current_dir(dir.path())
        .args(["apply", "deploy.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let health = format!("http://127.0.0.1:{port}/health");
    loop {
        if agent.get(&health).call().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "apply exited");
        std::thread::sleep(Duration::from_millis(5));
    }
    let ready = start.elapsed().as_secs_f64();
    let body = serde_json::json!({
        "model": "bench",
        "messages": [{ "role": "user", "content": PROMPT }],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0
    });
    let start = Instant::now();
    let mut response = agent
        .post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .content_type("application/json")
        .send(body.to_string())
        .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let speed =
        reply["usage"]["completion_tokens"].as_f64().unwrap() / start.elapsed().as_secs_f64();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    (ready, speed)
}

fn main() {
    let model = model();
    let (mut bare_load, mut bare_speed, mut ours_ready, mut ours_speed) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let (l, s) = bare(&model);
        bare_load.push(l);
        bare_speed.push(s);
        let (r, s) = through_deployctl(&model);
        ours_ready.push(r);
        ours_speed.push(s);
    }
    let (bl, bs, or, os) = (
        median(bare_load),
        median(bare_speed),
        median(ours_ready),
        median(ours_speed),
    );
    println!(
        "quickstart model on {} cores, median of {RUNS} runs, {MAX_TOKENS} tokens max:",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("  bare mistral.rs builder   load {bl:.2} s   {bs:.1} tokens/s");
    println!("  deployctl apply (HTTP)    ready {or:.2} s   {os:.1} tokens/s");
    println!(
        "  overhead                  {:+.1} % time to ready, {:+.1} % speed",
        (or / bl - 1.0) * 100.0,
        (os / bs - 1.0) * 100.0
    );
}
