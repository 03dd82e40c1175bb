//! Binding of the Databento MBO reader and MBP-10 replay (`hftbook.data.mbo` wraps it).
//! Columns cross as numpy arrays (no per-row Python objects); the work runs without the GIL.

use std::path::PathBuf;
use std::time::Instant;

use hftbook_core::mbo::{
    self, EmitRule, MboError, MboFile, MboRecord, Mbp10Row, MbpReplay, MBP_LEVELS, UNDEF_PRICE,
};
use hftbook_core::mbo_dbn;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::run_detached;

static DATA_FORMAT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A `hftbook.exceptions.DataFormatError` with its `path`, `line`, `field` and `offset`.
pub(crate) fn data_format_error(
    py: Python<'_>,
    message: String,
    path: Option<&str>,
    line: Option<usize>,
    field: Option<&str>,
    offset: Option<u64>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = DATA_FORMAT_ERROR.import(py, "hftbook.exceptions", "DataFormatError")?;
        let kw = PyDict::new(py);
        kw.set_item("path", path)?;
        kw.set_item("line", line)?;
        kw.set_item("field", field)?;
        kw.set_item("offset", offset)?;
        Ok(PyErr::from_value(cls.call((message,), Some(&kw))?))
    };
    build().unwrap_or_else(|e| e)
}

fn mbo_error(py: Python<'_>, e: &MboError) -> PyErr {
    let line = e.line().filter(|&l| l > 0);
    data_format_error(
        py,
        e.to_string(),
        Some(e.path()),
        line,
        e.field(),
        e.offset(),
    )
}

fn rule_of(emit: &str) -> PyResult<EmitRule> {
    match emit {
        "reference" => Ok(EmitRule::Reference),
        "top_change" => Ok(EmitRule::TopChange),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "emit must be 'reference' or 'top_change', got {other:?}"
        ))),
    }
}

/// CSV or DBN (plain or zstd), told apart by the first bytes.
fn load(path: Option<PathBuf>, data: Option<Vec<u8>>) -> Result<MboFile, MboError> {
    match (path, data) {
        (_, Some(d)) => mbo::parse_mbo(&d, "<bytes>"),
        (Some(p), None) => mbo::read_mbo(&p),
        (None, None) => mbo::parse_mbo(b"", "<bytes>"),
    }
}

fn mbo_columns<'py>(py: Python<'py>, f: &MboFile) -> PyResult<Bound<'py, PyDict>> {
    let r = &f.records;
    let d = PyDict::new(py);
    macro_rules! col {
        ($name:literal, $field:ident) => {
            d.set_item(
                $name,
                r.iter()
                    .map(|x| x.$field)
                    .collect::<Vec<_>>()
                    .into_pyarray(py),
            )?;
        };
    }
    col!("ts_recv", ts_recv);
    col!("ts_event", ts_event);
    col!("rtype", rtype);
    col!("publisher_id", publisher_id);
    col!("instrument_id", instrument_id);
    col!("action", action);
    col!("side", side);
    col!("price", price);
    col!("size", size);
    col!("channel_id", channel_id);
    col!("order_id", order_id);
    col!("flags", flags);
    col!("ts_in_delta", ts_in_delta);
    col!("sequence", sequence);
    col!("symbol", symbol);
    col!("line", line);
    d.set_item("symbols", f.symbols.clone())?;
    d.set_item("source", f.source.clone())?;
    d.set_item("format", f.format.as_str())?;
    Ok(d)
}

/// Parse a Databento MBO file, CSV or DBN (a path, or the file's bytes), into columns.
#[pyfunction]
#[pyo3(signature = (path=None, data=None))]
fn _mbo_read<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    data: Option<Vec<u8>>,
) -> PyResult<Bound<'py, PyDict>> {
    let f = run_detached(py, move || load(path, data))?.map_err(|e| mbo_error(py, &e))?;
    mbo_columns(py, &f)
}

fn mbp_columns<'py>(py: Python<'py>, rows: &[Mbp10Row], d: &Bound<'py, PyDict>) -> PyResult<()> {
    macro_rules! col {
        ($name:literal, $field:ident) => {
            d.set_item(
                $name,
                rows.iter()
                    .map(|x| x.$field)
                    .collect::<Vec<_>>()
                    .into_pyarray(py),
            )?;
        };
    }
    macro_rules! lv {
        ($name:literal, $field:ident) => {
            d.set_item(
                $name,
                rows.iter()
                    .flat_map(|x| x.$field)
                    .collect::<Vec<_>>()
                    .into_pyarray(py),
            )?;
        };
    }
    col!("ts_recv", ts_recv);
    col!("ts_event", ts_event);
    col!("publisher_id", publisher_id);
    col!("instrument_id", instrument_id);
    col!("action", action);
    col!("side", side);
    col!("depth", depth);
    col!("price", price);
    col!("size", size);
    col!("flags", flags);
    col!("ts_in_delta", ts_in_delta);
    col!("sequence", sequence);
    lv!("bid_px", bid_px);
    lv!("bid_sz", bid_sz);
    lv!("bid_ct", bid_ct);
    lv!("ask_px", ask_px);
    lv!("ask_sz", ask_sz);
    lv!("ask_ct", ask_ct);
    col!("symbol", symbol);
    col!("order_id", order_id);
    Ok(())
}

struct Run {
    file: MboFile,
    replay: MbpReplay,
    parse_s: f64,
    replay_s: f64,
    cmp: Option<mbo::MbpComparison>,
    expected_rows: Option<usize>,
}

/// Parse, replay, and optionally write the CSV and compare it with an expected MBP-10 file,
/// all without the GIL. Returns the rows as columns plus the figures of the report.
#[pyfunction]
#[pyo3(signature = (path=None, data=None, *, tick_nanos=None, emit="reference", expected=None, out=None, crlf=None, counter=None))]
#[allow(clippy::too_many_arguments)]
fn _mbo_replay<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    data: Option<Vec<u8>>,
    tick_nanos: Option<i64>,
    emit: &str,
    expected: Option<PathBuf>,
    out: Option<PathBuf>,
    crlf: Option<bool>,
    counter: Option<PyRef<'py, crate::lobster::PyCounter>>,
) -> PyResult<Bound<'py, PyDict>> {
    let rule = rule_of(emit)?;
    let counter = counter.map(|c| (c.done.clone(), c.total.clone()));
    if let Some(t) = tick_nanos {
        if t <= 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "tick_size must be positive, got {t} nanodollars"
            )));
        }
    }
    let res = run_detached(py, move || -> Result<Run, PyErrLater> {
        let t0 = Instant::now();
        let file = load(path, data).map_err(PyErrLater::Mbo)?;
        let t1 = Instant::now();
        let done = counter.as_ref().map(|(done, total)| {
            total.store(
                file.records.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            &**done
        });
        let replay = mbo::replay_mbo_with_progress(&file, tick_nanos, rule, done)
            .map_err(PyErrLater::Mbo)?;
        let replay_s = t1.elapsed().as_secs_f64();
        let parse_s = (t1 - t0).as_secs_f64();
        let mut cmp = None;
        let mut expected_rows = None;
        if out.is_some() || expected.is_some() {
            let want = match &expected {
                Some(x) => Some(
                    std::fs::read(x)
                        .map_err(|e| PyErrLater::Io(x.display().to_string(), e.to_string()))?,
                ),
                None => None,
            };
            // Unset: follow the expected file's line ends (LF without one).
            let crlf =
                crlf.unwrap_or_else(|| want.as_deref().is_some_and(mbo::ends_lines_with_crlf));
            let mut text = Vec::with_capacity(replay.rows.len() * 400);
            mbo::write_mbp10_csv(&replay.rows, &file.symbols, crlf, &mut text)
                .map_err(|e| PyErrLater::Io(String::new(), e.to_string()))?;
            if let Some(o) = &out {
                std::fs::write(o, &text)
                    .map_err(|e| PyErrLater::Io(o.display().to_string(), e.to_string()))?;
            }
            if let Some(want) = want {
                let ours = String::from_utf8_lossy(&text);
                let c = mbo::compare_mbp10_csv(&ours, &String::from_utf8_lossy(&want));
                expected_rows = Some(c.rows_expected);
                cmp = Some(c);
            }
        }
        Ok(Run {
            file,
            replay,
            parse_s,
            replay_s,
            cmp,
            expected_rows,
        })
    })?;
    let run = match res {
        Ok(r) => r,
        Err(PyErrLater::Mbo(e)) => return Err(mbo_error(py, &e)),
        Err(PyErrLater::Io(p, m)) => {
            return Err(data_format_error(
                py,
                format!("{p}: cannot read or write: {m}"),
                Some(&p),
                None,
                None,
                None,
            ))
        }
    };
    let d = PyDict::new(py);
    mbp_columns(py, &run.replay.rows, &d)?;
    d.set_item("symbols", run.file.symbols.clone())?;
    d.set_item("source", run.file.source.clone())?;
    d.set_item("format", run.file.format.as_str())?;
    let instruments: Vec<(u32, String, usize, usize, usize, usize)> = run
        .replay
        .instruments
        .iter()
        .map(|x| {
            (
                x.instrument_id,
                run.file
                    .symbols
                    .get(x.symbol as usize)
                    .cloned()
                    .unwrap_or_default(),
                x.records,
                x.rows,
                x.book_events,
                x.resting_orders,
            )
        })
        .collect();
    d.set_item("instruments", instruments)?;
    d.set_item("records", run.replay.records)?;
    d.set_item("book_events", run.replay.book_events)?;
    d.set_item("resting_orders", run.replay.resting_orders)?;
    d.set_item("tick_nanos", run.replay.tick_nanos)?;
    d.set_item("seconds_parse", run.parse_s)?;
    d.set_item("seconds_replay", run.replay_s)?;
    if let Some(c) = run.cmp {
        d.set_item("rows_expected", run.expected_rows)?;
        d.set_item("rows_equal", c.rows_equal)?;
        d.set_item("first_mismatch", c.first_mismatch)?;
    }
    Ok(d)
}

enum PyErrLater {
    Mbo(MboError),
    Io(String, String),
}

/// Format MBP-10 rows given as columns (the `MBP10_DTYPE` fields) as the reference CSV.
#[pyfunction]
#[pyo3(signature = (columns, levels, symbols, codes, crlf=false))]
fn _mbp10_csv<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
    levels: &Bound<'py, PyDict>,
    symbols: Vec<String>,
    codes: PyReadonlyArray1<'py, u32>,
    crlf: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    fn col<'py, T: numpy::Element + Copy>(d: &Bound<'py, PyDict>, k: &str) -> PyResult<Vec<T>> {
        let v = d
            .get_item(k)?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(k.to_string()))?;
        let a: PyReadonlyArray1<'py, T> = v.extract()?;
        Ok(a.as_array().iter().copied().collect())
    }
    fn lv<'py, T: numpy::Element + Copy + Default>(
        d: &Bound<'py, PyDict>,
        k: &str,
        n: usize,
    ) -> PyResult<Vec<[T; MBP_LEVELS]>> {
        let v = d
            .get_item(k)?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(k.to_string()))?;
        let a: PyReadonlyArray2<'py, T> = v.extract()?;
        if a.shape() != [n, MBP_LEVELS] {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{k} must have shape ({n}, {MBP_LEVELS})"
            )));
        }
        let a = a.as_array();
        Ok((0..n)
            .map(|i| {
                let mut out = [T::default(); MBP_LEVELS];
                for (j, o) in out.iter_mut().enumerate() {
                    *o = a[[i, j]];
                }
                out
            })
            .collect())
    }
    let ts_recv: Vec<i64> = col(columns, "ts_recv")?;
    let n = ts_recv.len();
    let ts_event: Vec<i64> = col(columns, "ts_event")?;
    let publisher_id: Vec<u16> = col(columns, "publisher_id")?;
    let instrument_id: Vec<u32> = col(columns, "instrument_id")?;
    let action: Vec<u8> = col(columns, "action")?;
    let side: Vec<u8> = col(columns, "side")?;
    let depth: Vec<u8> = col(columns, "depth")?;
    let price: Vec<i64> = col(columns, "price")?;
    let size: Vec<u32> = col(columns, "size")?;
    let flags: Vec<u8> = col(columns, "flags")?;
    let ts_in_delta: Vec<i32> = col(columns, "ts_in_delta")?;
    let sequence: Vec<u32> = col(columns, "sequence")?;
    let order_id: Vec<u64> = col(columns, "order_id")?;
    let bid_px: Vec<[i64; MBP_LEVELS]> = lv(levels, "bid_px", n)?;
    let bid_sz: Vec<[u32; MBP_LEVELS]> = lv(levels, "bid_sz", n)?;
    let bid_ct: Vec<[u32; MBP_LEVELS]> = lv(levels, "bid_ct", n)?;
    let ask_px: Vec<[i64; MBP_LEVELS]> = lv(levels, "ask_px", n)?;
    let ask_sz: Vec<[u32; MBP_LEVELS]> = lv(levels, "ask_sz", n)?;
    let ask_ct: Vec<[u32; MBP_LEVELS]> = lv(levels, "ask_ct", n)?;
    let codes = codes.as_array();
    let lens = [
        ts_event.len(),
        publisher_id.len(),
        instrument_id.len(),
        action.len(),
        side.len(),
        depth.len(),
        price.len(),
        size.len(),
        flags.len(),
        ts_in_delta.len(),
        sequence.len(),
        order_id.len(),
        codes.len(),
    ];
    if lens.iter().any(|&l| l != n) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "every MBP-10 column must have the same length",
        ));
    }
    let rows: Vec<Mbp10Row> = (0..n)
        .map(|i| Mbp10Row {
            ts_recv: ts_recv[i],
            ts_event: ts_event[i],
            publisher_id: publisher_id[i],
            instrument_id: instrument_id[i],
            action: action[i],
            side: side[i],
            depth: depth[i],
            price: price[i],
            size: size[i],
            flags: flags[i],
            ts_in_delta: ts_in_delta[i],
            sequence: sequence[i],
            bid_px: bid_px[i],
            bid_sz: bid_sz[i],
            bid_ct: bid_ct[i],
            ask_px: ask_px[i],
            ask_sz: ask_sz[i],
            ask_ct: ask_ct[i],
            symbol: codes[i],
            order_id: order_id[i],
        })
        .collect();
    let text = run_detached(py, move || {
        let mut text = Vec::with_capacity(rows.len() * 400);
        mbo::write_mbp10_csv(&rows, &symbols, crlf, &mut text).map(|()| text)
    })?
    .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &text))
}

/// Encode MBO records given as columns (the `MBO_DTYPE` fields but `symbol` and `line`, with
/// `codes` indexing `symbols`) as a DBN file at `path`, zstd-compressed if `zstd`.
#[pyfunction]
#[pyo3(signature = (columns, symbols, codes, path, zstd))]
fn _mbo_write_dbn<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
    symbols: Vec<String>,
    codes: PyReadonlyArray1<'py, u32>,
    path: PathBuf,
    zstd: bool,
) -> PyResult<()> {
    fn col<'py, T: numpy::Element + Copy>(
        d: &Bound<'py, PyDict>,
        k: &str,
        n: usize,
    ) -> PyResult<Vec<T>> {
        let v = d
            .get_item(k)?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(k.to_string()))?;
        let a: PyReadonlyArray1<'py, T> = v.extract()?;
        if a.len() != n {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "column {k} has {} values, expected {n}",
                a.len()
            )));
        }
        Ok(a.as_array().iter().copied().collect())
    }
    let codes: Vec<u32> = codes.as_array().iter().copied().collect();
    let n = codes.len();
    if let Some(&bad) = codes.iter().find(|&&c| c as usize >= symbols.len().max(1)) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "symbol code {bad} is out of range of {} symbols",
            symbols.len()
        )));
    }
    let ts_recv: Vec<i64> = col(columns, "ts_recv", n)?;
    let ts_event: Vec<i64> = col(columns, "ts_event", n)?;
    let rtype: Vec<u8> = col(columns, "rtype", n)?;
    let publisher_id: Vec<u16> = col(columns, "publisher_id", n)?;
    let instrument_id: Vec<u32> = col(columns, "instrument_id", n)?;
    let action: Vec<u8> = col(columns, "action", n)?;
    let side: Vec<u8> = col(columns, "side", n)?;
    let price: Vec<i64> = col(columns, "price", n)?;
    let size: Vec<u32> = col(columns, "size", n)?;
    let channel_id: Vec<u8> = col(columns, "channel_id", n)?;
    let order_id: Vec<u64> = col(columns, "order_id", n)?;
    let flags: Vec<u8> = col(columns, "flags", n)?;
    let ts_in_delta: Vec<i32> = col(columns, "ts_in_delta", n)?;
    let sequence: Vec<u32> = col(columns, "sequence", n)?;
    let records: Vec<MboRecord> = (0..n)
        .map(|i| MboRecord {
            ts_recv: ts_recv[i],
            ts_event: ts_event[i],
            rtype: rtype[i],
            publisher_id: publisher_id[i],
            instrument_id: instrument_id[i],
            action: action[i],
            side: side[i],
            price: price[i],
            size: size[i],
            channel_id: channel_id[i],
            order_id: order_id[i],
            flags: flags[i],
            ts_in_delta: ts_in_delta[i],
            sequence: sequence[i],
            symbol: codes[i],
            line: (i + 1).min(u32::MAX as usize) as u32,
        })
        .collect();
    let file = MboFile {
        source: path.display().to_string(),
        records,
        symbols,
        ..MboFile::default()
    };
    run_detached(py, move || mbo_dbn::write_mbo_dbn_file(&file, &path, zstd))?
        .map_err(|e| mbo_error(py, &e))
}

/// Register the MBO functions in `_core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_mbo_read, m)?)?;
    m.add_function(wrap_pyfunction!(_mbo_replay, m)?)?;
    m.add_function(wrap_pyfunction!(_mbp10_csv, m)?)?;
    m.add_function(wrap_pyfunction!(_mbo_write_dbn, m)?)?;
    m.add("MBO_UNDEF_PRICE", UNDEF_PRICE)?;
    Ok(())
}
