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
            let reader = &self.readers.get(table);
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
            let reader = &self.readers.get(table);
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
                    .is_some_and(|h| self.readers.get(h).fits(obj.keys().map(String::as_str))) =>
                {
                    let h = hint.unwrap_or_default();
                    let detail = format!(
                        "Type {t:?} names no table, but the row's columns are those of {}, the file's table: read as {}",
                        self.readers.get(h).layout.table.name,
                        self.readers.get(h).layout.table.name
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
        let reader = &self.readers.get(table);
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

/// The bytes of a document's text an error keeps, from where the error is.
const ERROR_TEXT_BYTES: usize = 4096;

/// A piece of a JSON document, as [`DocSplitter::next`] hands it on.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// An element (of the top-level array or of an envelope's `records`, or a top-level
    /// value), whole, starting on `line`.
    Element {
        /// The line it starts on.
        line: u64,
        /// Its text.
        text: &'a [u8],
    },
    /// An element longer than the limit, skipped without being kept.
    TooLong {
        /// The line it starts on.
        line: u64,
        /// Its length.
        bytes: u64,
        /// Its first bytes.
        head: &'a [u8],
    },
    /// The document is not JSON from `line` on, or it is cut short there (`cut`); `text` is the
    /// text from there (at most 4 KiB). Nothing after it is read.
    Error {
        /// The line where it is.
        line: u64,
        /// What is wrong (with "cut short" when the document ends too soon).
        msg: String,
        /// The text there.
        text: &'a [u8],
        /// True when the document ends too soon.
        cut: bool,
    },
    /// Reading the input failed: what was read is split as if the data ended there.
    Failed(std::io::Error),
    /// The end of the document.
    End,
}

/// Where a [`DocSplitter`] is, between elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    /// Before the first value.
    Start,
    /// In the top-level array.
    Array,
    /// After the top-level array's closing `]`.
    Closed,
    /// Among top-level values one after another (pretty-printed objects, an envelope).
    Values,
    /// In an envelope's `records` array.
    Records,
    /// In an envelope after its `records` array, skipping to the envelope's end.
    EnvelopeRest,
    /// Keeping the text after the top-level array, which is an error.
    Trailing,
    /// Skipping to the end of the data after an error.
    Drain,
    /// Done.
    Done,
}

/// What an element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An object or array.
    Container,
    /// A string.
    Str,
    /// A number, `true`, `false`, `null` or anything else up to the next delimiter.
    Scalar,
}

/// Where a top-level object is among its own keys and values: the test for an envelope, an
/// object whose `records` key holds an array. Anything out of place (a key that is not a
/// string, a missing colon or comma) makes it no envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyState {
    /// Where a key belongs.
    Expect,
    /// In a key: its first bytes (`len` of them; more than 7 is not `records`).
    InKey { bytes: [u8; 8], len: usize },
    /// After a key (`true` for `records`).
    AfterKey(bool),
    /// After a key and its colon (`true` for `records`).
    AfterColon(bool),
    /// In a value that is an object or an array.
    InContainer,
    /// In a value that is a string.
    InString,
    /// In any other value.
    InScalar,
    /// After a value.
    AfterValue,
    /// Not an envelope.
    No,
}

/// What [`Nesting::scan`] shows of the bytes it steps over.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    /// A byte outside strings, or a string's closing quote.
    Byte(u8),
    /// Bytes inside a string (an escape with its backslash, without the byte it escapes).
    Text(&'a [u8]),
}

/// The brackets and strings of a value being skipped.
#[derive(Clone, Copy, Debug, Default)]
struct Nesting {
    depth: usize,
    in_str: bool,
    escaped: bool,
}

impl Nesting {
    /// Steps over `buf` from `i` until the value closes (depth 0): the index after its last
    /// byte, or `None` when `buf` ends first. `on` sees what is stepped over (with the depth
    /// before it), and may stop the scan after a byte by returning false: the scan then
    /// returns `Err` with the index after that byte.
    fn scan(
        &mut self,
        buf: &[u8],
        mut i: usize,
        mut on: impl FnMut(usize, Step<'_>) -> bool,
    ) -> Result<Option<usize>, usize> {
        while i < buf.len() {
            if self.escaped {
                self.escaped = false;
                i += 1;
                continue;
            }
            if self.in_str {
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => {
                        on(self.depth, Step::Text(&buf[i..]));
                        return Ok(None);
                    }
                    Some(p) => {
                        // An escape is passed on with its backslash: a key with one is none
                        // of the names looked for.
                        let escape = buf[i + p] == b'\\';
                        on(self.depth, Step::Text(&buf[i..i + p + usize::from(escape)]));
                        i += p;
                        if escape {
                            self.escaped = true;
                        } else {
                            self.in_str = false;
                            if !on(self.depth, Step::Byte(b'"')) {
                                return Err(i + 1);
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let b = buf[i];
            if !on(self.depth, Step::Byte(b)) {
                return Err(i + 1);
            }
            i += 1;
            match b {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Ok(Some(i));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// The element being read.
struct Elem {
    line: u64,
    /// Its bytes so far.
    len: u64,
    kind: Kind,
    nest: Nesting,
    /// For a top-level object: where it is among its keys.
    keys: Option<KeyState>,
    /// The context to go back to after it.
    ctx: Ctx,
}

/// True for the bytes that end a scalar in a document.
fn ends_scalar(b: u8) -> bool {
    matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits a JSON document as it is read into the objects it holds: the elements of a top-level
/// array, or top-level values one after another (pretty-printed objects); the records of an
/// envelope (an object whose `records` key holds an array) in place of the envelope. Only the
/// element being read is kept, and only while it is within the limit: a longer one is skipped
/// to its end, keeping its first bytes.
pub(crate) struct DocSplitter {
    max: usize,
    ctx: Ctx,
    /// Where an envelope's rest is.
    rest: Nesting,
    /// The line the envelope being read starts on.
    envelope_line: u64,
    /// The context to go back to after the envelope.
    envelope_ctx: Ctx,
    elem: Option<Elem>,
    /// The element's text (or the text of an error).
    buf: Vec<u8>,
    /// The line of the error being kept.
    error_line: u64,
    /// Newlines consumed so far.
    newlines: u64,
    /// True once the data has ended (or failed).
    eof: bool,
    /// What the last scan found ready to hand on.
    ready: Option<Ready>,
}

/// A piece found, whose text is in the splitter's buffer.
enum Ready {
    Element { line: u64, len: u64 },
    Error { line: u64, msg: String, cut: bool },
}

/// Whitespace between JSON values.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl DocSplitter {
    /// A splitter that keeps elements of at most `max` bytes.
    pub(crate) fn new(max: usize) -> DocSplitter {
        DocSplitter {
            max,
            ctx: Ctx::Start,
            rest: Nesting::default(),
            envelope_line: 0,
            envelope_ctx: Ctx::Values,
            elem: None,
            buf: Vec::new(),
            error_line: 0,
            newlines: 0,
            eof: false,
            ready: None,
        }
    }

    /// The line after the last: where the end of the data is.
    pub(crate) fn end_line(&self) -> u64 {
        self.newlines + 1
    }

    /// The next piece of the document in `r`.
    pub(crate) fn next(&mut self, r: &mut dyn std::io::BufRead) -> Piece<'_> {
        loop {
            if self.ctx == Ctx::Done {
                return Piece::End;
            }
            if self.eof {
                self.finish();
            } else {
                let buf = loop {
                    match r.fill_buf() {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.eof = true;
                            return Piece::Failed(e);
                        }
                        Ok(b) => break b,
                    }
                };
                if buf.is_empty() {
                    self.eof = true;
                    continue;
                }
                let used = self.scan(buf);
                r.consume(used);
            }
            if let Some(ready) = self.ready.take() {
                return self.piece(ready);
            }
        }
    }

    /// The piece `ready` tells of, with its text.
    fn piece(&self, ready: Ready) -> Piece<'_> {
        match ready {
            Ready::Element { line, len } if len > self.max as u64 => Piece::TooLong {
                line,
                bytes: len,
                head: &self.buf[..self.buf.len().min(1024)],
            },
            Ready::Element { line, .. } => Piece::Element {
                line,
                text: &self.buf,
            },
            Ready::Error { line, msg, cut } => Piece::Error {
                line,
                msg,
                text: &self.buf[..self.buf.len().min(ERROR_TEXT_BYTES)],
                cut,
            },
        }
    }

    /// Keeps `seg`, the next bytes of the element, while the element is within the limit;
    /// past it, only its first bytes stay.
    fn keep(&mut self, seg: &[u8], len_before: u64) {
        let len = self.buf.len();
        if len_before + seg.len() as u64 <= self.max as u64 {
            let needed = len + seg.len();
            if needed > self.buf.capacity() {
                // Grow by doubling, but never past the limit.
                let want = (self.buf.capacity() * 2).clamp(needed, self.max.max(needed));
                self.buf.reserve_exact(want - len);
            }
            self.buf.extend_from_slice(seg);
        } else if len < ERROR_TEXT_BYTES {
            let take = (ERROR_TEXT_BYTES - len).min(seg.len());
            self.buf.reserve_exact(take);
            self.buf.extend_from_slice(&seg[..take]);
        } else if len > ERROR_TEXT_BYTES && len_before <= self.max as u64 {
            self.buf.truncate(ERROR_TEXT_BYTES);
        }
    }

    /// Reads what it can of `buf`: to the end of the next piece, or all of it. Returns how many
    /// bytes it used; a piece found is left in `self.ready`.
    fn scan(&mut self, buf: &[u8]) -> usize {
        let mut i = 0;
        // Newlines before `counted` are in `self.newlines`.
        let mut counted = 0;
        let mut line_at = |me: &mut DocSplitter, to: usize| {
            me.newlines += memchr::memchr_iter(b'\n', &buf[counted..to]).count() as u64;
            counted = to;
            me.newlines + 1
        };
        while i < buf.len() {
            if self.elem.is_some() {
                let (end, envelope) = self.scan_elem(buf, i);
                i = end;
                if envelope {
                    // The `[` of an envelope's records: its records are the elements.
                    let elem = self.elem.take();
                    self.envelope_line = elem.as_ref().map_or(0, |e| e.line);
                    self.envelope_ctx = elem.map_or(Ctx::Values, |e| e.ctx);
                    self.buf.clear();
                    self.ctx = Ctx::Records;
                } else if self.ready.is_some() {
                    break;
                }
                continue;
            }
            let b = buf[i];
            match self.ctx {
                Ctx::Start if is_ws(b) => i += 1,
                Ctx::Start if b == b'[' => {
                    self.ctx = Ctx::Array;
                    i += 1;
                }
                Ctx::Start => self.ctx = Ctx::Values,
                Ctx::Array | Ctx::Records if is_ws(b) || b == b',' => i += 1,
                Ctx::Array if b == b']' => {
                    self.ctx = Ctx::Closed;
                    i += 1;
                }
                Ctx::Records if b == b']' => {
                    self.ctx = Ctx::EnvelopeRest;
                    self.rest = Nesting {
                        depth: 1,
                        ..Nesting::default()
                    };
                    i += 1;
                }
                Ctx::Values if is_ws(b) => i += 1,
                Ctx::Array | Ctx::Values | Ctx::Records => {
                    let line = line_at(self, i);
                    self.start_elem(b, line);
                }
                Ctx::Closed if is_ws(b) => i += 1,
                Ctx::Closed => {
                    self.error_line = line_at(self, i);
                    self.buf.clear();
                    self.ctx = Ctx::Trailing;
                }
                Ctx::Trailing => {
                    let take = (ERROR_TEXT_BYTES - self.buf.len()).min(buf.len() - i);
                    self.buf.extend_from_slice(&buf[i..i + take]);
                    i += take;
                    if self.buf.len() >= ERROR_TEXT_BYTES {
                        self.trailing_error();
                        break;
                    }
                }
                Ctx::EnvelopeRest => match self.rest.scan(buf, i, |_, _| true) {
                    Ok(Some(end)) => {
                        i = end;
                        self.ctx = self.envelope_ctx;
                    }
                    _ => i = buf.len(),
                },
                Ctx::Drain | Ctx::Done => i = buf.len(),
            }
        }
        line_at(self, i);
        i
    }

    /// Starts an element at its first byte `b`, on `line`.
    fn start_elem(&mut self, b: u8, line: u64) {
        self.buf.clear();
        let kind = match b {
            b'{' | b'[' => Kind::Container,
            b'"' => Kind::Str,
            _ => Kind::Scalar,
        };
        // Only a top-level object can be an envelope.
        let keys = (b == b'{' && self.ctx != Ctx::Records).then_some(KeyState::Expect);
        self.elem = Some(Elem {
            line,
            len: 0,
            kind,
            nest: Nesting::default(),
            keys,
            ctx: self.ctx,
        });
    }

    /// Reads the element from `buf[i..]`: returns where it stopped, and true when it stopped
    /// at the `[` of an envelope's records. A whole element is left in `self.ready`.
    fn scan_elem(&mut self, buf: &[u8], i: usize) -> (usize, bool) {
        let Some(mut el) = self.elem.take() else {
            return (i, false);
        };
        let (end, done, envelope) = match el.kind {
            // A stray delimiter (`}`, `]`, `,` where a value belongs) is an element of its own.
            Kind::Scalar if el.len == 0 && ends_scalar(buf[i]) => (i + 1, true, false),
            Kind::Scalar => match buf[i..].iter().position(|&b| ends_scalar(b)) {
                Some(p) => (i + p, true, false),
                None => (buf.len(), false, false),
            },
            Kind::Str if el.len == 0 => {
                // Past its opening quote, inside it.
                el.nest.in_str = true;
                match scan_str(&mut el.nest, buf, i + 1) {
                    Some(end) => (end, true, false),
                    None => (buf.len(), false, false),
                }
            }
            Kind::Str => match scan_str(&mut el.nest, buf, i) {
                Some(end) => (end, true, false),
                None => (buf.len(), false, false),
            },
            Kind::Container => {
                let keys = &mut el.keys;
                let r = el.nest.scan(buf, i, |depth, seen| match keys.as_mut() {
                    Some(k) => step_keys(k, depth, seen),
                    None => true,
                });
                match r {
                    Ok(Some(end)) => (end, true, false),
                    Ok(None) => (buf.len(), false, false),
                    Err(end) => (end, false, true),
                }
            }
        };
        let before = el.len;
        el.len += (end - i) as u64;
        if !envelope {
            self.keep(&buf[i..end], before);
        }
        if done {
            self.ready = Some(Ready::Element {
                line: el.line,
                len: el.len,
            });
            self.ctx = el.ctx;
        } else {
            self.elem = Some(el);
        }
        (end, envelope)
    }

    /// The error of text after the top-level array.
    fn trailing_error(&mut self) {
        self.ready = Some(Ready::Error {
            line: self.error_line,
            msg: "text after the closing ']'".into(),
            cut: false,
        });
        self.ctx = Ctx::Drain;
    }

    /// At the end of the data: the element being read ends (a scalar) or is cut short, and
    /// what is open is told.
    fn finish(&mut self) {
        let cut = |line: u64, msg: &str| Ready::Error {
            line,
            msg: format!("{msg}: the file is cut short"),
            cut: true,
        };
        if let Some(el) = self.elem.take() {
            if el.kind == Kind::Scalar {
                self.ctx = el.ctx;
                self.ready = Some(Ready::Element {
                    line: el.line,
                    len: el.len,
                });
            } else {
                let what = if el.nest.in_str || el.nest.escaped {
                    "a string is not closed"
                } else {
                    "the value is not closed"
                };
                self.buf.truncate(ERROR_TEXT_BYTES);
                self.ready = Some(cut(el.line, what));
                self.ctx = Ctx::Done;
            }
            return;
        }
        let line = self.newlines + 1;
        let ready = match self.ctx {
            Ctx::Array => Some(cut(line, "the array is not closed")),
            Ctx::Records => Some(cut(line, "the records array is not closed")),
            Ctx::EnvelopeRest => Some(cut(self.envelope_line, "the value is not closed")),
            Ctx::Trailing => {
                // The text after the array, shorter than what an error keeps.
                self.trailing_error();
                self.ctx = Ctx::Done;
                return;
            }
            _ => None,
        };
        if ready.is_some() {
            self.buf.clear();
        }
        self.ready = ready;
        self.ctx = Ctx::Done;
    }
}

/// Steps over a string's bytes from `i` (inside it) to its closing quote: the index after it,
/// or `None` when `buf` ends first.
fn scan_str(nest: &mut Nesting, buf: &[u8], i: usize) -> Option<usize> {
    nest.scan(buf, i, |_, seen| !matches!(seen, Step::Byte(b'"')))
        .err()
}

/// Follows a top-level object's keys: `depth` is the depth before what is `seen`. Returns
/// false at the `[` that opens the array of a `records` key: the object is an envelope.
fn step_keys(k: &mut KeyState, depth: usize, seen: Step<'_>) -> bool {
    let b = match seen {
        Step::Byte(b) => b,
        Step::Text(text) => {
            if let KeyState::InKey { bytes, len } = k {
                for &c in text {
                    if *len < bytes.len() {
                        bytes[*len] = c;
                    }
                    *len += 1;
                }
            }
            return true;
        }
    };
    if depth == 0 {
        // The object's opening brace.
        *k = KeyState::Expect;
        return true;
    }
    if depth > 1 {
        // Inside a value.
        return true;
    }
    let mut state = *k;
    if state == KeyState::InContainer || (state == KeyState::InScalar && ends_scalar(b)) {
        // The byte after the value.
        state = KeyState::AfterValue;
    }
    *k = match (state, b) {
        (KeyState::No, _) => KeyState::No,
        (KeyState::InKey { bytes, len }, _) => {
            KeyState::AfterKey(len == 7 && &bytes[..7] == b"records")
        }
        (KeyState::InString, _) => KeyState::AfterValue,
        (KeyState::InScalar, b'"' | b'{' | b'[') => KeyState::No,
        (KeyState::InScalar, _) => KeyState::InScalar,
        (s, b) if is_ws(b) => s,
        (KeyState::Expect, b'"') => KeyState::InKey {
            bytes: [0; 8],
            len: 0,
        },
        (KeyState::AfterKey(r), b':') => KeyState::AfterColon(r),
        (KeyState::AfterColon(true), b'[') => return false,
        (KeyState::AfterColon(_), b'{' | b'[') => KeyState::InContainer,
        (KeyState::AfterColon(_), b'"') => KeyState::InString,
        (KeyState::AfterColon(_), b',') => KeyState::AfterValue,
        (KeyState::AfterColon(_), b'}' | b']') => KeyState::No,
        (KeyState::AfterColon(_), _) => KeyState::InScalar,
        (KeyState::AfterValue, b',') => KeyState::Expect,
        _ => KeyState::No,
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// The pieces of `doc` split with the limit `max`, read `chunk` bytes at a time, as text.
    fn split(doc: &[u8], max: usize, chunk: usize) -> Vec<String> {
        let mut r = BufReader::with_capacity(chunk, doc);
        let mut d = DocSplitter::new(max);
        let mut out = Vec::new();
        loop {
            let p = match d.next(&mut r) {
                Piece::End => break,
                Piece::Element { line, text } => {
                    format!("{line}: {}", String::from_utf8_lossy(text))
                }
                Piece::TooLong { line, bytes, head } => {
                    format!("{line}: too long, {bytes} bytes: {}", head.len())
                }
                Piece::Error {
                    line,
                    msg,
                    text,
                    cut,
                } => format!(
                    "{line}: error{}: {msg}: {}",
                    if cut { " (cut)" } else { "" },
                    String::from_utf8_lossy(text)
                ),
                Piece::Failed(e) => format!("failed: {e}"),
            };
            out.push(p);
        }
        out.push(format!("end {}", d.end_line()));
        out
    }

    /// `split` gives the same pieces whatever the size of the reads.
    fn split_all_ways(doc: &[u8], max: usize) -> Vec<String> {
        let whole = split(doc, max, 1 << 16);
        for chunk in [1, 2, 3, 7] {
            assert_eq!(
                split(doc, max, chunk),
                whole,
                "read {chunk} bytes at a time"
            );
        }
        whole
    }

    #[test]
    fn splits_arrays_and_concatenated_objects() {
        let doc = br#" [ {"a":"]"}, {"b":[1,{"c":2}]} ] "#;
        assert_eq!(
            split_all_ways(doc, 1 << 20),
            [r#"1: {"a":"]"}"#, r#"1: {"b":[1,{"c":2}]}"#, "end 1"]
        );
        let doc = b"{\n \"x\": 1\n}\n{\n \"y\": \"\\\"}\"\n}\n";
        assert_eq!(
            split_all_ways(doc, 1 << 20),
            ["1: {\n \"x\": 1\n}", "4: {\n \"y\": \"\\\"}\"\n}", "end 7"]
        );
        // Scalars are elements too (rejected by the reader as not objects), and so is a
        // stray delimiter where a value belongs.
        assert_eq!(
            split_all_ways(br#"[1, "s,]", true,]"#, 100),
            ["1: 1", r#"1: "s,]""#, "1: true", "end 1"]
        );
        assert_eq!(
            split_all_ways(b"{}}x[", 100),
            ["1: {}", "1: }", "1: x[", "end 1"]
        );
    }

    #[test]
    fn reports_truncation_and_trailing_text() {
        assert_eq!(
            split_all_ways(br#"[{"a":1},{"b":"#, 100),
            [
                r#"1: {"a":1}"#,
                r#"1: error (cut): the value is not closed: the file is cut short: {"b":"#,
                "end 1"
            ]
        );
        assert_eq!(
            split_all_ways(b"[{\"a\":1},\n{\"b\":\"xy", 100),
            [
                r#"1: {"a":1}"#,
                r#"2: error (cut): a string is not closed: the file is cut short: {"b":"xy"#,
                "end 2"
            ]
        );
        assert_eq!(
            split_all_ways(b"[{\"a\":1}\n", 100),
            [
                r#"1: {"a":1}"#,
                "2: error (cut): the array is not closed: the file is cut short: ",
                "end 2"
            ]
        );
        assert_eq!(
            split_all_ways(b"[{\"a\":1}]\n junk\nmore", 100),
            [
                r#"1: {"a":1}"#,
                "2: error: text after the closing ']': junk\nmore",
                "end 3"
            ]
        );
    }

    #[test]
    fn envelopes_give_their_records() {
        let doc = b"{\"time\": \"x\", \"records\": [\n{\"a\":1},\n{\"b\":[2]}\n], \"more\": {\"c\": \"}\"}}\n{\"d\":4}";
        assert_eq!(
            split_all_ways(doc, 100),
            [r#"2: {"a":1}"#, r#"3: {"b":[2]}"#, r#"5: {"d":4}"#, "end 5"]
        );
        // Only a top-level `records` key holding an array makes an envelope.
        let doc = br#"[{"x":{"records":[1]},"records":"no"},{"rec\u006frds":[1]}]"#;
        assert_eq!(
            split_all_ways(doc, 100),
            [
                r#"1: {"x":{"records":[1]},"records":"no"}"#,
                r#"1: {"rec\u006frds":[1]}"#,
                "end 1"
            ]
        );
        // Nor does an object whose keys are out of order before it: it is one element.
        let doc = br#"{"a" 1, "records":[{"b":1}]} {"a":1 2, "records":[{"b":1}]}"#;
        assert_eq!(
            split_all_ways(doc, 100),
            [
                r#"1: {"a" 1, "records":[{"b":1}]}"#,
                r#"1: {"a":1 2, "records":[{"b":1}]}"#,
                "end 1"
            ]
        );
        // An envelope larger than the limit still gives its records, each within it.
        let records: Vec<String> = (0..50).map(|i| format!("{{\"n\":{i}}}")).collect();
        let doc = format!("{{\"records\":[{}]}}", records.join(","));
        let pieces = split_all_ways(doc.as_bytes(), 16);
        assert_eq!(pieces.len(), 51, "{pieces:?}");
        assert_eq!(pieces[49], r#"1: {"n":49}"#);
        // Cut short inside its records: the records before are whole.
        assert_eq!(
            split_all_ways(b"{\"records\":[{\"a\":1},\n", 100),
            [
                r#"1: {"a":1}"#,
                "2: error (cut): the records array is not closed: the file is cut short: ",
                "end 2"
            ]
        );
    }

    #[test]
    fn an_element_past_the_limit_is_skipped_and_reading_goes_on() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(10_000));
        let doc = format!("[\n{{\"b\":1}},\n{big},\n{{\"c\":2}}\n]");
        assert_eq!(
            split_all_ways(doc.as_bytes(), 1000),
            [
                r#"2: {"b":1}"#,
                "3: too long, 10008 bytes: 1024",
                r#"4: {"c":2}"#,
                "end 5"
            ]
        );
        // An element exactly at the limit is kept.
        let doc = format!("[{{\"a\":\"{}\"}}]", "x".repeat(92));
        let pieces = split(doc.as_bytes(), 100, 1 << 16);
        assert!(pieces[0].starts_with("1: {\"a\""), "{pieces:?}");
        let pieces = split(doc.as_bytes(), 99, 1 << 16);
        assert_eq!(pieces[0], "1: too long, 100 bytes: 100");
        // The buffer never grows past the limit while the element is read.
        let doc = format!("[{{\"a\":\"{}\"}}]", "x".repeat(100_000));
        let mut r = BufReader::with_capacity(64, doc.as_bytes());
        let mut d = DocSplitter::new(10_000);
        while !matches!(d.next(&mut r), Piece::End) {}
        assert!(d.buf.capacity() <= 10_000, "{}", d.buf.capacity());
    }
}
