//! Operator routes (`/control/...`) and the WebSocket's `Origin` check.
//!
//! The routes exist only when the server was started with a token
//! ([`crate::FeedOptions::token`]); without one they are 404 like any unknown path. Each
//! needs `Authorization: Bearer <token>`, compared in constant time (`subtle`); a missing or
//! wrong token is 401. They change the engine's state, so they are `POST` only:
//!
//! | route | effect |
//! |---|---|
//! | `POST /control/halt/{symbol}` | halt the symbol (`Engine::halt`) |
//! | `POST /control/resume/{symbol}` | resume it |
//! | `POST /control/kill/{account}` | the account's kill switch: its orders cancelled, new ones refused |
//! | `POST /control/reset_kill/{account}` | lift it |
//! | `POST /control/reload` | reload the engine's configuration from the TOML body |
//!
//! Answers are JSON: `{"ok": true, ...}` (200), or `{"ok": false, "error": "..."}` with 400
//! (bad symbol, account or config) or 409 (the engine refuses in its state).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hftbook_engine::config::EngineConfig;
use hftbook_engine::EngineError;
use subtle::ConstantTimeEq;

use crate::Shared;

/// Largest config body `/control/reload` takes (bytes).
pub const MAX_RELOAD_BODY: usize = 1 << 20;

/// The control routes, for a server started with a token.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/control/halt/{symbol}", post(halt))
        .route("/control/resume/{symbol}", post(resume))
        .route("/control/kill/{account}", post(kill))
        .route("/control/reset_kill/{account}", post(reset_kill))
        .route("/control/reload", post(reload))
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refused(status: StatusCode, error: impl std::fmt::Display) -> Response {
    json(
        status,
        serde_json::json!({"ok": false, "error": error.to_string()}),
    )
}

/// `Err(response)` unless the request carries the server's token.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = shared.token.as_deref() else {
        // Not reachable: the routes are only mounted with a token.
        return Err(refused(StatusCode::NOT_FOUND, "no control routes"));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time in the token's content (the lengths are not secret).
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        let mut r = refused(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        Err(r)
    }
}

fn engine_refused(e: &EngineError) -> Response {
    let status = match e {
        EngineError::Lifecycle { .. } => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    refused(status, e)
}

fn symbol_index(shared: &Shared, name: &str) -> Result<u32, Response> {
    shared
        .engine
        .symbol_index(name)
        .ok_or_else(|| refused(StatusCode::BAD_REQUEST, format!("unknown symbol: {name}")))
}

fn account_number(text: &str) -> Result<u32, Response> {
    text.parse::<u32>().map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            format!("account {text:?} is not a number"),
        )
    })
}

async fn halt(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    let idx = match symbol_index(&shared, &symbol) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match shared.engine.halt(idx) {
        Ok(()) => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "halted": symbol}),
        ),
        Err(e) => engine_refused(&e),
    }
}

async fn resume(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    let idx = match symbol_index(&shared, &symbol) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match shared.engine.resume_symbol(idx) {
        Ok(()) => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "resumed": symbol}),
        ),
        Err(e) => engine_refused(&e),
    }
}

async fn set_kill(shared: &Shared, headers: &HeaderMap, account: &str, on: bool) -> Response {
    if let Err(r) = authorize(shared, headers) {
        return r;
    }
    let account = match account_number(account) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match shared.engine.kill(account, on) {
        Ok(()) => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "account": account, "killed": on}),
        ),
        Err(e) => engine_refused(&e),
    }
}

async fn kill(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(account): Path<String>,
) -> Response {
    set_kill(&shared, &headers, &account, true).await
}

async fn reset_kill(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(account): Path<String>,
) -> Response {
    set_kill(&shared, &headers, &account, false).await
}

async fn reload(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    if body.len() > MAX_RELOAD_BODY {
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("config of {} bytes (limit {MAX_RELOAD_BODY})", body.len()),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return refused(StatusCode::BAD_REQUEST, "the config is not UTF-8 text");
    };
    let config = match EngineConfig::from_toml(text, Some("(POST /control/reload)")) {
        Ok(c) => c,
        Err(e) => {
            // Like a bad file on a reload: an engine event, the running config kept.
            shared.engine.config_rejected(&e);
            return refused(StatusCode::BAD_REQUEST, e);
        }
    };
    match shared.engine.reload(config) {
        Ok(r) => json(
            StatusCode::OK,
            serde_json::json!({
                "ok": true,
                "applied": r.applied,
                "restart_only": r.restart_only,
                "added_symbols": r.added_symbols,
            }),
        ),
        Err(e) => engine_refused(&e),
    }
}

/// Whether a WebSocket upgrade with this `Origin` may go on: none (not a browser), one of
/// `allowed` (`"*"`: any), or the server's own origin (`http(s)://` + the request's `Host`)
/// when that host is a loopback address or `localhost`. A page served under a DNS name is
/// never trusted by itself: with DNS rebinding, `evil.example` can resolve to 127.0.0.1 and
/// its page would be "same host"; such origins must be listed in `allowed`.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a == origin || a == "*") {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let same = !host.is_empty()
        && (origin.strip_prefix("http://") == Some(host)
            || origin.strip_prefix("https://") == Some(host));
    same && loopback_host(host)
}

/// Whether `host` (`Host` header: name or address, optional port) is `localhost` or a
/// loopback address literal (`127.0.0.0/8`, `[::1]`).
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port or [v6]
        match rest.split_once(']') {
            Some((addr, tail)) if tail.is_empty() || valid_port(tail) => {
                return addr
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|a| a.is_loopback());
            }
            _ => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// `:PORT` after a host: digits that make a u16.
fn valid_port(tail: &str) -> bool {
    let p = tail.strip_prefix(':').unwrap_or(tail);
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let host = (header::HOST, "127.0.0.1:8765");
        assert!(origin_allowed(&headers(std::slice::from_ref(&host)), &[]));
        assert!(origin_allowed(
            &headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:8765")]),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(&[host.clone(), (header::ORIGIN, "http://evil.example")]),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:9999")]),
            &[]
        ));
        assert!(origin_allowed(
            &headers(&[host, (header::ORIGIN, "http://grafana.local")]),
            &["http://grafana.local".to_string()]
        ));
        assert!(!origin_allowed(
            &headers(&[(header::ORIGIN, "http://127.0.0.1:8765")]),
            &[]
        ));
    }

    #[test]
    fn same_host_origins_only_for_loopback_hosts() {
        let ok = |host: &str, origin: &str| {
            origin_allowed(
                &headers(&[(header::HOST, host), (header::ORIGIN, origin)]),
                &[],
            )
        };
        assert!(ok("localhost:8765", "http://localhost:8765"));
        assert!(ok("LOCALHOST:8765", "http://LOCALHOST:8765"));
        assert!(ok("127.0.0.1:1", "https://127.0.0.1:1"));
        assert!(ok("127.1.2.3:8765", "http://127.1.2.3:8765"));
        assert!(ok("[::1]:8765", "http://[::1]:8765"));
        assert!(ok("localhost", "http://localhost"));
        // DNS rebinding: the attacker's name resolves to 127.0.0.1, its page is "same host".
        assert!(!ok("evil.example:8765", "http://evil.example:8765"));
        assert!(!ok(
            "localhost.evil.example:8765",
            "http://localhost.evil.example:8765"
        ));
        assert!(!ok("127.0.0.1.nip.io:8765", "http://127.0.0.1.nip.io:8765"));
        // Not loopback: a LAN address must be listed.
        assert!(!ok("192.168.1.5:8765", "http://192.168.1.5:8765"));
        assert!(!ok("[::2]:8765", "http://[::2]:8765"));
        // Malformed hosts.
        assert!(!ok("localhost:", "http://localhost:"));
        assert!(!ok("localhost:99999", "http://localhost:99999"));
        assert!(!ok("[::1", "http://[::1"));
        assert!(!ok("localhost:80x", "http://localhost:80x"));
        // Listed names are allowed.
        assert!(origin_allowed(
            &headers(&[
                (header::HOST, "feed.example:8765"),
                (header::ORIGIN, "http://feed.example:8765")
            ]),
            &["http://feed.example:8765".to_string()]
        ));
    }
}
