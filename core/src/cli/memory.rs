//! How much memory the process may use: the machine's, or its control group's limit when
//! that is lower (a container). The server's default table memory is a share of it.

/// A quarter of the memory the process may use, and never less than `floor`.
pub fn quarter_of_memory_or(floor: usize) -> usize {
    available_memory_bytes().map_or(floor, |bytes| (bytes / 4).max(floor))
}

/// The machine's memory (`MemTotal` of /proc/meminfo), lowered to the control group's
/// limit (cgroup v2 `memory.max`) when there is one; `None` where neither can be read.
fn available_memory_bytes() -> Option<usize> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total_bytes(&text));
    let group = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    match (machine, group) {
        (Some(m), Some(g)) => Some(m.min(g)),
        (m, g) => m.or(g),
    }
}

/// `MemTotal` of a /proc/meminfo text, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let text = "MemTotal:       24567892 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total_bytes(text), Some(24_567_892 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_bytes("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn the_quarter_is_never_below_the_floor() {
        let floor = 1 << 30;
        let quarter = quarter_of_memory_or(floor);
        assert!(quarter >= floor);
        if let Some(bytes) = available_memory_bytes() {
            assert_eq!(quarter, (bytes / 4).max(floor));
        }
    }
}
