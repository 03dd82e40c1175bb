//! Market-data feed server of hftbook: a WebSocket feed of L1, L2 (snapshot then deltas),
//! trades and status per symbol, and Prometheus metrics, served by a tokio runtime of its own
//! (never a shard thread). Protocol: `docs/feed.md`.
//!
//! A pump thread owns one conflating engine subscription (trade, book and status events of
//! every symbol), keeps each symbol's L2 book from it (reset by the engine's snapshot after a
//! gap) and fans messages out to the clients' bounded queues. A slow client never slows the
//! pump: when its queue overflows it is conflated to fresh snapshots (L1/L2/status) or, when
//! it follows trades, closed with the reason [`hub::SLOW_TRADES`].

pub mod control;
mod dashboard;
mod hub;
mod metrics;
mod stats;
pub mod wire;
mod ws;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hftbook_engine::engine::Filter;
use hftbook_engine::record::kind;
use hftbook_engine::Engine;
use tokio::sync::watch;

pub use hub::{Counters, Encoding, SLOW_TRADES};
pub use stats::{StatsError, MAX_LABEL};

/// Largest text message a client may send (bytes); larger ones close with 1009.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Options of [`FeedServer::start`].
#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// Interface to bind: `127.0.0.1` unless set explicitly (another one logs a warning).
    pub host: String,
    /// Port; 0 picks a free one (see [`FeedServer::addr`]).
    pub port: u16,
    /// Messages a client's queue holds before it is conflated (or closed, with trades).
    pub queue_capacity: usize,
    /// Events the pump's engine subscription holds before the engine conflates it.
    pub pump_capacity: usize,
    /// Worker threads of the server's tokio runtime.
    pub worker_threads: usize,
    /// Bearer token of the `/control/...` routes (halt, resume, kill switch, reload); they
    /// do not exist without one. At least 16 characters.
    pub token: Option<String>,
    /// Browser origins (`http://host:port`) allowed on the WebSocket besides the server's
    /// own; `"*"` allows any. Clients that send no `Origin` (not browsers) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Period of the `stats` channel's messages.
    pub stats_interval: Duration,
    /// How long the pump sleeps when it found less than a full batch of engine events: the
    /// latency it adds at most, against its CPU use and wakeups (250 µs by default).
    pub pump_interval: Duration,
    /// Nice value of the server's threads (pump and tokio workers), 0 to 19: above 0 the
    /// kernel prefers the engine's threads when the cores are busy, and the feed falls
    /// behind (conflation, slow-consumer rules) instead of slowing the engine. 19 by default
    /// (the lowest: the engine first; an engine with the feed at 10 kept 87–91 % of its own
    /// throughput with 100 clients, at 19 92–94 %, `docs/performance.md`).
    pub nice: i32,
    /// Run the server's threads under `SCHED_IDLE` (Linux) as well: the lowest weight the
    /// scheduler has, below nice 19, and a busy engine thread preempts them at once. For a
    /// machine whose cores the engine keeps busy; the feed then runs on what the engine
    /// leaves (its clients conflated meanwhile). Off by default.
    pub idle: bool,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            host: "127.0.0.1".into(),
            port: 0,
            queue_capacity: 4096,
            pump_capacity: 1 << 16,
            worker_threads: 2,
            token: None,
            allowed_origins: Vec::new(),
            stats_interval: Duration::from_millis(250),
            pump_interval: Duration::from_micros(250),
            nice: 19,
            idle: false,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime or a thread could not be started.
    #[error("cannot start the feed server: {0}")]
    Start(std::io::Error),
    /// The control token is too short or not printable.
    #[error("token: {0}")]
    Token(String),
    /// An option out of its range.
    #[error("{field} = {value}: {rule}")]
    Option {
        /// The option.
        field: &'static str,
        /// Its value.
        value: String,
        /// The range it must be in.
        rule: &'static str,
    },
}

/// State shared by the HTTP handlers, the pump and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub hub: Mutex<hub::Hub>,
    pub counters: Arc<Counters>,
    pub sub: Arc<hftbook_engine::engine::Subscription>,
    /// Becomes true when the server stops.
    pub shutdown: watch::Sender<bool>,
    /// The control routes' token (none: no control routes).
    pub token: Option<String>,
    /// Browser origins allowed on the WebSocket besides the server's own.
    pub allowed_origins: Vec<String>,
    /// Account labels and strategy reaction times (`stats` channel, `/metrics`).
    pub stats: stats::StatsState,
}

impl Shared {
    pub(crate) fn hub(&self) -> std::sync::MutexGuard<'_, hub::Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running feed server. Dropping it stops it.
#[derive(Debug)]
pub struct FeedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    pump: Option<JoinHandle<()>>,
    pump_stop: Arc<AtomicBool>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FeedServer {
    /// Bind, start the runtime, the pump and the HTTP server.
    ///
    /// # Errors
    /// [`FeedError::Bind`] when the address cannot be bound, [`FeedError::Start`] when a
    /// thread cannot be started, [`FeedError::Token`] for a token that is too short.
    pub fn start(engine: Arc<Engine>, opts: FeedOptions) -> Result<FeedServer, FeedError> {
        if let Some(t) = &opts.token {
            if t.chars().count() < 16 || !t.chars().all(|c| c.is_ascii_graphic()) {
                return Err(FeedError::Token(
                    "needs at least 16 printable ASCII characters, no spaces".into(),
                ));
            }
        }
        if !(0..=19).contains(&opts.nice) {
            return Err(FeedError::Option {
                field: "nice",
                value: opts.nice.to_string(),
                rule: "give 0 (the engine's priority) to 19 (the lowest)",
            });
        }
        let addr_text = format!("{}:{}", opts.host, opts.port);
        let bind_err = |source| FeedError::Bind {
            addr: addr_text.clone(),
            source,
        };
        let listener = std::net::TcpListener::bind(&addr_text).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        if !addr.ip().is_loopback() {
            warn(&format!(
                "feed server listening on {addr}, not loopback: anyone who can reach it \
                 can read the market data and metrics"
            ));
        }
        let (nice, idle) = (opts.nice, opts.idle);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.worker_threads.max(1))
            .thread_name("hftbook-feed")
            .on_thread_start(move || lower_priority(nice, idle))
            .enable_all()
            .build()
            .map_err(FeedError::Start)?;

        let counters = Arc::new(Counters::default());
        // Book and trade events of the symbols someone follows (none yet: the hub adds
        // each symbol at its first follower, with a snapshot of its book), and every
        // symbol's status: a shard spends nothing on the feed for the rest.
        let filter = Filter {
            kinds: (1 << kind::TRADE) | (1 << kind::BOOK) | (1 << kind::STATUS),
            symbols: Some(Default::default()),
            every_symbol_kinds: 1 << kind::STATUS,
            ..Filter::default()
        };
        let sub = engine.subscribe(filter, opts.pump_capacity.max(1024), true);
        let hub = hub::Hub::new(
            engine.clone(),
            opts.queue_capacity,
            counters.clone(),
            sub.clone(),
        );
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            engine: engine.clone(),
            hub: Mutex::new(hub),
            counters,
            sub: sub.clone(),
            shutdown,
            token: opts.token.clone(),
            allowed_origins: opts.allowed_origins.clone(),
            stats: stats::StatsState::default(),
        });

        let pump_stop = Arc::new(AtomicBool::new(false));
        let pump = {
            let shared = shared.clone();
            let stop = pump_stop.clone();
            let interval = opts.pump_interval;
            std::thread::Builder::new()
                .name("hftbook-feed-pump".into())
                .spawn(move || {
                    lower_priority(nice, idle);
                    pump_loop(&shared, &stop, interval);
                })
                .map_err(FeedError::Start)?
        };

        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_err)?
        };
        // A feed's messages are small and the writer flushes once per wakeup: without
        // TCP_NODELAY, Nagle's algorithm holds them back waiting for the peer's delayed ACK
        // (tens of ms).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = ws::router(shared.clone());
        let mut rx = shared.shutdown.subscribe();
        let server = runtime.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
        runtime.spawn(stats::run(shared.clone(), opts.stats_interval));
        Ok(FeedServer {
            addr,
            shared,
            runtime: Some(runtime),
            pump: Some(pump),
            pump_stop,
            server: Some(server),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The feed's counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Name `account` in the `stats` channel and the `hftbook_strategy_*` metrics (the
    /// name of the strategy trading on it, usually). Naming it again renames it.
    ///
    /// # Errors
    /// [`StatsError::BadLabel`] for an empty name, one over [`MAX_LABEL`] characters or one
    /// with control characters.
    pub fn label_account(&self, account: u32, name: &str) -> Result<(), StatsError> {
        self.shared.stats.label_account(account, name)
    }

    /// Record reaction times of `strategy` (ns each) in the
    /// `hftbook_strategy_reaction_seconds` histogram. Meant for batches (a strategy runner
    /// hands over what it measured since its last call).
    ///
    /// # Errors
    /// [`StatsError::BadStrategy`] for a name that would be a bad label.
    pub fn observe_reaction(&self, strategy: &str, ns: &[u64]) -> Result<(), StatsError> {
        self.shared.stats.observe_reaction(strategy, ns)
    }

    /// Stop: every client gets a close frame "server shutting down", then the listener,
    /// the pump and the runtime stop. Idempotent.
    pub fn stop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let clients: Vec<_> = self.shared.hub().clients().to_vec();
        for c in &clients {
            c.close(hub::CLOSE_GOING_AWAY, "server shutting down");
        }
        let _ = self.shared.shutdown.send(true);
        // Give the connections a moment to send their close frames.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.shared.hub().clients().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(server) = self.server.take() {
            let _ = runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), server).await });
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        self.pump_stop.store(true, Ordering::Release);
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
        self.shared.engine.unsubscribe(&self.shared.sub);
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A warning on stderr (the Python binding also raises it through `warnings`).
fn warn(message: &str) {
    eprintln!("hftbook-feed: warning: {message}");
}

/// Give the calling thread the nice value `nice`, and with `idle` the `SCHED_IDLE` policy
/// (Linux: per thread); failures are ignored (the thread keeps its priority).
fn lower_priority(nice: i32, idle: bool) {
    #[cfg(target_os = "linux")]
    {
        if nice > 0 {
            // SAFETY: gettid takes no arguments and cannot fail.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) };
            if let Ok(tid) = libc::id_t::try_from(tid) {
                // SAFETY: setpriority on our own thread id; it only reads its arguments.
                let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
            }
        }
        if idle {
            let p = libc::sched_param { sched_priority: 0 };
            // SAFETY: pid 0 is the calling thread; `p` outlives the call, which only reads it.
            let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &p) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (nice, idle);
}

/// The pump: engine events in, client messages out, until stopped. It takes what the
/// subscription holds, then sleeps `interval` unless that filled a whole batch: the shards
/// never wake it (they only push), and batches of a millisecond's events keep the pump's
/// share of the cores, its wakeups and its traffic on the subscription's queue small.
fn pump_loop(shared: &Shared, stop: &AtomicBool, interval: Duration) {
    const BATCH: usize = 4096;
    let mut buf = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Acquire) {
        buf.clear();
        let n = shared.sub.pop_batch(&mut buf, BATCH, Duration::ZERO);
        if n > 0 {
            shared.hub().apply(&buf);
        }
        if n < BATCH {
            std::thread::sleep(interval);
        }
    }
}
