//! Activations quantized on the GPU (`shaders/quantize.wgsl`) to the type
//! the CPU reference pairs with each weight type (Q8_0, Q8_1, Q8_K; F16 and F32
//! for float weights), with the reference's bytes, in a layout of whole
//! words ([`QuantActs`]).

use gguf::GgmlType;
use half::f16;

use super::{kernel_id, need, u32_of};
use crate::device::Gpu;
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const Q8_0: KernelId = kernel_id!("quantize", "quantize_q8_0");
const Q8_1: KernelId = kernel_id!("quantize", "quantize_q8_1");
const Q8_K: KernelId = kernel_id!("quantize", "quantize_q8_k");
const ROUND_F16: KernelId = kernel_id!("quantize", "round_f16");

/// Quantized activations of `n` values: for Q8_0, `qs: [n/32 * 8]` words
/// (4 quants each), `d: [n/32]` f16 bits (Q8_1: d | s << 16, the block's
/// first word); for Q8_K, `qs: [n/256 * 64]`,
/// `d: [n/256]` f32 bits, `bsums: [n/256 * 16]` i32; for F16 and F32,
/// `qs: [n]` f32 values (F16: rounded to f16), `d` and `bsums` unused.
pub struct QuantActs {
    pub ty: GgmlType,
    pub n: usize,
    pub qs: wgpu::Buffer,
    pub d: wgpu::Buffer,
    pub bsums: wgpu::Buffer,
}

impl QuantActs {
    /// Buffers for `n` values quantized to `ty` (Q8_0, Q8_K, F16, F32).
    pub fn new(gpu: &Gpu, ty: GgmlType, n: usize) -> Result<QuantActs, GpuError> {
        let nb = blocks(ty, n)? as u64;
        let bs = ty.block_size() as u64;
        let float = matches!(ty, GgmlType::F16 | GgmlType::F32);
        Ok(QuantActs {
            ty,
            n,
            qs: gpu.storage("acts.qs", if float { 4 * nb } else { nb * bs }),
            d: gpu.storage("acts.d", 4 * nb),
            bsums: gpu.storage("acts.bsums", if ty == GgmlType::Q8_K { 64 * nb } else { 4 }),
        })
    }

    /// The same buffers seen as holding the first `n` values (a step of
    /// fewer rows than they were made for).
    pub fn first(&self, n: usize) -> QuantActs {
        QuantActs {
            ty: self.ty,
            n,
            qs: self.qs.clone(),
            d: self.d.clone(),
            bsums: self.bsums.clone(),
        }
    }

    /// Buffers holding `bytes` (ggml blocks of `ty` for `n` values), e.g.
    /// the CPU reference's, for testing a matvec alone.
    pub fn from_ggml(
        gpu: &Gpu,
        ty: GgmlType,
        n: usize,
        bytes: &[u8],
    ) -> Result<QuantActs, GpuError> {
        blocks(ty, n)?;
        let (qs, d, bsums) = split_ggml(ty, bytes);
        Ok(QuantActs {
            ty,
            n,
            qs: gpu.storage_init("acts.qs", bytemuck::cast_slice(&qs)),
            d: gpu.storage_init("acts.d", bytemuck::cast_slice(&d)),
            bsums: gpu.storage_init("acts.bsums", bytemuck::cast_slice(&bsums)),
        })
    }

    /// The activations as ggml blocks (what the CPU quantizer writes).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_ggml(&self, gpu: &Gpu) -> Result<Vec<u8>, GpuError> {
        let nb = blocks(self.ty, self.n)?;
        if let Some(bytes) = self.float_ggml(gpu)? {
            return Ok(bytes);
        }
        let qs = gpu.read_u32(&self.qs, nb * self.ty.block_size() / 4)?;
        let d = gpu.read_u32(&self.d, nb)?;
        let bsums = match self.ty {
            GgmlType::Q8_K => gpu.read_u32(&self.bsums, nb * 16)?,
            _ => Vec::new(),
        };
        Ok(join_ggml(self.ty, &qs, &d, &bsums))
    }

    /// F16 / F32 activations as their ggml bytes (`None` for block types).
    #[cfg(not(target_arch = "wasm32"))]
    fn float_ggml(&self, gpu: &Gpu) -> Result<Option<Vec<u8>>, GpuError> {
        let x = match self.ty {
            GgmlType::F16 | GgmlType::F32 => gpu.read_f32(&self.qs, self.n)?,
            _ => return Ok(None),
        };
        Ok(Some(match self.ty {
            GgmlType::F16 => x
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
            _ => bytemuck::cast_slice(&x).to_vec(),
        }))
    }
}

/// Blocks of `n` values of `ty`, or an error for another type or length.
fn blocks(ty: GgmlType, n: usize) -> Result<usize, GpuError> {
    use GgmlType::*;
    if !matches!(ty, Q8_0 | Q8_1 | Q8_K | F16 | F32) || !n.is_multiple_of(ty.block_size()) {
        return Err(GpuError::Shape {
            op: "quantize",
            reason: format!("{n} values as {ty} (Q8_0, Q8_1, Q8_K, F16, F32; whole blocks)"),
        });
    }
    Ok(n / ty.block_size())
}

/// ggml blocks -> (qs words, d words, bsums).
fn split_ggml(ty: GgmlType, bytes: &[u8]) -> (Vec<u32>, Vec<u32>, Vec<i32>) {
    let (mut qs, mut d, mut bsums) = (Vec::new(), Vec::new(), Vec::new());
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    match ty {
        GgmlType::F32 => qs.extend(bytes.chunks_exact(4).map(word)),
        GgmlType::F16 => qs.extend(
            bytes
                .chunks_exact(2)
                .map(|h| f16::from_le_bytes([h[0], h[1]]).to_f32().to_bits()),
        ),
        _ => {}
    }
    for blk in bytes.chunks_exact(ty.type_size()) {
        match ty {
            GgmlType::F16 | GgmlType::F32 => break,
            GgmlType::Q8_0 => {
                d.push(u16::from_le_bytes([blk[0], blk[1]]) as u32);
                qs.extend(blk[2..34].chunks_exact(4).map(word));
            }
            GgmlType::Q8_1 => {
                d.push(word(&blk[0..4]));
                qs.extend(blk[4..36].chunks_exact(4).map(word));
            }
            _ => {
                d.push(word(&blk[0..4]));
                qs.extend(blk[4..260].chunks_exact(4).map(word));
                bsums.extend(
                    blk[260..292]
                        .chunks_exact(2)
                        .map(|s| i16::from_le_bytes([s[0], s[1]]) as i32),
                );
            }
        }
    }
    // bindings are never empty
    if d.is_empty() {
        d.push(0);
    }
    if bsums.is_empty() {
        bsums.push(0);
    }
    (qs, d, bsums)
}

/// (qs words, d words, bsums) -> ggml blocks.
#[cfg(not(target_arch = "wasm32"))]
fn join_ggml(ty: GgmlType, qs: &[u32], d: &[u32], bsums: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.len() * ty.type_size());
    let qw = ty.block_size() / 4;
    for (b, &db) in d.iter().enumerate() {
        match ty {
            GgmlType::Q8_0 => out.extend_from_slice(&f16::from_bits(db as u16).to_le_bytes()),
            GgmlType::Q8_1 => out.extend_from_slice(&db.to_le_bytes()),
            _ => out.extend_from_slice(&db.to_le_bytes()),
        }
        for w in &qs[b * qw..(b + 1) * qw] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        if ty == GgmlType::Q8_K {
            for &s in &bsums[16 * b..16 * b + 16] {
                out.extend_from_slice(&(s as i32 as i16).to_le_bytes());
            }
        }
    }
    out
}

/// Quantizes x: [acts.n] into `acts` (its type decides Q8_0 or Q8_K).
pub fn quantize(enc: &mut Encoder, x: &wgpu::Buffer, acts: &QuantActs) -> Result<(), GpuError> {
    need("quantize", "x", x, acts.n)?;
    let nb = u32_of("quantize", "blocks", blocks(acts.ty, acts.n)?)?;
    let groups = enc.groups(nb, 64);
    let params = [nb, 0, 0, 0];
    match acts.ty {
        GgmlType::F32 => {
            // no rounding: the values themselves
            enc.enc
                .copy_buffer_to_buffer(x, 0, &acts.qs, 0, 4 * acts.n as u64);
            Ok(())
        }
        GgmlType::F16 => {
            let bufs = [x.as_entire_binding(), acts.qs.as_entire_binding()];
            enc.dispatch(ROUND_F16, &params, &bufs, groups)
        }
        GgmlType::Q8_0 | GgmlType::Q8_1 => {
            let bufs = [
                x.as_entire_binding(),
                acts.qs.as_entire_binding(),
                acts.d.as_entire_binding(),
            ];
            let id = if acts.ty == GgmlType::Q8_0 {
                Q8_0
            } else {
                Q8_1
            };
            enc.dispatch(id, &params, &bufs, groups)
        }
        _ => {
            let bufs = [
                x.as_entire_binding(),
                acts.qs.as_entire_binding(),
                acts.d.as_entire_binding(),
                acts.bsums.as_entire_binding(),
            ];
            enc.dispatch(Q8_K, &params, &bufs, groups)
        }
    }
}
