//! The key/value metadata of a GGUF file, in file order.

use std::collections::HashMap;

use crate::value::Value;

/// Metadata key/value pairs in the order they appear in the file, with
/// lookup by key. Keys are unique (the reader rejects duplicates).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    pub(crate) fn with_capacity(n: usize) -> Metadata {
        Metadata {
            entries: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
        }
    }

    /// Position of `key` if present.
    pub(crate) fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Appends a pair whose key is not present yet (callers check).
    pub(crate) fn push(&mut self, key: String, value: Value) {
        debug_assert!(!self.index.contains_key(&key));
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
    }

    /// Replaces the value of `key` in place, or appends the pair.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.position(key) {
            Some(i) => self.entries[i].1 = value,
            None => self.push(key.to_owned(), value),
        }
    }

    /// Removes `key` (later pairs move up one place); returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.index.remove(key)?;
        let (_, value) = self.entries.remove(i);
        for (k, _) in &self.entries[i..] {
            if let Some(p) = self.index.get_mut(k) {
                *p -= 1;
            }
        }
        Some(value)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// All pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_replaces_in_place() {
        let mut m = Metadata::default();
        m.push("b".into(), Value::U8(1));
        m.push("a".into(), Value::U8(2));
        m.insert("b", Value::U8(3));
        m.insert("c", Value::U8(4));
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(m.get("b"), Some(&Value::U8(3)));
        assert_eq!(m.get("zz"), None);
        assert_eq!(m.len(), 3);
    }
}
