//! `wasm-chord info`: what a GGUF file holds; `--cpu`: what this machine runs;
//! `--gpu`: which GPU adapters it has.

mod cpu;
mod gpu;

use anyhow::Result;
use clap::Args;
use gguf::{Array, GgmlType, GgufFile, Value};

use crate::printable::{json_printable, printable};
use serde_json::{json, Map};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct InfoArgs {
    /// The GGUF file (defaults to the fetched Gemma 3 270M).
    #[arg(short = 'm', long = "model")]
    model: Option<PathBuf>,
    /// The GGUF file, as a positional argument.
    #[arg(conflicts_with = "model")]
    file: Option<PathBuf>,
    #[arg(long = "no-mmap", help = crate::common::NO_MMAP_HELP)]
    no_mmap: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Show every element of metadata arrays instead of a summary.
    #[arg(long)]
    full: bool,
    /// Describe the CPU: SIMD features, kernel ISAs (available and selected), threads.
    /// The model is then optional.
    #[arg(long)]
    cpu: bool,
    /// List the GPU adapters with their limits and features; fails when there is none.
    /// The model is then optional.
    #[arg(long)]
    gpu: bool,
}

/// Arrays longer than this are summarised.
const ARRAY_PREVIEW: usize = 8;

pub fn run(args: &InfoArgs) -> Result<()> {
    let given = args.file.clone().or_else(|| args.model.clone());
    let cpu = args.cpu.then(cpu::CpuReport::detect);
    let gpus = args.gpu.then(gpu::detect).transpose()?;
    if let (Some(gpus), None) = (&gpus, &given) {
        if args.json {
            let mut j = gpu::json(gpus);
            if let (Some(cpu), Some(obj)) = (&cpu, j.as_object_mut()) {
                obj.insert("cpu".to_string(), cpu.json());
            }
            println!("{}", serde_json::to_string_pretty(&j)?);
        } else {
            if let Some(cpu) = &cpu {
                println!("{}", cpu.text());
            }
            print!("{}", gpu::text(gpus));
        }
        return Ok(());
    }
    if let (Some(cpu), None) = (&cpu, &given) {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&cpu.json())?);
        } else {
            print!("{}", cpu.text());
        }
        return Ok(());
    }
    let path = given.unwrap_or_else(crate::default_model_path);
    let t0 = Instant::now();
    let file = crate::common::open_gguf(&path, args.no_mmap)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    if args.json {
        let mut j = to_json(&file, args.full);
        if let (Some(cpu), Some(obj)) = (&cpu, j.as_object_mut()) {
            obj.insert("cpu".to_string(), cpu.json());
        }
        if let (Some(gpus), Some(obj)) = (&gpus, j.as_object_mut()) {
            obj.insert("gpu".to_string(), gpu::json(gpus));
        }
        let text = serde_json::to_string_pretty(&j)?;
        println!("{}", json_printable(&text));
    } else {
        if let Some(cpu) = &cpu {
            println!("{}", cpu.text());
        }
        if let Some(gpus) = &gpus {
            println!("{}", gpu::text(gpus));
        }
        print_text(&file, &path, args.full, load_ms);
    }
    Ok(())
}

struct TypeStats {
    tensors: usize,
    elements: u64,
    bytes: u64,
}

fn type_histogram(file: &GgufFile) -> BTreeMap<GgmlType, TypeStats> {
    let mut by_type: BTreeMap<GgmlType, TypeStats> = BTreeMap::new();
    for t in file.tensors() {
        let e = by_type.entry(t.ggml_type).or_insert(TypeStats {
            tensors: 0,
            elements: 0,
            bytes: 0,
        });
        e.tensors += 1;
        e.elements += t.n_elements();
        e.bytes += t.n_bytes;
    }
    by_type
}

fn architecture(file: &GgufFile) -> &str {
    file.metadata()
        .get("general.architecture")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

fn print_text(file: &GgufFile, path: &std::path::Path, full: bool, load_ms: f64) {
    let n_params: u64 = file.tensors().iter().map(|t| t.n_elements()).sum();
    let n_bytes: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
    println!("file:          {}", printable(&path.display().to_string()));
    println!(
        "format:        GGUF v{}, alignment {}, data at offset {}",
        file.version(),
        file.alignment(),
        file.data_offset()
    );
    println!("architecture:  {}", printable(architecture(file)));
    println!(
        "parameters:    {} ({:.1} M)",
        n_params,
        n_params as f64 / 1e6
    );
    println!(
        "tensor data:   {} bytes ({:.1} MiB), {:.2} bits per weight",
        n_bytes,
        n_bytes as f64 / (1 << 20) as f64,
        n_bytes as f64 * 8.0 / n_params.max(1) as f64
    );
    println!("opened in:     {load_ms:.1} ms");

    println!("\nmetadata ({} keys):", file.metadata().len());
    for (key, value) in file.metadata().iter() {
        println!("  {:<44} {}", printable(key), value_text(value, full));
    }

    println!("\ntensors ({}):", file.tensors().len());
    println!(
        "  {:<4} {:<40} {:<7} {:<22} {:>12}",
        "#", "name", "type", "shape", "bytes"
    );
    for (i, t) in file.tensors().iter().enumerate() {
        let shape = t
            .dims
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" x ");
        println!(
            "  {:<4} {:<40} {:<7} {:<22} {:>12}",
            i,
            printable(&t.name),
            t.ggml_type,
            shape,
            t.n_bytes
        );
    }

    println!("\nbytes per type:");
    println!(
        "  {:<7} {:>8} {:>14} {:>14} {:>7}",
        "type", "tensors", "elements", "bytes", "share"
    );
    for (ty, s) in type_histogram(file) {
        println!(
            "  {:<7} {:>8} {:>14} {:>14} {:>6.1}%",
            ty,
            s.tensors,
            s.elements,
            s.bytes,
            100.0 * s.bytes as f64 / n_bytes.max(1) as f64
        );
    }
}

fn value_text(v: &Value, full: bool) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => array_text(a, full),
        other => scalar_json(other).to_string(),
    }
}

fn array_text(a: &Array, full: bool) -> String {
    let items = array_json(a, if full { usize::MAX } else { ARRAY_PREVIEW });
    let shown = items.len();
    let list = items
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let list = json_printable(&list);
    if shown < a.len() {
        format!("[{}; {}] [{list}, ...]", a.type_name(), a.len())
    } else {
        format!("[{}; {}] [{list}]", a.type_name(), a.len())
    }
}

fn scalar_json(v: &Value) -> serde_json::Value {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::String(s) => json!(s),
        Value::Array(a) => serde_json::Value::Array(array_json(a, usize::MAX)),
    }
}

/// The first `limit` elements of an array as JSON values.
fn array_json(a: &Array, limit: usize) -> Vec<serde_json::Value> {
    fn take<T: serde::Serialize>(xs: &[T], limit: usize) -> Vec<serde_json::Value> {
        xs.iter().take(limit).map(|x| json!(x)).collect()
    }
    match a {
        Array::U8(x) => take(x, limit),
        Array::I8(x) => take(x, limit),
        Array::U16(x) => take(x, limit),
        Array::I16(x) => take(x, limit),
        Array::U32(x) => take(x, limit),
        Array::I32(x) => take(x, limit),
        Array::U64(x) => take(x, limit),
        Array::I64(x) => take(x, limit),
        Array::F32(x) => take(x, limit),
        Array::F64(x) => take(x, limit),
        Array::Bool(x) => take(x, limit),
        Array::String(x) => take(x, limit),
        Array::Array(x) => x
            .iter()
            .take(limit)
            .map(|inner| serde_json::Value::Array(array_json(inner, limit)))
            .collect(),
    }
}

fn to_json(file: &GgufFile, full: bool) -> serde_json::Value {
    let mut md = Map::new();
    for (key, value) in file.metadata().iter() {
        let v = match value {
            Value::Array(a) if !full && a.len() > ARRAY_PREVIEW => json!({
                "type": a.type_name(),
                "len": a.len(),
                "head": array_json(a, ARRAY_PREVIEW),
            }),
            other => scalar_json(other),
        };
        md.insert(key.to_string(), v);
    }
    let tensors: Vec<_> = file
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "type": t.ggml_type.name(),
                "shape": t.dims,
                "offset": t.offset,
                "bytes": t.n_bytes,
            })
        })
        .collect();
    let types: Map<String, serde_json::Value> = type_histogram(file)
        .into_iter()
        .map(|(ty, s)| {
            (
                ty.name().to_string(),
                json!({"tensors": s.tensors, "elements": s.elements, "bytes": s.bytes}),
            )
        })
        .collect();
    json!({
        "version": file.version(),
        "alignment": file.alignment(),
        "data_offset": file.data_offset(),
        "file_len": file.file_len(),
        "architecture": architecture(file),
        "parameters": file.tensors().iter().map(|t| t.n_elements()).sum::<u64>(),
        "metadata": md,
        "tensors": tensors,
        "types": types,
    })
}
