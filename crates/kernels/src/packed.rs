//! Repacked weight layouts for decode (llama.cpp's CPU "extra buffer" idea):
//! a matrix's rows transcoded at load time, in groups of a few rows, into a
//! layout a table's decode kernel reads with fewer instructions and whole,
//! aligned cache lines (the quants of a group's rows interleaved so one
//! 512-bit load feeds every row of the group, scales unpacked ahead of
//! time).
//!
//! A [`Packing`] belongs to one kernel table and one weight type; its
//! kernel gives outputs equal bit for bit to that table's row dot, so a
//! packed matrix changes speed only. The rows past the last whole group
//! are not packed: `ops::matvec_rows` takes them from the file's bytes.

use std::ops::Range;

use crate::error::KernelError;
use crate::ops::QMatrix;
use crate::quant::row_bytes;
use crate::GgmlType;

/// Packed groups start on this boundary (one cache line).
pub const ALIGN: usize = 64;

/// `y[i]` for the `y.len()` rows of whole packed groups against one
/// activation row: (cols, packed groups, activation, y). Returns false
/// (writing nothing) if the activation bytes are misaligned for its block
/// type; the caller then uses the row dot.
// groups: [y.len() / group * group_bytes(cols)], act: [row_bytes(vec_dot_type(ty), cols)] -> y
pub type PackedRowsFn = fn(usize, &[u8], &[u8], &mut [f32]) -> bool;

/// The multi-token decode kernel of a layout: (cols, packed groups, rows,
/// activation rows, tokens, y, y_stride): `y[t * y_stride + i]` for the
/// `rows` rows (whole groups) against activation row `t` of `toks`
/// (consecutive, `row_bytes(vec_dot_type(ty), cols)` bytes each), each
/// equal bit for bit to `rows`' output for that token. Returns false
/// (writing nothing) if an activation row is misaligned or holds bytes
/// the kernel leaves to the row dot; the caller then runs each token alone.
// groups: [rows / group * group_bytes(cols)], acts: [toks, act_row_bytes]
// -> y[t * y_stride + i]
pub type PackedTokensFn = fn(usize, &[u8], usize, &[u8], usize, &mut [f32], usize) -> bool;

/// One repacked layout: how to build it and the decode kernel that reads it.
#[derive(Debug)]
pub struct Packing {
    /// Name shown by `wasm-chord info --cpu` (e.g. `q4_k_x2`).
    pub name: &'static str,
    /// The weight type it packs.
    pub ty: GgmlType,
    /// Rows per group.
    pub group: usize,
    /// Bytes of one group of `cols` columns (a multiple of `ALIGN`).
    pub group_bytes: fn(usize) -> usize,
    /// Transcodes `group` consecutive rows of `cols` columns (file layout)
    /// into one group: (cols, rows, out of `group_bytes(cols)` bytes).
    pub pack: fn(usize, &[u8], &mut [u8]),
    /// The decode kernel.
    pub rows: PackedRowsFn,
    /// The multi-token decode kernel, if the layout has one (`None`: `rows`
    /// once per token).
    pub tokens: Option<PackedTokensFn>,
}

/// A 64-byte aligned chunk of packed bytes.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; ALIGN]);

/// A matrix's whole groups in a packed layout (owned; built at load time).
pub struct PackedMatrix {
    packing: &'static Packing,
    /// Rows packed: a multiple of `packing.group`.
    rows: usize,
    cols: usize,
    lines: Vec<Line>,
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedMatrix({}, {} x {}, {} bytes)",
            self.packing.name,
            self.rows,
            self.cols,
            self.bytes()
        )
    }
}

impl PartialEq for PackedMatrix {
    fn eq(&self, other: &PackedMatrix) -> bool {
        std::ptr::eq(self.packing, other.packing)
            && (self.rows, self.cols) == (other.rows, other.cols)
            && bytemuck_lines(&self.lines) == bytemuck_lines(&other.lines)
    }
}

/// A borrowed packed matrix, carried by `QMatrix::packed`.
#[derive(Clone, Copy, Debug)]
pub struct PackedView<'a> {
    pub packing: &'static Packing,
    /// Rows packed (whole groups from row 0).
    pub rows: usize,
    pub data: &'a [u8],
}

impl PackedMatrix {
    /// Packs the whole groups of `w` (which must be of `packing.ty`).
    /// Fails without aborting if the memory cannot be had.
    pub fn pack(packing: &'static Packing, w: QMatrix) -> Result<PackedMatrix, KernelError> {
        if w.ty != packing.ty {
            return Err(KernelError::Unsupported(w.ty));
        }
        let groups = w.rows / packing.group;
        let gb = (packing.group_bytes)(w.cols);
        debug_assert_eq!(gb % ALIGN, 0);
        let n_lines = groups * gb / ALIGN;
        let mut lines = Vec::new();
        lines
            .try_reserve_exact(n_lines)
            .map_err(|_| KernelError::OutOfMemory {
                what: "a repacked matrix",
                bytes: groups * gb,
            })?;
        advise_huge_pages(&lines);
        lines.resize(n_lines, Line([0; ALIGN]));
        let mut m = PackedMatrix {
            packing,
            rows: groups * packing.group,
            cols: w.cols,
            lines,
        };
        let rb = row_bytes(w.ty, w.cols);
        let gr = packing.group;
        for (g, out) in m.bytes_mut().chunks_exact_mut(gb.max(1)).enumerate() {
            (packing.pack)(w.cols, &w.data[g * gr * rb..(g + 1) * gr * rb], out);
        }
        Ok(m)
    }

    /// The packed bytes.
    pub fn bytes(&self) -> usize {
        self.lines.len() * ALIGN
    }

    pub fn view(&self) -> PackedView<'_> {
        PackedView {
            packing: self.packing,
            rows: self.rows,
            data: bytemuck_lines(&self.lines),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.lines.len() * ALIGN;
        // SAFETY: `Line` is 64 plain bytes with no padding, so `lines` is
        // `n` initialised bytes, borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), n) }
    }
}

/// Asks Linux to back the reserved (not yet touched) capacity of `lines`
/// with transparent huge pages where the system leaves that to the program
/// (`transparent_hugepage/enabled = madvise`): decode streams every packed
/// byte once per token, and 4 KiB pages cost a TLB miss every 4 KiB.
/// Only advice: a refusal changes nothing but speed.
#[cfg(target_os = "linux")]
fn advise_huge_pages(lines: &Vec<Line>) {
    const PAGE: usize = 4096;
    let start = lines.as_ptr() as usize;
    let end = start + lines.capacity() * ALIGN;
    let (first, last) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    if last > first {
        // SAFETY: [first, last) lies inside the allocation `lines` owns;
        // MADV_HUGEPAGE only changes how the kernel backs those pages, not
        // their contents or validity.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &Vec<Line>) {}

fn bytemuck_lines(lines: &[Line]) -> &[u8] {
    // SAFETY: `Line` is 64 plain bytes with no padding, so `lines` is
    // `lines.len() * 64` initialised bytes.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<u8>(), lines.len() * ALIGN) }
}

impl PackedView<'_> {
    /// Runs the packed kernel on the rows `rows` of the matrix if they are
    /// whole groups (returns the number of rows done from `rows.start`:
    /// all whole groups below `self.rows`, or 0 if `rows.start` is not a
    /// group boundary or the activation is misaligned).
    // act: [act_row_bytes], y: [rows.len()]
    pub fn matvec_rows(&self, cols: usize, act: &[u8], rows: Range<usize>, y: &mut [f32]) -> usize {
        let g = self.packing.group;
        if !rows.start.is_multiple_of(g) || rows.start >= self.rows {
            return 0;
        }
        let end = rows.end.min(self.rows);
        let end = rows.start + (end - rows.start) / g * g;
        if end == rows.start {
            return 0;
        }
        let gb = (self.packing.group_bytes)(cols);
        let data = &self.data[rows.start / g * gb..end / g * gb];
        let done = end - rows.start;
        if (self.packing.rows)(cols, data, act, &mut y[..done]) {
            done
        } else {
            0
        }
    }

    /// `matvec_rows` for `toks` activation rows at once through the
    /// layout's multi-token kernel, writing `y[t * y_stride + i]`; returns
    /// the rows done from `rows.start` (0: not a group boundary, no
    /// multi-token kernel, or an activation the kernel declines).
    // acts: [toks, act_row_bytes] -> y[t * y_stride + i], i < rows.len()
    pub fn matvec_rows_tokens(
        &self,
        cols: usize,
        acts: &[u8],
        toks: usize,
        rows: Range<usize>,
        y: &mut [f32],
        y_stride: usize,
    ) -> usize {
        let (g, Some(tokens)) = (self.packing.group, self.packing.tokens) else {
            return 0;
        };
        if !rows.start.is_multiple_of(g) || rows.start >= self.rows {
            return 0;
        }
        let end = rows.end.min(self.rows);
        let done = (end - rows.start) / g * g;
        if done == 0 {
            return 0;
        }
        let gb = (self.packing.group_bytes)(cols);
        let data = &self.data[rows.start / g * gb..][..done / g * gb];
        if tokens(cols, data, done, acts, toks, y, y_stride) {
            done
        } else {
            0
        }
    }
}
