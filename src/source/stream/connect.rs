//! Dialling the stream's server: the WebSocket handshake with the bearer
//! token and size limits, and the one line a user sees when it fails.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::StreamSettings;

/// An open connection to the stream's server.
pub(super) type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Connect to `settings.url` (`target` is its display form), within the
/// connect timeout; the error is the user's one line.
pub(super) async fn connect(settings: &StreamSettings, target: &str) -> Result<Socket, String> {
    let mut req = settings
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("invalid stream URL: {e}"))?;
    if let Some(t) = &settings.token {
        let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
            "the stream token contains characters a header cannot carry".to_string()
        })?;
        v.set_sensitive(true);
        req.headers_mut().insert("authorization", v);
    }
    let hard = settings.hard_limit();
    let config = WebSocketConfig::default()
        .max_message_size(Some(hard))
        .max_frame_size(Some(hard));
    let connector = match &settings.ca_file {
        Some(p) => Some(tokio_tungstenite::Connector::Rustls(
            crate::source::ca::client_config(p)?,
        )),
        None => None,
    };
    let fut = tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, connector);
    match tokio::time::timeout(settings.connect_timeout, fut).await {
        Err(_) => Err(format!(
            "timed out connecting to {target} after {}",
            crate::duration::format_duration(settings.connect_timeout)
        )),
        Ok(Err(e)) => Err(describe(&e, target)),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

/// One line for a WebSocket failure (never the token: it is only in a header).
pub(super) fn describe(e: &tungstenite::Error, target: &str) -> String {
    use tungstenite::Error as E;
    match e {
        E::Http(resp) => {
            let code = resp.status();
            match code.as_u16() {
                401 | 403 => format!(
                    "{target} refused the token (HTTP {code}) — check --ws-token / JFMON_WS_TOKEN"
                ),
                404 => format!("{target} has no stream at this path (HTTP 404)"),
                _ => format!("{target} answered HTTP {code} instead of a WebSocket"),
            }
        }
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("cannot reach {target}: connection refused — is the hub running?")
            }
            _ => format!("connection to {target} failed: {io}"),
        },
        E::Tls(t) => format!("TLS with {target} failed: {t}"),
        E::Url(u) => format!("invalid stream URL: {u}"),
        E::ConnectionClosed | E::AlreadyClosed => "the connection was closed".into(),
        E::Protocol(p) => format!("{target} broke the WebSocket protocol: {p}"),
        other => format!("stream error: {other}"),
    }
}
