//! What the benchmarks share: where they keep their data, how a child
//! process measures itself (`/proc`), and how results are printed.
//! Included by each bench with `#[path = "common/mod.rs"] mod common;`.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The argument that makes a bench binary run one measurement as a child
/// process (so that its peak memory is the measured work's alone).
pub const CHILD: &str = "__child";

/// A bench's `main`: `child` when started with [`CHILD`] (given the
/// arguments after it), else `parent`; an error is printed as
/// `bench NAME: error: ...` with a failing exit status.
pub fn bench_main(
    name: &str,
    child: fn(&[String]) -> Res<()>,
    parent: fn(&[String]) -> Res<()>,
) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((first, rest)) if first == CHILD => child(rest),
        _ => parent(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {name}: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `target/<name>`, found from the bench binary's own path
/// (`target/<profile>/deps/<bench>-<hash>`), or under `CARGO_TARGET_DIR`.
pub fn bench_dir(exe: &Path, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join(name);
    }
    exe.ancestors()
        .nth(3)
        .map(|target| target.join(name))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join(name))
}

/// CPU seconds all CPUs spent busy since boot (`/proc/stat`, USER_HZ = 100).
pub fn busy_cpu_s() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    // user nice system idle iowait irq softirq steal ...
    let ticks: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    let idle = ticks.get(3)? + ticks.get(4)?;
    let total: u64 = ticks.iter().take(8).sum();
    Some((total - idle) as f64 / 100.0)
}

/// This process's CPU time and time spent waiting for a CPU, in seconds
/// (`/proc/self/schedstat`).
pub fn schedstat() -> Res<(f64, f64)> {
    let stat = fs::read_to_string("/proc/self/schedstat")?;
    let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>());
    let cpu = fields.next().ok_or("empty /proc/self/schedstat")??;
    let wait = fields.next().ok_or("short /proc/self/schedstat")??;
    Ok((cpu as f64 / 1e9, wait as f64 / 1e9))
}

/// CPU seconds this process has used so far, all its threads together,
/// those that have ended included (`/proc/self/stat`, USER_HZ = 100).
pub fn process_cpu_s() -> Res<f64> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    // The command name, in parentheses, may hold spaces: count fields
    // from the last ')'. utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').ok_or("no ')' in /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Res<f64> {
        Ok(fields.get(i).ok_or("short /proc/self/stat")?.parse::<u64>()? as f64 / 100.0)
    };
    // After the name: state is field 3, so field n is at index n - 3.
    Ok(ticks(14 - 3)? + ticks(15 - 3)?)
}

/// The peak resident memory (`VmHWM`) in a `/proc/<pid>/status` text, in KiB.
pub fn hwm_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}

/// This process's peak resident memory, in KiB.
pub fn vm_hwm_kib() -> Res<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    Ok(hwm_from_status(&status).ok_or("no VmHWM in /proc/self/status (not Linux?)")?)
}

/// Bytes of the SQLite database files at `db` (the file, `-wal`, `-shm`).
pub fn db_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            fs::metadata(name).ok().map(|m| m.len())
        })
        .sum()
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// A Markdown table with padded columns; the first line is the header.
pub fn markdown(lines: &[Vec<String>]) -> String {
    let mut out = String::new();
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..columns).map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0)).collect();
    for (n, line) in lines.iter().enumerate() {
        out.push('|');
        for (cell, width) in line.iter().zip(&widths) {
            let _ = write!(out, " {cell:<width$} |");
        }
        out.push('\n');
        if n == 0 {
            out.push('|');
            for width in &widths {
                let _ = write!(out, "{}|", "-".repeat(width + 2));
            }
            out.push('\n');
        }
    }
    out
}
