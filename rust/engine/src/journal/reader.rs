//! Reading a journal directory: segment discovery, validation, torn-tail repair, and
//! decoding records in journal order.
//!
//! Rules (also in `docs/journal.md`):
//! * Segments are the `*.seg` files, in name order; each names the number of its first
//!   record, and the numbers must follow on without a gap ([`JournalError::MissingSegment`]).
//! * Every header must parse, be of this version and carry the expected configuration hash.
//! * Only the **last** segment may end badly: a record cut short, or a record whose length or
//!   checksum is wrong with no valid record after it, is a torn write. It is reported (a
//!   [`Repair`]) and, when repairing, truncated away. A bad record with a valid one after it,
//!   or any bad record in an earlier segment, is [`JournalError::Corrupt`].
//! * A last segment whose header is incomplete (the crash came while creating it) is removed
//!   when repairing; it holds no records.

use std::fs;
use std::path::{Path, PathBuf};

use super::format::{decode_verified, frame, Bad, Contexts, Header, Record, HEADER_LEN};
use super::JournalError;

/// One segment file.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Full path.
    pub path: PathBuf,
    /// File name.
    pub name: String,
    /// Its header.
    pub header: Header,
    /// Bytes of valid content (header and whole records).
    pub valid_len: u64,
    /// Records in it.
    pub records: u64,
    /// Per shard: that shard's records in the journal before this segment.
    pub shard_start: Vec<u64>,
    /// Per shard: its records in this segment.
    pub shard_records: Vec<u64>,
}

/// What a torn tail repair dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Segment file name.
    pub segment: String,
    /// Byte offset of the first byte dropped.
    pub offset: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// Why.
    pub reason: String,
    /// Whether the file was truncated (or removed) on disk.
    pub applied: bool,
}

/// A validated journal.
#[derive(Debug, Clone, Default)]
pub struct JournalScan {
    /// Directory.
    pub dir: PathBuf,
    /// Segments in order.
    pub segments: Vec<Segment>,
    /// Records in the journal.
    pub records: u64,
    /// Record number of the first record.
    pub first_record: u64,
    /// The torn tail found, if any.
    pub repair: Option<Repair>,
    /// Per shard: its records in the journal.
    pub shard_records: Vec<u64>,
}

fn io_err(path: &Path, op: &'static str, e: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        op,
        source: e,
    }
}

/// The segment files of `dir`, in order.
///
/// # Errors
/// The directory cannot be listed.
pub fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| io_err(dir, "list journal directory", e))?;
    for ent in rd {
        let ent = ent.map_err(|e| io_err(dir, "list journal directory", e))?;
        let p = ent.path();
        if p.extension().is_some_and(|x| x == "seg") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Whether any record frame starts at an offset after `from` (a bad record followed by good
/// ones is corruption, not a torn tail).
fn valid_frame_after(b: &[u8], from: usize) -> Option<usize> {
    (from + 1..b.len()).find(|&y| frame(&b[y..]).is_ok())
}

/// Validate the journal in `dir`. With `repair`, a torn tail is truncated on disk.
///
/// # Errors
/// See the module rules.
pub fn scan(dir: &Path, config_hash: u64, repair: bool) -> Result<JournalScan, JournalError> {
    let files = segment_files(dir)?;
    let mut out = JournalScan {
        dir: dir.to_owned(),
        ..JournalScan::default()
    };
    let n = files.len();
    let mut expect: Option<u64> = None;
    for (i, path) in files.into_iter().enumerate() {
        let last = i + 1 == n;
        let name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = fs::read(&path).map_err(|e| io_err(&path, "read segment", e))?;
        let header = match Header::decode(&bytes) {
            Ok(h) => h,
            Err(problem) => {
                let torn = bytes.len() < HEADER_LEN || bytes[..HEADER_LEN].iter().all(|&b| b == 0);
                if last && torn {
                    if repair {
                        fs::remove_file(&path)
                            .map_err(|e| io_err(&path, "remove torn segment", e))?;
                    }
                    out.repair = Some(Repair {
                        segment: name,
                        offset: 0,
                        dropped_bytes: bytes.len() as u64,
                        reason: format!("incomplete segment header ({problem})"),
                        applied: repair,
                    });
                    break;
                }
                return Err(JournalError::Corrupt {
                    segment: name,
                    offset: 0,
                    problem,
                });
            }
        };
        if header.config_hash != config_hash {
            return Err(JournalError::ConfigMismatch {
                segment: name,
                expected: config_hash,
                found: header.config_hash,
                why: "the hash of the journal's config.toml",
            });
        }
        match expect {
            None => out.first_record = header.first_record,
            Some(e) if e != header.first_record => {
                return Err(JournalError::MissingSegment {
                    segment: name,
                    expected: e,
                    found: header.first_record,
                })
            }
            Some(_) => {}
        }
        let mut pos = HEADER_LEN;
        let mut records = 0u64;
        let shard_start = out.shard_records.clone();
        let mut per_shard: Vec<u64> = Vec::new();
        while pos < bytes.len() {
            match frame(&bytes[pos..]) {
                Ok((h, len)) => {
                    // The body starts with kind, jflags, then the shard (varint).
                    let mut at = pos + h + 2;
                    let shard = record_shard(&bytes[..pos + h + len], &mut at).unwrap_or(0);
                    if per_shard.len() <= shard {
                        per_shard.resize(shard + 1, 0);
                    }
                    per_shard[shard] += 1;
                    pos += h + len;
                    records += 1;
                }
                Err(bad) => {
                    let torn = last && valid_frame_after(&bytes, pos).is_none();
                    if !torn {
                        return Err(JournalError::Corrupt {
                            segment: name,
                            offset: pos as u64,
                            problem: format!(
                                "{bad}; a valid record was expected here (record {})",
                                header.first_record + records
                            ),
                        });
                    }
                    if repair {
                        let f = fs::OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(|e| io_err(&path, "open torn segment", e))?;
                        f.set_len(pos as u64)
                            .and_then(|()| f.sync_all())
                            .map_err(|e| io_err(&path, "truncate torn tail", e))?;
                    }
                    out.repair = Some(Repair {
                        segment: name.clone(),
                        offset: pos as u64,
                        dropped_bytes: (bytes.len() - pos) as u64,
                        reason: match bad {
                            Bad::Truncated => "the last record is cut short (torn write)".into(),
                            other => format!("{other} in the last record (torn write)"),
                        },
                        applied: repair,
                    });
                    break;
                }
            }
        }
        expect = Some(header.first_record + records);
        out.records += records;
        if out.shard_records.len() < per_shard.len() {
            out.shard_records.resize(per_shard.len(), 0);
        }
        for (i, n) in per_shard.iter().enumerate() {
            out.shard_records[i] += n;
        }
        out.segments.push(Segment {
            path,
            name,
            header,
            valid_len: pos as u64,
            records,
            shard_start,
            shard_records: per_shard,
        });
    }
    Ok(out)
}

fn record_shard(b: &[u8], at: &mut usize) -> Option<usize> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return usize::try_from(v).ok();
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Call `f` with every record of the scanned journal, in journal order.
///
/// # Errors
/// A segment that cannot be read, a record that does not decode, or `f`'s error.
pub fn for_each_record(
    scan: &JournalScan,
    f: impl FnMut(Record) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    for_each_record_with(scan, 0, None, f)
}

/// [`for_each_record`] from segment `from_segment` on, adding the bytes read to
/// `progress` as it goes. The segments are read and decoded on a helper thread while `f`
/// runs on the calling one (chunks of records through a bounded channel), so decoding and
/// replaying overlap. The scan verified every checksum; decoding does not redo it.
///
/// # Errors
/// As [`for_each_record`].
pub fn for_each_record_with(
    scan: &JournalScan,
    from_segment: usize,
    progress: Option<&std::sync::atomic::AtomicU64>,
    mut f: impl FnMut(Record) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    const CHUNK: usize = 8192;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Record>, JournalError>>(4);
    std::thread::scope(|s| {
        s.spawn(move || {
            for seg in scan.segments.iter().skip(from_segment) {
                let bytes = match fs::read(&seg.path) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(io_err(&seg.path, "read segment", e)));
                        return;
                    }
                };
                let end = (seg.valid_len as usize).min(bytes.len());
                let mut ctx = Contexts::default();
                let mut pos = HEADER_LEN;
                let mut reported = 0usize;
                let mut chunk = Vec::with_capacity(CHUNK);
                while pos < end {
                    match decode_verified(&bytes[pos..end], &mut ctx) {
                        Ok((r, n)) => {
                            pos += n;
                            chunk.push(r);
                            if chunk.len() == CHUNK {
                                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                                if tx.send(Ok(full)).is_err() {
                                    return;
                                }
                                if let Some(p) = progress {
                                    p.fetch_add(
                                        (pos - reported) as u64,
                                        std::sync::atomic::Ordering::Relaxed,
                                    );
                                    reported = pos;
                                }
                            }
                        }
                        Err(bad) => {
                            let _ = tx.send(Err(JournalError::Corrupt {
                                segment: seg.name.clone(),
                                offset: pos as u64,
                                problem: bad.to_string(),
                            }));
                            return;
                        }
                    }
                }
                if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Some(p) = progress {
                    p.fetch_add(
                        (bytes.len() - reported) as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
            }
        });
        for chunk in rx {
            for r in chunk? {
                f(r)?;
            }
        }
        Ok(())
    })
}
