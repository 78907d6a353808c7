//! How a tensor's bytes are split across storage bindings.
//!
//! A binding holds at most `max` bytes ([`crate::adapter::max_binding_bytes`]).
//! Kernels read whole rows (a row is whole quant blocks), so a tensor is
//! cut between rows; and since bindings start at 4-byte boundaries
//! (`array<u32>`), every part starts at a row whose byte offset is a
//! multiple of 4: parts hold a multiple of `g = 4 / gcd(row_bytes, 4)` rows
//! (Q8_0's 34-byte blocks with an odd block count per row need pairs of
//! rows). The last part holds what is left, padded to 4 bytes on upload.

use std::ops::Range;

use crate::error::GpuError;

/// Rows of one part and where its bytes lie in the tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub rows: Range<usize>,
    pub bytes: Range<u64>,
}

/// Rows that must stay together for every part to start 4-byte aligned.
pub fn row_group(row_bytes: u64) -> u64 {
    4 / gcd(row_bytes, 4)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The parts of `rows` rows of `row_bytes` each, every part at most `max`
/// bytes (padding of the last to 4 bytes included).
pub fn split_rows(rows: usize, row_bytes: u64, max: u64) -> Result<Vec<Part>, GpuError> {
    if row_bytes == 0 {
        return Err(GpuError::Shape {
            op: "split_rows",
            reason: "rows of zero bytes".into(),
        });
    }
    let g = row_group(row_bytes);
    let per_part = (max / (g * row_bytes)) * g;
    if per_part == 0 {
        return Err(GpuError::Unsupported(format!(
            "a group of {g} rows of {row_bytes} bytes exceeds the {max}-byte binding limit"
        )));
    }
    let mut parts = Vec::new();
    let mut r = 0usize;
    while r < rows || (rows == 0 && parts.is_empty()) {
        let end = (r as u64 + per_part).min(rows as u64) as usize;
        parts.push(Part {
            rows: r..end,
            bytes: r as u64 * row_bytes..end as u64 * row_bytes,
        });
        if rows == 0 {
            break;
        }
        r = end;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every part within `max` (after padding), aligned, contiguous, all rows.
    fn check(rows: usize, rb: u64, max: u64) -> Vec<Part> {
        let parts = split_rows(rows, rb, max).unwrap();
        let mut next = 0;
        for p in &parts {
            assert_eq!(p.rows.start, next);
            assert_eq!(p.bytes.start % 4, 0, "{p:?}");
            assert_eq!(p.bytes.start, p.rows.start as u64 * rb);
            assert_eq!(p.bytes.end, p.rows.end as u64 * rb);
            assert!(
                (p.bytes.end - p.bytes.start).next_multiple_of(4) <= max,
                "{p:?}"
            );
            assert!(!p.rows.is_empty() || rows == 0);
            next = p.rows.end;
        }
        assert_eq!(next, rows);
        parts
    }

    #[test]
    fn one_part_when_it_fits() {
        let p = check(1024, 576, 1 << 30);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn q8_0_odd_blocks_split_in_pairs_of_rows() {
        // 3 blocks of 34 bytes: 102-byte rows, gcd 2 -> pairs of rows
        assert_eq!(row_group(102), 2);
        let p = check(11, 102, 450);
        // 450 / 204 = 2 pairs = 4 rows per part
        assert_eq!(
            p.iter().map(|p| p.rows.len()).collect::<Vec<_>>(),
            [4, 4, 3]
        );
    }

    #[test]
    fn q4_k_rows_of_a_tensor_above_one_gib() {
        // a [151936, 1536] Q4_K matrix (Qwen2.5 1.5B's output): 864 bytes a row
        let rb = 6 * 144;
        let max = (1u64 << 30) - 256;
        let p = check(151_936, rb, max);
        assert_eq!(p.len(), 1);
        // with 9x the rows (1.18 GB): two parts, the first as full as it can be
        let p = check(9 * 151_936, rb, max);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].rows.len() as u64, max / rb);
        assert!(p[0].bytes.end > max - rb);
    }

    #[test]
    fn odd_row_bytes_group_of_four() {
        assert_eq!(row_group(17), 4);
        check(1001, 17, 100);
        check(3, 17, 68);
    }

    #[test]
    fn too_large_a_row_is_an_error() {
        assert!(split_rows(10, 1000, 999).is_err());
        // a group of 2 rows of 102 bytes needs 204
        assert!(split_rows(10, 102, 203).is_err());
    }

    #[test]
    fn no_rows_is_one_empty_part() {
        assert_eq!(check(0, 34, 100).len(), 1);
    }
}
