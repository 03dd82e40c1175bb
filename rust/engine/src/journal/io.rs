//! The journal's I/O, behind a trait so tests can inject a full disk or a failing write.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An open segment being appended to.
pub trait SegmentSink: Send {
    /// Append all of `buf`.
    ///
    /// # Errors
    /// The OS's.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Make what was written durable (`fdatasync`).
    ///
    /// # Errors
    /// The OS's.
    fn sync(&mut self) -> io::Result<()>;
}

/// Where segments are created.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Create (truncate) a segment file for appending.
    ///
    /// # Errors
    /// The OS's.
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentSink>>;
    /// Make the directory entry of a new file durable.
    ///
    /// # Errors
    /// The OS's.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct Disk;

struct FileSink(File);

impl SegmentSink for FileSink {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Storage for Disk {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentSink>> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(FileSink(f)))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A disk that fills up: writes succeed until `budget` bytes were written in total, then
/// fail with `ENOSPC` (a short write keeps what fitted, as a real full disk does).
#[derive(Debug, Clone)]
pub struct FullDisk {
    left: Arc<AtomicU64>,
}

impl FullDisk {
    /// A disk with room for `budget` bytes.
    pub fn new(budget: u64) -> FullDisk {
        FullDisk {
            left: Arc::new(AtomicU64::new(budget)),
        }
    }
}

struct LimitedSink {
    file: File,
    left: Arc<AtomicU64>,
}

impl SegmentSink for LimitedSink {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let left = self.left.load(Ordering::Acquire);
        let n = (buf.len() as u64).min(left) as usize;
        self.file.write_all(&buf[..n])?;
        self.left.fetch_sub(n as u64, Ordering::AcqRel);
        if n < buf.len() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

impl Storage for FullDisk {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentSink>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(LimitedSink {
            file,
            left: self.left.clone(),
        }))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}
