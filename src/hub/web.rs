//! The web page at `/monitoring/dashboard` and its access model: the embedded
//! assets (no build step, served with a strict Content-Security-Policy), the
//! token-to-cookie login, the same-origin check for WebSocket upgrades and
//! writes, and acknowledging an alert from the page.
//!
//! Browsers cannot put an `Authorization` header on a WebSocket upgrade, so
//! with `--token-file` the page asks for the token once and the hub answers
//! with an `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS) holding
//! HMAC-SHA256(token, "jfmon web session v1"). A cookie rather than the
//! subprotocol idiom: the token never sits in the page's JavaScript or
//! storage (a script injected into the page could not read it), it covers
//! the JSON API as well as the stream, and it survives a hub restart without
//! asking again (changing the token revokes every cookie).

use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Hub;
use super::http::{constant_time_eq, json_error, json_response};

const HTML: &str = include_str!("../../assets/web/dashboard.html");
const JS: &str = include_str!("../../assets/web/dashboard.js");
const CSS: &str = include_str!("../../assets/web/dashboard.css");

/// Name of the session cookie.
pub const COOKIE: &str = "jfmon_session";

/// Everything the page loads comes from the hub itself; no inline script or
/// style, no framing, no form posts elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Total size of the page's assets (for the page-weight test).
pub fn asset_bytes() -> usize {
    HTML.len() + JS.len() + CSS.len()
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

pub async fn page() -> Response {
    asset("text/html; charset=utf-8", HTML)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// The cookie value a token grants.
pub fn session_value(token: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    let tag = ring::hmac::sign(&key, b"jfmon web session v1");
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The session cookie's value in a request, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// Whether the request carries a valid session cookie for `token`.
pub fn has_session(headers: &HeaderMap, token: &str) -> bool {
    cookie(headers).is_some_and(|v| constant_time_eq(v.as_bytes(), session_value(token).as_bytes()))
}

/// A browser request from another site: it carries an `Origin` that is not
/// the hub's own address (the `Host` it was sent to, with the hub's scheme).
/// Requests without `Origin` (curl, `jfmon --ws`) are not cross-site.
pub fn foreign_origin(headers: &HeaderMap, tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let scheme = if tls { "https://" } else { "http://" };
    let Some(o) = origin.to_str().ok().and_then(|o| o.strip_prefix(scheme)) else {
        return true;
    };
    !o.eq_ignore_ascii_case(host)
}

pub fn refuse_foreign() -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "cross-origin request refused: open the dashboard from the hub's own address",
    )
}

/// `GET /monitoring/api/session`: what the page must do before connecting.
pub async fn session(AxState(hub): AxState<Hub>, headers: HeaderMap) -> Response {
    let s = hub.settings();
    let required = s.token.is_some();
    let ok = s
        .token
        .as_deref()
        .is_none_or(|t| has_session(&headers, t) || super::http::bearer_ok(&headers, t));
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "token_required": required,
            "authenticated": ok,
            "read_only": s.read_only,
        })
        .to_string(),
    )
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /monitoring/api/login` with `{"token": "..."}`: sets the cookie.
pub async fn login(
    AxState(hub): AxState<Hub>,
    headers: HeaderMap,
    body: Option<Json<Login>>,
) -> Response {
    if foreign_origin(&headers, hub.settings().tls) {
        return refuse_foreign();
    }
    let Some(token) = hub.settings().token.as_deref() else {
        return json_response(StatusCode::OK, "{\"ok\":true}".into());
    };
    let given = body.map(|Json(l)| l.token).unwrap_or_default();
    if !constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
        tracing::warn!("web login with a wrong token");
        return json_error(StatusCode::UNAUTHORIZED, "wrong token");
    }
    let secure = if hub.settings().tls { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000{secure}",
        session_value(token)
    );
    let mut r = json_response(StatusCode::OK, "{\"ok\":true}".into());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /monitoring/api/alerts/{id}/acknowledge`.
pub async fn acknowledge(
    AxState(hub): AxState<Hub>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if foreign_origin(&headers, hub.settings().tls) {
        return refuse_foreign();
    }
    match hub.acknowledge(id).await {
        Ok(()) => json_response(StatusCode::OK, "{\"ok\":true}".into()),
        Err(e) if hub.settings().read_only => json_error(StatusCode::FORBIDDEN, &e),
        Err(e) => json_error(StatusCode::BAD_GATEWAY, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn origins() {
        let host = (header::HOST, "hub:10000");
        assert!(!foreign_origin(&h(std::slice::from_ref(&host)), false));
        assert!(!foreign_origin(
            &h(&[host.clone(), (header::ORIGIN, "http://hub:10000")]),
            false
        ));
        assert!(foreign_origin(
            &h(&[host.clone(), (header::ORIGIN, "http://hub:10000")]),
            true
        ));
        assert!(foreign_origin(
            &h(&[host.clone(), (header::ORIGIN, "http://evil.example")]),
            false
        ));
        assert!(foreign_origin(&h(&[host, (header::ORIGIN, "null")]), false));
    }

    #[test]
    fn cookies() {
        let v = session_value("tok");
        assert_eq!(v.len(), 64);
        assert_ne!(v, session_value("tok2"));
        let hs = h(&[(header::COOKIE, &format!("a=b; {COOKIE}={v}"))]);
        assert!(has_session(&hs, "tok"));
        assert!(!has_session(&hs, "other"));
        assert!(asset_bytes() < 150 * 1024, "the page stays small");
    }
}
