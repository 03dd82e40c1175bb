//! LOBSTER parsing and replay for `hftbook.data.lobster`: bytes in, int64 numpy arrays out,
//! all work done with the GIL released.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hftbook_core::lobster::{self, LoadedPair, LobsterError, ReplayOptions, MESSAGE_COLUMNS};
use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use crate::run_detached;

static DATA_FORMAT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `hftbook.exceptions.DataFormatError(message, path, line, field)`.
fn data_error(
    py: Python<'_>,
    message: String,
    path: Option<String>,
    line: Option<usize>,
    field: Option<String>,
) -> PyErr {
    match DATA_FORMAT_ERROR.import(py, "hftbook.exceptions", "DataFormatError") {
        Ok(cls) => match cls.call1((message, path, line, field)) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

fn to_py_err(py: Python<'_>, e: LobsterError) -> PyErr {
    let message = e.to_string();
    match e {
        LobsterError::Format {
            file, line, field, ..
        } => data_error(py, message, Some(file), Some(line), Some(field)),
        LobsterError::Book { line, .. } => data_error(py, message, None, Some(line), None),
        LobsterError::File { file, .. } => data_error(py, message, Some(file), None, None),
        _ => data_error(py, message, None, None, None),
    }
}

/// A `(rows, cols)` int64 array over `v` (no copy of the data).
fn matrix(py: Python<'_>, v: Vec<i64>, cols: usize) -> PyResult<Py<PyAny>> {
    let rows = v.len() / cols.max(1);
    let a = v.into_pyarray(py);
    Ok(a.reshape([rows, cols])?.into_any().unbind())
}

/// Parse LOBSTER message CSV bytes into an int64 array of shape (N, 6): time in nanoseconds
/// after midnight, type, order id, size, price (dollars x 10000), direction.
#[pyfunction]
#[pyo3(signature = (data, name="messages"))]
fn parse_lobster_messages(
    py: Python<'_>,
    data: PyBackedBytes,
    name: &str,
) -> PyResult<(Py<PyAny>, usize)> {
    let r = run_detached(py, || lobster::parse_messages_counted(&data, name))?;
    let (v, rounded) = r.map_err(|e| to_py_err(py, e))?;
    Ok((matrix(py, v, MESSAGE_COLUMNS)?, rounded))
}

/// Parse LOBSTER orderbook CSV bytes into an int64 array of shape (N, 4 x levels).
#[pyfunction]
#[pyo3(signature = (data, name="orderbook"))]
fn parse_lobster_orderbook(py: Python<'_>, data: PyBackedBytes, name: &str) -> PyResult<Py<PyAny>> {
    let r = run_detached(py, || lobster::parse_orderbook(&data, name))?;
    let (v, cols) = r.map_err(|e| to_py_err(py, e))?;
    matrix(py, v, cols)
}

/// Work done so far by a replay running without the GIL, and its total, readable from
/// another Python thread (for a progress bar). The total is 0 until the work knows it.
#[derive(Debug, Default)]
#[pyclass(name = "_Counter", module = "hftbook._core", frozen)]
pub struct PyCounter {
    pub(crate) done: Arc<AtomicU64>,
    pub(crate) total: Arc<AtomicU64>,
}

#[pymethods]
impl PyCounter {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Units done so far (messages or records).
    fn value(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Units in all (0 while unknown).
    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

type Loaded = (Py<PyAny>, Py<PyAny>, String, String, f64, usize);

fn loaded(py: Python<'_>, p: LoadedPair) -> PyResult<Loaded> {
    Ok((
        matrix(py, p.messages, MESSAGE_COLUMNS)?,
        matrix(py, p.orderbook, p.orderbook_cols)?,
        p.message_file,
        p.orderbook_file,
        p.parse_seconds,
        p.rounded_times,
    ))
}

/// Read and parse a LOBSTER sample zip in Rust without the GIL: the two members are inflated
/// on two threads and parsed as soon as they are. Returns `(messages, orderbook,
/// message_file, orderbook_file, parse_seconds, rounded_times)` (`rounded_times`: message
/// rows whose time had more than 9 decimals, rounded to the nanosecond); `name` names the
/// archive in errors.
#[pyfunction]
fn load_lobster_zip(py: Python<'_>, path: PathBuf, name: &str) -> PyResult<Loaded> {
    let r = run_detached(py, || lobster::load_zip_file(&path, name))?;
    loaded(py, r.map_err(|e| to_py_err(py, e))?)
}

/// Read and parse a LOBSTER message CSV and its orderbook CSV in Rust without the GIL (the
/// message file on one thread while the orderbook is read). Returns as `load_lobster_zip`.
#[pyfunction]
fn load_lobster_csv(
    py: Python<'_>,
    message: PathBuf,
    orderbook: PathBuf,
    message_name: &str,
    orderbook_name: &str,
) -> PyResult<Loaded> {
    let r = run_detached(py, || {
        lobster::load_csv(&message, &orderbook, message_name, orderbook_name)
    })?;
    loaded(py, r.map_err(|e| to_py_err(py, e))?)
}

fn contiguous<'a>(
    py: Python<'_>,
    a: &'a PyReadonlyArray2<'_, i64>,
    what: &str,
) -> PyResult<&'a [i64]> {
    // `as_slice` also accepts Fortran order, whose element order is not the row layout.
    let slice = if a.is_c_contiguous() {
        a.as_slice().ok()
    } else {
        None
    };
    slice.ok_or_else(|| {
        data_error(
            py,
            format!("{what} must be a C-contiguous int64 array (use numpy.ascontiguousarray)"),
            None,
            None,
            None,
        )
    })
}

fn arr<T: numpy::Element>(py: Python<'_>, v: Vec<T>) -> Py<PyAny> {
    PyArray1::from_vec(py, v).into_any().unbind()
}

/// Replay LOBSTER messages against their orderbook rows; returns a dict of figures and arrays.
#[pyfunction]
#[pyo3(signature = (messages, orderbook, levels=None, *, edge_sync=true, validate=true, message_file="messages", orderbook_file="orderbook", counter=None))]
#[allow(clippy::too_many_arguments)]
fn replay_lobster<'py>(
    py: Python<'py>,
    messages: PyReadonlyArray2<'py, i64>,
    orderbook: PyReadonlyArray2<'py, i64>,
    levels: Option<usize>,
    edge_sync: bool,
    validate: bool,
    message_file: &str,
    orderbook_file: &str,
    counter: Option<PyRef<'py, PyCounter>>,
) -> PyResult<Bound<'py, PyDict>> {
    if messages.shape()[1] != MESSAGE_COLUMNS {
        return Err(data_error(
            py,
            format!(
                "{message_file}: messages must have {MESSAGE_COLUMNS} columns, got {}",
                messages.shape()[1]
            ),
            Some(message_file.to_string()),
            None,
            Some("row".to_string()),
        ));
    }
    let cols = orderbook.shape()[1];
    let m = contiguous(py, &messages, "messages")?;
    let b = contiguous(py, &orderbook, "orderbook")?;
    let opts = ReplayOptions {
        levels: levels.unwrap_or(cols / 4),
        edge_sync,
        validate,
        message_file: message_file.to_string(),
        orderbook_file: orderbook_file.to_string(),
    };
    let done = counter.map(|c| {
        c.total
            .store((m.len() / MESSAGE_COLUMNS) as u64, Ordering::Relaxed);
        c.done.clone()
    });
    let r = run_detached(py, || {
        lobster::replay_with_progress(m, b, cols, &opts, done.as_deref())
    })?
    .map_err(|e| to_py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("messages", r.messages)?;
    d.set_item("levels", r.levels)?;
    d.set_item("edge_sync", r.edge_sync)?;
    d.set_item("rows_compared", r.rows_compared)?;
    d.set_item("rows_matched", r.rows_matched)?;
    d.set_item("rows_synced", r.rows_synced)?;
    d.set_item("levels_injected", r.levels_injected)?;
    d.set_item("levels_dropped", r.levels_dropped)?;
    d.set_item("size_adjustments", r.size_adjustments)?;
    d.set_item("unknown_id_reductions", r.unknown_id_reductions)?;
    d.set_item("type_counts", r.type_counts.to_vec())?;
    d.set_item("elapsed_ns", r.elapsed_ns)?;
    let mm = match r.first_mismatch {
        Some(mm) => {
            let x = PyDict::new(py);
            x.set_item("index", mm.index)?;
            x.set_item("message", mm.message.to_vec())?;
            x.set_item("ours", mm.ours)?;
            x.set_item("recorded", mm.recorded)?;
            x.set_item("previous", mm.previous)?;
            Some(x)
        }
        None => None,
    };
    d.set_item("first_mismatch", mm)?;
    d.set_item("exec_index", arr(py, r.exec_index))?;
    d.set_item("exec_order_id", arr(py, r.exec_order_id))?;
    d.set_item("exec_size", arr(py, r.exec_size))?;
    d.set_item("exec_queue_position", arr(py, r.exec_queue_position))?;
    d.set_item("exec_qty_ahead", arr(py, r.exec_qty_ahead))?;
    d.set_item("exec_time_to_fill_ns", arr(py, r.exec_time_to_fill_ns))?;
    d.set_item("trade_index", arr(py, r.trade_index))?;
    d.set_item("trade_time_ns", arr(py, r.trade_time_ns))?;
    d.set_item("trade_type", arr(py, r.trade_type))?;
    d.set_item("trade_price", arr(py, r.trade_price))?;
    d.set_item("trade_size", arr(py, r.trade_size))?;
    d.set_item("trade_direction", arr(py, r.trade_direction))?;
    d.set_item("halt_index", arr(py, r.halt_index))?;
    d.set_item("halt_code", arr(py, r.halt_code))?;
    d.set_item("best_bid_price", arr(py, r.best_bid_price))?;
    d.set_item("best_bid_size", arr(py, r.best_bid_size))?;
    d.set_item("best_ask_price", arr(py, r.best_ask_price))?;
    d.set_item("best_ask_size", arr(py, r.best_ask_size))?;
    Ok(d)
}

/// Add the LOBSTER functions to `_core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_lobster_messages, m)?)?;
    m.add_function(wrap_pyfunction!(parse_lobster_orderbook, m)?)?;
    m.add_function(wrap_pyfunction!(replay_lobster, m)?)?;
    m.add_function(wrap_pyfunction!(load_lobster_zip, m)?)?;
    m.add_function(wrap_pyfunction!(load_lobster_csv, m)?)?;
    m.add_class::<PyCounter>()?;
    Ok(())
}
