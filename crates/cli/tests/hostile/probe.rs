//! Runs the binary once with a deadline, watching its peak resident memory.
#![allow(dead_code)] // each probe file uses its own part of the API

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every probe's ceilings (the "no input" limits).
pub const MAX_SECS: u64 = 60;
pub const MAX_RSS: u64 = 2 << 30;
/// A child past this is killed at once, to keep the machine usable; the probe then
/// fails on its RSS.
const KILL_RSS: u64 = 3 << 30;
const POLL: Duration = Duration::from_millis(2);

/// One invocation of `wasm-chord`.
#[derive(Debug, Clone)]
pub struct Probe {
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    env: Vec<(String, String)>,
    close_stdout: bool,
}

/// How a probe ended.
#[derive(Debug)]
pub struct Outcome {
    pub args: Vec<OsString>,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Peak resident set size in bytes (VmHWM, sampled every 2 ms while it ran).
    pub peak_rss: u64,
    pub elapsed: Duration,
    pub timed_out: bool,
}

impl Probe {
    pub fn new<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Probe {
        Probe {
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            stdin: None,
            timeout: Duration::from_secs(MAX_SECS),
            env: Vec::new(),
            close_stdout: false,
        }
    }

    /// Closes the read end of the child's stdout at once, as `| head -c0` would.
    pub fn close_stdout(mut self) -> Probe {
        self.close_stdout = true;
        self
    }

    /// Bytes written to the child's stdin (closed after them; none: empty stdin).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Probe {
        self.stdin = Some(bytes.into());
        self
    }

    /// A deadline shorter than the suite's 60 s.
    pub fn timeout_secs(mut self, secs: u64) -> Probe {
        self.timeout = Duration::from_secs(secs.min(MAX_SECS));
        self
    }

    /// Greedy sampling and a fixed seed, for probes that generate.
    pub fn args_temp0(mut self) -> Probe {
        self.args
            .extend(["--temp", "0", "--seed", "1"].map(OsString::from));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Probe {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the binary from the repository root and checks the ceilings every probe
    /// shares: no signal, no deadline passed, no panic message, peak RSS <= 2 GB.
    pub fn run(&self) -> Outcome {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasm-chord"));
        cmd.args(&self.args)
            .current_dir(super::common::root())
            .env_remove("WASM_CHORD_MODEL")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn wasm-chord");
        let feeder = feed(&mut child, self.stdin.clone().unwrap_or_default());
        if self.close_stdout {
            drop(child.stdout.take());
        }
        let out_reader = drain(child.stdout.take());
        let err_reader = drain(child.stderr.take());
        let status_path = format!("/proc/{}/status", child.id());
        let mut peak_rss = 0;
        let mut timed_out = false;
        let status = loop {
            if let Some(kb) = vm_hwm_kib(&status_path) {
                peak_rss = peak_rss.max(kb * 1024);
            }
            if let Some(status) = child.try_wait().expect("wait for wasm-chord") {
                break status;
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                let _ = child.kill();
            } else if peak_rss > KILL_RSS {
                let _ = child.kill();
            }
            std::thread::sleep(POLL);
        };
        let elapsed = start.elapsed();
        let _ = feeder.join();
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
        let out = Outcome {
            args: self.args.clone(),
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            peak_rss,
            elapsed,
            timed_out,
        };
        out.check_shared_limits();
        out
    }
}

/// Writes stdin in a thread (a child that never reads it must not block the probe).
fn feed(child: &mut Child, bytes: Vec<u8>) -> JoinHandle<()> {
    let pipe = child.stdin.take();
    std::thread::spawn(move || {
        if let Some(mut p) = pipe {
            let _ = p.write_all(&bytes);
        }
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// The `VmHWM:` line of /proc/PID/status in KiB (absent once the child has exited).
fn vm_hwm_kib(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Outcome {
    fn what(&self) -> String {
        format!(
            "wasm-chord {:?}: code {:?}, signal {:?}, {:.1} s, peak RSS {} MB\nstderr:\n{}",
            self.args,
            self.code,
            self.signal,
            self.elapsed.as_secs_f64(),
            self.peak_rss >> 20,
            tail(&self.stderr, 2000)
        )
    }

    fn check_shared_limits(&self) {
        assert!(!self.timed_out, "deadline passed: {}", self.what());
        assert!(self.signal.is_none(), "killed by a signal: {}", self.what());
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.what());
        self.rss_below(MAX_RSS);
    }

    /// The last non-empty stderr line.
    pub fn last_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Exit 1 with a last stderr line `error: …` that contains `needle` and no control
    /// characters.
    pub fn clean_error(&self, needle: &str) -> &Outcome {
        assert_eq!(self.code, Some(1), "expected exit 1: {}", self.what());
        let last = self.last_line();
        assert!(
            last.starts_with("error: "),
            "last stderr line is not an error: {}",
            self.what()
        );
        assert!(
            !last.chars().any(char::is_control),
            "control characters in the error line: {}",
            self.what()
        );
        assert!(
            last.contains(needle),
            "error does not mention {needle:?}: {}",
            self.what()
        );
        self
    }

    /// Exit 0.
    pub fn success(&self) -> &Outcome {
        assert_eq!(self.code, Some(0), "expected exit 0: {}", self.what());
        self
    }

    /// Exit 2 (clap's usage error).
    pub fn usage_error(&self) -> &Outcome {
        assert_eq!(
            self.code,
            Some(2),
            "expected a usage error: {}",
            self.what()
        );
        self
    }

    /// Peak RSS at most `bytes`.
    pub fn rss_below(&self, bytes: u64) -> &Outcome {
        assert!(
            self.peak_rss <= bytes,
            "peak RSS above {} MB: {}",
            bytes >> 20,
            self.what()
        );
        self
    }

    /// Wall time at most `secs`.
    pub fn faster_than(&self, secs: f64) -> &Outcome {
        assert!(
            self.elapsed.as_secs_f64() <= secs,
            "took more than {secs} s: {}",
            self.what()
        );
        self
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
