//! `evaluate` plugins whose output columns come from the data: `bag_unpack`. (`ipv4_lookup`
//! is a join, in [`super::joins`].)
//!
//! A statically bound plan cannot look at the data, so `bag_unpack` binds like a watchlist
//! without its file: its columns are the ones its output schema declares, or else the names
//! the rest of the pipe reads that nothing else defines.

use super::*;

/// How `bag_unpack` resolves a slot named as an input column (`columnsConflict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conflict {
    /// Kusto's default, an error when the data holds such a slot: kqlflow cannot know
    /// whether it does, and keeps the input column.
    Error,
    /// The slot replaces the input column.
    ReplaceSource,
    /// The input column is kept.
    KeepSource,
}

/// The arguments of a `bag_unpack` call after its column.
struct UnpackArgs {
    prefix: String,
    conflict: Conflict,
    ignored: Vec<String>,
}

impl Binder<'_> {
    /// The names the operators after the one being bound read that they do not assign
    /// first: what an `evaluate bag_unpack` with no output schema gives as columns. Bracketed
    /// names (`['@Name']`, `['#text']`) count as names.
    pub(super) fn names_read_after(&self, rest: &[Operator]) -> Vec<String> {
        let mut names = self.names_in_ops(rest);
        let (_, assigned) = self.time_and_assigned_names(rest);
        names.retain(|n| !assigned.contains(n));
        if let (Some(first), Some(last)) = (rest.first(), rest.last()) {
            let text = Span::new(first.span.start, last.span.end).text(self.src);
            if let Ok(tokens) = kql::tokenize(text) {
                use kql::TokenKind as K;
                for (i, w) in tokens.windows(3).enumerate() {
                    let (K::LBracket, K::Str(name), K::RBracket) =
                        (&w[0].kind, &w[1].kind, &w[2].kind)
                    else {
                        continue;
                    };
                    // `x['a']` indexes x; `['a']` alone is a column.
                    let indexes = i > 0
                        && matches!(
                            tokens[i - 1].kind,
                            K::Word | K::RParen | K::RBracket | K::Str(_) | K::Dot
                        );
                    if !indexes && !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
        names
    }

    /// `evaluate bag_unpack(Col [, OutputColumnPrefix] [, columnsConflict] [,
    /// ignoredProperties]) [: (OutputSchema)]`: each row with its bag `Col` replaced by one
    /// column per slot, `prefix + slot = Col[slot]` (null when the row's bag has no such slot).
    /// The slots are the output schema's columns (typed as declared, converted; with `*`
    /// after the input's columns, without it alone), or else `read` (the names the rest of
    /// the pipe reads that no input column or `let` defines and that carry the prefix),
    /// typed dynamic as Kusto types slots of mixed types, with a note naming them. A per-row
    /// map: both engines evaluate it as any `extend`.
    pub(super) fn bind_bag_unpack(
        &mut self,
        p: Plan,
        args: &[Expr],
        output: Option<&OutputSchema>,
        read: &[String],
        span: Span,
    ) -> Result<Plan> {
        let Some(first) = args.first() else {
            return Err(BindError::new(
                span,
                "bag_unpack takes the dynamic column to unpack, as in `evaluate bag_unpack(d)`",
            ));
        };
        let scope = Scope::of(&p);
        let bag_col = match &strip_paren(first).kind {
            ExprKind::Name(id) => match p.index_of(&id.name) {
                Some(i) => i,
                None => return Err(self.unknown_column(id, &scope)),
            },
            _ => {
                return Err(BindError::new(
                    first.span,
                    "bag_unpack: expected a column of the input (the bag to unpack)",
                ));
            }
        };
        let bag = match p.schema[bag_col].ty {
            Type::Dynamic => ScalarExpr::Column(bag_col),
            // A bag held as JSON text.
            Type::String => ScalarExpr::Call {
                name: "parse_json".to_string(),
                args: vec![ScalarExpr::Column(bag_col)],
            },
            other => {
                return Err(BindError::new(
                    first.span,
                    format!(
                        "bag_unpack: '{}' is a {}, not a dynamic property bag",
                        p.schema[bag_col].name,
                        other.name()
                    ),
                ));
            }
        };
        let opts = self.unpack_args(&args[1..])?;
        let slot = |name: &str| ScalarExpr::Index {
            expr: Box::new(bag.clone()),
            index: Box::new(ScalarExpr::Literal(Value::str(name))),
        };
        let inputs: Vec<(Str, Type, ScalarExpr)> = scope
            .cols
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != bag_col)
            .map(|(_, c)| c.clone())
            .collect();
        let is_input = |n: &str| inputs.iter().any(|c| &*c.0 == n);
        let mut cols: Vec<(Str, Type, ScalarExpr)> = Vec::new();
        if let Some(schema) = output {
            if schema.star {
                cols.extend(inputs.iter().cloned());
            }
            for c in &schema.columns {
                let name = c.name.name.as_str();
                let x = match name.strip_prefix(opts.prefix.as_str()) {
                    Some(s)
                        if !opts.ignored.iter().any(|i| i == s)
                            && (!is_input(name) || opts.conflict == Conflict::ReplaceSource) =>
                    {
                        ScalarExpr::Cast(Box::new(slot(s)), c.ty)
                    }
                    _ => match inputs.iter().find(|i| &*i.0 == name) {
                        Some(i) => ScalarExpr::Cast(Box::new(i.2.clone()), c.ty),
                        None => ScalarExpr::Literal(missing_of(c.ty)),
                    },
                };
                match cols.iter_mut().find(|x| &*x.0 == name) {
                    Some(e) => *e = (Str::from(name), c.ty, x),
                    None => cols.push((Str::from(name), c.ty, x)),
                }
            }
            return Ok(map_plan(p, cols));
        }
        cols.extend(inputs.iter().cloned());
        let mut unpacked: Vec<String> = Vec::new();
        for n in read {
            let Some(s) = n.strip_prefix(opts.prefix.as_str()) else {
                continue;
            };
            if s.is_empty()
                || opts.ignored.iter().any(|i| i == s)
                || self.lookup(n).is_some()
                || unpacked.contains(n)
            {
                continue;
            }
            match cols.iter_mut().find(|c| &*c.0 == n.as_str()) {
                Some(c) if opts.conflict == Conflict::ReplaceSource => {
                    *c = (Str::from(n.as_str()), Type::Dynamic, slot(s));
                }
                Some(_) => continue,
                None => cols.push((Str::from(n.as_str()), Type::Dynamic, slot(s))),
            }
            unpacked.push(n.clone());
        }
        let note = format!(
            "bag_unpack's columns depend on the data: bound with the names the rest of the query reads, typed dynamic (declare them with `evaluate bag_unpack(…) : (*, Name:type, …)`): {}",
            if unpacked.is_empty() {
                "none".to_string()
            } else {
                unpacked.join(", ")
            }
        );
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
        Ok(map_plan(p, cols))
    }

    /// `OutputColumnPrefix`, `columnsConflict` and `ignoredProperties`, in that order or by
    /// name, each a constant.
    fn unpack_args(&mut self, args: &[Expr]) -> Result<UnpackArgs> {
        let mut out = UnpackArgs {
            prefix: String::new(),
            conflict: Conflict::Error,
            ignored: Vec::new(),
        };
        const NAMES: [&str; 3] = ["OutputColumnPrefix", "columnsConflict", "ignoredProperties"];
        for (i, a) in args.iter().enumerate() {
            let (which, value) = match &a.kind {
                ExprKind::NamedArg { name, value } => {
                    match NAMES
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(&name.name))
                    {
                        Some(k) => (k, &**value),
                        None => {
                            return Err(BindError::new(
                                name.span,
                                format!(
                                    "bag_unpack has no parameter '{}' (it takes {})",
                                    name.name,
                                    NAMES.join(", ")
                                ),
                            ));
                        }
                    }
                }
                _ if i < NAMES.len() => (i, a),
                _ => {
                    return Err(BindError::new(
                        a.span,
                        "bag_unpack takes at most the column, a prefix, columnsConflict and ignoredProperties",
                    ));
                }
            };
            let (x, _) = self.bind_scalar(value, &Scope::default())?;
            let v = match fold(&x) {
                Some(Folded::Const(v)) => v,
                _ => {
                    return Err(BindError::new(
                        value.span,
                        format!("bag_unpack: {} must be a constant", NAMES[which]),
                    ));
                }
            };
            match (which, v) {
                (0, Value::String(s)) => out.prefix = s.to_string(),
                (1, Value::String(s)) => {
                    out.conflict = match &*s {
                        "error" => Conflict::Error,
                        "replace_source" => Conflict::ReplaceSource,
                        "keep_source" => Conflict::KeepSource,
                        other => {
                            return Err(BindError::new(
                                value.span,
                                format!(
                                    "bag_unpack: columnsConflict is 'error', 'replace_source' or 'keep_source', not '{other}'"
                                ),
                            ));
                        }
                    }
                }
                (2, Value::Array(items)) => {
                    out.ignored = items
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => s.to_string(),
                            other => crate::model::to_json_text(other),
                        })
                        .collect();
                }
                (2, Value::Null) | (0, Value::Null) => {}
                (k, _) => {
                    return Err(BindError::new(
                        value.span,
                        format!(
                            "bag_unpack: {} must be a {}",
                            NAMES[k],
                            if k == 2 {
                                "dynamic array of names"
                            } else {
                                "string"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The value of a column of type `ty` that holds nothing: the empty string for strings, else
/// null.
fn missing_of(ty: Type) -> Value {
    if ty == Type::String {
        Value::empty_string()
    } else {
        Value::Null
    }
}
