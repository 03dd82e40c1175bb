//! Journaled engines: creating a journal, recovering an engine from one, replaying it
//! read-only, the state and event-stream hashes, and the audit trail of an order.
//!
//! A journal directory holds
//! * `config.toml`: the configuration the journal was created with (its XXH3 hash is in
//!   every segment header);
//! * `symbols.toml`: every symbol, its index, shard and options, rewritten (atomically)
//!   before a new symbol can trade;
//! * `ids`: the order-id reservation (ids are handed out in reserved blocks, so a restart
//!   never reissues an id a producer may have seen);
//! * `NNNNNNNNNNNNNNNNNNNN.seg`: the segments (see [`crate::journal::format`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use hftbook_core::Clock;
use toml::Value;
use xxhash_rust::xxh3::Xxh3;

use crate::config::{parse_symbol, EngineConfig, SymbolConfig};
use crate::engine::{Engine, EngineError, Shared, SymbolTable, STATE_NAMES};
use crate::journal::format::Record;
use crate::journal::reader::{
    for_each_record, for_each_record_with, scan, segment_files, JournalScan, Repair,
};
use crate::journal::writer::{JournalShared, ShardJournal, Writer};
use crate::journal::{hash64, snapshot, Fsync, JournalError, JournalOptions};
use crate::lanes::Lanes;
use crate::record::{reason, Event};
use crate::shard::{EventOut, Shard};

/// Ids reserved per block (one small synced file write per block).
const ID_BLOCK: u64 = 1 << 20;

/// What a recovery found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Records replayed.
    pub records: u64,
    /// Segments read.
    pub segments: usize,
    /// Journal record number the engine goes on from.
    pub next_record: u64,
    /// Highest command sequence number replayed.
    pub last_seq: u64,
    /// First order id the recovered engine issues.
    pub next_order_id: u64,
    /// The torn tail that was cut off, if any.
    pub repair: Option<Repair>,
    /// Snapshot files loaded (one per shard at most).
    pub snapshots: Vec<String>,
    /// Records replayed after the snapshots.
    pub replayed: u64,
    /// Snapshot files passed over (damaged, or from another journal), and why.
    pub snapshot_problems: Vec<String>,
    /// Wall time of the recovery, seconds.
    pub seconds: f64,
}

/// The result of a read-only replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayResult {
    /// The re-emitted events: each shard's in its order, shards interleaved by processing
    /// time. `seq` is renumbered in that order.
    pub events: Vec<Event>,
    /// Hash of the state after the last record (equals [`Engine::state_hash`] of the
    /// original engine after its stop).
    pub state_hash: String,
    /// Hash of the event stream (equals [`Engine::event_hash`] of the original engine).
    pub event_hash: String,
    /// Records replayed.
    pub records: u64,
    /// Segments read.
    pub segments: usize,
    /// A torn tail found (not cut: a replay never writes).
    pub repair: Option<Repair>,
    /// Symbols by index.
    pub symbols: Vec<String>,
    /// Lot size of each symbol, by index.
    pub lot_sizes: Vec<u64>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Which commands and events an audit keeps (all given filters must match).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Engine order id (commands naming it; its own events; the public trades it took
    /// part in).
    pub order_id: Option<u64>,
    /// The user's client id.
    pub client_id: Option<u64>,
    /// Account.
    pub account: Option<u32>,
    /// Symbol index.
    pub symbol: Option<u32>,
    /// Engine time from (ns, inclusive).
    pub start_ns: Option<u64>,
    /// Engine time to (ns, exclusive).
    pub end_ns: Option<u64>,
}

impl AuditFilter {
    fn command(&self, r: &Record) -> bool {
        let c = &r.cmd;
        if r.cmd.kind > crate::record::cmd::LAST {
            return false;
        }
        self.order_id.is_none_or(|v| c.order_id == v)
            && self.client_id.is_none_or(|v| c.client_id == v)
            && self.account.is_none_or(|v| c.account == v)
            && self.symbol.is_none_or(|v| c.symbol == v)
            && self.start_ns.is_none_or(|v| r.now >= v)
            && self.end_ns.is_none_or(|v| r.now < v)
    }
    fn event(&self, e: &Event) -> bool {
        self.order_id.is_none_or(|v| {
            e.order_id == v
                || (e.kind == crate::record::kind::TRADE && (e.maker_id == v || e.taker_id == v))
        }) && self.client_id.is_none_or(|v| e.client_id == v)
            && self.account.is_none_or(|v| e.account == v)
            && self.symbol.is_none_or(|v| e.symbol == v)
            && self.start_ns.is_none_or(|v| e.ts_processed >= v)
            && self.end_ns.is_none_or(|v| e.ts_processed < v)
    }
}

/// An order's (or an account's, a symbol's ...) life from the journal.
#[derive(Debug, Clone, Default)]
pub struct AuditTrail {
    /// The commands, in journal order, with the shard's time of execution.
    pub commands: Vec<Record>,
    /// The events they caused.
    pub events: Vec<Event>,
    /// Symbols by index.
    pub symbols: Vec<String>,
    /// Lot size of each symbol, by index.
    pub lot_sizes: Vec<u64>,
}

#[derive(Debug, Clone)]
struct SymbolLine {
    index: u32,
    name: String,
    shard: usize,
    cfg: SymbolConfig,
}

fn io(path: &Path, op: &'static str, e: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        op,
        source: e,
    }
}

/// Write a small file atomically: a temp file, synced, renamed, directory synced.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    crate::journal::writer::write_file_durably(path, bytes)
        .map_err(|e| io(path, "write durably", e))
}

fn symbols_text(lines: &[SymbolLine]) -> String {
    let arr: Vec<Value> = lines
        .iter()
        .map(|l| {
            let mut t = toml::Table::new();
            t.insert("index".into(), Value::Integer(i64::from(l.index)));
            t.insert("name".into(), Value::String(l.name.clone()));
            t.insert("shard".into(), Value::Integer(l.shard as i64));
            t.insert("config".into(), Value::Table(l.cfg.to_table()));
            Value::Table(t)
        })
        .collect();
    let mut root = toml::Table::new();
    root.insert("symbol".into(), Value::Array(arr));
    root.to_string()
}

fn read_symbols(dir: &Path) -> Result<Vec<SymbolLine>, JournalError> {
    let path = dir.join("symbols.toml");
    let bad = |problem: String| JournalError::Invalid {
        path: path.display().to_string(),
        problem,
    };
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&path, "read", e)),
    };
    let root: toml::Table = text.parse().map_err(|e| bad(format!("{e}")))?;
    let mut out = Vec::new();
    if let Some(arr) = root.get("symbol").and_then(Value::as_array) {
        for (i, v) in arr.iter().enumerate() {
            let t = v
                .as_table()
                .ok_or_else(|| bad(format!("symbol {i} is not a table")))?;
            let int = |k: &str| {
                t.get(k)
                    .and_then(Value::as_integer)
                    .ok_or_else(|| bad(format!("symbol {i}: {k} must be an integer")))
            };
            let index = int("index")? as u32;
            let shard = int("shard")? as usize;
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("symbol {i}: name must be text")))?
                .to_owned();
            let cfg_t = t
                .get("config")
                .and_then(Value::as_table)
                .ok_or_else(|| bad(format!("symbol {i}: config must be a table")))?;
            let cfg = parse_symbol(Some("symbols.toml"), &format!("symbol.{name}"), cfg_t)
                .map_err(|e| bad(e.to_string()))?;
            if index as usize != i {
                return Err(bad(format!(
                    "symbol {name} has index {index}, expected {i} (the file lists symbols in index order)"
                )));
            }
            out.push(SymbolLine {
                index,
                name,
                shard,
                cfg,
            });
        }
    }
    Ok(out)
}

fn read_ids(dir: &Path) -> Result<u64, JournalError> {
    let path = dir.join("ids");
    match fs::read(&path) {
        Ok(b) if b.len() == 12 => {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[..8]);
            let mut c = [0u8; 4];
            c.copy_from_slice(&b[8..12]);
            if crc32c::crc32c(&b[..8]) != u32::from_le_bytes(c) {
                return Err(JournalError::Corrupt {
                    segment: path.display().to_string(),
                    offset: 0,
                    problem: "id reservation checksum mismatch".into(),
                });
            }
            Ok(u64::from_le_bytes(v))
        }
        Ok(b) => Err(JournalError::Corrupt {
            segment: path.display().to_string(),
            offset: 0,
            problem: format!("id reservation is {} bytes, expected 12", b.len()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io(&path, "read", e)),
    }
}

/// The engine's handle on its journal.
pub(crate) struct JournalHandle {
    pub opts: JournalOptions,
    pub js: Arc<JournalShared>,
    writer: Mutex<Option<Writer>>,
    tx: Mutex<Vec<Option<ShardJournal>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    ids_reserved: AtomicU64,
    ids_lock: Mutex<()>,
    symbols: Mutex<Vec<SymbolLine>>,
    /// Per shard: its records in the journal when this engine was built.
    base: Vec<u64>,
}

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalHandle")
            .field("dir", &self.opts.dir)
            .finish()
    }
}

impl JournalHandle {
    #[allow(clippy::too_many_arguments)]
    fn open(
        opts: JournalOptions,
        lanes: &[Arc<Lanes>],
        shared: &Arc<Shared>,
        config_hash: u64,
        next_record: u64,
        seg_no: u64,
        base: Vec<u64>,
        ids_reserved: u64,
        symbols: Vec<SymbolLine>,
    ) -> Result<JournalHandle, JournalError> {
        let shards = lanes.len();
        let js = Arc::new(JournalShared::new(
            shards,
            opts.fsync,
            config_hash,
            opts.snapshot_every,
        ));
        let wake_lanes: Vec<Arc<Lanes>> = lanes.to_vec();
        let log_shared = shared.clone();
        let (writer, tx) = Writer::open(
            &opts.dir,
            opts.storage.clone(),
            js.clone(),
            shards,
            opts.ring_capacity,
            opts.segment_bytes,
            config_hash,
            next_record,
            seg_no,
            &base,
            Box::new(move || {
                for l in &wake_lanes {
                    l.unpark();
                }
            }),
            Box::new(move |m| log_shared.log("journal", m)),
        )?;
        Ok(JournalHandle {
            opts,
            js,
            writer: Mutex::new(Some(writer)),
            tx: Mutex::new(tx.into_iter().map(Some).collect()),
            thread: Mutex::new(None),
            ids_reserved: AtomicU64::new(ids_reserved),
            ids_lock: Mutex::new(()),
            symbols: Mutex::new(symbols),
            base,
        })
    }

    pub(crate) fn start_writer(&self, lanes: &[Arc<Lanes>]) -> Result<(), EngineError> {
        let Some(mut w) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        w.begin()?;
        let shards = lanes.len();
        let h = std::thread::Builder::new()
            .name("hftbook-journal".into())
            .spawn(move || w.run(shards))
            .map_err(|_| EngineError::Lifecycle {
                action: "start (journal thread spawn failed)",
                state: "created",
            })?;
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        Ok(())
    }

    pub(crate) fn take_shard_end(&self, i: usize) -> Option<ShardJournal> {
        self.tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(i)
            .and_then(Option::take)
    }

    pub(crate) fn join_writer(&self) {
        let h = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }

    /// Make sure ids below `upto` are covered by a durable reservation.
    pub(crate) fn reserve_ids(&self, upto: u64) -> Result<(), EngineError> {
        if upto <= self.ids_reserved.load(Ordering::Acquire) {
            return Ok(());
        }
        let _g = self.ids_lock.lock().unwrap_or_else(|p| p.into_inner());
        let have = self.ids_reserved.load(Ordering::Acquire);
        if upto <= have {
            return Ok(());
        }
        let next = upto.div_ceil(ID_BLOCK) * ID_BLOCK;
        let mut b = next.to_le_bytes().to_vec();
        b.extend_from_slice(&crc32c::crc32c(&next.to_le_bytes()).to_le_bytes());
        write_atomic(&self.opts.dir.join("ids"), &b)?;
        self.ids_reserved.store(next, Ordering::Release);
        Ok(())
    }

    /// Add a symbol to `symbols.toml` (durably) before it can trade.
    pub(crate) fn record_symbol(
        &self,
        table: &SymbolTable,
        name: &str,
        shard: usize,
        cfg: &SymbolConfig,
    ) -> Result<(), EngineError> {
        let mut lines = self.symbols.lock().unwrap_or_else(|p| p.into_inner());
        let index = table.entries.len() as u32;
        if lines.len() as u32 != index {
            // Recovery re-adds the symbols the file already lists.
            return Ok(());
        }
        lines.push(SymbolLine {
            index,
            name: name.to_owned(),
            shard,
            cfg: cfg.clone(),
        });
        if let Err(e) = write_atomic(
            &self.opts.dir.join("symbols.toml"),
            symbols_text(&lines).as_bytes(),
        ) {
            lines.pop();
            return Err(e.into());
        }
        Ok(())
    }
}

/// The configuration without its symbols (they come from `symbols.toml`).
fn without_symbols(c: &EngineConfig) -> EngineConfig {
    EngineConfig {
        symbols: Default::default(),
        ..c.clone()
    }
}

fn read_config(dir: &Path) -> Result<(EngineConfig, u64), JournalError> {
    let path = dir.join("config.toml");
    let text = fs::read_to_string(&path).map_err(|e| io(&path, "read", e))?;
    let cfg = EngineConfig::from_toml(&text, Some(&path.display().to_string())).map_err(|e| {
        JournalError::Invalid {
            path: path.display().to_string(),
            problem: e.to_string(),
        }
    })?;
    Ok((cfg, hash64(text.as_bytes())))
}

/// Replay the records of `scan` from segment `from` on into `shards`, skipping each shard's
/// first `skip[s]` records (its snapshot has them); returns (max order id, max seq, max now,
/// records replayed).
fn replay_into(
    scan: &JournalScan,
    shards: &mut [Shard],
    from: usize,
    skip: &[u64],
    progress: Option<&AtomicU64>,
) -> Result<(u64, u64, u64, u64), JournalError> {
    let n = shards.len();
    let mut count: Vec<u64> = scan
        .segments
        .get(from)
        .map(|s| s.shard_start.clone())
        .unwrap_or_default();
    count.resize(n, 0);
    let mut max_now = 0u64;
    let mut replayed = 0u64;
    for_each_record_with(scan, from, progress, |r: Record| {
        let s = r.shard as usize;
        if s >= n {
            return Err(JournalError::Invalid {
                path: scan.dir.display().to_string(),
                problem: format!(
                    "a record of shard {s}, but the journal's engine has {n} shard(s)"
                ),
            });
        }
        let k = count[s];
        count[s] += 1;
        max_now = max_now.max(r.now);
        if k < skip.get(s).copied().unwrap_or(0) {
            return Ok(());
        }
        replayed += 1;
        let sh = &mut shards[s];
        sh.feed(r);
        if sh.queued() >= 4096 {
            sh.replay_queued(false)?;
        }
        Ok(())
    })?;
    let mut max_id = 0;
    let mut max_seq = 0;
    for sh in shards.iter_mut() {
        sh.replay_queued(true)?;
        sh.end_replay();
        let (seq, id, now) = sh.high_marks();
        max_id = max_id.max(id);
        max_seq = max_seq.max(seq);
        max_now = max_now.max(now);
    }
    Ok((max_id, max_seq, max_now, replayed))
}

/// What [`load_snapshots`] found: per shard the records its snapshot covers, the files
/// loaded, and the files passed over (with why).
type Loaded = (Vec<u64>, Vec<String>, Vec<String>);

/// Load each shard's newest usable snapshot.
fn load_snapshots(
    dir: &Path,
    scan: &JournalScan,
    config_hash: u64,
    shards: &mut [Shard],
) -> Result<Loaded, JournalError> {
    let mut skip = vec![0u64; shards.len()];
    let mut used = Vec::new();
    let mut problems = Vec::new();
    for (i, sh) in shards.iter_mut().enumerate() {
        let have = scan.shard_records.get(i).copied().unwrap_or(0);
        for (_, path) in snapshot::list(dir, i as u16)? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = fs::read(&path).map_err(|e| io(&path, "read snapshot", e))?;
            let (h, body) = match snapshot::decode_file(&bytes) {
                Ok(x) => x,
                Err(why) => {
                    problems.push(format!("{name}: {why}"));
                    continue;
                }
            };
            if h.config_hash != config_hash || h.shard as usize != i {
                problems.push(format!(
                    "{name}: written for shard {} of configuration {:016x}, expected shard {i} of {config_hash:016x}",
                    h.shard, h.config_hash
                ));
                continue;
            }
            if h.records > have {
                problems.push(format!(
                    "{name}: covers {} records of shard {i}, the journal holds {have}",
                    h.records
                ));
                continue;
            }
            sh.restore_snapshot(body)
                .map_err(|problem| JournalError::Invalid {
                    path: path.display().to_string(),
                    problem,
                })?;
            skip[i] = h.records;
            used.push(name);
            break;
        }
    }
    Ok((skip, used, problems))
}

/// Hash of the engine's state held by `shards` (see `docs/journal.md`).
pub(crate) fn state_hash_of(shards: &[&Shard], cmd_seq: u64) -> String {
    let mut syms = Vec::new();
    for s in shards {
        s.symbol_digests(&mut syms);
    }
    syms.sort_unstable();
    let mut h = Xxh3::new();
    h.update(b"hftbook-state-1");
    h.update(&cmd_seq.to_le_bytes());
    for (i, d) in syms {
        h.update(&i.to_le_bytes());
        h.update(&d.to_le_bytes());
    }
    for s in shards {
        h.update(&s.shard_digest().to_le_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// Hash of the event streams of `shards`.
pub(crate) fn event_hash_of(shards: &[&Shard]) -> String {
    let mut h = Xxh3::new();
    h.update(b"hftbook-events-1");
    for s in shards {
        h.update(&s.event_digest().to_le_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// Build an engine (not started) with the journal's configuration and symbols, and one
/// replaying shard per engine shard.
fn replay_engine(
    dir: &Path,
    config: &EngineConfig,
    clock: Clock,
    collect: bool,
) -> Result<(Engine, Vec<Shard>, Vec<SymbolLine>), EngineError> {
    let engine = Engine::with_clock(without_symbols(config), clock)?;
    let lines = read_symbols(dir)?;
    for l in &lines {
        let mut cfg = l.cfg.clone();
        if l.shard >= engine.shards() {
            return Err(JournalError::Invalid {
                path: dir.join("symbols.toml").display().to_string(),
                problem: format!(
                    "symbol {} is on shard {}, but the engine has {} shard(s)",
                    l.name,
                    l.shard,
                    engine.shards()
                ),
            }
            .into());
        }
        cfg.shard = Some(l.shard);
        engine.add_symbol_inner(&l.name, cfg, false)?;
    }
    engine
        .next_shard
        .store(lines.len(), std::sync::atomic::Ordering::Relaxed);
    let shards = (0..engine.shards())
        .map(|i| {
            let mut s = Shard::new(
                i,
                engine.shared.clone(),
                engine.lanes[i].clone(),
                engine.stats[i].clone(),
                EventOut { main: None },
            );
            s.begin_replay(collect);
            s
        })
        .collect();
    Ok((engine, shards, lines))
}

impl Engine {
    /// An engine that journals into `opts.dir`. A directory with a journal in it is
    /// recovered (the configuration must be the one it was created with); an empty or
    /// missing one starts a new journal.
    ///
    /// # Errors
    /// The directory cannot be written, holds another configuration's journal, or its
    /// journal cannot be recovered.
    pub fn with_journal(config: EngineConfig, opts: JournalOptions) -> Result<Engine, EngineError> {
        let dir = opts.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| io(&dir, "create journal directory", e))?;
        let cfg_path = dir.join("config.toml");
        let text = config.to_toml();
        if cfg_path.exists() {
            let (_, stored) = read_config(&dir)?;
            let given = hash64(text.as_bytes());
            if stored != given {
                return Err(JournalError::ConfigMismatch {
                    segment: cfg_path.display().to_string(),
                    expected: given,
                    found: stored,
                    why: "the configuration given differs from the one the journal was created with; use Engine.recover(dir) to run with the journal's",
                }
                .into());
            }
            return Self::recover_with(opts);
        }
        let (clock, _base) = Clock::continued();
        Self::journal_fresh(config, opts, clock)
    }

    /// A simulation-mode engine (see [`Engine::simulation`]) journaling every command it
    /// sequences, the background flow's included, into the fresh directory `opts.dir`:
    /// [`Engine::recover`] or [`replay_journal`] of it reach the simulation's state hash.
    /// In simulation mode events are never held for durability (the fsync policy only
    /// decides how often the journal thread syncs).
    ///
    /// # Errors
    /// The directory already holds a journal; invalid settings; I/O.
    pub fn simulation_with_journal(
        config: EngineConfig,
        sim: crate::sim::SimConfig,
        opts: JournalOptions,
    ) -> Result<Engine, EngineError> {
        crate::sim::check_sim(&config, &sim)?;
        let cfg_path = opts.dir.join("config.toml");
        if cfg_path.exists() {
            return Err(JournalError::Invalid {
                path: cfg_path.display().to_string(),
                problem: "a simulation journals into a fresh directory; this one holds a journal"
                    .into(),
            }
            .into());
        }
        fs::create_dir_all(&opts.dir).map_err(|e| io(&opts.dir, "create journal directory", e))?;
        let (clock, handle) = Clock::manual(0);
        let mut engine = Self::journal_fresh(config, opts, clock)?;
        engine.sim = Some(Box::new(crate::sim::Sim::new(sim, handle)));
        Ok(engine)
    }

    /// A journaled engine on a fresh directory (created, without `config.toml`).
    fn journal_fresh(
        config: EngineConfig,
        opts: JournalOptions,
        clock: Clock,
    ) -> Result<Engine, EngineError> {
        let dir = opts.dir.clone();
        let cfg_path = dir.join("config.toml");
        let text = config.to_toml();
        if !segment_files(&dir)?.is_empty() {
            return Err(JournalError::Invalid {
                path: cfg_path.display().to_string(),
                problem: "the directory holds journal segments but no config.toml".into(),
            }
            .into());
        }
        write_atomic(&cfg_path, text.as_bytes())?;
        write_atomic(&dir.join("symbols.toml"), symbols_text(&[]).as_bytes())?;
        let config_hash = hash64(text.as_bytes());
        let mut engine = Engine::with_clock(without_symbols(&config), clock)?;
        let handle = JournalHandle::open(
            opts,
            &engine.lanes,
            &engine.shared,
            config_hash,
            0,
            0,
            Vec::new(),
            0,
            Vec::new(),
        )?;
        engine.journal = Some(Arc::new(handle));
        for (name, cfg) in &config.symbols {
            engine.add_symbol_inner(name, cfg.clone(), false)?;
        }
        Ok(engine)
    }

    /// Recover the engine journaled in `dir` with its own configuration: load it, cut a
    /// torn tail, replay every record. The engine is not started; start it to go on
    /// writing to the same journal.
    ///
    /// # Errors
    /// See [`JournalError`]: corruption, a missing segment, another version or config.
    pub fn recover(dir: impl Into<PathBuf>, fsync: Fsync) -> Result<Engine, EngineError> {
        Self::recover_with(JournalOptions::new(dir, fsync))
    }

    /// [`Engine::recover`] with every journal option.
    ///
    /// # Errors
    /// As [`Engine::recover`].
    pub fn recover_with(opts: JournalOptions) -> Result<Engine, EngineError> {
        let t0 = Instant::now();
        let dir = opts.dir.clone();
        let (config, config_hash) = read_config(&dir)?;
        let scan = scan(&dir, config_hash, true)?;
        let (clock, base) = Clock::continued();
        let (mut engine, mut shards, lines) = replay_engine(&dir, &config, clock, false)?;
        let (skip, used, snapshot_problems) =
            load_snapshots(&dir, &scan, config_hash, &mut shards)?;
        let from = scan
            .segments
            .iter()
            .position(|seg| {
                skip.iter().enumerate().any(|(s, &k)| {
                    let start = seg.shard_start.get(s).copied().unwrap_or(0);
                    let here = seg.shard_records.get(s).copied().unwrap_or(0);
                    start + here > k
                })
            })
            .unwrap_or(scan.segments.len());
        let (max_id, max_seq, max_now, replayed) =
            replay_into(&scan, &mut shards, from, &skip, None)?;
        let mut open = rustc_hash::FxHashMap::default();
        for sh in &shards {
            sh.open_orders_by_account(&mut open);
        }
        engine.shared.accounts.reset_open_orders(&open);
        let reserved = read_ids(&dir)?;
        let next_id = (max_id + 1).max(reserved).max(1);
        engine
            .shared
            .next_order_id
            .store(next_id, Ordering::Relaxed);
        engine.shared.cmd_seq.store(max_seq, Ordering::Relaxed);
        base.store(max_now.saturating_add(1), Ordering::Relaxed);
        let next_record = scan.first_record + scan.records;
        let seg_no = scan.segments.last().map_or(0, |s| s.header.segment + 1);
        let handle = JournalHandle::open(
            opts,
            &engine.lanes,
            &engine.shared,
            config_hash,
            next_record,
            seg_no,
            scan.shard_records.clone(),
            reserved.max(next_id),
            lines,
        )?;
        engine.journal = Some(Arc::new(handle));
        *engine.prepared.lock().unwrap_or_else(|p| p.into_inner()) =
            shards.into_iter().map(Some).collect();
        let report = RecoveryReport {
            records: scan.records,
            segments: scan.segments.len(),
            next_record,
            last_seq: max_seq,
            next_order_id: next_id,
            repair: scan.repair.clone(),
            snapshots: used,
            replayed,
            snapshot_problems,
            seconds: t0.elapsed().as_secs_f64(),
        };
        for p in &report.snapshot_problems {
            engine
                .shared
                .log("journal", format!("snapshot passed over: {p}"));
        }
        if let Some(r) = &scan.repair {
            engine.shared.log(
                "journal",
                format!(
                    "journal {}: torn tail cut at byte {} of {} ({} byte(s) dropped): {}",
                    dir.display(),
                    r.offset,
                    r.segment,
                    r.dropped_bytes,
                    r.reason
                ),
            );
            engine.control_event(reason::JOURNAL_REPAIRED, r.offset as i64);
        }
        engine.shared.log(
            "journal",
            format!(
                "recovered {} record(s) from {} segment(s) of {} in {:.3} s ({} snapshot(s), {} record(s) replayed after them)",
                report.records,
                report.segments,
                dir.display(),
                report.seconds,
                report.snapshots.len(),
                report.replayed
            ),
        );
        *engine.recovery.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
        Ok(engine)
    }

    /// What the recovery that built this engine found (None for a new journal).
    pub fn recovery(&self) -> Option<RecoveryReport> {
        self.recovery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn with_shards<T>(&self, f: impl FnOnce(&[&Shard]) -> T) -> Result<T, EngineError> {
        let st = self.state();
        if let Some(sim) = self.sim.as_deref() {
            // Simulation mode: the shards stand still between `sim_run` calls.
            let g = sim.state.lock().unwrap_or_else(|p| p.into_inner());
            if !g.shards.is_empty() {
                let v: Vec<&Shard> = g.shards.iter().collect();
                return Ok(f(&v));
            }
        }
        if st != crate::engine::STATE_CREATED && st != crate::engine::STATE_STOPPED {
            return Err(EngineError::Lifecycle {
                action: "hash the state of",
                state: STATE_NAMES[st as usize],
            });
        }
        let fin = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        if !fin.is_empty() {
            let v: Vec<&Shard> = fin.iter().collect();
            return Ok(f(&v));
        }
        let prep = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        let v: Vec<&Shard> = prep.iter().flatten().collect();
        Ok(f(&v))
    }

    /// Hash of the engine's state (books, stops, expiry lists, symbol status, breaker,
    /// command count) as 32 hex digits. Equal states give equal hashes whatever the
    /// shard count or batching that led there. Available before start and after stop.
    ///
    /// # Errors
    /// [`EngineError::Lifecycle`] while the engine runs.
    pub fn state_hash(&self) -> Result<String, EngineError> {
        let seq = self.shared.cmd_seq.load(Ordering::Relaxed);
        self.with_shards(|s| state_hash_of(s, seq))
    }

    /// Hash of the events the shards emitted (journaled engines), 32 hex digits; a replay
    /// of the journal gives the same.
    ///
    /// # Errors
    /// [`EngineError::Lifecycle`] while the engine runs.
    pub fn event_hash(&self) -> Result<String, EngineError> {
        self.with_shards(event_hash_of)
    }

    /// Write a snapshot of every shard now: a running engine's shards each take theirs at
    /// their next loop and the journal thread writes it once the records it covers are
    /// durable; a created (recovered) or stopped engine writes them at once. Returns the
    /// files written.
    ///
    /// # Errors
    /// No journal; the snapshots were not all written within `timeout`; a write failed.
    pub fn snapshot(&self, timeout: std::time::Duration) -> Result<Vec<PathBuf>, EngineError> {
        let Some(j) = self.journal.as_ref() else {
            return Err(EngineError::Invalid {
                field: "journal_dir",
                value: "None".into(),
                rule: "snapshots need a journaled engine (journal_dir=)".into(),
            });
        };
        let st = self.state();
        if st == crate::engine::STATE_RUNNING || st == crate::engine::STATE_PAUSED {
            let before =
                j.js.snapshot_files
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .len();
            let generation = j.js.snap_request.fetch_add(1, Ordering::AcqRel) + 1;
            for l in &self.lanes {
                l.unpark();
            }
            let deadline = Instant::now() + timeout;
            while j
                .js
                .snap_served
                .iter()
                .any(|s| s.load(Ordering::Acquire) < generation)
            {
                if let Some(e) = j.js.failure() {
                    return Err(EngineError::JournalFailed(e));
                }
                if Instant::now() >= deadline {
                    return Err(EngineError::Journal {
                        kind: "io",
                        file: None,
                        offset: None,
                        message: format!(
                            "the shards' snapshots were not all written within {timeout:?}"
                        ),
                    });
                }
                j.js.wake();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            // Per shard, the newest file that served this request.
            let mut latest: std::collections::BTreeMap<u16, PathBuf> = Default::default();
            for (g, shard, path) in
                j.js.snapshot_files
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())[before..]
                    .iter()
            {
                if *g >= generation {
                    latest.insert(*shard, path.clone());
                }
            }
            let files: Vec<PathBuf> = latest.into_values().collect();
            if let Some(e) =
                j.js.snapshot_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
            {
                return Err(EngineError::Journal {
                    kind: "io",
                    file: None,
                    offset: None,
                    message: e,
                });
            }
            return Ok(files);
        }
        let hash = j.js.config_hash;
        let base = j.base.clone();
        let dir = j.opts.dir.clone();
        let made = self.with_shards(|shards| {
            shards
                .iter()
                .map(|s| {
                    let records = s
                        .journal_records()
                        .unwrap_or_else(|| base.get(s.id).copied().unwrap_or(0));
                    let h = snapshot::SnapHeader {
                        shard: s.id as u16,
                        config_hash: hash,
                        records,
                        seq: s.high_marks().0,
                        created_unix_ns: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_nanos() as u64),
                    };
                    (
                        dir.join(snapshot::file_name(h.shard, records)),
                        snapshot::encode_file(&h, &s.snapshot_body()),
                    )
                })
                .collect::<Vec<_>>()
        })?;
        let mut files = Vec::new();
        for (path, bytes) in made {
            write_atomic(&path, &bytes)?;
            files.push(path);
        }
        Ok(files)
    }

    /// The journal's figures: (records, bytes, syncs, total sync ns, max sync ns,
    /// segments), or None without a journal.
    pub fn journal_stats(&self) -> Option<JournalStats> {
        let j = self.journal.as_ref()?;
        let js = &j.js;
        Some(JournalStats {
            dir: j.opts.dir.clone(),
            fsync: j.opts.fsync.name(),
            records: js.records.load(Ordering::Relaxed),
            bytes: js.bytes.load(Ordering::Relaxed),
            syncs: js.syncs.load(Ordering::Relaxed),
            sync_ns_total: js.sync_ns_total.load(Ordering::Relaxed),
            sync_ns_max: js.sync_ns_max.load(Ordering::Relaxed),
            sync_buckets: js
                .sync_buckets
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let bound = (i < crate::journal::writer::SYNC_BUCKETS)
                        .then(|| crate::journal::writer::sync_bucket_ns(i));
                    (bound, c.load(Ordering::Relaxed))
                })
                .collect(),
            lag: js.lag.load(Ordering::Relaxed),
            segments: js.segments.load(Ordering::Relaxed),
            snapshots: js.snapshots_written.load(Ordering::Relaxed),
            failed: js.failure(),
        })
    }
}

/// A journal's running figures ([`Engine::journal_stats`]).
#[derive(Debug, Clone)]
pub struct JournalStats {
    /// Directory.
    pub dir: PathBuf,
    /// Policy name.
    pub fsync: &'static str,
    /// Records written since the engine started.
    pub records: u64,
    /// Bytes written (records only).
    pub bytes: u64,
    /// Syncs made.
    pub syncs: u64,
    /// Time in syncs, ns.
    pub sync_ns_total: u64,
    /// Longest sync, ns.
    pub sync_ns_max: u64,
    /// Syncs by duration: `(upper bound ns, syncs in the bucket)`, not cumulative, the
    /// bounds increasing; the last bucket's bound is `None` (no bound).
    pub sync_buckets: Vec<(Option<u64>, u64)>,
    /// Records the journal thread wrote that are not durable yet (waiting for their sync;
    /// 0 under `fsync = never`, where written is durable enough).
    pub lag: u64,
    /// Segments started.
    pub segments: u64,
    /// Snapshot files written by the journal thread.
    pub snapshots: u64,
    /// Why the journal failed, if it did.
    pub failed: Option<String>,
}

/// Replay the journal in `dir` read-only: the rebuilt state's hash, the event stream and
/// its hash. Nothing is written (a torn tail is reported, not cut).
///
/// # Errors
/// As [`Engine::recover`].
pub fn replay_journal(dir: &Path, collect: bool) -> Result<ReplayResult, EngineError> {
    replay_journal_with(dir, collect, None)
}

/// [`replay_journal`], adding the segment bytes read to `progress` as it goes (another
/// thread can show it against the segments' total size).
///
/// # Errors
/// As [`replay_journal`].
pub fn replay_journal_with(
    dir: &Path,
    collect: bool,
    progress: Option<&AtomicU64>,
) -> Result<ReplayResult, EngineError> {
    let t0 = Instant::now();
    let (config, config_hash) = read_config(dir)?;
    let scan = scan(dir, config_hash, false)?;
    let (engine, mut shards, lines) = replay_engine(dir, &config, Clock::manual(0).0, collect)?;
    let (_, max_seq, _, _) = replay_into(&scan, &mut shards, 0, &[], progress)?;
    let refs: Vec<&Shard> = shards.iter().collect();
    let state_hash = state_hash_of(&refs, max_seq);
    let event_hash = event_hash_of(&refs);
    let mut events = Vec::new();
    if collect {
        let mut streams: Vec<Vec<Event>> = shards
            .iter_mut()
            .map(|s| s.collect.take().unwrap_or_default())
            .collect();
        merge_by_time(&mut streams, &mut events);
    }
    drop(engine);
    Ok(ReplayResult {
        events,
        state_hash,
        event_hash,
        records: scan.records,
        segments: scan.segments.len(),
        repair: scan.repair,
        lot_sizes: lines.iter().map(|l| l.cfg.lot_size).collect(),
        symbols: lines.into_iter().map(|l| l.name).collect(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Merge per-shard event streams by processing time, keeping each stream's order;
/// renumbers `seq` 1, 2, 3 ...
fn merge_by_time(streams: &mut [Vec<Event>], out: &mut Vec<Event>) {
    let total: usize = streams.iter().map(Vec::len).sum();
    out.reserve(total);
    let mut at = vec![0usize; streams.len()];
    loop {
        let mut best: Option<(u64, usize)> = None;
        for (i, s) in streams.iter().enumerate() {
            if let Some(e) = s.get(at[i]) {
                if best.is_none_or(|(t, _)| e.ts_processed < t) {
                    best = Some((e.ts_processed, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let mut e = streams[i][at[i]];
        at[i] += 1;
        e.seq = out.len() as u64 + 1;
        out.push(e);
    }
}

/// Every command and event of the journal in `dir` that `filter` keeps, from a replay.
///
/// # Errors
/// As [`replay_journal`].
pub fn audit(dir: &Path, filter: &AuditFilter) -> Result<AuditTrail, EngineError> {
    let res = replay_journal(dir, true)?;
    let (_, config_hash) = read_config(dir)?;
    let scan = scan(dir, config_hash, false)?;
    let mut commands = Vec::new();
    for_each_record(&scan, |r| {
        if filter.command(&r) {
            commands.push(Record { payload: None, ..r });
        }
        Ok(())
    })?;
    let events = res.events.into_iter().filter(|e| filter.event(e)).collect();
    Ok(AuditTrail {
        commands,
        events,
        symbols: res.symbols,
        lot_sizes: res.lot_sizes,
    })
}
