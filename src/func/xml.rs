//! `parse_xml(s)`: Kusto's conversion of an XML document to a dynamic value, with a small XML
//! reader of its own (elements, attributes, text, CDATA, the five named entities and character
//! references; the declaration, processing instructions, comments and a DOCTYPE are skipped).
//!
//! The conversion, as Kusto documents it:
//!
//! | XML | dynamic |
//! |---|---|
//! | `<e/>` | `{"e": null}` |
//! | `<e>text</e>` | `{"e": "text"}` |
//! | `<e name="value"/>` | `{"e": {"@name": "value"}}` |
//! | `<e name="value">text</e>` | `{"e": {"@name": "value", "#text": "text"}}` |
//! | `<e><a>text</a><b>text</b></e>` | `{"e": {"a": "text", "b": "text"}}` |
//! | `<e><a>text</a><a>text</a></e>` | `{"e": {"a": ["text", "text"]}}` |
//! | `<e> text <a>text</a></e>` | `{"e": {"#text": "text", "a": "text"}}` |
//!
//! Text is kept as a string (trimmed; text of only white space is dropped); an element with
//! several separate pieces of text gets them as an array under `#text`. Input that is not
//! well-formed XML, or longer than 1 MiB (Kusto's limit), gives null.

use super::ops::text_of;
use crate::model::{Str, Value};

/// Kusto's limit on `parse_xml`'s input: longer strings give null.
const MAX_INPUT: usize = 1 << 20;

/// How deeply elements may nest before the input is refused (null).
const MAX_DEPTH: usize = 512;

/// `parse_xml(xml)`: the XML document as a dynamic value (see the module's documentation);
/// null when it is not well-formed XML.
pub fn f_parse_xml(a: &[Value]) -> Value {
    match a.first() {
        None | Some(Value::Null) => Value::Null,
        Some(v) => parse_xml(&text_of(v)).unwrap_or(Value::Null),
    }
}

/// The dynamic value of the XML document `text`, or `None` when it is not well-formed.
pub fn parse_xml(text: &str) -> Option<Value> {
    if text.len() > MAX_INPUT {
        return None;
    }
    let mut r = Reader {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    r.skip_misc()?;
    if r.peek() != Some(b'<') {
        return None;
    }
    let (name, value) = r.element()?;
    r.skip_misc()?;
    if r.i != r.s.len() {
        return None;
    }
    Some(Value::object(vec![(name, value)]))
}

/// An element being read: its name, attributes, text pieces and children so far.
struct Open {
    name: Str,
    attrs: Vec<(Str, Value)>,
    texts: Vec<String>,
    children: Vec<(Str, Value)>,
}

impl Open {
    /// The element's value once closed.
    fn finish(self) -> (Str, Value) {
        let texts: Vec<String> = self
            .texts
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if self.attrs.is_empty() && self.children.is_empty() {
            let v = match texts.len() {
                0 => Value::Null,
                1 => Value::str(&texts[0]),
                _ => Value::array(texts.iter().map(Value::str).collect()),
            };
            return (self.name, v);
        }
        let mut props = self.attrs;
        match texts.len() {
            0 => {}
            1 => props.push((Str::from("#text"), Value::str(&texts[0]))),
            _ => props.push((
                Str::from("#text"),
                Value::array(texts.iter().map(Value::str).collect()),
            )),
        }
        // Children by name, in order of first sight; a repeated name becomes an array.
        let mut groups: Vec<(Str, Vec<Value>)> = Vec::new();
        for (name, v) in self.children {
            match groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, vs)) => vs.push(v),
                None => groups.push((name, vec![v])),
            }
        }
        for (name, mut vs) in groups {
            let v = if vs.len() == 1 {
                vs.pop().unwrap_or(Value::Null)
            } else {
                Value::array(vs)
            };
            props.push((name, v));
        }
        (self.name, Value::object(props))
    }
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn starts_with(&self, p: &str) -> bool {
        self.s[self.i..].starts_with(p.as_bytes())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// Skips past the next `end`; `None` when there is none.
    fn skip_past(&mut self, end: &str) -> Option<()> {
        let at = find(&self.s[self.i..], end.as_bytes())?;
        self.i += at + end.len();
        Some(())
    }

    /// Skips white space, comments, processing instructions (the XML declaration among them)
    /// and a DOCTYPE, outside the root element.
    fn skip_misc(&mut self) -> Option<()> {
        loop {
            self.skip_ws();
            if self.starts_with("<?") {
                self.skip_past("?>")?;
            } else if self.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if self.starts_with("<!DOCTYPE") {
                self.skip_doctype()?;
            } else {
                return Some(());
            }
        }
    }

    /// Skips a DOCTYPE declaration, its internal subset in brackets included.
    fn skip_doctype(&mut self) -> Option<()> {
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        while let Some(c) = self.peek() {
            self.i += 1;
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(c),
                (None, b'[') => depth += 1,
                (None, b']') => depth = depth.checked_sub(1)?,
                (None, b'>') if depth == 0 => return Some(()),
                _ => {}
            }
        }
        None
    }

    /// A name (of an element or an attribute): up to white space or one of `/>=`.
    fn name(&mut self) -> Option<Str> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>' | b'=' | b'<' | b'"' | b'\''
            ) {
                break;
            }
            self.i += 1;
        }
        let name = &self.text[start..self.i];
        let first = name.chars().next()?;
        if first.is_ascii_digit() || first == '-' || first == '.' {
            return None;
        }
        Some(Str::from(name))
    }

    /// The root element, the reader at its `<`: its name and value. Nested elements are kept
    /// on a stack of their own, so deep input cannot overflow the thread's stack.
    fn element(&mut self) -> Option<(Str, Value)> {
        let mut stack: Vec<Open> = Vec::new();
        loop {
            // At a '<' that opens a start tag, an end tag, a comment, CDATA or a PI.
            if self.starts_with("</") {
                self.i += 2;
                let name = self.name()?;
                self.skip_ws();
                if self.peek() != Some(b'>') {
                    return None;
                }
                self.i += 1;
                let open = stack.pop()?;
                if open.name != name {
                    return None;
                }
                let done = open.finish();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Some(done),
                }
            } else if self.starts_with("<!--") {
                stack.last()?;
                self.skip_past("-->")?;
            } else if self.starts_with("<![CDATA[") {
                self.i += "<![CDATA[".len();
                let start = self.i;
                let at = find(&self.s[self.i..], b"]]>")?;
                self.i += at + 3;
                let text = self.text[start..start + at].to_string();
                stack.last_mut()?.texts.push(text);
            } else if self.starts_with("<?") {
                stack.last()?;
                self.skip_past("?>")?;
            } else {
                self.i += 1;
                let name = self.name()?;
                let attrs = self.attributes()?;
                let open = Open {
                    name,
                    attrs,
                    texts: Vec::new(),
                    children: Vec::new(),
                };
                if self.starts_with("/>") {
                    self.i += 2;
                    let done = open.finish();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Some(done),
                    }
                } else if self.peek() == Some(b'>') {
                    self.i += 1;
                    if stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    stack.push(open);
                } else {
                    return None;
                }
            }
            // Text up to the next markup, within an open element.
            let start = self.i;
            let at = find(&self.s[self.i..], b"<")?;
            self.i += at;
            let raw = &self.text[start..self.i];
            if !raw.trim().is_empty() {
                let text = unescape(raw)?;
                stack.last_mut()?.texts.push(text);
            }
        }
    }

    /// The attributes of a start tag, up to (not past) its `>` or `/>`, each as `@name`.
    fn attributes(&mut self) -> Option<Vec<(Str, Value)>> {
        let mut attrs: Vec<(Str, Value)> = Vec::new();
        loop {
            let before = self.i;
            self.skip_ws();
            match self.peek()? {
                b'>' | b'/' => return Some(attrs),
                _ if self.i == before => return None,
                _ => {}
            }
            let name = self.name()?;
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return None;
            }
            self.i += 1;
            self.skip_ws();
            let quote = self.peek()?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            self.i += 1;
            let start = self.i;
            let at = self.s[self.i..].iter().position(|&c| c == quote)?;
            self.i += at + 1;
            let raw = &self.text[start..start + at];
            if raw.contains('<') {
                return None;
            }
            let key = Str::from(format!("@{name}"));
            if attrs.iter().any(|(k, _)| *k == key) {
                return None;
            }
            attrs.push((key, Value::str(unescape(raw)?)));
        }
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return memchr::memchr(needle[0], hay);
    }
    memchr::memmem::find(hay, needle)
}

/// Text with its entity and character references replaced; `None` for an unknown or
/// malformed reference.
fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('&') {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let end = rest.find(';')?;
        let entity = &rest[..end];
        rest = &rest[end + 1..];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    entity.strip_prefix('#')?.parse::<u32>().ok()?
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn obj(kv: Vec<(&str, Value)>) -> Value {
        Value::object(kv.into_iter().map(|(k, v)| (Str::from(k), v)).collect())
    }
    fn xml(x: &str) -> Value {
        f_parse_xml(&[s(x)])
    }

    #[test]
    fn the_documented_conversions() {
        assert_eq!(xml("<e/>"), obj(vec![("e", Value::Null)]));
        assert_eq!(xml("<e>text</e>"), obj(vec![("e", s("text"))]));
        assert_eq!(
            xml(r#"<e name="value" />"#),
            obj(vec![("e", obj(vec![("@name", s("value"))]))])
        );
        assert_eq!(
            xml(r#"<e name="value">text</e>"#),
            obj(vec![(
                "e",
                obj(vec![("@name", s("value")), ("#text", s("text"))])
            )])
        );
        assert_eq!(
            xml("<e> <a>text</a> <b>text</b> </e>"),
            obj(vec![("e", obj(vec![("a", s("text")), ("b", s("text"))]))])
        );
        assert_eq!(
            xml("<e> <a>text</a> <a>text</a> </e>"),
            obj(vec![(
                "e",
                obj(vec![("a", Value::array(vec![s("text"), s("text")]))])
            )])
        );
        assert_eq!(
            xml("<e> text <a>text</a> </e>"),
            obj(vec![(
                "e",
                obj(vec![("#text", s("text")), ("a", s("text"))])
            )])
        );
    }

    #[test]
    fn the_documented_example_with_its_declaration() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<duration>
    <value>118.0</value>
    <count>5.0</count>
    <min>100.0</min>
    <max>150.0</max>
    <stdDev>0.0</stdDev>
    <sampledValue>118.0</sampledValue>
    <sum>118.0</sum>
</duration>"#;
        let v = xml(doc);
        let d = v.get("duration").cloned().unwrap_or(Value::Null);
        assert_eq!(d.get("value"), Some(&s("118.0")));
        assert_eq!(d.get("min"), Some(&s("100.0")));
        assert_eq!(d.get("sum"), Some(&s("118.0")));
    }

    #[test]
    fn windows_event_data_as_rules_read_it() {
        let doc = r#"<DataItem type="System.XmlData" time="2021-01-01T00:00:00Z"><EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><Data Name="RuleName">-</Data><Data Name="Image">C:\Windows\cmd.exe</Data><Data Name="Empty"/></EventData></DataItem>"#;
        let v = xml(doc);
        let data = v
            .get("DataItem")
            .and_then(|d| d.get("EventData"))
            .and_then(|d| d.get("Data"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(
            data,
            Value::array(vec![
                obj(vec![("@Name", s("RuleName")), ("#text", s("-"))]),
                obj(vec![
                    ("@Name", s("Image")),
                    ("#text", s(r"C:\Windows\cmd.exe"))
                ]),
                obj(vec![("@Name", s("Empty"))]),
            ])
        );
        assert_eq!(
            v.get("DataItem").and_then(|d| d.get("@type")),
            Some(&s("System.XmlData"))
        );
    }

    #[test]
    fn entities_cdata_comments_and_prefixes() {
        assert_eq!(
            xml("<a x='1 &lt; 2'>&amp;&#65;&#x42;<!-- no --></a>"),
            obj(vec![(
                "a",
                obj(vec![("@x", s("1 < 2")), ("#text", s("&AB"))])
            )])
        );
        assert_eq!(xml("<a><![CDATA[<b>]]></a>"), obj(vec![("a", s("<b>"))]));
        assert_eq!(
            xml("<!DOCTYPE a [<!ENTITY x 'y'>]><ns:a>t</ns:a>"),
            obj(vec![("ns:a", s("t"))])
        );
        // Two pieces of text around an element.
        assert_eq!(
            xml("<a>x<b/>y</a>"),
            obj(vec![(
                "a",
                obj(vec![
                    ("#text", Value::array(vec![s("x"), s("y")])),
                    ("b", Value::Null)
                ])
            )])
        );
    }

    #[test]
    fn invalid_xml_is_null() {
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a><b></a></b>",
            "<a/><b/>",
            "<a x=1/>",
            "<a x='1' x='2'/>",
            "<a>&bogus;</a>",
            "<a>&#xZZ;</a>",
            "<a/>trailing",
            "<1a/>",
            "<a",
        ] {
            assert_eq!(xml(bad), Value::Null, "{bad:?}");
        }
        assert_eq!(f_parse_xml(&[Value::Null]), Value::Null);
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(xml(&deep), Value::Null);
        let long = format!("<a>{}</a>", "x".repeat(MAX_INPUT));
        assert_eq!(xml(&long), Value::Null);
    }
}
