//! The calibration cache: one small text file per CPU model in the user's
//! cache directory (`$XDG_CACHE_HOME/wasm-chord/`, else
//! `~/.cache/wasm-chord/`; `%LOCALAPPDATA%\wasm-chord\` on Windows):
//!
//! ```text
//! wasm-chord decode kernels v1
//! cpu AuthenticAMD family 26 model 2 stepping 1 AMD EPYC
//! Q4_K matvec avx512-pair avx512-pair,row-dot
//! ```
//!
//! Each line: type, shape class, chosen candidate, and the candidate set it
//! was chosen from. A line whose set differs from today's (a kernel added or
//! renamed) is ignored, so that type is timed again. A file that is not
//! this format, or of another CPU, is ignored as a whole; reading and
//! writing never fail loudly (the choice is only about speed).

use gguf::GgmlType;
use std::path::{Path, PathBuf};

/// Bumped when the meaning of the names changes.
const HEADER: &str = "wasm-chord decode kernels v1";
/// The only shape class so far: one activation row (decode).
const SHAPE: &str = "matvec";
/// Larger files are not ours.
const MAX_BYTES: u64 = 64 * 1024;

/// The entries of one cache file: (type, chosen, candidate set).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Entries {
    key: String,
    lines: Vec<(GgmlType, String, String)>,
}

impl Entries {
    /// The index in `names` of the cached choice for `ty`, if the cache
    /// has one made among exactly these candidates.
    pub(super) fn choice(&self, ty: GgmlType, names: &[&str]) -> Option<usize> {
        let set = names.join(",");
        let (_, chosen, _) = self.lines.iter().find(|(t, _, s)| *t == ty && *s == set)?;
        names.iter().position(|n| n == chosen)
    }

    /// Records `chosen` among `names` for `ty`.
    pub(super) fn set(&mut self, ty: GgmlType, chosen: &str, names: &[&str]) {
        self.lines.retain(|(t, _, _)| *t != ty);
        self.lines.push((ty, chosen.to_string(), names.join(",")));
    }

    /// Parses a cache file's text for the CPU `key`; anything unexpected
    /// gives no entries (or drops the line).
    pub(super) fn parse(text: &str, key: &str) -> Entries {
        let mut out = Entries {
            key: key.to_string(),
            lines: Vec::new(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) || lines.next() != Some(&format!("cpu {key}")) {
            return out;
        }
        for line in lines {
            let f: Vec<&str> = line.split(' ').collect();
            let [ty, SHAPE, chosen, set] = f[..] else {
                continue;
            };
            let Some(ty) = GgmlType::ALL.into_iter().find(|t| t.name() == ty) else {
                continue;
            };
            if set.split(',').any(|n| n == chosen) {
                out.set(ty, chosen, &set.split(',').collect::<Vec<_>>());
            }
        }
        out
    }

    /// The file's text.
    pub(super) fn text(&self) -> String {
        let mut s = format!("{HEADER}\ncpu {}\n", self.key);
        for (ty, chosen, set) in &self.lines {
            s += &format!("{} {SHAPE} {chosen} {set}\n", ty.name());
        }
        s
    }
}

/// Reads the cache file `path` (no file, or a broken one: no entries).
pub(super) fn read(path: &Path) -> Entries {
    let key = cpu_key();
    let text = std::fs::metadata(path)
        .ok()
        .filter(|m| m.len() <= MAX_BYTES)
        .and_then(|_| std::fs::read_to_string(path).ok());
    Entries::parse(text.as_deref().unwrap_or(""), &key)
}

/// Writes the cache file (through a temporary file and a rename, so a
/// reader never sees half a file); errors are ignored.
pub(super) fn write(path: &Path, e: &Entries) {
    let Some(dir) = path.parent() else { return };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let ok = std::fs::create_dir_all(dir).is_ok() && std::fs::write(&tmp, e.text()).is_ok();
    if !ok || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The cache file of CPU `key`, or `None` without a cache directory.
pub(super) fn path(key: &str) -> Option<PathBuf> {
    let env = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    let dir = env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .or_else(|| env("LOCALAPPDATA"))?;
    Some(
        dir.join("wasm-chord")
            .join(format!("decode-kernels-{:016x}.txt", fnv1a(key))),
    )
}

/// 64-bit FNV-1a: a file name per CPU model.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What identifies a CPU model: on x86 the cpuid vendor, family, model,
/// stepping and brand string (virtual machines often report a generic
/// brand, e.g. "AMD EPYC", for several generations).
pub(super) fn cpu_key() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        x86_key()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

#[cfg(target_arch = "x86_64")]
fn x86_key() -> String {
    use std::arch::x86_64::{__cpuid, CpuidResult};
    // SAFETY: cpuid exists on every x86-64 CPU; leaves beyond the maximum
    // are not queried (checked against leaves 0 and 0x8000_0000).
    #[allow(unused_unsafe)]
    let id = |leaf: u32| -> CpuidResult { unsafe { __cpuid(leaf) } };
    let bytes = |r: &[u32]| -> Vec<u8> { r.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let l0 = id(0);
    let vendor = bytes(&[l0.ebx, l0.edx, l0.ecx]);
    let (mut family, mut model, mut stepping) = (0, 0, 0);
    if l0.eax >= 1 {
        let a = id(1).eax;
        let base_family = (a >> 8) & 0xf;
        family = base_family
            + if base_family == 0xf {
                (a >> 20) & 0xff
            } else {
                0
            };
        model = ((a >> 4) & 0xf)
            | if base_family >= 6 {
                ((a >> 16) & 0xf) << 4
            } else {
                0
            };
        stepping = a & 0xf;
    }
    let mut brand = Vec::new();
    if id(0x8000_0000).eax >= 0x8000_0004 {
        for leaf in 0x8000_0002..=0x8000_0004 {
            let r = id(leaf);
            brand.extend(bytes(&[r.eax, r.ebx, r.ecx, r.edx]));
        }
    }
    let text = |b: &[u8]| -> String {
        let s = String::from_utf8_lossy(b);
        let s: String = s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    format!(
        "{} family {family} model {model} stepping {stepping} {}",
        text(&vendor),
        text(&brand)
    )
}
