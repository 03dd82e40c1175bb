//! The journal thread: drains one lock-free ring per shard, encodes the records, appends
//! them to the current segment, syncs per policy, and publishes per shard how many of its
//! records are durable (the shards release events up to that mark).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::format::{encode, Contexts, Header, Record, HEADER_LEN, VERSION};
use super::io::{SegmentSink, Storage};
use super::{Fsync, JournalError};

/// Finite buckets of the sync-duration histogram.
pub const SYNC_BUCKETS: usize = 24;

/// Upper bound (ns) of sync-duration bucket `i`: 1 µs × 2^i, 1 µs .. about 8.4 s.
pub const fn sync_bucket_ns(i: usize) -> u64 {
    1_000 << i
}

/// The bucket of a sync of `ns` ns ([`SYNC_BUCKETS`]: above the last bound).
fn sync_bucket(ns: u64) -> usize {
    (0..SYNC_BUCKETS)
        .find(|&i| ns <= sync_bucket_ns(i))
        .unwrap_or(SYNC_BUCKETS)
}

/// State shared by the journal thread, the shards and the engine handle.
#[derive(Debug)]
pub(crate) struct JournalShared {
    /// Per shard: records of the shard that are durable (written, and synced when the
    /// policy syncs).
    pub durable: Vec<CachePadded<AtomicU64>>,
    /// The journal cannot write any more; the message says why.
    pub failed: AtomicBool,
    pub failure: Mutex<Option<String>>,
    /// Shards that left their loop (the thread exits once all have and the rings are empty).
    pub shards_done: AtomicUsize,
    pub sleeping: AtomicBool,
    pub thread: OnceLock<Thread>,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_ns_total: AtomicU64,
    pub sync_ns_max: AtomicU64,
    /// Syncs by duration: bucket `i` counts those of at most `SYNC_BUCKET_NS[i]` ns and
    /// more than the bucket before; the last one counts the rest.
    pub sync_buckets: [AtomicU64; SYNC_BUCKETS + 1],
    /// Records written that are not durable yet (waiting for a sync), after the last step.
    pub lag: AtomicU64,
    pub segments: AtomicU64,
    pub policy: Fsync,
    /// Hash of the journal's config.toml (snapshot headers carry it).
    pub config_hash: u64,
    /// A shard snapshots after this many of its records (0 = only on demand and at stop).
    pub snapshot_every: u64,
    /// On-demand snapshot requests (a generation number the shards serve).
    pub snap_request: AtomicU64,
    /// Per shard: the request generation of its last snapshot written.
    pub snap_served: Vec<CachePadded<AtomicU64>>,
    /// Snapshots taken by the shards, waiting for their records to be durable.
    pub snap_pending: Mutex<Vec<PendingSnapshot>>,
    /// Snapshot files written, and the last error writing one.
    pub snapshots_written: AtomicU64,
    /// Snapshot files written, with the request generation each served.
    pub snapshot_files: Mutex<Vec<(u64, u16, PathBuf)>>,
    pub snapshot_error: Mutex<Option<String>>,
}

/// A shard's snapshot on its way to disk.
#[derive(Debug)]
pub(crate) struct PendingSnapshot {
    pub shard: u16,
    pub records: u64,
    pub seq: u64,
    pub generation: u64,
    pub body: Vec<u8>,
}

impl JournalShared {
    pub fn new(
        shards: usize,
        policy: Fsync,
        config_hash: u64,
        snapshot_every: u64,
    ) -> JournalShared {
        JournalShared {
            config_hash,
            snapshot_every,
            snap_request: AtomicU64::new(0),
            snap_served: (0..shards)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            snap_pending: Mutex::new(Vec::new()),
            snapshots_written: AtomicU64::new(0),
            snapshot_files: Mutex::new(Vec::new()),
            snapshot_error: Mutex::new(None),
            durable: (0..shards)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            shards_done: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            thread: OnceLock::new(),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            sync_ns_total: AtomicU64::new(0),
            sync_ns_max: AtomicU64::new(0),
            sync_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            lag: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            policy,
        }
    }

    /// Wake the journal thread if it sleeps (after a shard handed it records).
    pub fn wake(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A shard's end of its ring.
pub(crate) struct ShardJournal {
    tx: rtrb::Producer<Record>,
    /// Records this shard handed over.
    pub pushed: u64,
    pub js: Arc<JournalShared>,
}

impl std::fmt::Debug for ShardJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardJournal")
            .field("pushed", &self.pushed)
            .finish()
    }
}

impl ShardJournal {
    /// Hand a record to the journal thread; waits (spinning, then yielding) while the ring
    /// is full. Returns false when the journal failed (the record is dropped).
    pub fn push(&mut self, mut r: Record) -> bool {
        let mut spins = 0u32;
        loop {
            match self.tx.push(r) {
                Ok(()) => {
                    self.pushed += 1;
                    return true;
                }
                Err(rtrb::PushError::Full(back)) => {
                    r = back;
                    if self.js.failed.load(Ordering::Acquire) {
                        return false;
                    }
                    self.js.wake();
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
            }
        }
    }

    /// Records of this shard that are durable.
    pub fn durable(&self, shard: usize) -> u64 {
        self.js.durable[shard].load(Ordering::Acquire)
    }
}

/// The journal thread's state.
pub(crate) struct Writer {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    rx: Vec<rtrb::Consumer<Record>>,
    js: Arc<JournalShared>,
    sink: Option<Box<dyn SegmentSink>>,
    seg_name: String,
    seg_len: u64,
    seg_no: u64,
    seg_limit: u64,
    next_record: u64,
    config_hash: u64,
    ctx: Contexts,
    buf: Vec<u8>,
    body: Vec<u8>,
    /// Per shard: records written (not necessarily synced).
    written: Vec<u64>,
    unsynced: u64,
    oldest_unsynced: Option<Instant>,
    wake_shards: Box<dyn Fn() + Send>,
    log: Box<dyn Fn(String) + Send>,
}

/// Segment file name for the segment starting at record `first`.
pub fn segment_name(first: u64) -> String {
    format!("{first:020}.seg")
}

impl Writer {
    /// Open a writer that starts a new segment at record `next_record` (numbered `seg_no`).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        dir: &Path,
        storage: Arc<dyn Storage>,
        js: Arc<JournalShared>,
        shards: usize,
        ring: usize,
        segment_bytes: u64,
        config_hash: u64,
        next_record: u64,
        seg_no: u64,
        base: &[u64],
        wake_shards: Box<dyn Fn() + Send>,
        log: Box<dyn Fn(String) + Send>,
    ) -> Result<(Writer, Vec<ShardJournal>), JournalError> {
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for i in 0..shards {
            let (p, c) = rtrb::RingBuffer::new(ring.max(16));
            rx.push(c);
            let b = base.get(i).copied().unwrap_or(0);
            js.durable[i].store(b, Ordering::Release);
            tx.push(ShardJournal {
                tx: p,
                pushed: b,
                js: js.clone(),
            });
        }
        let w = Writer {
            dir: dir.to_owned(),
            storage,
            rx,
            js,
            sink: None,
            seg_name: String::new(),
            seg_len: 0,
            seg_no,
            seg_limit: segment_bytes.max(4096),
            next_record,
            config_hash,
            ctx: Contexts::default(),
            buf: Vec::with_capacity(1 << 20),
            body: Vec::with_capacity(256),
            written: (0..shards)
                .map(|i| base.get(i).copied().unwrap_or(0))
                .collect(),
            unsynced: 0,
            oldest_unsynced: None,
            wake_shards,
            log,
        };
        Ok((w, tx))
    }

    /// Create the first segment (at start: a journal opened and never started, such as a
    /// recovered engine that is dropped, leaves the directory as it found it).
    ///
    /// # Errors
    /// The segment cannot be created or its header written.
    pub fn begin(&mut self) -> Result<(), JournalError> {
        if self.sink.is_none() {
            self.new_segment()?;
        }
        Ok(())
    }

    fn io(&self, op: &'static str, e: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.dir.join(&self.seg_name).display().to_string(),
            op,
            source: e,
        }
    }

    fn new_segment(&mut self) -> Result<(), JournalError> {
        self.seg_name = segment_name(self.next_record);
        let path = self.dir.join(&self.seg_name);
        let mut sink = self
            .storage
            .create(&path)
            .map_err(|e| self.io("create segment", e))?;
        let h = Header {
            version: VERSION,
            shards: self.written.len() as u16,
            config_hash: self.config_hash,
            first_record: self.next_record,
            segment: self.seg_no,
            created_unix_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        };
        sink.write_all(&h.encode())
            .map_err(|e| self.io("write segment header", e))?;
        if self.js.policy.gates_events() {
            sink.sync().map_err(|e| self.io("sync segment header", e))?;
            self.storage
                .sync_dir(&self.dir)
                .map_err(|e| self.io("sync journal directory", e))?;
        }
        self.sink = Some(sink);
        self.seg_len = HEADER_LEN as u64;
        self.seg_no += 1;
        self.ctx.reset();
        self.js.segments.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let n = self.buf.len() as u64;
        let res = match self.sink.as_mut() {
            Some(s) => s.write_all(&self.buf),
            None => Ok(()),
        };
        res.map_err(|e| self.io("write records", e))?;
        self.seg_len += n;
        self.js.bytes.fetch_add(n, Ordering::Relaxed);
        self.buf.clear();
        Ok(())
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        let t0 = Instant::now();
        let res = match self.sink.as_mut() {
            Some(s) => s.sync(),
            None => Ok(()),
        };
        res.map_err(|e| self.io("sync", e))?;
        let ns = t0.elapsed().as_nanos() as u64;
        self.js.syncs.fetch_add(1, Ordering::Relaxed);
        self.js.sync_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.js.sync_ns_max.fetch_max(ns, Ordering::Relaxed);
        self.js.sync_buckets[sync_bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.unsynced = 0;
        self.oldest_unsynced = None;
        Ok(())
    }

    fn publish_durable(&self) {
        let mut moved = false;
        for (i, &w) in self.written.iter().enumerate() {
            if self.js.durable[i].swap(w, Ordering::AcqRel) != w {
                moved = true;
            }
        }
        if moved && self.js.policy.gates_events() {
            (self.wake_shards)();
        }
    }

    /// Drain the rings once. Returns the records taken.
    fn drain(&mut self) -> Result<u64, JournalError> {
        let mut got = 0u64;
        for i in 0..self.rx.len() {
            while let Ok(r) = self.rx[i].pop() {
                if self.seg_len + self.buf.len() as u64 >= self.seg_limit {
                    self.roll()?;
                }
                encode(&r, &mut self.ctx, &mut self.buf, &mut self.body);
                self.written[i] += 1;
                self.next_record += 1;
                got += 1;
                if self.buf.len() >= 1 << 20 {
                    self.flush()?;
                }
            }
        }
        if got > 0 {
            self.js.records.fetch_add(got, Ordering::Relaxed);
            self.unsynced += got;
            if self.oldest_unsynced.is_none() {
                self.oldest_unsynced = Some(Instant::now());
            }
        }
        Ok(got)
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        if self.js.policy.gates_events() {
            self.sync()?;
        }
        self.sink = None;
        self.new_segment()
    }

    fn step(&mut self, closing: bool) -> Result<u64, JournalError> {
        let got = self.drain()?;
        self.flush()?;
        let sync_now = match self.js.policy {
            Fsync::Always => self.unsynced > 0,
            Fsync::Batch {
                max_delay_us,
                max_records,
            } => {
                self.unsynced >= max_records
                    || self
                        .oldest_unsynced
                        .is_some_and(|t| t.elapsed() >= Duration::from_micros(max_delay_us))
                    || (closing && self.unsynced > 0)
            }
            Fsync::Never => false,
        };
        if sync_now {
            self.sync()?;
        }
        if sync_now || !self.js.policy.gates_events() {
            self.publish_durable();
        }
        let lag = if self.js.policy.gates_events() {
            self.unsynced
        } else {
            0
        };
        self.js.lag.store(lag, Ordering::Relaxed);
        self.write_snapshots()?;
        Ok(got)
    }

    /// Write the shards' snapshots whose records are all durable (under `never`, sync
    /// first: a snapshot must never be ahead of the journal on disk).
    fn write_snapshots(&mut self) -> Result<(), JournalError> {
        let ready: Vec<PendingSnapshot> = {
            let mut p = self
                .js
                .snap_pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if p.is_empty() {
                return Ok(());
            }
            let written = &self.written;
            let (now, later): (Vec<_>, Vec<_>) = p.drain(..).partition(|s| {
                written
                    .get(s.shard as usize)
                    .is_some_and(|&w| w >= s.records)
            });
            *p = later;
            now
        };
        if ready.is_empty() {
            return Ok(());
        }
        if self.unsynced > 0 || !self.js.policy.gates_events() {
            self.flush()?;
            self.sync()?;
            self.publish_durable();
        }
        for snap in ready {
            let h = super::snapshot::SnapHeader {
                shard: snap.shard,
                config_hash: self.js.config_hash,
                records: snap.records,
                seq: snap.seq,
                created_unix_ns: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            };
            let path = self
                .dir
                .join(super::snapshot::file_name(snap.shard, snap.records));
            let bytes = super::snapshot::encode_file(&h, &snap.body);
            match write_file_durably(&path, &bytes) {
                Ok(()) => {
                    self.js.snapshots_written.fetch_add(1, Ordering::Relaxed);
                    self.js
                        .snapshot_files
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((snap.generation, snap.shard, path));
                }
                Err(e) => {
                    // The journal still holds everything: recovery replays a longer tail.
                    let msg = format!("snapshot {} not written: {e}", path.display());
                    (self.log)(msg.clone());
                    *self
                        .js
                        .snapshot_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(msg);
                }
            }
            if let Some(s) = self.js.snap_served.get(snap.shard as usize) {
                s.fetch_max(snap.generation, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    fn fail(&self, e: &JournalError) {
        let msg = e.to_string();
        *self.js.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.clone());
        self.js.failed.store(true, Ordering::Release);
        (self.log)(format!(
            "journal failed, no more commands are acknowledged: {msg}"
        ));
        (self.wake_shards)();
    }

    /// The thread body: runs until every shard has left its loop and the rings are empty.
    pub fn run(mut self, shards: usize) {
        let _ = self.js.thread.set(std::thread::current());
        let mut idle = 0u32;
        loop {
            let all_done = self.js.shards_done.load(Ordering::Acquire) >= shards;
            let got = match self.step(false) {
                Ok(g) => g,
                Err(e) => {
                    self.fail(&e);
                    return;
                }
            };
            if got > 0 {
                idle = 0;
                continue;
            }
            if all_done {
                // Every shard left, so nothing more comes: a last drain, then the final sync.
                let res = self.step(true).and_then(|_| {
                    if self.unsynced > 0 || !self.js.policy.gates_events() {
                        self.sync()?;
                    }
                    self.publish_durable();
                    self.write_snapshots()
                });
                match res {
                    Ok(()) => self.publish_durable(),
                    Err(e) => self.fail(&e),
                }
                return;
            }
            idle = idle.saturating_add(1);
            if idle < 100 {
                std::hint::spin_loop();
                continue;
            }
            let timeout = match (self.js.policy, self.oldest_unsynced) {
                (Fsync::Batch { max_delay_us, .. }, Some(t)) => {
                    Duration::from_micros(max_delay_us).saturating_sub(t.elapsed())
                }
                _ => Duration::from_millis(1),
            };
            if timeout.is_zero() {
                continue;
            }
            self.js.sleeping.store(true, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            let empty = self.rx.iter().all(|c| c.is_empty());
            if empty {
                std::thread::park_timeout(timeout);
            }
            self.js.sleeping.store(false, Ordering::SeqCst);
        }
    }
}

/// Write a small file durably: a temp file, synced, renamed, the directory synced.
pub(crate) fn write_file_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
