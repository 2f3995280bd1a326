//! `externaldata`, offline: kqlflow reads no storage, so each URL a query names is mapped to a
//! local file (`--externaldata URL=FILE`), read when the query is bound into constant rows of
//! the columns the query declares (as `datatable`'s are, in both engines).

use std::path::Path;

use crate::model::{Row, Type, Value, from_json, parse_json};

use super::ir::cast;

/// How an `externaldata` file is laid out: Kusto's `format` property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalFormat {
    /// Delimited text, one record a line, columns by position (`csv`, `tsv`, `psv`, `scsv`).
    Delimited(u8),
    /// One column, each line a record (`txt`, `raw`).
    Lines,
    /// JSON: a sequence of objects (or arrays of objects), columns by name (`json`,
    /// `multijson`, `singlejson`).
    Json,
}

impl ExternalFormat {
    /// The format a `format` property names (`None` for a format kqlflow does not read).
    pub fn parse(name: &str) -> Option<ExternalFormat> {
        Some(match name.to_ascii_lowercase().as_str() {
            "csv" => ExternalFormat::Delimited(b','),
            "tsv" | "tsve" => ExternalFormat::Delimited(b'\t'),
            "psv" => ExternalFormat::Delimited(b'|'),
            "scsv" => ExternalFormat::Delimited(b';'),
            "sohsv" => ExternalFormat::Delimited(0x01),
            "txt" | "raw" => ExternalFormat::Lines,
            "json" | "multijson" | "singlejson" => ExternalFormat::Json,
            _ => return None,
        })
    }
}

/// The typed value of a text cell: parsed as JSON for a dynamic column, converted with
/// Kusto's conversion functions otherwise (a cell that does not convert is null).
fn cell(text: &str, ty: Type) -> Value {
    match ty {
        Type::String => Value::str(text),
        _ if text.is_empty() => Value::Null,
        Type::Dynamic => parse_json(&Value::str(text)),
        _ => cast(&Value::str(text), ty),
    }
}

/// Reads `path` as `format` into rows of `columns` (name, type): delimited records by
/// position (`skip_first` drops a header record), JSON objects by column name.
pub fn read_external(
    path: &Path,
    columns: &[(String, Type)],
    format: ExternalFormat,
    skip_first: bool,
) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut rows = Vec::new();
    match format {
        ExternalFormat::Lines => {
            for line in text.lines().skip(usize::from(skip_first)) {
                let mut row: Row = columns.iter().map(|(_, ty)| cell("", *ty)).collect();
                if let Some((_, ty)) = columns.first() {
                    row[0] = cell(line.trim_end_matches('\r'), *ty);
                }
                rows.push(row);
            }
        }
        ExternalFormat::Delimited(d) => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(d)
                .from_reader(text.as_bytes());
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
                if i == 0 && skip_first {
                    continue;
                }
                rows.push(
                    columns
                        .iter()
                        .enumerate()
                        .map(|(j, (_, ty))| cell(rec.get(j).unwrap_or(""), *ty))
                        .collect(),
                );
            }
        }
        ExternalFormat::Json => {
            let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
            let mut push = |obj: &serde_json::Map<String, serde_json::Value>| {
                rows.push(
                    columns
                        .iter()
                        .map(|(name, ty)| match obj.get(name) {
                            None => cell("", *ty),
                            Some(serde_json::Value::String(s)) => cell(s, *ty),
                            Some(v) => cast(&from_json(v), *ty),
                        })
                        .collect(),
                );
            };
            for v in stream {
                match v.map_err(|e| format!("{}: {e}", path.display()))? {
                    serde_json::Value::Object(o) => push(&o),
                    serde_json::Value::Array(items) => {
                        for it in &items {
                            if let serde_json::Value::Object(o) = it {
                                push(o);
                            }
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{}: a JSON value that is not an object",
                            path.display()
                        ));
                    }
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn csv_by_position_and_json_by_name() {
        let cols = vec![
            ("Name".to_string(), Type::String),
            ("N".to_string(), Type::Long),
            ("D".to_string(), Type::Dynamic),
        ];
        let f = file("Name,N,D\na,1,\"[1,2]\"\nb,x\n");
        let rows = read_external(f.path(), &cols, ExternalFormat::Delimited(b','), true).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][0], Value::str("a"));
        assert_eq!(rows[0][1], Value::Long(1));
        assert_eq!(
            rows[0][2],
            Value::array(vec![Value::Long(1), Value::Long(2)])
        );
        assert_eq!(rows[1][1], Value::Null);
        let f = file("{\"Name\":\"a\",\"N\":2,\"D\":{\"k\":1}}\n[{\"Name\":\"b\"}]");
        let rows = read_external(f.path(), &cols, ExternalFormat::Json, false).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1], Value::Long(2));
        assert_eq!(rows[0][2].get("k"), Some(&Value::Long(1)));
        assert_eq!(rows[1][0], Value::str("b"));
        assert_eq!(rows[1][2], Value::Null);
        let f = file("x\ny\n");
        let rows = read_external(f.path(), &cols[..1], ExternalFormat::Lines, false).unwrap();
        assert_eq!(rows, vec![vec![Value::str("x")], vec![Value::str("y")]]);
        assert!(
            read_external(
                Path::new("/nonexistent/x"),
                &cols,
                ExternalFormat::Json,
                false
            )
            .is_err()
        );
    }
}
