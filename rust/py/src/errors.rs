//! One mapping from core errors to the Python exception hierarchy of `hftbook.exceptions`.

use hftbook_core::batch::RowError;
use hftbook_core::OrderError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static HFTBOOK_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_ORDER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_PRICE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_QUANTITY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DUPLICATE_ORDER_ID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_ORDER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CAPACITY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "hftbook.exceptions", name)
}

/// The Python exception class an error is raised as (`hftbook.exceptions`). The core's
/// errors carry their field and rule as data; which class they become is decided here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `InvalidPrice`.
    InvalidPrice,
    /// `InvalidQuantity`.
    InvalidQuantity,
    /// `DuplicateOrderId`.
    DuplicateOrderId,
    /// `UnknownOrder`.
    UnknownOrder,
    /// `InvalidOrder`.
    InvalidOrder,
    /// `CapacityError`: the book ran out of memory or index space for resting orders.
    Capacity,
}

impl ErrorKind {
    /// The class of a core error.
    pub fn of(e: &OrderError) -> ErrorKind {
        match e {
            OrderError::PriceOutOfRange { .. }
            | OrderError::PriceNotOnTick { .. }
            | OrderError::PriceNotANumber { .. }
            | OrderError::MissingPrice => ErrorKind::InvalidPrice,
            OrderError::ZeroQuantity { .. }
            | OrderError::QtyBelowMin { .. }
            | OrderError::QtyAboveMax { .. }
            | OrderError::DisplayAboveQty { .. } => ErrorKind::InvalidQuantity,
            OrderError::DuplicateOrderId { .. } => ErrorKind::DuplicateOrderId,
            OrderError::UnknownOrder { .. } => ErrorKind::UnknownOrder,
            e if e.is_capacity() => ErrorKind::Capacity,
            _ => ErrorKind::InvalidOrder,
        }
    }
}

/// Build an hftbook exception of `kind` with its `field`, `value` and `row` attributes.
pub fn raise(
    py: Python<'_>,
    kind: ErrorKind,
    message: String,
    field: Option<&str>,
    value: Option<Py<PyAny>>,
    row: Option<usize>,
) -> PyErr {
    let (cell, name) = match kind {
        ErrorKind::InvalidPrice => (&INVALID_PRICE, "InvalidPrice"),
        ErrorKind::InvalidQuantity => (&INVALID_QUANTITY, "InvalidQuantity"),
        ErrorKind::DuplicateOrderId => (&DUPLICATE_ORDER_ID, "DuplicateOrderId"),
        ErrorKind::UnknownOrder => (&UNKNOWN_ORDER, "UnknownOrder"),
        ErrorKind::InvalidOrder => (&INVALID_ORDER, "InvalidOrder"),
        ErrorKind::Capacity => (&CAPACITY_ERROR, "CapacityError"),
    };
    match class(py, cell, name) {
        Ok(cls) => match cls.call1((message, field, value, row)) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// The one panic policy: a panic inside hftbook's Rust code, caught where Python calls in
/// (every GIL-released call through `run_detached`, and the fast-call entry points of
/// `OrderBook.submit/cancel/modify`), becomes an `hftbook.HftbookError` whose message says
/// it is an internal error, names the call and carries the panic's message. The interpreter
/// and the extension keep working. (PyO3 methods outside those paths, which do no matching,
/// keep PyO3's default, `pyo3_runtime.PanicException`; neither ever aborts the process.)
pub fn panic_error(py: Python<'_>, what: &str, payload: &(dyn std::any::Any + Send)) -> PyErr {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    internal(
        py,
        format!("internal error in hftbook core during {what} (please report): {msg}"),
    )
}

/// A generic `HftbookError` (internal failures, e.g. a caught panic).
pub fn internal(py: Python<'_>, message: String) -> PyErr {
    match class(py, &HFTBOOK_ERROR, "HftbookError") {
        Ok(cls) => match cls.call1((message,)) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// The request field an error is about, as the Python API names it.
pub fn field_of(e: &OrderError) -> &'static str {
    e.field()
}

/// The error with its quantities in units: the core counts lots of `lot_size` units, the
/// caller wrote units.
pub fn in_units(e: &OrderError, lot: u64) -> OrderError {
    let u = |q: u64| q.saturating_mul(lot);
    match *e {
        OrderError::QtyBelowMin { qty, min_qty } => OrderError::QtyBelowMin {
            qty: u(qty),
            min_qty: u(min_qty),
        },
        OrderError::QtyAboveMax { qty, max_qty } => OrderError::QtyAboveMax {
            qty: u(qty),
            max_qty: u(max_qty),
        },
        OrderError::DisplayAboveQty { display_qty, qty } => OrderError::DisplayAboveQty {
            display_qty: u(display_qty),
            qty: u(qty),
        },
        _ => e.clone(),
    }
}

/// Map a core error; `value` is the offending value as the user gave it, if known.
pub fn order_error(py: Python<'_>, e: &OrderError, value: Option<Py<PyAny>>) -> PyErr {
    let value = value.or_else(|| match e {
        OrderError::DuplicateOrderId { id } | OrderError::UnknownOrder { id } => {
            id.into_pyobject(py).ok().map(|v| v.into_any().unbind())
        }
        _ => None,
    });
    raise(
        py,
        ErrorKind::of(e),
        e.to_string(),
        Some(field_of(e)),
        value,
        None,
    )
}

/// The batch array column a row error is about (the core names `price` and `id`).
pub fn row_field(e: &RowError) -> &'static str {
    match (e.field, &e.source_error) {
        (_, Some(src @ OrderError::InvalidCombination { .. })) => match field_of(src) {
            "price" => "price_ticks",
            f => f,
        },
        ("price", _) => "price_ticks",
        ("id", _) => "order_id",
        (f, _) => f,
    }
}

/// Map a batch row error; quantities are shown in units of `lot`, `value` is the row's
/// value of the field, if known.
pub fn row_error(py: Python<'_>, e: &RowError, lot: u64, value: Option<Py<PyAny>>) -> PyErr {
    let field = row_field(e);
    let (kind, rule) = match &e.source_error {
        Some(src) => (ErrorKind::of(src), in_units(src, lot).to_string()),
        None => (ErrorKind::InvalidOrder, e.message.clone()),
    };
    let message = format!("row {}: {field}: {rule}", e.row);
    raise(py, kind, message, Some(field), value, Some(e.row))
}

/// `InvalidOrder` for a price given with an order that trades at any price (a market or a
/// stop order): names the argument given (`price` or `price_ticks`) and its value, and how
/// to send a protected market order instead.
pub fn market_with_price<'py>(
    py: Python<'py>,
    order_type: &str,
    price: Option<&Bound<'py, PyAny>>,
    price_ticks: Option<&Bound<'py, PyAny>>,
) -> PyErr {
    fn given<'py>(v: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
        v.filter(|v| !v.is_none()).cloned()
    }
    let (field, value) = match (given(price), given(price_ticks)) {
        (Some(p), _) => ("price", Some(p)),
        (None, Some(t)) => ("price_ticks", Some(t)),
        (None, None) => ("price", None),
    };
    let shown = value
        .as_ref()
        .and_then(|v| v.repr().ok())
        .map_or_else(|| "?".to_string(), |r| r.to_string());
    raise(
        py,
        ErrorKind::InvalidOrder,
        format!(
            "{field} {shown} given for a {order_type} order: a {order_type} order takes no price \
             (it trades at any price); for a protected market order send order_type='limit' \
             with tif='ioc' at the worst acceptable price"
        ),
        Some(field),
        value.map(Bound::unbind),
        None,
    )
}
