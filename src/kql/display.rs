//! Re-printing the AST as KQL text. Printing a parsed query and parsing the result again gives
//! the same tree (up to spans); comments and layout are not kept.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use crate::model::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MILLI, TICKS_PER_MINUTE, TICKS_PER_SECOND, Type,
    Value, format_datetime_iso, format_timespan,
};

/// Words that cannot be printed as bare names.
const RESERVED: &[&str] = &[
    "and",
    "or",
    "not",
    "between",
    "in",
    "by",
    "on",
    "with",
    "to",
    "from",
    "step",
    "asc",
    "desc",
    "nulls",
    "true",
    "false",
    "True",
    "False",
    "TRUE",
    "FALSE",
    "null",
    "let",
    "as",
    "default",
    "limit",
    "kind",
    "typeof",
    "dynamic",
    "datetime",
    "time",
    "timespan",
    "guid",
    "union",
    "print",
    "datatable",
    "externaldata",
    "range",
    "set",
    "declare",
    "alias",
    "pattern",
    "restrict",
    "matches",
    "regex",
    "hint",
    "like",
    "view",
    "search",
    "find",
    "h",
    "H",
    "int",
    "long",
    "real",
    "double",
    "decimal",
    "bool",
    "boolean",
];

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn is_plain_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = match bytes.next() {
        Some(b'$') => s == "$left" || s == "$right",
        Some(c) => c.is_ascii_alphabetic() || c == b'_',
        None => false,
    };
    first_ok
        && s.bytes()
            .skip(1)
            .all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !RESERVED.contains(&s)
        && BinaryOp::from_word(s).is_none()
        && ListOp::from_word(s).is_none()
}

/// Writes a timespan as a literal: `1d`, `5m`, `100ms` when whole in one unit, else
/// `time(d.hh:mm:ss.fffffff)`; negative values as `time(-…)`.
fn write_timespan(f: &mut impl Write, t: i64) -> fmt::Result {
    const UNITS: &[(i64, &str)] = &[
        (TICKS_PER_DAY, "d"),
        (TICKS_PER_HOUR, "h"),
        (TICKS_PER_MINUTE, "m"),
        (TICKS_PER_SECOND, "s"),
        (TICKS_PER_MILLI, "ms"),
        (1, "tick"),
    ];
    let (body, neg) = (t.unsigned_abs(), t < 0);
    let unit = UNITS
        .iter()
        .find(|(per, _)| body % (*per as u64) == 0)
        .filter(|(per, _)| body > 0 && (body / *per as u64) < 1_000_000);
    match (unit, neg) {
        (Some((per, name)), false) => write!(f, "{}{name}", body / *per as u64),
        (Some((per, name)), true) => write!(f, "time(-{}{name})", body / *per as u64),
        (None, _) => write!(f, "time({})", format_timespan(t)),
    }
}

/// Writes `s` as a KQL string literal: verbatim `@'…'` when it holds backslashes (regular
/// expressions read better so), double-quoted with escapes otherwise.
fn write_str_lit(f: &mut impl Write, s: &str) -> fmt::Result {
    if s.contains('\\') && !s.contains(['\'', '\n', '\r']) && !s.chars().any(char::is_control) {
        f.write_str("@'")?;
        f.write_str(s)?;
        return f.write_char('\'');
    }
    write_quoted(f, s)
}

/// Writes `s` as a double-quoted KQL string literal.
fn write_quoted(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\0' => f.write_str("\\0")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if is_plain_name(&self.name) {
            f.write_str(&self.name)
        } else {
            f.write_char('[')?;
            write_str_lit(f, &self.name)?;
            f.write_char(']')
        }
    }
}

fn write_real(f: &mut impl Write, v: f64) -> fmt::Result {
    if v.is_nan() {
        f.write_str("real(nan)")
    } else if v.is_infinite() {
        f.write_str(if v > 0.0 { "real(inf)" } else { "real(-inf)" })
    } else {
        let s = format!("{v:?}");
        // Debug prints 1.0, 1e20, -0.0: all valid KQL reals.
        f.write_str(&s)
    }
}

/// Writes a value inside `dynamic(…)`.
fn write_dynamic(f: &mut impl Write, v: &Value) -> fmt::Result {
    match v {
        Value::Null => f.write_str("null"),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Long(n) => write!(f, "{n}"),
        Value::Real(r) if r.is_finite() => write_real(f, *r),
        // JSON has no NaN or infinities; print them as null.
        Value::Real(_) => f.write_str("null"),
        Value::DateTime(t) => write!(f, "datetime({})", format_datetime_iso(*t)),
        Value::TimeSpan(t) => write_timespan(f, *t),
        Value::String(s) => write_str_lit(f, s),
        Value::Array(items) => {
            f.write_char('[')?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_dynamic(f, item)?;
            }
            f.write_char(']')
        }
        Value::Object(pairs) => {
            f.write_char('{')?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_str_lit(f, k)?;
                f.write_str(": ")?;
                write_dynamic(f, v)?;
            }
            f.write_char('}')
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        match (self.ty, v) {
            (Type::Dynamic, Value::Null) => f.write_str("dynamic(null)"),
            (Type::Dynamic, v) => {
                f.write_str("dynamic(")?;
                write_dynamic(f, v)?;
                f.write_char(')')
            }
            (Type::Bool, Value::Bool(b)) => write!(f, "{b}"),
            (Type::Long, Value::Long(n)) if *n >= 0 => write!(f, "{n}"),
            (Type::Long, Value::Long(n)) => write!(f, "long({n})"),
            (Type::Int, Value::Long(n)) => write!(f, "int({n})"),
            (Type::Real, Value::Real(r)) if *r >= 0.0 || r.is_nan() => write_real(f, *r),
            (Type::Real, Value::Real(r)) if r.is_infinite() => write_real(f, *r),
            (Type::Real, Value::Real(r)) => {
                f.write_str("real(")?;
                write_real(f, *r)?;
                f.write_char(')')
            }
            (Type::String, Value::String(s)) => write_str_lit(f, s),
            (Type::DateTime, Value::DateTime(t)) => {
                write!(f, "datetime({})", format_datetime_iso(*t))
            }
            (Type::TimeSpan, Value::TimeSpan(t)) => write_timespan(f, *t),
            (ty, Value::Null) => write!(f, "{}(null)", null_keyword(ty)),
            // A value that does not match its type (only from hand-built trees): print the
            // value as dynamic.
            (_, v) => {
                f.write_str("dynamic(")?;
                write_dynamic(f, v)?;
                f.write_char(')')
            }
        }
    }
}

fn null_keyword(ty: Type) -> &'static str {
    match ty {
        Type::TimeSpan => "timespan",
        Type::String => "dynamic",
        t => t.name(),
    }
}

/// Binding power of an expression for deciding where parentheses are needed.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Logical {
            op: LogicalOp::Or, ..
        } => 1,
        ExprKind::Logical {
            op: LogicalOp::And, ..
        } => 2,
        ExprKind::Binary { op, .. } if op.is_arithmetic() => match op {
            BinaryOp::Add | BinaryOp::Sub => 4,
            _ => 5,
        },
        ExprKind::Binary { .. } | ExprKind::Between { .. } | ExprKind::InList { .. } => 3,
        ExprKind::Unary {
            op: UnaryOp::Neg | UnaryOp::Plus,
            ..
        } => 6,
        // Pipes and tabular sources are only safe inside parentheses.
        ExprKind::Pipe { .. }
        | ExprKind::Union(_)
        | ExprKind::Print(_)
        | ExprKind::Datatable { .. }
        | ExprKind::ExternalData { .. }
        | ExprKind::Range { .. } => 0,
        _ => 7,
    }
}

/// Writes `e`, parenthesised when its precedence is below `min`.
fn write_sub(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if prec(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes an expression where a tabular expression or any scalar may stand: an argument, a
/// list item, a statement.
fn write_top(f: &mut Formatter<'_>, e: &Expr) -> fmt::Result {
    write!(f, "{e}")
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Name(id) => write!(f, "{id}"),
            ExprKind::Star => f.write_char('*'),
            ExprKind::TypeOf(t) => write!(f, "typeof({t})"),
            ExprKind::NamedArg { name, value } => {
                // The name as written: the parser reads a named argument's name as a bare word
                // (a keyword such as `kind` too), so it is not quoted.
                write!(f, "{} = ", name.name)?;
                write_top(f, value)
            }
            ExprKind::Paren(inner) => {
                f.write_char('(')?;
                write_top(f, inner)?;
                f.write_char(')')
            }
            ExprKind::Unary { op, operand } => match op {
                UnaryOp::Not => {
                    f.write_str("not(")?;
                    write_top(f, operand)?;
                    f.write_char(')')
                }
                UnaryOp::Neg | UnaryOp::Plus => {
                    f.write_str(if *op == UnaryOp::Neg { "-" } else { "+" })?;
                    // `- -1` must not print as `--1`… which is fine in KQL, but a space keeps
                    // it readable.
                    if matches!(operand.kind, ExprKind::Unary { .. }) {
                        f.write_char(' ')?;
                    }
                    write_sub(f, operand, 6)
                }
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let p = prec(self);
                write_sub(f, lhs, p)?;
                write!(f, " {} ", op.as_str())?;
                write_sub(f, rhs, p + 1)
            }
            ExprKind::Logical { op, operands } => {
                let p = prec(self);
                let word = if *op == LogicalOp::And { "and" } else { "or" };
                for (i, o) in operands.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {word} ")?;
                    }
                    // A nested chain of the same operator must keep its parentheses so the
                    // tree re-parses the same.
                    write_sub(f, o, p + 1)?;
                }
                Ok(())
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                write_sub(f, expr, 3)?;
                write!(f, " {}between (", if *negated { "!" } else { "" })?;
                write_sub(f, low, 1)?;
                f.write_str(" .. ")?;
                write_sub(f, high, 1)?;
                f.write_char(')')
            }
            ExprKind::InList { expr, op, items } => {
                write_sub(f, expr, 3)?;
                write!(f, " {} (", op.as_str())?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_top(f, item)?;
                }
                f.write_char(')')
            }
            ExprKind::Call { name, args } => {
                write!(f, "{}(", name.name)?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_top(f, a)?;
                }
                f.write_char(')')
            }
            ExprKind::Member { target, name } => {
                write_sub(f, target, 7)?;
                if is_identifier(&name.name) {
                    write!(f, ".{}", name.name)
                } else {
                    f.write_char('[')?;
                    write_str_lit(f, &name.name)?;
                    f.write_char(']')
                }
            }
            ExprKind::Index { target, index } => {
                write_sub(f, target, 7)?;
                write!(f, "[{index}]")
            }
            ExprKind::Pipe { source, operators } => {
                match source.kind {
                    ExprKind::Pipe { .. } => write!(f, "({source})")?,
                    _ => write!(f, "{source}")?,
                }
                for op in operators {
                    write!(f, "\n| {op}")?;
                }
                Ok(())
            }
            ExprKind::Union(u) => write!(f, "union {u}"),
            ExprKind::Print(items) => {
                f.write_str("print ")?;
                write_list(f, items)
            }
            ExprKind::Datatable { columns, values } => {
                f.write_str("datatable(")?;
                write_list(f, columns)?;
                f.write_str(") [")?;
                write_list(f, values)?;
                f.write_char(']')
            }
            ExprKind::ExternalData {
                columns,
                uris,
                properties,
            } => {
                f.write_str("externaldata(")?;
                write_list(f, columns)?;
                f.write_str(") [")?;
                write_list(f, uris)?;
                f.write_char(']')?;
                if !properties.is_empty() {
                    f.write_str(" with (")?;
                    write_list(f, properties)?;
                    f.write_char(')')?;
                }
                Ok(())
            }
            ExprKind::Range {
                column,
                from,
                to,
                step,
            } => write!(f, "range {column} from {from} to {to} step {step}"),
        }
    }
}

impl Display for ColumnDecl {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.ty)
    }
}

impl Display for Property {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.value.kind {
            ExprKind::Name(id) => write!(f, "{}={}", self.name.name, id.name),
            _ => write!(f, "{}={}", self.name.name, self.value),
        }
    }
}

impl Display for NamedExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.names.len() {
            0 => {}
            1 => write!(f, "{} = ", self.names[0])?,
            _ => {
                f.write_char('(')?;
                write_list(f, &self.names)?;
                f.write_str(") = ")?;
            }
        }
        write!(f, "{}", self.expr)
    }
}

impl Display for Union {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for p in &self.params {
            write!(f, "{p} ")?;
        }
        for (i, o) in self.operands.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_sub(f, o, 7)?;
        }
        Ok(())
    }
}

impl Display for SortKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        match self.descending {
            Some(true) => f.write_str(" desc")?,
            Some(false) => f.write_str(" asc")?,
            None => {}
        }
        match self.nulls_first {
            Some(true) => f.write_str(" nulls first"),
            Some(false) => f.write_str(" nulls last"),
            None => Ok(()),
        }
    }
}

impl Display for ColumnPattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let plain = if self.is_wildcard() {
            self.pattern
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'*')
                && !self.pattern.starts_with(|c: char| c.is_ascii_digit())
        } else {
            is_plain_name(&self.pattern)
        };
        if plain {
            f.write_str(&self.pattern)
        } else {
            f.write_char('[')?;
            write_str_lit(f, &self.pattern)?;
            f.write_char(']')
        }
    }
}

impl Display for JoinCondition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            JoinCondition::Column(c) => write!(f, "{c}"),
            JoinCondition::Equal { left, right, .. } => {
                write_side(f, "$left", left)?;
                f.write_str(" == ")?;
                write_side(f, "$right", right)
            }
        }
    }
}

impl Display for ExpandItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        if let Some(t) = self.to_type {
            write!(f, " to typeof({t})")?;
        }
        Ok(())
    }
}

/// `$left.Col`, or `$left["Col Name"]` when the name is not an identifier.
fn write_side(f: &mut Formatter<'_>, side: &str, col: &Ident) -> fmt::Result {
    if is_identifier(&col.name) {
        write!(f, "{side}.{}", col.name)
    } else {
        write!(f, "{side}[")?;
        write_str_lit(f, &col.name)?;
        f.write_char(']')
    }
}

fn write_join(f: &mut Formatter<'_>, word: &str, j: &Join) -> fmt::Result {
    f.write_str(word)?;
    if let Some(k) = j.kind {
        write!(f, " kind={}", k.as_str())?;
    }
    for h in &j.hints {
        write!(f, " {h}")?;
    }
    f.write_char(' ')?;
    write_sub(f, &j.right, 7)?;
    f.write_str(" on ")?;
    write_list(f, &j.on)
}

fn write_params(f: &mut Formatter<'_>, params: &[Property]) -> fmt::Result {
    for p in params {
        write!(f, " {p}")?;
    }
    Ok(())
}

impl Display for Operator {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OperatorKind::Where(e) => write!(f, "where {e}"),
            OperatorKind::Extend(items) => {
                f.write_str("extend ")?;
                write_list(f, items)
            }
            OperatorKind::Project(items) => {
                f.write_str("project ")?;
                write_list(f, items)
            }
            OperatorKind::ProjectAway(p) => {
                f.write_str("project-away ")?;
                write_list(f, p)
            }
            OperatorKind::ProjectKeep(p) => {
                f.write_str("project-keep ")?;
                write_list(f, p)
            }
            OperatorKind::ProjectRename(r) => {
                f.write_str("project-rename ")?;
                for (i, r) in r.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} = {}", r.new, r.old)?;
                }
                Ok(())
            }
            OperatorKind::ProjectReorder(items) => {
                f.write_str("project-reorder ")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", it.pattern)?;
                    if let Some(o) = &it.order {
                        write!(f, " {o}")?;
                    }
                }
                Ok(())
            }
            OperatorKind::Summarize(s) => {
                f.write_str("summarize")?;
                write_params(f, &s.params)?;
                if !s.aggregates.is_empty() {
                    f.write_char(' ')?;
                    write_list(f, &s.aggregates)?;
                }
                if !s.by.is_empty() {
                    f.write_str(" by ")?;
                    write_list(f, &s.by)?;
                }
                Ok(())
            }
            OperatorKind::Join(j) => write_join(f, "join", j),
            OperatorKind::Lookup(j) => write_join(f, "lookup", j),
            OperatorKind::Union(u) => write!(f, "union {u}"),
            OperatorKind::MvExpand(m) => {
                f.write_str("mv-expand")?;
                write_params(f, &m.params)?;
                f.write_char(' ')?;
                write_list(f, &m.items)?;
                if let Some(l) = &m.limit {
                    write!(f, " limit {l}")?;
                }
                Ok(())
            }
            OperatorKind::MvApply(m) => {
                f.write_str("mv-apply")?;
                write_params(f, &m.params)?;
                f.write_char(' ')?;
                write_list(f, &m.items)?;
                if let Some(l) = &m.limit {
                    write!(f, " limit {l}")?;
                }
                f.write_str(" on (")?;
                for (i, op) in m.subquery.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{op}")?;
                }
                f.write_char(')')
            }
            OperatorKind::Sort(keys) => {
                f.write_str("sort by ")?;
                write_list(f, keys)
            }
            OperatorKind::Top(t) => write!(f, "top {} by {}", t.count, t.by),
            OperatorKind::Take(n) => write!(f, "take {n}"),
            OperatorKind::Distinct(cols) => {
                f.write_str("distinct ")?;
                write_list(f, cols)
            }
            OperatorKind::Count => f.write_str("count"),
            OperatorKind::Parse(p) => {
                f.write_str("parse")?;
                write_params(f, &p.params)?;
                write!(f, " {} with", p.expr)?;
                for part in &p.pattern {
                    match part {
                        ParsePart::Star(_) => f.write_str(" *")?,
                        ParsePart::Text(s, _) => {
                            f.write_char(' ')?;
                            write_str_lit(f, s)?;
                        }
                        ParsePart::Column { name, ty } => {
                            write!(f, " {name}")?;
                            if let Some(t) = ty {
                                write!(f, ":{t}")?;
                            }
                        }
                    }
                }
                Ok(())
            }
            OperatorKind::MakeSeries(m) => {
                f.write_str("make-series")?;
                write_params(f, &m.params)?;
                for (i, a) in m.aggregates.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    write!(f, "{}", a.agg)?;
                    if let Some(d) = &a.default {
                        write!(f, " default = {d}")?;
                    }
                }
                write!(f, " on {}", m.on)?;
                match (&m.from, &m.to) {
                    (Some(a), Some(b)) if m.range => {
                        write!(f, " in range({a}, {b}, {})", m.step)?;
                    }
                    _ => {
                        if let Some(e) = &m.from {
                            write!(f, " from {e}")?;
                        }
                        if let Some(e) = &m.to {
                            write!(f, " to {e}")?;
                        }
                        write!(f, " step {}", m.step)?;
                    }
                }
                if !m.by.is_empty() {
                    f.write_str(" by ")?;
                    write_list(f, &m.by)?;
                }
                Ok(())
            }
            OperatorKind::As { params, name } => {
                f.write_str("as")?;
                write_params(f, params)?;
                write!(f, " {name}")
            }
            OperatorKind::Evaluate {
                params,
                call,
                output,
            } => {
                f.write_str("evaluate")?;
                write_params(f, params)?;
                write!(f, " {call}")?;
                if let Some(o) = output {
                    f.write_str(" : (")?;
                    if o.star {
                        f.write_char('*')?;
                    }
                    for (i, c) in o.columns.iter().enumerate() {
                        if i > 0 || o.star {
                            f.write_str(", ")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_char(')')?;
                }
                Ok(())
            }
            OperatorKind::GetSchema => f.write_str("getschema"),
            OperatorKind::Render => f.write_str("render"),
            OperatorKind::Serialize(items) => {
                f.write_str("serialize")?;
                if !items.is_empty() {
                    f.write_char(' ')?;
                    write_list(f, items)?;
                }
                Ok(())
            }
            OperatorKind::Invoke(call) => write!(f, "invoke {call}"),
        }
    }
}

impl Display for Param {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.name)?;
        match &self.ty {
            ParamType::Scalar(t) => write!(f, "{t}")?,
            ParamType::Tabular { columns, wildcard } => {
                f.write_char('(')?;
                write_list(f, columns)?;
                if *wildcard {
                    f.write_str(if columns.is_empty() { "*" } else { ", *" })?;
                }
                f.write_char(')')?;
            }
        }
        if let Some(d) = &self.default {
            write!(f, " = {d}")?;
        }
        Ok(())
    }
}

impl Display for FunctionDef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.view {
            f.write_str("view ")?;
        }
        f.write_char('(')?;
        write_list(f, &self.params)?;
        f.write_str(") {\n")?;
        for s in &self.body {
            writeln!(f, "{s};")?;
        }
        f.write_char('}')
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Let(l) => {
                write!(f, "let {} = ", l.name)?;
                match &l.value {
                    LetValue::Expr(e) => write_top(f, e),
                    LetValue::Function(d) => write!(f, "{d}"),
                }
            }
            Statement::Expr(e) => write_top(f, e),
        }
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, s) in self.statements.iter().enumerate() {
            if i > 0 {
                f.write_str(";\n")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}
