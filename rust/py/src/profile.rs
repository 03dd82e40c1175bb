//! Profiler, allocation and CPU-time bindings: `Profiler` (a thread-safe handle on a book's
//! latency profiler), `memory_stats()`, `reset_peak_memory()` and `cpu_times()`.

use hftbook_core::profile::alloc::{AllocStats, CountingAlloc};
use hftbook_core::profile::cpu::{self, CpuTimes};
use std::sync::Mutex;

use hftbook_core::profile::{KindStats, ProfileSnapshot, Profiler, Recorder};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

/// The extension's global allocator: mimalloc, counted.
#[global_allocator]
pub static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc::new(mimalloc::MiMalloc);

/// Schema tag of the dict `Profiler.snapshot()` returns (and of a LatencyReport's JSON).
pub const SCHEMA: &str = "hftbook.latency/1";

fn kind_dict<'py>(py: Python<'py>, k: KindStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("count", k.count)?;
    d.set_item("min", k.min)?;
    d.set_item("max", k.max)?;
    d.set_item("mean", k.mean)?;
    d.set_item("stddev", k.stddev)?;
    d.set_item("p50", k.p50)?;
    d.set_item("p90", k.p90)?;
    d.set_item("p99", k.p99)?;
    d.set_item("p99_9", k.p999)?;
    d.set_item("p99_99", k.p9999)?;
    let (mut lo, mut hi, mut n) = (
        Vec::with_capacity(k.buckets.len()),
        Vec::with_capacity(k.buckets.len()),
        Vec::with_capacity(k.buckets.len()),
    );
    for (l, h, c) in k.buckets {
        lo.push(l);
        hi.push(h);
        n.push(c);
    }
    d.set_item("bucket_low", lo.into_pyarray(py))?;
    d.set_item("bucket_high", hi.into_pyarray(py))?;
    d.set_item("bucket_count", n.into_pyarray(py))?;
    Ok(d)
}

/// The snapshot as the dict `hftbook.profiling.LatencyReport` reads.
pub fn snapshot_dict<'py>(py: Python<'py>, s: ProfileSnapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("schema", SCHEMA)?;
    d.set_item("unit", "ns")?;
    d.set_item("enabled", s.enabled)?;
    d.set_item("clock_source", s.clock_source)?;
    let ops = PyDict::new(py);
    for k in s.kinds {
        let name = k.name.clone();
        ops.set_item(name, kind_dict(py, k)?)?;
    }
    d.set_item("operations", ops)?;
    Ok(d)
}

static REPORT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `hftbook.exceptions.ReportError(message, field, value)`.
fn report_error(py: Python<'_>, message: String, field: &str, value: &str) -> PyErr {
    match REPORT_ERROR.import(py, "hftbook.exceptions", "ReportError") {
        Ok(cls) => match cls.call1((message, field, value)) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// A thread-safe handle on a book's latency profiler: snapshot, reset and switch it from
/// any thread, also while the book runs a batch in another thread.
#[derive(Debug)]
#[pyclass(name = "Profiler", module = "hftbook._core", frozen)]
pub struct PyProfiler {
    inner: Profiler,
    /// Writer for durations measured elsewhere (`record`).
    rec: Mutex<Recorder>,
}

impl PyProfiler {
    /// A handle on `inner` with its own recorder.
    pub fn new(inner: &Profiler) -> Self {
        PyProfiler {
            rec: Mutex::new(inner.recorder()),
            inner: inner.clone(),
        }
    }
}

#[pymethods]
impl PyProfiler {
    /// Per-operation statistics now (a dict; see `hftbook.profiling.LatencyReport`). Never
    /// blocks the writer; the GIL is released while the counters are merged.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = self.inner.clone();
        let s = py.detach(move || p.snapshot());
        snapshot_dict(py, s)
    }

    /// Record durations measured elsewhere (ns: an int or a 1-D uint64 array) under the
    /// operation kind `kind`, registered if new (`[a-z0-9_]{1,32}`, at most 16 kinds).
    /// Nothing is recorded while the profiler is off.
    ///
    /// Raises `ReportError` for a bad kind name or a full kind table.
    fn record(&self, py: Python<'_>, kind: &str, ns: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self
            .inner
            .kind(kind)
            .map_err(|e| report_error(py, e.to_string(), "kind", kind))?;
        let mut rec = self
            .rec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(arr) = ns.extract::<PyReadonlyArray1<'_, u64>>() {
            for &v in arr.as_slice()? {
                rec.record(k, v);
            }
        } else {
            rec.record(k, ns.extract::<u64>()?);
        }
        Ok(())
    }

    /// Discard everything recorded so far.
    fn reset(&self) {
        self.inner.reset();
    }

    /// Whether operations are being timed.
    #[getter]
    fn get_enabled(&self) -> bool {
        self.inner.is_enabled()
    }

    #[setter]
    fn set_enabled(&self, on: bool) {
        self.inner.set_enabled(on);
    }

    /// "tsc" (calibrated time-stamp counter) or "monotonic" (OS clock fallback).
    #[getter]
    fn clock_source(&self) -> &'static str {
        self.inner.clock_source()
    }

    /// Names of the operation kinds, by index.
    #[getter]
    fn kinds(&self) -> Vec<String> {
        self.inner.kind_names()
    }

    fn __repr__(&self) -> String {
        format!(
            "Profiler(enabled={}, clock_source={:?})",
            if self.inner.is_enabled() {
                "True"
            } else {
                "False"
            },
            self.inner.clock_source()
        )
    }
}

fn alloc_dict(py: Python<'_>, s: AllocStats) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("live_bytes", s.live_bytes)?;
    d.set_item("peak_bytes", s.peak_bytes)?;
    d.set_item("allocations", s.allocations)?;
    d.set_item("deallocations", s.deallocations)?;
    d.set_item("reallocations", s.reallocations)?;
    Ok(d)
}

/// Heap use of hftbook's Rust code (books, batch buffers, arrays built in Rust): a dict of
/// `live_bytes`, `peak_bytes`, `allocations`, `deallocations`, `reallocations`, counted by
/// the extension's global allocator (mimalloc). Python objects are not included.
#[pyfunction]
pub fn memory_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    alloc_dict(py, GLOBAL.stats())
}

/// Restart `memory_stats()["peak_bytes"]` from the current live bytes.
#[pyfunction]
pub fn reset_peak_memory() {
    GLOBAL.reset_peak();
}

/// The mimalloc options the extension sets when it loads (unless the environment set them),
/// by mimalloc's name: a dict of `arena_eager_commit` and `purge_decommits`. For tests.
#[pyfunction]
pub fn _allocator_options(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in crate::allocator::options() {
        d.set_item(name, value)?;
    }
    Ok(d)
}

fn times_dict(py: Python<'_>, t: CpuTimes) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("user_s", t.user_s)?;
    d.set_item("system_s", t.system_s)?;
    Ok(d)
}

fn os_err(what: &str, e: std::io::Error) -> PyErr {
    PyOSError::new_err(format!("cannot read {what} CPU time: {e}"))
}

/// CPU time now: `{"process": {"user_s", "system_s"}, "thread": {...} (the calling
/// thread), "threads": [{"tid", "name", "user_s", "system_s"}, ...]}` (seconds). On systems
/// without per-thread accounting (`/proc`), "thread" is None and "threads" is empty.
///
/// Raises `OSError` if the process times cannot be read.
#[pyfunction]
pub fn cpu_times(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let p = cpu::process_times().map_err(|e| os_err("process", e))?;
    d.set_item("process", times_dict(py, p)?)?;
    match cpu::current_thread_times() {
        Ok(t) => d.set_item("thread", times_dict(py, t)?)?,
        Err(_) => d.set_item("thread", py.None())?,
    }
    let threads = PyList::empty(py);
    for t in cpu::thread_times().unwrap_or_default() {
        let td = times_dict(py, t.times)?;
        td.set_item("tid", t.tid)?;
        td.set_item("name", t.name)?;
        threads.append(td)?;
    }
    d.set_item("threads", threads)?;
    Ok(d)
}
