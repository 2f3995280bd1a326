//! Source positions: byte-offset [`Span`]s and their 1-based line:column form.

use std::fmt;

/// A half-open byte range `[start, end)` into the query text that a token or AST node covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `[start, end)`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The number of bytes covered.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the span covers no bytes (for example the end-of-input position).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The text the span covers in `src`, or `""` when the span is not a valid range of `src`.
    pub fn text(self, src: &str) -> &str {
        src.get(self.start..self.end).unwrap_or("")
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A 1-based line and column. The column counts characters (Unicode scalar values), not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineCol {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Maps byte offsets of one text to [`LineCol`]s in O(log lines) each, after an O(n) scan.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Byte offset at which each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `src`. Lines end at `\n` (a preceding `\r` stays part of the
    /// line's text but never matters for columns of earlier characters).
    pub fn new(src: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', src.as_bytes()).map(|i| i + 1));
        LineIndex { line_starts }
    }

    /// The line and column of byte `offset` in `src` (the text this index was built from).
    /// Offsets past the end map to the end; an offset inside a multi-byte character maps to
    /// that character.
    pub fn line_col(&self, src: &str, offset: usize) -> LineCol {
        let offset = offset.min(src.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let mut end = offset;
        while end > start && !src.is_char_boundary(end) {
            end -= 1;
        }
        let column = src.get(start..end).map_or(0, |s| s.chars().count()) + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }

    /// The text of 1-based line `line` without its line terminator, or `""` past the end.
    pub fn line_text<'s>(&self, src: &'s str, line: usize) -> &'s str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map_or(src.len(), |&next| next.saturating_sub(1));
        src.get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\r', '\n'])
    }
}

/// The 1-based line and column of byte `offset` in `src`. For many lookups in one text build a
/// [`LineIndex`] instead.
pub fn line_col(src: &str, offset: usize) -> LineCol {
    LineIndex::new(src).line_col(src, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_to_line_and_column() {
        let src = "ab\ncdé\n\nx";
        assert_eq!(line_col(src, 0), LineCol { line: 1, column: 1 });
        assert_eq!(line_col(src, 2), LineCol { line: 1, column: 3 });
        assert_eq!(line_col(src, 3), LineCol { line: 2, column: 1 });
        // 'é' is two bytes: the character after it is column 4.
        assert_eq!(line_col(src, 7), LineCol { line: 2, column: 4 });
        // Inside the 'é' maps to the 'é'.
        assert_eq!(line_col(src, 6), LineCol { line: 2, column: 3 });
        assert_eq!(line_col(src, 8), LineCol { line: 3, column: 1 });
        assert_eq!(line_col(src, 9), LineCol { line: 4, column: 1 });
        assert_eq!(line_col(src, 100), LineCol { line: 4, column: 2 });
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_text(src, 2), "cdé");
        assert_eq!(idx.line_text(src, 3), "");
        assert_eq!(idx.line_text(src, 4), "x");
        assert_eq!(idx.line_text(src, 5), "");
        assert_eq!(idx.line_text(src, 0), "");
    }
}
