//! [`ParseError`]: a syntax error with the span it is about.

use std::fmt;

use super::span::{LineCol, LineIndex, Span};

/// A syntax error in KQL text: what is wrong (`message`) and where (`span`, byte offsets into
/// the text that was parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The bytes the error is about; empty at the end of the input.
    pub span: Span,
    /// What is wrong, naming the offending token and, where possible, what to write instead.
    pub message: String,
}

impl ParseError {
    /// An error about `span`.
    pub fn new(span: Span, message: impl Into<String>) -> ParseError {
        ParseError {
            span,
            message: message.into(),
        }
    }

    /// The 1-based line and column where the error starts in `src`, the text that was parsed.
    pub fn line_col(&self, src: &str) -> LineCol {
        LineIndex::new(src).line_col(src, self.span.start)
    }

    /// A multi-line report: `origin:line:column: error: message`, the offending source line and
    /// a caret line under the span. `origin` names the text (a file name, or `"<query>"`).
    pub fn render(&self, src: &str, origin: &str) -> String {
        let index = LineIndex::new(src);
        let at = index.line_col(src, self.span.start);
        let text = index.line_text(src, at.line);
        let end = index.line_col(src, self.span.end);
        let width = if end.line == at.line && end.column > at.column {
            end.column - at.column
        } else {
            1
        };
        let gutter = at.line.to_string();
        let pad = " ".repeat(gutter.len());
        let marker_pad: String = text
            .chars()
            .take(at.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{origin}:{at}: error: {msg}\n{pad} |\n{gutter} | {text}\n{pad} | {marker_pad}{carets}",
            msg = self.message,
            carets = "^".repeat(width)
        )
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_caret_under_the_span() {
        let src = "T\n| where x ==\n";
        let e = ParseError::new(Span::new(10, 12), "expected an expression after '=='");
        assert_eq!(e.line_col(src).to_string(), "2:9");
        let r = e.render(src, "q.kql");
        assert_eq!(
            r,
            "q.kql:2:9: error: expected an expression after '=='\n  |\n2 | | where x ==\n  |         ^^"
        );
    }
}
