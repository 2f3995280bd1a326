//! The KQL lexer: turns query text into [`Token`]s with byte spans.
//!
//! Keywords are not tokens of their own: KQL's keywords are contextual (`by`, `on`, `kind` are
//! also fine column names), so every identifier-like word is a [`TokenKind::Word`] and the
//! parser decides by position. Three word shapes are lexed whole because they cannot be split
//! sensibly: `$left`/`$right`, negated operators such as `!has` and `!in~`, and `in~`.
//!
//! Literals whose text is not made of KQL tokens are lexed whole from their raw text:
//! `datetime(2021-01-01T10:00:00Z)`, `time(1.02:03:04)`/`timespan(…)` and `guid(…)`.
//! `dynamic(…)` is not: its contents are ordinary tokens that the parser reads.

use super::error::ParseError;
use super::span::Span;
use crate::model::{parse_datetime, parse_timespan, parse_timespan_literal};

/// What a [`Token`] is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// An identifier or keyword, including `$left`, `in~`, and negated operator words such as
    /// `!has` and `!in~`; its text is the token's span of the source.
    Word,
    /// A string literal, already decoded (escapes resolved, quotes removed).
    Str(String),
    /// An integer literal (a `long`).
    Long(i64),
    /// A real literal (`1.5`, `1e3`).
    Real(f64),
    /// A timespan: `5m`, `1.5h`, `time(1d)`, `timespan(null)`; in 100 ns ticks, `None` for null.
    TimeSpan(Option<i64>),
    /// A datetime literal `datetime(…)`, in ticks since the Unix epoch; `None` for
    /// `datetime(null)`.
    DateTime(Option<i64>),
    /// A guid literal `guid(…)`, its raw text (kqlflow holds guids as strings).
    Guid(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// `|`
    Pipe,
    /// `=`
    Assign,
    /// `==`
    EqEq,
    /// `!=` or `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=~`
    EqTilde,
    /// `!~`
    NotTilde,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// The end of the input (an empty span at its end).
    Eof,
}

/// One token: its kind and the bytes of the source it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where it is in the source.
    pub span: Span,
}

/// Splits `src` into tokens, skipping whitespace and `//` comments. The last token is always
/// [`TokenKind::Eof`]. Fails on the first character or literal that is not KQL, saying why.
pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        src,
        b: src.as_bytes(),
        i: 0,
        out: Vec::with_capacity(src.len() / 4 + 1),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    out: Vec<Token>,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// The text of a datetime literal's body without the quotes around it, when it is quoted as a
/// string (`'…'` or `"…"`, the same quote at both ends); otherwise the body as it is.
fn unquote(raw: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = raw.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    raw
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Lexer<'a> {
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.out.push(Token {
            kind,
            span: Span::new(start, self.i),
        });
    }

    fn err(&self, start: usize, end: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(Span::new(start, end), msg)
    }

    fn run(&mut self) -> Result<(), ParseError> {
        while self.i < self.b.len() {
            let c = self.b[self.i];
            let start = self.i;
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | 0x0c | 0x0b => self.i += 1,
                b'/' if self.at(self.i + 1) == b'/' => {
                    self.i = memchr::memchr(b'\n', &self.b[self.i..])
                        .map_or(self.b.len(), |n| self.i + n);
                }
                b'\'' | b'"' => {
                    let s = self.quoted(start, self.i)?;
                    self.push(TokenKind::Str(s), start);
                }
                b'@' if matches!(self.at(self.i + 1), b'\'' | b'"') => {
                    let s = self.verbatim(start, self.i + 1)?;
                    self.push(TokenKind::Str(s), start);
                }
                b'`' if self.src[self.i..].starts_with("```") => {
                    let s = self.fenced(start)?;
                    self.push(TokenKind::Str(s), start);
                }
                b'0'..=b'9' => self.number(start)?,
                b'$' if is_word_start(self.at(self.i + 1)) => {
                    self.i += 1;
                    self.word_chars();
                    self.push(TokenKind::Word, start);
                }
                b'!' => match self.at(self.i + 1) {
                    b'=' => {
                        self.i += 2;
                        self.push(TokenKind::NotEq, start);
                    }
                    b'~' => {
                        self.i += 2;
                        self.push(TokenKind::NotTilde, start);
                    }
                    c2 if is_word_start(c2) => {
                        self.i += 1;
                        self.word_chars();
                        if self.src[start..self.i] == *"!in" && self.at(self.i) == b'~' {
                            self.i += 1;
                        }
                        self.push(TokenKind::Word, start);
                    }
                    _ => {
                        return Err(self.err(
                            start,
                            start + 1,
                            "unexpected '!': KQL negates with `not(…)`, `!=`, `!~` or a negated \
                             operator such as `!has`, `!in` or `!contains`",
                        ));
                    }
                },
                c if is_word_start(c) => self.word(start)?,
                _ => self.punct(start)?,
            }
        }
        self.out.push(Token {
            kind: TokenKind::Eof,
            span: Span::new(self.b.len(), self.b.len()),
        });
        Ok(())
    }

    fn word_chars(&mut self) {
        while is_word_char(self.at(self.i)) {
            self.i += 1;
        }
    }

    /// The index of the first non-blank byte at or after `i` on the same line.
    fn skip_blanks(&self, mut i: usize) -> usize {
        while matches!(self.at(i), b' ' | b'\t') {
            i += 1;
        }
        i
    }

    fn word(&mut self, start: usize) -> Result<(), ParseError> {
        self.word_chars();
        let w = &self.src[start..self.i];
        // Obfuscated strings: h'…', h"…", h@'…' (and H).
        if w == "h" || w == "H" {
            match self.at(self.i) {
                b'\'' | b'"' => {
                    let s = self.quoted(start, self.i)?;
                    self.push(TokenKind::Str(s), start);
                    return Ok(());
                }
                b'@' if matches!(self.at(self.i + 1), b'\'' | b'"') => {
                    let s = self.verbatim(start, self.i + 1)?;
                    self.push(TokenKind::Str(s), start);
                    return Ok(());
                }
                _ => {}
            }
        }
        if w == "in" && self.at(self.i) == b'~' {
            self.i += 1;
            self.push(TokenKind::Word, start);
            return Ok(());
        }
        if matches!(w, "datetime" | "time" | "timespan" | "guid") {
            let open = self.skip_blanks(self.i);
            if self.at(open) == b'(' {
                return self.raw_literal(start, open);
            }
        }
        self.push(TokenKind::Word, start);
        Ok(())
    }

    /// `datetime(…)`, `time(…)`, `timespan(…)`, `guid(…)` with the raw text up to `)`.
    fn raw_literal(&mut self, start: usize, open: usize) -> Result<(), ParseError> {
        let kw = &self.src[start..self.i];
        let body_start = open + 1;
        let close = self.b[body_start..]
            .iter()
            .position(|&c| c == b')' || c == b'\n')
            .map(|n| body_start + n);
        let close = match close {
            Some(c) if self.b[c] == b')' => c,
            _ => {
                return Err(self.err(
                    start,
                    open + 1,
                    format!("unterminated {kw}(…) literal: expected ')' on the same line"),
                ));
            }
        };
        let raw = self.src[body_start..close].trim();
        self.i = close + 1;
        let bad = |what: &str, example: &str| {
            ParseError::new(
                Span::new(start, close + 1),
                format!("invalid {what} literal {kw}({raw}): expected for example {example}"),
            )
        };
        let kind = match kw {
            "datetime" => {
                if raw == "null" {
                    TokenKind::DateTime(None)
                } else {
                    // Kusto also takes the text as a string literal, in either quotes:
                    // `datetime('2019-01-20T10:02:51.000')`, `datetime("2019-01-18T10:36:07Z")`.
                    match parse_datetime(unquote(raw)) {
                        Some(t) => TokenKind::DateTime(Some(t)),
                        None => {
                            return Err(bad(
                                "datetime",
                                "datetime(2021-01-01) or datetime(2021-01-01T10:00:00Z)",
                            ));
                        }
                    }
                }
            }
            "guid" => {
                if raw.is_empty() {
                    return Err(bad("guid", "guid(74be27de-1e4e-49d9-b579-fe0b331d3642)"));
                }
                TokenKind::Guid(raw.to_string())
            }
            _ => {
                if raw == "null" {
                    TokenKind::TimeSpan(None)
                } else {
                    match parse_timespan(raw) {
                        Some(t) => TokenKind::TimeSpan(Some(t)),
                        None => {
                            return Err(bad("timespan", "time(1d), time(90m) or time(1.02:03:04)"));
                        }
                    }
                }
            }
        };
        self.push(kind, start);
        Ok(())
    }

    /// A '…' or "…" string with backslash escapes; `q` is the index of the opening quote.
    fn quoted(&mut self, start: usize, q: usize) -> Result<String, ParseError> {
        let quote = self.b[q];
        let mut i = q + 1;
        let mut out = String::new();
        let mut seg = i;
        loop {
            let Some(&c) = self.b.get(i) else {
                return Err(self.err(
                    start,
                    self.b.len(),
                    "unterminated string literal: the input ends before the closing quote",
                ));
            };
            if c == quote {
                out.push_str(&self.src[seg..i]);
                self.i = i + 1;
                return Ok(out);
            }
            match c {
                b'\n' => {
                    return Err(self.err(
                        start,
                        i,
                        "unterminated string literal: a quoted string cannot span lines (use \
                         ```…``` for a multi-line string, or adjacent literals)",
                    ));
                }
                b'\\' if i + 1 >= self.b.len() => {
                    return Err(self.err(
                        start,
                        self.b.len(),
                        "unterminated string literal: the input ends after a backslash",
                    ));
                }
                b'\\' => {
                    out.push_str(&self.src[seg..i]);
                    let e = self.at(i + 1);
                    let (ch, len) = match e {
                        b'\\' => ('\\', 2),
                        b'\'' => ('\'', 2),
                        b'"' => ('"', 2),
                        b'n' => ('\n', 2),
                        b't' => ('\t', 2),
                        b'r' => ('\r', 2),
                        b'0' => ('\0', 2),
                        b'u' => {
                            let hex = self.src.get(i + 2..i + 6).unwrap_or("");
                            match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) if hex.len() == 4 => (ch, 6),
                                _ => {
                                    return Err(self.err(
                                        i,
                                        (i + 2).min(self.b.len()),
                                        "invalid \\u escape: expected four hex digits naming a \
                                         character, as in \\u00e9",
                                    ));
                                }
                            }
                        }
                        _ => {
                            let shown = self.src[i + 1..].chars().next().unwrap_or(' ');
                            return Err(self.err(
                                i,
                                i + 1 + shown.len_utf8().min(self.b.len() - i - 1),
                                format!(
                                    "unknown escape sequence '\\{shown}' in a string literal; \
                                     write '\\\\' for a backslash, or use a verbatim string \
                                     @'…' (as for regular expressions)"
                                ),
                            ));
                        }
                    };
                    out.push(ch);
                    i += len;
                    seg = i;
                }
                _ => i += 1,
            }
        }
    }

    /// A verbatim @'…' or @"…" string (no escapes; a doubled quote stands for one quote); `q`
    /// is the index of the opening quote.
    fn verbatim(&mut self, start: usize, q: usize) -> Result<String, ParseError> {
        let quote = self.b[q];
        let mut i = q + 1;
        let mut out = String::new();
        let mut seg = i;
        loop {
            match self.b.get(i) {
                None => {
                    return Err(self.err(
                        start,
                        self.b.len(),
                        "unterminated verbatim string literal: the input ends before the closing \
                         quote",
                    ));
                }
                Some(b'\n') => {
                    return Err(self.err(
                        start,
                        i,
                        "unterminated verbatim string literal: a quoted string cannot span lines",
                    ));
                }
                Some(&c) if c == quote => {
                    out.push_str(&self.src[seg..i]);
                    if self.at(i + 1) == quote {
                        out.push(quote as char);
                        i += 2;
                        seg = i;
                    } else {
                        self.i = i + 1;
                        return Ok(out);
                    }
                }
                Some(_) => i += 1,
            }
        }
    }

    /// A multi-line string fenced by three backticks.
    fn fenced(&mut self, start: usize) -> Result<String, ParseError> {
        let body = start + 3;
        match self.src[body..].find("```") {
            Some(n) => {
                self.i = body + n + 3;
                Ok(self.src[body..body + n].to_string())
            }
            None => Err(self.err(
                start,
                body,
                "unterminated multi-line string literal: no closing ```",
            )),
        }
    }

    fn number(&mut self, start: usize) -> Result<(), ParseError> {
        let b = self.b;
        if b[start] == b'0' && matches!(self.at(start + 1), b'x' | b'X') {
            let mut i = start + 2;
            while self.at(i).is_ascii_hexdigit() {
                i += 1;
            }
            let digits = &self.src[start + 2..i];
            self.i = i;
            if digits.is_empty() || is_word_char(self.at(i)) {
                self.word_chars();
                return Err(self.err(
                    start,
                    self.i,
                    format!("invalid hexadecimal literal '{}'", &self.src[start..self.i]),
                ));
            }
            return match u64::from_str_radix(digits, 16) {
                Ok(v) => {
                    self.push(TokenKind::Long(v as i64), start);
                    Ok(())
                }
                Err(_) => Err(self.err(
                    start,
                    i,
                    format!(
                        "hexadecimal literal '{}' does not fit in a long",
                        &self.src[start..i]
                    ),
                )),
            };
        }
        let mut i = start;
        while self.at(i).is_ascii_digit() {
            i += 1;
        }
        let mut real = false;
        if self.at(i) == b'.' && self.at(i + 1).is_ascii_digit() {
            real = true;
            i += 1;
            while self.at(i).is_ascii_digit() {
                i += 1;
            }
        }
        if matches!(self.at(i), b'e' | b'E') {
            let mut j = i + 1;
            if matches!(self.at(j), b'+' | b'-') {
                j += 1;
            }
            if self.at(j).is_ascii_digit() {
                real = true;
                i = j;
                while self.at(i).is_ascii_digit() {
                    i += 1;
                }
            }
        }
        if is_word_char(self.at(i)) {
            // A timespan such as 5m, 1.5h, 100ms, 20min.
            self.i = i;
            self.word_chars();
            let text = &self.src[start..self.i];
            return match parse_timespan_literal(text) {
                Some(t) => {
                    self.push(TokenKind::TimeSpan(Some(t)), start);
                    Ok(())
                }
                None => Err(self.err(
                    start,
                    self.i,
                    format!(
                        "invalid number or timespan literal '{text}': a timespan is a number \
                         followed by d, h, m, s, ms, microsecond or tick (as in 5m or 1.5h)"
                    ),
                )),
            };
        }
        self.i = i;
        let text = &self.src[start..i];
        if real {
            match text.parse::<f64>() {
                Ok(v) => self.push(TokenKind::Real(v), start),
                Err(_) => {
                    return Err(self.err(start, i, format!("invalid real literal '{text}'")));
                }
            }
        } else {
            match text.parse::<i64>() {
                Ok(v) => self.push(TokenKind::Long(v), start),
                Err(_) => {
                    return Err(self.err(
                        start,
                        i,
                        format!("integer literal '{text}' does not fit in a long (64-bit)"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn punct(&mut self, start: usize) -> Result<(), ParseError> {
        let c = self.b[start];
        let n = self.at(start + 1);
        let (kind, len) = match (c, n) {
            (b'(', _) => (TokenKind::LParen, 1),
            (b')', _) => (TokenKind::RParen, 1),
            (b'[', _) => (TokenKind::LBracket, 1),
            (b']', _) => (TokenKind::RBracket, 1),
            (b'{', _) => (TokenKind::LBrace, 1),
            (b'}', _) => (TokenKind::RBrace, 1),
            (b',', _) => (TokenKind::Comma, 1),
            (b';', _) => (TokenKind::Semi, 1),
            (b':', _) => (TokenKind::Colon, 1),
            (b'.', b'.') => (TokenKind::DotDot, 2),
            (b'.', _) => (TokenKind::Dot, 1),
            (b'|', _) => (TokenKind::Pipe, 1),
            (b'=', b'=') => (TokenKind::EqEq, 2),
            (b'=', b'~') => (TokenKind::EqTilde, 2),
            (b'=', _) => (TokenKind::Assign, 1),
            (b'<', b'=') => (TokenKind::Le, 2),
            (b'<', b'>') => (TokenKind::NotEq, 2),
            (b'<', _) => (TokenKind::Lt, 1),
            (b'>', b'=') => (TokenKind::Ge, 2),
            (b'>', _) => (TokenKind::Gt, 1),
            (b'+', _) => (TokenKind::Plus, 1),
            (b'-', _) => (TokenKind::Minus, 1),
            (b'*', _) => (TokenKind::Star, 1),
            (b'/', _) => (TokenKind::Slash, 1),
            (b'%', _) => (TokenKind::Percent, 1),
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('?');
                let hint = match ch {
                    '&' => " (KQL writes logical and as `and`)",
                    '^' => " (KQL has no '^' operator; see `pow()` and `binary_xor()`)",
                    '#' => " (comments start with //)",
                    '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}' => {
                        " (a typographic quote: use ' or \")"
                    }
                    _ => "",
                };
                return Err(self.err(
                    start,
                    start + ch.len_utf8(),
                    format!("unexpected character '{ch}'{hint}"),
                ));
            }
        };
        self.i = start + len;
        self.push(kind, start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TICKS_PER_HOUR, TICKS_PER_MILLI, TICKS_PER_MINUTE, TICKS_PER_SECOND};

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .filter(|k| *k != TokenKind::Eof)
            .collect()
    }

    fn words(src: &str) -> Vec<&str> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| &src[t.span.start..t.span.end])
            .collect()
    }

    fn err(src: &str) -> ParseError {
        tokenize(src).unwrap_err()
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            kinds(r#"'a\'b' "c\"d\\e\n" @'x\d' @"q""r" h'secret' H@"v""#),
            vec![
                TokenKind::Str("a'b".into()),
                TokenKind::Str("c\"d\\e\n".into()),
                TokenKind::Str("x\\d".into()),
                TokenKind::Str("q\"r".into()),
                TokenKind::Str("secret".into()),
                TokenKind::Str("v".into()),
            ]
        );
        assert_eq!(kinds(r"'\u00e9'"), vec![TokenKind::Str("é".into())]);
        assert_eq!(
            kinds("```line1\nline2```"),
            vec![TokenKind::Str("line1\nline2".into())]
        );
        assert_eq!(
            kinds("'{{StartTimeISO}}'"),
            vec![TokenKind::Str("{{StartTimeISO}}".into())]
        );
        assert_eq!(
            kinds("'é // no comment'"),
            vec![TokenKind::Str("é // no comment".into())]
        );
    }

    #[test]
    fn string_errors() {
        let e = err("x == 'abc");
        assert_eq!(e.span.start, 5);
        assert!(e.message.contains("unterminated string"), "{}", e.message);
        let e = err("'abc\ndef'");
        assert!(e.message.contains("cannot span lines"), "{}", e.message);
        let e = err(r"'a\d'");
        assert_eq!(e.span, Span::new(2, 4));
        assert!(
            e.message.contains("unknown escape sequence '\\d'"),
            "{}",
            e.message
        );
        assert!(err("@'abc").message.contains("unterminated verbatim"));
        assert!(err("```abc").message.contains("unterminated multi-line"));
        assert!(err(r"'\u12'").message.contains("\\u escape"));
    }

    #[test]
    fn numbers_and_timespans() {
        assert_eq!(
            kinds("1 42 1.5 1e3 2.5E-2 0x1F"),
            vec![
                TokenKind::Long(1),
                TokenKind::Long(42),
                TokenKind::Real(1.5),
                TokenKind::Real(1000.0),
                TokenKind::Real(0.025),
                TokenKind::Long(31),
            ]
        );
        assert_eq!(
            kinds("1d 5m 30s 100ms 1h 1.5h 20min 2tick"),
            vec![
                TokenKind::TimeSpan(Some(24 * TICKS_PER_HOUR)),
                TokenKind::TimeSpan(Some(5 * TICKS_PER_MINUTE)),
                TokenKind::TimeSpan(Some(30 * TICKS_PER_SECOND)),
                TokenKind::TimeSpan(Some(100 * TICKS_PER_MILLI)),
                TokenKind::TimeSpan(Some(TICKS_PER_HOUR)),
                TokenKind::TimeSpan(Some(TICKS_PER_HOUR * 3 / 2)),
                TokenKind::TimeSpan(Some(20 * TICKS_PER_MINUTE)),
                TokenKind::TimeSpan(Some(2)),
            ]
        );
        // `..` after an integer is a range, not a decimal point.
        assert_eq!(
            kinds("1..5"),
            vec![TokenKind::Long(1), TokenKind::DotDot, TokenKind::Long(5)]
        );
        assert!(
            err("12abc")
                .message
                .contains("invalid number or timespan literal '12abc'")
        );
        assert!(
            err("99999999999999999999")
                .message
                .contains("does not fit in a long")
        );
        assert!(err("0x").message.contains("invalid hexadecimal"));
    }

    #[test]
    fn raw_literals() {
        assert_eq!(
            kinds(
                "datetime(2021-01-01) datetime(null) time(1d) timespan ( 1.02:00:00 ) guid(ab-cd)"
            ),
            vec![
                TokenKind::DateTime(Some(1_609_459_200 * TICKS_PER_SECOND)),
                TokenKind::DateTime(None),
                TokenKind::TimeSpan(Some(24 * TICKS_PER_HOUR)),
                TokenKind::TimeSpan(Some(26 * TICKS_PER_HOUR)),
                TokenKind::Guid("ab-cd".into()),
            ]
        );
        assert_eq!(
            kinds("datetime(2021-01-01T10:00:00Z)"),
            vec![TokenKind::DateTime(Some(
                1_609_459_200 * TICKS_PER_SECOND + 10 * TICKS_PER_HOUR
            ))]
        );
        // The body quoted as a string, as public rules write it, with or without Z and with
        // fractional seconds: the same instant as unquoted (UTC either way).
        let t = 1_548_115_371 * TICKS_PER_SECOND;
        assert_eq!(
            kinds("datetime('2019-01-22T00:02:51.000') datetime(\"2019-01-22T00:02:51Z\")"),
            vec![TokenKind::DateTime(Some(t)), TokenKind::DateTime(Some(t))]
        );
        assert_eq!(
            kinds("datetime('2019-01-22 00:02:51.1234567')"),
            vec![TokenKind::DateTime(Some(t + 1_234_567))]
        );
        assert_eq!(
            kinds("datetime('2019-01-22')"),
            kinds("datetime(2019-01-22)")
        );
        assert!(
            err("datetime('2019-01-22\")")
                .message
                .contains("invalid datetime literal")
        );
        assert!(
            err("datetime('')")
                .message
                .contains("invalid datetime literal")
        );
        // Not followed by '(' it is a word (a type name).
        assert_eq!(
            words("typeof(datetime) x:timespan"),
            vec!["typeof", "datetime", "x", "timespan"]
        );
        let e = err("datetime(2021-13-45)");
        assert!(
            e.message
                .contains("invalid datetime literal datetime(2021-13-45)"),
            "{}",
            e.message
        );
        assert_eq!(e.span, Span::new(0, 20));
        assert!(
            err("datetime(2021")
                .message
                .contains("unterminated datetime")
        );
    }

    #[test]
    fn words_and_operators() {
        assert_eq!(
            words("$left.a !in~ b in~ c !has d !contains_cs e in f !between"),
            vec![
                "$left",
                "a",
                "!in~",
                "b",
                "in~",
                "c",
                "!has",
                "d",
                "!contains_cs",
                "e",
                "in",
                "f",
                "!between"
            ]
        );
        assert_eq!(
            kinds("== != <> < <= > >= =~ !~ = + - * / % .. . | ; : , ( ) [ ] { }"),
            vec![
                TokenKind::EqEq,
                TokenKind::NotEq,
                TokenKind::NotEq,
                TokenKind::Lt,
                TokenKind::Le,
                TokenKind::Gt,
                TokenKind::Ge,
                TokenKind::EqTilde,
                TokenKind::NotTilde,
                TokenKind::Assign,
                TokenKind::Plus,
                TokenKind::Minus,
                TokenKind::Star,
                TokenKind::Slash,
                TokenKind::Percent,
                TokenKind::DotDot,
                TokenKind::Dot,
                TokenKind::Pipe,
                TokenKind::Semi,
                TokenKind::Colon,
                TokenKind::Comma,
                TokenKind::LParen,
                TokenKind::RParen,
                TokenKind::LBracket,
                TokenKind::RBracket,
                TokenKind::LBrace,
                TokenKind::RBrace,
            ]
        );
        // `project-away` is three tokens; the parser joins them.
        assert_eq!(
            kinds("project-away"),
            vec![TokenKind::Word, TokenKind::Minus, TokenKind::Word]
        );
    }

    #[test]
    fn comments_and_spans() {
        let toks = tokenize("T // comment | where\n| take 1 // end").unwrap();
        let spans: Vec<_> = toks.iter().map(|t| t.span).collect();
        assert_eq!(
            spans,
            vec![
                Span::new(0, 1),
                Span::new(21, 22),
                Span::new(23, 27),
                Span::new(28, 29),
                Span::new(36, 36)
            ]
        );
        assert_eq!(tokenize("").unwrap().len(), 1);
    }

    #[test]
    fn unexpected_characters() {
        let e = err("a && b");
        assert_eq!(e.span, Span::new(2, 3));
        assert!(e.message.contains("`and`"), "{}", e.message);
        let e = err("x == \u{201c}a\u{201d}");
        assert!(e.message.contains("typographic quote"), "{}", e.message);
        assert!(err("!").message.contains("unexpected '!'"));
        assert!(err("€").message.contains("unexpected character '€'"));
    }
}
