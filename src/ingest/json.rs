//! JSON input: Log Analytics rows and diagnostic records, one object at a time.
//!
//! The fast path reads a row of a known table straight from the bytes: fields that the
//! projection does not need are skipped without being built, needed ones are coerced as they
//! are parsed. Anything unusual (a row of another table, a diagnostic record, an envelope) falls
//! back to the general path over a parsed `serde_json::Value`.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use super::coerce::{
    coerce_bool, coerce_composite, coerce_f64, coerce_i64, coerce_json, coerce_null, coerce_str,
};
use super::{Ingest, KeySlot, Record, RejectReason, RowState, TableReader, WarningKind};
use crate::catalog::{DiagnosticMapping, is_diagnostic_record, table_for_category};
use crate::model::{Str, Type, Value};

/// A field name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A dynamic value built directly from JSON tokens.
pub(crate) struct Dyn(pub Value);

impl<'de> serde::Deserialize<'de> for Dyn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DynVisitor).map(Dyn)
    }
}

struct DynVisitor;

impl<'de> Visitor<'de> for DynVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, x: i64) -> Result<Value, E> {
        Ok(Value::Long(x))
    }
    fn visit_u64<E>(self, x: u64) -> Result<Value, E> {
        Ok(i64::try_from(x).map_or(Value::Real(x as f64), Value::Long))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Real(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Dyn(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut pairs: Vec<(Str, Value)> = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            let Dyn(v) = map.next_value()?;
            pairs.push((Str::from(k.as_ref()), v));
        }
        Ok(Value::object(pairs))
    }
}

/// Parses one cell as the column type `ty`; the inner result is the coercion's outcome.
struct Cell(Type);

impl<'de> DeserializeSeed<'de> for Cell {
    type Value = Result<Value, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Cell {
    type Value = Result<Value, String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(coerce_null(self.0)))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(coerce_bool(b, self.0))
    }
    fn visit_i64<E>(self, x: i64) -> Result<Self::Value, E> {
        Ok(coerce_i64(x, self.0))
    }
    fn visit_u64<E>(self, x: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(x) {
            Ok(x) => coerce_i64(x, self.0),
            Err(_) => coerce_f64(x as f64, self.0),
        })
    }
    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(coerce_f64(x, self.0))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(coerce_str(s, self.0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v = DynVisitor.visit_seq(seq)?;
        Ok(coerce_composite(v, self.0))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = DynVisitor.visit_map(map)?;
        Ok(coerce_composite(v, self.0))
    }
}

/// What the fast path saw besides the row.
#[derive(Default)]
struct Seen {
    time_generated: bool,
    category: bool,
    properties_or_time: bool,
    records: bool,
    /// The row's `Type`, when it is not the expected table.
    other_type: Option<String>,
}

/// A field name as raw bytes, borrowed from the input when it has no escapes. (Reading it as
/// bytes skips a UTF-8 check per key; names are checked when first looked up.)
struct RawKey<'de>(Cow<'de, [u8]>);

impl<'de> serde::Deserialize<'de> for RawKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_bytes<E>(self, s: &'de [u8]) -> Result<RawKey<'de>, E> {
                Ok(RawKey(Cow::Borrowed(s)))
            }
            fn visit_bytes<E>(self, s: &[u8]) -> Result<RawKey<'de>, E> {
                Ok(RawKey(Cow::Owned(s.to_vec())))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<RawKey<'de>, E> {
                Ok(RawKey(Cow::Borrowed(s.as_bytes())))
            }
            fn visit_str<E>(self, s: &str) -> Result<RawKey<'de>, E> {
                Ok(RawKey(Cow::Owned(s.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// The field names of the last row read of a table, in order, with their columns: rows of one
/// export list their fields in the same order, so most keys are found by one comparison.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Vec<(Vec<u8>, Option<KeySlot>)>,
}

impl KeyCache {
    /// The column of the `i`-th field of a row, named `k`.
    fn lookup(&mut self, reader: &TableReader, i: usize, k: &[u8]) -> Option<KeySlot> {
        if let Some((name, slot)) = self.keys.get(i)
            && name.as_slice() == k
        {
            return *slot;
        }
        let slot = std::str::from_utf8(k)
            .ok()
            .and_then(|name| reader.key(name));
        if i < self.keys.len() {
            self.keys[i] = (k.to_vec(), slot);
        } else if i == self.keys.len() {
            self.keys.push((k.to_vec(), slot));
        }
        slot
    }
}

/// Reads one object as a row of a known table.
struct RowVisitor<'a> {
    reader: &'a TableReader,
    cache: &'a mut KeyCache,
    st: &'a mut RowState,
    seen: &'a mut Seen,
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let table_name = &self.reader.layout.table.name;
        let mut i = 0;
        while let Some(RawKey(k)) = map.next_key()? {
            let found = self.cache.lookup(self.reader, i, &k);
            i += 1;
            match found {
                Some(slot) if slot.is_type => {
                    let v = map.next_value_seed(Cell(Type::String))?;
                    if let Ok(Value::String(s)) = &v
                        && !s.is_empty()
                        && s.as_ref() != table_name.as_ref()
                    {
                        self.seen.other_type = Some(s.to_string());
                    }
                    self.st.set(slot, v, "Type");
                }
                Some(slot) => {
                    if slot.time_rank == Some(0) {
                        self.seen.time_generated = true;
                    }
                    if slot.slot.is_none() && slot.time_rank.is_none() {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        let v = map.next_value_seed(Cell(slot.ty))?;
                        let name = &self.reader.layout.table.schema.columns()[slot.col].name;
                        self.st.set(slot, v, name);
                    }
                }
                None => {
                    match k.as_ref() {
                        b"category" => self.seen.category = true,
                        b"properties" | b"time" => self.seen.properties_or_time = true,
                        b"records" => self.seen.records = true,
                        _ => {}
                    }
                    self.st
                        .unknown
                        .push(String::from_utf8_lossy(&k).into_owned());
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for RowVisitor<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// Classifies a serde_json error on `bytes` as a reject reason and a message.
fn json_error(e: &serde_json::Error, bytes: &[u8]) -> (RejectReason, String) {
    let msg = e.to_string();
    if let Err(u) = std::str::from_utf8(bytes) {
        (RejectReason::NotUtf8, format!("not UTF-8 text: {u}"))
    } else if msg.contains("recursion limit") {
        (
            RejectReason::TooDeep,
            format!("nested deeper than 128 levels ({msg})"),
        )
    } else if e.is_eof() {
        (
            RejectReason::MalformedJson,
            format!("truncated JSON: {msg}"),
        )
    } else if e.is_data() {
        (RejectReason::NotAnObject, msg)
    } else {
        (RejectReason::MalformedJson, msg)
    }
}

impl Ingest<'_> {
    /// Reads one JSON text that should be a row or record object. `hint` is the table the file
    /// is expected to hold; it is updated from the first row that names its table.
    pub(crate) fn read_object(
        &mut self,
        file: &str,
        line: u64,
        bytes: &[u8],
        hint: &mut Option<usize>,
        sink: &mut dyn FnMut(Record),
    ) {
        if let Some(table) = *hint {
            let reader = &self.readers[table];
            let cache = &mut self.key_caches[table];
            let mut st = RowState::new(reader);
            let mut seen = Seen::default();
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let parsed = RowVisitor {
                reader,
                cache,
                st: &mut st,
                seen: &mut seen,
            }
            .deserialize(&mut de)
            .and_then(|_| de.end());
            match parsed {
                Err(e) => {
                    let (reason, msg) = json_error(&e, bytes);
                    self.report.reject(file, line, reason, &msg, bytes);
                }
                Ok(()) => {
                    let unusual = seen.other_type.is_some()
                        || seen.records
                        || (!seen.time_generated && seen.category && seen.properties_or_time);
                    if !unusual {
                        self.emit(file, line, table, st, bytes, sink);
                    } else {
                        self.read_general(file, line, bytes, hint, sink);
                    }
                }
            }
        } else {
            self.read_general(file, line, bytes, hint, sink);
        }
    }

    /// The general path: parse the whole object, then tell a diagnostic record, an envelope of
    /// records or a Log Analytics row apart.
    fn read_general(
        &mut self,
        file: &str,
        line: u64,
        bytes: &[u8],
        hint: &mut Option<usize>,
        sink: &mut dyn FnMut(Record),
    ) {
        let j: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(j) => j,
            Err(e) => {
                let (reason, msg) = json_error(&e, bytes);
                self.report.reject(file, line, reason, &msg, bytes);
                return;
            }
        };
        self.read_json_value(file, line, &j, bytes, hint, sink);
    }

    fn read_json_value(
        &mut self,
        file: &str,
        line: u64,
        j: &serde_json::Value,
        bytes: &[u8],
        hint: &mut Option<usize>,
        sink: &mut dyn FnMut(Record),
    ) {
        let Some(obj) = j.as_object() else {
            let what = match j {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a bool",
                _ => "null",
            };
            self.report.reject(
                file,
                line,
                RejectReason::NotAnObject,
                &format!("expected a JSON object, found {what}"),
                bytes,
            );
            return;
        };
        if let Some(serde_json::Value::Array(records)) = obj.get("records") {
            for r in records {
                let text = serde_json::to_vec(r).unwrap_or_default();
                self.read_json_value(file, line, r, &text, hint, sink);
            }
            return;
        }
        if is_diagnostic_record(obj) {
            let category = obj.get("category").and_then(|c| c.as_str()).unwrap_or("");
            let Some(table) = table_for_category(category).and_then(|t| self.table_id(t)) else {
                self.report.reject(
                    file,
                    line,
                    RejectReason::UnknownTable,
                    &format!("diagnostic category {category:?} belongs to no table kqlflow knows"),
                    bytes,
                );
                return;
            };
            let reader = &self.readers[table];
            let mapping = DiagnosticMapping::new(reader.layout.table.clone());
            let (pairs, unknown) = mapping.map(obj);
            let mut st = RowState::new(reader);
            for (col, v) in pairs {
                let name = reader.layout.table.schema.columns()[col].name.clone();
                if let Some(k) = reader.key(&name) {
                    st.set(k, coerce_json(v, k.ty), &name);
                }
            }
            if let Some(k) = reader.key("Type") {
                let name = reader.layout.table.name.clone();
                st.set(k, Ok(Value::String(name)), "Type");
            }
            st.unknown = unknown;
            self.emit(file, line, table, st, bytes, sink);
            return;
        }
        // A Log Analytics row: its table from Type, else the hint.
        let table = match obj
            .get("Type")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
        {
            Some(t) => match self.table_id(t) {
                Some(id) => id,
                None if hint
                    .is_some_and(|h| self.readers[h].fits(obj.keys().map(String::as_str))) =>
                {
                    let h = hint.unwrap_or_default();
                    let detail = format!(
                        "Type {t:?} names no table, but the row's columns are those of {}, the file's table: read as {}",
                        self.readers[h].layout.table.name, self.readers[h].layout.table.name
                    );
                    self.report
                        .warn(file, line, WarningKind::TypeNotATable, &detail);
                    h
                }
                None => {
                    self.report.reject(
                        file,
                        line,
                        RejectReason::UnknownTable,
                        &format!(
                            "table {t:?} is not one kqlflow knows ({})",
                            self.known_tables()
                        ),
                        bytes,
                    );
                    return;
                }
            },
            None => match *hint {
                Some(id) => id,
                None => {
                    self.report.reject(
                        file,
                        line,
                        RejectReason::UnknownTable,
                        "no Type column, no diagnostic category, and neither --table nor the file name names a table",
                        bytes,
                    );
                    return;
                }
            },
        };
        if hint.is_none() {
            *hint = Some(table);
        }
        let reader = &self.readers[table];
        let mut st = RowState::new(reader);
        for (k, v) in obj {
            match reader.key(k) {
                Some(slot) => {
                    let name = reader.layout.table.schema.columns()[slot.col].name.clone();
                    st.set(slot, coerce_json(v, slot.ty), &name);
                }
                None => st.unknown.push(k.clone()),
            }
        }
        self.emit(file, line, table, st, bytes, sink);
    }

    pub(crate) fn known_tables(&self) -> String {
        self.catalog
            .tables()
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A byte range `(start, end)` of a document.
pub(crate) type Span = (usize, usize);

/// Splits a JSON document into the spans of the objects it holds: the elements of a top-level
/// array, or top-level values one after another (pretty-printed objects, or one envelope).
/// Returns (start, end) byte spans, and an error (offset, message) when the document is cut
/// short (the message then says "cut short") or is not JSON at the top level.
pub(crate) fn split_document(b: &[u8]) -> (Vec<Span>, Option<(usize, String)>) {
    let mut spans = Vec::new();
    let mut i = skip_ws(b, 0);
    if b.get(i) == Some(&b'[') {
        i += 1;
        loop {
            i = skip_ws(b, i);
            match b.get(i) {
                None => {
                    return (
                        spans,
                        Some((i, "the array is not closed: the file is cut short".into())),
                    );
                }
                Some(b']') => {
                    let j = skip_ws(b, i + 1);
                    if j < b.len() {
                        return (spans, Some((j, "text after the closing ']'".into())));
                    }
                    return (spans, None);
                }
                Some(b',') => i += 1,
                Some(_) => match skip_value(b, i) {
                    Ok(end) => {
                        spans.push((i, end));
                        i = end;
                    }
                    Err(e) => {
                        spans.push((i, b.len()));
                        return (spans, Some((i, e)));
                    }
                },
            }
        }
    }
    loop {
        i = skip_ws(b, i);
        if i >= b.len() {
            return (spans, None);
        }
        match skip_value(b, i) {
            Ok(end) => {
                spans.push((i, end));
                i = end;
            }
            Err(e) => {
                spans.push((i, b.len()));
                return (spans, Some((i, e)));
            }
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `i`, found by matching brackets outside strings.
/// Scalars end at the next delimiter.
fn skip_value(b: &[u8], i: usize) -> Result<usize, String> {
    match b[i] {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => j = skip_string(b, j)?,
                    b'{' | b'[' => {
                        depth += 1;
                        j += 1;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        j += 1;
                        if depth == 0 {
                            return Ok(j);
                        }
                    }
                    _ => j += 1,
                }
            }
            Err("the value is not closed: the file is cut short".into())
        }
        b'"' => skip_string(b, i),
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            Ok(j.max(i + 1))
        }
    }
}

fn skip_string(b: &[u8], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err("a string is not closed: the file is cut short".into())
}

/// When the span `(s, e)` is an object with a `records` array (an Event Hub envelope), the spans
/// of that array's elements.
pub(crate) fn envelope_records(b: &[u8], s: usize, e: usize) -> Option<Vec<(usize, usize)>> {
    if b.get(s) != Some(&b'{') {
        return None;
    }
    let mut i = s + 1;
    loop {
        i = skip_ws(b, i);
        if i >= e || b[i] != b'"' {
            return None;
        }
        let key_end = skip_string(b, i).ok()?;
        let key = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if i >= e {
            return None;
        }
        let v_end = skip_value(b, i).ok()?;
        if key == b"records" && b[i] == b'[' {
            let (spans, err) = split_document(&b[i..v_end]);
            if err.is_some() {
                return None;
            }
            return Some(spans.into_iter().map(|(a, z)| (a + i, z + i)).collect());
        }
        i = skip_ws(b, v_end);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arrays_and_concatenated_objects() {
        let doc = br#" [ {"a":"]"}, {"b":[1,{"c":2}]} ] "#;
        let (spans, err) = split_document(doc);
        assert!(err.is_none());
        let parts: Vec<&[u8]> = spans.iter().map(|&(s, e)| &doc[s..e]).collect();
        assert_eq!(
            parts,
            vec![&br#"{"a":"]"}"#[..], &br#"{"b":[1,{"c":2}]}"#[..]]
        );
        let doc = b"{\n \"x\": 1\n}\n{\n \"y\": \"\\\"}\"\n}\n";
        let (spans, err) = split_document(doc);
        assert!(err.is_none());
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn reports_truncation() {
        let (spans, err) = split_document(br#"[{"a":1},{"b":"#);
        assert_eq!(spans.len(), 2);
        assert!(err.unwrap().1.contains("cut short"));
        let (_, err) = split_document(br#"[{"a":1}] junk"#);
        assert!(err.unwrap().1.contains("after"));
    }
}
