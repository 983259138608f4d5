//! `jfmon serve` over TLS with a self-signed certificate made in the test
//! (rcgen): a stream client trusting it through `--ws-ca-file` follows the
//! hub over `wss://`, one that does not trust it is refused with a
//! certificate error; the real binary reads its token from `--ws-token-file`;
//! the page's session cookie is `Secure` under TLS.

mod common;
mod hub_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::serve::{HubProcess, serve_command};
use hub_util::*;
use jfmon::hub::{Hub, http, tls};
use jfmon::model::SourceId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const TOKEN: &str = "tls-test-token-3b9";

struct Certs {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn self_signed() -> Certs {
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    // One directory per call: the tests run at once in one process, and
    // each removes its own directory when done.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("jfmon-tls-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    Certs { dir, cert, key }
}

/// A hub serving HTTPS on loopback; returns it, its port and a stopper.
async fn tls_hub(certs: &Certs, token: Option<&str>) -> (Hub, u16, oneshot::Sender<()>) {
    let mut settings = hub_settings();
    settings.token = token.map(str::to_owned);
    settings.tls = true;
    let hub = Hub::new(settings);
    hub.publish(marker(1));
    let config = tls::server_config(&certs.cert, &certs.key).expect("server config");
    let listener = bind_retrying("127.0.0.1:0".parse().unwrap()).await;
    let port = listener.local_addr().unwrap().port();
    let listener = tls::TlsListener::new(listener, config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(http::serve(hub.clone(), listener, async move {
        let _ = stopped.await;
    }));
    (hub, port, stop)
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let certs = self_signed();
    let (hub, port, stop) = tls_hub(&certs, None).await;
    let url = format!("wss://localhost:{port}/monitoring/ws");

    // Trusting the certificate: the follower gets the hub's state.
    let mut trusting = stream_settings(&url, None);
    trusting.ca_file = Some(certs.cert.clone());
    let mut f = Follower::start(trusting);
    f.until("the hub's state over wss://", 20, |s| has_marker(s, 1))
        .await;
    hub.publish(marker(2));
    f.until("a live update over wss://", 20, |s| has_marker(s, 2))
        .await;
    assert!(f.stream().is_some_and(|s| s.up));
    f.stop();

    // Not trusting it: refused, and the reason names the certificate.
    let mut g = Follower::start(stream_settings(&url, None));
    g.until("a refused handshake", 20, |s| {
        s.source(SourceId::Stream)
            .and_then(|s| s.last_error.as_deref())
            .is_some()
    })
    .await;
    let err = g.stream().unwrap().last_error.clone().unwrap();
    assert!(!g.stream().unwrap().up);
    assert!(
        err.to_lowercase().contains("certificate"),
        "the error says why: {err}"
    );
    g.stop();
    let _ = stop.send(());
}

/// One HTTPS request trusting `ca`; returns the response head and body.
async fn https(port: u16, ca: &Path, request: &str) -> String {
    let config = jfmon::source::ca::client_config(ca).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = connector.connect(name, tcp).await.expect("TLS handshake");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn https_cookie_is_secure_and_the_client_reads_its_token_from_a_file() {
    let certs = self_signed();
    let (_hub, port, stop) = tls_hub(&certs, Some(TOKEN)).await;
    let body = format!("{{\"token\":\"{TOKEN}\"}}");
    let login = https(
        port,
        &certs.cert,
        &format!(
            "POST /monitoring/api/login HTTP/1.1\r\nHost: localhost:{port}\r\n\
             Origin: https://localhost:{port}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    // An http:// origin is foreign to an https:// hub.
    let foreign = https(
        port,
        &certs.cert,
        &format!(
            "POST /monitoring/api/login HTTP/1.1\r\nHost: localhost:{port}\r\n\
             Origin: http://localhost:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");

    // The real binary: token from a file, certificate from a CA file.
    let token_file = certs.dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let ws = format!("wss://localhost:{port}/monitoring/ws");
    let run = |token_file: PathBuf| {
        let (ws, ca) = (ws.clone(), certs.cert.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_jfmon"))
                .args(["snapshot", "--json", "--ws", &ws, "--ws-ca-file"])
                .arg(&ca)
                .arg("--ws-token-file")
                .arg(&token_file)
                .env_remove("DATABASE_URL")
                .env_remove("JFMON_WS_TOKEN")
                .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
                .output()
                .unwrap()
        })
    };
    let out = run(token_file).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["sources"].as_array().is_some());
    let missing = run(certs.dir.join("no-such-token")).await.unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no-such-token"), "names the file: {err}");
    assert!(!err.contains(TOKEN));
    let _ = stop.send(());
}

#[sqlx::test(migrations = "./migrations")]
async fn serve_binary_speaks_https(pool: sqlx::PgPool) {
    let certs = self_signed();
    let db = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let (cert, key) = (certs.cert.clone(), certs.key.clone());
    let mut hub = HubProcess::start(move || {
        let mut c = serve_command(&url, &["--tls-cert"]);
        c.arg(&cert).arg("--tls-key").arg(&key);
        c
    });
    let port = hub.port;
    let mut answer = String::new();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            answer = https(
                port,
                &certs.cert,
                &format!(
                    "GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
                ),
            )
            .await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub.kill();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"),
        "{answer}"
    );
}
