//! Guards for template features whose output size minijinja 3.1 only charges after the
//! fact: `str.format` with a huge width or precision (pycompat), `join` or `string` of a
//! value that holds one big part many times, and `tojson` with a huge indent (or of a
//! deeply nested value) would allocate gigabytes before the fuel check sees the result.

use minijinja::value::{Kwargs, Rest, StringInput, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::budget::BYTES_PER_FUEL;
use super::pyjson::{self, DumpOptions};

/// Bytes of JSON per fuel, as minijinja charges its own `tojson` (16/64 fuel a byte).
const JSON_BYTES_PER_FUEL: u64 = 4;

/// Installs transformers' `tojson`, the guarded `string` and `join` filters and the
/// Python-method callback, and removes `pprint` and `debug()`: Rust's pretty printer
/// takes cubic time in the nesting depth of a value and chat templates do not use them.
pub fn install(env: &mut Environment<'_>) {
    env.add_filter("tojson", tojson);
    env.add_filter("string", string);
    env.add_filter("join", join);
    env.remove_filter("pprint");
    env.remove_global("debug");
    env.set_unknown_method_callback(method);
}

/// Python methods from minijinja-contrib; `str.format` first pays for the widths and
/// precisions its format specs ask for.
fn method(state: &mut State, value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    if name == "format" {
        if let Some(s) = value.as_str() {
            state.consume_fuel(format_spec_bytes(s) / BYTES_PER_FUEL)?;
        }
    }
    if name == "format" || name == "join" {
        ensure_printable(state, args)?;
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, name, args)
}

/// Sum of the numbers (widths, precisions) in the format specs of a `str.format` string,
/// an upper bound of the padding it can create.
fn format_spec_bytes(fmt: &str) -> u64 {
    let mut total: u64 = 0;
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        let end = rest.find('}').unwrap_or(rest.len());
        let field = &rest[..end];
        if let Some((_, spec)) = field.split_once(':') {
            let mut n: u64 = 0;
            for c in spec.chars().chain(std::iter::once(' ')) {
                match c.to_digit(10) {
                    Some(d) => n = n.saturating_mul(10).saturating_add(u64::from(d)),
                    None => {
                        total = total.saturating_add(n);
                        n = 0;
                    }
                }
            }
        }
        rest = &rest[end..];
    }
    total
}

/// Bytes a node adds to a printed value at least (brackets, separators, digits); the
/// walk below over-counts small nodes so that it visits few of them.
const NODE_BYTES: u64 = 8;

/// Fails with minijinja's out-of-fuel error when printing `values` (as `{{ }}`, `string`,
/// `join` or JSON) could need more bytes than the remaining fuel pays for. minijinja
/// charges a list once however often it holds the same big part, and charges the
/// printed text only after building all of it. The walk stops at the limit, so it
/// visits at most remaining fuel * 64 / 8 nodes.
fn ensure_printable(state: &State, values: &[Value]) -> Result<(), Error> {
    let Some((_, remaining)) = state.fuel_levels() else {
        return Ok(());
    };
    let limit = remaining.saturating_mul(BYTES_PER_FUEL);
    let mut total: u64 = 0;
    let mut pending: Vec<Value> = values.to_vec();
    while let Some(v) = pending.pop() {
        total = total.saturating_add(NODE_BYTES);
        match v.kind() {
            // Escapes in quoted strings take up to 6 bytes a byte (`\u0001`).
            ValueKind::String => {
                let len = v.as_str().map_or(0, str::len) as u64;
                total = total.saturating_add(len.saturating_mul(6));
            }
            ValueKind::Seq | ValueKind::Iterable => {
                for item in v.try_iter()? {
                    total = total.saturating_add(NODE_BYTES);
                    if total > limit {
                        break;
                    }
                    pending.push(item);
                }
            }
            ValueKind::Map => {
                for key in v.try_iter()? {
                    total = total.saturating_add(NODE_BYTES);
                    if total > limit {
                        break;
                    }
                    let item = v.get_item(&key).unwrap_or_default();
                    pending.push(key);
                    pending.push(item);
                }
            }
            _ => {}
        }
        if total > limit {
            return Err(Error::from(ErrorKind::OutOfFuel));
        }
    }
    Ok(())
}

/// `string` after [`ensure_printable`].
fn string(state: &State, value: &Value) -> Result<Value, Error> {
    ensure_printable(state, std::slice::from_ref(value))?;
    minijinja::filters::string(state, value)
}

/// `join` after [`ensure_printable`] (minijinja checks only the joiner's repeats).
fn join(
    state: &mut State,
    value: &Value,
    joiner: Option<StringInput<'_>>,
    attribute: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    ensure_printable(state, std::slice::from_ref(value))?;
    minijinja::filters::join(state, value, joiner, attribute, kwargs)
}

/// transformers' `tojson` ([`pyjson`]), writing at most the JSON bytes the remaining fuel
/// pays for, then charged like minijinja's own `tojson`.
fn tojson(state: &State, value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let opts = DumpOptions::from_args(&args, &kwargs)?;
    let cap = state.fuel_levels().map_or(u64::MAX, |(_, remaining)| {
        remaining.saturating_mul(JSON_BYTES_PER_FUEL)
    });
    let json = pyjson::dumps(value, &opts, usize::try_from(cap).unwrap_or(usize::MAX))?;
    state.consume_fuel(json.len() as u64 / JSON_BYTES_PER_FUEL)?;
    Ok(Value::from_safe_string(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_specs_are_summed() {
        assert_eq!(format_spec_bytes("{} {0} {name}"), 0);
        assert_eq!(format_spec_bytes("{:>10} {x:.3f} {{:999}}"), 13);
        assert_eq!(format_spec_bytes("{:>1000000000}"), 1_000_000_000);
        assert_eq!(format_spec_bytes("{:99999999999999999999999}"), u64::MAX);
        assert_eq!(format_spec_bytes("{:5"), 5);
    }
}
