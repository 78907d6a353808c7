//! Buffers sized by the context: checked sizes, a memory ceiling, and
//! fallible zeroed allocation whose pages are committed only when written.
//!
//! `vec![x; n]` aborts the process when the allocator refuses, and for a
//! type the standard library does not know to be zero (such as `f16`) it
//! writes every element, so the whole buffer is resident from the start.
//! [`zeroed_vec`] asks the allocator for zeroed memory instead (`calloc`,
//! which takes fresh pages from the OS for large sizes and leaves them
//! untouched) and reports a refusal as an error.

use std::fmt;

use bytemuck::Zeroable;

use crate::error::ModelError;

/// Why a buffer cannot be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocFailure {
    /// Its size in bytes does not fit in the address space.
    Overflow,
    /// It is larger than the memory ceiling ([`memory_limit`]).
    OverLimit { limit: u64 },
    /// The allocator refused it.
    Refused,
}

impl fmt::Display for AllocFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocFailure::Overflow => f.write_str("more than the address space holds"),
            AllocFailure::OverLimit { limit } => {
                write!(f, "more than the {} of {}", gib(*limit), LIMIT_NAME)
            }
            AllocFailure::Refused => f.write_str("the allocation failed"),
        }
    }
}

#[cfg(target_arch = "wasm32")]
const LIMIT_NAME: &str = "the wasm32 address space";
#[cfg(not(target_arch = "wasm32"))]
const LIMIT_NAME: &str = "physical memory";

/// `bytes` as GiB with two decimals.
pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The most memory one part of the model's buffers (the KV cache, the
/// scratch buffers) may take: physical memory
/// (Linux: `MemTotal` of `/proc/meminfo`), or the 4 GiB address space on
/// wasm32. `None` where it cannot be read (allocation then stays fallible).
pub fn memory_limit() -> Option<u64> {
    if cfg!(target_arch = "wasm32") {
        return Some(1 << 32);
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

/// `MemTotal:  16318496 kB` -> bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    n.checked_mul(unit)
}

/// Bytes of buffers of `elems` elements of `elem_bytes` each, checked.
pub(crate) fn checked_bytes(
    parts: impl IntoIterator<Item = (usize, usize)>,
) -> Result<u64, AllocFailure> {
    parts
        .into_iter()
        .try_fold(0u64, |sum, (elems, elem_bytes)| {
            let b = elems
                .checked_mul(elem_bytes)
                .and_then(|b| u64::try_from(b).ok())
                .ok_or(AllocFailure::Overflow)?;
            sum.checked_add(b).ok_or(AllocFailure::Overflow)
        })
}

/// Whether `bytes` fit under `limit` (and the address space).
pub(crate) fn check_limit(bytes: u64, limit: Option<u64>) -> Result<(), AllocFailure> {
    if usize::try_from(bytes).map_or(true, |b| b > isize::MAX as usize) {
        return Err(AllocFailure::Overflow);
    }
    match limit {
        Some(limit) if bytes > limit => Err(AllocFailure::OverLimit { limit }),
        _ => Ok(()),
    }
}

/// `n` zeroed elements, allocated fallibly; the pages are committed as they
/// are written, not up front.
pub(crate) fn zeroed_vec<T: Zeroable>(n: usize) -> Result<Vec<T>, AllocFailure> {
    check_limit(checked_bytes([(n, std::mem::size_of::<T>())])?, None)?;
    bytemuck::allocation::try_zeroed_vec(n).map_err(|()| AllocFailure::Refused)
}

/// `needs 2.00 GiB (2147483648 bytes), more than ...` for the error message.
pub(crate) fn describe(bytes: Option<u64>, why: AllocFailure) -> String {
    match bytes {
        Some(b) => format!("needs {} ({b} bytes), {why}", gib(b)),
        None => format!("needs {why}"),
    }
}

/// The buffers of one part of the model (the KV cache, the scratch) for
/// `n_ctx` positions, whose total size has been checked: allocations made
/// through it report that total when they fail.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    what: &'static str,
    n_ctx: usize,
    bytes: u64,
}

impl Budget {
    /// Checks the total `bytes` of `what` against the memory ceiling.
    pub(crate) fn new(
        what: &'static str,
        n_ctx: usize,
        bytes: Result<u64, AllocFailure>,
    ) -> Result<Budget, ModelError> {
        let err = |bytes, why| ModelError::OutOfMemory {
            what,
            n_ctx,
            bytes,
            why,
        };
        let b = bytes.map_err(|why| err(None, why))?;
        check_limit(b, memory_limit()).map_err(|why| err(Some(b), why))?;
        Ok(Budget {
            what,
            n_ctx,
            bytes: b,
        })
    }

    /// The error of a failed allocation within the budget.
    pub(crate) fn error(&self, why: AllocFailure) -> ModelError {
        ModelError::OutOfMemory {
            what: self.what,
            n_ctx: self.n_ctx,
            bytes: Some(self.bytes),
            why,
        }
    }

    /// [`zeroed_vec`] within the budget.
    pub(crate) fn zeroed<T: Zeroable>(&self, n: usize) -> Result<Vec<T>, ModelError> {
        zeroed_vec(n).map_err(|why| self.error(why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn mem_total_parses() {
        let text = "MemTotal:       16318496 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_mem_total(text), Some(16318496 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: x kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(memory_limit().unwrap() > 1 << 20);
        }
    }

    #[test]
    fn sizes_are_checked() {
        assert_eq!(checked_bytes([(3, 4), (2, 2)]), Ok(16));
        assert_eq!(
            checked_bytes([(usize::MAX, 2)]),
            Err(AllocFailure::Overflow)
        );
        assert_eq!(
            checked_bytes([
                (usize::MAX / 2, 1),
                (usize::MAX / 2, 1),
                (usize::MAX / 2, 1)
            ]),
            Err(AllocFailure::Overflow)
        );
        assert_eq!(check_limit(10, Some(10)), Ok(()));
        assert_eq!(
            check_limit(11, Some(10)),
            Err(AllocFailure::OverLimit { limit: 10 })
        );
        assert_eq!(check_limit(u64::MAX, None), Err(AllocFailure::Overflow));
        let e = AllocFailure::OverLimit { limit: 3 << 30 }.to_string();
        assert!(e.contains("3.00 GiB"), "{e}");
    }

    #[test]
    fn impossible_allocations_fail_without_aborting() {
        // Beyond isize::MAX bytes: the layout is refused.
        assert_eq!(
            zeroed_vec::<f16>(usize::MAX / 2 + 1).unwrap_err(),
            AllocFailure::Overflow
        );
        assert!(zeroed_vec::<f32>(isize::MAX as usize / 4).is_err());
        let v = zeroed_vec::<f16>(1000).unwrap();
        assert!(v.iter().all(|x| *x == f16::ZERO));
        assert!(zeroed_vec::<f32>(0).unwrap().is_empty());
    }
}
