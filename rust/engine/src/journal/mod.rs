//! The engine's journal: every sequenced command, written before its outcome is
//! acknowledged, so a crashed engine restarts with every acknowledged order and a replay
//! rebuilds the identical state. Format and rules: `docs/journal.md`.
//!
//! * [`format`]: segment header, record framing (length, CRC32C) and the compact body.
//! * [`io`]: the I/O trait (a real disk, or one that fills up, for tests).
//! * [`reader`]: scanning a journal directory, with torn-tail repair and typed errors.
//! * `writer` (crate-private): the journal thread fed by one lock-free ring per shard.

pub mod format;
pub mod io;
pub mod reader;
pub mod snapshot;
pub(crate) mod writer;

use std::path::PathBuf;
use std::sync::Arc;

pub use format::{Header, Record};
pub use io::{Disk, FullDisk, SegmentSink, Storage};
pub use reader::{JournalScan, Repair};

/// When the journal thread makes records durable, and so when orders are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every write: the journal thread writes what the shards handed it since its
    /// last write, calls `fdatasync`, then releases those commands' events.
    Always,
    /// Group commit: `fdatasync` once `max_records` records or `max_delay_us` µs have
    /// gathered since the oldest unsynced one, whichever comes first; events wait for it.
    Batch {
        /// Longest time a record waits for its sync, µs.
        max_delay_us: u64,
        /// Records that trigger a sync at once.
        max_records: u64,
    },
    /// Never sync while running (the OS writes back when it likes; one sync at a clean
    /// stop). Events are released at once: a crash can lose acknowledged orders.
    Never,
}

impl Fsync {
    /// The default group commit: 200 µs or 4096 records.
    pub const BATCH: Fsync = Fsync::Batch {
        max_delay_us: 200,
        max_records: 4096,
    };

    /// Parse `always` / `batch` / `never`.
    ///
    /// # Errors
    /// Any other text (the message lists the valid ones).
    pub fn parse(text: &str) -> Result<Fsync, String> {
        match text {
            "always" => Ok(Fsync::Always),
            "batch" => Ok(Fsync::BATCH),
            "never" => Ok(Fsync::Never),
            other => Err(format!(
                "fsync must be one of always, batch, never (got {other:?})"
            )),
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Batch { .. } => "batch",
            Fsync::Never => "never",
        }
    }

    /// Whether events wait for their records to be durable.
    pub fn gates_events(&self) -> bool {
        !matches!(self, Fsync::Never)
    }
}

/// Where and how the engine journals.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// The journal directory (created when missing).
    pub dir: PathBuf,
    /// Sync policy.
    pub fsync: Fsync,
    /// A segment is closed and a new one started once it reaches this size.
    pub segment_bytes: u64,
    /// Records each shard can hand the journal thread before it waits (ring capacity).
    pub ring_capacity: usize,
    /// A shard writes a snapshot of its state after this many of its records (0: only on
    /// demand and at a graceful stop). Recovery loads the newest valid snapshot of each
    /// shard and replays only the records after it.
    pub snapshot_every: u64,
    /// Where segments are written.
    pub storage: Arc<dyn Storage>,
}

impl JournalOptions {
    /// Journal into `dir` with `fsync`, 256 MiB segments, a snapshot every million records
    /// of a shard, on the real disk.
    pub fn new(dir: impl Into<PathBuf>, fsync: Fsync) -> JournalOptions {
        JournalOptions {
            dir: dir.into(),
            fsync,
            segment_bytes: 256 << 20,
            ring_capacity: 1 << 16,
            snapshot_every: 1_000_000,
            storage: Arc::new(Disk),
        }
    }
}

/// A journal that cannot be written, read or trusted. Every variant names the file, the
/// byte offset where it applies, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The OS refused an operation.
    #[error("journal {path}: {op} failed: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A segment's bytes are not what the format allows, somewhere a torn write cannot
    /// explain (a bad header, a bad record followed by good ones, a bad non-last segment).
    #[error("journal segment {segment}, byte offset {offset}: {problem}")]
    Corrupt {
        /// Segment file.
        segment: String,
        /// Byte offset in the file.
        offset: u64,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A segment is missing: the record numbers jump.
    #[error("journal segment missing before {segment}: it starts at record {found}, expected record {expected}")]
    MissingSegment {
        /// The segment after the gap.
        segment: String,
        /// Record number expected.
        expected: u64,
        /// Record number found.
        found: u64,
    },
    /// The journal was written by another configuration.
    #[error("journal file {segment} was written by engine configuration {found:016x}, expected {expected:016x} ({why})")]
    ConfigMismatch {
        /// Segment (or config file).
        segment: String,
        /// Hash expected.
        expected: u64,
        /// Hash found.
        found: u64,
        /// Which configuration was expected.
        why: &'static str,
    },
    /// Replaying a record did not reproduce what the journal says happened.
    #[error("journal replay diverged at shard {shard}, command {seq}: {problem}")]
    Diverged {
        /// Shard.
        shard: u16,
        /// Command sequence number.
        seq: u64,
        /// What differed.
        problem: String,
    },
    /// The journal's files are not usable for another reason (config text, symbols file).
    #[error("journal {path}: {problem}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// 64-bit hash used for configs, states and event streams (XXH3).
pub fn hash64(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}
