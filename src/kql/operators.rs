//! Parsing of the tabular operators that follow a `|`.

use super::ast::*;
use super::error::ParseError;
use super::lexer::TokenKind;
use super::parser::{PResult, Parser, perr};
use super::span::Span;

/// The operators kqlflow parses.
const SUPPORTED: &[&str] = &[
    "where",
    "filter",
    "extend",
    "project",
    "project-away",
    "project-keep",
    "project-rename",
    "project-reorder",
    "summarize",
    "join",
    "lookup",
    "union",
    "mv-expand",
    "mvexpand",
    "mv-apply",
    "mvapply",
    "order",
    "sort",
    "top",
    "take",
    "limit",
    "distinct",
    "count",
    "parse",
    "make-series",
    "as",
    "evaluate",
    "getschema",
    "serialize",
    "invoke",
];

/// Kusto operators that kqlflow recognises but does not support.
const UNSUPPORTED: &[&str] = &[
    "top-nested",
    "top-hitters",
    "facet",
    "fork",
    "partition",
    "scan",
    "sample",
    "sample-distinct",
    "reduce",
    "find",
    "search",
    "make-graph",
    "graph-match",
    "graph-merge",
    "parse-where",
    "parse-kv",
    "project-smart",
    "consume",
    "execute-and-cache",
    "assert-schema",
    "macro-expand",
    "extend-schema",
];

/// True when `w` names a tabular operator (supported or not).
pub(crate) fn is_operator_name(w: &str) -> bool {
    SUPPORTED.contains(&w) || UNSUPPORTED.contains(&w)
}

/// The error for an operator name kqlflow does not parse.
#[cold]
#[inline(never)]
fn unknown_operator(name: &str, span: Span) -> Box<ParseError> {
    if UNSUPPORTED.contains(&name) {
        return perr(
            span,
            format!("the `{name}` operator is not supported by kqlflow"),
        );
    }
    let mut msg = format!("unknown tabular operator '{name}'");
    if let Some(s) = suggest(name) {
        msg.push_str(&format!(": did you mean `{s}`?"));
    }
    perr(span, msg)
}

/// Levenshtein distance, bounded: returns `limit + 1` as soon as it is exceeded.
fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The supported operator closest to `w`, if it is close.
fn suggest(w: &str) -> Option<&'static str> {
    let lower = w.to_ascii_lowercase();
    SUPPORTED
        .iter()
        .map(|&c| (edit_distance(&lower, c, 2), c))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

impl<'a> Parser<'a> {
    /// The operator name at the current token, joining hyphenated names written without spaces
    /// (`project-away`, `mv-expand`, `top-nested`).
    fn operator_name(&mut self) -> (String, Span) {
        let first = self.bump();
        let mut end = first.end;
        while self.is(&TokenKind::Minus)
            && self.span().start == end
            && self.nth_kind(1) == &TokenKind::Word
            && self.nth(1).span.start == self.span().end
        {
            self.bump();
            end = self.bump().end;
        }
        let span = Span::new(first.start, end);
        (self.text(span).to_string(), span)
    }

    /// One tabular operator (the `|` before it already consumed).
    pub(crate) fn operator(&mut self) -> PResult<Operator> {
        if self.word().is_none() {
            return Err(self.unexpected("expected a tabular operator after '|'"));
        }
        let (name, name_span) = self.operator_name();
        let Some(parse) = Self::operator_parser(&name) else {
            return Err(unknown_operator(&name, name_span));
        };
        let op = Operator {
            kind: parse(self, &name)?,
            span: Span::new(name_span.start, self.prev_end),
        };
        self.check_operator_end(&op)?;
        Ok(op)
    }

    /// The function that parses the arguments of operator `name`. (A table of small functions
    /// keeps the stack frames on the parser's recursive path small.)
    #[allow(clippy::type_complexity)]
    fn operator_parser(name: &str) -> Option<fn(&mut Self, &str) -> PResult<OperatorKind>> {
        Some(match name {
            "where" | "filter" => Self::op_where,
            "extend" => |p, _| Ok(OperatorKind::Extend(p.named_list("extend", false)?)),
            "project" => |p, _| Ok(OperatorKind::Project(p.named_list("project", false)?)),
            "project-away" => |p, n| Ok(OperatorKind::ProjectAway(p.pattern_list(n)?)),
            "project-keep" => |p, n| Ok(OperatorKind::ProjectKeep(p.pattern_list(n)?)),
            "project-rename" => |p, _| Ok(OperatorKind::ProjectRename(p.renames()?)),
            "project-reorder" => |p, _| Ok(OperatorKind::ProjectReorder(p.reorder_items()?)),
            "summarize" => |p, _| Ok(OperatorKind::Summarize(p.summarize()?)),
            "join" => |p, _| Ok(OperatorKind::Join(p.join("join")?)),
            "lookup" => |p, _| Ok(OperatorKind::Lookup(p.join("lookup")?)),
            "union" => |p, _| Ok(OperatorKind::Union(p.union_body("union")?)),
            "mv-expand" | "mvexpand" => {
                |p, n| Ok(OperatorKind::MvExpand(Box::new(p.mv_expand(n)?)))
            }
            "mv-apply" | "mvapply" => |p, n| Ok(OperatorKind::MvApply(Box::new(p.mv_apply(n)?))),
            "order" | "sort" => Self::op_sort,
            "top" => Self::op_top,
            "take" | "limit" => Self::op_take,
            "distinct" => |p, _| Ok(OperatorKind::Distinct(p.expr_list("distinct")?)),
            "count" => |_, _| Ok(OperatorKind::Count),
            "parse" => |p, _| Ok(OperatorKind::Parse(Box::new(p.parse_op()?))),
            "make-series" => |p, _| Ok(OperatorKind::MakeSeries(Box::new(p.make_series()?))),
            "as" => Self::op_as,
            "evaluate" => Self::op_evaluate,
            "getschema" => |_, _| Ok(OperatorKind::GetSchema),
            "serialize" => Self::op_serialize,
            "invoke" => Self::op_invoke,
            "render" => Self::op_render,
            _ => return None,
        })
    }

    fn op_where(&mut self, name: &str) -> PResult<OperatorKind> {
        self.need_expr("a predicate", || format!("after `{name}`"))?;
        Ok(OperatorKind::Where(self.expr()?.0))
    }

    fn op_sort(&mut self, name: &str) -> PResult<OperatorKind> {
        self.expect_word("by", || format!("`by` after `{name}`"))?;
        Ok(OperatorKind::Sort(self.sort_keys(name)?))
    }

    fn op_top(&mut self, _: &str) -> PResult<OperatorKind> {
        self.need_expr("a row count", "after `top`")?;
        let (count, _) = self.expr()?;
        self.expect_word("by", "`by` and a sort key after the `top` count")?;
        let by = self.sort_key("top")?;
        Ok(OperatorKind::Top(Box::new(Top { count, by })))
    }

    fn op_take(&mut self, name: &str) -> PResult<OperatorKind> {
        self.need_expr("a row count", || format!("after `{name}`"))?;
        Ok(OperatorKind::Take(self.expr()?.0))
    }

    fn op_as(&mut self, _: &str) -> PResult<OperatorKind> {
        let params = self.params(&[])?;
        let name = self.ident("a name after `as`")?;
        Ok(OperatorKind::As { params, name })
    }

    fn op_evaluate(&mut self, _: &str) -> PResult<OperatorKind> {
        let params = self.params(&[])?;
        self.need_expr("a plugin call", "after `evaluate`")?;
        let (call, _) = self.postfix_expr()?;
        if !matches!(call.kind, ExprKind::Call { .. }) {
            return Err(perr(
                call.span,
                "expected a plugin call after `evaluate`, as in `evaluate bag_unpack(Col)`",
            ));
        }
        let output = if self.eat(&TokenKind::Colon).is_some() {
            Some(self.output_schema()?)
        } else {
            None
        };
        Ok(OperatorKind::Evaluate {
            params,
            call: Box::new(call),
            output,
        })
    }

    /// A plugin's output schema after `evaluate plugin(…) :`: `( [*,] Name:type, … )`.
    fn output_schema(&mut self) -> PResult<OutputSchema> {
        let open = self.expect(&TokenKind::LParen, || {
            "'(' and the output schema after `:`, as in `: (Name:string, Age:long)`".to_string()
        })?;
        let star = self.eat(&TokenKind::Star).is_some();
        let mut columns = Vec::new();
        if !star || self.eat(&TokenKind::Comma).is_some() {
            loop {
                columns.push(self.column_decl()?);
                if self.eat(&TokenKind::Comma).is_none() {
                    break;
                }
            }
        }
        self.expect(&TokenKind::RParen, || {
            "',' or ')' in the output schema".to_string()
        })?;
        Ok(OutputSchema {
            star,
            columns,
            span: Span::new(open.start, self.prev_end),
        })
    }

    fn op_serialize(&mut self, _: &str) -> PResult<OperatorKind> {
        if self.at_clause_end() {
            Ok(OperatorKind::Serialize(Vec::new()))
        } else {
            Ok(OperatorKind::Serialize(
                self.named_list("serialize", false)?,
            ))
        }
    }

    /// `render chart [with (…)]`: a chart for the Log Analytics portal. kqlflow produces rows,
    /// so the operator is read (up to the end of its clause, brackets balanced) and kept only
    /// to say that it is ignored.
    fn op_render(&mut self, _: &str) -> PResult<OperatorKind> {
        let mut depth = 0usize;
        loop {
            match self.kind() {
                TokenKind::Eof => break,
                TokenKind::Pipe | TokenKind::Semi if depth == 0 => break,
                TokenKind::RParen | TokenKind::RBrace | TokenKind::RBracket if depth == 0 => break,
                TokenKind::LParen | TokenKind::LBrace | TokenKind::LBracket => depth += 1,
                TokenKind::RParen | TokenKind::RBrace | TokenKind::RBracket => depth -= 1,
                _ => {}
            }
            self.bump();
        }
        Ok(OperatorKind::Render)
    }

    fn op_invoke(&mut self, _: &str) -> PResult<OperatorKind> {
        self.need_expr("a function call", "after `invoke`")?;
        let (call, _) = self.postfix_expr()?;
        if !matches!(call.kind, ExprKind::Call { .. }) {
            return Err(perr(
                call.span,
                "expected a function call after `invoke`, as in `invoke f()`",
            ));
        }
        Ok(OperatorKind::Invoke(call))
    }

    /// After an operator: only `|`, `;`, `)`, `}`, `,` or the end may follow.
    pub(crate) fn check_operator_end(&self, op: &Operator) -> PResult<()> {
        let name = op.name();
        match self.kind() {
            TokenKind::Pipe
            | TokenKind::Semi
            | TokenKind::RParen
            | TokenKind::RBrace
            | TokenKind::Eof => Ok(()),
            TokenKind::Comma if name == "where" => Err(perr(
                self.span(),
                "unexpected ',' after the `where` predicate: combine conditions with `and`",
            )),
            TokenKind::Comma => Ok(()),
            _ => {
                let mut e = self.unexpected(&format!(
                    "unexpected token after the `{name}` operator: expected '|' or ';'"
                ));
                if let Some(w) = self.word()
                    && is_operator_name(w)
                {
                    e.message
                        .push_str(&format!(" (is a '|' missing before `{w}`?)"));
                } else if matches!(
                    name,
                    "extend" | "project" | "summarize" | "distinct" | "serialize" | "print"
                ) {
                    e.message.push_str(" (is a ',' missing?)");
                }
                Err(e)
            }
        }
    }

    /// A comma-separated list of plain expressions (`distinct a, b`).
    fn expr_list(&mut self, list: &str) -> PResult<Vec<Expr>> {
        let mut out = Vec::new();
        let mut context = format!("after `{list}`");
        loop {
            self.need_expr("an expression", &context)?;
            out.push(self.expr()?.0);
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, list, false) {
                break;
            }
            context = format!("after ',' in the `{list}` list");
        }
        Ok(out)
    }

    /// A column name or wildcard pattern: `Col`, `_*`, `*1`, `['Col Name']`.
    fn column_pattern(&mut self, list: &str, context: &str) -> PResult<ColumnPattern> {
        match self.kind() {
            TokenKind::LBracket => {
                let id = self.ident("a column name")?;
                Ok(ColumnPattern {
                    pattern: id.name,
                    span: id.span,
                })
            }
            TokenKind::Word | TokenKind::Star
                if !self.word().is_some_and(|w| w.starts_with('!')) =>
            {
                let start = self.bump();
                let mut end = start.end;
                while matches!(
                    self.kind(),
                    TokenKind::Word | TokenKind::Star | TokenKind::Long(_)
                ) && self.span().start == end
                {
                    end = self.bump().end;
                }
                let span = Span::new(start.start, end);
                Ok(ColumnPattern {
                    pattern: self.text(span).to_string(),
                    span,
                })
            }
            _ => Err(self.unexpected(&format!(
                "expected a column name or wildcard pattern {context} in `{list}`"
            ))),
        }
    }

    fn pattern_list(&mut self, list: &str) -> PResult<Vec<ColumnPattern>> {
        let mut out = Vec::new();
        let mut context = "first";
        loop {
            let ctx = if context == "first" { "" } else { "after ','" };
            out.push(self.column_pattern(list, ctx)?);
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, list, false) {
                break;
            }
            context = "next";
        }
        Ok(out)
    }

    fn renames(&mut self) -> PResult<Vec<Rename>> {
        let mut out = Vec::new();
        loop {
            let new = self.ident("a new column name in `project-rename`")?;
            if self.is(&TokenKind::Comma) || self.at_clause_end() {
                return Err(perr(
                    new.span,
                    format!(
                        "`project-rename` needs `NewName = ExistingName`, but `{}` has no '='",
                        new.name
                    ),
                ));
            }
            self.expect(
                &TokenKind::Assign,
                "'=' in `project-rename` (the form is `NewName = ExistingName`)",
            )?;
            let old = self.ident("the existing column name after '='")?;
            out.push(Rename {
                span: Span::new(new.span.start, old.span.end),
                new,
                old,
            });
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, "project-rename", false) {
                break;
            }
        }
        Ok(out)
    }

    fn reorder_items(&mut self) -> PResult<Vec<ReorderItem>> {
        let mut out = Vec::new();
        loop {
            let pattern = self.column_pattern("project-reorder", "")?;
            let order = match self.word() {
                Some(w @ ("asc" | "desc")) => {
                    self.bump();
                    Some(w.to_string())
                }
                Some("granny") => {
                    let (name, _) = self.operator_name();
                    if name != "granny-asc" && name != "granny-desc" {
                        return Err(perr(
                            Span::new(pattern.span.end, self.prev_end),
                            "expected `asc`, `desc`, `granny-asc` or `granny-desc`",
                        ));
                    }
                    Some(name)
                }
                _ => None,
            };
            out.push(ReorderItem { pattern, order });
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, "project-reorder", false) {
                break;
            }
        }
        Ok(out)
    }

    fn summarize(&mut self) -> PResult<Summarize> {
        let params = self.params(&[])?;
        let aggregates = if self.is_word("by") {
            Vec::new()
        } else if self.at_clause_end() {
            return Err(self.unexpected("expected an aggregate or `by` after `summarize`"));
        } else {
            self.named_list("summarize", true)?
        };
        let by = if self.eat_word("by").is_some() {
            self.named_list("by", false)?
        } else {
            Vec::new()
        };
        Ok(Summarize {
            params,
            aggregates,
            by,
        })
    }

    fn join(&mut self, op: &str) -> PResult<Join> {
        let mut hints = self.params(&["kind"])?;
        let mut kind = None;
        let mut kind_span = None;
        if let Some(i) = hints.iter().position(|p| p.name.name == "kind") {
            let p = hints.remove(i);
            let w = p.value.as_name().map(|id| id.name.as_str()).unwrap_or("");
            let k = JoinKind::from_word(w)
                .filter(|k| op == "join" || matches!(k, JoinKind::LeftOuter | JoinKind::Inner));
            match k {
                Some(k) => {
                    kind = Some(k);
                    kind_span = Some(p.value.span);
                }
                None => {
                    let valid = if op == "join" {
                        "innerunique, inner, leftouter, rightouter, fullouter, leftanti, \
                         rightanti, leftsemi, rightsemi"
                    } else {
                        "leftouter, inner"
                    };
                    return Err(perr(
                        p.value.span,
                        format!(
                            "unknown `{op}` kind '{}': expected one of {valid}",
                            p.value.span.text(self.src)
                        ),
                    ));
                }
            }
        }
        if !matches!(
            self.kind(),
            TokenKind::LParen | TokenKind::Word | TokenKind::LBracket
        ) || self.is_word("on")
        {
            return Err(self.unexpected(&format!(
                "expected the right side of `{op}` (a table name or a parenthesised query)"
            )));
        }
        let (right, _) = self.postfix_expr()?;
        self.expect_word("on", || {
            format!("`on` and the join columns after the right side of `{op}`")
        })?;
        let mut on = Vec::new();
        let mut context = "after `on`";
        loop {
            self.need_expr("a join condition", context)?;
            let (e, _) = self.expr()?;
            join_conditions(e, &mut on)?;
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, &format!("{op} … on"), false) {
                break;
            }
            context = "after ','";
        }
        Ok(Join {
            kind,
            kind_span,
            hints,
            right: Box::new(right),
            on,
        })
    }

    /// The body of a `union` (operator or source): parameters, then operands.
    pub(crate) fn union_body(&mut self, op: &str) -> PResult<Union> {
        let params = self.params(&["kind", "isfuzzy", "withsource"])?;
        for p in &params {
            let text = p.value.span.text(self.src);
            let ok = match p.name.name.as_str() {
                "kind" => matches!(text, "inner" | "outer"),
                "isfuzzy" => matches!(
                    p.value.kind,
                    ExprKind::Literal(Literal {
                        ty: crate::model::Type::Bool,
                        ..
                    })
                ),
                "withsource" => p.value.as_name().is_some(),
                _ => true,
            };
            if !ok {
                let expected = match p.name.name.as_str() {
                    "kind" => "`inner` or `outer`",
                    "isfuzzy" => "`true` or `false`",
                    _ => "a column name",
                };
                return Err(perr(
                    p.value.span,
                    format!(
                        "invalid value '{text}' for `{}` in `{op}`: expected {expected}",
                        p.name.name
                    ),
                ));
            }
        }
        let mut operands = Vec::new();
        let mut context = format!("after `{op}`");
        loop {
            if !matches!(
                self.kind(),
                TokenKind::LParen | TokenKind::Word | TokenKind::LBracket
            ) {
                return Err(self.unexpected(&format!(
                    "expected a table name or a parenthesised query {context}"
                )));
            }
            operands.push(self.postfix_expr()?.0);
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, op, false) {
                break;
            }
            context = format!("after ',' in `{op}`");
        }
        Ok(Union { params, operands })
    }

    fn expand_item(&mut self, op: &str, context: &str) -> PResult<ExpandItem> {
        let start = self.span().start;
        let target = self.named_expr(op, context)?;
        let to_type = if self.eat_word("to").is_some() {
            self.expect_word("typeof", "`typeof(type)` after `to`")?;
            self.expect(&TokenKind::LParen, "'(' after `typeof`")?;
            let t = self.type_name()?;
            self.expect(&TokenKind::RParen, "')' to close `typeof(…)`")?;
            Some(t)
        } else {
            None
        };
        Ok(ExpandItem {
            target,
            to_type,
            span: Span::new(start, self.prev_end),
        })
    }

    fn expand_items(&mut self, op: &str) -> PResult<Vec<ExpandItem>> {
        let mut items = Vec::new();
        let mut context = format!("after `{op}`");
        loop {
            items.push(self.expand_item(op, &context)?);
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, op, false) {
                break;
            }
            context = format!("after ',' in the `{op}` list");
        }
        Ok(items)
    }

    fn mv_expand(&mut self, op: &str) -> PResult<MvExpand> {
        let params = self.params(&["bagexpansion", "with_itemindex", "kind"])?;
        let items = self.expand_items(op)?;
        let limit = if self.eat_word("limit").is_some() {
            self.need_expr("a row limit", "after `limit`")?;
            Some(self.expr()?.0)
        } else {
            None
        };
        Ok(MvExpand {
            params,
            items,
            limit,
        })
    }

    fn mv_apply(&mut self, op: &str) -> PResult<MvApply> {
        let params = self.params(&["with_itemindex", "id"])?;
        let items = self.expand_items(op)?;
        let limit = if self.eat_word("limit").is_some() {
            self.need_expr("a row limit", "after `limit`")?;
            Some(self.expr()?.0)
        } else {
            None
        };
        self.expect_word("on", || format!("`on (subquery)` after the `{op}` items"))?;
        self.expect(&TokenKind::LParen, || {
            format!("'(' and the subquery after `{op} … on`")
        })?;
        self.enter()?;
        let sub = self.subquery_operators();
        self.leave();
        let subquery = sub?;
        self.expect(&TokenKind::RParen, || {
            format!("')' to close the `{op}` subquery")
        })?;
        Ok(MvApply {
            params,
            items,
            limit,
            subquery,
        })
    }

    /// `op | op | …` without a source, as in an `mv-apply` subquery.
    fn subquery_operators(&mut self) -> PResult<Vec<Operator>> {
        let mut ops = Vec::new();
        loop {
            ops.push(self.operator()?);
            if self.eat(&TokenKind::Pipe).is_none() {
                break;
            }
        }
        Ok(ops)
    }

    fn sort_key(&mut self, op: &str) -> PResult<SortKey> {
        self.need_expr("a sort key", || format!("in `{op}`"))?;
        let (expr, _) = self.expr()?;
        let descending = match self.word() {
            Some("asc") => {
                self.bump();
                Some(false)
            }
            Some("desc") => {
                self.bump();
                Some(true)
            }
            _ => None,
        };
        let nulls_first = if self.eat_word("nulls").is_some() {
            match self.word() {
                Some("first") => {
                    self.bump();
                    Some(true)
                }
                Some("last") => {
                    self.bump();
                    Some(false)
                }
                _ => return Err(self.unexpected("expected `first` or `last` after `nulls`")),
            }
        } else {
            None
        };
        Ok(SortKey {
            span: Span::new(expr.span.start, self.prev_end),
            expr,
            descending,
            nulls_first,
        })
    }

    fn sort_keys(&mut self, op: &str) -> PResult<Vec<SortKey>> {
        let mut keys = Vec::new();
        loop {
            keys.push(self.sort_key(op)?);
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.trailing_comma(comma, &format!("{op} by"), false) {
                break;
            }
        }
        Ok(keys)
    }

    fn parse_op(&mut self) -> PResult<Parse> {
        let params = self.params(&["kind", "flags"])?;
        self.need_expr("the text to parse", "after `parse`")?;
        let (expr, _) = self.expr()?;
        self.expect_word("with", "`with` and a pattern after the parsed expression")?;
        let mut pattern = Vec::new();
        while !self.at_clause_end() {
            match self.kind().clone() {
                TokenKind::Star => pattern.push(ParsePart::Star(self.bump())),
                TokenKind::Str(first) => {
                    let start = self.bump();
                    let mut s = first;
                    while let TokenKind::Str(next) = self.kind() {
                        s.push_str(next);
                        self.bump();
                    }
                    pattern.push(ParsePart::Text(s, Span::new(start.start, self.prev_end)));
                }
                TokenKind::Word | TokenKind::LBracket => {
                    let name = self.ident("a column name")?;
                    let ty = if self.eat(&TokenKind::Colon).is_some() {
                        Some(self.type_name()?)
                    } else {
                        None
                    };
                    pattern.push(ParsePart::Column { name, ty });
                }
                _ => {
                    return Err(self.unexpected(
                        "expected '*', a string or a column name in the `parse` pattern",
                    ));
                }
            }
        }
        if pattern.is_empty() {
            return Err(self.unexpected("expected a pattern after `with`"));
        }
        Ok(Parse {
            params,
            expr,
            pattern,
        })
    }

    fn make_series(&mut self) -> PResult<MakeSeries> {
        let params = self.params(&["kind"])?;
        let mut aggregates = Vec::new();
        let mut context = "after `make-series`".to_string();
        loop {
            let agg = self.named_expr("make-series", &context)?;
            let default = if self.eat_word("default").is_some() {
                self.expect(&TokenKind::Assign, "'=' after `default`")?;
                self.need_expr("a default value", "after `default =`")?;
                Some(self.expr()?.0)
            } else {
                None
            };
            aggregates.push(SeriesAggregate { agg, default });
            let Some(comma) = self.eat(&TokenKind::Comma) else {
                break;
            };
            if self.is_word("on") || self.at_clause_end() {
                self.errors.push(*perr(
                    comma,
                    format!(
                        "expected an expression after ',' in the `make-series` list, found {}: \
                         remove the trailing ','",
                        self.describe(self.peek())
                    ),
                ));
                break;
            }
            context = "after ',' in the `make-series` list".to_string();
        }
        self.expect_word("on", "`on` and the axis column in `make-series`")?;
        self.need_expr("an axis column", "after `on`")?;
        let (on, _) = self.postfix_expr()?;
        let (from, to, step);
        let range = self.is_word("in");
        if self.eat_word("in").is_some() {
            let (r, _) = self.postfix_expr()?;
            match r.kind {
                ExprKind::Call { name, args } if name.name == "range" && args.len() == 3 => {
                    let mut it = args.into_iter();
                    from = it.next();
                    to = it.next();
                    step = match it.next() {
                        Some(s) => s,
                        None => return Err(perr(r.span, "range needs three arguments")),
                    };
                }
                _ => {
                    return Err(perr(
                        r.span,
                        "expected `range(start, stop, step)` after `in` in `make-series`",
                    ));
                }
            }
        } else {
            from = if self.eat_word("from").is_some() {
                self.need_expr("a start", "after `from`")?;
                Some(self.expr()?.0)
            } else {
                None
            };
            to = if self.eat_word("to").is_some() {
                self.need_expr("an end", "after `to`")?;
                Some(self.expr()?.0)
            } else {
                None
            };
            self.expect_word("step", "`step` and a bin size in `make-series`")?;
            self.need_expr("a bin size", "after `step`")?;
            step = self.expr()?.0;
        }
        let by = if self.eat_word("by").is_some() {
            self.named_list("by", false)?
        } else {
            Vec::new()
        };
        Ok(MakeSeries {
            params,
            aggregates,
            on,
            from,
            to,
            step,
            range,
            by,
        })
    }
}

/// The join conditions of one `on` item: `Col`, `$left.A == $right.B` (either order), or
/// several of them joined by `and` (`$left.A == $right.B and $left.C == $right.D`).
fn join_conditions(e: Expr, out: &mut Vec<JoinCondition>) -> PResult<()> {
    match e.kind {
        ExprKind::Logical {
            op: LogicalOp::And,
            operands,
        } => {
            for o in operands {
                join_conditions(o, out)?;
            }
            Ok(())
        }
        ExprKind::Paren(inner) if matches!(inner.kind, ExprKind::Logical { .. }) => {
            join_conditions(*inner, out)
        }
        _ => {
            out.push(join_condition(e)?);
            Ok(())
        }
    }
}

/// A join condition: `Col` or `$left.A == $right.B` (either order).
fn join_condition(e: Expr) -> PResult<JoinCondition> {
    /// `$left.Col`, `$right.Col`, or `$left['Col Name']`.
    fn side(e: &Expr) -> Option<(&str, Ident)> {
        let (target, name) = match &e.kind {
            ExprKind::Member { target, name } => (target, name.clone()),
            ExprKind::Index { target, index } => match &index.kind {
                ExprKind::Literal(Literal {
                    value: crate::model::Value::String(s),
                    ..
                }) => (
                    target,
                    Ident {
                        name: s.to_string(),
                        span: index.span,
                    },
                ),
                _ => return None,
            },
            _ => return None,
        };
        match &target.kind {
            ExprKind::Name(t) if t.name == "$left" || t.name == "$right" => {
                Some((t.name.as_str(), name))
            }
            _ => None,
        }
    }
    match &e.kind {
        ExprKind::Name(id) if !id.name.starts_with('$') => {
            return Ok(JoinCondition::Column(id.clone()));
        }
        ExprKind::Binary {
            op: BinaryOp::Eq,
            lhs,
            rhs,
        } => match (side(lhs), side(rhs)) {
            (Some(("$left", l)), Some(("$right", r)))
            | (Some(("$right", r)), Some(("$left", l))) => {
                return Ok(JoinCondition::Equal {
                    left: l,
                    right: r,
                    span: e.span,
                });
            }
            _ => {}
        },
        _ => {}
    }
    Err(perr(
        e.span,
        "a join condition must be a column name or `$left.Column == $right.Column` (several joined by `,` or `and`)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("summarise"), Some("summarize"));
        assert_eq!(suggest("Where"), Some("where"));
        assert_eq!(suggest("mv-expnd"), Some("mv-expand"));
        assert_eq!(suggest("zzzzzzzz"), None);
        assert_eq!(edit_distance("kitten", "sitting", 5), 3);
        assert_eq!(edit_distance("a", "abcdef", 2), 3);
    }
}
