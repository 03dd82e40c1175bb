//! Value objects returned to Python: execution reports, fills, levels, orders, depth,
//! batch results. All frozen (immutable, thread-safe).

use hftbook_core::{Execution, Fill, LevelView, OrderStatus, OrderView, Reason, Side};
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
#[derive(Debug)]
#[pyclass(
    name = "ExecutionReport",
    module = "hftbook._core",
    frozen,
    freelist = 256
)]
pub struct PyExecutionReport {
    pub ex: Execution,
    pub fills: Vec<Fill>,
    pub stp_cancelled: Vec<(u64, u64)>,
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
    #[getter]
    fn cancelled_qty(&self) -> u64 {
        self.spec.units(self.ex.cancelled_qty)
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
        format!(
            "ExecutionReport(order_id={}, status='{}', filled_qty={}, remaining_qty={}, \
             cancelled_qty={}, fills={}, reason={})",
            self.ex.order_id,
            self.ex.status.as_str(),
            self.spec.units(self.ex.filled_qty),
            self.spec.units(self.ex.remaining_qty),
            self.spec.units(self.ex.cancelled_qty),
            self.fills.len(),
            reason
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
