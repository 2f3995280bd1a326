//! The KQL front end: lexer, parser, syntax tree with source spans, and diagnostics.
//!
//! [`parse`] turns query text into a [`Query`]: `let` statements (scalars, tabular
//! expressions, user functions) and a final tabular expression. Every node carries the byte
//! [`Span`] it was parsed from; [`line_col`] (or a [`LineIndex`]) turns an offset into a
//! 1-based line and column, and [`ParseError::render`] prints a diagnostic with a caret.
//!
//! The parser never panics, bounds its recursion ([`MAX_DEPTH`]) and the height of the trees
//! it builds ([`MAX_HEIGHT`]), and runs in time linear in the input. When it knows what was
//! meant (a trailing `,` before `|`, `count() as Name` instead of `Name = count()`) it records
//! the error and goes on, so [`parse_all`] can report every such mistake at once.
//!
//! ```
//! use kqlflow::kql;
//!
//! let q = kql::parse("let n = 5;\nSigninLogs | where ResultType != 0 | take n").unwrap();
//! assert_eq!(q.lets().count(), 1);
//! let ops: Vec<_> = q.body().unwrap().operators().iter().map(|o| o.name()).collect();
//! assert_eq!(ops, ["where", "take"]);
//!
//! let src = "T\n| extend a = 1,\n| take 1";
//! let err = kql::parse(src).unwrap_err();
//! assert_eq!(err.line_col(src).to_string(), "2:15");
//! assert!(err.message.starts_with("expected an expression after ','"));
//! ```

mod ast;
mod display;
mod error;
mod lexer;
mod operators;
mod parser;
mod span;

pub use ast::{
    BinaryOp, ColumnDecl, ColumnPattern, ExpandItem, Expr, ExprKind, FunctionDef, Ident, Join,
    JoinCondition, JoinKind, LetStatement, LetValue, ListOp, Literal, LogicalOp, MakeSeries,
    MvApply, MvExpand, NamedExpr, Operator, OperatorKind, OutputSchema, Param, ParamType, Parse,
    ParsePart, Property, Query, Rename, ReorderItem, SeriesAggregate, SortKey, Statement,
    Summarize, Top, UnaryOp, Union,
};
pub use error::ParseError;
pub use lexer::{Token, TokenKind, tokenize};
pub use parser::{MAX_DEPTH, MAX_HEIGHT};
pub use span::{LineCol, LineIndex, Span, line_col};

use parser::Parser;

/// Parses a query. On failure returns the first error (in source order).
pub fn parse(src: &str) -> Result<Query, ParseError> {
    parse_all(src).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses a query, reporting every error: those the parser recovered from (in source order)
/// and, last, the one that stopped it, if any. The error list is never empty.
pub fn parse_all(src: &str) -> Result<Query, Vec<ParseError>> {
    let mut p = match Parser::new(src) {
        Ok(p) => p,
        Err(e) => return Err(vec![*e]),
    };
    let result = p.parse_query();
    let mut errors = std::mem::take(&mut p.errors);
    match result {
        Ok(q) if errors.is_empty() => Ok(q),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(*e);
            Err(errors)
        }
    }
}

/// Parses a single expression, scalar (`a + 1`) or tabular (`T | where x`), that must make up
/// the whole text.
pub fn parse_expr(src: &str) -> Result<Expr, ParseError> {
    parse_expr_boxed(src).map_err(|e| *e)
}

fn parse_expr_boxed(src: &str) -> Result<Expr, Box<ParseError>> {
    let mut p = Parser::new(src)?;
    if !p.can_start_expr() {
        return Err(p.unexpected("expected an expression"));
    }
    let (e, _) = p.query_expr()?;
    if !p.is(&TokenKind::Eof) {
        return Err(p.unexpected("expected the end of the expression"));
    }
    match p.errors.into_iter().next() {
        Some(err) => Err(Box::new(err)),
        None => Ok(e),
    }
}
