//! One JSON POST over HTTP/1.1 (plain or TLS): all a receiver needs. Hand
//! written (about as long as wiring a client crate's features): the request
//! is one write, the answer one status line, the connection closed after.
//! Errors never quote the URL (a webhook's path is often its secret).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// POST `body` as JSON to `url` (`path` appended to its path), within
/// `timeout`; `Ok` on a 2xx answer, else one line saying what went wrong.
pub async fn post_json(
    url: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    tokio::time::timeout(timeout, post(url, path, body))
        .await
        .map_err(|_| {
            format!(
                "no answer within {}",
                crate::duration::format_duration(timeout)
            )
        })?
}

async fn post(url: &str, path: &str, body: &[u8]) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|_| "the receiver's url is not a URL".to_owned())?;
    // The host as written in a URL and a Host header (`[::1]` in brackets),
    // and as connected to and named in TLS (`::1`, no brackets).
    let (host, bare) = match u.host() {
        Some(url::Host::Ipv6(a)) => (format!("[{a}]"), a.to_string()),
        Some(h) => (h.to_string(), h.to_string()),
        None => return Err("the receiver's url has no host".into()),
    };
    let tls = match u.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err("the receiver's url is not http:// or https://".into()),
    };
    let port = u
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let mut target = u.path().trim_end_matches('/').to_owned();
    target.push_str(path);
    if target.is_empty() {
        target.push('/');
    }
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    let host_header = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: jfmon/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    if !u.username().is_empty() {
        use base64::Engine;
        let user = percent(u.username());
        let pass = percent(u.password().unwrap_or(""));
        let cred = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Authorization: Basic {cred}\r\n"));
    }
    req.push_str("\r\n");
    let tcp = TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {}", e.kind()))?;
    let _ = tcp.set_nodelay(true);
    if tls {
        let name = rustls_pki_types::ServerName::try_from(bare.clone())
            .map_err(|_| format!("{host} is not a valid TLS server name"))?;
        let stream = tokio_rustls::TlsConnector::from(client_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host} failed: {e}"))?;
        exchange(stream, req.as_bytes(), body).await
    } else {
        exchange(tcp, req.as_bytes(), body).await
    }
}

/// Percent-decoding of a URL's user or password.
fn percent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
            )
        })
        .clone()
}

/// Send the request, read the status line.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    head: &[u8],
    body: &[u8],
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("connection failed: {}", e.kind());
    s.write_all(head).await.map_err(io)?;
    s.write_all(body).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        let n = s.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.lines().next().unwrap_or("");
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "the receiver's answer is not HTTP".to_owned())?;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Answer one request with `204`, returning what was received.
    async fn one_answer(l: TcpListener) -> String {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n{}") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Review finding: an IPv6 receiver (`http://[::1]:9093`) was connected
    /// to as the host "[::1]" (brackets included), which never resolves.
    #[tokio::test]
    async fn posts_to_an_ipv6_host_in_brackets() {
        let Ok(l) = TcpListener::bind("[::1]:0").await else {
            panic!("this test needs IPv6 on loopback (::1)");
        };
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(one_answer(l));
        let url = format!("http://[::1]:{port}/hook");
        post_json(&url, "", b"{}", Duration::from_secs(10))
            .await
            .unwrap();
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /hook HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
            "{req}"
        );
    }

    #[tokio::test]
    async fn posts_to_an_ipv4_host() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(one_answer(l));
        post_json(
            &format!("http://127.0.0.1:{port}"),
            "/api/v2/alerts",
            b"{}",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /api/v2/alerts HTTP/1.1\r\n"), "{req}");
    }
}
