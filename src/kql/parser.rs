//! The recursive-descent parser for statements and expressions (a Pratt parser for binary
//! operators). Tabular operators are in `operators.rs`.
//!
//! Two limits keep every input safe: recursion is bounded by [`MAX_DEPTH`] nesting levels, and
//! the height of every expression tree (including trees built by loops, such as `a + b + c …`)
//! is bounded by [`MAX_HEIGHT`], so that no later recursive pass over the AST (printing,
//! binding, dropping) can overflow the stack. `and`/`or` chains are flattened and do not count
//! against the height.

use super::ast::*;
use super::error::ParseError;
use super::lexer::{Token, TokenKind, tokenize};
use super::span::Span;
use crate::model::{Type, Value};

/// How deeply constructs may nest (parentheses, calls, unary operators, function bodies,
/// `mv-apply` subqueries, `dynamic` literals) before the parser gives up with an error.
pub const MAX_DEPTH: usize = 256;

/// The greatest height of an expression tree the parser builds.
pub const MAX_HEIGHT: u32 = 512;

/// Results inside the parser carry a boxed error: a pointer keeps every `Result` small, and so
/// the stack frames on the recursive path.
pub(crate) type PResult<T> = Result<T, Box<ParseError>>;

/// A boxed [`ParseError`].
#[cold]
pub(crate) fn perr(span: Span, message: impl Into<String>) -> Box<ParseError> {
    Box::new(ParseError::new(span, message))
}

/// A message built only when needed: a `&str`, or a closure that formats one.
pub(crate) trait Msg {
    /// The message text.
    fn text(self) -> String;
}

impl Msg for &str {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Msg for &String {
    fn text(self) -> String {
        self.clone()
    }
}

impl<F: FnOnce() -> String> Msg for F {
    fn text(self) -> String {
        self()
    }
}

/// An expression and the height of its tree.
pub(crate) type HExpr = (Expr, u32);

/// `?` without the conversion machinery: in debug builds this keeps the frames on the
/// parser's recursive path small.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err(e),
        }
    };
}

const BP_OR: u8 = 1;
const BP_AND: u8 = 2;
const BP_CMP: u8 = 3;
const BP_ADD: u8 = 4;
const BP_MUL: u8 = 5;
const BP_UNARY: u8 = 6;

enum Infix {
    Binary(BinaryOp, usize),
    Logical(LogicalOp),
    List(ListOp),
    Between(bool),
}

pub(crate) struct Parser<'a> {
    pub(crate) src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    pub(crate) prev_end: usize,
    depth: usize,
    /// The greatest expression height seen since the innermost enclosing pipeline started.
    height: u32,
    /// Errors that the parser recovered from (it knew what was meant and went on).
    pub(crate) errors: Vec<ParseError>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> PResult<Parser<'a>> {
        Ok(Parser {
            src,
            toks: tokenize(src)?,
            pos: 0,
            prev_end: 0,
            depth: 0,
            height: 0,
            errors: Vec::new(),
        })
    }

    // ---- token access -------------------------------------------------------------------

    pub(crate) fn peek(&self) -> &Token {
        // The token list always ends with Eof and `pos` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    pub(crate) fn nth(&self, n: usize) -> &Token {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)]
    }

    pub(crate) fn kind(&self) -> &TokenKind {
        &self.peek().kind
    }

    pub(crate) fn nth_kind(&self, n: usize) -> &TokenKind {
        &self.nth(n).kind
    }

    pub(crate) fn span(&self) -> Span {
        self.peek().span
    }

    pub(crate) fn bump(&mut self) -> Span {
        let span = self.peek().span;
        if self.peek().kind != TokenKind::Eof {
            self.pos += 1;
            self.prev_end = span.end;
        }
        span
    }

    pub(crate) fn text(&self, span: Span) -> &'a str {
        span.text(self.src)
    }

    /// The current token's text when it is a word.
    pub(crate) fn word(&self) -> Option<&'a str> {
        self.nth_word(0)
    }

    pub(crate) fn nth_word(&self, n: usize) -> Option<&'a str> {
        let t = self.nth(n);
        (t.kind == TokenKind::Word).then(|| self.text(t.span))
    }

    pub(crate) fn is_word(&self, w: &str) -> bool {
        self.word() == Some(w)
    }

    pub(crate) fn eat_word(&mut self, w: &str) -> Option<Span> {
        self.is_word(w).then(|| self.bump())
    }

    pub(crate) fn is(&self, kind: &TokenKind) -> bool {
        self.kind() == kind
    }

    pub(crate) fn eat(&mut self, kind: &TokenKind) -> Option<Span> {
        self.is(kind).then(|| self.bump())
    }

    /// Consumes a token of `kind` or fails with "expected {what}, found …".
    pub(crate) fn expect(&mut self, kind: &TokenKind, what: impl Msg) -> PResult<Span> {
        match self.eat(kind) {
            Some(s) => Ok(s),
            None => Err(self.expected(what.text())),
        }
    }

    /// Consumes the word `w` or fails with "expected {what}, found …".
    pub(crate) fn expect_word(&mut self, w: &str, what: impl Msg) -> PResult<Span> {
        match self.eat_word(w) {
            Some(s) => Ok(s),
            None => Err(self.expected(what.text())),
        }
    }

    #[cold]
    #[inline(never)]
    fn expected(&self, what: String) -> Box<ParseError> {
        self.unexpected(&format!("expected {what}"))
    }

    /// An error at the current token: "{prefix}, found {token}".
    #[cold]
    pub(crate) fn unexpected(&self, prefix: &str) -> Box<ParseError> {
        perr(
            self.span(),
            format!("{prefix}, found {}", self.describe(self.peek())),
        )
    }

    /// A short description of a token for messages: `'where'`, `'|'`, `the end of the query`.
    pub(crate) fn describe(&self, tok: &Token) -> String {
        let text = self.text(tok.span);
        let short = |s: &str| -> String {
            let mut out: String = s.chars().take(40).collect();
            if s.chars().nth(40).is_some() {
                out.push('…');
            }
            out
        };
        match &tok.kind {
            TokenKind::Eof => "the end of the query".to_string(),
            TokenKind::Str(_) => format!("the string {}", short(text)),
            TokenKind::Long(_) | TokenKind::Real(_) => format!("the number {text}"),
            TokenKind::TimeSpan(_) => format!("the timespan {}", short(text)),
            _ => format!("'{}'", short(text)),
        }
    }

    pub(crate) fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(perr(
                self.span(),
                format!(
                    "expression nested too deeply: more than {MAX_DEPTH} levels of nested \
                     parentheses, calls, operators or subqueries"
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Checks an expression height against [`MAX_HEIGHT`] and records it.
    pub(crate) fn ck(&mut self, h: u32, span: Span) -> PResult<u32> {
        if h > MAX_HEIGHT {
            return Err(perr(
                span,
                format!(
                    "expression nested too deeply: its tree is more than {MAX_HEIGHT} levels \
                     high (split it with `let` or `extend`)"
                ),
            ));
        }
        self.height = self.height.max(h);
        Ok(h)
    }

    /// True at a token that ends an operator's argument list: `|`, `;`, `)`, `}` or the end.
    pub(crate) fn at_clause_end(&self) -> bool {
        matches!(
            self.kind(),
            TokenKind::Pipe
                | TokenKind::Semi
                | TokenKind::RParen
                | TokenKind::RBrace
                | TokenKind::Eof
        )
    }

    /// True when the current token can start an expression.
    pub(crate) fn can_start_expr(&self) -> bool {
        match self.kind() {
            TokenKind::Word => {
                let w = self.word().unwrap_or("");
                !(w.starts_with('!')
                    || matches!(w, "and" | "or" | "between" | "in" | "in~")
                    || BinaryOp::from_word(w).is_some()
                    || ListOp::from_word(w).is_some())
            }
            TokenKind::Str(_)
            | TokenKind::Long(_)
            | TokenKind::Real(_)
            | TokenKind::TimeSpan(_)
            | TokenKind::DateTime(_)
            | TokenKind::Guid(_)
            | TokenKind::LParen
            | TokenKind::LBracket
            | TokenKind::Minus
            | TokenKind::Plus
            | TokenKind::Star => true,
            _ => false,
        }
    }

    /// Fails with "expected {what} {context}, found …" unless an expression can start here.
    pub(crate) fn need_expr(&self, what: &str, context: impl Msg) -> PResult<()> {
        if self.can_start_expr() {
            Ok(())
        } else {
            Err(self.expected(format!("{what} {}", context.text())))
        }
    }

    // ---- statements ---------------------------------------------------------------------

    pub(crate) fn parse_query(&mut self) -> PResult<Query> {
        let statements = self.statements(false)?;
        if !self.is(&TokenKind::Eof) {
            return Err(self.unexpected("expected ';' or the end of the query"));
        }
        if statements.is_empty() {
            return Err(perr(
                self.span(),
                "the query is empty: expected a tabular expression such as `SigninLogs | take 10`",
            ));
        }
        if !statements.iter().any(|s| matches!(s, Statement::Expr(_))) {
            return Err(perr(
                self.span(),
                "the query has no tabular expression: it ends after its `let` statements",
            ));
        }
        Ok(Query {
            statements,
            span: Span::new(0, self.src.len()),
        })
    }

    /// Statements separated by `;` up to the end of input (or, in a function body, up to `}`).
    fn statements(&mut self, in_body: bool) -> PResult<Vec<Statement>> {
        let mut out = Vec::new();
        loop {
            while self.eat(&TokenKind::Semi).is_some() {}
            match self.kind() {
                TokenKind::Eof => break,
                TokenKind::RBrace if in_body => break,
                _ => {}
            }
            let stmt = self.statement()?;
            let is_let = matches!(stmt, Statement::Let(_));
            out.push(stmt);
            match self.kind() {
                TokenKind::Semi => {
                    self.bump();
                }
                TokenKind::Eof => break,
                TokenKind::RBrace if in_body => break,
                _ => return Err(self.after_statement_error(is_let, in_body)),
            }
        }
        Ok(out)
    }

    fn after_statement_error(&self, is_let: bool, in_body: bool) -> Box<ParseError> {
        let what = match (is_let, in_body) {
            (true, _) => "expected ';' after the `let` statement",
            (false, true) => "expected ';' or '}' after the expression",
            (false, false) => "expected '|', ';' or the end of the query after the expression",
        };
        let mut e = self.unexpected(what);
        if let Some(w) = self.word()
            && super::operators::is_operator_name(w)
        {
            e.message
                .push_str(&format!(" (is a '|' missing before `{w}`?)"));
        }
        e
    }

    fn statement(&mut self) -> PResult<Statement> {
        let next_is_word = self.nth_kind(1) == &TokenKind::Word;
        match self.word() {
            Some("let") => self.let_statement(),
            Some("set") if next_is_word => Err(perr(
                self.span(),
                "`set` statements (query options) are not supported by kqlflow: remove the \
                 statement",
            )),
            Some("declare") if next_is_word => Err(perr(
                self.span(),
                "`declare query_parameters` is not supported by kqlflow: bind values with `let` \
                 statements instead",
            )),
            Some(w @ ("alias" | "pattern" | "restrict")) if next_is_word => Err(perr(
                self.span(),
                format!("`{w}` statements are not supported by kqlflow"),
            )),
            _ => Ok(Statement::Expr(self.query_expr()?.0)),
        }
    }

    fn let_statement(&mut self) -> PResult<Statement> {
        let start = self.bump();
        let name = self.ident("a name after `let`")?;
        if self.is(&TokenKind::EqEq) {
            return Err(self.unexpected(&format!(
                "expected '=' after `let {}` ('==' compares values)",
                name.name
            )));
        }
        self.expect(&TokenKind::Assign, || {
            format!("'=' after `let {}`", name.name)
        })?;
        let value = if self.at_function_def() {
            LetValue::Function(self.function_def()?)
        } else {
            self.need_expr("a value", || format!("after `let {} =`", name.name))?;
            LetValue::Expr(self.query_expr()?.0)
        };
        Ok(Statement::Let(LetStatement {
            name,
            value,
            span: Span::new(start.start, self.prev_end),
        }))
    }

    fn at_function_def(&self) -> bool {
        if self.is_word("view") && self.nth_kind(1) == &TokenKind::LParen {
            return true;
        }
        self.is(&TokenKind::LParen)
            && match self.nth_kind(1) {
                TokenKind::RParen => self.nth_kind(2) == &TokenKind::LBrace,
                TokenKind::Word => self.nth_kind(2) == &TokenKind::Colon,
                _ => false,
            }
    }

    fn function_def(&mut self) -> PResult<FunctionDef> {
        self.enter()?;
        let r = self.function_def_inner();
        self.leave();
        r
    }

    fn function_def_inner(&mut self) -> PResult<FunctionDef> {
        let start = self.span().start;
        let view = self.eat_word("view").is_some();
        self.expect(&TokenKind::LParen, "'(' to start the parameter list")?;
        let mut params = Vec::new();
        if self.eat(&TokenKind::RParen).is_none() {
            loop {
                params.push(self.param()?);
                if self.eat(&TokenKind::Comma).is_some() {
                    continue;
                }
                self.expect(&TokenKind::RParen, "',' or ')' in the parameter list")?;
                break;
            }
        }
        self.expect(&TokenKind::LBrace, "'{' to start the function body")?;
        let body = self.statements(true)?;
        let close = self.expect(&TokenKind::RBrace, "'}' to close the function body")?;
        if !body.iter().any(|s| matches!(s, Statement::Expr(_))) {
            return Err(perr(
                close,
                "the function body has no result expression: it ends after its `let` statements",
            ));
        }
        Ok(FunctionDef {
            params,
            body,
            view,
            span: Span::new(start, self.prev_end),
        })
    }

    fn param(&mut self) -> PResult<Param> {
        let name = self.ident("a parameter name")?;
        self.expect(&TokenKind::Colon, || {
            format!("':' and a type after parameter `{}`", name.name)
        })?;
        let ty = if self.eat(&TokenKind::LParen).is_some() {
            let mut columns = Vec::new();
            let mut wildcard = false;
            loop {
                if self.eat(&TokenKind::Star).is_some() {
                    wildcard = true;
                } else {
                    columns.push(self.column_decl()?);
                }
                if self.eat(&TokenKind::Comma).is_none() {
                    break;
                }
            }
            self.expect(
                &TokenKind::RParen,
                "',' or ')' in the table parameter's columns",
            )?;
            ParamType::Tabular { columns, wildcard }
        } else {
            ParamType::Scalar(self.type_name()?)
        };
        let default = if self.eat(&TokenKind::Assign).is_some() {
            self.need_expr("a default value", || format!("after `{} =`", name.name))?;
            Some(self.expr()?.0)
        } else {
            None
        };
        Ok(Param {
            span: Span::new(name.span.start, self.prev_end),
            name,
            ty,
            default,
        })
    }

    /// `name:type`.
    pub(crate) fn column_decl(&mut self) -> PResult<ColumnDecl> {
        let name = self.ident("a column name")?;
        self.expect(&TokenKind::Colon, || {
            format!("':' and a type after column `{}`", name.name)
        })?;
        let ty = self.type_name()?;
        Ok(ColumnDecl {
            span: Span::new(name.span.start, self.prev_end),
            name,
            ty,
        })
    }

    /// A type name such as `string` or `datetime`.
    pub(crate) fn type_name(&mut self) -> PResult<Type> {
        const TYPES: &str =
            "bool, int, long, real, decimal, string, guid, datetime, timespan, dynamic";
        let Some(w) = self.word() else {
            return Err(self.unexpected(&format!("expected a type ({TYPES})")));
        };
        match Type::parse(w) {
            Some(t) if w.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                self.bump();
                Ok(t)
            }
            _ => Err(perr(
                self.span(),
                format!("unknown type '{w}': expected one of {TYPES}"),
            )),
        }
    }

    /// A name: an identifier or a bracketed `['name']`.
    pub(crate) fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.kind() {
            TokenKind::Word => {
                let w = self.word().unwrap_or("");
                if w.starts_with('!') {
                    return Err(self.unexpected(&format!("expected {what}")));
                }
                let span = self.bump();
                Ok(Ident {
                    name: w.to_string(),
                    span,
                })
            }
            TokenKind::LBracket => self.bracketed_name(),
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    /// `['name']` or `["name"]`.
    fn bracketed_name(&mut self) -> PResult<Ident> {
        let open = self.bump();
        let name = match self.kind() {
            TokenKind::Str(s) => s.clone(),
            _ => {
                return Err(
                    self.unexpected("expected a quoted name after '[' (as in ['Column Name'])")
                );
            }
        };
        self.bump();
        self.expect(&TokenKind::RBracket, "']' after the bracketed name")?;
        Ok(Ident {
            name,
            span: Span::new(open.start, self.prev_end),
        })
    }

    // ---- tabular-or-scalar expressions ---------------------------------------------------

    /// An expression that may be a pipeline: a source (`union …`, `print …`, `datatable …`,
    /// `externaldata …`, `range …`, or any scalar-syntax expression such as a table name or a
    /// call) followed by `| operator`s.
    pub(crate) fn query_expr(&mut self) -> PResult<HExpr> {
        let saved = std::mem::take(&mut self.height);
        let r = self.query_expr_inner();
        self.height = self.height.max(saved);
        r
    }

    fn query_expr_inner(&mut self) -> PResult<HExpr> {
        let start = self.span().start;
        let source = tri!(self.source());
        if self.is(&TokenKind::Pipe) {
            self.pipeline_tail(source, start)
        } else {
            Ok(source)
        }
    }

    fn source(&mut self) -> PResult<HExpr> {
        match self.word() {
            Some("union") => self.union_source(),
            Some("print") if !self.name_follows() => self.print_source(),
            Some("datatable") if self.nth_kind(1) == &TokenKind::LParen => self.datatable_source(),
            Some("externaldata") if self.nth_kind(1) == &TokenKind::LParen => {
                self.externaldata_source()
            }
            Some("range") if self.nth_kind(1) == &TokenKind::Word => self.range_source(),
            Some(w @ ("search" | "find")) if !self.name_follows() => {
                Err(unsupported_source(w, self.span()))
            }
            _ => self.expr_bp(0),
        }
    }

    /// `| op | op …` after a source. A pipeline counts as one more nesting level: its path
    /// through the parser is longer than that of a parenthesis.
    fn pipeline_tail(&mut self, (source, sh): HExpr, start: usize) -> PResult<HExpr> {
        self.enter()?;
        let mut operators = Vec::new();
        while self.eat(&TokenKind::Pipe).is_some() {
            operators.push(self.operator()?);
        }
        self.leave();
        let span = Span::new(start, self.prev_end);
        let h = self.ck(self.height.max(sh) + 2, span)?;
        Ok((
            Expr {
                kind: ExprKind::Pipe {
                    source: Box::new(source),
                    operators,
                },
                span,
            },
            h,
        ))
    }

    fn union_source(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        let u = self.union_body("union")?;
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(self.height + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Union(u),
                span,
            },
            h,
        ))
    }

    /// True when the next token shows the current word is used as a plain name.
    fn name_follows(&self) -> bool {
        matches!(
            self.nth_kind(1),
            TokenKind::Pipe
                | TokenKind::Semi
                | TokenKind::Eof
                | TokenKind::RParen
                | TokenKind::Comma
                | TokenKind::Dot
                | TokenKind::LBracket
        )
    }

    fn print_source(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        self.need_expr("an expression", "after `print`")?;
        let items = self.named_list("print", false)?;
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(self.height + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Print(items),
                span,
            },
            h,
        ))
    }

    fn column_decls(&mut self, what: &str) -> PResult<Vec<ColumnDecl>> {
        self.expect(&TokenKind::LParen, || {
            format!("'(' and the columns of `{what}`")
        })?;
        let mut columns = Vec::new();
        if self.is(&TokenKind::RParen) {
            return Err(self.unexpected(&format!("expected at least one column in `{what}`")));
        }
        loop {
            columns.push(self.column_decl()?);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        self.expect(&TokenKind::RParen, || {
            format!("',' or ')' in the columns of `{what}`")
        })?;
        Ok(columns)
    }

    /// `[ e, e, … ]` (a trailing comma is allowed).
    fn bracket_values(&mut self, what: &str) -> PResult<Vec<Expr>> {
        self.expect(&TokenKind::LBracket, || {
            format!("'[' and the values of `{what}`")
        })?;
        let mut values = Vec::new();
        while !self.is(&TokenKind::RBracket) {
            self.need_expr("a value", || format!("in `{what}`"))?;
            values.push(self.expr()?.0);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        self.expect(&TokenKind::RBracket, || {
            format!("',' or ']' in the values of `{what}`")
        })?;
        Ok(values)
    }

    fn datatable_source(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        let columns = self.column_decls("datatable")?;
        let values = self.bracket_values("datatable")?;
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(self.height + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Datatable { columns, values },
                span,
            },
            h,
        ))
    }

    fn externaldata_source(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        let columns = self.column_decls("externaldata")?;
        let uris = self.bracket_values("externaldata")?;
        let mut properties = Vec::new();
        if self.eat_word("with").is_some() {
            self.expect(&TokenKind::LParen, "'(' and properties after `with`")?;
            while !self.is(&TokenKind::RParen) {
                let name = self.ident("a property name")?;
                self.expect(&TokenKind::Assign, || format!("'=' after `{}`", name.name))?;
                let value = self.param_value(&name.name)?;
                properties.push(Property {
                    span: Span::new(name.span.start, self.prev_end),
                    name,
                    value,
                });
                if self.eat(&TokenKind::Comma).is_none() {
                    break;
                }
            }
            self.expect(&TokenKind::RParen, "',' or ')' in the `with` properties")?;
        }
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(self.height + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::ExternalData {
                    columns,
                    uris,
                    properties,
                },
                span,
            },
            h,
        ))
    }

    fn range_source(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        let column = self.ident("a column name after `range`")?;
        self.expect_word("from", "`from` after the `range` column")?;
        self.need_expr("a start value", "after `from`")?;
        let (from, _) = self.expr()?;
        self.expect_word("to", "`to` after the `range` start")?;
        self.need_expr("an end value", "after `to`")?;
        let (to, _) = self.expr()?;
        self.expect_word("step", "`step` after the `range` end")?;
        self.need_expr("a step", "after `step`")?;
        let (step, _) = self.expr()?;
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(self.height + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Range {
                    column,
                    from: Box::new(from),
                    to: Box::new(to),
                    step: Box::new(step),
                },
                span,
            },
            h,
        ))
    }

    // ---- scalar expressions ------------------------------------------------------------

    /// A scalar expression (no pipes at this level).
    #[inline(always)]
    pub(crate) fn expr(&mut self) -> PResult<HExpr> {
        self.expr_bp(0)
    }

    fn infix(&self) -> Option<(Infix, u8)> {
        let r = match self.kind() {
            TokenKind::Plus => (Infix::Binary(BinaryOp::Add, 1), BP_ADD),
            TokenKind::Minus => (Infix::Binary(BinaryOp::Sub, 1), BP_ADD),
            TokenKind::Star => (Infix::Binary(BinaryOp::Mul, 1), BP_MUL),
            TokenKind::Slash => (Infix::Binary(BinaryOp::Div, 1), BP_MUL),
            TokenKind::Percent => (Infix::Binary(BinaryOp::Mod, 1), BP_MUL),
            TokenKind::EqEq => (Infix::Binary(BinaryOp::Eq, 1), BP_CMP),
            TokenKind::NotEq => (Infix::Binary(BinaryOp::NotEq, 1), BP_CMP),
            TokenKind::Lt => (Infix::Binary(BinaryOp::Lt, 1), BP_CMP),
            TokenKind::Le => (Infix::Binary(BinaryOp::Le, 1), BP_CMP),
            TokenKind::Gt => (Infix::Binary(BinaryOp::Gt, 1), BP_CMP),
            TokenKind::Ge => (Infix::Binary(BinaryOp::Ge, 1), BP_CMP),
            TokenKind::EqTilde => (Infix::Binary(BinaryOp::EqCi, 1), BP_CMP),
            TokenKind::NotTilde => (Infix::Binary(BinaryOp::NotEqCi, 1), BP_CMP),
            TokenKind::Word => {
                let w = self.word().unwrap_or("");
                match w {
                    "and" => (Infix::Logical(LogicalOp::And), BP_AND),
                    "or" => (Infix::Logical(LogicalOp::Or), BP_OR),
                    "between" => (Infix::Between(false), BP_CMP),
                    "!between" => (Infix::Between(true), BP_CMP),
                    "matches" if self.nth_word(1) == Some("regex") => {
                        (Infix::Binary(BinaryOp::MatchesRegex, 2), BP_CMP)
                    }
                    _ => {
                        if let Some(op) = ListOp::from_word(w) {
                            (Infix::List(op), BP_CMP)
                        } else if let Some(op) = BinaryOp::from_word(w) {
                            (Infix::Binary(op, 1), BP_CMP)
                        } else {
                            return None;
                        }
                    }
                }
            }
            _ => return None,
        };
        Some(r)
    }

    /// Operands joined by binary operators binding at least as tightly as `min_bp`.
    fn expr_bp(&mut self, min_bp: u8) -> PResult<HExpr> {
        let mut lhs = tri!(self.prefix());
        loop {
            let Some((infix, bp)) = self.infix() else {
                return match self.no_word_operator() {
                    Some(e) => Err(e),
                    None => Ok(lhs),
                };
            };
            if bp < min_bp {
                return Ok(lhs);
            }
            lhs = tri!(self.infix_rhs(lhs, infix, bp));
        }
    }

    fn infix_rhs(&mut self, lhs: HExpr, infix: Infix, bp: u8) -> PResult<HExpr> {
        match infix {
            Infix::Binary(op, ntok) => self.binary_rhs(lhs, op, ntok, bp),
            Infix::Logical(op) => self.logical_rhs(lhs, op, bp),
            Infix::List(op) => self.list_op(lhs, op),
            Infix::Between(negated) => self.between_op(lhs, negated),
        }
    }

    /// After an operand: a word that looks like an operator but is not one is an error.
    fn no_word_operator(&self) -> Option<Box<ParseError>> {
        match self.word() {
            Some(w @ ("like" | "notlike" | "ilike")) => Some(perr(
                self.span(),
                format!(
                    "`{w}` is not a KQL operator: use `contains`, `startswith`, `endswith`, \
                     `has` or `matches regex`"
                ),
            )),
            Some(w) if w.starts_with('!') => {
                Some(perr(self.span(), format!("unknown operator '{w}'")))
            }
            _ => None,
        }
    }

    fn binary_rhs(
        &mut self,
        (lhs, lh): HExpr,
        op: BinaryOp,
        ntok: usize,
        bp: u8,
    ) -> PResult<HExpr> {
        for _ in 0..ntok {
            self.bump();
        }
        self.need_expr("an expression", || format!("after '{}'", op.as_str()))?;
        self.enter()?;
        let (rhs, rh) = tri!(self.expr_bp(bp + 1));
        self.leave();
        let span = Span::new(lhs.span.start, rhs.span.end);
        let h = self.ck(lh.max(rh) + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            },
            h,
        ))
    }

    fn logical_rhs(&mut self, (lhs, lh): HExpr, op: LogicalOp, bp: u8) -> PResult<HExpr> {
        let word = self.bump();
        self.need_expr("an expression", || format!("after `{}`", self.text(word)))?;
        self.enter()?;
        let (rhs, rh) = tri!(self.expr_bp(bp + 1));
        self.leave();
        let span = Span::new(lhs.span.start, rhs.span.end);
        match lhs.kind {
            // Extend an unparenthesised chain of the same operator.
            ExprKind::Logical {
                op: lop,
                mut operands,
            } if lop == op => {
                let h = self.ck(lh.max(rh + 1), span)?;
                operands.push(rhs);
                Ok((
                    Expr {
                        kind: ExprKind::Logical { op, operands },
                        span,
                    },
                    h,
                ))
            }
            kind => {
                let h = self.ck(lh.max(rh) + 1, span)?;
                let first = Expr {
                    kind,
                    span: lhs.span,
                };
                Ok((
                    Expr {
                        kind: ExprKind::Logical {
                            op,
                            operands: vec![first, rhs],
                        },
                        span,
                    },
                    h,
                ))
            }
        }
    }

    fn list_op(&mut self, (lhs, lh): HExpr, op: ListOp) -> PResult<HExpr> {
        self.bump();
        self.enter()?;
        let (items, ih) = self.list_rhs(op)?;
        self.leave();
        let span = Span::new(lhs.span.start, self.prev_end);
        let h = self.ck(lh.max(ih) + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::InList {
                    expr: Box::new(lhs),
                    op,
                    items,
                },
                span,
            },
            h,
        ))
    }

    fn between_op(&mut self, (lhs, lh): HExpr, negated: bool) -> PResult<HExpr> {
        let name = if negated { "!between" } else { "between" };
        self.bump();
        self.expect(&TokenKind::LParen, || {
            format!("'(' after `{name}` (the form is `x {name} (low .. high)`)")
        })?;
        self.need_expr("a lower bound", || format!("in `{name}`"))?;
        self.enter()?;
        let (low, h1) = self.expr_bp(0)?;
        self.expect(&TokenKind::DotDot, || {
            format!("'..' between the bounds of `{name}`")
        })?;
        self.need_expr("an upper bound", "after '..'")?;
        let (high, h2) = self.expr_bp(0)?;
        self.leave();
        self.expect(&TokenKind::RParen, || format!("')' to close `{name} (…)`"))?;
        let span = Span::new(lhs.span.start, self.prev_end);
        let h = self.ck(lh.max(h1).max(h2) + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Between {
                    expr: Box::new(lhs),
                    low: Box::new(low),
                    high: Box::new(high),
                    negated,
                },
                span,
            },
            h,
        ))
    }

    /// The right side of `in`, `!in`, `in~`, `!in~`, `has_any`, `has_all`.
    fn list_rhs(&mut self, op: ListOp) -> PResult<(Vec<Expr>, u32)> {
        let name = op.as_str();
        if self.eat(&TokenKind::LParen).is_none() {
            self.need_expr("a parenthesised list", || format!("after `{name}`"))?;
            let (e, h) = self.postfix_expr()?;
            return Ok((vec![e], h));
        }
        let mut items = Vec::new();
        let mut h = 0;
        loop {
            self.need_expr("a value", || format!("in the list after `{name}`"))?;
            let (e, eh) = tri!(self.query_expr());
            h = h.max(eh);
            items.push(e);
            match self.eat(&TokenKind::Comma) {
                Some(comma) if self.is(&TokenKind::RParen) => {
                    self.trailing_comma_before_paren(comma, "a value", || {
                        format!("the list after `{name}`")
                    });
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        self.expect(&TokenKind::RParen, || {
            format!("',' or ')' in the list after `{name}`")
        })?;
        Ok((items, h + 1))
    }

    /// Records a recovered error for a `,` right before `)`.
    #[cold]
    #[inline(never)]
    fn trailing_comma_before_paren(&mut self, comma: Span, what: &str, list: impl Msg) {
        self.errors.push(*perr(
            comma,
            format!(
                "expected {what} after ',' in {}, found ')': remove the trailing ','",
                list.text()
            ),
        ));
    }

    fn prefix(&mut self) -> PResult<HExpr> {
        let op = match self.kind() {
            TokenKind::Minus => UnaryOp::Neg,
            TokenKind::Plus => UnaryOp::Plus,
            _ => return self.postfix_expr(),
        };
        self.enter()?;
        let start = self.bump();
        self.need_expr("an expression", || {
            format!(
                "after unary '{}'",
                if op == UnaryOp::Neg { "-" } else { "+" }
            )
        })?;
        let (operand, h) = tri!(self.expr_bp(BP_UNARY));
        self.leave();
        let span = Span::new(start.start, operand.span.end);
        let h = self.ck(h + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Unary {
                    op,
                    operand: Box::new(operand),
                },
                span,
            },
            h,
        ))
    }

    /// A primary expression followed by `.name`, `.[i]`, `[i]` accesses.
    pub(crate) fn postfix_expr(&mut self) -> PResult<HExpr> {
        let mut e = tri!(self.primary());
        while matches!(self.kind(), TokenKind::Dot | TokenKind::LBracket) {
            e = tri!(self.postfix_step(e));
        }
        Ok(e)
    }

    fn postfix_step(&mut self, e: HExpr) -> PResult<HExpr> {
        match (self.kind(), self.nth_kind(1)) {
            (TokenKind::Dot, TokenKind::Word) => self.member(e),
            (TokenKind::Dot, TokenKind::LBracket) => {
                self.bump();
                self.index(e)
            }
            (TokenKind::Dot, _) => Err(self.bad_member()),
            _ => self.index(e),
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_member(&mut self) -> Box<ParseError> {
        self.bump();
        self.unexpected("expected a property name or '[' after '.'")
    }

    /// `.name`
    fn member(&mut self, (target, h): HExpr) -> PResult<HExpr> {
        self.bump();
        let name_span = self.bump();
        let name = Ident {
            name: self.text(name_span).to_string(),
            span: name_span,
        };
        let span = Span::new(target.span.start, name_span.end);
        let h = self.ck(h + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Member {
                    target: Box::new(target),
                    name,
                },
                span,
            },
            h,
        ))
    }

    /// `[ expr ]` after a target.
    fn index(&mut self, (target, h): HExpr) -> PResult<HExpr> {
        self.bump();
        self.enter()?;
        self.need_expr("an index or key", "after '['")?;
        let (idx, ih) = tri!(self.expr_bp(0));
        self.leave();
        self.expect(&TokenKind::RBracket, "']' to close the index")?;
        let span = Span::new(target.span.start, self.prev_end);
        let h = self.ck(h.max(ih) + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Index {
                    target: Box::new(target),
                    index: Box::new(idx),
                },
                span,
            },
            h,
        ))
    }

    fn literal(&mut self, value: Value, ty: Type) -> PResult<HExpr> {
        let span = self.bump();
        Ok((
            Expr {
                kind: ExprKind::Literal(Literal { value, ty }),
                span,
            },
            self.ck(1, span)?,
        ))
    }

    /// A leaf expression (an identifier or `*`) of height 1.
    fn leaf(&mut self, kind: ExprKind, span: Span) -> PResult<HExpr> {
        Ok((Expr { kind, span }, self.ck(1, span)?))
    }

    /// Literals, names, calls, parentheses: the operands of operators. Errors are not
    /// recovered from, so the depth counter is only restored on success.
    fn primary(&mut self) -> PResult<HExpr> {
        self.enter()?;
        let r = self.primary_dispatch();
        self.leave();
        r
    }

    fn primary_dispatch(&mut self) -> PResult<HExpr> {
        match self.kind() {
            TokenKind::Str(_) => self.string_literal(),
            TokenKind::Long(v) => {
                let v = Value::Long(*v);
                self.literal(v, Type::Long)
            }
            TokenKind::Real(v) => {
                let v = Value::Real(*v);
                self.literal(v, Type::Real)
            }
            TokenKind::TimeSpan(v) => {
                let v = v.map_or(Value::Null, Value::TimeSpan);
                self.literal(v, Type::TimeSpan)
            }
            TokenKind::DateTime(v) => {
                let v = v.map_or(Value::Null, Value::DateTime);
                self.literal(v, Type::DateTime)
            }
            TokenKind::Guid(g) => {
                let v = Value::str(g);
                self.literal(v, Type::String)
            }
            TokenKind::LParen => self.paren(),
            TokenKind::LBracket => self.bracketed_name_expr(),
            TokenKind::Star => {
                let span = self.bump();
                self.leaf(ExprKind::Star, span)
            }
            TokenKind::Word => self.word_primary(),
            _ => Err(self.unexpected("expected an expression")),
        }
    }

    fn bracketed_name_expr(&mut self) -> PResult<HExpr> {
        let id = self.bracketed_name()?;
        let span = id.span;
        self.leaf(ExprKind::Name(id), span)
    }

    /// Adjacent string literals, concatenated.
    fn string_literal(&mut self) -> PResult<HExpr> {
        let start = self.span().start;
        let mut s = String::new();
        while let TokenKind::Str(next) = self.kind() {
            s.push_str(next);
            self.bump();
        }
        let span = Span::new(start, self.prev_end);
        Ok((
            Expr {
                kind: ExprKind::Literal(Literal {
                    value: Value::str(&s),
                    ty: Type::String,
                }),
                span,
            },
            self.ck(1, span)?,
        ))
    }

    /// `( expr )`, where expr may be a tabular expression.
    fn paren(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        self.need_expr("an expression", "after '('")?;
        let (inner, h) = tri!(self.query_expr());
        self.expect(&TokenKind::RParen, "')' to close the '('")?;
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(h + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Paren(Box::new(inner)),
                span,
            },
            h,
        ))
    }

    fn word_primary(&mut self) -> PResult<HExpr> {
        let start = self.span();
        let w = self.word().unwrap_or("");
        let call = self.nth_kind(1) == &TokenKind::LParen;
        match w {
            "true" | "True" | "TRUE" => self.literal(Value::Bool(true), Type::Bool),
            "false" | "False" | "FALSE" => self.literal(Value::Bool(false), Type::Bool),
            "null" if !call => self.literal(Value::Null, Type::Dynamic),
            "dynamic" if call => self.dynamic_literal(),
            "typeof" if call => self.typeof_expr(),
            "bool" | "boolean" | "int" | "long" | "real" | "double" | "decimal" if call => {
                self.typed_literal(w)
            }
            "not" if call => self.not_call(),
            "union" | "print" | "datatable" | "externaldata" | "search" | "find"
                if !self.name_follows() || call =>
            {
                Err(self.source_keyword_as_operand(w))
            }
            "range" if self.nth_kind(1) == &TokenKind::Word => {
                Err(self.source_keyword_as_operand(w))
            }
            _ if w.starts_with('!') => Err(self.operator_without_operand(w)),
            _ if call => self.call(),
            _ => {
                self.bump();
                let id = Ident {
                    name: w.to_string(),
                    span: start,
                };
                self.leaf(ExprKind::Name(id), start)
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn source_keyword_as_operand(&self, w: &str) -> Box<ParseError> {
        perr(
            self.span(),
            format!(
                "`{w}` starts a tabular expression and cannot be an operand here: put it in \
                 parentheses, as in `({w} …)`"
            ),
        )
    }

    #[cold]
    #[inline(never)]
    fn operator_without_operand(&self, w: &str) -> Box<ParseError> {
        self.unexpected(&format!(
            "expected an expression ('{w}' is an operator and needs a left operand)"
        ))
    }

    fn typeof_expr(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        self.bump();
        let ty = self.type_name()?;
        self.expect(&TokenKind::RParen, "')' to close `typeof(…)`")?;
        let span = Span::new(start.start, self.prev_end);
        self.leaf(ExprKind::TypeOf(ty), span)
    }

    /// `not(expr)`.
    fn not_call(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        self.bump();
        self.need_expr("an expression", "after `not(`")?;
        let (operand, h) = tri!(self.query_expr());
        self.expect(&TokenKind::RParen, "')' to close `not(…)`")?;
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(h + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(operand),
                },
                span,
            },
            h,
        ))
    }

    /// `name(args)`; arguments may be tabular expressions or `*`.
    fn call(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        let name = Ident {
            name: self.text(start).to_string(),
            span: start,
        };
        self.bump();
        let mut args = Vec::new();
        let mut h = 0;
        if self.eat(&TokenKind::RParen).is_none() {
            loop {
                self.need_expr("an argument", || {
                    let after = if args.is_empty() { "" } else { "after ',' " };
                    format!("{after}in the call to `{}`", name.name)
                })?;
                // A named argument: `name = value`.
                let named = match self.nth_word(0) {
                    Some(w) if self.nth_kind(1) == &TokenKind::Assign => {
                        let at = self.bump();
                        self.bump();
                        self.need_expr("a value", || {
                            format!("after `{w} =` in the call to `{}`", name.name)
                        })?;
                        Some(Ident {
                            name: w.to_string(),
                            span: at,
                        })
                    }
                    _ => None,
                };
                let (a, ah) = tri!(self.query_expr());
                h = h.max(ah);
                let a = match named {
                    Some(n) => Expr {
                        span: Span::new(n.span.start, a.span.end),
                        kind: ExprKind::NamedArg {
                            name: n,
                            value: Box::new(a),
                        },
                    },
                    None => a,
                };
                args.push(a);
                match self.eat(&TokenKind::Comma) {
                    Some(comma) if self.is(&TokenKind::RParen) => {
                        self.trailing_comma_before_paren(comma, "an argument", || {
                            format!("the call to `{}`", name.name)
                        });
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            self.expect(&TokenKind::RParen, || {
                format!("',' or ')' in the arguments of `{}`", name.name)
            })?;
        }
        let span = Span::new(start.start, self.prev_end);
        let h = self.ck(h + 1, span)?;
        Ok((
            Expr {
                kind: ExprKind::Call { name, args },
                span,
            },
            h,
        ))
    }

    /// `int(5)`, `long(-1)`, `real(1.5)`, `real(nan)`, `bool(true)`, `long(null)`.
    fn typed_literal(&mut self, w: &str) -> PResult<HExpr> {
        let start = self.bump();
        self.bump();
        let ty = Type::parse(w).unwrap_or(Type::Dynamic);
        let neg = self.eat(&TokenKind::Minus).is_some();
        let sign = if neg { -1.0 } else { 1.0 };
        let bad = |p: &Parser<'_>| p.unexpected(&format!("expected a {} value in `{w}(…)`", ty));
        let value = match (self.kind().clone(), ty) {
            (TokenKind::Word, _) if self.is_word("null") && !neg => Value::Null,
            (TokenKind::Long(v), Type::Int | Type::Long) => Value::Long(if neg {
                v.checked_neg().ok_or_else(|| bad(self))?
            } else {
                v
            }),
            (TokenKind::Long(v), Type::Real) => Value::Real(sign * v as f64),
            (TokenKind::Real(v), Type::Real) => Value::Real(sign * v),
            (TokenKind::Word, Type::Real) => match self.word().unwrap_or("") {
                "nan" | "NaN" => Value::Real(f64::NAN),
                "inf" | "infinity" => Value::Real(sign * f64::INFINITY),
                _ => return Err(bad(self)),
            },
            (TokenKind::Word, Type::Bool) if !neg => match self.word().unwrap_or("") {
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                _ => return Err(bad(self)),
            },
            (TokenKind::Long(v), Type::Bool) if !neg && (v == 0 || v == 1) => Value::Bool(v == 1),
            _ => return Err(bad(self)),
        };
        self.bump();
        self.expect(&TokenKind::RParen, || format!("')' to close `{w}(…)`"))?;
        let span = Span::new(start.start, self.prev_end);
        Ok((
            Expr {
                kind: ExprKind::Literal(Literal { value, ty }),
                span,
            },
            self.ck(1, span)?,
        ))
    }

    /// `dynamic( json-ish value )`.
    fn dynamic_literal(&mut self) -> PResult<HExpr> {
        let start = self.bump();
        self.bump();
        let value = self.json_value()?;
        self.expect(&TokenKind::RParen, "')' to close `dynamic(…)`")?;
        let span = Span::new(start.start, self.prev_end);
        Ok((
            Expr {
                kind: ExprKind::Literal(Literal {
                    value,
                    ty: Type::Dynamic,
                }),
                span,
            },
            self.ck(1, span)?,
        ))
    }

    fn json_value(&mut self) -> PResult<Value> {
        self.enter()?;
        let r = self.json_value_inner();
        self.leave();
        r
    }

    fn json_value_inner(&mut self) -> PResult<Value> {
        const WHAT: &str = "expected a dynamic value (an array, a property bag, a string, a number, a bool or null)";
        let neg = self.eat(&TokenKind::Minus).is_some();
        let v = match self.kind().clone() {
            TokenKind::Long(v) => Value::Long(if neg {
                v.checked_neg()
                    .ok_or_else(|| self.unexpected("number out of range"))?
            } else {
                v
            }),
            TokenKind::Real(v) => Value::Real(if neg { -v } else { v }),
            _ if neg => return Err(self.unexpected("expected a number after '-'")),
            TokenKind::Str(s) => Value::str(&s),
            TokenKind::TimeSpan(t) => t.map_or(Value::Null, Value::TimeSpan),
            TokenKind::DateTime(t) => t.map_or(Value::Null, Value::DateTime),
            TokenKind::Guid(g) => Value::str(&g),
            TokenKind::Word => match self.word().unwrap_or("") {
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                "null" => Value::Null,
                _ => return Err(self.unexpected(WHAT)),
            },
            TokenKind::LBracket => {
                self.bump();
                let mut items = Vec::new();
                while !self.is(&TokenKind::RBracket) {
                    items.push(self.json_value()?);
                    if self.eat(&TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.expect(&TokenKind::RBracket, "',' or ']' in the dynamic array")?;
                return Ok(Value::array(items));
            }
            TokenKind::LBrace => {
                self.bump();
                let mut pairs = Vec::new();
                while !self.is(&TokenKind::RBrace) {
                    let key = match self.kind() {
                        TokenKind::Str(s) => s.clone(),
                        TokenKind::Word => self.word().unwrap_or("").to_string(),
                        _ => {
                            return Err(
                                self.unexpected("expected a property name in the property bag")
                            );
                        }
                    };
                    self.bump();
                    self.expect(&TokenKind::Colon, "':' after the property name")?;
                    let v = self.json_value()?;
                    pairs.push((key.as_str().into(), v));
                    if self.eat(&TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.expect(&TokenKind::RBrace, "',' or '}' in the property bag")?;
                return Ok(Value::object(pairs));
            }
            _ => return Err(self.unexpected(WHAT)),
        };
        self.bump();
        Ok(v)
    }

    // ---- shared pieces for operators ------------------------------------------------------

    /// A parameter value: a literal, or a bare word (kept as a name).
    pub(crate) fn param_value(&mut self, name: &str) -> PResult<Expr> {
        match self.kind() {
            TokenKind::Word => {
                let w = self.word().unwrap_or("");
                match w {
                    "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => Ok(self.expr()?.0),
                    _ => {
                        let span = self.bump();
                        Ok(Expr {
                            kind: ExprKind::Name(Ident {
                                name: w.to_string(),
                                span,
                            }),
                            span,
                        })
                    }
                }
            }
            TokenKind::Str(_)
            | TokenKind::Long(_)
            | TokenKind::Real(_)
            | TokenKind::TimeSpan(_)
            | TokenKind::Minus => Ok(self.expr()?.0),
            _ => Err(self.unexpected(&format!("expected a value after `{name}=`"))),
        }
    }

    /// Operator parameters `name=value` whose names are in `allowed`, plus `hint.*=value`.
    pub(crate) fn params(&mut self, allowed: &[&str]) -> PResult<Vec<Property>> {
        let mut out = Vec::new();
        while let Some(w) = self.word() {
            let start = self.span();
            let name = if w == "hint"
                && self.nth_kind(1) == &TokenKind::Dot
                && self.nth_kind(2) == &TokenKind::Word
                && self.nth_kind(3) == &TokenKind::Assign
            {
                self.bump();
                self.bump();
                let last = self.bump();
                Ident {
                    name: self.text(Span::new(start.start, last.end)).to_string(),
                    span: Span::new(start.start, last.end),
                }
            } else if allowed.contains(&w) && self.nth_kind(1) == &TokenKind::Assign {
                self.bump();
                Ident {
                    name: w.to_string(),
                    span: start,
                }
            } else {
                break;
            };
            self.bump();
            let value = self.param_value(&name.name)?;
            out.push(Property {
                span: Span::new(start.start, self.prev_end),
                name,
                value,
            });
        }
        Ok(out)
    }

    /// Looks ahead for an assignment target: `Name =`, `['Name'] =`, or `(A, B) =`, and
    /// consumes it (with the `=`) when present.
    pub(crate) fn assignment_targets(&mut self) -> PResult<Vec<Ident>> {
        match self.kind() {
            TokenKind::Word if self.nth_kind(1) == &TokenKind::Assign => {
                let w = self.word().unwrap_or("");
                if w.starts_with('!') {
                    return Ok(Vec::new());
                }
                let id = self.ident("a name")?;
                self.bump();
                Ok(vec![id])
            }
            TokenKind::LBracket
                if matches!(self.nth_kind(1), TokenKind::Str(_))
                    && self.nth_kind(2) == &TokenKind::RBracket
                    && self.nth_kind(3) == &TokenKind::Assign =>
            {
                let id = self.bracketed_name()?;
                self.bump();
                Ok(vec![id])
            }
            TokenKind::LParen => {
                // (A, B, C) = …
                let mut i = 1;
                loop {
                    if self.nth_kind(i) != &TokenKind::Word {
                        return Ok(Vec::new());
                    }
                    match self.nth_kind(i + 1) {
                        TokenKind::Comma => i += 2,
                        TokenKind::RParen if self.nth_kind(i + 2) == &TokenKind::Assign => break,
                        _ => return Ok(Vec::new()),
                    }
                }
                self.bump();
                let mut names = Vec::new();
                loop {
                    names.push(self.ident("a name")?);
                    if self.eat(&TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.bump();
                self.bump();
                Ok(names)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// `[Name =] expr`, recovering from `expr as Name` (not KQL) with an error that shows the
    /// KQL form. `list` names the list for messages (`extend`, `summarize`), `context` says
    /// where the expression is expected.
    pub(crate) fn named_expr(&mut self, list: &str, context: &str) -> PResult<NamedExpr> {
        let start = self.span().start;
        let mut names = self.assignment_targets()?;
        if names.is_empty() {
            self.need_expr("an expression", context)?;
        } else {
            self.need_expr("an expression", || {
                format!("after '=' in the `{list}` list")
            })?;
        }
        let (expr, _) = self.expr()?;
        if names.is_empty()
            && let Some(as_span) = self.eat_word("as")
        {
            let Some(alias) = self.word().filter(|w| !w.starts_with('!')) else {
                return Err(perr(
                    as_span,
                    format!(
                        "`as` is not valid in a `{list}` list: KQL names a column with \
                         `Name = expression`"
                    ),
                ));
            };
            let alias_span = self.bump();
            let expr_text = compact(self.text(expr.span));
            let what = if list.starts_with("summarize") {
                "an aggregate"
            } else {
                "a column"
            };
            self.errors.push(*perr(
                Span::new(as_span.start, alias_span.end),
                format!(
                    "`as` is not valid in a `{list}` list: KQL names {what} with '=', so write \
                     `{alias} = {expr_text}`"
                ),
            ));
            names.push(Ident {
                name: alias.to_string(),
                span: alias_span,
            });
        }
        Ok(NamedExpr {
            names,
            span: Span::new(start, expr.span.end.max(self.prev_end)),
            expr,
        })
    }

    /// A comma-separated list of [`named_expr`](Self::named_expr)s for operator `list`.
    /// A trailing comma before the end of the list is reported (and recovered from) at the
    /// comma. With `stop_at_by`, the word `by` also ends the list.
    pub(crate) fn named_list(&mut self, list: &str, stop_at_by: bool) -> PResult<Vec<NamedExpr>> {
        let mut items = Vec::new();
        let mut context = format!("after `{list}`");
        loop {
            items.push(self.named_expr(list, &context)?);
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, list, stop_at_by) {
                break;
            }
            context = format!("after ',' in the `{list}` list");
        }
        Ok(items)
    }

    /// After a comma: when the list ends here (`|`, `;`, `)`, end, or `by`), records the
    /// trailing-comma error at the comma and returns true.
    pub(crate) fn trailing_comma(&mut self, comma: Span, list: &str, stop_at_by: bool) -> bool {
        if self.at_clause_end() || (stop_at_by && self.is_word("by")) {
            let found = self.describe(self.peek());
            self.errors.push(*perr(
                comma,
                format!(
                    "expected an expression after ',' in the `{list}` list, found {found}: \
                     remove the trailing ','"
                ),
            ));
            true
        } else {
            false
        }
    }
}

#[cold]
#[inline(never)]
fn unsupported_source(w: &str, span: Span) -> Box<ParseError> {
    perr(
        span,
        format!("`{w}` is not supported by kqlflow: query a table and filter it with `where`"),
    )
}

/// `text` on one line with runs of whitespace collapsed, shortened to 60 characters.
fn compact(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 60 {
        let mut s: String = joined.chars().take(57).collect();
        s.push('…');
        s
    } else {
        joined
    }
}
