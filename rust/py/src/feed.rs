//! Binding of `hftbook-feed`: `FeedServer`, started by `EngineCore._serve`.

use std::sync::Mutex;

use hftbook_feed::FeedServer;
use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::run_detached;

/// A running market-data feed server (WebSocket feed and ``/metrics``).
#[pyclass(name = "FeedServer", module = "hftbook._core", frozen)]
pub struct PyFeedServer {
    server: Mutex<Option<FeedServer>>,
    host: String,
    port: u16,
}

impl std::fmt::Debug for PyFeedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyFeedServer")
            .field("port", &self.port)
            .finish()
    }
}

/// The settings of `Engine._serve`.
pub(crate) struct ServeArgs {
    pub host: String,
    pub port: u16,
    pub queue_capacity: usize,
    pub stats_interval_ms: u64,
    pub token: Option<String>,
    pub allowed_origins: Vec<String>,
    pub nice: i32,
    pub pump_interval_us: u64,
    pub idle: bool,
}

impl PyFeedServer {
    /// Start a server on `engine`.
    pub(crate) fn start(
        py: Python<'_>,
        engine: std::sync::Arc<hftbook_engine::Engine>,
        a: ServeArgs,
    ) -> PyResult<PyFeedServer> {
        if !(10..=3_600_000).contains(&a.stats_interval_ms) {
            return Err(PyValueError::new_err(format!(
                "stats_interval = {} s: give 0.01 to 3600 seconds",
                a.stats_interval_ms as f64 / 1000.0
            )));
        }
        if !(0..=19).contains(&a.nice) {
            return Err(PyValueError::new_err(format!(
                "nice = {}: give 0 (the engine's priority) to 19 (the lowest)",
                a.nice
            )));
        }
        if !(10..=100_000).contains(&a.pump_interval_us) {
            return Err(PyValueError::new_err(format!(
                "pump_interval = {} s: give 0.00001 to 0.1 seconds",
                a.pump_interval_us as f64 / 1e6
            )));
        }
        let opts = hftbook_feed::FeedOptions {
            host: a.host,
            port: a.port,
            queue_capacity: a.queue_capacity,
            stats_interval: std::time::Duration::from_millis(a.stats_interval_ms),
            token: a.token,
            allowed_origins: a.allowed_origins,
            nice: a.nice,
            idle: a.idle,
            pump_interval: std::time::Duration::from_micros(a.pump_interval_us),
            ..hftbook_feed::FeedOptions::default()
        };
        let server =
            run_detached(py, move || FeedServer::start(engine, opts))?.map_err(|e| match e {
                hftbook_feed::FeedError::Token(_) | hftbook_feed::FeedError::Option { .. } => {
                    pyo3::exceptions::PyValueError::new_err(e.to_string())
                }
                _ => PyOSError::new_err(e.to_string()),
            })?;
        let addr = server.addr();
        let host = if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        Ok(PyFeedServer {
            server: Mutex::new(Some(server)),
            host,
            port: addr.port(),
        })
    }
}

#[pymethods]
impl PyFeedServer {
    /// The interface it listens on.
    #[getter]
    fn host(&self) -> String {
        self.host.clone()
    }
    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }
    /// The WebSocket feed's URL (``ws://host:port/ws``).
    #[getter]
    fn url(&self) -> String {
        format!("ws://{}:{}/ws", self.host, self.port)
    }
    /// The HTTP root (``http://host:port``; ``/metrics`` under it).
    #[getter]
    fn http_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
    /// Whether it is running.
    #[getter]
    fn running(&self) -> bool {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
    /// Feed counters: clients, messages_sent, conflations, disconnects (by reason).
    fn stats(&self, py: Python<'_>) -> PyResult<Py<pyo3::types::PyDict>> {
        use std::sync::atomic::Ordering;
        let d = pyo3::types::PyDict::new(py);
        let g = self.server.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = g.as_ref() {
            let c = s.counters();
            d.set_item("clients", c.clients.load(Ordering::Relaxed))?;
            d.set_item("messages_sent", c.messages_sent.load(Ordering::Relaxed))?;
            d.set_item("conflations", c.conflations.load(Ordering::Relaxed))?;
            let disc = pyo3::types::PyDict::new(py);
            for (k, v) in c
                .disconnects
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                disc.set_item(*k, *v)?;
            }
            d.set_item("disconnects", disc)?;
        }
        Ok(d.unbind())
    }
    /// Name ``account`` (a strategy's name) in the ``stats`` channel and the
    /// ``hftbook_strategy_*`` metrics. Raises ``ValueError`` for an empty name, one over 64
    /// characters or one with control characters; ``RuntimeError`` once stopped.
    fn label_account(&self, account: u32, name: &str) -> PyResult<()> {
        let g = self.server.lock().unwrap_or_else(|p| p.into_inner());
        let s = g.as_ref().ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("the feed server is stopped")
        })?;
        s.label_account(account, name)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Record reaction times of ``strategy`` (ns: a 1-D numpy array of uint64 or int64, or
    /// a sequence of ints) in ``hftbook_strategy_reaction_seconds``. Negative values raise
    /// ``ValueError``; a stopped server ignores them.
    fn observe_reaction(&self, strategy: &str, ns: &Bound<'_, PyAny>) -> PyResult<()> {
        let values: Vec<u64> = if let Ok(a) = ns.extract::<PyReadonlyArray1<'_, u64>>() {
            a.as_array().iter().copied().collect()
        } else if let Ok(a) = ns.extract::<PyReadonlyArray1<'_, i64>>() {
            let v = a.as_array();
            if v.iter().any(|x| *x < 0) {
                return Err(PyValueError::new_err(
                    "reaction times must be non-negative nanoseconds",
                ));
            }
            v.iter().map(|x| *x as u64).collect()
        } else {
            let v: Vec<i64> = ns.extract().map_err(|_| {
                PyValueError::new_err(
                    "reaction times: give a 1-D numpy array of integers or a sequence of ints (ns)",
                )
            })?;
            if v.iter().any(|x| *x < 0) {
                return Err(PyValueError::new_err(
                    "reaction times must be non-negative nanoseconds",
                ));
            }
            v.into_iter().map(|x| x as u64).collect()
        };
        let g = self.server.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some(s) => s
                .observe_reaction(strategy, &values)
                .map_err(|e| PyValueError::new_err(e.to_string())),
            None => Ok(()),
        }
    }

    /// Stop: clients get a close frame "server shutting down". Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut s) = s {
            run_detached(py, move || s.stop())?;
        }
        Ok(())
    }
}
