//! `hftbook._core`: the Python binding of hftbook-core. Thin over values; every batch call
//! releases the GIL and catches panics (`run_detached`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hftbook_core::batch::{self, BatchOutcome, Command};
use hftbook_core::{
    BookReader, Clock, Fill, LevelView, NewOrder, OrderBook, OrderView, Price, QtyLimits, Report,
    ReportSink, Side, SkipLadder, TickSize,
};
use numpy::{
    IntoPyArray, PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyInt, PyList, PyString, PyTuple};
use zerocopy::byteorder::little_endian;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

mod allocator;
mod convert;
mod engine;
mod errors;
mod fastcall;
mod feed;
mod itch;
mod lobster;
mod mbo;
mod objects;
mod profile;

use convert::Spec;
use errors::{internal, order_error, panic_error, raise, row_error, ErrorKind};
use hftbook_core::profile::{OpKind, Profiler, Recorder};
use objects::{PyBatchResult, PyDepth, PyExecutionReport, PyFill, PyLevel, PyOrder};
use profile::PyProfiler;

static COMMAND_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ORDER_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static FILL_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LEVEL_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static BOOK_ORDER_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn dtype<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.import(py, "hftbook._dtypes", name)
}

/// Run `f` without the GIL; a panic becomes an `HftbookError` instead of killing Python
/// (see [`errors::panic_error`]).
fn run_detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| std::panic::catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| panic_error(py, "a call with the GIL released", &*p))
}

/// A 1-D numpy array of the structured dtype `dt` over `bytes` (whole records), without
/// copying: the bytes move into a numpy `uint8` array that becomes the base of a
/// `PyArray_NewFromDescr` view. (`ndarray.view(dtype)` costs ~1.3 µs per call here, and
/// letting numpy allocate a structured array makes it probe a zero-fill loop field by field,
/// ~2,500 instructions; passing the data avoids both.)
fn bytes_as<'py, T: numpy::Element>(
    py: Python<'py>,
    bytes: Vec<T>,
    dt: &Bound<'py, PyAny>,
) -> PyResult<Py<PyAny>> {
    use numpy::npyffi::{self, flags, PY_ARRAY_API};
    let descr = dt.cast::<PyArrayDescr>()?;
    let itemsize = descr.itemsize().max(1);
    let n = bytes.len() * std::mem::size_of::<T>() / itemsize;
    let base = bytes.into_pyarray(py);
    let mut dims = [n as npyffi::npy_intp];
    // `base` owns `n * itemsize` initialised bytes, allocated by Rust's allocator with the
    // alignment of `T` only — so ALIGNED is not claimed; numpy recomputes the flags.
    // NewFromDescr steals the descriptor reference from `into_dtype_ptr`; SetBaseObject
    // steals the reference to `base` we hand it, which keeps the memory alive.
    // SAFETY: `base` is a live numpy array (kept alive by the `Bound`), so its array
    // pointer is non-null and its `data` field is readable; the GIL is held (`py`).
    let data = unsafe { (*base.as_array_ptr()).fields.data };
    // SAFETY: the GIL is held (`py`); numpy's C API is imported (`into_pyarray` above
    // already used it), and the returned type object is borrowed from numpy, which keeps it
    // alive.
    let array_type = unsafe { npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type) };
    // SAFETY: the GIL is held; `array_type` is numpy's ndarray type; the descriptor is a
    // new reference that NewFromDescr steals; `dims` holds `nd = 1` dimension and lives
    // across the call; null strides mean C order; `data` points at `n * itemsize` bytes
    // owned by `base`, which becomes the array's base below, before `arr` escapes.
    let ptr = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            array_type,
            descr.clone().into_dtype_ptr(),
            1,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            data.cast(),
            flags::NPY_ARRAY_C_CONTIGUOUS | flags::NPY_ARRAY_WRITEABLE,
            std::ptr::null_mut(),
        )
    };
    if ptr.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `ptr` is a non-null new (owned) reference to an ndarray returned by
    // NewFromDescr; the GIL is held.
    let arr = unsafe { Bound::from_owned_ptr(py, ptr) };
    // SAFETY: the GIL is held; `ptr` is a live ndarray (owned by `arr`) whose base is not
    // set yet; `base.into_ptr()` is an owned reference that SetBaseObject steals (also on
    // failure).
    if unsafe { PY_ARRAY_API.PyArray_SetBaseObject(py, ptr.cast(), base.into_ptr()) } < 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(arr.unbind())
}

/// A vector of plain-data records as the `u64` words of the same allocation, without
/// copying: how a `Vec<Fill>` or `Vec<Command>` becomes a numpy array's memory.
///
/// `T: IntoBytes` proves (at compile time, by the derive) that every byte of a record is
/// initialised, so each word is a valid `u64`; `T: FromBytes` that any bytes numpy code
/// writes into the (writeable) array still make valid records. The layout conditions for
/// handing the allocation over are checked at compile time per `T`.
fn into_words<T: IntoBytes + FromBytes + Immutable>(records: Vec<T>) -> Vec<u64> {
    const {
        assert!(
            std::mem::size_of::<T>() > 0
                && std::mem::size_of::<T>().is_multiple_of(8)
                && std::mem::align_of::<T>() == std::mem::align_of::<u64>(),
            "records must be whole, 8-aligned u64 words"
        );
    }
    let words = std::mem::size_of::<T>() / 8;
    let mut records = std::mem::ManuallyDrop::new(records);
    let (ptr, len, cap) = (records.as_mut_ptr(), records.len(), records.capacity());
    // SAFETY: `ptr` was allocated by the global allocator for `cap` `T`s, which is the
    // same size (`cap * words * 8` bytes) and alignment (8) as `cap * words` u64s, so the
    // vector frees it with the layout it was allocated with; the first `len * words` words
    // are initialised (`T: IntoBytes`: records have no padding, and all `len` are
    // initialised). The original vector is not dropped (`ManuallyDrop`).
    unsafe { Vec::from_raw_parts(ptr.cast::<u64>(), len * words, cap * words) }
}

/// Fills as a `FILL_DTYPE` array without copying them: the vector's buffer becomes the
/// array's memory.
fn fills_array(py: Python<'_>, fills: Vec<Fill>) -> PyResult<Py<PyAny>> {
    bytes_as(py, into_words(fills), dtype(py, &FILL_DTYPE, "FILL_DTYPE")?)
}

/// One row of `hftbook.LEVEL_DTYPE` (28 bytes, packed, little-endian): the record
/// `depth()` returns. Unaligned little-endian fields, so the struct has no padding and the
/// numpy layout on any host; the derives prove both.
#[derive(Debug, IntoBytes, FromBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct LevelRow {
    price_ticks: little_endian::I64,
    price: little_endian::F64,
    qty: little_endian::U64,
    orders: little_endian::U32,
}

const _: () = assert!(std::mem::size_of::<LevelRow>() == 28);

/// One row of `hftbook.BOOK_ORDER_DTYPE` (60 bytes, packed, little-endian): the record
/// `orders()` returns.
#[derive(Debug, IntoBytes, FromBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct BookOrderRow {
    order_id: little_endian::U64,
    price_ticks: little_endian::I64,
    price: little_endian::F64,
    qty: little_endian::U64,
    visible_qty: little_endian::U64,
    hidden_qty: little_endian::U64,
    account: little_endian::U32,
    timestamp: little_endian::U64,
}

const _: () = assert!(std::mem::size_of::<BookOrderRow>() == 60);

/// Collects what per-call reports need: fills and self-trade cancels of makers.
#[derive(Default, Debug)]
struct CallSink {
    fills: Vec<Fill>,
    stp: Vec<(u64, u64)>,
}

impl ReportSink for CallSink {
    #[inline]
    fn report(&mut self, r: Report) {
        match r {
            Report::Fill(f) => self.fills.push(f),
            Report::Cancelled {
                id,
                qty,
                reason: hftbook_core::CancelReason::SelfTrade,
                ..
            } => self.stp.push((id, qty)),
            _ => {}
        }
    }
}

/// The sink of a per-call `cancel`: keeps the side and price its `Cancelled` report carries
/// (the book read them while taking the order off; no lookup of our own).
#[derive(Debug)]
struct CancelAck {
    side: Side,
    price: Price,
}

impl ReportSink for CancelAck {
    #[inline]
    fn report(&mut self, r: Report) {
        if let Report::Cancelled { side, price, .. } = r {
            self.side = side;
            self.price = price;
        }
    }
}

/// A limit order book for one instrument, with price-time priority matching.
///
/// Prices are exact: give `price` as str, Decimal, int or float in currency units (a float
/// must be the nearest double to a tick multiple), or `price_ticks` as integer ticks.
/// Quantities are integer units, multiples of `lot_size`.
#[derive(Debug)]
#[pyclass(name = "OrderBook", module = "hftbook._core")]
pub struct PyOrderBook {
    book: OrderBook<SkipLadder>,
    spec: Spec,
    symbol: String,
    manual_clock: Option<Arc<AtomicU64>>,
    sink: CallSink,
    profiler: Profiler,
    rec: Recorder,
}

fn level_bytes(spec: &Spec, levels: &[LevelView], out: &mut Vec<u8>) {
    out.reserve(levels.len() * std::mem::size_of::<LevelRow>());
    for l in levels {
        let row = LevelRow {
            price_ticks: l.price.0.into(),
            price: spec.price_f64(l.price.0).into(),
            qty: spec.units(l.qty).into(),
            orders: l.orders.into(),
        };
        out.extend_from_slice(row.as_bytes());
    }
}

fn order_bytes(spec: &Spec, orders: &[OrderView]) -> Vec<u8> {
    let mut out = Vec::with_capacity(orders.len() * std::mem::size_of::<BookOrderRow>());
    for o in orders {
        let row = BookOrderRow {
            order_id: o.id.into(),
            price_ticks: o.price.0.into(),
            price: spec.price_f64(o.price.0).into(),
            qty: spec.units(o.qty).into(),
            visible_qty: spec.units(o.visible).into(),
            hidden_qty: spec.units(o.hidden).into(),
            account: o.account.into(),
            timestamp: o.ts.into(),
        };
        out.extend_from_slice(row.as_bytes());
    }
    out
}

impl PyOrderBook {
    fn report(&mut self, ex: hftbook_core::Execution) -> PyExecutionReport {
        // The incoming order's own STP cancel is its status, not a maker cancel.
        self.sink.stp.retain(|&(id, _)| id != ex.order_id);
        PyExecutionReport {
            ex,
            // A copy of exactly the fills' size: the sink keeps its capacity (moving the
            // vector out made every sweep grow a new one from empty, push by push).
            fills: if self.sink.fills.is_empty() {
                Vec::new()
            } else {
                let fills = self.sink.fills.clone();
                self.sink.fills.clear();
                fills
            },
            stp_cancelled: if self.sink.stp.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut self.sink.stp)
            },
            cancelled: None,
            spec: self.spec,
        }
    }

    /// Run a validated order through the book (the end of `submit`, shared with the
    /// vectorcall fast path in `fastcall.rs`): `qty_arg` and `display_arg` are the
    /// caller's values, named in errors.
    #[inline]
    fn submit_order(
        &mut self,
        py: Python<'_>,
        o: &NewOrder,
        qty_arg: &Bound<'_, PyAny>,
        display_arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyExecutionReport> {
        let t = self.rec.start();
        match self.book.submit(o, &mut self.sink) {
            Ok(ex) => {
                let kind = if ex.filled_qty > 0 {
                    OpKind::MATCH
                } else {
                    OpKind::ADD
                };
                self.rec.stop(kind, t);
                Ok(self.report(ex))
            }
            Err(e) => {
                let e = errors::in_units(&e, self.spec.lot_size);
                let value = match errors::field_of(&e) {
                    "qty" => Some(qty_arg.clone().unbind()),
                    "display_qty" => display_arg.map(|d| d.clone().unbind()),
                    "post_only" => {
                        Some(PyBool::new(py, o.post_only).to_owned().into_any().unbind())
                    }
                    _ => None,
                };
                Err(order_error(py, &e, value))
            }
        }
    }

    fn resolve_price(
        &self,
        py: Python<'_>,
        price: Option<&Bound<'_, PyAny>>,
        price_ticks: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<hftbook_core::Price>> {
        match (price, price_ticks) {
            (Some(_), Some(_)) => Err(raise(
                py,
                ErrorKind::InvalidPrice,
                "give either price or price_ticks, not both".into(),
                Some("price"),
                None,
                None,
            )),
            (Some(p), None) if !p.is_none() => Ok(Some(self.spec.price(py, p)?)),
            (None, Some(t)) if !t.is_none() => Ok(Some(self.spec.price_ticks(py, t)?)),
            _ => Ok(None),
        }
    }

    /// The id of an order to look up: `Ok(None)` for an integer no order can have (negative
    /// or beyond 2^64 - 1); an error for a non-integer.
    fn lookup_id(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
        if let Some(id) = convert::exact_i64(v) {
            return Ok(u64::try_from(id).ok());
        }
        if !v.is_instance_of::<PyBool>() {
            if let Ok(id) = v.extract::<u64>() {
                return Ok(Some(id));
            }
            if v.extract::<i128>().is_ok() || v.is_instance_of::<PyInt>() {
                return Ok(None);
            }
        }
        Err(raise(
            py,
            ErrorKind::InvalidOrder,
            format!("order_id {} must be an integer", v.repr()?),
            Some("order_id"),
            Some(v.clone().unbind()),
            None,
        ))
    }

    /// [`Self::lookup_id`] for cancel/modify: an impossible id is an unknown order.
    fn resting_id(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<u64> {
        Self::lookup_id(py, v)?.ok_or_else(|| {
            raise(
                py,
                ErrorKind::UnknownOrder,
                format!(
                    "order_id {} is not resting on the book (unknown, filled or cancelled)",
                    v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                ),
                Some("order_id"),
                Some(v.clone().unbind()),
                None,
            )
        })
    }

    fn order_id(py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let Some(v) = v else { return Ok(0) };
        if let Some(id) = convert::exact_i64(v).filter(|&id| id > 0) {
            return Ok(id.unsigned_abs());
        }
        if v.is_none() {
            return Ok(0);
        }
        // Any integer (numpy ones included, through `__index__`) but a bool.
        let id: Option<u64> = if v.is_instance_of::<PyBool>() {
            None
        } else {
            v.extract().ok()
        };
        match id {
            Some(id) if id > 0 => Ok(id),
            _ => Err(raise(
                py,
                ErrorKind::InvalidOrder,
                format!(
                    "order_id {} must be an integer in 1..=2^64-1 (or None to let the book assign one)",
                    v.repr()?
                ),
                Some("order_id"),
                Some(v.clone().unbind()),
                None,
            )),
        }
    }

    /// The rows of a batch array, copied out of it while the GIL is held.
    ///
    /// The copy is the batch's contract with other threads: the batch then validates and
    /// applies its own rows without the GIL, so a thread that writes the array meanwhile
    /// changes nothing the book sees (reading the array after releasing the GIL was a data
    /// race, and a row rewritten between validation and application reached the book
    /// unchecked). Cost: one memcpy, 48 bytes a row (docs/performance.md has the figure).
    fn commands(
        &self,
        py: Python<'_>,
        arr: &Bound<'_, PyAny>,
        adds_only: bool,
    ) -> PyResult<Vec<Command>> {
        let (cell, name) = if adds_only {
            (&ORDER_DTYPE, "ORDER_DTYPE")
        } else {
            (&COMMAND_DTYPE, "COMMAND_DTYPE")
        };
        let expected = dtype(py, cell, name)?;
        let invalid =
            |msg: String| raise(py, ErrorKind::InvalidOrder, msg, Some("array"), None, None);
        let Ok(a) = arr.cast::<PyUntypedArray>() else {
            return Err(invalid(format!(
                "expected a numpy array with dtype hftbook.{name}, got {}",
                arr.get_type().name()?
            )));
        };
        if a.ndim() != 1 {
            return Err(invalid(format!(
                "expected a 1-D array, got {} dimensions",
                a.ndim()
            )));
        }
        let dt = a.dtype();
        let expected = expected.cast::<numpy::PyArrayDescr>()?;
        if !dt.is_equiv_to(expected) {
            return Err(invalid(format!(
                "expected dtype hftbook.{name}, got {} (build it with np.zeros(n, dtype=hftbook.{name}))",
                dt.str()?
            )));
        }
        if !a.is_c_contiguous() {
            return Err(invalid(
                "the array is not contiguous (a strided view?): pass np.ascontiguousarray(a)"
                    .into(),
            ));
        }
        let n = a.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: `a` is a live ndarray (kept alive by `arr`), so its array pointer is
        // non-null and its `data` field is readable; the GIL is held.
        let data = unsafe { (*a.as_array_ptr()).fields.data };
        let len = n * std::mem::size_of::<Command>();
        // SAFETY: `data` points at the `n` rows of a C-contiguous 1-D array whose dtype is
        // `Command`'s 48-byte layout (both checked above): `len` bytes, initialised (numpy
        // memory), alive while `arr` is. The view lives only until the copy below, with the
        // GIL held: no Python thread can write the array meanwhile.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>().cast_const(), len) };
        let mut owned = match <[Command]>::ref_from_bytes(bytes) {
            // Any 48 bytes are a `Command` (`FromBytes`); alignment is checked here.
            Ok(rows) => rows.to_vec(),
            // A misaligned array (a view at an odd offset): copied byte for byte instead.
            Err(_) => {
                let mut rows = vec![Command::default(); n];
                rows.as_mut_bytes().copy_from_slice(bytes);
                rows
            }
        };
        if self.spec.lot_size == 1 {
            return Ok(owned);
        }
        for (row, c) in owned.iter_mut().enumerate() {
            let conv = |field: &'static str, v: u64| {
                self.spec.units_to_lots(py, field, v).map_err(|e| {
                    let msg = format!("row {row}: {field}: {}", e.value(py));
                    raise(
                        py,
                        ErrorKind::InvalidQuantity,
                        msg,
                        Some(field),
                        v.into_pyobject(py).ok().map(|o| o.into_any().unbind()),
                        Some(row),
                    )
                })
            };
            c.qty = conv("qty", c.qty)?;
            c.display_qty = conv("display_qty", c.display_qty)?;
        }
        Ok(owned)
    }

    fn batch_result(&self, py: Python<'_>, out: BatchOutcome) -> PyResult<PyBatchResult> {
        let lot = self.spec.lot_size;
        let mut out = out;
        if lot != 1 {
            for v in out
                .filled_qty
                .iter_mut()
                .chain(out.remaining_qty.iter_mut())
            {
                *v = v.saturating_mul(lot);
            }
            for f in &mut out.fills {
                f.qty = f.qty.saturating_mul(lot);
                f.maker_remaining = f.maker_remaining.saturating_mul(lot);
            }
        }
        let rows = out.order_ids.len();
        let n_fills = out.fills.len();
        let fills = fills_array(py, out.fills)?;
        Ok(PyBatchResult {
            order_ids: out.order_ids.into_pyarray(py).into_any().unbind(),
            status: out.status.into_pyarray(py).into_any().unbind(),
            reason: out.reason.into_pyarray(py).into_any().unbind(),
            filled_qty: out.filled_qty.into_pyarray(py).into_any().unbind(),
            remaining_qty: out.remaining_qty.into_pyarray(py).into_any().unbind(),
            fills,
            rows,
            n_fills,
        })
    }

    fn run_batch(
        &mut self,
        py: Python<'_>,
        arr: &Bound<'_, PyAny>,
        adds_only: bool,
    ) -> PyResult<PyBatchResult> {
        let cmds = self.commands(py, arr, adds_only)?;
        let book = &mut self.book;
        let rec = &mut self.rec;
        let res = run_detached(py, move || {
            let mut out = BatchOutcome::default();
            let t = rec.start();
            let r = batch::apply_with(book, &cmds, adds_only, &mut out);
            if r.is_ok() {
                rec.stop(OpKind::BATCH, t);
            }
            r.map(|()| out)
        })?;
        match res {
            Ok(out) => self.batch_result(py, out),
            Err(e) => {
                // The row's value of the column at fault, as the caller wrote it.
                let value = arr
                    .get_item(e.row)
                    .and_then(|r| r.get_item(errors::row_field(&e)))
                    .and_then(|v| v.call_method0("item"))
                    .ok()
                    .map(Bound::unbind);
                Err(row_error(py, &e, self.spec.lot_size, value))
            }
        }
    }
}

#[pymethods]
impl PyOrderBook {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (symbol, tick_size=None, lot_size=1, *, min_qty=None, max_qty=None, stp_default=None, clock="monotonic"))]
    fn new(
        py: Python<'_>,
        symbol: String,
        tick_size: Option<&Bound<'_, PyAny>>,
        lot_size: u64,
        min_qty: Option<u64>,
        max_qty: Option<u64>,
        stp_default: Option<&Bound<'_, PyAny>>,
        clock: &str,
    ) -> PyResult<Self> {
        let text: String = match tick_size {
            None => "0.01".to_string(),
            Some(t) if t.is_instance_of::<PyString>() => t.extract()?,
            Some(t) => t.str()?.extract()?,
        };
        let tick = TickSize::parse(&text)
            .map_err(|e| order_error(py, &e, tick_size.map(|t| t.clone().unbind())))?;
        let bad_qty = |field: &str, v: u64, rule: &str| {
            raise(
                py,
                ErrorKind::InvalidQuantity,
                format!("{field} {v} {rule}"),
                Some(field),
                v.into_pyobject(py).ok().map(|o| o.into_any().unbind()),
                None,
            )
        };
        if lot_size == 0 {
            return Err(bad_qty("lot_size", 0, "must be at least 1"));
        }
        let spec = Spec::new(tick, lot_size);
        let mut limits = QtyLimits::default();
        if let Some(m) = min_qty {
            if m == 0 || !m.is_multiple_of(lot_size) {
                return Err(bad_qty(
                    "min_qty",
                    m,
                    "must be a positive multiple of lot_size",
                ));
            }
            limits.min_qty = m / lot_size;
        }
        if let Some(m) = max_qty {
            if !m.is_multiple_of(lot_size) || m / lot_size < limits.min_qty {
                return Err(bad_qty(
                    "max_qty",
                    m,
                    "must be a multiple of lot_size and >= min_qty",
                ));
            }
            limits.max_qty = m / lot_size;
        }
        let stp = match stp_default {
            Some(s) if !s.is_none() => convert::stp_field(py, "stp_default", s)?,
            _ => hftbook_core::StpMode::CancelNewest,
        };
        let (clk, manual) = match clock {
            "monotonic" => (Clock::default(), None),
            "manual" => {
                let (c, h) = Clock::manual(0);
                (c, Some(h))
            }
            other => {
                return Err(raise(
                    py,
                    ErrorKind::InvalidOrder,
                    format!("clock {other:?} is not one of monotonic, manual"),
                    Some("clock"),
                    other.into_pyobject(py).ok().map(|o| o.into_any().unbind()),
                    None,
                ))
            }
        };
        let profiler = Profiler::new(false);
        Ok(PyOrderBook {
            book: OrderBook::with_options(clk, limits, stp),
            spec,
            symbol,
            manual_clock: manual,
            sink: CallSink::default(),
            rec: profiler.recorder(),
            profiler,
        })
    }

    /// Instrument symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Tick size as an exact Decimal.
    #[getter]
    fn tick_size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.spec.decimal(py, 1)
    }

    /// Units per lot.
    #[getter]
    fn lot_size(&self) -> u64 {
        self.spec.lot_size
    }

    /// Operations applied so far (sequence number of the last one).
    #[getter]
    fn seq(&self) -> u64 {
        self.book.seq()
    }

    /// Trades printed so far.
    #[getter]
    fn trade_count(&self) -> u64 {
        self.book.trade_count()
    }

    /// Submit a new order. Returns an `ExecutionReport`; matching outcomes (FOK not
    /// fillable, post-only would take, self-trade) are statuses, not exceptions.
    ///
    /// Raises `InvalidPrice`, `InvalidQuantity`, `DuplicateOrderId` or `InvalidOrder`
    /// (the book is then unchanged).
    #[pyo3(signature = (side, price=None, qty=None, *, price_ticks=None, order_id=None, tif=None, order_type=None, account=None, display_qty=None, post_only=false, stp=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        py: Python<'_>,
        side: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        qty: Option<&Bound<'_, PyAny>>,
        price_ticks: Option<&Bound<'_, PyAny>>,
        order_id: Option<&Bound<'_, PyAny>>,
        tif: Option<&Bound<'_, PyAny>>,
        order_type: Option<&Bound<'_, PyAny>>,
        account: Option<&Bound<'_, PyAny>>,
        display_qty: Option<&Bound<'_, PyAny>>,
        post_only: bool,
        stp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyExecutionReport> {
        let fast_account = account
            .and_then(convert::exact_i64)
            .and_then(|v| u32::try_from(v).ok());
        let account: u32 = match account {
            _ if fast_account.is_some() => fast_account.unwrap_or(0),
            None => 0,
            Some(a) if a.is_none() => 0,
            Some(a) if !a.is_instance_of::<PyBool>() && a.extract::<u32>().is_ok() => {
                a.extract()?
            }
            Some(account) => {
                return Err(raise(
                    py,
                    ErrorKind::InvalidOrder,
                    format!(
                        "account {} must be an integer in 0..=4294967295 (0 = no account)",
                        account.repr()?
                    ),
                    Some("account"),
                    Some(account.clone().unbind()),
                    None,
                ))
            }
        };
        let side = convert::side(py, side)?;
        let ot = convert::order_type(py, order_type)?;
        let tif = convert::tif(py, tif, ot)?;
        let Some(qty_arg) = qty else {
            return Err(raise(
                py,
                ErrorKind::InvalidQuantity,
                "qty is required".into(),
                Some("qty"),
                None,
                None,
            ));
        };
        let qty = self.spec.qty(py, "qty", qty_arg)?;
        let display_arg = display_qty.filter(|d| !d.is_none());
        let display_qty = match display_arg {
            Some(d) => self.spec.qty(py, "display_qty", d)?,
            None => 0,
        };
        if ot == hftbook_core::OrderType::Market
            && (price.is_some_and(|p| !p.is_none()) || price_ticks.is_some_and(|t| !t.is_none()))
        {
            return Err(errors::market_with_price(py, "market", price, price_ticks));
        }
        let price = self.resolve_price(py, price, price_ticks)?;
        let price = match (ot, price) {
            (hftbook_core::OrderType::Limit, None) => {
                return Err(order_error(
                    py,
                    &hftbook_core::OrderError::MissingPrice,
                    None,
                ))
            }
            (_, p) => p.unwrap_or_default(),
        };
        let stp = match stp {
            Some(s) if !s.is_none() => Some(convert::stp(py, s)?),
            _ => None,
        };
        let o = NewOrder {
            id: Self::order_id(py, order_id)?,
            side,
            order_type: ot,
            price,
            qty,
            display_qty,
            tif,
            post_only,
            account,
            stp,
        };
        self.submit_order(py, &o, qty_arg, display_arg)
    }

    /// Cancel a resting order. Raises `UnknownOrder` if it is not resting.
    ///
    /// The report acknowledges the cancel: `cancelled_qty` is the order's open quantity
    /// (displayed + iceberg reserve), `side`, `price` and `price_ticks` are the side and
    /// price it rested at.
    fn cancel(
        &mut self,
        py: Python<'_>,
        order_id: &Bound<'_, PyAny>,
    ) -> PyResult<PyExecutionReport> {
        // A plain non-negative int needs no checks (anything else: `resting_id`).
        let order_id = match convert::exact_i64(order_id) {
            Some(id) if id >= 0 => id.unsigned_abs(),
            _ => Self::resting_id(py, order_id)?,
        };
        let t = self.rec.start();
        let mut ack = CancelAck {
            side: Side::Buy,
            price: Price(0),
        };
        let res = self.book.cancel(order_id, &mut ack);
        if res.is_ok() {
            self.rec.stop(OpKind::CANCEL, t);
        }
        match res {
            Ok(qty) => Ok(PyExecutionReport {
                ex: hftbook_core::Execution {
                    order_id,
                    status: hftbook_core::OrderStatus::Cancelled,
                    filled_qty: 0,
                    remaining_qty: 0,
                    cancelled_qty: qty,
                    reason: Some(hftbook_core::Reason::Cancel(
                        hftbook_core::CancelReason::Requested,
                    )),
                },
                fills: Vec::new(),
                stp_cancelled: Vec::new(),
                cancelled: Some((ack.side, ack.price)),
                spec: self.spec,
            }),
            Err(e) => Err(order_error(py, &e, None)),
        }
    }

    /// Change a resting order's price and/or quantity (its open quantity after the change).
    ///
    /// A size decrease at the same price keeps time priority; a price change or a size
    /// increase loses it; a crossing new price trades at once at the makers' prices.
    /// Raises `UnknownOrder` if it is not resting.
    #[pyo3(signature = (order_id, price=None, qty=None, *, price_ticks=None))]
    fn modify(
        &mut self,
        py: Python<'_>,
        order_id: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        qty: Option<&Bound<'_, PyAny>>,
        price_ticks: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyExecutionReport> {
        let order_id = match convert::exact_i64(order_id) {
            Some(id) if id >= 0 => id.unsigned_abs(),
            _ => Self::resting_id(py, order_id)?,
        };
        let price = self.resolve_price(py, price, price_ticks)?;
        let qty_arg = qty.filter(|q| !q.is_none());
        let qty = match qty_arg {
            Some(q) => Some(self.spec.qty(py, "qty", q)?),
            None => None,
        };
        let t = self.rec.start();
        let res = self.book.modify(order_id, price, qty, &mut self.sink);
        if res.is_ok() {
            self.rec.stop(OpKind::MODIFY, t);
        }
        match res {
            Ok(ex) => Ok(self.report(ex)),
            Err(e) => {
                self.sink.fills.clear();
                self.sink.stp.clear();
                let e = errors::in_units(&e, self.spec.lot_size);
                let value = match errors::field_of(&e) {
                    "qty" => qty_arg.map(|q| q.clone().unbind()),
                    _ => None,
                };
                Err(order_error(py, &e, value))
            }
        }
    }

    /// Best bid level, or None.
    fn best_bid(&self) -> Option<PyLevel> {
        self.book.best_bid().map(|level| PyLevel {
            level,
            spec: self.spec,
        })
    }

    /// Best ask level, or None.
    fn best_ask(&self) -> Option<PyLevel> {
        self.book.best_ask().map(|level| PyLevel {
            level,
            spec: self.spec,
        })
    }

    /// Best ask − best bid as an exact Decimal, or None if a side is empty.
    fn spread<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match (self.book.best_bid(), self.book.best_ask()) {
            (Some(b), Some(a)) => Ok(Some(self.spec.decimal(py, a.price.0 - b.price.0)?)),
            _ => Ok(None),
        }
    }

    /// (best bid + best ask) / 2 as an exact Decimal, or None if a side is empty.
    fn mid<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match (self.book.best_bid(), self.book.best_ask()) {
            (Some(b), Some(a)) => {
                let sum = self.spec.decimal(py, a.price.0 + b.price.0)?;
                Ok(Some(sum.div(2)?))
            }
            _ => Ok(None),
        }
    }

    /// Up to `n` levels per side as numpy arrays (`hftbook.LEVEL_DTYPE`), best first.
    #[pyo3(signature = (n=10))]
    fn depth(&self, py: Python<'_>, n: usize) -> PyResult<PyDepth> {
        let dt = dtype(py, &LEVEL_DTYPE, "LEVEL_DTYPE")?;
        let mut b = Vec::new();
        level_bytes(&self.spec, &self.book.depth(Side::Buy, n), &mut b);
        let mut a = Vec::new();
        level_bytes(&self.spec, &self.book.depth(Side::Sell, n), &mut a);
        Ok(PyDepth {
            bids: bytes_as(py, b, dt)?,
            asks: bytes_as(py, a, dt)?,
            seq: Some(self.book.seq()),
        })
    }

    /// Resting orders of one side in priority order (L3), as a numpy array
    /// (`hftbook.BOOK_ORDER_DTYPE`).
    fn orders(&self, py: Python<'_>, side: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let side = convert::side(py, side)?;
        let dt = dtype(py, &BOOK_ORDER_DTYPE, "BOOK_ORDER_DTYPE")?;
        bytes_as(py, order_bytes(&self.spec, &self.book.orders(side)), dt)
    }

    /// A resting order by id, or None.
    fn order(&self, py: Python<'_>, order_id: &Bound<'_, PyAny>) -> PyResult<Option<PyOrder>> {
        Ok(Self::lookup_id(py, order_id)?
            .and_then(|id| self.book.order(id))
            .map(|order| PyOrder {
                order,
                spec: self.spec,
            }))
    }

    /// Displayed quantity resting at a price (0 if no level).
    #[pyo3(signature = (price=None, *, price_ticks=None))]
    fn volume_at(
        &self,
        py: Python<'_>,
        price: Option<&Bound<'_, PyAny>>,
        price_ticks: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let p = self
            .resolve_price(py, price, price_ticks)?
            .ok_or_else(|| order_error(py, &hftbook_core::OrderError::MissingPrice, None))?;
        Ok(self.spec.units(self.book.volume_at(p)))
    }

    /// Submit an array of new orders (`hftbook.ORDER_DTYPE`). The whole array is validated
    /// first (nothing applied if a row is invalid; the error names the row and field); the
    /// GIL is released while it runs.
    ///
    /// The rows are copied out of the array before the GIL is released, and the batch
    /// validates and applies that copy: another thread may write the array while the call
    /// runs (it changes nothing the book sees), and the array can be reused as soon as the
    /// call returns. The copy costs one memcpy of 48 bytes a row and that much memory for
    /// the call's duration. (On a free-threaded Python, a thread writing the array while
    /// it is copied is a data race, as for any numpy array: the rows read are then
    /// unspecified but still validated.)
    fn submit_batch(
        &mut self,
        py: Python<'_>,
        orders: &Bound<'_, PyAny>,
    ) -> PyResult<PyBatchResult> {
        self.run_batch(py, orders, true)
    }

    /// Apply a mixed stream of adds, cancels and modifies (`hftbook.COMMAND_DTYPE`).
    /// Validated as a whole first; cancels/modifies of orders that are not resting are
    /// per-row `rejected` statuses. The GIL is released while it runs.
    ///
    /// As `submit_batch`, the rows are copied out of the array before the GIL is released
    /// (48 bytes a row), so writes to the array from another thread during the call change
    /// nothing the book sees.
    fn apply_batch(
        &mut self,
        py: Python<'_>,
        commands: &Bound<'_, PyAny>,
    ) -> PyResult<PyBatchResult> {
        self.run_batch(py, commands, false)
    }

    /// A lock-free reader of this book's top of book and depth, usable from other threads
    /// while this book is being written (e.g. during `apply_batch`).
    fn reader(&mut self) -> PyBookReader {
        PyBookReader {
            reader: self.book.reader(),
            spec: self.spec,
        }
    }

    /// Test hook: let the order arena hold at most `chunks` chunks of 4096 resting orders
    /// (None: no limit but memory). Growing beyond them then fails as an allocation
    /// failure does (`hftbook.CapacityError`).
    #[pyo3(signature = (chunks))]
    fn _set_arena_chunk_limit(&mut self, chunks: Option<usize>) {
        self.book.set_arena_chunk_limit(chunks);
    }

    /// Set the manual clock (books created with `clock="manual"`), in nanoseconds.
    fn set_time(&self, py: Python<'_>, ns: u64) -> PyResult<()> {
        match &self.manual_clock {
            Some(c) => {
                c.store(ns, Ordering::Relaxed);
                Ok(())
            }
            None => Err(raise(
                py,
                ErrorKind::InvalidOrder,
                "set_time needs a book created with clock=\"manual\"".into(),
                Some("clock"),
                None,
                None,
            )),
        }
    }

    /// Per-operation latency statistics of this book (a dict, the input of
    /// `hftbook.profiling.LatencyReport`): the core call of every successful `submit`
    /// (kind "add", or "match" when it traded), `cancel`, `modify`, and of each
    /// `submit_batch`/`apply_batch` ("batch"), timed in Rust with the calibrated TSC.
    /// Empty until `profiling` is switched on.
    fn profile<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        profile::snapshot_dict(py, self.profiler.snapshot())
    }

    /// Discard the latency statistics recorded so far.
    fn reset_profile(&self) {
        self.profiler.reset();
    }

    /// Whether operations are timed (default False: off costs one relaxed load per call).
    #[getter]
    fn get_profiling(&self) -> bool {
        self.profiler.is_enabled()
    }

    #[setter]
    fn set_profiling(&self, on: bool) {
        self.profiler.set_enabled(on);
    }

    /// A thread-safe handle on this book's profiler, to snapshot, reset or switch it from
    /// another thread (also while this book runs a batch).
    fn profiler(&self) -> PyProfiler {
        PyProfiler::new(&self.profiler)
    }

    /// Check internal invariants (for tests); raises `HftbookError` if one is broken.
    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        self.book
            .check_invariants()
            .map_err(|e| internal(py, format!("book invariant broken: {e}")))
    }

    fn __len__(&self) -> usize {
        self.book.len()
    }

    fn __contains__(&self, py: Python<'_>, order_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(Self::lookup_id(py, order_id)?.is_some_and(|id| self.book.order(id).is_some()))
    }

    fn __repr__(&self) -> String {
        let fmt = |l: Option<LevelView>| {
            l.map_or_else(
                || "None".to_string(),
                |l| {
                    format!(
                        "{}x{}",
                        self.spec.tick.format(l.price),
                        self.spec.units(l.qty)
                    )
                },
            )
        };
        format!(
            "OrderBook(symbol={:?}, tick_size={}, orders={}, bid={}, ask={})",
            self.symbol,
            self.spec.tick,
            self.book.len(),
            fmt(self.book.best_bid()),
            fmt(self.book.best_ask())
        )
    }
}

/// Lock-free read handle on an `OrderBook` (safe to use from other threads).
#[derive(Debug)]
#[pyclass(name = "BookReader", module = "hftbook._core", frozen)]
pub struct PyBookReader {
    reader: BookReader,
    spec: Spec,
}

impl PyBookReader {
    /// A reader over `reader` with the instrument's conversions.
    pub(crate) fn from_parts(reader: BookReader, spec: Spec) -> PyBookReader {
        PyBookReader { reader, spec }
    }
}

#[pymethods]
impl PyBookReader {
    /// `(seq, best_bid, best_ask)`: a consistent pair as of one operation (Levels or None).
    fn top(&self, py: Python<'_>) -> (u64, Option<PyLevel>, Option<PyLevel>) {
        let t = py.detach(|| self.reader.top());
        let lv = |l: Option<LevelView>| {
            l.map(|level| PyLevel {
                level,
                spec: self.spec,
            })
        };
        (t.seq, lv(t.bid), lv(t.ask))
    }

    /// Up to `n` levels per side read lock-free; `seq` is set when the read was consistent
    /// (no operation of the writer ran during it). A read the writer overlapped is retried
    /// (up to 64 times) before one with `seq` None is returned.
    #[pyo3(signature = (n=10))]
    fn depth(&self, py: Python<'_>, n: usize) -> PyResult<PyDepth> {
        let (seq, bids, asks) = py.detach(|| {
            let mut got = self.reader.depth(n);
            for _ in 0..63 {
                if got.0.is_some() {
                    break;
                }
                got = self.reader.depth(n);
            }
            got
        });
        let dt = dtype(py, &LEVEL_DTYPE, "LEVEL_DTYPE")?;
        let mut b = Vec::new();
        level_bytes(&self.spec, &bids, &mut b);
        let mut a = Vec::new();
        level_bytes(&self.spec, &asks, &mut a);
        Ok(PyDepth {
            bids: bytes_as(py, b, dt)?,
            asks: bytes_as(py, a, dt)?,
            seq,
        })
    }

    fn __repr__(&self) -> String {
        "BookReader()".to_string()
    }
}

/// Commands as a `COMMAND_DTYPE` array, without copying them: `Command` has no padding
/// (its `IntoBytes` derive proves it), so the vector's memory is the array's, every byte
/// initialised. (The struct used to end its fields at byte 44 and leave 4 uninitialised
/// padding bytes per row, which a byte view exposed; two identical workloads then differed
/// in `tobytes()`.) Kept in u64 words so the memory is 8-byte aligned.
fn commands_array(py: Python<'_>, cmds: Vec<Command>) -> PyResult<Py<PyAny>> {
    bytes_as(
        py,
        into_words(cmds),
        dtype(py, &COMMAND_DTYPE, "COMMAND_DTYPE")?,
    )
}

/// W1 workload: `n` non-crossing limit adds within ±500 ticks of the mid (seeded), as a
/// `COMMAND_DTYPE` array. The same generator feeds the Rust benchmarks.
#[pyfunction]
fn workload_w1(py: Python<'_>, n: usize, seed: u64) -> PyResult<Py<PyAny>> {
    let cmds = py.detach(|| hftbook_core::workload::w1(n, seed));
    commands_array(py, cmds)
}

/// W2 workload: `(prefill, ops)` — 10k resting orders, then `n` ops (~60 % adds near the
/// touch, ~30 % cancels of live orders, ~10 % marketable orders), as `COMMAND_DTYPE` arrays.
#[pyfunction]
fn workload_w2(py: Python<'_>, n: usize, seed: u64) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let (pre, ops) = py.detach(|| hftbook_core::workload::w2(n, seed));
    Ok((commands_array(py, pre)?, commands_array(py, ops)?))
}

/// The market flows' names (`Flow::ALL`'s order), exported as `FLOW_NAMES`.
fn flow_names() -> Vec<&'static str> {
    hftbook_core::workload::Flow::ALL
        .iter()
        .map(|f| f.name())
        .collect()
}

/// One of the five market flows as a `COMMAND_DTYPE` array: `n` orders, about `2 n`
/// messages (adds, 15 % of them IOC; cancels; modifies; and cancels / modifies of orders
/// already gone, which the book refuses as `unknown_order`) around $167.52 in $0.005 ticks
/// (price 33 504 ticks), replayed from an empty book.
///
/// `name` is one of `FLOW_NAMES`: `normal` (the mid diffuses 2 % over the run), `static`
/// (it never moves), `swing_25` and `swing_40` (25 % and 40 %), `flash_crash` (60 %). Order
/// ids are 1, 2, ..., n numbered along the price path before the arrival order is shuffled,
/// so they arrive as a random permutation (`shuffled_ids=True`, the cross-engine
/// benchmark's construction), or with `shuffled_ids=False` numbered in arrival order.
/// The same `(name, n, seed, shuffled_ids)` always gives the same array; the same generator
/// feeds the Rust benchmarks (`hftbook_core::workload::flow`).
///
/// >>> import hftbook as hb
/// >>> from hftbook._core import workload_flow
/// >>> cmds = workload_flow("swing_25", 1_000, seed=7)
/// >>> cmds.dtype == hb.COMMAND_DTYPE, len(cmds)
/// (True, 2015)
/// >>> book = hb.OrderBook("FLOW", tick_size="0.005")
/// >>> res = book.apply_batch(cmds)
/// >>> sorted({hb.STATUS_NAMES[s] for s in res.status})
/// ['cancelled', 'filled', 'new', 'partially_filled', 'rejected']
#[pyfunction]
#[pyo3(signature = (name, n, seed=23, shuffled_ids=true))]
fn workload_flow(
    py: Python<'_>,
    name: &str,
    n: usize,
    seed: u64,
    shuffled_ids: bool,
) -> PyResult<Py<PyAny>> {
    let Some(flow) = hftbook_core::workload::Flow::from_name(name) else {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "flow '{name}' is not a market flow: expected one of {}",
            flow_names().join(", ")
        )));
    };
    let cmds = py.detach(|| hftbook_core::workload::flow_with(flow, n, seed, shuffled_ids));
    commands_array(py, cmds)
}

/// Test hook: panics inside the same detached, unwind-catching wrapper every batch uses, to
/// prove a Rust panic surfaces as `HftbookError` and the interpreter survives.
#[pyfunction]
fn _panic_in_core(py: Python<'_>) -> PyResult<()> {
    run_detached(py, || -> () { panic!("deliberate test panic") })
}

/// Status names indexed by the batch status codes.
const STATUS_NAMES: [&str; 5] = ["new", "partially_filled", "filled", "cancelled", "rejected"];

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // First, before the module's own allocations: mimalloc's options (see allocator.rs).
    allocator::configure();
    m.add_class::<PyOrderBook>()?;
    fastcall::install(m.py())?;
    m.add_class::<PyBookReader>()?;
    m.add_class::<engine::PyEngineCore>()?;
    m.add_class::<engine::PySubscription>()?;
    m.add_class::<feed::PyFeedServer>()?;
    m.add_function(wrap_pyfunction!(engine::_replay_journal, m)?)?;
    m.add_function(wrap_pyfunction!(engine::_audit, m)?)?;
    m.add_function(wrap_pyfunction!(engine::_scan_events, m)?)?;
    m.add(
        "EVENT_KINDS",
        PyTuple::new(m.py(), hftbook_engine::EVENT_KINDS)?,
    )?;
    m.add(
        "ENGINE_REASONS",
        PyTuple::new(m.py(), hftbook_engine::REASONS)?,
    )?;
    m.add(
        "COMMAND_KINDS",
        PyTuple::new(m.py(), hftbook_engine::record::cmd::NAMES)?,
    )?;
    m.add_class::<PyExecutionReport>()?;
    objects::install_report_alloc(m.py())?;
    convert::init_int_layout(m.py())?;
    m.add_class::<PyFill>()?;
    m.add_class::<PyLevel>()?;
    m.add_class::<PyOrder>()?;
    m.add_class::<PyDepth>()?;
    m.add_class::<PyBatchResult>()?;
    m.add_function(wrap_pyfunction!(workload_w1, m)?)?;
    m.add_function(wrap_pyfunction!(workload_w2, m)?)?;
    m.add_function(wrap_pyfunction!(workload_flow, m)?)?;
    m.add("FLOW_NAMES", PyList::new(m.py(), flow_names())?.to_tuple())?;
    m.add_function(wrap_pyfunction!(_panic_in_core, m)?)?;
    m.add_class::<PyProfiler>()?;
    m.add_function(wrap_pyfunction!(profile::memory_stats, m)?)?;
    m.add_function(wrap_pyfunction!(profile::reset_peak_memory, m)?)?;
    m.add_function(wrap_pyfunction!(profile::_allocator_options, m)?)?;
    m.add_function(wrap_pyfunction!(profile::cpu_times, m)?)?;
    m.add(
        "STATUS_NAMES",
        PyList::new(m.py(), STATUS_NAMES)?.to_tuple(),
    )?;
    let reasons = hftbook_core::ReasonCode::names();
    m.add("REASON_NAMES", PyList::new(m.py(), reasons)?.to_tuple())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    lobster::register(m)?;
    mbo::register(m)?;
    itch::register(m)?;
    Ok(())
}
