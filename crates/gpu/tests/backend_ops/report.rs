//! The lines of a run (the CPU conformance's format).

use kernels::testdata::nmse;

/// An op's result: a note on success, the mismatch on failure.
pub type Outcome = Result<String, String>;

/// The NMSE bound of f32 ops.
pub const NMSE_MAX: f64 = 1e-6;

#[derive(Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub failures: usize,
}

impl Report {
    pub fn record(&mut self, op: impl Into<String>, ty: &str, outcome: Outcome) {
        let op = op.into();
        let line = match outcome {
            Ok(note) => format!("  OK    {op:<28} {ty:<8} {note}"),
            Err(why) => {
                self.failures += 1;
                format!("  FAIL  {op:<28} {ty:<8} {why}")
            }
        };
        println!("{line}");
        self.lines.push(line);
    }

    pub fn assert_ok(&self) {
        let failed: Vec<_> = self
            .lines
            .iter()
            .filter(|l| l.contains("FAIL"))
            .cloned()
            .collect();
        assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
    }
}

/// `got` against the reference `want` within [`NMSE_MAX`]; the NMSE.
pub fn bound(what: &str, got: &[f32], want: &[f32]) -> Result<f64, String> {
    let want64: Vec<f64> = want.iter().map(|&v| v as f64).collect();
    let e = nmse(got, &want64);
    if e <= NMSE_MAX && got.len() == want.len() {
        Ok(e)
    } else {
        Err(format!("{what}: NMSE {e:e}"))
    }
}

/// Any error of the device layer as a failure line.
pub fn dev<T>(r: Result<T, gpu::GpuError>) -> Result<T, String> {
    r.map_err(|e| format!("device: {e}"))
}
