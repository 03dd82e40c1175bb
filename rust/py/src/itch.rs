//! Binding of the ITCH 5.0 parser, encoder, generator and per-symbol books
//! (`hftbook.data.itch` wraps it). Messages cross as numpy columns; work runs without the GIL.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hftbook_core::itch::{self, ItchBooks, ItchError, Message};
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::mbo::data_format_error;
use crate::run_detached;

fn itch_error(py: Python<'_>, e: &ItchError, path: Option<&str>) -> PyErr {
    let msg = match path {
        Some(p) => format!("{p}: {e}"),
        None => e.to_string(),
    };
    data_format_error(py, msg, path, None, e.field(), Some(e.offset))
}

fn read_source(
    py: Python<'_>,
    path: Option<PathBuf>,
    data: Option<Vec<u8>>,
) -> PyResult<(Vec<u8>, Option<String>)> {
    match (path, data) {
        (_, Some(d)) => Ok((d, None)),
        (Some(p), None) => {
            let name = p.display().to_string();
            let d = py.detach(|| std::fs::read(&p)).map_err(|e| {
                data_format_error(
                    py,
                    format!("{name}: cannot read: {e}"),
                    Some(&name),
                    None,
                    None,
                    None,
                )
            })?;
            Ok((d, Some(name)))
        }
        (None, None) => Ok((Vec::new(), None)),
    }
}

macro_rules! for_fields {
    ($m:ident) => {
        $m!(scalar msg_type);
        $m!(scalar locate);
        $m!(scalar tracking);
        $m!(scalar timestamp);
        $m!(scalar order_ref);
        $m!(scalar new_order_ref);
        $m!(scalar side);
        $m!(scalar shares);
        $m!(scalar price);
        $m!(bytes stock 8);
        $m!(scalar match_number);
        $m!(bytes mpid 4);
        $m!(scalar printable);
        $m!(scalar event_code);
        $m!(bytes reason 4);
        $m!(scalar reserved);
        $m!(scalar market_category);
        $m!(scalar financial_status);
        $m!(scalar round_lot_size);
        $m!(scalar round_lots_only);
        $m!(scalar issue_classification);
        $m!(bytes issue_subtype 2);
        $m!(scalar authenticity);
        $m!(scalar short_sale_threshold);
        $m!(scalar ipo_flag);
        $m!(scalar luld_tier);
        $m!(scalar etp_flag);
        $m!(scalar etp_leverage);
        $m!(scalar inverse);
    };
}

/// Bytes of one `ITCH_DTYPE` record (packed, little-endian, fields in declaration order).
pub(crate) const RECORD: usize = 85;

fn to_records(ms: &[Message]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ms.len() * RECORD);
    for m in ms {
        macro_rules! put {
            (scalar $f:ident) => {
                out.extend_from_slice(&m.$f.to_le_bytes());
            };
            (bytes $f:ident $n:literal) => {
                out.extend_from_slice(&m.$f);
            };
        }
        for_fields!(put);
    }
    out
}

trait Le {
    fn read(b: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            #[inline]
            fn read(b: &[u8]) -> Self {
                let mut x = [0u8; std::mem::size_of::<$t>()];
                x.copy_from_slice(&b[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(x)
            }
        }
    )*};
}
le!(u8, u16, u32, u64);

fn from_records(b: &[u8]) -> Vec<Message> {
    b.chunks_exact(RECORD)
        .map(|r| {
            let mut m = Message::default();
            let mut at = 0usize;
            macro_rules! take {
                (scalar $f:ident) => {{
                    m.$f = Le::read(&r[at..]);
                    at += std::mem::size_of_val(&m.$f);
                }};
                (bytes $f:ident $n:literal) => {{
                    m.$f.copy_from_slice(&r[at..at + $n]);
                    at += $n;
                }};
            }
            for_fields!(take);
            let _ = at;
            m
        })
        .collect()
}

fn check_dtype(dtype: &Bound<'_, PyAny>) -> PyResult<()> {
    let size: usize = dtype.getattr("itemsize")?.extract()?;
    if size != RECORD {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "the ITCH record dtype must be {RECORD} bytes, got {size}"
        )));
    }
    Ok(())
}

/// Parse an ITCH 5.0 `BinaryFILE` stream (a path or bytes) into message columns.
/// Returns a numpy array of `dtype` (`hftbook.data.itch.ITCH_DTYPE`), built in one pass.
#[pyfunction]
#[pyo3(signature = (dtype, path=None, data=None))]
fn _itch_parse<'py>(
    py: Python<'py>,
    dtype: &Bound<'py, PyAny>,
    path: Option<PathBuf>,
    data: Option<Vec<u8>>,
) -> PyResult<Py<PyAny>> {
    check_dtype(dtype)?;
    let (bytes, name) = read_source(py, path, data)?;
    let recs = run_detached(py, move || itch::parse(&bytes).map(|ms| to_records(&ms)))?
        .map_err(|e| itch_error(py, &e, name.as_deref()))?;
    crate::bytes_as(py, recs, dtype)
}

/// Encode packed `ITCH_DTYPE` records (the array's bytes) into a `BinaryFILE` stream.
#[pyfunction]
fn _itch_encode<'py>(py: Python<'py>, records: Vec<u8>) -> PyResult<Bound<'py, PyBytes>> {
    if !records.chunks_exact(RECORD).remainder().is_empty() {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{} bytes is not a whole number of {RECORD}-byte ITCH records",
            records.len()
        )));
    }
    let out =
        run_detached(py, move || itch::encode_all(&from_records(&records)))?.map_err(|e| {
            data_format_error(
                py,
                format!(
                    "message type 0x{:02x} is not an ITCH 5.0 message",
                    e.msg_type.unwrap_or(0)
                ),
                None,
                None,
                Some("msg_type"),
                Some(e.offset),
            )
        })?;
    Ok(PyBytes::new(py, &out))
}

fn levels_dict<'py>(py: Python<'py>, levels: &[(i64, u64, u32)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("price", column(py, levels, |l| l.0))?;
    d.set_item("qty", column(py, levels, |l| l.1))?;
    d.set_item("orders", column(py, levels, |l| l.2))?;
    Ok(d)
}

/// Generate a seeded realistic stream: `(bytes, reference books)`; each reference book is a
/// dict with `symbol`, `locate`, `bids` and `asks` (dicts of `price`, `qty`, `orders`).
#[pyfunction]
#[pyo3(signature = (messages, seed, symbols))]
fn _itch_generate<'py>(
    py: Python<'py>,
    messages: usize,
    seed: u64,
    symbols: Vec<String>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyList>)> {
    if symbols.is_empty() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "symbols must not be empty",
        ));
    }
    if let Some(bad) = symbols
        .iter()
        .find(|s| s.is_empty() || s.len() > 8 || !s.is_ascii())
    {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "symbol {bad:?} must be 1 to 8 ASCII characters"
        )));
    }
    let g = run_detached(py, move || {
        let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
        let g = itch::Generator::new(messages, seed, &refs).generate();
        itch::encode_all(&g.messages).map(|b| (b, g.reference))
    })?
    .map_err(|e| itch_error(py, &e, None))?;
    let refs = PyList::empty(py);
    for r in &g.1 {
        let d = PyDict::new(py);
        d.set_item("symbol", &r.symbol)?;
        d.set_item("locate", r.locate)?;
        d.set_item("bids", levels_dict(py, &r.bids)?)?;
        d.set_item("asks", levels_dict(py, &r.asks)?)?;
        refs.append(d)?;
    }
    Ok((PyBytes::new(py, &g.0), refs))
}

/// Bytes read so far by a running file replay, readable from another Python thread (for a
/// progress bar).
#[derive(Debug, Default)]
#[pyclass(name = "_ByteCounter", module = "hftbook._core", frozen)]
pub struct PyByteCounter {
    n: Arc<AtomicU64>,
}

#[pymethods]
impl PyByteCounter {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Bytes read so far.
    fn value(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }
}

/// A reader that counts the bytes it hands out.
struct Counting<R> {
    inner: R,
    n: Option<Arc<AtomicU64>>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        if let Some(n) = &self.n {
            n.fetch_add(k as u64, Ordering::Relaxed);
        }
        Ok(k)
    }
}

/// Build per-symbol books from a stream; returns the figures and every book's depth.
#[pyfunction]
#[pyo3(signature = (path=None, data=None, symbols=None, track=false, counter=None, ticks=None))]
fn _itch_replay<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    data: Option<Vec<u8>>,
    symbols: Option<Vec<String>>,
    track: bool,
    counter: Option<PyRef<'py, PyByteCounter>>,
    ticks: Option<Vec<(String, i64)>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut books = ItchBooks::new(symbols.as_deref(), track);
    for (sym, t) in ticks.unwrap_or_default() {
        books.set_tick(&sym, t).map_err(|e| {
            let msg = format!("ticks: {e}");
            data_format_error(py, msg, None, None, None, None)
        })?;
    }
    let counter = counter.map(|c| c.n.clone());
    // a file is read in 1 MiB chunks (memory stays bounded for multi-GB files)
    let file = match (&path, &data) {
        (Some(p), None) => Some(std::fs::File::open(p).map_err(|e| {
            let name = p.display().to_string();
            data_format_error(
                py,
                format!("{name}: cannot read: {e}"),
                Some(&name),
                None,
                None,
                None,
            )
        })?),
        _ => None,
    };
    let name = path.map(|p| p.display().to_string());
    let bytes = data.unwrap_or_default();
    let (books, secs) = run_detached(py, move || {
        let t0 = Instant::now();
        let mut books = books;
        let r = match file {
            Some(f) => books.apply_reader(
                Counting {
                    inner: f,
                    n: counter,
                },
                1 << 20,
            ),
            None => books.apply_stream(&bytes).map(|()| bytes.len() as u64),
        };
        let secs = t0.elapsed().as_secs_f64();
        (r.map(|n| (books, n)), secs)
    })?;
    let (books, nbytes) = books.map_err(|e| itch_error(py, &e, name.as_deref()))?;
    let d = PyDict::new(py);
    d.set_item("source", name.unwrap_or_else(|| "<bytes>".to_string()))?;
    d.set_item("bytes", nbytes)?;
    d.set_item("messages", books.messages)?;
    d.set_item("seconds", secs)?;
    let tc = PyDict::new(py);
    for (t, &c) in books.type_counts.iter().enumerate() {
        if c > 0 {
            tc.set_item((t as u8 as char).to_string(), c)?;
        }
    }
    d.set_item("type_counts", tc)?;
    d.set_item(
        "system_events",
        String::from_utf8_lossy(&books.system_events).into_owned(),
    )?;
    let list = PyList::empty(py);
    for b in &books.books {
        let s = PyDict::new(py);
        s.set_item("symbol", &b.symbol)?;
        s.set_item("locate", b.locate)?;
        s.set_item(
            "trading_state",
            if b.trading_state == 0 {
                String::new()
            } else {
                (b.trading_state as char).to_string()
            },
        )?;
        s.set_item("resting_orders", b.book.len())?;
        let c = &b.counts;
        s.set_item("adds", c.adds)?;
        s.set_item("executions", c.executions)?;
        s.set_item("executed_shares", c.executed_shares)?;
        s.set_item("cancels", c.cancels)?;
        s.set_item("deletes", c.deletes)?;
        s.set_item("replaces", c.replaces)?;
        s.set_item("trades", c.trades)?;
        s.set_item("trade_shares", c.trade_shares)?;
        s.set_item("tick", b.tick)?;
        s.set_item("reticks", b.reticks)?;
        s.set_item("off_tick_prices", b.off_tick_prices)?;
        let (bids, asks) = b.levels();
        s.set_item("bids", levels_dict(py, &bids)?)?;
        s.set_item("asks", levels_dict(py, &asks)?)?;
        if track {
            let t = &b.tops;
            let tops = PyDict::new(py);
            tops.set_item("timestamp", column(py, t, |x| x.timestamp))?;
            tops.set_item("bid", column(py, t, |x| x.bid))?;
            tops.set_item("bid_qty", column(py, t, |x| x.bid_qty))?;
            tops.set_item("ask", column(py, t, |x| x.ask))?;
            tops.set_item("ask_qty", column(py, t, |x| x.ask_qty))?;
            s.set_item("tops", tops)?;
        }
        list.append(s)?;
    }
    d.set_item("books", list)?;
    Ok(d)
}

/// Register the ITCH functions in `_core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_itch_parse, m)?)?;
    m.add_function(wrap_pyfunction!(_itch_encode, m)?)?;
    m.add_function(wrap_pyfunction!(_itch_generate, m)?)?;
    m.add_function(wrap_pyfunction!(_itch_replay, m)?)?;
    m.add_class::<PyByteCounter>()?;
    Ok(())
}

/// One field of every item, as a numpy array.
fn column<'py, S, T: numpy::Element>(
    py: Python<'py>,
    items: &[S],
    f: impl Fn(&S) -> T,
) -> Bound<'py, numpy::PyArray1<T>> {
    items.iter().map(f).collect::<Vec<_>>().into_pyarray(py)
}
