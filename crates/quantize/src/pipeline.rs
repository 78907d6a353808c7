//! The whole conversion: every tensor's type planned in llama.cpp's order,
//! then the header (metadata copied, file type set) and tensor infos, then
//! one tensor at a time read, converted and streamed out. Memory is one input
//! and one output tensor plus a float row per thread (the input's header is
//! memory-mapped, its tensors are read with plain reads).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use gguf::{GgmlType, GgufError, GgufFile, GgufStreamWriter, Metadata, TensorInfo, Value};

use crate::category::{ggml_n_dims, layer_of};
use crate::config::{ModelParams, FILE_TYPE_KEY, QUANTIZATION_VERSION_KEY, SPLIT_KEYS};
use crate::convert::convert_rows;
use crate::error::QuantizeError;
use crate::ftype::FileType;
use crate::rules::{TypeOptions, TypeRules};
use crate::validate::is_finite;

/// ggml's quantization format version, written to `general.quantization_version`.
pub const QUANTIZATION_VERSION: u32 = 2;

/// The GGUF version written (llama.cpp always writes 3).
const GGUF_VERSION: u32 = 3;

/// One tensor of the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTensor {
    pub name: String,
    /// ggml order, trailing dims of 1 dropped (as llama.cpp writes them).
    pub dims: Vec<u64>,
    /// Index in the input's tensor list.
    pub source: usize,
    pub from: GgmlType,
    pub to: GgmlType,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The order llama.cpp visits (and writes) tensors: non-layer tensors first,
/// then by layer number, by name (bytes) within each.
pub fn llama_order(tensors: &[TensorInfo]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&tensors[a].name, &tensors[b].name);
        let la = layer_of(ta).unwrap_or(-1);
        let lb = layer_of(tb).unwrap_or(-1);
        la.cmp(&lb).then_with(|| ta.as_bytes().cmp(tb.as_bytes()))
    });
    order
}

/// Every output tensor with its type, in output order; refuses (before any
/// byte is written) conversions we cannot do.
pub fn plan(file: &GgufFile, opts: &TypeOptions) -> Result<Vec<PlannedTensor>, QuantizeError> {
    let params = ModelParams::from_metadata(file.metadata())?;
    let tensors = file.tensors();
    let names = tensors.iter().map(|t| t.name.as_str());
    let mut rules = TypeRules::new(&params, *opts, names);
    let mut plan = Vec::with_capacity(tensors.len());
    for i in llama_order(tensors) {
        let t = &tensors[i];
        let mut dims = t.dims.clone();
        dims.resize(4, 1);
        dims.truncate(ggml_n_dims(&t.dims));
        let from = t.ggml_type;
        let to = rules.choose(&t.name, &dims, from)?;
        check_conversion(&t.name, from, to, t.row_len())?;
        let bytes_out = to
            .row_bytes(t.row_len())
            .map_or(0, |r| r.saturating_mul(t.n_rows()));
        plan.push(PlannedTensor {
            name: t.name.clone(),
            dims,
            source: i,
            from,
            to,
            bytes_in: t.n_bytes,
            bytes_out,
        });
    }
    Ok(plan)
}

fn check_conversion(
    name: &str,
    from: GgmlType,
    to: GgmlType,
    row_len: u64,
) -> Result<(), QuantizeError> {
    if from == to {
        return Ok(());
    }
    if !matches!(from, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
        return Err(QuantizeError::Requantize {
            name: name.to_owned(),
            from,
            to,
        });
    }
    if !kernels::quant::has_quantize(to) || to == GgmlType::Q8_1 || to == GgmlType::Q8_K {
        return Err(QuantizeError::UnsupportedType {
            name: name.to_owned(),
            ty: to,
        });
    }
    if !row_len.is_multiple_of(to.block_size() as u64) {
        return Err(QuantizeError::PartialBlock {
            name: name.to_owned(),
            ty: to,
            row_len,
            block: to.block_size(),
        });
    }
    Ok(())
}

/// The input's metadata with `general.quantization_version` and
/// `general.file_type` moved to the end with their new values (llama.cpp's
/// setters remove and append) and the split keys removed.
pub fn output_metadata(md: &Metadata, ftype: FileType) -> Metadata {
    let mut out = md.clone();
    for (key, value) in [
        (QUANTIZATION_VERSION_KEY, QUANTIZATION_VERSION),
        (FILE_TYPE_KEY, ftype.id()),
    ] {
        out.remove(key);
        out.insert(key, Value::U32(value));
    }
    for key in SPLIT_KEYS {
        out.remove(key);
    }
    out
}

/// Where tensor bytes come from: a validated file in memory (or mapped), or
/// reads from the file on disk, one tensor at a time, so the process holds
/// one input tensor rather than every page of the mapping it touched.
enum Source<'a> {
    Memory,
    Reads(&'a File),
}

impl Source<'_> {
    fn bytes<'b>(
        &self,
        file: &'b GgufFile,
        t: &TensorInfo,
        buf: &'b mut Vec<u8>,
    ) -> io::Result<&'b [u8]> {
        match self {
            Source::Memory => Ok(file.tensor_data(t)),
            Source::Reads(mut f) => {
                use std::io::{Read, Seek, SeekFrom};
                buf.clear();
                buf.resize(t.n_bytes as usize, 0);
                f.seek(SeekFrom::Start(file.data_offset() + t.offset))?;
                f.read_exact(buf)?;
                Ok(buf)
            }
        }
    }
}

/// Writes the converted file to `w`; `progress(i, tensor)` after each tensor.
pub fn write_quantized<W: Write>(
    file: &GgufFile,
    plan: &[PlannedTensor],
    ftype: FileType,
    n_threads: usize,
    w: W,
    progress: impl FnMut(usize, &PlannedTensor),
) -> Result<W, QuantizeError> {
    write_from(&Source::Memory, file, plan, ftype, n_threads, w, progress)
}

fn write_from<W: Write>(
    source: &Source<'_>,
    file: &GgufFile,
    plan: &[PlannedTensor],
    ftype: FileType,
    n_threads: usize,
    w: W,
    mut progress: impl FnMut(usize, &PlannedTensor),
) -> Result<W, QuantizeError> {
    let mut head = GgufStreamWriter::new(GGUF_VERSION, output_metadata(file.metadata(), ftype))?;
    for t in plan {
        head.add_tensor(&t.name, t.to, &t.dims)?;
    }
    let mut out = head.start(w)?;
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for (i, t) in plan.iter().enumerate() {
        let info = &file.tensors()[t.source];
        let src = source.bytes(file, info, &mut input)?;
        if t.from == t.to {
            out.write_data(src)?;
        } else {
            output.clear();
            output.resize(t.bytes_out as usize, 0);
            let row_len = info.row_len() as usize;
            convert_rows(t.from, t.to, row_len, src, &mut output, n_threads).map_err(|source| {
                QuantizeError::Kernel {
                    name: t.name.clone(),
                    source,
                }
            })?;
            if !is_finite(t.to, &output) {
                return Err(QuantizeError::NonFinite {
                    name: t.name.clone(),
                    ty: t.to,
                });
            }
            out.write_data(&output)?;
        }
        progress(i, t);
    }
    Ok(out.finish()?)
}

/// Everything `quantize_file` needs besides the paths.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub types: TypeOptions,
    /// Threads converting each tensor's rows (the bytes do not depend on it).
    pub n_threads: usize,
}

/// Converts the GGUF file `input` into `output` (removed again on failure).
/// `on_plan` sees the plan before anything is written; `progress` as in
/// [`write_quantized`].
pub fn quantize_file(
    input: &Path,
    output: &Path,
    opts: &Options,
    on_plan: impl FnOnce(&[PlannedTensor]),
    progress: impl FnMut(usize, &PlannedTensor),
) -> Result<Vec<PlannedTensor>, QuantizeError> {
    let file = GgufFile::open(input)?;
    let plan = plan(&file, &opts.types)?;
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) {
        if a == b {
            return Err(QuantizeError::SameFile {
                path: output.display().to_string(),
            });
        }
    }
    on_plan(&plan);
    let write_err = |source: io::Error| QuantizeError::Write {
        path: output.display().to_string(),
        source,
    };
    let reads = File::open(input).map_err(|source| GgufError::Io {
        path: input.display().to_string(),
        source,
    })?;
    let f = File::create(output).map_err(write_err)?;
    let result = write_from(
        &Source::Reads(&reads),
        &file,
        &plan,
        opts.types.ftype,
        opts.n_threads,
        BufWriter::with_capacity(4 << 20, f),
        progress,
    )
    .and_then(|w| w.into_inner().map(drop).map_err(|e| e.into_error().into()));
    match result {
        Ok(()) => Ok(plan),
        Err(e) => {
            let _ = std::fs::remove_file(output);
            Err(match e {
                QuantizeError::Io(source) => write_err(source),
                other => other,
            })
        }
    }
}
