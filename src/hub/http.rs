//! The hub's HTTP side (axum): the WebSocket stream at `/monitoring/ws`, the
//! monitoring API as JSON, Prometheus text at `/metrics`, and a plain
//! `/healthz`, plus the web page (see [`web`]). With a token configured
//! everything but `/healthz`, the page's assets and its login needs
//! `Authorization: Bearer <token>` or the page's session cookie.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;

use super::{Hub, Subscription, metrics, web};
use crate::model::{
    AlertView, BusinessStats, EndpointStats, IntegrationStats, SessionsSnapshot, SourceStatus,
};
use crate::store::State;

/// Close codes sent to clients.
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
/// How long the hub keeps a socket after closing it on an oversized message,
/// so the client reads the close frame before a reset.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The hub's routes.
pub fn router(hub: Hub) -> Router {
    let protected = Router::new()
        .route("/monitoring/ws", get(ws))
        .route("/monitoring/api/metrics", get(api_metrics))
        .route("/monitoring/api/health", get(api_health))
        .route("/monitoring/api/sessions", get(api_sessions))
        .route("/monitoring/api/usage", get(api_usage))
        .route("/monitoring/api/alerts", get(api_alerts))
        .route("/monitoring/api/integration/{name}", get(api_integration))
        .route("/metrics", get(prometheus))
        .route(
            "/monitoring/api/alerts/{id}/acknowledge",
            post(web::acknowledge),
        )
        .route_layer(middleware::from_fn_with_state(hub.clone(), auth));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/monitoring/dashboard", get(web::page))
        .route("/monitoring/dashboard/app.js", get(web::script))
        .route("/monitoring/dashboard/app.css", get(web::style))
        .route("/monitoring/api/session", get(web::session))
        .route("/monitoring/api/login", post(web::login))
        .merge(protected)
        .fallback(not_found)
        .with_state(hub)
}

/// Serve until `shutdown` resolves, then send every client a close frame and
/// wait (briefly) for them to go.
pub async fn serve<L>(
    hub: Hub,
    listener: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    let h = hub.clone();
    super::conn::serve(&hub, listener, router(hub.clone()), async move {
        shutdown.await;
        h.shutdown();
    })
    .await?;
    hub.shutdown();
    hub.drained(Duration::from_secs(3)).await;
    Ok(())
}

/// Compare without an early exit, so the time taken does not tell how much
/// of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

/// Whether the request carries `Authorization: Bearer <token>`.
pub fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|t| constant_time_eq(t, token.as_bytes()))
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let v = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = v.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| v[7..].trim_ascii())
}

async fn auth(AxState(hub): AxState<Hub>, req: Request, next: Next) -> Response {
    if let Some(token) = &hub.settings().token {
        let h = req.headers();
        let ok = bearer_ok(h, token) || web::has_session(h, token);
        if !ok {
            let mut r = json_error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: send Authorization: Bearer <token>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        serde_json::to_string(&serde_json::json!({ "error": message })).unwrap_or_default(),
    )
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found")
}

/// Common fields of the API answers.
#[derive(Serialize)]
struct Meta {
    taken_at: DateTime<Utc>,
    window_secs: u64,
    /// The hub's source is down (or has not delivered yet): this is the last data known.
    stale: bool,
}

fn meta(s: &State) -> Meta {
    Meta {
        taken_at: s.now(),
        window_secs: s.window_secs(),
        stale: Hub::stale(s),
    }
}

fn answer(hub: &Hub, f: impl FnOnce(&State) -> serde_json::Result<String>) -> Response {
    match hub.with_state(f) {
        Ok(b) => json_response(StatusCode::OK, b),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Serialize)]
struct MetricsBody<'a> {
    #[serde(flatten)]
    meta: Meta,
    endpoints: &'a [EndpointStats],
    business: &'a BusinessStats,
}

async fn api_metrics(AxState(hub): AxState<Hub>) -> Response {
    answer(&hub, |s| {
        serde_json::to_string(&MetricsBody {
            meta: meta(s),
            endpoints: s.endpoints(),
            business: s.business(),
        })
    })
}

#[derive(Serialize)]
struct HealthBody<'a> {
    #[serde(flatten)]
    meta: Meta,
    integrations: &'a [IntegrationStats],
    sources: Vec<&'a SourceStatus>,
    tables_missing: &'a [String],
}

async fn api_health(AxState(hub): AxState<Hub>) -> Response {
    answer(&hub, |s| {
        serde_json::to_string(&HealthBody {
            meta: meta(s),
            integrations: s.integrations(),
            sources: s.sources().collect(),
            tables_missing: s.tables_missing(),
        })
    })
}

#[derive(Serialize)]
struct SessionsBody {
    #[serde(flatten)]
    meta: Meta,
    sessions: SessionsSnapshot,
}

async fn api_sessions(AxState(hub): AxState<Hub>) -> Response {
    answer(&hub, |s| {
        let v = s.sessions();
        serde_json::to_string(&SessionsBody {
            meta: meta(s),
            sessions: SessionsSnapshot {
                active: v.active,
                items: v.items.clone(),
                started_per_minute: v.started_per_minute.clone(),
            },
        })
    })
}

#[derive(Serialize)]
struct UsageBody<'a> {
    #[serde(flatten)]
    meta: Meta,
    usage: &'a crate::model::UsageStats,
}

/// Feature usage per service, findings and funnel (the Usage view's figures).
async fn api_usage(AxState(hub): AxState<Hub>) -> Response {
    answer(&hub, |s| {
        serde_json::to_string(&UsageBody {
            meta: meta(s),
            usage: s.usage(),
        })
    })
}

#[derive(Serialize)]
struct AlertsBody<'a> {
    #[serde(flatten)]
    meta: Meta,
    alerts: &'a [AlertView],
    open_alerts_by_severity: &'a std::collections::BTreeMap<String, u64>,
    /// The hub's own rule alerts, role and receivers (absent without alerting).
    #[serde(skip_serializing_if = "Option::is_none")]
    alerting: Option<crate::alerting::status::Report>,
}

async fn api_alerts(AxState(hub): AxState<Hub>) -> Response {
    let alerting = hub.alerting().map(|a| a.report());
    answer(&hub, |s| {
        serde_json::to_string(&AlertsBody {
            meta: meta(s),
            alerts: s.alerts(),
            open_alerts_by_severity: s.open_alerts_by_severity(),
            alerting,
        })
    })
}

async fn api_integration(AxState(hub): AxState<Hub>, Path(name): Path<String>) -> Response {
    let found = hub.with_state(|s| s.integration(&name).map(serde_json::to_string));
    match found {
        Some(Ok(body)) => json_response(StatusCode::OK, body),
        Some(Err(e)) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        None => {
            let known: Vec<String> =
                hub.with_state(|s| s.integrations().iter().map(|i| i.name.clone()).collect());
            let shown: String = name.chars().take(100).collect();
            json_response(
                StatusCode::NOT_FOUND,
                serde_json::to_string(&serde_json::json!({
                    "error": format!("unknown integration \"{shown}\""),
                    "known": known,
                }))
                .unwrap_or_default(),
            )
        }
    }
}

async fn prometheus(AxState(hub): AxState<Hub>) -> Response {
    let clients = hub.clients();
    let notify = hub.alerting().map(|a| a.notify()).unwrap_or_default();
    let body = hub.with_state(|s| {
        let mut o = metrics::render(s, hub.counters(), clients, Utc::now());
        metrics::render_notify(&mut o, &notify);
        if let Some(a) = hub.alerting() {
            metrics::render_alerting(&mut o, a);
        }
        o
    });
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The stream. A browser upgrade from another origin is refused (no
/// cross-site WebSocket hijacking); `?view=1` asks for the page's view model.
async fn ws(
    AxState(hub): AxState<Hub>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    if web::foreign_origin(&headers, hub.settings().tls) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "refused a cross-origin WebSocket");
        return web::refuse_foreign();
    }
    let view = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == "view=1"));
    let max = hub.settings().max_incoming;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let sub = hub.subscribe(view);
            let id = sub.id;
            tracing::info!(client = id, "stream client connected");
            let why = run_client(&hub, socket, sub).await;
            hub.unsubscribe(id);
            tracing::info!(client = id, reason = %why, "stream client gone");
        })
}

/// Resolves once the hub is shutting down.
async fn until_closing(rx: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Send a close frame, giving up after a second (a stuck peer cannot take it).
async fn close<S>(tx: &mut S, code: u16, reason: &str)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tx.send(frame).await;
        let _ = tx.close().await;
    })
    .await;
}

/// One client: the greeting and the full state, then queued updates, pings,
/// and whatever the client sends (ignored) until either side ends it.
async fn run_client(hub: &Hub, socket: WebSocket, sub: Subscription) -> String {
    let Subscription {
        hello,
        reset,
        statuses,
        mut queue,
        mut kicked,
        ..
    } = sub;
    let settings = hub.settings();
    let limit = settings.send_timeout;
    let (mut tx, mut rx) = socket.split();
    let mut closing = hub.closing();

    let first = std::iter::once(hello)
        .chain(reset.iter().cloned())
        .chain(statuses);
    for frame in first {
        match tokio::time::timeout(limit, tx.send(Message::Text(frame))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return format!("write failed: {e}"),
            Err(_) => {
                close(
                    &mut tx,
                    POLICY,
                    "too slow: the initial state was not read in time",
                )
                .await;
                return "stuck during the initial state".into();
            }
        }
    }

    let mut ping = tokio::time::interval(settings.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            biased;
            _ = until_closing(&mut closing) => {
                close(&mut tx, GOING_AWAY, "hub shutting down").await;
                return "hub shutting down".into();
            }
            k = &mut kicked => {
                let reason = k.unwrap_or_else(|_| "removed".into());
                close(&mut tx, POLICY, &reason).await;
                return reason;
            }
            m = queue.recv() => {
                let Some(frame) = m else { return "removed".into() };
                match tokio::time::timeout(limit, tx.send(Message::Text(frame))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return format!("write failed: {e}"),
                    Err(_) => {
                        hub.counters()
                            .clients_dropped_slow
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        close(&mut tx, POLICY, "too slow: a write stalled").await;
                        return "stuck writing".into();
                    }
                }
            }
            _ = ping.tick() => {
                if tokio::time::timeout(limit, tx.send(Message::Ping(Default::default())))
                    .await
                    .map_or(true, |r| r.is_err())
                {
                    return "ping failed".into();
                }
            }
            m = rx.next() => match m {
                None => return "client went away".into(),
                Some(Err(e)) if is_too_big(&e) => {
                    let reason = format!("message too big (limit {} bytes)", settings.max_incoming);
                    close(&mut tx, TOO_BIG, &reason).await;
                    // Keep the socket a moment so the client reads the close
                    // before the reset that the unread rest of its frame causes
                    // (reading that rest would buffer as much as the frame claims).
                    tokio::time::sleep(CLOSE_LINGER).await;
                    return reason;
                }
                Some(Err(e)) => return format!("read failed: {e}"),
                Some(Ok(Message::Close(_))) => return "client closed".into(),
                // Clients have nothing to say; anything they send is ignored.
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Whether a read failed on a message or frame over the size limit
/// (tungstenite's `Capacity` error, which axum passes on only as text).
fn is_too_big(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("Message too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  tok "),
        );
        assert_eq!(bearer(&h), Some(&b"tok"[..]));
    }
}
