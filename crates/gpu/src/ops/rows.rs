//! Embedding rows gathered by token id (`shaders/rows.wgsl`): F32, F16,
//! Q8_0, Q4_K and Q6_K tables, one dispatch per part of a split table.

use gguf::GgmlType;

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};
use crate::upload::GpuTensor;

const GET_ROWS: KernelId = kernel_id!("rows", "get_rows");

/// The kernel's code of a table type, if it can gather rows of it.
pub fn table_type(ty: GgmlType) -> Option<u32> {
    Some(match ty {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
        GgmlType::Q8_0 => 2,
        GgmlType::Q4_K => 3,
        GgmlType::Q6_K => 4,
        _ => return None,
    })
}

/// out[t] = table[ids[t]] as f32.
///
/// table: [n_rows, cols] of F32 / F16 / Q8_0 / Q4_K / Q6_K, ids: [n_tok] u32 -> out: [n_tok, cols]
pub fn get_rows(
    enc: &mut Encoder,
    table: &GpuTensor,
    ids: &wgpu::Buffer,
    n_tok: usize,
    out: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let Some(ty) = table_type(table.ty) else {
        return Err(GpuError::Shape {
            op: "get_rows",
            reason: format!(
                "{} tables are not supported (F32, F16, Q8_0, Q4_K, Q6_K)",
                table.ty
            ),
        });
    };
    need("get_rows", "ids", ids, n_tok)?;
    need("get_rows", "out", out, n_tok * table.cols)?;
    let n = u32_of("get_rows", "n_tok * cols", n_tok * table.cols)?;
    for part in &table.parts {
        let params = [
            n_tok as u32,
            table.cols as u32,
            ty,
            u32_of("get_rows", "row bytes", table.row_bytes as usize)?,
            part.part.rows.start as u32,
            part.part.rows.len() as u32,
        ];
        let groups = enc.groups(n, 256);
        let bufs = [
            part.buffer.as_entire_binding(),
            ids.as_entire_binding(),
            out.as_entire_binding(),
        ];
        enc.dispatch(GET_ROWS, &params, &bufs, groups)?;
    }
    Ok(())
}
