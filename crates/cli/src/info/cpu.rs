//! `wasm-chord info --cpu`: the CPU, the SIMD features the kernels care about, the kernel
//! ISAs this build can run here, the one `kernels::arch::select()` picks (honouring
//! `WASM_CHORD_ISA`), the decode kernel it runs per weight type and why (timed here,
//! cached, forced), the types whose decode batches run multi-token kernels, and the
//! default thread count.

use kernels::arch::tune::{self, Choice, Reason};
use kernels::matvec_tokens;
use kernels::GgmlType;
use serde_json::json;

/// What `info --cpu` reports.
#[derive(Debug, Clone)]
pub struct CpuReport {
    /// Marketing name of the CPU, e.g. "Intel(R) Xeon(R) Processor" ("unknown" if not found).
    pub model: String,
    /// `std::env::consts::ARCH`.
    pub arch: &'static str,
    /// Features relevant to our kernels on this architecture, with run-time detection results.
    pub features: Vec<(&'static str, bool)>,
    /// ISAs with a kernel table usable here, best last.
    pub available: Vec<&'static str>,
    /// The ISA the process-wide kernel table uses.
    pub selected: &'static str,
    /// The `WASM_CHORD_ISA` value, if set.
    pub forced: Option<String>,
    /// Threads used when `-t` is not given (the available cores).
    pub threads: usize,
    /// The decode kernel of each weight type with a choice, and why.
    pub decode: Vec<Choice>,
    /// The weight types whose decode batches (several sequences) run a
    /// multi-token kernel, and the layout it reads.
    pub multi_token: Vec<(GgmlType, &'static str)>,
    /// Time this process spent timing decode kernels.
    pub calibration: std::time::Duration,
    /// The calibration cache file of this CPU model.
    pub cache_file: Option<std::path::PathBuf>,
}

impl CpuReport {
    pub fn detect() -> Self {
        let k = kernels::arch::select();
        // Decide every type with a choice, as a model of that type would.
        tune::prepare(k, &GgmlType::ALL);
        CpuReport {
            model: cpu_model().unwrap_or_else(|| "unknown".to_string()),
            arch: std::env::consts::ARCH,
            features: features(),
            available: kernels::arch::available()
                .into_iter()
                .map(|isa| isa.name())
                .collect(),
            selected: k.isa.name(),
            forced: std::env::var("WASM_CHORD_ISA")
                .ok()
                .filter(|s| !s.is_empty()),
            threads: crate::common::resolve_threads(None),
            decode: tune::choices(k, kernels::arch::forced().is_some()),
            multi_token: GgmlType::ALL
                .into_iter()
                .filter_map(|t| matvec_tokens::kernel_layout(k, t).map(|l| (t, l)))
                .collect(),
            calibration: tune::calibration_time(),
            cache_file: tune::cache_file(),
        }
    }

    /// One line per weight type: type, kernel, why.
    fn decode_text(&self) -> String {
        let mut s = String::new();
        for c in &self.decode {
            s += &format!("  {:<5} {:<14} {}\n", c.ty.name(), c.kernel, why(&c.reason));
        }
        if !self.multi_token.is_empty() {
            let kinds: Vec<String> = self
                .multi_token
                .iter()
                .map(|(t, l)| format!("{} ({l})", t.name()))
                .collect();
            s += &format!("batch decode:  multi-token {}\n", kinds.join(", "));
        }
        if !self.calibration.is_zero() {
            s += &format!(
                "calibration:   {:.0} ms\n",
                self.calibration.as_secs_f64() * 1e3
            );
        }
        if let Some(p) = &self.cache_file {
            s += &format!("kernel cache:  {}\n", p.display());
        }
        s
    }

    pub fn text(&self) -> String {
        let feats = self
            .features
            .iter()
            .map(|(name, on)| format!("{name}{}", if *on { "+" } else { "-" }))
            .collect::<Vec<_>>()
            .join(" ");
        let forced = self
            .forced
            .as_ref()
            .map_or(String::new(), |f| format!(" (WASM_CHORD_ISA={f})"));
        format!(
            "cpu:           {}\narch:          {}\nfeatures:      {}\nkernel isas:   {}\nselected isa:  {}{}\nthreads:       {}\ndecode kernels:{}\n{}",
            self.model,
            self.arch,
            if feats.is_empty() { "-".into() } else { feats },
            self.available.join(" "),
            self.selected,
            forced,
            self.threads,
            if self.decode.is_empty() { " -" } else { "" },
            self.decode_text()
        )
    }

    pub fn json(&self) -> serde_json::Value {
        let features: serde_json::Map<String, serde_json::Value> = self
            .features
            .iter()
            .map(|(name, on)| (name.to_string(), json!(on)))
            .collect();
        json!({
            "model": self.model,
            "arch": self.arch,
            "features": features,
            "available_isas": self.available,
            "selected_isa": self.selected,
            "forced_isa": self.forced,
            "threads": self.threads,
            "decode_kernels": self.decode.iter().map(choice_json).collect::<Vec<_>>(),
            "multi_token_kernels": self
                .multi_token
                .iter()
                .map(|(t, l)| (t.name().to_string(), json!(l)))
                .collect::<serde_json::Map<_, _>>(),
            "calibration_ms": self.calibration.as_secs_f64() * 1e3,
            "kernel_cache": self.cache_file.as_ref().map(|p| p.display().to_string()),
        })
    }
}

/// Why a type runs its kernel, in words.
fn why(r: &Reason) -> String {
    match r {
        Reason::Measured(times) => {
            let t: Vec<String> = times
                .iter()
                .map(|(name, s)| format!("{name} {:.3} ms", s * 1e3))
                .collect();
            format!("fastest here: {}", t.join(", "))
        }
        Reason::Cached => "cached for this cpu".to_string(),
        Reason::Default(why) => why.to_string(),
    }
}

fn choice_json(c: &Choice) -> serde_json::Value {
    let (reason, times) = match &c.reason {
        Reason::Measured(t) => (
            "measured",
            Some(
                t.iter()
                    .map(|(n, s)| (n.to_string(), json!(s * 1e3)))
                    .collect::<serde_json::Map<_, _>>(),
            ),
        ),
        Reason::Cached => ("cached", None),
        Reason::Default(why) => (*why, None),
    };
    json!({
        "type": c.ty.name(),
        "kernel": c.kernel,
        "reason": reason,
        "timings_ms": times,
    })
}

/// The detected features our kernels can use, for the architecture this binary runs on.
fn features() -> Vec<(&'static str, bool)> {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        use std::arch::is_x86_feature_detected as has;
        vec![
            ("avx2", has!("avx2")),
            ("fma", has!("fma")),
            ("f16c", has!("f16c")),
            ("avx512f", has!("avx512f")),
            ("avx512bw", has!("avx512bw")),
            ("avx512vl", has!("avx512vl")),
            ("avx512vnni", has!("avx512vnni")),
            ("avx_vnni", has!("avxvnni")),
        ]
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as has;
        vec![
            ("neon", has!("neon")),
            ("dotprod", has!("dotprod")),
            ("i8mm", has!("i8mm")),
        ]
    }
    #[cfg(target_arch = "wasm32")]
    {
        vec![("simd128", cfg!(target_feature = "simd128"))]
    }
    #[cfg(not(any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "wasm32"
    )))]
    {
        Vec::new()
    }
}

/// The CPU's name from the operating system, if it tells.
fn cpu_model() -> Option<String> {
    if cfg!(target_os = "linux") {
        let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        return model_from_cpuinfo(&text);
    }
    if cfg!(target_os = "macos") {
        let out = std::process::Command::new("sysctl")
            .args(["-n", "machdep.cpu.brand_string"])
            .output()
            .ok()?;
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return (!name.is_empty()).then_some(name);
    }
    None
}

/// The first "model name" (x86) or "Hardware"/"CPU part" (arm) value of a /proc/cpuinfo text.
fn model_from_cpuinfo(text: &str) -> Option<String> {
    for key in ["model name", "Hardware", "CPU part"] {
        let found = text.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_string())
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_model_name_is_found() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2\n";
        assert_eq!(
            model_from_cpuinfo(text).as_deref(),
            Some("Intel(R) Xeon(R) Processor")
        );
        let arm = "processor\t: 0\nBogoMIPS\t: 48.00\nCPU part\t: 0xd0c\n";
        assert_eq!(model_from_cpuinfo(arm).as_deref(), Some("0xd0c"));
        assert_eq!(model_from_cpuinfo("processor : 0\n"), None);
    }

    #[test]
    fn report_is_consistent_with_the_kernel_table() {
        let r = CpuReport::detect();
        assert!(r.available.contains(&"scalar"));
        assert!(r.available.contains(&r.selected), "{r:?}");
        assert!(r.threads >= 1);
        let text = r.text();
        assert!(
            text.contains(&format!("selected isa:  {}", r.selected)),
            "{text}"
        );
        let j = r.json();
        assert_eq!(j["selected_isa"], r.selected);
        let d = j["decode_kernels"].as_array().unwrap();
        assert_eq!(d.len(), r.decode.len());
        for (c, dj) in r.decode.iter().zip(d) {
            assert_eq!(dj["type"], c.ty.name());
            assert_eq!(dj["kernel"], c.kernel);
            assert!(
                text.contains(&format!("  {:<5} {}", c.ty.name(), c.kernel)),
                "{text}"
            );
        }
        assert_eq!(j["threads"], r.threads);
        for (t, l) in &r.multi_token {
            assert_eq!(j["multi_token_kernels"][t.name()], *l);
            assert!(text.contains(&format!("{} ({l})", t.name())), "{text}");
        }
        #[cfg(target_arch = "x86_64")]
        {
            // The avx2 kernel table exists exactly when the CPU has avx2 + fma + f16c.
            let on = |n: &str| r.features.iter().any(|&(f, v)| f == n && v);
            assert_eq!(
                r.available.contains(&"avx2"),
                on("avx2") && on("fma") && on("f16c")
            );
        }
    }
}
