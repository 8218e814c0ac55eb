//! The bound on the core's heap. The collector's `memory_limiter` sees only Go's heap, never
//! the core's: so the core keeps its own heap under a limit, a share of the memory the
//! collector may use, by taking no new export while it is over it. The data of a refused export
//! waits in its project's queue, in Go's heap, where `memory_limiter` sees it; the core's heap
//! falls as the exports in flight and the owed events go out.
//!
//! What the limit is, and whether an export may start, is decided here from values; reading
//! the cgroup and `/proc` is [`available_memory`]'s one thin job.

/// Without `core_memory_limit_mib`, the core may hold this share of the memory the collector
/// may use: `memory_limiter`'s usual limit (80 %) leaves Go the rest.
const DEFAULT_SHARE_DIVISOR: u64 = 4;

/// A cgroup limit this large means none (cgroup v1 writes `i64::MAX` rounded to pages).
const NO_LIMIT: u64 = 1 << 60;

/// Whether the core may start an export, by its heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreMemory {
    limit: Option<u64>,
}

impl CoreMemory {
    /// `configured` bytes, else a quarter of `available` (the memory the collector may use),
    /// else no limit.
    pub fn new(configured: Option<u64>, available: Option<u64>) -> CoreMemory {
        let limit = configured.or(available.map(|bytes| bytes / DEFAULT_SHARE_DIVISOR));
        CoreMemory { limit }
    }

    /// The limit in bytes; `None` when there is none.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether an export may start while the core's heap holds `live_bytes`.
    pub fn admits(&self, live_bytes: u64) -> bool {
        self.limit.is_none_or(|limit| live_bytes < limit)
    }
}

/// The memory this process may use: the smallest of its memory cgroup's limit (v2
/// `memory.max`, v1 `memory.limit_in_bytes`, in its own cgroup or at the root a container
/// sees) and the machine's memory; `None` when nothing can be read.
pub fn available_memory() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let own = read("/proc/self/cgroup").unwrap_or_default();
    let cgroup = limit_files(&own)
        .iter()
        .filter_map(|path| read(path).as_deref().and_then(parse_limit))
        .min();
    let machine = read("/proc/meminfo").as_deref().and_then(parse_meminfo);
    [cgroup, machine].into_iter().flatten().min()
}

/// The files that may hold this process's memory limit, from `/proc/self/cgroup`.
fn limit_files(proc_self_cgroup: &str) -> Vec<String> {
    let mut files = vec![
        "/sys/fs/cgroup/memory.max".to_owned(),
        "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_owned(),
    ];
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = path.trim_end_matches('/');
        if controllers.is_empty() {
            files.push(format!("/sys/fs/cgroup{path}/memory.max"));
        } else if controllers.split(',').any(|c| c == "memory") {
            files.push(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"));
        }
    }
    files
}

/// A cgroup memory limit file's value; `None` for `max` or a value that means no limit.
fn parse_limit(text: &str) -> Option<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|bytes| *bytes < NO_LIMIT)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib = line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_configured_one_else_a_quarter_of_what_is_available() {
        let gib = 1u64 << 30;
        let table = [
            (Some(100), Some(gib), Some(100)),
            (None, Some(gib), Some(gib / 4)),
            (Some(100), None, Some(100)),
            (None, None, None),
        ];
        for (configured, available, limit) in table {
            assert_eq!(CoreMemory::new(configured, available).limit(), limit);
        }
    }

    #[test]
    fn an_export_starts_only_under_the_limit() {
        let memory = CoreMemory::new(Some(100), None);
        let table = [(0, true), (99, true), (100, false), (u64::MAX, false)];
        for (live, admits) in table {
            assert_eq!(memory.admits(live), admits, "{live}");
        }
        assert!(CoreMemory::new(None, None).admits(u64::MAX));
    }

    #[test]
    fn limit_files_follow_the_process_cgroups() {
        let v1 = "9:name=systemd:/\n4:memory:/pod/abc/\n1:cpu,cpuacct:/\n0::/";
        let files = limit_files(v1);
        assert!(files.contains(&"/sys/fs/cgroup/memory/pod/abc/memory.limit_in_bytes".into()));
        assert!(files.contains(&"/sys/fs/cgroup/memory.max".into()));
        assert!(!files.iter().any(|f| f.contains("cpu")));
        let v2 = "0::/kubepods/burstable/pod1/c1\n";
        let files = limit_files(v2);
        assert!(files.contains(&"/sys/fs/cgroup/kubepods/burstable/pod1/c1/memory.max".into()));
        assert_eq!(limit_files("garbage").len(), 2);
    }

    #[test]
    fn limits_and_meminfo_are_read_as_the_kernel_writes_them() {
        let table = [
            ("1610612736\n", Some(1_610_612_736)),
            ("max\n", None),
            ("9223372036854771712\n", None),
            ("", None),
            ("-1", None),
        ];
        for (text, limit) in table {
            assert_eq!(parse_limit(text), limit, "{text:?}");
        }
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some(24_576_000 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB"), None);
    }
}
