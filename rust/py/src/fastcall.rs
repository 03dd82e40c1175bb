//! A vectorcall entry point for `OrderBook.submit`, the hottest call of the per-call API.
//!
//! PyO3's generic argument parser matches every keyword argument by converting its name to
//! UTF-8 and comparing it with each parameter name in turn: measured with callgrind on the
//! W2 per-call stream, ~620 of the ~1 930 instructions of a `submit` call (more than the
//! matching engine's own ~550). Keyword names at a Python call site are interned strings,
//! so this entry point compares them by pointer with the interned parameter names first
//! and falls back to a string comparison only for names built at run time (`**kwargs` from
//! a dict of computed keys). It then calls the same `PyOrderBook::submit` as the PyO3
//! method, so behaviour and errors are identical; it only replaces the `submit` attribute
//! of the type at module initialisation (with the same `__doc__` and
//! `__text_signature__`).
//!
//! Panics are caught and raised as `pyo3_runtime.PanicException`, like every PyO3 method.

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};

use crate::PyOrderBook;

/// Parameter names in signature order: `side, price, qty` may be positional.
const NAMES: [&str; 11] = [
    "side",
    "price",
    "qty",
    "price_ticks",
    "order_id",
    "tif",
    "order_type",
    "account",
    "display_qty",
    "post_only",
    "stp",
];
const POSITIONAL: usize = 3;

/// The interned parameter names (same objects as the names at Python call sites).
static INTERNED: PyOnceLock<[Py<PyString>; 11]> = PyOnceLock::new();

fn interned(py: Python<'_>) -> &[Py<PyString>; 11] {
    INTERNED.get_or_init(py, || NAMES.map(|n| PyString::intern(py, n).unbind()))
}

/// Index of a keyword name among [`NAMES`]: pointer first, text as a fallback.
#[inline]
fn slot(names: &[Py<PyString>; 11], kw: &Bound<'_, PyAny>) -> PyResult<usize> {
    let p = kw.as_ptr();
    if let Some(i) = names.iter().position(|n| n.as_ptr() == p) {
        return Ok(i);
    }
    let text = kw.cast::<PyString>()?.to_str()?;
    NAMES.iter().position(|n| *n == text).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "submit() got an unexpected keyword argument '{text}'"
        ))
    })
}

/// Parse the vectorcall arguments and run `PyOrderBook::submit`.
///
/// # Safety
/// `args` points at `nargs` positional arguments followed by `len(kwnames)` keyword
/// values (the vectorcall protocol); `kwnames` is null or a tuple of str.
unsafe fn submit_impl(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: the method descriptor only calls us with an instance of OrderBook (or a
    // subclass) as `self`; the cast below checks it anyway.
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let book = slf.cast::<PyOrderBook>()?;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    if nargs > POSITIONAL {
        return Err(PyTypeError::new_err(format!(
            "submit() takes at most {POSITIONAL} positional arguments ({nargs} given)"
        )));
    }
    let mut vals: [*mut ffi::PyObject; 11] = [ptr::null_mut(); 11];
    for (i, v) in vals.iter_mut().enumerate().take(nargs) {
        // SAFETY: i < nargs (vectorcall protocol).
        *v = unsafe { *args.add(i) };
    }
    if !kwnames.is_null() {
        // SAFETY: kwnames is a tuple (vectorcall protocol).
        let names_tuple = unsafe { Borrowed::from_ptr(py, kwnames) };
        let names_tuple = names_tuple.cast::<PyTuple>()?;
        let table = interned(py);
        for (k, kw) in names_tuple.iter_borrowed().enumerate() {
            let i = slot(table, &kw)?;
            if !vals[i].is_null() {
                return Err(PyTypeError::new_err(format!(
                    "submit() got multiple values for argument '{}'",
                    NAMES[i]
                )));
            }
            // SAFETY: the k-th keyword value follows the positional arguments.
            vals[i] = unsafe { *args.add(nargs + k) };
        }
    }
    // An explicit None is "not given" for every optional argument (as PyO3 maps None to
    // a Rust `None` for `Option` parameters); `side` and `post_only` are not optional.
    // SAFETY: Py_None is the None singleton.
    let none = unsafe { ffi::Py_None() };
    for (i, v) in vals.iter_mut().enumerate() {
        if i != 0 && i != 9 && *v == none {
            *v = ptr::null_mut();
        }
    }
    // Borrowed views (no reference count traffic): every non-null entry is an argument
    // the caller keeps alive for the duration of the call.
    // SAFETY: see above.
    let bound: [Option<Borrowed<'_, '_, PyAny>>; 11] =
        vals.map(|p| (!p.is_null()).then(|| unsafe { Borrowed::from_ptr(py, p) }));
    let post_only = match bound[9].as_deref() {
        None => false,
        Some(v) => v.extract::<bool>().map_err(|_| {
            PyTypeError::new_err(format!(
                "submit() argument 'post_only' must be a bool, not {}",
                v.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?,
    };
    let Some(side) = bound[0].as_deref() else {
        return Err(PyTypeError::new_err(
            "submit() missing 1 required positional argument: 'side'",
        ));
    };
    let report = book.try_borrow_mut()?.submit(
        py,
        side,
        bound[1].as_deref(),
        bound[2].as_deref(),
        bound[3].as_deref(),
        bound[4].as_deref(),
        bound[5].as_deref(),
        bound[6].as_deref(),
        bound[7].as_deref(),
        bound[8].as_deref(),
        post_only,
        bound[10].as_deref(),
    )?;
    Ok(Bound::new(py, report)?.into_ptr())
}

unsafe extern "C" fn submit_fast(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_FASTCALL method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the vectorcall arguments are forwarded unchanged.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe {
        submit_impl(py, slf, args, nargs, kwnames)
    }));
    let err = match r {
        Ok(Ok(obj)) => return obj,
        Ok(Err(e)) => e,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic in OrderBook.submit".to_owned());
            PanicException::new_err(msg)
        }
    };
    err.restore(py);
    ptr::null_mut()
}

/// Replace `OrderBook.submit` (the PyO3 method) with the vectorcall entry point, keeping
/// its docstring and signature.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let ty = py.get_type::<PyOrderBook>();
    let old = ty.getattr("submit")?;
    let sig: String = old.getattr("__text_signature__")?.extract()?;
    let doc: String = old.getattr("__doc__")?.extract()?;
    let text = CString::new(format!("submit{sig}\n--\n\n{doc}"))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"submit".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: submit_fast,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: text.into_raw().cast_const() as *const c_char,
    }));
    // SAFETY: `def` is leaked (lives as long as the type); the type pointer is valid.
    let descr =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))? };
    ty.setattr("submit", descr)?;
    interned(py);
    Ok(())
}
