//! What the bench reads off the machine (Linux only): CPU time per process and per thread,
//! resident memory, and which CPUs the process's threads may run on.

use std::time::Duration;

/// Resident memory now, and the peak since the last reset, in bytes.
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn reset_peak_rss() {
    // Writing 5 resets VmHWM to the current RSS (proc(5), clear_refs).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time this process has used, all threads (user + system), to the nanosecond.
pub fn cpu_time() -> Duration {
    // SAFETY: clock_gettime writes one timespec.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// CPU time one thread of this process has used, to the nanosecond: the first field of its
/// schedstat (proc(5)).
pub fn thread_cpu_time(tid: u64) -> Duration {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The calling thread's id, from the /proc/thread-self link.
pub fn current_tid() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Where the process's threads may run.
///
/// On a virtual machine, a thread that wakes a peer parked on another, idle vCPU pays for the
/// hypervisor to wake that vCPU; on the reference machine that adds ~45 us to every loopback
/// round trip, whoever sends it. Confining every thread to one CPU turns those wake-ups into
/// ordinary context switches, and charges the server's CPU time to each call as well.
pub struct Placement {
    original: libc::cpu_set_t,
}

impl Placement {
    /// Remembers the CPUs the process may use now, to return to them later.
    pub fn current() -> Self {
        // SAFETY: cpu_set_t is plain data, and sched_getaffinity writes at most its size.
        let mut original: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut original)
        };
        assert_eq!(rc, 0, "sched_getaffinity");
        Self { original }
    }

    /// Puts every thread of the process, and so every thread they start, on the first CPU
    /// the process was allowed.
    pub fn one_cpu(&self) -> usize {
        let first = (0..libc::CPU_SETSIZE as usize)
            .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &self.original) })
            .unwrap_or(0);
        // SAFETY: as above; CPU_SET only writes inside the set.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(first, &mut one) };
        set_every_thread(&one);
        first
    }

    /// Lets every thread run on all the CPUs the process started with.
    pub fn spread(&self) {
        set_every_thread(&self.original);
    }
}

fn set_every_thread(set: &libc::cpu_set_t) {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: the set is initialised and its size is passed; a thread that has exited
        // since the listing only makes the call fail, which is ignored.
        unsafe {
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set);
        }
    }
}
