//! Binding of `hftbook-feed`: `FeedServer`, started by `EngineCore._serve`.

use std::sync::Mutex;

use hftbook_feed::FeedServer;
use pyo3::exceptions::PyOSError;
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

impl PyFeedServer {
    /// Start a server on `engine`.
    pub(crate) fn start(
        py: Python<'_>,
        engine: std::sync::Arc<hftbook_engine::Engine>,
        host: String,
        port: u16,
        queue_capacity: usize,
        token: Option<String>,
        allowed_origins: Vec<String>,
    ) -> PyResult<PyFeedServer> {
        let opts = hftbook_feed::FeedOptions {
            host: host.clone(),
            port,
            queue_capacity,
            token,
            allowed_origins,
            ..hftbook_feed::FeedOptions::default()
        };
        let server =
            run_detached(py, move || FeedServer::start(engine, opts))?.map_err(|e| match e {
                hftbook_feed::FeedError::Token(_) => {
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
    /// Stop: clients get a close frame "server shutting down". Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut s) = s {
            run_detached(py, move || s.stop())?;
        }
        Ok(())
    }
}
