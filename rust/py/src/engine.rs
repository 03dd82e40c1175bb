//! Binding of `hftbook-engine`: `EngineCore` (subclassed by `hftbook.Engine` in Python) and
//! `Subscription`. Prices cross in currency units (converted with the symbol's tick size) or
//! in ticks; events leave as numpy arrays of `hftbook.EVENT_DTYPE`, no per-event objects.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use hftbook_core::{Side, TickSize};
use hftbook_engine::engine::{STATE_NAMES, STATE_PAUSED};
use hftbook_engine::record::{kind as ek, order_type as ot, tif as tf};
use hftbook_engine::{
    audit, replay_journal_with, AuditFilter, Command, ConfigError, Engine, EngineConfig,
    EngineError, Event, Filter, Fsync, JournalOptions, OrderRequest, SimConfig, Subscription,
    TrySubmit,
};
use numpy::PyArray1;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use rustc_hash::FxHashSet;
use zerocopy::IntoBytes;

use crate::convert::{self, decimal_type, Spec};
use crate::errors::{raise, ErrorKind};
use crate::{bytes_as, dtype, run_detached, PyBookReader};

static EVENT_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ENGINE_COMMAND_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static POSITION_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One row of `hftbook.POSITION_DTYPE` (88 bytes).
#[derive(Debug, Clone, Copy, Default, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
struct PositionRow {
    account: u32,
    symbol: u32,
    net: i64,
    cost: i64,
    realized: i64,
    fees_bps: i64,
    mark_ticks: i64,
    unrealized: i64,
    bought: u64,
    sold: u64,
    trades: u64,
    has_mark: u64,
}

const _: () = assert!(std::mem::size_of::<PositionRow>() == 88);

fn sat(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
static EXC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BACKPRESSURE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STOPPED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIG_ERR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_SYMBOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATE_ERR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static JOURNAL_ERR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn exc<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "hftbook.exceptions", name)
}

fn make(obj: PyResult<Bound<'_, PyAny>>) -> PyErr {
    match obj {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

/// Map an engine error to its Python exception (one place).
pub(crate) fn engine_error(py: Python<'_>, e: EngineError) -> PyErr {
    let msg = e.to_string();
    match e {
        EngineError::UnknownSymbol(s) => make(
            exc(py, &UNKNOWN_SYMBOL, "UnknownSymbol")
                .and_then(|c| c.call1((msg, "symbol", s, None::<usize>))),
        ),
        EngineError::DuplicateSymbol(s) => raise(
            py,
            ErrorKind::InvalidOrder,
            msg,
            Some("symbol"),
            Some(PyString::new(py, &s).into_any().unbind()),
            None,
        ),
        EngineError::Invalid { field, value, .. } => field_error(py, msg, field, &value, None),
        EngineError::InvalidRow {
            row,
            field,
            value,
            rule,
        } => {
            // Name the command dtype's column.
            let column = match field {
                "price" => "price_ticks",
                "stop_price" => "stop_price_ticks",
                f => f,
            };
            let msg = format!("row {row}: {column} = {value}: {rule}");
            field_error(py, msg, column, &value, Some(row))
        }
        EngineError::Backpressure {
            lane,
            shard,
            waited_us,
            enqueued,
        } => make(
            exc(py, &BACKPRESSURE, "Backpressure")
                .and_then(|c| c.call1((msg, lane, shard, waited_us as f64 / 1e6, enqueued))),
        ),
        EngineError::NotRunning { state } => {
            make(exc(py, &STOPPED, "EngineStopped").and_then(|c| c.call1((msg, state))))
        }
        EngineError::UnknownOrder(id) => raise(
            py,
            ErrorKind::UnknownOrder,
            msg,
            Some("order_id"),
            Some(
                id.into_pyobject(py)
                    .map_or_else(|_| py.None(), |v| v.into_any().unbind()),
            ),
            None,
        ),
        EngineError::Lifecycle { state, .. } => {
            make(exc(py, &STATE_ERR, "EngineStateError").and_then(|c| c.call1((msg, state))))
        }
        EngineError::Config(c) => config_error(py, &c),
        EngineError::Journal {
            kind, file, offset, ..
        } => make(
            exc(py, &JOURNAL_ERR, "JournalError").and_then(|c| c.call1((msg, kind, file, offset))),
        ),
        EngineError::JournalFailed(_) => make(
            exc(py, &JOURNAL_ERR, "JournalError")
                .and_then(|c| c.call1((msg, "failed", None::<String>, None::<u64>))),
        ),
        _ => make(exc(py, &EXC, "HftbookError").and_then(|c| c.call1((msg,)))),
    }
}

/// An argument (or a batch row's column) that breaks a rule: the exception class follows the
/// field (prices → `InvalidPrice`, quantities → `InvalidQuantity`, the rest `InvalidOrder`).
fn field_error(
    py: Python<'_>,
    msg: String,
    field: &'static str,
    value: &str,
    row: Option<usize>,
) -> PyErr {
    let kind = match field {
        "price" | "stop_price" | "price_ticks" | "stop_price_ticks" => ErrorKind::InvalidPrice,
        "qty" | "display_qty" => ErrorKind::InvalidQuantity,
        _ => ErrorKind::InvalidOrder,
    };
    let value = PyString::new(py, value).into_any().unbind();
    raise(py, kind, msg, Some(field), Some(value), row)
}

fn config_error(py: Python<'_>, c: &ConfigError) -> PyErr {
    make(exc(py, &CONFIG_ERR, "ConfigError").and_then(|cls| {
        cls.call1((
            c.to_string(),
            c.key.clone(),
            c.value.clone(),
            c.rule.clone(),
            c.file.clone(),
        ))
    }))
}

/// A Python value (dict, list, str, int, float, bool, Decimal) as a TOML value.
fn to_toml(py: Python<'_>, key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if let Ok(i) = v.cast::<PyInt>() {
        return Ok(toml::Value::Integer(i.extract().map_err(|_| {
            config_error(
                py,
                &ConfigError {
                    file: None,
                    key: key.into(),
                    value: i.to_string(),
                    rule: "must fit a 64-bit integer".into(),
                },
            )
        })?));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(toml::Value::Float(f.value()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(toml::Value::String(s.to_str()?.to_owned()));
    }
    if v.is_instance(decimal_type(py)?)? {
        let text: String = v.call_method1("__format__", ("f",))?.extract()?;
        return Ok(toml::Value::String(text));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, val) in d.iter() {
            let k: String = k.str()?.to_string();
            let sub = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{k}")
            };
            if val.is_none() {
                continue;
            }
            t.insert(k, to_toml(py, &sub, &val)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if let Ok(l) = v.cast::<PyList>() {
        let mut a = Vec::new();
        for (i, x) in l.iter().enumerate() {
            a.push(to_toml(py, &format!("{key}[{i}]"), &x)?);
        }
        return Ok(toml::Value::Array(a));
    }
    Err(config_error(
        py,
        &ConfigError {
            file: None,
            key: key.into(),
            value: v.repr().map_or_else(|_| "?".into(), |r| r.to_string()),
            rule: "must be a table, list, string, number or boolean".into(),
        },
    ))
}

fn parse_config(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    file: Option<&str>,
) -> PyResult<EngineConfig> {
    let v = to_toml(py, "", config)?;
    let toml::Value::Table(t) = v else {
        return Err(PyTypeError::new_err("config must be a dict"));
    };
    EngineConfig::from_table(&t, file).map_err(|e| config_error(py, &e))
}

/// The engine's Rust side. Use `hftbook.Engine`.
#[pyclass(name = "EngineCore", module = "hftbook._core", subclass, frozen)]
pub struct PyEngineCore {
    engine: Arc<Engine>,
    specs: RwLock<Vec<(Spec, String)>>,
    /// `symbols` as last built (symbols are only ever added: rebuilt when there are more).
    names: std::sync::Mutex<Option<Py<PyTuple>>>,
}

impl std::fmt::Debug for PyEngineCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyEngineCore").finish()
    }
}

fn code(py: Python<'_>, field: &str, v: &Bound<'_, PyAny>, names: &[&str]) -> PyResult<u8> {
    if let Ok(s) = v.cast::<PyString>() {
        let s = s.to_str()?.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == s) {
            return Ok(i as u8);
        }
    } else if !v.is_instance_of::<PyBool>() {
        if let Some(i) = convert::exact_i64(v) {
            if (0..names.len() as i64).contains(&i) {
                return Ok(i as u8);
            }
        }
    }
    Err(raise(
        py,
        ErrorKind::InvalidOrder,
        format!(
            "{field} {} is not valid: use one of {}",
            v.repr().map_or_else(|_| "?".into(), |r| r.to_string()),
            names.join(", ")
        ),
        Some(field),
        Some(v.clone().unbind()),
        None,
    ))
}

fn uint(py: Python<'_>, field: &str, v: &Bound<'_, PyAny>, max: u64) -> PyResult<u64> {
    if !v.is_instance_of::<PyBool>() {
        if let Some(i) = convert::exact_i64(v) {
            if i >= 0 && (i as u64) <= max {
                return Ok(i as u64);
            }
        } else if let Ok(i) = v.extract::<u64>() {
            if i <= max {
                return Ok(i);
            }
        }
    }
    let kind = if field.ends_with("qty") {
        ErrorKind::InvalidQuantity
    } else {
        ErrorKind::InvalidOrder
    };
    Err(raise(
        py,
        kind,
        format!(
            "{field} {} must be an integer between 0 and {max}",
            v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ),
        Some(field),
        Some(v.clone().unbind()),
        None,
    ))
}

/// A strict bool argument (`True`/`False`), or an error naming the field.
fn flag_arg(py: Python<'_>, field: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(b.is_true());
    }
    Err(raise(
        py,
        ErrorKind::InvalidOrder,
        format!(
            "{field} {} must be True or False",
            v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ),
        Some(field),
        Some(v.clone().unbind()),
        None,
    ))
}

fn opt_uint(py: Python<'_>, field: &str, v: Option<&Bound<'_, PyAny>>, max: u64) -> PyResult<u64> {
    match v {
        Some(v) if !v.is_none() => uint(py, field, v, max),
        _ => Ok(0),
    }
}

fn opt_flag(py: Python<'_>, field: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    match v {
        Some(v) if !v.is_none() => flag_arg(py, field, v),
        _ => Ok(false),
    }
}

/// A timeout in seconds: a non-negative number (infinity waits "forever", i.e. 30 years).
fn seconds_arg(py: Python<'_>, field: &str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs = if v.is_instance_of::<PyBool>() {
        None
    } else {
        v.extract::<f64>().ok()
    };
    match secs {
        Some(s) if s >= 0.0 => Ok(Duration::from_secs_f64(s.min(1e9))),
        _ => Err(make(exc(py, &EXC, "HftbookError").and_then(|c| {
            c.call1((
                format!(
                    "{field} {} must be a number of seconds >= 0",
                    v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                ),
                field,
                v.clone(),
            ))
        }))),
    }
}

/// Scale the lot counts of events to units (`qty` as the caller gave it to `submit`).
fn lots_to_units(engine: &Engine, events: &mut [Event]) {
    let t = engine.symbols();
    if t.entries.iter().all(|e| e.cfg.lot_size == 1) {
        return;
    }
    for e in events.iter_mut() {
        let Some(s) = t.entries.get(e.symbol as usize) else {
            continue;
        };
        let lot = s.cfg.lot_size;
        if lot == 1 {
            continue;
        }
        e.qty = e.qty.saturating_mul(lot);
        if e.kind != hftbook_engine::record::kind::BOOK {
            e.leaves_qty = e.leaves_qty.saturating_mul(lot);
        }
    }
}

impl PyEngineCore {
    fn symbol(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<u32> {
        if let Ok(s) = v.cast::<PyString>() {
            let name = s.to_str()?;
            return self
                .engine
                .symbol_index(name)
                .ok_or_else(|| engine_error(py, EngineError::UnknownSymbol(name.to_owned())));
        }
        if !v.is_instance_of::<PyBool>() {
            if let Some(i) = convert::exact_i64(v) {
                if i >= 0 && (i as usize) < self.engine.symbols().entries.len() {
                    return Ok(i as u32);
                }
            }
        }
        Err(engine_error(
            py,
            EngineError::UnknownSymbol(v.str().map_or_else(|_| "?".into(), |s| s.to_string())),
        ))
    }

    fn spec(&self, idx: u32) -> Spec {
        if let Ok(g) = self.specs.read() {
            if let Some((s, _)) = g.get(idx as usize) {
                return *s;
            }
        }
        let table = self.engine.symbols();
        let mut g = self.specs.write().unwrap_or_else(|p| p.into_inner());
        for e in table.entries.iter().skip(g.len()) {
            g.push((Spec::new(e.cfg.tick, e.cfg.lot_size), e.name.clone()));
        }
        g.get(idx as usize)
            .map_or_else(|| Spec::new(TickSize::CENT, 1), |(s, _)| *s)
    }

    fn price(
        &self,
        py: Python<'_>,
        idx: u32,
        field: &'static str,
        price: Option<&Bound<'_, PyAny>>,
        ticks: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<i64>> {
        let spec = self.spec(idx);
        match (price, ticks) {
            (Some(p), None) if !p.is_none() => {
                let t = spec.price(py, p).map_err(|e| rename_field(py, e, field))?;
                Ok(Some(t.0))
            }
            (None, Some(t)) if !t.is_none() => Ok(Some(
                spec.price_ticks(py, t)
                    .map_err(|e| rename_field(py, e, field))?
                    .0,
            )),
            (Some(p), Some(t)) if !p.is_none() && !t.is_none() => Err(raise(
                py,
                ErrorKind::InvalidOrder,
                format!("give {field} or {field}_ticks, not both"),
                Some(field),
                None,
                None,
            )),
            _ => Ok(None),
        }
    }
}

fn rename_field(py: Python<'_>, e: PyErr, field: &'static str) -> PyErr {
    if field != "price" {
        let v = e.value(py);
        let _ = v.setattr("field", field);
        if let Ok(msg) = v.str() {
            let msg = msg.to_string();
            if let Some(rest) = msg.strip_prefix("price") {
                let _ = v.setattr("args", (format!("{field}{rest}"),));
            }
        }
    }
    e
}

#[pymethods]
impl PyEngineCore {
    #[new]
    #[pyo3(signature = (config, file=None, journal_dir=None, fsync=None, recover=false, segment_bytes=None, snapshot_every=None, simulation=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        file: Option<&str>,
        journal_dir: Option<std::path::PathBuf>,
        fsync: Option<&str>,
        recover: bool,
        segment_bytes: Option<u64>,
        snapshot_every: Option<u64>,
        simulation: Option<&str>,
    ) -> PyResult<Self> {
        if let Some(text) = simulation {
            if recover {
                return Err(PyTypeError::new_err(
                    "a simulation starts fresh: recover its journal with Engine.recover(dir)",
                ));
            }
            let sim = SimConfig::from_json(text).map_err(|e| engine_error(py, e))?;
            let cfg = parse_config(py, config, file)?;
            let engine = match journal_dir {
                None => Engine::simulation(cfg, sim).map_err(|e| engine_error(py, e))?,
                Some(dir) => {
                    let policy = Fsync::parse(fsync.unwrap_or("never")).map_err(|m| {
                        raise(
                            py,
                            ErrorKind::InvalidOrder,
                            m,
                            Some("fsync"),
                            fsync.map(|f| PyString::new(py, f).into_any().unbind()),
                            None,
                        )
                    })?;
                    let mut opts = JournalOptions::new(dir, policy);
                    if let Some(b) = segment_bytes {
                        opts.segment_bytes = b.max(4096);
                    }
                    if let Some(n) = snapshot_every {
                        opts.snapshot_every = n;
                    }
                    run_detached(py, move || Engine::simulation_with_journal(cfg, sim, opts))?
                        .map_err(|e| engine_error(py, e))?
                }
            };
            return Ok(PyEngineCore {
                engine: Arc::new(engine),
                specs: RwLock::new(Vec::new()),
                names: std::sync::Mutex::new(None),
            });
        }
        let engine = match journal_dir {
            None => {
                if recover {
                    return Err(PyTypeError::new_err("recover needs a journal_dir"));
                }
                let cfg = parse_config(py, config, file)?;
                Engine::new(cfg).map_err(|e| engine_error(py, e))?
            }
            Some(dir) => {
                let policy = Fsync::parse(fsync.unwrap_or("batch")).map_err(|m| {
                    raise(
                        py,
                        ErrorKind::InvalidOrder,
                        m,
                        Some("fsync"),
                        fsync.map(|f| PyString::new(py, f).into_any().unbind()),
                        None,
                    )
                })?;
                let mut opts = JournalOptions::new(dir, policy);
                if let Some(b) = segment_bytes {
                    opts.segment_bytes = b.max(4096);
                }
                if let Some(n) = snapshot_every {
                    opts.snapshot_every = n;
                }
                if recover {
                    run_detached(py, move || Engine::recover_with(opts))?
                        .map_err(|e| engine_error(py, e))?
                } else {
                    let cfg = parse_config(py, config, file)?;
                    run_detached(py, move || Engine::with_journal(cfg, opts))?
                        .map_err(|e| engine_error(py, e))?
                }
            }
        };
        Ok(PyEngineCore {
            engine: Arc::new(engine),
            specs: RwLock::new(Vec::new()),
            names: std::sync::Mutex::new(None),
        })
    }

    /// Add a symbol: `options` as in the `[symbols.NAME]` table. Returns its index.
    #[pyo3(signature = (symbol, options))]
    fn _add_symbol(
        &self,
        py: Python<'_>,
        symbol: &str,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<u32> {
        let v = to_toml(py, &format!("symbols.{symbol}"), options)?;
        let toml::Value::Table(t) = v else {
            return Err(PyTypeError::new_err("options must be a dict"));
        };
        let cfg = hftbook_engine::config::parse_symbol(None, &format!("symbols.{symbol}"), &t)
            .map_err(|e| config_error(py, &e))?;
        self.engine
            .add_symbol(symbol, cfg)
            .map_err(|e| engine_error(py, e))
    }

    /// Symbol names, by index.
    #[getter]
    fn symbols<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let t = self.engine.symbols();
        // Read on every batch by strategies: the tuple is built once per symbol count.
        let mut cache = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(names) = cache.as_ref() {
            if names.bind(py).len() == t.entries.len() {
                return Ok(names.bind(py).clone());
            }
        }
        let names = PyTuple::new(py, t.entries.iter().map(|e| e.name.clone()))?;
        *cache = Some(names.clone().unbind());
        Ok(names)
    }

    /// Shard of each symbol, by index.
    #[getter]
    fn symbol_shards<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let t = self.engine.symbols();
        PyTuple::new(py, t.entries.iter().map(|e| e.shard))
    }

    /// Tick size of each symbol (decimal text), by index.
    #[getter]
    fn tick_sizes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let t = self.engine.symbols();
        PyTuple::new(py, t.entries.iter().map(|e| e.cfg.tick.to_string()))
    }

    /// Hash of the engine's state (books, stops, expiry lists, symbol status, breaker,
    /// command count), 32 hex digits. Before start or after stop; a replay of the journal
    /// gives the same.
    fn state_hash(&self, py: Python<'_>) -> PyResult<String> {
        let e = self.engine.clone();
        run_detached(py, move || e.state_hash())?.map_err(|e| engine_error(py, e))
    }

    /// Hash of the event stream the shards emitted (journaled engines), 32 hex digits.
    fn event_hash(&self, py: Python<'_>) -> PyResult<String> {
        self.engine.event_hash().map_err(|e| engine_error(py, e))
    }

    /// The journal's figures (None without a journal): `dir`, `fsync`, `records`, `bytes`,
    /// `syncs`, `sync_mean_us`, `sync_max_us`, `sync_histogram_us` (`(upper bound µs or None,
    /// syncs)` per bucket, not cumulative), `lag_records` (written, not durable yet),
    /// `segments`, `snapshots`, `failed`.
    fn journal_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(j) = self.engine.journal_stats() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("dir", j.dir.display().to_string())?;
        d.set_item("fsync", j.fsync)?;
        d.set_item("records", j.records)?;
        d.set_item("bytes", j.bytes)?;
        d.set_item("syncs", j.syncs)?;
        d.set_item(
            "sync_mean_us",
            if j.syncs > 0 {
                j.sync_ns_total as f64 / j.syncs as f64 / 1e3
            } else {
                0.0
            },
        )?;
        d.set_item("sync_max_us", j.sync_ns_max as f64 / 1e3)?;
        // (upper bound in µs or None for the last, syncs in the bucket): not cumulative.
        let hist: Vec<(Option<f64>, u64)> = j
            .sync_buckets
            .iter()
            .map(|&(le, n)| (le.map(|ns| ns as f64 / 1e3), n))
            .collect();
        d.set_item("sync_histogram_us", hist)?;
        d.set_item("lag_records", j.lag)?;
        d.set_item("segments", j.segments)?;
        d.set_item("snapshots", j.snapshots)?;
        d.set_item("failed", j.failed)?;
        Ok(Some(d))
    }

    /// What the recovery that built this engine found (None for a new journal or none).
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(r) = self.engine.recovery() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("records", r.records)?;
        d.set_item("segments", r.segments)?;
        d.set_item("next_record", r.next_record)?;
        d.set_item("last_seq", r.last_seq)?;
        d.set_item("next_order_id", r.next_order_id)?;
        d.set_item("seconds", r.seconds)?;
        d.set_item("repair", repair_dict(py, r.repair.as_ref())?)?;
        d.set_item("snapshots", PyList::new(py, &r.snapshots)?)?;
        d.set_item("replayed", r.replayed)?;
        d.set_item("snapshot_problems", PyList::new(py, &r.snapshot_problems)?)?;
        Ok(Some(d))
    }

    /// Write a snapshot of every shard now (journaled engines); returns the files. A
    /// running engine's shards take theirs at their next loop (the GIL is released while
    /// waiting, up to `timeout` seconds).
    #[pyo3(signature = (timeout=10.0))]
    fn snapshot(&self, py: Python<'_>, timeout: f64) -> PyResult<Vec<String>> {
        let e = self.engine.clone();
        let t = Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
        let files = run_detached(py, move || e.snapshot(t))?.map_err(|e| engine_error(py, e))?;
        Ok(files.iter().map(|p| p.display().to_string()).collect())
    }

    /// Positions (`POSITION_DTYPE`) of `account` (every account with None), marked at each
    /// symbol's last trade: quantities in units, money in tick-lots.
    #[pyo3(signature = (account=None))]
    fn _positions(&self, py: Python<'_>, account: Option<u32>) -> PyResult<Py<PyAny>> {
        let table = self.engine.symbols();
        let rows: Vec<PositionRow> = self
            .engine
            .positions(account)
            .into_iter()
            .map(|(a, sym, p)| {
                let e = table.entries.get(sym as usize);
                let lot = e.map_or(1, |e| e.cfg.lot_size);
                let last = e.map_or(i64::MIN, |e| {
                    e.live.last_trade.load(std::sync::atomic::Ordering::Acquire)
                });
                let has_mark = last != i64::MIN;
                let mark = if has_mark { last } else { 0 };
                PositionRow {
                    account: a,
                    symbol: sym,
                    net: p.net.saturating_mul(lot as i64),
                    cost: sat(p.cost),
                    realized: sat(p.realized),
                    fees_bps: sat(p.fees_bps),
                    mark_ticks: mark,
                    unrealized: if has_mark { sat(p.unrealized(mark)) } else { 0 },
                    bought: p.bought.saturating_mul(lot),
                    sold: p.sold.saturating_mul(lot),
                    trades: p.trades,
                    has_mark: u64::from(has_mark),
                }
            })
            .collect();
        let mut words = vec![0u64; rows.len() * (std::mem::size_of::<PositionRow>() / 8)];
        words.as_mut_bytes().copy_from_slice(rows.as_bytes());
        let dt = dtype(py, &POSITION_DTYPE, "POSITION_DTYPE")?;
        bytes_as(py, words, dt)
    }

    /// Lot size of each symbol (units per lot), by index.
    #[getter]
    fn lot_sizes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let t = self.engine.symbols();
        PyTuple::new(py, t.entries.iter().map(|e| e.cfg.lot_size))
    }

    /// Number of shards.
    #[getter]
    fn shards(&self) -> usize {
        self.engine.shards()
    }

    /// "created", "running", "paused", "stopping" or "stopped".
    #[getter]
    fn state(&self) -> &'static str {
        STATE_NAMES[self.engine.state() as usize]
    }

    /// Engine time, ns (the time base of `expire_at`).
    fn now(&self) -> u64 {
        self.engine.now()
    }

    fn _start(&self, py: Python<'_>) -> PyResult<()> {
        self.engine.start().map_err(|e| engine_error(py, e))
    }
    fn _pause(&self, py: Python<'_>) -> PyResult<()> {
        self.engine.pause().map_err(|e| engine_error(py, e))
    }
    fn _resume(&self, py: Python<'_>) -> PyResult<()> {
        if self.engine.state() != STATE_PAUSED {
            return Err(engine_error(
                py,
                EngineError::Lifecycle {
                    action: "resume",
                    state: STATE_NAMES[self.engine.state() as usize],
                },
            ));
        }
        self.engine.resume().map_err(|e| engine_error(py, e))
    }
    /// Start a feed server on this engine (see `hftbook.Engine.serve`).
    #[pyo3(signature = (host, port, queue_capacity, stats_interval_ms = 250, token=None, allowed_origins=Vec::new(), nice=19, pump_interval_us=250, idle=false))]
    #[allow(clippy::too_many_arguments)]
    fn _serve(
        &self,
        py: Python<'_>,
        host: String,
        port: u16,
        queue_capacity: usize,
        stats_interval_ms: u64,
        token: Option<String>,
        allowed_origins: Vec<String>,
        nice: i32,
        pump_interval_us: u64,
        idle: bool,
    ) -> PyResult<crate::feed::PyFeedServer> {
        crate::feed::PyFeedServer::start(
            py,
            self.engine.clone(),
            crate::feed::ServeArgs {
                host,
                port,
                queue_capacity,
                stats_interval_ms,
                token,
                allowed_origins,
                nice,
                pump_interval_us,
                idle,
            },
        )
    }

    /// `(drained, refused, events_discarded, clean)`.
    fn _stop(
        &self,
        py: Python<'_>,
        drain: bool,
        timeout: &Bound<'_, PyAny>,
    ) -> PyResult<(u64, u64, u64, bool)> {
        let e = self.engine.clone();
        let t = seconds_arg(py, "timeout", timeout)?;
        let r = run_detached(py, move || e.stop(drain, t))?;
        Ok((r.drained, r.refused, r.events_discarded, r.clean))
    }

    /// Submit an order; returns its engine order id at once (the outcome comes as events).
    #[pyo3(signature = (symbol, side, price=None, qty=None, *, order_type=None, tif=None, stop_price=None, expire_at=None, display_qty=None, post_only=None, stp=None, account=None, client_id=None, urgent=None, price_ticks=None, stop_price_ticks=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        side: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        qty: Option<&Bound<'_, PyAny>>,
        order_type: Option<&Bound<'_, PyAny>>,
        tif: Option<&Bound<'_, PyAny>>,
        stop_price: Option<&Bound<'_, PyAny>>,
        expire_at: Option<&Bound<'_, PyAny>>,
        display_qty: Option<&Bound<'_, PyAny>>,
        post_only: Option<&Bound<'_, PyAny>>,
        stp: Option<&Bound<'_, PyAny>>,
        account: Option<&Bound<'_, PyAny>>,
        client_id: Option<&Bound<'_, PyAny>>,
        urgent: Option<&Bound<'_, PyAny>>,
        price_ticks: Option<&Bound<'_, PyAny>>,
        stop_price_ticks: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let sym = self.symbol(py, symbol)?;
        let side = convert::side(py, side)?;
        let post_only = opt_flag(py, "post_only", post_only)?;
        let urgent = opt_flag(py, "urgent", urgent)?;
        let account = opt_uint(py, "account", account, u32::MAX as u64)? as u32;
        let client_id = opt_uint(py, "client_id", client_id, u64::MAX)?;
        let otype = match order_type {
            Some(v) if !v.is_none() => code(py, "order_type", v, &ot::NAMES)?,
            _ => ot::LIMIT,
        };
        let t = match tif {
            Some(v) if !v.is_none() => code(py, "tif", v, &tf::NAMES)?,
            _ if otype == ot::MARKET => tf::IOC,
            _ => tf::GTC,
        };
        let px = self.price(py, sym, "price", price, price_ticks)?;
        let needs_price = matches!(otype, ot::LIMIT | ot::STOP_LIMIT);
        let px = match (px, needs_price) {
            (Some(p), true) => p,
            (None, true) => {
                return Err(raise(
                    py,
                    ErrorKind::InvalidPrice,
                    format!("a {} order needs a price", ot::NAMES[otype as usize]),
                    Some("price"),
                    None,
                    None,
                ))
            }
            (Some(_), false) => {
                return Err(crate::errors::market_with_price(
                    py,
                    ot::NAMES[otype as usize],
                    price,
                    price_ticks,
                ))
            }
            (None, false) => 0,
        };
        let sp = self.price(py, sym, "stop_price", stop_price, stop_price_ticks)?;
        let is_stop = matches!(otype, ot::STOP | ot::STOP_LIMIT);
        let sp = match (sp, is_stop) {
            (Some(p), true) => p,
            (None, true) => {
                return Err(raise(
                    py,
                    ErrorKind::InvalidPrice,
                    "a stop or stop_limit order needs a stop_price".into(),
                    Some("stop_price"),
                    None,
                    None,
                ))
            }
            (Some(_), false) => {
                return Err(raise(
                    py,
                    ErrorKind::InvalidOrder,
                    "only stop and stop_limit orders take a stop_price".into(),
                    Some("stop_price"),
                    stop_price.map(|p| p.clone().unbind()),
                    None,
                ))
            }
            (None, false) => 0,
        };
        let Some(q) = qty.filter(|q| !q.is_none()) else {
            return Err(raise(
                py,
                ErrorKind::InvalidQuantity,
                "qty is required".into(),
                Some("qty"),
                None,
                None,
            ));
        };
        let lot = self.spec(sym).lot_size;
        let units = uint(py, "qty", q, u64::MAX)?;
        if units % lot != 0 {
            return Err(raise(
                py,
                ErrorKind::InvalidQuantity,
                format!("qty {units} is not a multiple of lot_size {lot}"),
                Some("qty"),
                Some(q.clone().unbind()),
                None,
            ));
        }
        let disp = match display_qty {
            Some(d) if !d.is_none() => uint(py, "display_qty", d, u64::MAX)? / lot,
            _ => 0,
        };
        let exp = match expire_at {
            Some(e) if !e.is_none() => uint(py, "expire_at", e, u64::MAX)?,
            _ => 0,
        };
        let stp_code = match stp {
            Some(s) if !s.is_none() => convert::stp_field(py, "stp", s)? as u8 + 1,
            _ => 0,
        };
        let r = OrderRequest {
            symbol: sym,
            side,
            order_type: otype,
            price: px,
            stop_price: sp,
            qty: units / lot,
            display_qty: disp,
            tif: t,
            expire_at: exp,
            post_only,
            stp: stp_code,
            account,
            client_id,
            urgent,
        };
        match self.engine.try_submit(&r) {
            Ok(TrySubmit::Queued(id)) => Ok(id),
            Ok(TrySubmit::Full(c)) => {
                // The lane is full: wait for room (per on_full) without holding the GIL.
                let e = self.engine.clone();
                run_detached(py, move || e.submit_prepared(c))?.map_err(|e| engine_error(py, e))
            }
            Err(e) => Err(engine_error(py, e)),
        }
    }

    /// Cancel an order (priority lane).
    #[pyo3(signature = (order_id, *, symbol=None, account=None))]
    fn cancel(
        &self,
        py: Python<'_>,
        order_id: &Bound<'_, PyAny>,
        symbol: Option<&Bound<'_, PyAny>>,
        account: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let order_id = uint(py, "order_id", order_id, u64::MAX)?;
        let account = opt_uint(py, "account", account, u32::MAX as u64)? as u32;
        let sym = match symbol {
            Some(s) if !s.is_none() => Some(self.symbol(py, s)?),
            _ => None,
        };
        let e = self.engine.clone();
        run_detached(py, move || e.cancel(order_id, sym, account))?.map_err(|e| engine_error(py, e))
    }

    /// Modify an order's price and/or qty.
    #[pyo3(signature = (order_id, *, price=None, qty=None, price_ticks=None, symbol=None, account=None, urgent=None))]
    #[allow(clippy::too_many_arguments)]
    fn modify(
        &self,
        py: Python<'_>,
        order_id: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        qty: Option<&Bound<'_, PyAny>>,
        price_ticks: Option<&Bound<'_, PyAny>>,
        symbol: Option<&Bound<'_, PyAny>>,
        account: Option<&Bound<'_, PyAny>>,
        urgent: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let order_id = uint(py, "order_id", order_id, u64::MAX)?;
        let account = opt_uint(py, "account", account, u32::MAX as u64)? as u32;
        let urgent = opt_flag(py, "urgent", urgent)?;
        let sym = match symbol {
            Some(s) if !s.is_none() => Some(self.symbol(py, s)?),
            _ => None,
        };
        let owner = match sym {
            Some(s) => s,
            None => self
                .engine_symbol_of(order_id)
                .ok_or_else(|| engine_error(py, EngineError::UnknownOrder(order_id)))?,
        };
        let px = self.price(py, owner, "price", price, price_ticks)?;
        let lot = self.spec(owner).lot_size;
        let q = match qty {
            Some(q) if !q.is_none() => {
                let units = uint(py, "qty", q, u64::MAX)?;
                if units % lot != 0 {
                    return Err(raise(
                        py,
                        ErrorKind::InvalidQuantity,
                        format!("qty {units} is not a multiple of lot_size {lot}"),
                        Some("qty"),
                        Some(q.clone().unbind()),
                        None,
                    ));
                }
                Some(units / lot)
            }
            _ => None,
        };
        let e = self.engine.clone();
        run_detached(py, move || e.modify(order_id, px, q, sym, account, urgent))?
            .map_err(|e| engine_error(py, e))
    }

    /// Cancel every open order (of `account`, `symbol`, `side` when given).
    #[pyo3(signature = (*, account=None, symbol=None, side=None))]
    fn mass_cancel(
        &self,
        py: Python<'_>,
        account: Option<&Bound<'_, PyAny>>,
        symbol: Option<&Bound<'_, PyAny>>,
        side: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let account = opt_uint(py, "account", account, u32::MAX as u64)? as u32;
        let sym = match symbol {
            Some(s) if !s.is_none() => Some(self.symbol(py, s)?),
            _ => None,
        };
        let sd: Option<Side> = match side {
            Some(s) if !s.is_none() => Some(convert::side(py, s)?),
            _ => None,
        };
        let e = self.engine.clone();
        run_detached(py, move || e.mass_cancel(account, sym, sd))?.map_err(|e| engine_error(py, e))
    }

    /// Halt a symbol: new orders rejected, cancels work.
    fn halt(&self, py: Python<'_>, symbol: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = self.symbol(py, symbol)?;
        let e = self.engine.clone();
        run_detached(py, move || e.halt(s))?.map_err(|e| engine_error(py, e))
    }

    /// Kill switch of `account` on or off (see `Engine.kill`).
    fn _kill(&self, py: Python<'_>, account: u32, on: bool) -> PyResult<()> {
        let e = self.engine.clone();
        run_detached(py, move || e.kill(account, on))?.map_err(|e| engine_error(py, e))
    }

    fn _resume_symbol(&self, py: Python<'_>, symbol: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = self.symbol(py, symbol)?;
        let e = self.engine.clone();
        run_detached(py, move || e.resume_symbol(s))?.map_err(|e| engine_error(py, e))
    }

    /// End the session: every DAY order expires.
    fn end_session(&self, py: Python<'_>) -> PyResult<()> {
        let e = self.engine.clone();
        run_detached(py, move || e.end_session())?.map_err(|e| engine_error(py, e))
    }

    /// Up to `max_events` events as a numpy array of `EVENT_DTYPE`, waiting up to `timeout`
    /// seconds for the first (the GIL is released while waiting).
    #[pyo3(signature = (max_events=None, timeout=None))]
    fn poll(
        &self,
        py: Python<'_>,
        max_events: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let max_events = match max_events {
            Some(m) if !m.is_none() => uint(py, "max_events", m, 1 << 32)? as usize,
            _ => 65536,
        };
        let t = match timeout {
            Some(t) if !t.is_none() => seconds_arg(py, "timeout", t)?,
            _ => Duration::ZERO,
        };
        let e = self.engine.clone();
        let events = if t.is_zero() {
            let mut v = Vec::new();
            e.poll(&mut v, max_events, t);
            v
        } else {
            run_detached(py, move || {
                let mut v = Vec::new();
                e.poll(&mut v, max_events, t);
                v
            })?
        };
        let mut events = events;
        lots_to_units(&self.engine, &mut events);
        events_array(py, events)
    }

    /// Simulation mode: process the simulated market up to `until_ns` (engine ns) and return
    /// its events (`EVENT_DTYPE`). With `period_ns > 0`, stop at the end of the first
    /// `period_ns`-aligned window with events. With `accounts`, the private events (accepted
    /// ... expired) of every other account are left out of the array (they are still
    /// numbered, hashed and journaled; only the returned rows are fewer). The GIL is
    /// released while it runs.
    #[pyo3(signature = (until_ns, period_ns=0, accounts=None))]
    fn _sim_run(
        &self,
        py: Python<'_>,
        until_ns: u64,
        period_ns: u64,
        accounts: Option<Vec<u32>>,
    ) -> PyResult<(u64, Py<PyAny>)> {
        let e = self.engine.clone();
        let (reached, mut events) = run_detached(py, move || {
            let mut v = Vec::new();
            let r = e.sim_run(until_ns, period_ns, &mut v);
            if let Some(keep) = accounts {
                // The private kinds are the first codes (`ACCEPTED` ..= `EXPIRED`).
                v.retain(|ev| ev.kind > ek::EXPIRED || keep.contains(&ev.account));
            }
            (r, v)
        })?;
        let reached = reached.map_err(|e| engine_error(py, e))?;
        lots_to_units(&self.engine, &mut events);
        Ok((reached, events_array(py, events)?))
    }

    /// Simulation mode: move the simulated clock forward to `t_ns` (never back).
    fn _sim_set_time(&self, t_ns: u64) {
        self.engine.sim_set_time(t_ns);
    }

    /// Simulation mode: counters (`background_orders`, `background_cancels`,
    /// `api_commands`, `events`, `now`), or None for a live engine.
    fn _sim_counters(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(c) = self.engine.sim_counters() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("background_orders", c.background_orders)?;
        d.set_item("background_cancels", c.background_cancels)?;
        d.set_item("api_commands", c.api_commands)?;
        d.set_item("events", c.events)?;
        d.set_item("now", c.now)?;
        Ok(Some(d.into_any().unbind()))
    }

    /// Whether the engine runs in simulation mode (simulated clock, no shard threads).
    #[getter]
    fn is_simulation(&self) -> bool {
        self.engine.is_simulation()
    }

    /// Simulation mode: `(order_entry_latency_ns, market_data_latency_ns)`.
    #[getter]
    fn _sim_latency(&self) -> Option<(u64, u64)> {
        self.engine
            .sim_config()
            .map(|c| (c.order_entry_latency_ns, c.market_data_latency_ns))
    }

    /// Queue a numpy array of `ENGINE_COMMAND_DTYPE` rows (validated first: nothing queued if
    /// a row is bad). The rows are copied before the GIL is released. Returns the engine
    /// order ids (0 for cancel and modify rows).
    fn submit_batch(&self, py: Python<'_>, commands: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let dt = dtype(py, &ENGINE_COMMAND_DTYPE, "ENGINE_COMMAND_DTYPE")?;
        let ndarray = py.import("numpy")?.getattr("ndarray")?;
        if !commands.is_instance(&ndarray)? {
            return Err(PyTypeError::new_err(format!(
                "commands must be a numpy array of hftbook.ENGINE_COMMAND_DTYPE, got {}",
                commands.get_type().name()?
            )));
        }
        let ndim: usize = commands.getattr("ndim")?.extract()?;
        if ndim != 1 {
            return Err(PyTypeError::new_err(format!(
                "commands must be a 1-dimensional array, got {ndim} dimensions"
            )));
        }
        let arr_dt = commands.getattr("dtype")?;
        if !arr_dt.eq(dt)? {
            return Err(PyTypeError::new_err(format!(
                "commands must be a numpy array of hftbook.ENGINE_COMMAND_DTYPE, got dtype {}",
                arr_dt.str()?
            )));
        }
        let bytes_obj = commands.call_method0("tobytes")?;
        let bytes: &[u8] = bytes_obj.extract()?;
        let n = bytes.len() / std::mem::size_of::<Command>();
        let mut cmds = vec![Command::default(); n];
        cmds.as_mut_bytes()
            .copy_from_slice(&bytes[..n * std::mem::size_of::<Command>()]);
        let table = self.engine.symbols();
        for (row, c) in cmds.iter_mut().enumerate() {
            c._pad = [0; 6];
            // Quantities are units, as in `submit`: the engine counts lots.
            let lot = table
                .entries
                .get(c.symbol as usize)
                .map_or(1, |e| e.cfg.lot_size);
            if lot > 1 && matches!(c.kind, 0 | 2) {
                for (field, q) in [("qty", &mut c.qty), ("display_qty", &mut c.display_qty)] {
                    if *q % lot != 0 {
                        return Err(engine_error(
                            py,
                            EngineError::InvalidRow {
                                row,
                                field,
                                value: q.to_string(),
                                rule: format!("not a multiple of lot_size {lot}"),
                            },
                        ));
                    }
                    *q /= lot;
                }
            }
        }
        let e = self.engine.clone();
        let (res, cmds) = run_detached(py, move || {
            let r = e.submit_batch(&mut cmds);
            (r, cmds)
        })?;
        res.map_err(|e| engine_error(py, e))?;
        let ids: Vec<u64> = cmds
            .iter()
            .map(|c| if c.kind == 0 { c.order_id } else { 0 })
            .collect();
        Ok(PyArray1::from_vec(py, ids).into_any().unbind())
    }

    /// A subscriber queue with filters applied in Rust.
    #[pyo3(signature = (kinds=0, symbols=None, accounts=None, capacity=None, conflate=false))]
    fn _subscribe(
        &self,
        py: Python<'_>,
        kinds: u32,
        symbols: Option<Vec<u32>>,
        accounts: Option<Vec<Bound<'_, PyAny>>>,
        capacity: Option<&Bound<'_, PyAny>>,
        conflate: bool,
    ) -> PyResult<PySubscription> {
        let capacity = match capacity {
            Some(c) if !c.is_none() => uint(py, "capacity", c, 1 << 30)? as usize,
            _ => 65536,
        };
        let accounts = match accounts {
            Some(v) => Some(
                v.iter()
                    .map(|a| uint(py, "accounts", a, u32::MAX as u64).map(|a| a as u32))
                    .collect::<PyResult<Vec<u32>>>()?,
            ),
            None => None,
        };
        let f = Filter {
            kinds,
            symbols: symbols.map(|v| v.into_iter().collect::<FxHashSet<u32>>()),
            accounts: accounts.map(|v| v.into_iter().collect::<FxHashSet<u32>>()),
            ..Filter::default()
        };
        Ok(PySubscription {
            sub: self.engine.subscribe(f, capacity, conflate),
            engine: self.engine.clone(),
        })
    }

    /// Apply a new configuration (a dict like the TOML file). Returns
    /// `(applied, restart_only, added_symbols)`.
    #[pyo3(signature = (config, file=None))]
    fn _reload(
        &self,
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        file: Option<&str>,
    ) -> PyResult<(Vec<String>, Vec<String>, Vec<String>)> {
        let cfg = match parse_config(py, config, file) {
            Ok(c) => c,
            Err(e) => {
                if let Ok(key) = e.value(py).getattr("key") {
                    let ce = ConfigError {
                        file: file.map(str::to_owned),
                        key: key.to_string(),
                        value: e
                            .value(py)
                            .getattr("value")
                            .map_or_else(|_| String::new(), |v| v.to_string()),
                        rule: e
                            .value(py)
                            .getattr("rule")
                            .map_or_else(|_| String::new(), |v| v.to_string()),
                    };
                    self.engine.config_rejected(&ce);
                }
                return Err(e);
            }
        };
        let r = self.engine.reload(cfg).map_err(|e| engine_error(py, e))?;
        Ok((r.applied, r.restart_only, r.added_symbols))
    }

    /// Record that a configuration was rejected before it reached the engine.
    fn _config_rejected(&self, key: String, value: String, rule: String, file: Option<String>) {
        self.engine.config_rejected(&ConfigError {
            file,
            key,
            value,
            rule,
        });
    }

    /// Log lines since the last call: `(topic, message, ts_ns)`.
    fn _drain_logs(&self) -> Vec<(&'static str, String, u64)> {
        self.engine
            .drain_logs()
            .into_iter()
            .map(|r| (r.topic, r.message, r.ts))
            .collect()
    }

    /// Raw statistics (see `hftbook.Engine.stats`).
    fn _stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let shards = PyList::empty(py);
        for s in self.engine.shard_stats() {
            let sd = PyDict::new(py);
            sd.set_item("commands", s.commands)?;
            sd.set_item("events", s.events)?;
            let rej = PyDict::new(py);
            for (i, n) in s.rejects.iter().enumerate() {
                if *n > 0 {
                    rej.set_item(hftbook_engine::REASONS[i], *n)?;
                }
            }
            sd.set_item("rejections", rej)?;
            sd.set_item("priority_depth", s.depth.0)?;
            sd.set_item("normal_depth", s.depth.1)?;
            sd.set_item("priority_high_water", s.high_water.0)?;
            sd.set_item("normal_high_water", s.high_water.1)?;
            sd.set_item("priority_queued", s.pushed.0)?;
            sd.set_item("normal_queued", s.pushed.1)?;
            sd.set_item("backpressure_waits", s.waits.0 + s.waits.1)?;
            sd.set_item(
                "backpressure_rejections",
                s.lane_rejections.0 + s.lane_rejections.1,
            )?;
            sd.set_item("parked", s.parked)?;
            sd.set_item("parks", s.parks)?;
            sd.set_item("event_waits", s.event_waits)?;
            sd.set_item("events_discarded", s.events_discarded)?;
            sd.set_item("cpu_seconds", s.cpu_ns as f64 / 1e9)?;
            let lat = PyDict::new(py);
            for (name, h) in [
                ("queue_wait", &s.latencies.queue_wait),
                ("match", &s.latencies.matching),
                ("publish", &s.latencies.publish),
            ] {
                let ld = PyDict::new(py);
                ld.set_item("count", h.len())?;
                for (q, k) in [(0.5, "p50_ns"), (0.99, "p99_ns"), (0.999, "p999_ns")] {
                    ld.set_item(
                        k,
                        if h.is_empty() {
                            0
                        } else {
                            h.value_at_quantile(q)
                        },
                    )?;
                }
                ld.set_item("max_ns", h.max())?;
                lat.set_item(name, ld)?;
            }
            sd.set_item("latency", lat)?;
            shards.append(sd)?;
        }
        d.set_item("shards", shards)?;
        d.set_item("state", STATE_NAMES[self.engine.state() as usize])?;
        d.set_item(
            "breaker",
            hftbook_engine::record::breaker::NAMES[self.engine.breaker_state() as usize % 3],
        )?;
        d.set_item("orders_issued", self.engine.orders_issued())?;
        Ok(d)
    }

    /// A lock-free read view of a symbol's book (`top()`, `depth(n)`).
    fn book(&self, py: Python<'_>, symbol: &Bound<'_, PyAny>) -> PyResult<PyBookReader> {
        let s = self.symbol(py, symbol)?;
        let t = self.engine.symbols();
        let e = &t.entries[s as usize];
        Ok(PyBookReader::from_parts(
            e.live.reader.clone(),
            self.spec(s),
        ))
    }

    /// `(last_trade_ticks or None, trades, halted)` of a symbol, read lock-free.
    fn _live(
        &self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
    ) -> PyResult<(Option<i64>, u64, bool)> {
        let s = self.symbol(py, symbol)?;
        let t = self.engine.symbols();
        let l = &t.entries[s as usize].live;
        let lt = l.last_trade.load(std::sync::atomic::Ordering::Acquire);
        Ok((
            (lt != i64::MIN).then_some(lt),
            l.trades.load(std::sync::atomic::Ordering::Relaxed),
            l.status.load(std::sync::atomic::Ordering::Acquire) != 0,
        ))
    }
}

impl PyEngineCore {
    fn engine_symbol_of(&self, order_id: u64) -> Option<u32> {
        self.engine.order_symbol(order_id)
    }
}

fn repair_dict<'py>(
    py: Python<'py>,
    r: Option<&hftbook_engine::journal::Repair>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Some(r) = r else { return Ok(None) };
    let d = PyDict::new(py);
    d.set_item("segment", &r.segment)?;
    d.set_item("offset", r.offset)?;
    d.set_item("dropped_bytes", r.dropped_bytes)?;
    d.set_item("reason", &r.reason)?;
    d.set_item("applied", r.applied)?;
    Ok(Some(d))
}

fn scale_lots(lots: &[u64], events: &mut [Event]) {
    if lots.iter().all(|&l| l == 1) {
        return;
    }
    for e in events.iter_mut() {
        let Some(&lot) = lots.get(e.symbol as usize) else {
            continue;
        };
        e.qty = e.qty.saturating_mul(lot);
        if e.kind != hftbook_engine::record::kind::BOOK {
            e.leaves_qty = e.leaves_qty.saturating_mul(lot);
        }
    }
}

/// Replay the journal in `dir` read-only (GIL released): a dict with `events` (numpy,
/// `EVENT_DTYPE`, when `events` is true), `state_hash`, `event_hash`, `records`,
/// `segments`, `repair`, `symbols`, `seconds`.
#[pyfunction]
#[pyo3(signature = (dir, events=true, progress=None))]
pub(crate) fn _replay_journal<'py>(
    py: Python<'py>,
    dir: std::path::PathBuf,
    events: bool,
    progress: Option<PyRef<'py, crate::lobster::PyCounter>>,
) -> PyResult<Bound<'py, PyDict>> {
    let counter = progress.map(|p| {
        let total: u64 = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        p.total.store(total, std::sync::atomic::Ordering::Relaxed);
        p.done.clone()
    });
    let res = run_detached(py, move || {
        replay_journal_with(&dir, events, counter.as_deref())
    })?
    .map_err(|e| engine_error(py, e))?;
    let d = PyDict::new(py);
    let mut ev = res.events;
    scale_lots(&res.lot_sizes, &mut ev);
    d.set_item("events", events_array(py, ev)?)?;
    d.set_item("state_hash", res.state_hash)?;
    d.set_item("event_hash", res.event_hash)?;
    d.set_item("records", res.records)?;
    d.set_item("segments", res.segments)?;
    d.set_item("repair", repair_dict(py, res.repair.as_ref())?)?;
    d.set_item("symbols", PyTuple::new(py, res.symbols)?)?;
    d.set_item("seconds", res.seconds)?;
    Ok(d)
}

/// The commands and events of the journal in `dir` that match the filters (GIL released):
/// `(commands, executed_at, events, symbols)` with commands as `ENGINE_COMMAND_DTYPE`, the
/// shard's time of execution of each, events as `EVENT_DTYPE`.
#[pyfunction]
#[pyo3(signature = (dir, order_id=None, client_id=None, account=None, symbol=None, start_ns=None, end_ns=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn _audit<'py>(
    py: Python<'py>,
    dir: std::path::PathBuf,
    order_id: Option<u64>,
    client_id: Option<u64>,
    account: Option<u32>,
    symbol: Option<u32>,
    start_ns: Option<u64>,
    end_ns: Option<u64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let f = AuditFilter {
        order_id,
        client_id,
        account,
        symbol,
        start_ns,
        end_ns,
    };
    let trail = run_detached(py, move || audit(&dir, &f))?.map_err(|e| engine_error(py, e))?;
    let mut cmds: Vec<Command> = trail.commands.iter().map(|r| r.cmd).collect();
    for c in cmds.iter_mut() {
        if let Some(&lot) = trail.lot_sizes.get(c.symbol as usize) {
            c.qty = c.qty.saturating_mul(lot);
            c.display_qty = c.display_qty.saturating_mul(lot);
        }
    }
    let at: Vec<u64> = trail.commands.iter().map(|r| r.now).collect();
    let words: Vec<u64> = {
        let mut w = vec![0u64; cmds.len() * 12];
        w.as_mut_bytes().copy_from_slice(cmds.as_bytes());
        w
    };
    let dt = dtype(py, &ENGINE_COMMAND_DTYPE, "ENGINE_COMMAND_DTYPE")?;
    let cmd_arr = bytes_as(py, words, dt)?;
    let at_arr = PyArray1::from_vec(py, at);
    let mut ev = trail.events;
    scale_lots(&trail.lot_sizes, &mut ev);
    let ev_arr = events_array(py, ev)?;
    PyTuple::new(
        py,
        [
            cmd_arr,
            at_arr.into_any().unbind(),
            ev_arr,
            PyTuple::new(py, trail.symbols)?.into_any().unbind(),
        ],
    )
}

/// Events as a numpy array of `EVENT_DTYPE` (one copy of the records, no Python objects).
fn events_array(py: Python<'_>, events: Vec<Event>) -> PyResult<Py<PyAny>> {
    let dt = dtype(py, &EVENT_DTYPE, "EVENT_DTYPE")?;
    bytes_as(py, event_words(events), dt)
}

/// The events' buffer as 64-bit words, without a copy (numpy then owns it).
fn event_words(events: Vec<Event>) -> Vec<u64> {
    const WORDS: usize = std::mem::size_of::<Event>() / 8;
    const _: () = assert!(
        std::mem::size_of::<Event>() == WORDS * 8
            && std::mem::align_of::<Event>() == std::mem::align_of::<u64>()
    );
    let mut v = std::mem::ManuallyDrop::new(events);
    let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
    // SAFETY: the buffer was allocated for `cap` Events: `cap * WORDS` u64s have the same
    // size and alignment (asserted above), so the allocation's layout is unchanged and the
    // new Vec frees it correctly; the first `len` Events are initialised and an Event has
    // no padding (`IntoBytes`), so the first `len * WORDS` words are initialised u64s; the
    // old Vec is never used or dropped (`ManuallyDrop`).
    unsafe { Vec::from_raw_parts(ptr.cast::<u64>(), len * WORDS, cap * WORDS) }
}

/// A subscriber's queue (filters applied in Rust).
#[pyclass(name = "Subscription", module = "hftbook._core", frozen)]
pub struct PySubscription {
    sub: Arc<Subscription>,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for PySubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

#[pymethods]
impl PySubscription {
    /// Up to `max_events` events (numpy), waiting up to `timeout` s for the first (GIL
    /// released).
    #[pyo3(signature = (max_events=65536, timeout=None))]
    fn pop(
        &self,
        py: Python<'_>,
        max_events: usize,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.sub.clone();
        let t = match timeout {
            Some(t) if !t.is_none() => seconds_arg(py, "timeout", t)?,
            _ => Duration::from_millis(50),
        };
        let mut v = run_detached(py, move || {
            let mut v = Vec::new();
            s.pop_batch(&mut v, max_events, t);
            v
        })?;
        lots_to_units(&self.engine, &mut v);
        events_array(py, v)
    }
    /// Stop receiving.
    fn close(&self) {
        self.engine.unsubscribe(&self.sub);
    }
    /// Whether closed.
    #[getter]
    fn closed(&self) -> bool {
        self.sub.is_closed()
    }
    /// Events lost to conflation (conflating subscribers only).
    #[getter]
    fn conflated(&self) -> u64 {
        self.sub
            .conflated
            .load(std::sync::atomic::Ordering::Relaxed)
    }
    /// L2 snapshots delivered after gaps (conflating subscribers only).
    #[getter]
    fn snapshots(&self) -> u64 {
        self.sub
            .snapshots
            .load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Follow the symbol indices `symbols` from now on (None: every symbol). A conflating
    /// subscriber first gets an L2 snapshot of each symbol it did not follow before.
    #[pyo3(signature = (symbols=None))]
    fn set_symbols(&self, symbols: Option<Vec<u32>>) {
        let known = self.engine.symbols().entries.len() as u32;
        let before = self.sub.filter().symbols.clone();
        let now: Option<FxHashSet<u32>> = symbols.map(|v| v.into_iter().collect());
        let follows =
            |set: &Option<FxHashSet<u32>>, s: u32| set.as_ref().is_none_or(|x| x.contains(&s));
        let new: Vec<u32> = (0..known)
            .filter(|&s| follows(&now, s) && !follows(&before, s))
            .collect();
        self.sub.set_symbols(now, &new);
        self.engine.sim_serve_snapshots();
    }
}

/// The rows of a numpy array of `EVENT_DTYPE` (1-D, C-contiguous), borrowed when aligned.
fn event_rows<'a>(
    py: Python<'_>,
    batch: &'a Bound<'_, PyAny>,
) -> PyResult<std::borrow::Cow<'a, [Event]>> {
    use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
    use zerocopy::FromBytes;
    let expected = dtype(py, &EVENT_DTYPE, "EVENT_DTYPE")?;
    let wrong = || {
        PyTypeError::new_err(format!(
            "batch must be a 1-D C-contiguous numpy array of hftbook.EVENT_DTYPE, got {}",
            batch
                .getattr("dtype")
                .and_then(|d| d.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| {
                    batch
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                })
        ))
    };
    let a = batch.cast::<PyUntypedArray>().map_err(|_| wrong())?;
    let expected = expected.cast::<numpy::PyArrayDescr>()?;
    if a.ndim() != 1 || !a.is_c_contiguous() || !a.dtype().is_equiv_to(expected) {
        return Err(wrong());
    }
    let n = a.len();
    if n == 0 {
        return Ok(std::borrow::Cow::Borrowed(&[]));
    }
    // SAFETY: `a` is a live ndarray (kept alive by `batch` for 'a), so its array pointer is
    // non-null and its `data` field is readable; the GIL is held.
    let data = unsafe { (*a.as_array_ptr()).fields.data };
    let len = n * std::mem::size_of::<Event>();
    // SAFETY: `data` points at the `n` rows of a C-contiguous 1-D array whose dtype is
    // `Event`'s 112-byte layout (both checked above): `len` initialised bytes, alive while
    // `batch` is. The caller reads them with the GIL held and calls no Python code that
    // could write the array meanwhile.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>().cast_const(), len) };
    Ok(match <[Event]>::ref_from_bytes(bytes) {
        // Any 112 bytes are an `Event` (`FromBytes`); alignment is checked here.
        Ok(rows) => std::borrow::Cow::Borrowed(rows),
        Err(_) => std::borrow::Cow::Owned(
            bytes
                .chunks_exact(std::mem::size_of::<Event>())
                .filter_map(|c| Event::read_from_bytes(c).ok())
                .collect(),
        ),
    })
}

/// One pass over a window's events for a strategy (the market maker's `on_events`): the
/// symbols with an event whose kind is in `touch_kinds` (a bit per kind code; ascending,
/// once each), the last trade price of each symbol that traded (`(symbol, price_ticks)`,
/// ascending symbol), and the rows whose kind is in `own_kinds` as tuples `(order_id,
/// kind, symbol, side, price_ticks, qty, leaves_qty, reason)`, in batch order. Replaces
/// ~15 numpy calls per window (masks, selections, `tolist`) with one.
#[pyfunction]
pub(crate) fn _scan_events<'py>(
    py: Python<'py>,
    batch: &Bound<'py, PyAny>,
    touch_kinds: u64,
    own_kinds: u64,
) -> PyResult<Bound<'py, PyTuple>> {
    let rows = event_rows(py, batch)?;
    let bit = |mask: u64, k: u8| k < 64 && mask & (1u64 << k) != 0;
    let mut touched: Vec<u32> = Vec::new();
    let mut last: Vec<(u32, i64)> = Vec::new();
    let own = PyList::empty(py);
    for e in rows.iter() {
        if bit(touch_kinds, e.kind) {
            touched.push(e.symbol);
        }
        if e.kind == ek::TRADE {
            match last.iter_mut().find(|(s, _)| *s == e.symbol) {
                Some(slot) => slot.1 = e.price,
                None => last.push((e.symbol, e.price)),
            }
        }
        if bit(own_kinds, e.kind) {
            own.append((
                e.order_id,
                e.kind,
                e.symbol,
                e.side,
                e.price,
                e.qty,
                e.leaves_qty,
                e.reason,
            ))?;
        }
    }
    touched.sort_unstable();
    touched.dedup();
    last.sort_unstable_by_key(|(s, _)| *s);
    PyTuple::new(
        py,
        [
            PyList::new(py, touched)?.into_any(),
            PyList::new(py, last)?.into_any(),
            own.into_any(),
        ],
    )
}
