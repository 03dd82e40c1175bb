//! `n` WebSocket clients of the feed in one process and one thread: the load generator of
//! `benches/feed_fanout.py --client-impl rust` (a subscriber that is not Python, so that the
//! clients' own CPU does not swamp what the server costs the engine).
//!
//! ```text
//! ws_clients URL N [SUBSCRIBE_JSON|-] [NICE|idle]
//! ```
//!
//! Every client connects to `URL`, sends `SUBSCRIBE_JSON` (unless `-`), and counts the
//! messages it receives (`idle`: nice 19 and Linux's `SCHED_IDLE`). Every 20 ms the process prints `connected C received R` on stdout;
//! a line `stop` on stdin (or its end) makes it print `done R` and exit.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Counts {
    connected: AtomicU64,
    received: AtomicU64,
}

async fn client(url: String, sub: Option<String>, counts: Arc<Counts>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
        eprintln!("ws_clients: cannot connect to {url}");
        return;
    };
    if let Some(s) = sub {
        if ws.send(Message::text(s)).await.is_err() {
            return;
        }
    }
    counts.connected.fetch_add(1, Ordering::Relaxed);
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Text(_) | Message::Binary(_)) => {
                counts.received.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: ws_clients URL N [SUBSCRIBE_JSON|-] [NICE|idle]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let n: usize = args[2].parse().expect("N: a number of clients");
    let sub = args.get(3).filter(|s| s.as_str() != "-").cloned();
    let idle = args.get(4).is_some_and(|s| s == "idle");
    let nice: i32 = match args.get(4) {
        Some(s) if s == "idle" => 19,
        Some(s) => s.parse().expect("NICE: an integer or idle"),
        None => 0,
    };
    if nice != 0 {
        // SAFETY: `nice` changes this process's own priority; no memory is involved.
        unsafe {
            libc::nice(nice);
        }
    }
    if idle {
        let p = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is this thread (the runtime's, spawned tasks included: the runtime
        // is current-thread); `p` outlives the call, which only reads it.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &p);
        }
    }
    let counts = Arc::new(Counts::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let c = counts.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) if l.trim() == "stop" => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "done {}", c.received.load(Ordering::Relaxed));
        let _ = out.flush();
        std::process::exit(0);
    });
    rt.block_on(async move {
        for _ in 0..n {
            tokio::spawn(client(url.clone(), sub.clone(), counts.clone()));
        }
        loop {
            {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "connected {} received {}",
                    counts.connected.load(Ordering::Relaxed),
                    counts.received.load(Ordering::Relaxed)
                );
                let _ = out.flush();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
