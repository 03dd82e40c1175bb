//! One mapping from core errors to the Python exception hierarchy of `hftbook.exceptions`.

use hftbook_core::batch::RowError;
use hftbook_core::{ErrorKind, OrderError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static HFTBOOK_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_ORDER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_PRICE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_QUANTITY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DUPLICATE_ORDER_ID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_ORDER: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "hftbook.exceptions", name)
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
    };
    match class(py, cell, name) {
        Ok(cls) => match cls.call1((message, field, value, row)) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        },
        Err(e) => e,
    }
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

/// Map a core error; `value` is the offending value as the user gave it, if known.
pub fn order_error(py: Python<'_>, e: &OrderError, value: Option<Py<PyAny>>) -> PyErr {
    let field = hftbook_core::batch::error_field(e);
    let value = value.or_else(|| match e {
        OrderError::DuplicateOrderId { id } | OrderError::UnknownOrder { id } => {
            id.into_pyobject(py).ok().map(|v| v.into_any().unbind())
        }
        _ => None,
    });
    let field = if matches!(
        e,
        OrderError::DuplicateOrderId { .. } | OrderError::UnknownOrder { .. }
    ) {
        "order_id"
    } else {
        field
    };
    raise(py, e.kind(), e.to_string(), Some(field), value, None)
}

/// Map a batch row error.
pub fn row_error(py: Python<'_>, e: &RowError) -> PyErr {
    let kind = e
        .source_error
        .as_ref()
        .map_or(ErrorKind::InvalidOrder, OrderError::kind);
    raise(py, kind, e.to_string(), Some(e.field), None, Some(e.row))
}
