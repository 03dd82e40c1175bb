//! Snapshot files: one shard's whole state after its first `records` journal records.
//!
//! ```text
//! header (64 bytes, little-endian):
//!   [0..8)   magic "HFBSNAP\0"
//!   [8..10)  version (1)
//!   [10..12) shard
//!   [16..24) hash of the journal's config.toml
//!   [24..32) records: the shard's journal records the state includes
//!   [32..40) the highest command sequence number among them
//!   [40..48) wall clock at creation, ns since the Unix epoch
//!   [48..56) body length
//!   [60..64) CRC32C of bytes [0..60)
//! body (varints, see Shard::snapshot_body)
//! trailer: CRC32C of the body (u32)
//! ```
//!
//! Files are named `snap-SSSS-RRRRRRRRRRRRRRRRRRRR.snap` (shard, records) and written to a
//! temp file, synced, renamed, and the directory synced.

use std::fs;
use std::path::{Path, PathBuf};

use super::JournalError;

/// First eight bytes of a snapshot file.
pub const MAGIC: [u8; 8] = *b"HFBSNAP\0";
/// Snapshot format version.
pub const VERSION: u16 = 1;
/// Header size.
pub const HEADER_LEN: usize = 64;

/// A snapshot file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapHeader {
    /// Shard.
    pub shard: u16,
    /// Hash of the journal's config.toml.
    pub config_hash: u64,
    /// Journal records of the shard the state includes.
    pub records: u64,
    /// Highest command sequence number among them.
    pub seq: u64,
    /// Wall clock at creation (ns since the epoch).
    pub created_unix_ns: u64,
}

/// The file name of a snapshot.
pub fn file_name(shard: u16, records: u64) -> String {
    format!("snap-{shard:04}-{records:020}.snap")
}

/// Encode a whole snapshot file.
pub fn encode_file(h: &SnapHeader, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..10].copy_from_slice(&VERSION.to_le_bytes());
    b[10..12].copy_from_slice(&h.shard.to_le_bytes());
    b[16..24].copy_from_slice(&h.config_hash.to_le_bytes());
    b[24..32].copy_from_slice(&h.records.to_le_bytes());
    b[32..40].copy_from_slice(&h.seq.to_le_bytes());
    b[40..48].copy_from_slice(&h.created_unix_ns.to_le_bytes());
    b[48..56].copy_from_slice(&(body.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    b
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Check and split a snapshot file: its header and body, or what is wrong with it.
pub fn decode_file(b: &[u8]) -> Result<(SnapHeader, &[u8]), String> {
    if b.len() < HEADER_LEN + 4 {
        return Err(format!("{} bytes, shorter than a snapshot header", b.len()));
    }
    if b[0..8] != MAGIC {
        return Err("not a snapshot file (bad format id)".into());
    }
    let mut c = [0u8; 4];
    c.copy_from_slice(&b[60..64]);
    if crc32c::crc32c(&b[..60]) != u32::from_le_bytes(c) {
        return Err("header checksum mismatch".into());
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    if version != VERSION {
        return Err(format!(
            "snapshot version {version}, this build reads {VERSION}"
        ));
    }
    let len = usize::try_from(u64_at(b, 48)).unwrap_or(usize::MAX);
    if b.len() != HEADER_LEN + len.saturating_add(4) {
        return Err(format!(
            "{} bytes, the header says {}",
            b.len(),
            HEADER_LEN as u64 + len as u64 + 4
        ));
    }
    let body = &b[HEADER_LEN..HEADER_LEN + len];
    c.copy_from_slice(&b[HEADER_LEN + len..]);
    if crc32c::crc32c(body) != u32::from_le_bytes(c) {
        return Err("body checksum mismatch".into());
    }
    Ok((
        SnapHeader {
            shard: u16::from_le_bytes([b[10], b[11]]),
            config_hash: u64_at(b, 16),
            records: u64_at(b, 24),
            seq: u64_at(b, 32),
            created_unix_ns: u64_at(b, 40),
        },
        body,
    ))
}

/// The snapshot files of `dir` for `shard`, newest (most records) first.
///
/// # Errors
/// The directory cannot be listed.
pub fn list(dir: &Path, shard: u16) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let prefix = format!("snap-{shard:04}-");
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| JournalError::Io {
        path: dir.display().to_string(),
        op: "list journal directory",
        source: e,
    })?;
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&prefix) {
            if let Some(n) = rest
                .strip_suffix(".snap")
                .and_then(|r| r.parse::<u64>().ok())
            {
                out.push((n, ent.path()));
            }
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(out)
}

/// Appends varints (see [`super::format`]) to a buffer.
#[derive(Debug, Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    /// An unsigned integer.
    pub fn u(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    /// A signed integer (zigzag).
    pub fn i(&mut self, v: i64) {
        self.u(((v << 1) ^ (v >> 63)) as u64);
    }
    /// An optional unsigned integer (0 = none, v + 1).
    pub fn opt(&mut self, v: Option<u64>) {
        match v {
            None => self.u(0),
            Some(x) => {
                self.u(1);
                self.u(x);
            }
        }
    }
    /// Bytes with their length.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

/// Reads what [`Enc`] wrote; every getter is `None` past the end.
#[derive(Debug)]
pub struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    /// Read `b`.
    pub fn new(b: &'a [u8]) -> Dec<'a> {
        Dec { b, pos: 0 }
    }
    /// An unsigned integer.
    pub fn u(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            if shift >= 64 {
                return None;
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    }
    /// A signed integer.
    pub fn i(&mut self) -> Option<i64> {
        let v = self.u()?;
        Some(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    /// An optional unsigned integer.
    pub fn opt(&mut self) -> Option<Option<u64>> {
        match self.u()? {
            0 => Some(None),
            1 => Some(Some(self.u()?)),
            _ => None,
        }
    }
    /// Bytes with their length.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u()?).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    /// `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    /// Whether everything was read.
    pub fn done(&self) -> bool {
        self.pos == self.b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_damage_is_named() {
        let h = SnapHeader {
            shard: 3,
            config_hash: 9,
            records: 1234,
            seq: 99,
            created_unix_ns: 1,
        };
        let f = encode_file(&h, b"body bytes");
        let (h2, body) = decode_file(&f).unwrap();
        assert_eq!((h2, body), (h, &b"body bytes"[..]));
        let mut bad = f.clone();
        bad[HEADER_LEN + 2] ^= 1;
        assert!(decode_file(&bad).unwrap_err().contains("body checksum"));
        assert!(decode_file(&f[..f.len() - 1])
            .unwrap_err()
            .contains("the header says"));
        let mut e = Enc::default();
        e.u(300);
        e.i(-5);
        e.opt(None);
        e.opt(Some(7));
        e.bytes(b"xy");
        let mut d = Dec::new(&e.0);
        assert_eq!(
            (d.u(), d.i(), d.opt(), d.opt(), d.bytes()),
            (
                Some(300),
                Some(-5),
                Some(None),
                Some(Some(7)),
                Some(&b"xy"[..])
            )
        );
        assert!(d.done());
        assert_eq!(d.u(), None);
    }
}
