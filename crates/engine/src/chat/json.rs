//! JSON handed to a template (tool definitions, the `tool_calls` of a message) as
//! template values. Objects keep their key order, as Python dicts do, so that `tojson`
//! prints them as transformers' `apply_chat_template` does.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectExt, ValueKind};
use minijinja::Value;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{ChatError, ChatMessage};

/// A parsed JSON value for a template. Parse it with `serde_json` (it implements
/// `Deserialize`, so it can be a field of a larger JSON document too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json {
    value: Value,
    /// Bytes of its text (strings plus a few per node), for the render budget.
    size: u64,
}

impl Json {
    /// Parses a JSON document.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The template value.
    pub(crate) fn value(&self) -> &Value {
        &self.value
    }

    /// About as many bytes as the text of the value takes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// Bytes a node adds to the size besides its strings.
const NODE_BYTES: u64 = 2;

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

fn scalar(value: impl Into<Value>, size: u64) -> Json {
    Json {
        value: value.into(),
        size: size + NODE_BYTES,
    }
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(scalar((), 4))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(scalar(v, 5))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(scalar(v, 20))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(scalar(v, 20))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(scalar(v, 24))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(scalar(v, v.len() as u64))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        let size = v.len() as u64;
        Ok(scalar(v, size))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let (mut items, mut size) = (Vec::new(), NODE_BYTES);
        while let Some(item) = seq.next_element::<Json>()? {
            size = size.saturating_add(item.size);
            items.push(item.value);
        }
        Ok(Json {
            value: Value::from(items),
            size,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let (mut object, mut size) = (OrderedMap::default(), NODE_BYTES);
        while let Some(key) = map.next_key::<String>()? {
            let item: Json = map.next_value()?;
            size = size.saturating_add(key.len() as u64 + item.size);
            object.insert(key, item.value);
        }
        Ok(Json {
            value: Value::from_object(object),
            size,
        })
    }
}

/// A map that keeps its keys in insertion order (minijinja's own maps sort them). A
/// repeated key keeps its first place and takes the last value, as in Python and JS.
#[derive(Debug, Default)]
pub(crate) struct OrderedMap {
    entries: Vec<(Value, Value)>,
    index: BTreeMap<String, usize>,
}

impl OrderedMap {
    pub(crate) fn insert(&mut self, key: String, value: Value) {
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((Value::from(key), value));
            }
        }
    }
}

impl Object for OrderedMap {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = *self.index.get(key.as_str()?)?;
        Some(self.entries[i].1.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_key_value_enumerator(|this| Box::new(this.entries.iter().cloned()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A message as the template sees it: `{"role", "content"}` and `tool_calls` when set,
/// in that order.
pub(crate) fn message_value(m: &ChatMessage) -> Value {
    let mut map = OrderedMap::default();
    map.insert("role".into(), Value::from(m.role.as_str()));
    map.insert("content".into(), Value::from(m.content.as_str()));
    if let Some(calls) = &m.tool_calls {
        map.insert("tool_calls".into(), calls.value().clone());
    }
    Value::from_object(map)
}

/// Tool definitions handed to the template as `tools`, as transformers'
/// `apply_chat_template(tools=...)` does: a JSON array of objects, usually in OpenAI's
/// form `{"type": "function", "function": {"name", "description", "parameters"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools(Json);

impl Tools {
    /// The longest JSON text of a tool list.
    pub const MAX_BYTES: usize = 1 << 20;

    /// Parses and checks a JSON array of tool definitions.
    pub fn from_json(text: &str) -> Result<Self, ChatError> {
        if text.len() > Self::MAX_BYTES {
            return Err(ChatError::InvalidTools(format!(
                "{} bytes of JSON, more than the limit of {} bytes",
                text.len(),
                Self::MAX_BYTES
            )));
        }
        let json = Json::parse(text)
            .map_err(|e| ChatError::InvalidTools(format!("not valid JSON: {e}")))?;
        Self::try_from(json)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.0.value().len().unwrap_or(0)
    }

    /// Whether the list is empty (templates then render as without tools).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn json(&self) -> &Json {
        &self.0
    }
}

impl TryFrom<Json> for Tools {
    type Error = ChatError;

    /// Checks that `json` is an array of objects.
    fn try_from(json: Json) -> Result<Self, ChatError> {
        let kind = |v: &Value| match v.kind() {
            ValueKind::Map => "an object",
            ValueKind::Seq => "an array",
            ValueKind::String => "a string",
            ValueKind::Number => "a number",
            ValueKind::Bool => "a boolean",
            _ => "null",
        };
        let v = json.value();
        if v.kind() != ValueKind::Seq {
            return Err(ChatError::InvalidTools(format!(
                "expected a JSON array of tool definitions, found {}",
                kind(v)
            )));
        }
        for (i, tool) in v.try_iter().into_iter().flatten().enumerate() {
            if tool.kind() != ValueKind::Map {
                return Err(ChatError::InvalidTools(format!(
                    "tool {i} is {}, not an object such as {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}",
                    kind(&tool)
                )));
            }
        }
        Ok(Self(json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_key_order_and_the_last_duplicate() {
        let j = Json::parse(r#"{"b": 1, "a": {"z": [true, null], "y": "é"}, "b": 2}"#).unwrap();
        let keys: Vec<String> = j
            .value()
            .try_iter()
            .unwrap()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(j.value().get_attr("b").unwrap(), Value::from(2));
        let a = j.value().get_attr("a").unwrap();
        let inner: Vec<String> = a.try_iter().unwrap().map(|k| k.to_string()).collect();
        assert_eq!(inner, ["z", "y"]);
        assert_eq!(a.get_attr("missing").unwrap(), Value::UNDEFINED);
        // Strings plus a few bytes per node: the order of the text's 58 bytes.
        assert!((40..=120).contains(&j.size()), "{}", j.size());
    }

    #[test]
    fn tools_must_be_an_array_of_objects() {
        let t = Tools::from_json(r#"[{"type": "function"}, {}]"#).unwrap();
        assert_eq!(t.len(), 2);
        assert!(Tools::from_json("[]").unwrap().is_empty());
        let err = |text: &str| Tools::from_json(text).unwrap_err().to_string();
        assert!(err("{}").contains("expected a JSON array of tool definitions, found an object"));
        assert!(err("[{}, \"f\"]").contains("tool 1 is a string, not an object"));
        assert!(err("[{},]").contains("not valid JSON"));
        assert!(err("").contains("not valid JSON"));
        let nested = "[".repeat(200) + &"]".repeat(200);
        assert!(err(&nested).contains("recursion limit"), "{}", err(&nested));
        let big = format!("[{{\"d\": \"{}\"}}]", "x".repeat(Tools::MAX_BYTES));
        assert!(err(&big).contains("more than the limit of 1048576 bytes"));
    }
}
