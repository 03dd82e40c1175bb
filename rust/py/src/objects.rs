//! Value objects returned to Python: execution reports, fills, levels, orders, depth,
//! batch results. All frozen (immutable, thread-safe).

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use hftbook_core::{Execution, Fill, LevelView, OrderStatus, OrderView, Price, Reason, Side};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use pyo3::{intern, IntoPyObjectExt};

use crate::convert::Spec;

/// The interned status name.
pub fn status_str(py: Python<'_>, s: OrderStatus) -> &Bound<'_, PyString> {
    match s {
        OrderStatus::New => intern!(py, "new"),
        OrderStatus::PartiallyFilled => intern!(py, "partially_filled"),
        OrderStatus::Filled => intern!(py, "filled"),
        OrderStatus::Cancelled => intern!(py, "cancelled"),
        OrderStatus::Rejected => intern!(py, "rejected"),
    }
}

/// The interned side name.
pub fn side_str(py: Python<'_>, s: Side) -> &Bound<'_, PyString> {
    match s {
        Side::Buy => intern!(py, "buy"),
        Side::Sell => intern!(py, "sell"),
    }
}

/// One trade.
#[derive(Debug)]
#[pyclass(name = "Fill", module = "hftbook._core", frozen, freelist = 256)]
pub struct PyFill {
    pub fill: Fill,
    pub spec: Spec,
}

#[pymethods]
impl PyFill {
    /// Resting order id.
    #[getter]
    fn maker_id(&self) -> u64 {
        self.fill.maker_id
    }
    /// Incoming order id.
    #[getter]
    fn taker_id(&self) -> u64 {
        self.fill.taker_id
    }
    /// Trade price (the maker's), exact.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.spec.decimal(py, self.fill.price)
    }
    /// Trade price in ticks.
    #[getter]
    fn price_ticks(&self) -> i64 {
        self.fill.price
    }
    /// Traded quantity (units).
    #[getter]
    fn qty(&self) -> u64 {
        self.spec.units(self.fill.qty)
    }
    /// Maker's open quantity after the trade (units).
    #[getter]
    fn maker_remaining(&self) -> u64 {
        self.spec.units(self.fill.maker_remaining)
    }
    /// "buy" if the taker bought.
    #[getter]
    fn taker_side<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        side_str(py, self.fill.taker_side()).clone()
    }
    /// Trade sequence number in the book.
    #[getter]
    fn seq(&self) -> u64 {
        self.fill.seq
    }
    /// Timestamp (ns) of the operation.
    #[getter]
    fn timestamp(&self) -> u64 {
        self.fill.ts
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyFill>()
            .is_ok_and(|o| o.get().fill == self.fill)
    }
    fn __hash__(&self) -> u64 {
        self.fill.seq ^ (self.fill.maker_id << 1) ^ (self.fill.taker_id << 2)
    }
    fn __repr__(&self) -> String {
        format!(
            "Fill(seq={}, maker_id={}, taker_id={}, price={}, qty={}, taker_side='{}')",
            self.fill.seq,
            self.fill.maker_id,
            self.fill.taker_id,
            self.spec.tick.format(hftbook_core::Price(self.fill.price)),
            self.spec.units(self.fill.qty),
            self.fill.taker_side().as_str()
        )
    }
}

/// What happened to one submit, cancel or modify.
///
/// A report of `cancel()` acknowledges the cancel the way a venue does: `side`, `price`
/// (exact) / `price_ticks` of the order as it rested, and `cancelled_qty`, its open
/// quantity (displayed + iceberg reserve). On reports of `submit()` and `modify()` these
/// three are None (a submit's side and price are the caller's own arguments).
#[derive(Debug)]
#[pyclass(name = "ExecutionReport", module = "hftbook._core", frozen)]
pub struct PyExecutionReport {
    pub ex: Execution,
    pub fills: Vec<Fill>,
    pub stp_cancelled: Vec<(u64, u64)>,
    /// Side and price of the order a `cancel()` took off the book; None for other calls.
    pub cancelled: Option<(Side, Price)>,
    pub spec: Spec,
}

#[pymethods]
impl PyExecutionReport {
    /// The order id (assigned by the book when none was given).
    #[getter]
    fn order_id(&self) -> u64 {
        self.ex.order_id
    }
    /// "new", "partially_filled", "filled", "cancelled" or "rejected".
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        status_str(py, self.ex.status).clone()
    }
    /// Why the order was cancelled or rejected ("fok_not_fillable", "post_only_would_take",
    /// "self_trade", "unfilled_ioc", "requested", "unknown_order"), else None.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.ex.reason.map(Reason::as_str)
    }
    /// Quantity filled by this operation (units).
    #[getter]
    fn filled_qty(&self) -> u64 {
        self.spec.units(self.ex.filled_qty)
    }
    /// Quantity left resting on the book (units).
    #[getter]
    fn remaining_qty(&self) -> u64 {
        self.spec.units(self.ex.remaining_qty)
    }
    /// Quantity cancelled by this operation (units): IOC residual, self-trade, cancel.
    /// For `cancel()`, the order's open quantity (displayed + iceberg reserve).
    #[getter]
    fn cancelled_qty(&self) -> u64 {
        self.spec.units(self.ex.cancelled_qty)
    }
    /// Side ("buy" or "sell") of the order `cancel()` took off the book; None on reports
    /// of `submit()` and `modify()`.
    #[getter]
    fn side<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        self.cancelled.map(|(side, _)| side_str(py, side).clone())
    }
    /// Price, exact, at which the order `cancel()` took off the book rested; None on
    /// reports of `submit()` and `modify()`.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.cancelled
            .map(|(_, price)| self.spec.decimal(py, price.0))
            .transpose()
    }
    /// `price` in ticks; None on reports of `submit()` and `modify()`.
    #[getter]
    fn price_ticks(&self) -> Option<i64> {
        self.cancelled.map(|(_, price)| price.0)
    }
    /// The trades, in order.
    #[getter]
    fn fills<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.fills.iter().map(|f| PyFill {
                fill: *f,
                spec: self.spec,
            }),
        )
    }
    /// Resting orders of the same account cancelled by self-trade prevention:
    /// list of (order_id, qty).
    #[getter]
    fn self_trade_cancels(&self) -> Vec<(u64, u64)> {
        self.stp_cancelled
            .iter()
            .map(|&(id, q)| (id, self.spec.units(q)))
            .collect()
    }
    /// Volume-weighted average fill price, exact, or None without fills.
    #[getter]
    fn avg_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if self.fills.is_empty() {
            return Ok(None);
        }
        let notional: i128 = self
            .fills
            .iter()
            .map(|f| i128::from(f.price) * i128::from(f.qty))
            .sum();
        let qty: i128 = self.fills.iter().map(|f| i128::from(f.qty)).sum();
        let dec = crate::convert::decimal_type(py)?;
        let tick = dec.call1((self.spec.tick.to_string(),))?;
        let n = dec.call1((notional.to_string(),))?;
        let q = dec.call1((qty.to_string(),))?;
        Ok(Some(n.mul(tick)?.div(q)?))
    }
    fn __bool__(&self) -> bool {
        self.ex.status != OrderStatus::Rejected
    }
    fn __repr__(&self) -> String {
        let reason = self
            .ex
            .reason
            .map_or_else(|| "None".to_string(), |r| format!("'{}'", r.as_str()));
        let cancelled = self.cancelled.map_or_else(String::new, |(side, price)| {
            format!(
                ", side='{}', price={}",
                side.as_str(),
                self.spec.tick.format(price)
            )
        });
        format!(
            "ExecutionReport(order_id={}, status='{}', filled_qty={}, remaining_qty={}, \
             cancelled_qty={}, fills={}, reason={}{})",
            self.ex.order_id,
            self.ex.status.as_str(),
            self.spec.units(self.ex.filled_qty),
            self.spec.units(self.ex.remaining_qty),
            self.spec.units(self.ex.cancelled_qty),
            self.fills.len(),
            reason,
            cancelled
        )
    }
}

/// One price level.
#[derive(Debug)]
#[pyclass(name = "Level", module = "hftbook._core", frozen, freelist = 256)]
pub struct PyLevel {
    pub level: LevelView,
    pub spec: Spec,
}

#[pymethods]
impl PyLevel {
    /// Price, exact.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.spec.decimal(py, self.level.price.0)
    }
    /// Price in ticks.
    #[getter]
    fn price_ticks(&self) -> i64 {
        self.level.price.0
    }
    /// Displayed quantity (units).
    #[getter]
    fn qty(&self) -> u64 {
        self.spec.units(self.level.qty)
    }
    /// Number of orders.
    #[getter]
    fn orders(&self) -> u32 {
        self.level.orders
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyLevel>()
            .is_ok_and(|o| o.get().level == self.level)
    }
    fn __hash__(&self) -> u64 {
        (self.level.price.0 as u64) ^ self.level.qty.rotate_left(17)
    }
    fn __repr__(&self) -> String {
        format!(
            "Level(price={}, qty={}, orders={})",
            self.spec.tick.format(self.level.price),
            self.spec.units(self.level.qty),
            self.level.orders
        )
    }
}

/// One resting order (L3).
#[derive(Debug)]
#[pyclass(name = "Order", module = "hftbook._core", frozen)]
pub struct PyOrder {
    pub order: OrderView,
    pub spec: Spec,
}

#[pymethods]
impl PyOrder {
    /// Order id.
    #[getter]
    fn order_id(&self) -> u64 {
        self.order.id
    }
    /// "buy" or "sell".
    #[getter]
    fn side<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        side_str(py, self.order.side).clone()
    }
    /// Price, exact.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.spec.decimal(py, self.order.price.0)
    }
    /// Price in ticks.
    #[getter]
    fn price_ticks(&self) -> i64 {
        self.order.price.0
    }
    /// Open quantity, displayed + reserve (units).
    #[getter]
    fn qty(&self) -> u64 {
        self.spec.units(self.order.qty)
    }
    /// Displayed quantity (units).
    #[getter]
    fn visible_qty(&self) -> u64 {
        self.spec.units(self.order.visible)
    }
    /// Iceberg reserve (units).
    #[getter]
    fn hidden_qty(&self) -> u64 {
        self.spec.units(self.order.hidden)
    }
    /// Iceberg display size (units), 0 if not an iceberg.
    #[getter]
    fn display_qty(&self) -> u64 {
        self.spec.units(self.order.display)
    }
    /// Account.
    #[getter]
    fn account(&self) -> u32 {
        self.order.account
    }
    /// Time-priority timestamp (ns).
    #[getter]
    fn timestamp(&self) -> u64 {
        self.order.ts
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyOrder>()
            .is_ok_and(|o| o.get().order == self.order)
    }
    fn __hash__(&self) -> u64 {
        self.order.id
    }
    fn __repr__(&self) -> String {
        format!(
            "Order(order_id={}, side='{}', price={}, qty={}, visible_qty={}, account={})",
            self.order.id,
            self.order.side.as_str(),
            self.spec.tick.format(self.order.price),
            self.spec.units(self.order.qty),
            self.spec.units(self.order.visible),
            self.order.account
        )
    }
}

/// Depth of both sides as numpy structured arrays (`hftbook.LEVEL_DTYPE`), best first.
#[derive(Debug)]
#[pyclass(name = "Depth", module = "hftbook._core", frozen)]
pub struct PyDepth {
    /// Bid levels.
    #[pyo3(get)]
    pub bids: Py<PyAny>,
    /// Ask levels.
    #[pyo3(get)]
    pub asks: Py<PyAny>,
    /// Operation sequence number of the snapshot (None for an unvalidated lock-free read).
    #[pyo3(get)]
    pub seq: Option<u64>,
}

#[pymethods]
impl PyDepth {
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (self.bids.clone_ref(py), self.asks.clone_ref(py))
            .into_bound_py_any(py)?
            .try_iter()
            .map(Bound::into_any)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        let n = |a: &Py<PyAny>| a.bind(py).len().unwrap_or(0);
        format!(
            "Depth(seq={}, bids={} levels, asks={} levels)",
            self.seq
                .map_or_else(|| "None".to_string(), |s| s.to_string()),
            n(&self.bids),
            n(&self.asks)
        )
    }
}

/// Per-row outcome of a batch call, as numpy arrays.
#[derive(Debug)]
#[pyclass(name = "BatchResult", module = "hftbook._core", frozen)]
pub struct PyBatchResult {
    /// Order id per row (uint64), assigned ids included.
    #[pyo3(get)]
    pub order_ids: Py<PyAny>,
    /// Status code per row (uint8): index into `hftbook.STATUS_NAMES`.
    #[pyo3(get)]
    pub status: Py<PyAny>,
    /// Reason code per row (uint8): index into `hftbook.REASON_NAMES` (0 = none).
    #[pyo3(get)]
    pub reason: Py<PyAny>,
    /// Quantity filled per row (uint64, units).
    #[pyo3(get)]
    pub filled_qty: Py<PyAny>,
    /// Quantity resting after each row (uint64, units).
    #[pyo3(get)]
    pub remaining_qty: Py<PyAny>,
    /// Every trade, in order (`hftbook.FILL_DTYPE`).
    #[pyo3(get)]
    pub fills: Py<PyAny>,
    pub rows: usize,
    pub n_fills: usize,
}

#[pymethods]
impl PyBatchResult {
    fn __len__(&self) -> usize {
        self.rows
    }
    fn __repr__(&self) -> String {
        format!("BatchResult(rows={}, fills={})", self.rows, self.n_fills)
    }
}

// ---------------------------------------------------------------------------------------
// Creating `ExecutionReport`s without PyO3's generic path.
//
// Every per-call `submit`/`cancel`/`modify` returns a new report. PyO3 0.30 builds one
// through the base type's `tp_new` (`object_new`, with an empty args tuple), then `tp_alloc`,
// whose free list takes a mutex on every allocation and every free: ~230 instructions per
// report (callgrind, W2 per-call stream). Here the type's `tp_alloc`/`tp_free` are a free
// list guarded by the GIL (no atomics), and [`new_report`] takes an object from it and writes the
// Rust value straight into it, at the offset PyO3 itself uses — measured once at start-up
// from an object PyO3 built, and used only if the type's size shows that the value is
// all the object holds. Every report is still a new, independent object.
// ---------------------------------------------------------------------------------------

/// The `ExecutionReport` type object, once [`install_report_alloc`] ran.
static REPORT_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());
/// Offset of the Rust value inside a report object; 0 = unknown (use PyO3's path).
static REPORT_OFFSET: AtomicUsize = AtomicUsize::new(0);

/// Objects kept for reuse.
const FREE_CAP: usize = 64;

/// The free list. Only touched by `report_alloc`/`report_free`, which CPython calls with
/// the GIL held; the allocator is installed only on builds with a GIL (see
/// [`install_report_alloc`]), so the GIL serialises every access.
struct FreeList(UnsafeCell<(usize, [*mut ffi::PyObject; FREE_CAP])>);

// SAFETY: every access happens with the GIL held (above).
unsafe impl Sync for FreeList {}

static FREE: FreeList = FreeList(UnsafeCell::new((0, [std::ptr::null_mut(); FREE_CAP])));

/// `tp_alloc` of `ExecutionReport`: the free list, else `PyType_GenericAlloc`.
unsafe extern "C" fn report_alloc(
    subtype: *mut ffi::PyTypeObject,
    nitems: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    if nitems == 0 && std::ptr::eq(subtype, REPORT_TYPE.load(Ordering::Relaxed)) {
        // SAFETY: the GIL is held (see FreeList).
        let (n, slots) = unsafe { &mut *FREE.0.get() };
        if *n > 0 {
            *n -= 1;
            let obj = slots[*n];
            // SAFETY: `obj` is a block of this type's size freed by `report_free`;
            // PyObject_Init sets its type (and takes the heap type's reference) and refcount.
            unsafe { ffi::PyObject_Init(obj, subtype) };
            return obj;
        }
    }
    // SAFETY: the generic allocator for any type.
    unsafe { ffi::PyType_GenericAlloc(subtype, nitems) }
}

/// `tp_free` of `ExecutionReport`: keep the block on the free list, or free it as
/// `PyType_GenericAlloc` allocated it.
unsafe extern "C" fn report_free(obj: *mut c_void) {
    let o: *mut ffi::PyObject = obj.cast();
    if o.is_null() {
        return;
    }
    // SAFETY: tp_free is called on an object whose value was dropped; its type field is
    // still set.
    let ty = unsafe { ffi::Py_TYPE(o) };
    if std::ptr::eq(ty, REPORT_TYPE.load(Ordering::Relaxed)) {
        // SAFETY: the GIL is held (see FreeList).
        let (n, slots) = unsafe { &mut *FREE.0.get() };
        if *n < FREE_CAP {
            slots[*n] = o;
            *n += 1;
            return;
        }
    }
    // Free the block as the inverse of PyType_GenericAlloc.
    // SAFETY: `ty` is the live type of `o` (read above; the instance's reference keeps
    // it alive until tp_free returns); PyType_IS_GC only reads its flags.
    if unsafe { ffi::PyType_IS_GC(ty) } != 0 {
        // SAFETY: PyType_GenericAlloc allocated a GC type's object with the GC allocator
        // (GC header in front); `obj` is non-null, untracked and freed only here.
        unsafe { ffi::PyObject_GC_Del(obj) };
    } else {
        // SAFETY: PyType_GenericAlloc allocated a non-GC type's object with PyObject_Malloc;
        // `obj` is non-null and freed only here.
        unsafe { ffi::PyObject_Free(obj) };
    }
}

/// Install the report allocator on the `ExecutionReport` type and measure where PyO3
/// puts the value in the object. Call once, after the class was added to the module.
pub fn install_report_alloc(py: Python<'_>) -> PyResult<()> {
    // A free-threaded build has no GIL to guard the free list: keep PyO3's allocator.
    let gil_disabled = py
        .import("sysconfig")?
        .call_method1("get_config_var", ("Py_GIL_DISABLED",))?
        .is_truthy()?;
    if gil_disabled {
        return Ok(());
    }
    let ty = py.get_type::<PyExecutionReport>();
    let tp = ty.as_type_ptr();
    // CPython reads tp_alloc/tp_free at each allocation and deallocation (PyO3's
    // tp_dealloc reads tp_free from the type too), so the slots can be replaced now.
    // SAFETY: `tp` is a non-null, ready heap type we own, kept alive by `ty`; the GIL is
    // held (`py`), so no other thread reads the slot while it is written.
    unsafe { (*tp).tp_alloc = Some(report_alloc) };
    // SAFETY: as for `tp_alloc`; no report was allocated by `report_alloc` yet, and
    // `report_free` also frees blocks from PyType_GenericAlloc (PyO3's allocator).
    unsafe { (*tp).tp_free = Some(report_free) };
    REPORT_TYPE.store(tp, Ordering::Relaxed);
    let tick = hftbook_core::TickSize::parse("1")
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let sample = Bound::new(
        py,
        PyExecutionReport {
            ex: Execution {
                order_id: 0,
                status: OrderStatus::New,
                filled_qty: 0,
                remaining_qty: 0,
                cancelled_qty: 0,
                reason: None,
            },
            fills: Vec::new(),
            stp_cancelled: Vec::new(),
            cancelled: None,
            spec: crate::convert::Spec::new(tick, 1),
        },
    )?;
    let base = sample.as_ptr() as usize;
    let value = std::ptr::from_ref::<PyExecutionReport>(sample.get()) as usize;
    let offset = value.wrapping_sub(base);
    // SAFETY: reading the basic size of a ready type.
    let basic = usize::try_from(unsafe { (*tp).tp_basicsize }).unwrap_or(0);
    // The value must be the object's only content after the header (frozen class: no
    // borrow flag, no dict, no weakref list) for a plain write to initialise it fully.
    let fits = offset >= std::mem::size_of::<ffi::PyObject>()
        && offset.is_multiple_of(std::mem::align_of::<PyExecutionReport>())
        && offset + std::mem::size_of::<PyExecutionReport>() == basic;
    if fits {
        // SAFETY: as above; from now on reports are deallocated by `report_dealloc`.
        unsafe { (*tp).tp_dealloc = Some(report_dealloc) };
        REPORT_OFFSET.store(offset, Ordering::Relaxed);
    }
    Ok(())
}

/// `tp_dealloc` of `ExecutionReport` (installed only once the layout is known): drop the
/// Rust value in place, give the block to `report_free`, release the heap type's
/// reference. PyO3's own `tp_dealloc` does the same through a generic trampoline that
/// costs ~110 instructions per report.
unsafe extern "C" fn report_dealloc(obj: *mut ffi::PyObject) {
    let offset = REPORT_OFFSET.load(Ordering::Relaxed);
    // `obj` is a dead report (refcount 0) whose value, at `offset`, was initialised by
    // PyO3 or `new_report`; the type is not subclassable, not GC-tracked, and has no dict
    // or weakref slots. The value's drop only frees two vectors.
    // SAFETY: `obj` is non-null and still a valid object header (CPython calls tp_dealloc
    // before freeing it); Py_TYPE only reads its type field.
    let ty = unsafe { ffi::Py_TYPE(obj) };
    // SAFETY: `offset` (measured at install) lies inside the object's basic size, so the
    // offset pointer stays inside its allocation.
    let value = unsafe { obj.cast::<u8>().add(offset) }.cast::<PyExecutionReport>();
    // SAFETY: `value` is aligned (checked at install) and holds an initialised value that
    // nothing else references (refcount 0); it is dropped exactly once, here.
    unsafe { std::ptr::drop_in_place(value) };
    // SAFETY: `obj` is a block of the report type whose value was just dropped, as
    // `report_free` (tp_free) requires; nothing touches it afterwards.
    unsafe { report_free(obj.cast()) };
    // SAFETY: each instance of a heap type owns a reference to its type (taken by
    // PyObject_Init / PyType_GenericAlloc); `ty` was read before the block was freed and
    // the GIL is held (tp_dealloc is called with it).
    unsafe { ffi::Py_DECREF(ty.cast()) };
}

/// A new `ExecutionReport` object holding `r` (a new reference).
pub fn new_report(py: Python<'_>, r: PyExecutionReport) -> PyResult<*mut ffi::PyObject> {
    let offset = REPORT_OFFSET.load(Ordering::Relaxed);
    if offset == 0 {
        return Ok(Bound::new(py, r)?.into_ptr());
    }
    let tp = REPORT_TYPE.load(Ordering::Relaxed);
    // SAFETY: `tp` is the report type (set with the offset); report_alloc returns an
    // initialised object header of the type's basic size, or null with an exception set.
    let obj = unsafe { report_alloc(tp, 0) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: the value lives at `offset` and is all that follows the header (checked at
    // install), so the offset pointer stays inside the object's allocation.
    let value = unsafe { obj.cast::<u8>().add(offset) }.cast::<PyExecutionReport>();
    // SAFETY: `value` is aligned (checked at install) and valid for writes; the block is
    // uninitialised there (fresh, or its old value was dropped), so nothing is leaked.
    unsafe { value.write(r) };
    Ok(obj)
}
