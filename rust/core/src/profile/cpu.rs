//! CPU time of the process (`getrusage(RUSAGE_SELF)`), of the calling thread
//! (`getrusage(RUSAGE_THREAD)`, Linux) and of every thread of the process
//! (`/proc/self/task/*/stat`, Linux). Utilisation over an interval is the difference of two
//! readings divided by the wall time between them.
//!
//! ```
//! let t = hftbook_core::profile::cpu::process_times().unwrap();
//! assert!(t.user_s >= 0.0 && t.system_s >= 0.0);
//! ```

use std::io;

/// User and system CPU time, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Time spent in user mode.
    pub user_s: f64,
    /// Time spent in the kernel on the caller's behalf.
    pub system_s: f64,
}

/// CPU time of one thread of this process.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTimes {
    /// Kernel thread id.
    pub tid: u32,
    /// Thread name (`comm`, at most 15 bytes).
    pub name: String,
    /// Its CPU time.
    pub times: CpuTimes,
}

#[cfg(unix)]
fn rusage(who: libc::c_int) -> io::Result<CpuTimes> {
    // SAFETY: `rusage` is plain integers and `timeval`s, for which all-zero bytes are a
    // valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `getrusage` writes a `rusage` into the struct we own, through a valid
    // exclusive pointer to it.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    Ok(CpuTimes {
        user_s: secs(ru.ru_utime),
        system_s: secs(ru.ru_stime),
    })
}

/// CPU time of the whole process (all threads, live and exited).
///
/// # Errors
/// The OS error of `getrusage`, or `Unsupported` off Unix.
pub fn process_times() -> io::Result<CpuTimes> {
    #[cfg(unix)]
    {
        rusage(libc::RUSAGE_SELF)
    }
    #[cfg(not(unix))]
    {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// CPU time of the calling thread.
///
/// # Errors
/// The OS error of `getrusage`, or `Unsupported` off Linux.
pub fn current_thread_times() -> io::Result<CpuTimes> {
    #[cfg(target_os = "linux")]
    {
        rusage(libc::RUSAGE_THREAD)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Parse `/proc/.../stat`: `(comm, utime, stime)` in clock ticks.
fn parse_stat(text: &str) -> Option<(String, u64, u64)> {
    // "tid (comm) state ppid ... utime(14) stime(15) ...": comm may hold spaces and ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state), so field n is rest[n - 3].
    let utime = rest.get(11)?.parse().ok()?;
    let stime = rest.get(12)?.parse().ok()?;
    Some((name, utime, stime))
}

/// CPU time of every live thread of this process, by thread id (Linux).
///
/// # Errors
/// Failure to list `/proc/self/task`, or `Unsupported` off Linux. Threads that exit while
/// being read are skipped.
pub fn thread_times() -> io::Result<Vec<ThreadTimes>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as f64 } else { 100.0 };
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task")? {
            let entry = entry?;
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue; // exited meanwhile
            };
            if let Some((name, u, s)) = parse_stat(&text) {
                out.push(ThreadTimes {
                    tid,
                    name,
                    times: CpuTimes {
                        user_s: u as f64 / hz,
                        system_s: s as f64 / hz,
                    },
                });
            }
        }
        out.sort_by_key(|t| t.tid);
        Ok(out)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let line = "123 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(("a (b) c".into(), 250, 75)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn busy_thread_shows_cpu_time() {
        let h = std::thread::Builder::new()
            .name("hb-busy".into())
            .spawn(|| {
                // Spin until the thread itself has used 30 ms of CPU (the machine is shared).
                let start = std::time::Instant::now();
                let mut x = 0u64;
                while start.elapsed().as_secs() < 20 {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                    }
                    let t = current_thread_times().unwrap();
                    if t.user_s + t.system_s >= 0.03 {
                        break;
                    }
                }
                let own = current_thread_times().unwrap();
                let all = thread_times().unwrap();
                (own, all)
            })
            .unwrap();
        let (own, all) = h.join().unwrap();
        assert!(own.user_s + own.system_s >= 0.03, "{own:?}");
        let busy = all.iter().find(|t| t.name == "hb-busy").unwrap();
        assert!(busy.times.user_s + busy.times.system_s > 0.0, "{busy:?}");
        let p = process_times().unwrap();
        assert!(p.user_s + p.system_s >= own.user_s + own.system_s - 0.02);
    }
}
