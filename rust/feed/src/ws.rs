//! HTTP routes: `/ws` (the feed) and `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::Notify;

use crate::hub::{Client, Encoding, Frame, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED};
use crate::{Shared, MAX_CLIENT_MESSAGE};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new()
        .route("/ws", get(upgrade))
        .route("/metrics", get(metrics))
        .merge(crate::dashboard::routes());
    if shared.token.is_some() {
        r = r.merge(crate::control::routes());
    }
    r.with_state(shared)
}

/// `/metrics`: OpenMetrics when the scraper asks for it (Prometheus does), else the
/// Prometheus text format 0.0.4.
async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    use crate::metrics as m;
    let body = m::render(&shared);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if m::wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, m::OPENMETRICS)], body).into_response()
    } else {
        let text = m::to_prometheus_text(&body);
        ([(header::CONTENT_TYPE, m::PROMETHEUS_TEXT)], text).into_response()
    }
}

/// The encoding asked for in the query (`encoding=json|binary`; JSON without one).
fn encoding(uri: &Uri) -> Result<Encoding, String> {
    let mut enc = Encoding::Json;
    for pair in uri.query().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "encoding" {
            enc = match v {
                "json" => Encoding::Json,
                "binary" => Encoding::Binary,
                other => {
                    let mut v = other.to_string();
                    truncate(&mut v, 64);
                    return Err(format!("unknown encoding {v:?}: use json or binary"));
                }
            };
        }
    }
    Ok(enc)
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if !crate::control::origin_allowed(&headers, &shared.allowed_origins) {
        // A page of another site must not read the feed through the user's browser.
        return (
            StatusCode::FORBIDDEN,
            "origin not allowed: the feed accepts its own pages and the allowed origins",
        )
            .into_response();
    }
    let enc = match encoding(&uri) {
        Ok(e) => e,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    // Frames above the protocol's limit are refused by us with a 1009 close; the
    // transport's own cap only guards memory against absurd sizes.
    ws.max_message_size(16 * MAX_CLIENT_MESSAGE)
        .max_frame_size(16 * MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| connection(socket, shared, enc))
}

/// A client request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    op: String,
    channels: Vec<String>,
}

/// A queued frame as a WebSocket message, with this client's `cseq` put in.
fn message(f: Frame) -> Message {
    match f {
        Frame::Json(body, cseq) => Message::Text(crate::hub::with_cseq(&body, cseq).into()),
        Frame::Bin(body, cseq) => Message::Binary(crate::wire::stamp(&body, cseq).into()),
        Frame::Raw(body) => Message::Binary(body.to_vec().into()),
    }
}

async fn connection(socket: WebSocket, shared: Arc<Shared>, encoding: Encoding) {
    let client = Arc::new(Client {
        encoding,
        st: Default::default(),
        notify: Notify::new(),
        conflations: AtomicU64::new(0),
    });
    shared.hub().add_client(client.clone());
    shared.counters.clients.fetch_add(1, Ordering::Relaxed);
    let (mut tx, mut rx) = socket.split();
    let mut shutdown = shared.shutdown.subscribe();

    // Writer: the client's queue to the socket; a requested close goes out last.
    let writer = async {
        loop {
            let (msgs, close) = {
                let mut st = client.lock();
                (std::mem::take(&mut st.queue), st.close.clone())
            };
            let n = msgs.len() as u64;
            for m in msgs {
                if tx.feed(message(m)).await.is_err() {
                    return "io_error";
                }
            }
            if n > 0 && tx.flush().await.is_err() {
                return "io_error";
            }
            shared
                .counters
                .messages_sent
                .fetch_add(n, Ordering::Relaxed);
            if let Some((code, reason)) = close {
                let _ = tx
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                return "closed_by_server";
            }
            if n == 0 {
                tokio::select! {
                    () = client.notify.notified() => {}
                    _ = shutdown.wait_for(|s| *s) => {
                        client.close(crate::hub::CLOSE_GOING_AWAY, "server shutting down");
                    }
                }
            }
        }
    };

    // Reader: requests from the client.
    let reader = async {
        while let Some(msg) = rx.next().await {
            let Ok(msg) = msg else {
                // Transport error (oversized beyond the transport's cap, bad framing).
                client.close(CLOSE_TOO_BIG, "bad or oversized frame");
                return "protocol_error";
            };
            match msg {
                Message::Text(t) => {
                    if let Err((code, why)) = request(&shared, &client, t.as_str()) {
                        client.close(code, why);
                        return "protocol_error";
                    }
                }
                Message::Binary(_) => {
                    client.close(CLOSE_UNSUPPORTED, "binary frames are not supported");
                    return "protocol_error";
                }
                Message::Close(_) => return "client_closed",
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        "client_closed"
    };

    tokio::pin!(writer);
    tokio::pin!(reader);
    let why = tokio::select! {
        w = &mut writer => {
            // Our close frame is out: let the peer answer it, briefly.
            let r = tokio::time::timeout(Duration::from_secs(1), &mut reader).await;
            match (w, r) {
                ("closed_by_server", Ok(r)) if r == "protocol_error" => r,
                _ => w,
            }
        }
        r = &mut reader => {
            if r == "protocol_error" {
                // The writer sends the close frame, then ends.
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut writer).await;
            }
            r
        }
    };
    let why = {
        let st = client.lock();
        match &st.close {
            Some((_, r)) if r == crate::SLOW_TRADES => "slow_consumer",
            Some((_, r)) if r == "server shutting down" => "server_shutdown",
            _ => why,
        }
    };
    if why != "slow_consumer" {
        // Slow consumers are counted when their queue overflows.
        shared.counters.disconnect(why);
    }
    shared.hub().remove_client(&client);
    shared.counters.clients.fetch_sub(1, Ordering::Relaxed);
}

/// Handle one request; `Err((code, reason))` closes the connection.
fn request(shared: &Shared, client: &Client, text: &str) -> Result<(), (u16, String)> {
    if text.len() > crate::MAX_CLIENT_MESSAGE {
        return Err((
            CLOSE_TOO_BIG,
            format!(
                "message too big: {} bytes (limit {})",
                text.len(),
                crate::MAX_CLIENT_MESSAGE
            ),
        ));
    }
    let req: Request = serde_json::from_str(text).map_err(|e| {
        let mut why = format!("bad request: {e}");
        // A close reason is at most 123 bytes.
        truncate(&mut why, 120);
        (CLOSE_POLICY, why)
    })?;
    let subscribe = match req.op.as_str() {
        "subscribe" => true,
        "unsubscribe" => false,
        other => {
            let mut why = format!("unknown op: {other}");
            truncate(&mut why, 120);
            return Err((CLOSE_POLICY, why));
        }
    };
    let mut hub = shared.hub();
    let mut keys = Vec::with_capacity(req.channels.len());
    for ch in &req.channels {
        match hub.channel(ch) {
            Some(k) => keys.push(k),
            None => {
                let mut why = format!("unknown channel: {ch}");
                truncate(&mut why, 120);
                return Err((CLOSE_POLICY, why));
            }
        }
    }
    for k in keys {
        if subscribe {
            hub.subscribe(client, k);
        } else {
            hub.unsubscribe(client, k);
        }
    }
    Ok(())
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut i = max;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
}
