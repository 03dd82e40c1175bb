//! Python values → core values: sides and codes from enums or strings, exact prices from
//! str / Decimal / int / float, quantities from units to lots.

use hftbook_core::{OrderError, OrderType, Price, Qty, Side, StpMode, TickSize, TimeInForce};
use std::sync::atomic::{AtomicU8, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyType};

use crate::errors::{order_error, raise, ErrorKind};

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `decimal.Decimal` class.
pub fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

/// How to read a small int's value straight from the object (see [`compact_int`]).
/// 0: not known, always call `PyLong_AsLongLongAndOverflow`; 1: CPython < 3.12 (signed digit
/// count in `ob_size`); 2: CPython >= 3.12 (`lv_tag`: digit count << 3 | sign).
static LONG_LAYOUT: AtomicU8 = AtomicU8::new(0);

/// The value of an int of at most one 30-bit digit, read from the object itself, or `None`
/// (more digits, or layout unknown). This is what CPython's own `_PyLong_IsCompact` /
/// `medium_value` do; [`init_int_layout`] enables it only after checking it on sample
/// values against `PyLong_AsLongLong`.
///
/// # Safety
/// `p` must be an exact `int`.
#[inline(always)]
unsafe fn compact_int(p: *mut ffi::PyObject) -> Option<i64> {
    let layout = LONG_LAYOUT.load(Ordering::Relaxed);
    if layout == 0 {
        return None;
    }
    let base = p.cast::<u8>();
    let head = std::mem::size_of::<ffi::PyObject>();
    // An int object (caller) has a word after its header (`ob_size` or `lv_tag`) and at
    // least one 32-bit digit after that (CPython allocates one even for zero).
    // SAFETY: `head` is the size of the object header, so the offset stays inside the
    // int object's allocation.
    let word_ptr = unsafe { base.add(head) }.cast::<isize>();
    // SAFETY: `word_ptr` points at the initialised, word-aligned `ob_size` / `lv_tag`
    // field right after the header.
    let word = unsafe { word_ptr.read() };
    // SAFETY: the first digit starts 8 bytes after the header (after the word), still
    // inside the allocation, which always holds at least one digit.
    let digit_ptr = unsafe { base.add(head + 8) }.cast::<u32>();
    // SAFETY: `digit_ptr` points at the initialised, 4-byte-aligned first digit.
    let digit = i64::from(unsafe { digit_ptr.read() });
    if layout == 1 {
        match word {
            0 => Some(0),
            1 => Some(digit),
            -1 => Some(-digit),
            _ => None,
        }
    } else {
        let tag = word as usize;
        (tag < (2 << 3)).then(|| (1 - (tag & 3) as i64) * digit)
    }
}

/// Check [`compact_int`]'s reading of ints on this interpreter and enable it if every
/// sample agrees with `PyLong_AsLongLong` (otherwise the API call is used throughout).
pub fn init_int_layout(py: Python<'_>) -> PyResult<()> {
    if std::mem::size_of::<isize>() != 8 {
        return Ok(());
    }
    let version: (u8, u8) = py
        .import("sys")?
        .getattr("version_info")?
        .extract::<(u8, u8, u8, String, u8)>()
        .map(|v| (v.0, v.1))?;
    let is_cpython = py
        .import("sys")?
        .getattr("implementation")?
        .getattr("name")?
        .extract::<String>()?
        == "cpython";
    if !is_cpython {
        return Ok(());
    }
    let layout = if version < (3, 12) { 1 } else { 2 };
    LONG_LAYOUT.store(layout, Ordering::Relaxed);
    let samples: [i64; 12] = [
        0,
        1,
        -1,
        7,
        -7,
        (1 << 15) - 1,
        1 << 15,
        (1 << 30) - 1,
        -((1 << 30) - 1),
        1 << 30,
        -(1 << 40),
        i64::MAX,
    ];
    let ok = samples.iter().all(|&v| {
        let obj = v.into_pyobject(py).unwrap_or_else(|e| match e {});
        // SAFETY: an exact int.
        match unsafe { compact_int(obj.as_ptr()) } {
            Some(x) => x == v && v.unsigned_abs() < (1 << 30),
            None => v.unsigned_abs() >= (1 << 30),
        }
    });
    if !ok {
        LONG_LAYOUT.store(0, Ordering::Relaxed);
    }
    Ok(())
}

/// The value of an exact `int` (not a subclass, not a bool) within the range of i64; `None`
/// for anything else, which then takes the general (and error-reporting) path.
///
/// Most per-call arguments are plain ints: this skips PyO3's generic extraction (type
/// checks, `__index__`, error fetching) for them, and reads small ones directly.
#[inline(always)]
pub fn exact_i64(v: &Bound<'_, PyAny>) -> Option<i64> {
    let p = v.as_ptr();
    // SAFETY: `p` is a live object; PyLong_CheckExact only reads its type.
    if unsafe { ffi::PyLong_CheckExact(p) } == 0 {
        return None;
    }
    // SAFETY: an exact int.
    if let Some(x) = unsafe { compact_int(p) } {
        return Some(x);
    }
    let mut overflow = 0;
    // SAFETY: an exact int: no `__index__` is called, so no Python code runs.
    let x = unsafe { ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow) };
    // SAFETY: checking the error indicator with the interpreter attached (`v` is a bound
    // object, so the GIL is held); PyErr_Occurred returns a borrowed pointer we only test.
    if overflow != 0 || (x == -1 && unsafe { !ffi::PyErr_Occurred().is_null() }) {
        // SAFETY: clearing the error indicator (set by PyLong_AsLongLongAndOverflow, or
        // none) with the GIL held.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    Some(x)
}

fn invalid(py: Python<'_>, field: &str, value: &Bound<'_, PyAny>, msg: String) -> PyErr {
    raise(
        py,
        ErrorKind::InvalidOrder,
        msg,
        Some(field),
        Some(value.clone().unbind()),
        None,
    )
}

fn code<T: Copy>(
    py: Python<'_>,
    field: &str,
    value: &Bound<'_, PyAny>,
    table: &[(&str, T)],
) -> PyResult<T> {
    if let Ok(s) = value.cast::<PyString>() {
        let text = s.to_str()?;
        for (name, v) in table {
            if text.eq_ignore_ascii_case(name) {
                return Ok(*v);
            }
        }
    }
    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    Err(invalid(
        py,
        field,
        value,
        format!(
            "{field} {} is not one of {}",
            value.repr()?,
            names.join(", ")
        ),
    ))
}

/// `"buy"`/`"sell"` (any case, or `hb.Side`).
#[inline]
pub fn side(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Side> {
    // String literals in Python code are interned: most calls pass these very objects.
    if v.is(pyo3::intern!(py, "buy")) {
        return Ok(Side::Buy);
    }
    if v.is(pyo3::intern!(py, "sell")) {
        return Ok(Side::Sell);
    }
    code(py, "side", v, &[("buy", Side::Buy), ("sell", Side::Sell)])
}

/// `"limit"`/`"market"`.
#[inline]
pub fn order_type(py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<OrderType> {
    v.map_or(Ok(OrderType::Limit), |v| {
        // The interned literals first, by pointer (as for `side`).
        if v.is(pyo3::intern!(py, "limit")) {
            return Ok(OrderType::Limit);
        }
        if v.is(pyo3::intern!(py, "market")) {
            return Ok(OrderType::Market);
        }
        code(
            py,
            "order_type",
            v,
            &[("limit", OrderType::Limit), ("market", OrderType::Market)],
        )
    })
}

/// `"gtc"`/`"ioc"`/`"fok"`; default GTC (IOC for market orders).
#[inline]
pub fn tif(py: Python<'_>, v: Option<&Bound<'_, PyAny>>, ot: OrderType) -> PyResult<TimeInForce> {
    match v {
        // The interned literals first, by pointer (as for `side`).
        Some(v) if v.is(pyo3::intern!(py, "gtc")) => Ok(TimeInForce::Gtc),
        Some(v) if v.is(pyo3::intern!(py, "ioc")) => Ok(TimeInForce::Ioc),
        Some(v) if v.is(pyo3::intern!(py, "fok")) => Ok(TimeInForce::Fok),
        None => Ok(if ot == OrderType::Market {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        }),
        Some(v) => code(
            py,
            "tif",
            v,
            &[
                ("gtc", TimeInForce::Gtc),
                ("ioc", TimeInForce::Ioc),
                ("fok", TimeInForce::Fok),
            ],
        ),
    }
}

/// STP mode names.
pub fn stp(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<StpMode> {
    stp_field(py, "stp", v)
}

/// STP mode names, for the argument `field`.
pub fn stp_field(py: Python<'_>, field: &str, v: &Bound<'_, PyAny>) -> PyResult<StpMode> {
    code(
        py,
        field,
        v,
        &[
            ("none", StpMode::None),
            ("cancel_newest", StpMode::CancelNewest),
            ("cancel_oldest", StpMode::CancelOldest),
            ("cancel_both", StpMode::CancelBoth),
        ],
    )
}

/// Instrument conversions between user units and core ticks/lots.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Tick size.
    pub tick: TickSize,
    /// Units per lot.
    pub lot_size: u64,
    tick_is_one: bool,
}

impl Spec {
    /// A spec.
    pub fn new(tick: TickSize, lot_size: u64) -> Spec {
        Spec {
            tick_is_one: tick.to_string() == "1",
            tick,
            lot_size,
        }
    }

    /// A price in currency units (str, Decimal, int or float) to ticks.
    pub fn price(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Price> {
        let err = |e: OrderError| match e {
            // The core reports a tick count; name the price as the caller wrote it.
            OrderError::PriceOutOfRange { .. } => raise(
                py,
                ErrorKind::InvalidPrice,
                format!(
                    "price {} is outside the representable range ±(2^62 - 1) ticks of tick_size {}",
                    v.str().map_or_else(|_| "?".into(), |s| s.to_string()),
                    self.tick
                ),
                Some("price"),
                Some(v.clone().unbind()),
                None,
            ),
            e => order_error(py, &e, Some(v.clone().unbind())),
        };
        if let Ok(s) = v.cast::<PyString>() {
            return self.tick.ticks_from_str(s.to_str()?).map_err(err);
        }
        if v.is_instance_of::<PyBool>() {
            return Err(self.bad_price_type(py, v));
        }
        if let Ok(i) = v.cast::<PyInt>() {
            if self.tick_is_one {
                if let Ok(t) = i.extract::<i64>() {
                    return Price::new_checked(t).map_err(err);
                }
            }
            return self.tick.ticks_from_str(&i.to_string()).map_err(err);
        }
        if let Ok(f) = v.cast::<PyFloat>() {
            return self.price_from_float(f.value()).map_err(err);
        }
        if v.is_instance(decimal_type(py)?)? {
            // str() keeps the exponent (`1E+40`), which the parser reads exactly; the "f"
            // format would spell out every digit of `1E+100000000`.
            let text = v.str()?.to_string();
            return self.tick.ticks_from_str(&text).map_err(err);
        }
        // Other integer types (numpy's) through `__index__`; numpy's bool has none.
        if let Ok(i) = py.import("operator")?.call_method1("index", (v,)) {
            return self.tick.ticks_from_str(&i.to_string()).map_err(err);
        }
        Err(self.bad_price_type(py, v))
    }

    fn bad_price_type(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyErr {
        let tname = v
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        raise(
            py,
            ErrorKind::InvalidPrice,
            format!("price must be a str, Decimal, int or float, got {tname}"),
            Some("price"),
            Some(v.clone().unbind()),
            None,
        )
    }

    /// A float price must be the nearest double to a multiple of the tick size.
    fn price_from_float(&self, f: f64) -> Result<Price, OrderError> {
        let shown = format!("{f:?}");
        if !f.is_finite() {
            return Err(OrderError::PriceNotANumber { value: shown });
        }
        let tick = self.tick.to_f64(Price(1));
        let t = (f / tick).round();
        if t.abs() >= Price::MAX.0 as f64 {
            return Err(OrderError::PriceOutOfRange {
                ticks: if t < 0.0 { i64::MIN } else { i64::MAX },
            });
        }
        let ticks = Price::new_checked(t as i64)?;
        // The decimal value of those ticks, rounded to the nearest double, must be f itself.
        let back = self.tick.format(ticks).parse::<f64>().unwrap_or(f64::NAN);
        if back == f {
            Ok(ticks)
        } else {
            Err(OrderError::PriceNotOnTick {
                price: shown,
                tick_size: self.tick.to_string(),
            })
        }
    }

    /// Integer ticks given directly.
    #[inline]
    pub fn price_ticks(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Price> {
        let bad = || {
            raise(
                py,
                ErrorKind::InvalidPrice,
                format!(
                    "price_ticks {} must be an integer within ±(2^62 - 1)",
                    v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                ),
                Some("price_ticks"),
                Some(v.clone().unbind()),
                None,
            )
        };
        if let Some(t) = exact_i64(v) {
            if let Ok(p) = Price::new_checked(t) {
                return Ok(p);
            }
        }
        // Any integer (numpy ones included, through `__index__`) but a bool.
        if v.is_instance_of::<PyBool>() {
            return Err(bad());
        }
        let t: i64 = v.extract().map_err(|_| bad())?;
        Price::new_checked(t).map_err(|_| bad())
    }

    /// A quantity in units to lots.
    pub fn qty(&self, py: Python<'_>, field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Qty> {
        if let Some(units) = exact_i64(v).and_then(|u| u64::try_from(u).ok()) {
            return self.units_to_lots(py, field, units);
        }
        // Any integer (numpy ones included, through `__index__`) but a bool.
        let units: Option<u64> = if v.is_instance_of::<PyBool>() {
            None
        } else {
            v.extract().ok()
        };
        let Some(units) = units else {
            // An integer that does not fit: say so, with the limit, rather than "not an integer".
            let too_big = !v.is_instance_of::<PyBool>()
                && v.is_instance_of::<pyo3::types::PyInt>()
                && v.gt(0).unwrap_or(false);
            let rule = if too_big {
                format!(
                    "{field} {} exceeds the largest quantity, {} units",
                    v.repr()?,
                    u64::MAX
                )
            } else {
                format!(
                    "{field} {} must be a non-negative integer number of units",
                    v.repr()?
                )
            };
            return Err(raise(
                py,
                ErrorKind::InvalidQuantity,
                rule,
                Some(field),
                Some(v.clone().unbind()),
                None,
            ));
        };
        self.units_to_lots(py, field, units)
    }

    /// Units to lots, checking the lot grid.
    #[inline]
    pub fn units_to_lots(&self, py: Python<'_>, field: &'static str, units: u64) -> PyResult<Qty> {
        if self.lot_size == 1 {
            return Ok(units);
        }
        if !units.is_multiple_of(self.lot_size) {
            return Err(raise(
                py,
                ErrorKind::InvalidQuantity,
                format!(
                    "{field} {units} is not a multiple of lot_size {}",
                    self.lot_size
                ),
                Some(field),
                units.into_pyobject(py).ok().map(|o| o.into_any().unbind()),
                None,
            ));
        }
        Ok(units / self.lot_size)
    }

    /// Lots to units.
    #[inline]
    pub fn units(&self, lots: Qty) -> u64 {
        lots.saturating_mul(self.lot_size)
    }

    /// Ticks as a float in currency units (for display columns).
    pub fn price_f64(&self, p: i64) -> f64 {
        self.tick.to_f64(Price(p))
    }

    /// Ticks as an exact `Decimal`.
    pub fn decimal<'py>(&self, py: Python<'py>, p: i64) -> PyResult<Bound<'py, PyAny>> {
        decimal_type(py)?.call1((self.tick.format(Price(p)),))
    }
}
