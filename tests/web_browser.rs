//! The web dashboard in a real browser: Debian's chromium driven by
//! `tests/web/dashboard.mjs` (playwright-core) against two `jfmon serve`
//! processes on a seeded database with one integration down – a plain one
//! (killed and restarted mid-test) and one with `--token-file` and
//! `--read-only`. Screenshots land in `target/web-screenshots/`. One browser
//! launch for the whole file. Needs node and chromium: missing, the test
//! fails under CI (`CI=true`) and says why it skips otherwise.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::serve::{HubProcess, serve_command};
use common::*;
use sqlx::PgPool;

const DOWN: &str = "openai";
const LAST_ERROR: &str = "ConnectTimeout after 30000 ms";
const TOKEN: &str = "web-test-token-6f1c";

fn url_of(pool: &PgPool) -> String {
    let db = pool.connect_options().get_database().unwrap().to_owned();
    format!("postgres://postgres@127.0.0.1:5432/{db}")
}

/// `jfmon serve` polling every 300 ms with `extra`, on a port of its own.
fn serve(url: &str, extra: &[&str]) -> HubProcess {
    let url = url.to_owned();
    let mut args = vec!["--interval".to_owned(), "300ms".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    HubProcess::start(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve_command(&url, &args)
    })
}

/// Raw HTTP/1.1 request on loopback: the response head (and what came with
/// it), or everything up to the close with `Connection: close`.
fn raw(port: u16, request: &str) -> String {
    let to_end = request.contains("Connection: close");
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head (and what follows in the same packets).
    while to_end || !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn get(port: u16, path: &str) -> String {
    raw(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
}

fn wait_healthy(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/healthz").starts_with("HTTP/1.1 200")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("jfmon serve did not come up on {port}");
}

async fn seed(pool: &PgPool) {
    let mut rng = Rng(7);
    insert_api_calls(pool, &mut rng, 600, 300.0).await;
    for q in [
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, error, operation) \
         SELECT 'openai', false, 30000, 'ConnectTimeout after 30000 ms', 'chat' FROM generate_series(1, 12)",
        // Before the outage openai answered in about 400 ms: its latency
        // chart spans 400 ms to 30 s (the page's log-scale check).
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, operation, created_at) \
         SELECT 'openai', true, 400 + n, 'chat', now() - interval '4 min' FROM generate_series(1, 6) n",
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms) \
         SELECT 'prokerala', true, 150 + n FROM generate_series(1, 40) n",
        "INSERT INTO monitoring_alerts (severity, title, context) \
         VALUES ('critical', 'OpenAI down', '{\"integration\": \"openai\"}')",
        // Two ids that differ only at their end, as the simulator's and many
        // platforms' do: the Sessions table must tell them apart.
        "INSERT INTO monitoring_sessions (session_id, service) \
         VALUES ('sim-6b0cac8c-0000001', 'guidance'), ('sim-6b0cac8c-0000002', 'astrology')",
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, ended_at, credits_used) VALUES \
         ('s3', 'guidance', 'completed', now() - interval '3 min', now() - interval '1 min', 5), \
         ('s4', 'guidance', 'abandoned', now() - interval '2 min', now() - interval '2 min' + interval '3 s', 2)",
        "INSERT INTO monitoring_business_metrics (metric, value) VALUES ('revenue', 19.98), ('signups', 2)",
    ] {
        sqlx::query(q).execute(pool).await.unwrap();
    }
}

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web")
}

/// `npm ci` when `node_modules` is missing (playwright-core only; no browser
/// download: the test drives Debian's chromium).
fn ensure_node_modules() {
    if web_dir().join("node_modules/playwright-core").is_dir() {
        return;
    }
    let st = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(web_dir())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .expect("run npm ci");
    assert!(st.success(), "npm ci failed in tests/web");
}

#[sqlx::test(migrations = "./migrations")]
async fn dashboard_in_chromium(pool: PgPool) {
    let chromium = std::env::var("JFMON_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    if !common::require_tool("node", "--version")
        || !common::require_tool("npm", "--version")
        || !common::require_tool(&chromium, "--version")
    {
        return;
    }
    ensure_node_modules();
    seed(&pool).await;
    let url = url_of(&pool);

    let dir = std::env::temp_dir().join(format!("jfmon-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&out).unwrap();

    let mut plain = Some(serve(&url, &[]));
    let tf = token_file.to_str().unwrap().to_owned();
    let _token_hub = serve(&url, &["--token-file", &tf, "--read-only"]);
    let (a, b) = (plain.as_ref().unwrap().port, _token_hub.port);
    wait_healthy(a);
    wait_healthy(b);

    // Outside the browser: the foreign-origin upgrade gets 403 before any
    // WebSocket exists; no CORS header is ever granted.
    let upgrade = |origin: &str| {
        raw(
            a,
            &format!(
                "GET /monitoring/ws HTTP/1.1\r\nHost: 127.0.0.1:{a}\r\nConnection: Upgrade\r\n\
                 Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
            ),
        )
    };
    assert!(upgrade("Origin: http://evil.example\r\n").starts_with("HTTP/1.1 403"));
    assert!(upgrade(&format!("Origin: http://127.0.0.1:{a}\r\n")).starts_with("HTTP/1.1 101"));
    assert!(
        upgrade("").starts_with("HTTP/1.1 101"),
        "no Origin: not a browser, allowed"
    );
    let cors = raw(
        a,
        &format!(
            "GET /monitoring/api/health HTTP/1.1\r\nHost: 127.0.0.1:{a}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        !cors
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );
    let page = get(a, "/monitoring/dashboard");
    assert!(page.contains("content-security-policy: default-src 'none'; script-src 'self'"));

    // The hub's figures equal `jfmon snapshot --json` on the same database.
    let snap = Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(["snapshot", "--json"])
        .env("DATABASE_URL", &url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .unwrap();
    let snap: serde_json::Value = serde_json::from_slice(&snap.stdout).expect("snapshot JSON");
    let health = get(a, "/monitoring/api/health");
    let body = health.split("\r\n\r\n").nth(1).unwrap_or("");
    let health: serde_json::Value = serde_json::from_str(body).expect("health JSON");
    let pick = |v: &serde_json::Value| {
        v.as_array()
            .expect("integrations")
            .iter()
            .map(|i| {
                let f = |k: &str| i[k].clone();
                (
                    f("name"),
                    f("calls"),
                    f("p95_ms"),
                    f("status"),
                    f("success_rate"),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pick(&snap["integrations"]),
        pick(&health["integrations"]),
        "hub and snapshot agree"
    );

    let mut node = Command::new("node")
        .arg(web_dir().join("dashboard.mjs"))
        .current_dir(web_dir())
        .env("HUB", format!("http://127.0.0.1:{a}"))
        .env("TOKEN_HUB", format!("http://127.0.0.1:{b}"))
        .env("TOKEN", TOKEN)
        .env("DOWN", DOWN)
        .env("LAST_ERROR", LAST_ERROR)
        .env("OUT", &out)
        .env("CHROMIUM", which(&chromium))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_node = node.stdin.take().unwrap();
    let from_node = BufReader::new(node.stdout.take().unwrap());
    let mut said = Vec::new();
    for line in from_node.lines() {
        let line = line.unwrap();
        println!("{line}");
        match line.as_str() {
            "KILL" => {
                if let Some(p) = plain.as_mut() {
                    p.kill();
                }
                writeln!(to_node, "done").unwrap();
            }
            "START" => {
                // On its old port: the page reconnects to the same address.
                if let Some(p) = plain.as_mut() {
                    p.restart();
                }
                wait_healthy(a);
                writeln!(to_node, "done").unwrap();
            }
            _ => said.push(line),
        }
    }
    drop(to_node);
    let status = node.wait().unwrap();
    let mut err = String::new();
    use std::io::Read;
    node.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success() && said.iter().any(|l| l == "ALL OK"),
        "the browser test failed:\n{}\n{err}",
        said.join("\n")
    );
    for shot in [
        "dashboard-1280x800.png",
        "dashboard-390x844.png",
        "detail-1280x800.png",
    ] {
        assert!(out.join(shot).is_file(), "screenshot {shot} saved");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The full path of a command (playwright wants an executable path).
fn which(cmd: &str) -> String {
    if cmd.contains('/') {
        return cmd.to_owned();
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| cmd.to_owned())
}
