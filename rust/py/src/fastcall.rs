//! Vectorcall entry points for `OrderBook.submit`, `cancel` and `modify`, the calls of the
//! per-call API.
//!
//! PyO3's generic argument parser matches every keyword argument by converting its name to
//! UTF-8 and comparing it with each parameter name in turn: measured with callgrind on the
//! W2 per-call stream, ~620 of the ~1 930 instructions of a `submit` call (more than the
//! matching engine's own ~550). Keyword names at a Python call site are interned strings,
//! so these entry points compare them by pointer with the interned parameter names first
//! and fall back to a string comparison only for names built at run time (`**kwargs` from
//! a dict of computed keys). `cancel(order_id)` with one positional argument is not parsed
//! at all. `submit` then builds the order directly when every argument has the common,
//! valid shape ([`fast_order`]: interned `"buy"`/`"gtc"`/... literals, exact ints), and
//! otherwise calls the same `PyOrderBook::submit` as the PyO3 method, so behaviour and
//! errors are identical (`tests/test_api_fastcall.py` runs the same calls against both).
//! The entries replace the PyO3 methods at module initialisation, with the same `__doc__`
//! and `__text_signature__`; `cancel` and `modify` raise PyO3's own `TypeError` messages.
//!
//! Panics are caught and raised as `hftbook.HftbookError` (the crate's one panic policy,
//! `errors::panic_error`).

use std::cell::UnsafeCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
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

/// The literals `side`, `tif` and `order_type` are compared with by pointer.
const LITERALS: [&str; 7] = ["buy", "sell", "limit", "market", "gtc", "ioc", "fok"];
static LITERALS_INTERNED: PyOnceLock<[Py<PyString>; 7]> = PyOnceLock::new();

/// An exact int argument that was given (not null, not None).
#[inline]
fn exact_arg(py: Python<'_>, p: *mut ffi::PyObject) -> Option<i64> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null argument the caller keeps alive for the call.
    let b: Borrowed<'_, '_, PyAny> = unsafe { Borrowed::from_ptr(py, p) };
    crate::convert::exact_i64(&b)
}

/// The order of a `submit` call whose arguments all have the common, valid shape:
/// `side`, `tif` and `order_type` the interned literals (or not given), `qty`,
/// `price_ticks`, `order_id` and `account` exact ints in range, and no `price`,
/// `display_qty`, `stp` or `post_only=True`. `None` sends the call down the general
/// path, which converts everything else and raises every error; both build the same
/// order for the arguments accepted here.
#[inline]
fn fast_order(
    py: Python<'_>,
    spec: &crate::convert::Spec,
    v: &[*mut ffi::PyObject; 11],
    none: *mut ffi::PyObject,
) -> Option<hftbook_core::NewOrder> {
    use hftbook_core::{NewOrder, OrderType, Price, Side, TimeInForce};
    let given = |p: *mut ffi::PyObject| !p.is_null() && p != none;
    // SAFETY: the False singleton.
    let false_ = unsafe { ffi::Py_False() };
    if given(v[1]) || given(v[8]) || given(v[10]) || !(v[9].is_null() || v[9] == false_) {
        return None;
    }
    let lit =
        LITERALS_INTERNED.get_or_init(py, || LITERALS.map(|n| PyString::intern(py, n).unbind()));
    let is = |p: *mut ffi::PyObject, i: usize| p == lit[i].as_ptr();
    let side = if is(v[0], 0) {
        Side::Buy
    } else if is(v[0], 1) {
        Side::Sell
    } else {
        return None;
    };
    let order_type = if !given(v[6]) || is(v[6], 2) {
        OrderType::Limit
    } else if is(v[6], 3) {
        OrderType::Market
    } else {
        return None;
    };
    let tif = if !given(v[5]) {
        if order_type == OrderType::Market {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        }
    } else if is(v[5], 4) {
        TimeInForce::Gtc
    } else if is(v[5], 5) {
        TimeInForce::Ioc
    } else if is(v[5], 6) {
        TimeInForce::Fok
    } else {
        return None;
    };
    let units = u64::try_from(exact_arg(py, v[2])?).ok()?;
    let qty = if spec.lot_size == 1 {
        units
    } else if units.is_multiple_of(spec.lot_size) {
        units / spec.lot_size
    } else {
        return None;
    };
    let price = if given(v[3]) {
        if order_type == OrderType::Market {
            return None; // the full path says a market order takes no price
        }
        Price::new_checked(exact_arg(py, v[3])?).ok()?
    } else if order_type == OrderType::Market {
        Price::default()
    } else {
        return None;
    };
    let id = if given(v[4]) {
        u64::try_from(exact_arg(py, v[4])?)
            .ok()
            .filter(|&id| id > 0)?
    } else {
        0
    };
    let account = if given(v[7]) {
        u32::try_from(exact_arg(py, v[7])?).ok()?
    } else {
        0
    };
    Some(NewOrder {
        id,
        side,
        order_type,
        price,
        qty,
        display_qty: 0,
        tif,
        post_only: false,
        account,
        stp: None,
    })
}

/// Where the keyword values of one `kwnames` tuple go: `slots[k]` is the parameter of the
/// k-th name; `min_slot` the smallest (the call is valid only with fewer positionals).
#[derive(Clone, Copy)]
struct KwLayout {
    names: *mut ffi::PyObject,
    len: u8,
    min_slot: u8,
    slots: [u8; NAMES.len()],
}

const KW_ENTRIES: usize = 8;

/// The keyword layouts of the last few `submit` call sites. Each entry owns a reference to
/// its tuple, so a cached pointer always names that same (immutable) tuple. Touched only
/// with the GIL held and only on builds with a GIL (`GIL_BUILD`), which serialises access.
struct KwLayouts(UnsafeCell<([KwLayout; KW_ENTRIES], usize)>);

// SAFETY: see above: every access holds the GIL.
unsafe impl Sync for KwLayouts {}

static KW_LAYOUTS: KwLayouts = KwLayouts(UnsafeCell::new((
    [KwLayout {
        names: ptr::null_mut(),
        len: 0,
        min_slot: 0,
        slots: [0; NAMES.len()],
    }; KW_ENTRIES],
    0,
)));

/// Whether this interpreter has a GIL (set by [`install`]); the layout cache is off otherwise.
static GIL_BUILD: AtomicBool = AtomicBool::new(false);

impl KwLayouts {
    /// The cached layout of `kwnames`, if any.
    ///
    /// # Safety
    /// The GIL is held.
    #[inline]
    unsafe fn find(&self, kwnames: *mut ffi::PyObject) -> Option<KwLayout> {
        if !GIL_BUILD.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: the GIL serialises access (caller).
        let (entries, _) = unsafe { &*self.0.get() };
        entries.iter().find(|e| e.names == kwnames).copied()
    }

    /// Remember the layout of `kwnames` (a tuple whose names all matched distinct slots),
    /// replacing the oldest entry.
    ///
    /// # Safety
    /// The GIL is held.
    unsafe fn remember(&self, kwnames: *mut ffi::PyObject, slots: &[u8]) {
        if !GIL_BUILD.load(Ordering::Relaxed) || slots.is_empty() || slots.len() > NAMES.len() {
            return;
        }
        // SAFETY: the GIL serialises access (caller).
        let (entries, next) = unsafe { &mut *self.0.get() };
        let mut e = KwLayout {
            names: kwnames,
            len: slots.len() as u8,
            min_slot: slots.iter().copied().min().unwrap_or(0),
            slots: [0; NAMES.len()],
        };
        e.slots[..slots.len()].copy_from_slice(slots);
        let old = std::mem::replace(&mut entries[*next], e);
        *next = (*next + 1) % KW_ENTRIES;
        // The entry owns a reference to its tuple (taken here, released on eviction).
        // SAFETY: `kwnames` is a live tuple (vectorcall protocol, borrowed for the call);
        // the GIL is held (caller), so the refcount update is not racing.
        unsafe { ffi::Py_INCREF(kwnames) };
        if !old.names.is_null() {
            // SAFETY: the evicted entry owned a reference to `old.names` (taken by the
            // INCREF above when it was remembered), non-null here; the GIL is held, and
            // the entry no longer refers to it.
            unsafe { ffi::Py_DECREF(old.names) };
        }
    }
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
    let book = book_of(slf)?;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    if nargs > POSITIONAL {
        return Err(PyTypeError::new_err(format!(
            "submit() takes at most {POSITIONAL} positional arguments ({nargs} given)"
        )));
    }
    let mut vals: [*mut ffi::PyObject; 11] = [ptr::null_mut(); 11];
    for (i, v) in vals.iter_mut().enumerate().take(nargs) {
        // SAFETY: i < nargs, so the offset stays inside the argument vector (vectorcall
        // protocol).
        let at = unsafe { args.add(i) };
        // SAFETY: `at` points at the i-th positional argument, initialised by the caller.
        *v = unsafe { *at };
    }
    if !kwnames.is_null() {
        // A call site passes the same `kwnames` tuple every time: its slots, once known,
        // place the keyword values without looking at a name.
        // SAFETY: see `KwLayouts` (GIL held, cache used only on GIL builds).
        let known = unsafe { KW_LAYOUTS.find(kwnames) };
        match known {
            Some(e) if nargs <= usize::from(e.min_slot) => {
                for (k, &i) in e.slots[..usize::from(e.len)].iter().enumerate() {
                    // SAFETY: the k-th keyword value follows the positional arguments
                    // (the cached tuple is this very tuple, so it has `len` names, and
                    // k < len): the offset stays inside the argument vector.
                    let at = unsafe { args.add(nargs + k) };
                    // SAFETY: `at` points at the k-th keyword value, initialised by the
                    // caller (vectorcall protocol).
                    vals[usize::from(i)] = unsafe { *at };
                }
            }
            _ => {
                // SAFETY: kwnames is a tuple (vectorcall protocol).
                let names_tuple = unsafe { Borrowed::from_ptr(py, kwnames) };
                let names_tuple = names_tuple.cast::<PyTuple>()?;
                let table = interned(py);
                let mut slots = [0u8; NAMES.len()];
                for (k, kw) in names_tuple.iter_borrowed().enumerate() {
                    let i = slot(table, &kw)?;
                    if !vals[i].is_null() {
                        return Err(PyTypeError::new_err(format!(
                            "submit() got multiple values for argument '{}'",
                            NAMES[i]
                        )));
                    }
                    // SAFETY: the k-th keyword value follows the positional arguments
                    // (k < len(kwnames)): the offset stays inside the argument vector.
                    let at = unsafe { args.add(nargs + k) };
                    // SAFETY: `at` points at the k-th keyword value, initialised by the
                    // caller (vectorcall protocol).
                    vals[i] = unsafe { *at };
                    // k < NAMES.len(): every name took a distinct slot.
                    slots[k] = i as u8;
                }
                // SAFETY: as for `find`.
                unsafe { KW_LAYOUTS.remember(kwnames, &slots[..names_tuple.len()]) };
            }
        }
    }
    // SAFETY: Py_None is the None singleton.
    let none = unsafe { ffi::Py_None() };
    // The common shape (interned literals, exact ints, no price in units, no iceberg or
    // STP): build the order directly; anything else takes the general path below, which
    // also reports every error.
    {
        let mut guard = book.try_borrow_mut()?;
        if let Some(o) = fast_order(py, &guard.spec, &vals, none) {
            // SAFETY: `fast_order` checked that qty is given (an exact int).
            let qty_arg = unsafe { Borrowed::from_ptr(py, vals[2]) };
            let report = guard.submit_order(py, &o, &qty_arg, None)?;
            drop(guard);
            return crate::objects::new_report(py, report);
        }
    }
    // An explicit None is "not given" for every optional argument (as PyO3 maps None to
    // a Rust `None` for `Option` parameters); `side` and `post_only` are not optional.
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
    crate::objects::new_report(py, report)
}

/// The `OrderBook` type object (set by [`install`]).
static BOOK_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(ptr::null_mut());

/// `self` as an `OrderBook`: an exact instance by one pointer comparison, a subclass
/// instance through PyO3's checked cast (which also rejects anything else).
#[inline(always)]
fn book_of<'a, 'py>(slf: Borrowed<'a, 'py, PyAny>) -> PyResult<Borrowed<'a, 'py, PyOrderBook>> {
    // SAFETY: `slf` is a live object (borrowed for the call); Py_TYPE only reads its
    // type field.
    let ty = unsafe { ffi::Py_TYPE(slf.as_ptr()) };
    if std::ptr::eq(ty, BOOK_TYPE.load(Ordering::Relaxed)) {
        // SAFETY: the object's type is exactly OrderBook.
        return Ok(unsafe { slf.cast_unchecked::<PyOrderBook>() });
    }
    Ok(slf.cast::<PyOrderBook>()?)
}

/// Turn the outcome of an entry point into what CPython expects: the object, or null with
/// the exception set (a panic becomes an `HftbookError`: [`crate::errors::panic_error`]).
#[inline(always)]
fn finish(
    py: Python<'_>,
    r: std::thread::Result<PyResult<*mut ffi::PyObject>>,
    what: &str,
) -> *mut ffi::PyObject {
    let err = match r {
        Ok(Ok(obj)) => return obj,
        Ok(Err(e)) => e,
        Err(payload) => crate::errors::panic_error(py, &format!("OrderBook.{what}"), &*payload),
    };
    err.restore(py);
    ptr::null_mut()
}

/// Define a `METH_FASTCALL | METH_KEYWORDS` entry point around `$imp`.
macro_rules! entry {
    ($name:ident, $imp:ident, $what:literal) => {
        unsafe extern "C" fn $name(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls a METH_FASTCALL method with the GIL held.
            let py = unsafe { Python::assume_attached() };
            // SAFETY: the vectorcall arguments are forwarded unchanged.
            let r = catch_unwind(AssertUnwindSafe(|| unsafe {
                $imp(py, slf, args, nargs, kwnames)
            }));
            finish(py, r, $what)
        }
    };
}

entry!(submit_fast, submit_impl, "submit");
entry!(cancel_fast, cancel_impl, "cancel");
entry!(modify_fast, modify_impl, "modify");

/// PyO3's parser for a method `qual(a, b=None, ..., *, kw=None)` with the first
/// parameter required and the first `positional` ones positional: the argument
/// pointers in parameter order (null = not given), with PyO3's error messages.
///
/// # Safety
/// As [`submit_impl`]: the vectorcall protocol's `args`, `nargs` and `kwnames`.
#[allow(clippy::too_many_arguments)]
unsafe fn parse_args<const N: usize>(
    py: Python<'_>,
    qual: &str,
    names: &[&str; N],
    interned: &[Py<PyString>; N],
    positional: usize,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[*mut ffi::PyObject; N]> {
    if nargs > positional {
        return Err(PyTypeError::new_err(if positional == 1 {
            format!("{qual}() takes 1 positional arguments but {nargs} were given")
        } else {
            format!(
                "{qual}() takes from 1 to {positional} positional arguments but {nargs} were given"
            )
        }));
    }
    let mut vals: [*mut ffi::PyObject; N] = [ptr::null_mut(); N];
    for (i, v) in vals.iter_mut().enumerate().take(nargs) {
        // SAFETY: i < nargs, so the offset stays inside the argument vector (vectorcall
        // protocol).
        let at = unsafe { args.add(i) };
        // SAFETY: `at` points at the i-th positional argument, initialised by the caller.
        *v = unsafe { *at };
    }
    if !kwnames.is_null() {
        // SAFETY: kwnames is a tuple (vectorcall protocol).
        let names_tuple = unsafe { Borrowed::from_ptr(py, kwnames) };
        let names_tuple = names_tuple.cast::<PyTuple>()?;
        for (k, kw) in names_tuple.iter_borrowed().enumerate() {
            let p = kw.as_ptr();
            let i = match interned.iter().position(|n| n.as_ptr() == p) {
                Some(i) => i,
                None => {
                    let kw = kw.cast::<PyString>()?;
                    let text = kw.to_str()?;
                    names.iter().position(|n| *n == text).ok_or_else(|| {
                        PyTypeError::new_err(format!(
                            "{qual}() got an unexpected keyword argument '{text}'"
                        ))
                    })?
                }
            };
            if !vals[i].is_null() {
                return Err(PyTypeError::new_err(format!(
                    "{qual}() got multiple values for argument '{}'",
                    names[i]
                )));
            }
            // SAFETY: the k-th keyword value follows the positional arguments
            // (k < len(kwnames)): the offset stays inside the argument vector.
            let at = unsafe { args.add(nargs + k) };
            // SAFETY: `at` points at the k-th keyword value, initialised by the caller
            // (vectorcall protocol).
            vals[i] = unsafe { *at };
        }
    }
    if vals[0].is_null() {
        return Err(PyTypeError::new_err(format!(
            "{qual}() missing 1 required positional argument: '{}'",
            names[0]
        )));
    }
    Ok(vals)
}

const CANCEL_NAMES: [&str; 1] = ["order_id"];
static CANCEL_INTERNED: PyOnceLock<[Py<PyString>; 1]> = PyOnceLock::new();
const MODIFY_NAMES: [&str; 4] = ["order_id", "price", "qty", "price_ticks"];
static MODIFY_INTERNED: PyOnceLock<[Py<PyString>; 4]> = PyOnceLock::new();

/// Parse the vectorcall arguments of `cancel(order_id)` and run `PyOrderBook::cancel`.
///
/// # Safety
/// As [`submit_impl`].
unsafe fn cancel_impl(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: as in submit_impl.
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let book = book_of(slf)?;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    // The common call, `cancel(order_id)`: no parsing at all.
    let id = if nargs == 1 && kwnames.is_null() {
        // SAFETY: one positional argument.
        unsafe { *args }
    } else {
        let table = CANCEL_INTERNED.get_or_init(py, || {
            CANCEL_NAMES.map(|n| PyString::intern(py, n).unbind())
        });
        // SAFETY: forwarded vectorcall arguments.
        let [id] = unsafe {
            parse_args(
                py,
                "OrderBook.cancel",
                &CANCEL_NAMES,
                table,
                1,
                args,
                nargs,
                kwnames,
            )?
        };
        id
    };
    // SAFETY: a non-null argument the caller keeps alive for the call.
    let id = unsafe { Borrowed::from_ptr(py, id) };
    let report = book.try_borrow_mut()?.cancel(py, &id)?;
    crate::objects::new_report(py, report)
}

/// Parse the vectorcall arguments of `modify(order_id, price=None, qty=None, *,
/// price_ticks=None)` and run `PyOrderBook::modify`.
///
/// # Safety
/// As [`submit_impl`].
unsafe fn modify_impl(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: as in submit_impl.
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let book = book_of(slf)?;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let table = MODIFY_INTERNED.get_or_init(py, || {
        MODIFY_NAMES.map(|n| PyString::intern(py, n).unbind())
    });
    // SAFETY: forwarded vectorcall arguments.
    let mut vals = unsafe {
        parse_args(
            py,
            "OrderBook.modify",
            &MODIFY_NAMES,
            table,
            2 + 1,
            args,
            nargs,
            kwnames,
        )?
    };
    // An explicit None is "not given" for the optional arguments (PyO3's `Option`).
    // SAFETY: Py_None is the None singleton.
    let none = unsafe { ffi::Py_None() };
    for v in vals.iter_mut().skip(1) {
        if *v == none {
            *v = ptr::null_mut();
        }
    }
    // SAFETY: non-null entries are arguments the caller keeps alive for the call.
    let bound: [Option<Borrowed<'_, '_, PyAny>>; 4] =
        vals.map(|p| (!p.is_null()).then(|| unsafe { Borrowed::from_ptr(py, p) }));
    let Some(id) = bound[0].as_deref() else {
        return Err(PyTypeError::new_err(
            "OrderBook.modify() missing 1 required positional argument: 'order_id'",
        ));
    };
    let report = book.try_borrow_mut()?.modify(
        py,
        id,
        bound[1].as_deref(),
        bound[2].as_deref(),
        bound[3].as_deref(),
    )?;
    crate::objects::new_report(py, report)
}

/// Replace the PyO3 method `name` of `OrderBook` with the vectorcall entry point `f`,
/// keeping its docstring and signature.
fn install_method(
    py: Python<'_>,
    name: &'static std::ffi::CStr,
    f: ffi::PyCFunctionFastWithKeywords,
) -> PyResult<()> {
    let ty = py.get_type::<PyOrderBook>();
    let attr = name
        .to_str()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let old = ty.getattr(attr)?;
    let sig: String = old.getattr("__text_signature__")?.extract()?;
    let doc: String = old.getattr("__doc__")?.extract()?;
    let text = CString::new(format!("{attr}{sig}\n--\n\n{doc}"))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: f,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: text.into_raw().cast_const() as *const c_char,
    }));
    // SAFETY: `def` is leaked (lives as long as the type); the type pointer is valid (a
    // ready type kept alive by `ty`); the GIL is held (`py`).
    let raw = unsafe { ffi::PyDescr_NewMethod(ty.as_type_ptr(), def) };
    // SAFETY: PyDescr_NewMethod returns a new (owned) reference, or null with an
    // exception set, which `from_owned_ptr_or_err` turns into the error.
    let descr = unsafe { Bound::from_owned_ptr_or_err(py, raw)? };
    ty.setattr(attr, descr)?;
    Ok(())
}

/// Replace `OrderBook.submit`, `cancel` and `modify` (the PyO3 methods) with the
/// vectorcall entry points.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let gil_disabled = py
        .import("sysconfig")?
        .call_method1("get_config_var", ("Py_GIL_DISABLED",))?
        .is_truthy()?;
    GIL_BUILD.store(!gil_disabled, Ordering::Relaxed);
    BOOK_TYPE.store(
        py.get_type::<PyOrderBook>().as_type_ptr(),
        Ordering::Relaxed,
    );
    install_method(py, c"submit", submit_fast)?;
    install_method(py, c"cancel", cancel_fast)?;
    install_method(py, c"modify", modify_fast)?;
    interned(py);
    Ok(())
}
