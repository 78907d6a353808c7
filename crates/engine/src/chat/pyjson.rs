//! The `tojson` filter of transformers' `apply_chat_template`: Python's
//! `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`,
//! byte for byte. transformers replaces jinja2's own `tojson` (which escapes `<`, `>`,
//! `&` and `'` for HTML and sorts keys) with it, so tool definitions reach the model as
//! `{"type": "function", "function": {...}}`: keys in their order, `", "` and `": "`
//! separators, non-ASCII text as is.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

/// Nesting deeper than this is refused (Python stops at its recursion limit, about
/// 1000 frames); it also keeps the writer's recursion off wasm32's small stack.
const MAX_DEPTH: usize = 512;

/// Indentation of one level: a number of spaces or a string (Python accepts both).
#[derive(Debug, Clone, PartialEq)]
enum Indent {
    Spaces(usize),
    Text(String),
}

/// The arguments of `json.dumps` that transformers' `tojson` passes on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DumpOptions {
    ensure_ascii: bool,
    indent: Option<Indent>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        Self {
            ensure_ascii: false,
            indent: None,
            item_separator: ", ".into(),
            key_separator: ": ".into(),
            sort_keys: false,
        }
    }
}

impl DumpOptions {
    /// Options from the filter's arguments, positional in the order of transformers'
    /// `tojson(x, ensure_ascii, indent, separators, sort_keys)` or by keyword.
    pub(crate) fn from_args(args: &[Value], kwargs: &Kwargs) -> Result<Self, Error> {
        const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
        if args.len() > NAMES.len() {
            return Err(invalid("tojson takes at most 4 arguments"));
        }
        let mut given: [Option<Value>; 4] = Default::default();
        for (i, name) in NAMES.iter().enumerate() {
            let kw: Option<Value> = kwargs.get(name)?;
            given[i] = match (args.get(i), kw) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!("tojson got multiple values for {name}")))
                }
                (Some(v), None) => Some(v.clone()),
                (None, kw) => kw,
            };
        }
        kwargs.assert_all_used()?;
        let [ensure_ascii, indent, separators, sort_keys] =
            given.map(|v| v.filter(|v| !v.is_none()));
        let mut o = DumpOptions {
            ensure_ascii: ensure_ascii.is_some_and(|v| v.is_true()),
            sort_keys: sort_keys.is_some_and(|v| v.is_true()),
            ..DumpOptions::default()
        };
        if let Some(indent) = indent {
            o.indent = Some(match indent.kind() {
                ValueKind::String => Indent::Text(indent.as_str().unwrap_or("").to_string()),
                ValueKind::Bool => Indent::Spaces(usize::from(indent.is_true())),
                ValueKind::Number if indent.is_integer() => {
                    // Python repeats ' ' `indent` times: none when negative.
                    Indent::Spaces(i64::try_from(indent).map_or(usize::MAX, |n| {
                        usize::try_from(n.max(0)).unwrap_or(usize::MAX)
                    }))
                }
                _ => return Err(invalid("tojson: indent must be an integer or a string")),
            });
            o.item_separator = ",".into();
        }
        if let Some(seps) = separators {
            let pair: Vec<Value> = seps.try_iter().map(Iterator::collect).unwrap_or_default();
            match pair.as_slice() {
                [item, key] if item.as_str().is_some() && key.as_str().is_some() => {
                    o.item_separator = item.as_str().unwrap_or_default().to_string();
                    o.key_separator = key.as_str().unwrap_or_default().to_string();
                }
                _ => return Err(invalid("tojson: separators must be two strings")),
            }
        }
        Ok(o)
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `value` as Python's `json.dumps` writes it with `opts`; fails with minijinja's
/// out-of-fuel error once the text would pass `cap` bytes (or nests too deeply).
pub(crate) fn dumps(value: &Value, opts: &DumpOptions, cap: usize) -> Result<String, Error> {
    let mut w = Writer {
        out: String::new(),
        opts,
        cap,
    };
    w.value(value, 0)?;
    Ok(w.out)
}

struct Writer<'a> {
    out: String,
    opts: &'a DumpOptions,
    cap: usize,
}

impl Writer<'_> {
    fn push(&mut self, s: &str) -> Result<(), Error> {
        if self.out.len().saturating_add(s.len()) > self.cap {
            return Err(Error::from(ErrorKind::OutOfFuel));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        match v.kind() {
            ValueKind::None => self.push("null"),
            ValueKind::Bool => self.push(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => self.push(&number(v)),
            ValueKind::String => self.string(v.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => self.list(v, depth),
            ValueKind::Map => self.map(v, depth),
            kind => Err(invalid(format!(
                "Object of type {} is not JSON serializable",
                match kind {
                    ValueKind::Undefined => "Undefined".to_string(),
                    other => other.to_string(),
                }
            ))),
        }
    }

    /// Starts a line at `depth` when indenting (Python's `newline_indent`).
    fn newline(&mut self, depth: usize) -> Result<(), Error> {
        let unit = match &self.opts.indent {
            None => return Ok(()),
            Some(Indent::Spaces(n)) => (*n, None),
            Some(Indent::Text(t)) => (t.len(), Some(t.as_str())),
        };
        let bytes = unit.0.saturating_mul(depth).saturating_add(1);
        if self.out.len().saturating_add(bytes) > self.cap {
            return Err(Error::from(ErrorKind::OutOfFuel));
        }
        self.out.push('\n');
        for _ in 0..depth {
            match unit.1 {
                None => self.out.extend(std::iter::repeat_n(' ', unit.0)),
                Some(t) => self.out.push_str(t),
            }
        }
        Ok(())
    }

    fn enter(depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::OutOfFuel,
                format!("tojson: a value nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(depth + 1)
    }

    fn list(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        let (opts, inner) = (self.opts, Self::enter(depth)?);
        let mut items = v.try_iter()?.peekable();
        if items.peek().is_none() {
            return self.push("[]");
        }
        self.push("[")?;
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.push(&opts.item_separator)?;
            }
            self.newline(inner)?;
            self.value(&item, inner)?;
        }
        self.newline(depth)?;
        self.push("]")
    }

    fn map(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        let (opts, inner) = (self.opts, Self::enter(depth)?);
        let mut keys: Vec<Value> = v.try_iter()?.collect();
        if keys.is_empty() {
            return self.push("{}");
        }
        if opts.sort_keys {
            keys.sort();
        }
        self.push("{")?;
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                self.push(&opts.item_separator)?;
            }
            self.newline(inner)?;
            // Python turns str, int, float, bool and None keys into strings.
            match key.kind() {
                ValueKind::String => self.string(key.as_str().unwrap_or_default())?,
                ValueKind::Number => self.string(&number(key))?,
                ValueKind::Bool => self.string(if key.is_true() { "true" } else { "false" })?,
                ValueKind::None => self.string("null")?,
                _ => {
                    return Err(invalid(format!(
                        "keys must be str, int, float, bool or None, not {}",
                        key.kind()
                    )))
                }
            }
            self.push(&opts.key_separator)?;
            self.value(&v.get_item(key)?, inner)?;
        }
        self.newline(depth)?;
        self.push("}")
    }

    /// A quoted string with Python's escapes: `"`, `\`, `\n`, `\r`, `\t`, `\b`, `\f`, the
    /// other control characters as `\u00XX`, and with `ensure_ascii` everything outside
    /// printable ASCII as `\uXXXX` (UTF-16 surrogate pairs above U+FFFF).
    fn string(&mut self, s: &str) -> Result<(), Error> {
        let mut q = String::with_capacity(s.len() + 2);
        q.push('"');
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\r' => q.push_str("\\r"),
                '\t' => q.push_str("\\t"),
                '\u{8}' => q.push_str("\\b"),
                '\u{c}' => q.push_str("\\f"),
                c if c < ' ' || (self.opts.ensure_ascii && c > '~') => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        q.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => q.push(c),
            }
        }
        q.push('"');
        self.push(&q)
    }
}

/// A number as Python prints it: integers in full, floats as `repr` does (the shortest
/// text that reads back, `1.0`, `1e+16`, `1e-05`), and `NaN`, `Infinity`, `-Infinity`.
fn number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    let x = f64::try_from(v.clone()).unwrap_or(f64::NAN);
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "1.5e-7", "-1e16".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let fixed = x.to_string();
        if fixed.contains('.') {
            fixed
        } else {
            fixed + ".0"
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::json::Json;

    fn dump(json: &str, opts: &DumpOptions) -> String {
        dumps(Json::parse(json).unwrap().value(), opts, usize::MAX).unwrap()
    }

    /// Expected texts are Python 3.11's `json.dumps` of `json.loads(<input>)`.
    #[test]
    fn matches_python_json_dumps() {
        let d = DumpOptions::default();
        let src = r#"{"z": [1, 2.5, -0.0, 1e16, 1.5e-7, 0.0001, 123456789012345678, true, null], "a": {}, "b": [], "s": "<a href='x'>&\"\\\n\t\u0001\u001f\u007f é ✓ 😀"}"#;
        assert_eq!(
            dump(src, &d),
            r#"{"z": [1, 2.5, -0.0, 1e+16, 1.5e-07, 0.0001, 123456789012345678, true, null], "a": {}, "b": [], "s": "<a href='x'>&\"\\\n\t\u0001\u001f� é ✓ 😀"}"#
                .replace('�', "\u{7f}")
        );
        let ascii = DumpOptions {
            ensure_ascii: true,
            ..d.clone()
        };
        assert_eq!(
            dump(r#"["\u007f é ✓ 😀"]"#, &ascii),
            r#"["\u007f \u00e9 \u2713 \ud83d\ude00"]"#
        );
        assert_eq!(
            dump("[1e15, 12.0, 1e300]", &d),
            "[1000000000000000.0, 12.0, 1e+300]"
        );
    }

    #[test]
    fn indent_separators_and_sort_keys() {
        let kw = |pairs: &[(&str, Value)]| Kwargs::from_iter(pairs.iter().cloned());
        let o = DumpOptions::from_args(&[], &kw(&[("indent", Value::from(2))])).unwrap();
        assert_eq!(
            dump(r#"{"b": [1, {}], "a": "x"}"#, &o),
            "{\n  \"b\": [\n    1,\n    {}\n  ],\n  \"a\": \"x\"\n}"
        );
        let o = DumpOptions::from_args(
            &[Value::from(false), Value::from("\t")],
            &kw(&[("sort_keys", Value::from(true))]),
        )
        .unwrap();
        assert_eq!(
            dump(r#"{"b": 1, "a": [2]}"#, &o),
            "{\n\t\"a\": [\n\t\t2\n\t],\n\t\"b\": 1\n}"
        );
        let seps = Value::from(vec![Value::from(","), Value::from(":")]);
        let o = DumpOptions::from_args(&[], &kw(&[("separators", seps)])).unwrap();
        assert_eq!(dump(r#"{"a": [1, 2]}"#, &o), r#"{"a":[1,2]}"#);
        // Python's quirk: a negative indent still breaks lines.
        let o = DumpOptions::from_args(&[], &kw(&[("indent", Value::from(-3))])).unwrap();
        assert_eq!(dump("[1]", &o), "[\n1\n]");
        let bad = DumpOptions::from_args(
            &[Value::from(1), Value::from(2)],
            &kw(&[("indent", Value::from(2))]),
        );
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("multiple values for indent"));
    }

    #[test]
    fn output_past_the_cap_and_deep_nesting_are_out_of_fuel() {
        let v = Json::parse(r#"["0123456789"]"#).unwrap();
        let d = DumpOptions::default();
        assert_eq!(dumps(v.value(), &d, 14).unwrap(), r#"["0123456789"]"#);
        assert_eq!(
            dumps(v.value(), &d, 13).unwrap_err().kind(),
            ErrorKind::OutOfFuel
        );
        let mut deep = Value::from(1);
        for _ in 0..MAX_DEPTH + 1 {
            deep = Value::from(vec![deep]);
        }
        assert_eq!(
            dumps(&deep, &d, usize::MAX).unwrap_err().kind(),
            ErrorKind::OutOfFuel
        );
        assert_eq!(
            dumps(&Value::UNDEFINED, &d, 100).unwrap_err().detail(),
            Some("Object of type Undefined is not JSON serializable")
        );
    }
}
