//! Operators over several inputs: `union` (with `isfuzzy`), `join` and `lookup`, and
//! `evaluate ipv4_lookup`.

use super::*;

/// The table or name a union leg starts from (`T` in `(T | where …)`).
fn leg_source(e: &Expr) -> Option<&str> {
    match &strip_paren(e).kind {
        ExprKind::Name(id) => Some(&id.name),
        ExprKind::Pipe { source, .. } => leg_source(source),
        _ => None,
    }
}

/// True for the errors a fuzzy union forgives: an unknown table, column or name.
fn is_resolution_failure(e: &BindError) -> bool {
    ["unknown table", "unknown column", "unknown name"]
        .iter()
        .any(|p| e.message.starts_with(p))
}

impl Binder<'_> {
    pub(super) fn bind_union(
        &mut self,
        first: Option<Plan>,
        u: &Union,
        span: Span,
    ) -> Result<Plan> {
        let mut outer = true;
        let mut fuzzy = false;
        let mut with_source: Option<String> = None;
        for p in &u.params {
            let v = match &p.value.kind {
                ExprKind::Name(id) => id.name.clone(),
                ExprKind::Literal(l) => match &l.value {
                    Value::Bool(b) => b.to_string(),
                    Value::String(s) => s.to_string(),
                    other => crate::model::to_json_text(other),
                },
                _ => String::new(),
            };
            match p.name.name.as_str() {
                "kind" => outer = v != "inner",
                "isfuzzy" => fuzzy = v.eq_ignore_ascii_case("true"),
                "withsource" | "source" => with_source = Some(v),
                _ => {}
            }
        }
        let mut inputs: Vec<(Plan, String)> = Vec::new();
        let offset = usize::from(first.is_some());
        if let Some(f) = first {
            inputs.push((f, "union_arg0".to_string()));
        }
        for (i, op) in u.operands.iter().enumerate() {
            let label = match &strip_paren(op).kind {
                ExprKind::Name(id) => id.name.clone(),
                _ => format!("union_arg{}", i + offset),
            };
            match self.bind_tabular(op) {
                Ok(p) => inputs.push((p, label)),
                // As in Kusto, a fuzzy union drops the legs that fail to resolve (a table, or a
                // column or name that a leg reads and its table lacks), with a note; what
                // kqlflow does not support is still refused.
                Err(e) if fuzzy && is_resolution_failure(&e) => {
                    let at = crate::kql::line_col(self.src, e.span.start);
                    let leg = match leg_source(op) {
                        Some(t) if t != label => format!("'{label}' ({t} | …)"),
                        _ => format!("'{label}'"),
                    };
                    self.notes.push(format!(
                        "union isfuzzy=true skips {leg} at query line:column {at}: {}",
                        e.message
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if inputs.is_empty() {
            return Err(BindError::new(span, "union has no table kqlflow knows"));
        }
        let mut schema: Vec<Column> = Vec::new();
        if let Some(s) = &with_source {
            schema.push(Column {
                name: Str::from(s.as_str()),
                ty: Type::String,
            });
        }
        let base = schema.len();
        // As in Kusto, one column per name and type: a name that the inputs give different
        // types becomes one column per type, named `Name_type` (`LocationDetails_dynamic` and
        // `LocationDetails_string` for SigninLogs and AADNonInteractiveUserSignInLogs).
        let mut sources: Vec<(Str, Type)> = Vec::new();
        for (p, _) in &inputs {
            for c in &p.schema {
                if !sources.iter().any(|s| s.0 == c.name && s.1 == c.ty) {
                    sources.push((c.name.clone(), c.ty));
                }
            }
        }
        if !outer {
            sources.retain(|(n, t)| {
                inputs
                    .iter()
                    .all(|(p, _)| p.schema.iter().any(|c| c.name == *n && c.ty == *t))
            });
        }
        for (n, t) in &sources {
            let several = sources.iter().filter(|s| s.0 == *n).count() > 1;
            schema.push(Column {
                name: if several {
                    Str::from(format!("{n}_{t}").as_str())
                } else {
                    n.clone()
                },
                ty: *t,
            });
        }
        let event_time = {
            let names: Vec<Option<(Str, Type)>> = inputs
                .iter()
                .map(|(p, _)| {
                    p.event_time
                        .map(|t| (p.schema[t].name.clone(), p.schema[t].ty))
                })
                .collect();
            match names.first() {
                Some(Some(n)) if names.iter().all(|x| x.as_ref() == Some(n)) => {
                    sources.iter().position(|s| s == n).map(|i| i + base)
                }
                _ => None,
            }
        };
        let uinputs = inputs
            .into_iter()
            .map(|(p, label)| {
                let columns = (0..base)
                    .map(|_| None)
                    .chain(
                        sources
                            .iter()
                            .map(|(n, t)| p.schema.iter().position(|c| c.name == *n && c.ty == *t)),
                    )
                    .collect();
                UnionInput {
                    plan: p,
                    columns,
                    source: label,
                }
            })
            .collect();
        Ok(Plan {
            node: Node::Union {
                inputs: uinputs,
                with_source: with_source.is_some(),
            },
            schema,
            event_time,
        })
    }

    pub(super) fn join_key(&self, p: &Plan, id: &Ident, side: &str) -> Result<usize> {
        p.index_of(&id.name).ok_or_else(|| {
            BindError::new(
                id.span,
                format!(
                    "unknown column '{}' on the {side} side of the join{}",
                    id.name,
                    did_you_mean(&Scope::of(p).closest(&id.name))
                ),
            )
        })
    }

    pub(super) fn bind_join(
        &mut self,
        left: Plan,
        j: &Join,
        lookup: bool,
        span: Span,
    ) -> Result<Plan> {
        let right = self.bind_tabular(&j.right)?;
        let kind = match j.kind {
            Some(k) => k,
            None if lookup => JoinKind::LeftOuter,
            None => JoinKind::InnerUnique,
        };
        if lookup && !matches!(kind, JoinKind::LeftOuter | JoinKind::Inner) {
            return Err(BindError::new(
                j.kind_span.unwrap_or(span),
                "lookup supports kind=leftouter and kind=inner only",
            ));
        }
        if j.on.is_empty() {
            return Err(BindError::new(span, "the join needs `on` conditions"));
        }
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for c in &j.on {
            match c {
                JoinCondition::Column(id) => {
                    left_keys.push(self.join_key(&left, id, "left")?);
                    right_keys.push(self.join_key(&right, id, "right")?);
                }
                JoinCondition::Equal {
                    left: l, right: r, ..
                } => {
                    left_keys.push(self.join_key(&left, l, "left")?);
                    right_keys.push(self.join_key(&right, r, "right")?);
                }
            }
        }
        let (schema, event_time, right_output) = if kind.left_only() {
            (left.schema.clone(), left.event_time, Vec::new())
        } else if kind.right_only() {
            (right.schema.clone(), right.event_time, Vec::new())
        } else {
            let mut schema = left.schema.clone();
            let mut right_output = Vec::new();
            for (i, c) in right.schema.iter().enumerate() {
                if lookup && right_keys.contains(&i) {
                    continue;
                }
                let nm = unique_name(&schema, &c.name);
                schema.push(Column {
                    name: Str::from(nm.as_str()),
                    ty: c.ty,
                });
                right_output.push(i);
            }
            (schema, left.event_time, right_output)
        };
        Ok(Plan {
            node: Node::Join {
                kind,
                left: Box::new(left),
                right: Box::new(right),
                left_keys,
                right_keys,
                right_output,
            },
            schema,
            event_time,
        })
    }

    /// `evaluate ipv4_lookup(Lookup, SourceKey, LookupKey[, ExtraKey…])`: each input row with
    /// every row of `Lookup` whose IPv4 range `LookupKey` (an address or a CIDR prefix) holds
    /// the input's address `SourceKey` and whose extra keys equal the input's, as an inner
    /// join on the extra keys (none: every pair) filtered by `ipv4_is_in_range`; the columns
    /// are the input's, then the lookup's (renamed as a join renames them). Incremental like
    /// any join with a filter. With `return_unmatched = true` the input rows that match no
    /// lookup row are kept too, with the lookup's columns empty (see
    /// [`Binder::with_unmatched`]).
    pub(super) fn bind_ipv4_lookup(
        &mut self,
        left: Plan,
        args: &[Expr],
        span: Span,
    ) -> Result<Plan> {
        if args.len() < 3 {
            return Err(BindError::new(
                span,
                "ipv4_lookup takes the lookup table, the source's IPv4 column and the lookup's range column",
            ));
        }
        let right = self.bind_tabular(&args[0])?;
        let column_of = |p: &Plan, e: &Expr, side: &str| -> Result<usize> {
            match &e.kind {
                ExprKind::Name(id) => p.index_of(&id.name).ok_or_else(|| {
                    BindError::new(
                        e.span,
                        format!("ipv4_lookup: the {side} table has no column '{}'", id.name),
                    )
                }),
                _ => Err(BindError::new(
                    e.span,
                    format!("ipv4_lookup: expected a column of the {side} table"),
                )),
            }
        };
        let src = column_of(&left, &args[1], "source")?;
        let key = column_of(&right, &args[2], "lookup")?;
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        let mut return_unmatched = false;
        for a in &args[3..] {
            // `return_unmatched = false` (named, as Kusto documents it) or a bare bool.
            let a = match &a.kind {
                ExprKind::NamedArg { name, value } if name.name == "return_unmatched" => value,
                ExprKind::NamedArg { name, .. } => {
                    return Err(BindError::new(
                        name.span,
                        format!(
                            "ipv4_lookup has no parameter '{}' (it takes return_unmatched)",
                            name.name
                        ),
                    ));
                }
                _ => a,
            };
            if let ExprKind::Literal(l) = &a.kind
                && let Value::Bool(b) = l.value
            {
                return_unmatched = b;
                continue;
            }
            left_keys.push(column_of(&left, a, "source")?);
            right_keys.push(column_of(&right, a, "lookup")?);
        }
        let width = left.schema.len();
        // With return_unmatched, each input row carries its whole self as one value (an
        // array, never null, unlike the columns) to tell the unmatched rows by.
        let left = if return_unmatched {
            let mut cols = Scope::of(&left).cols;
            let key = unique_name(&left.schema, "ipv4_lookup_row");
            cols.push((
                Str::from(key.as_str()),
                Type::Dynamic,
                ScalarExpr::Call {
                    name: "pack_array".to_string(),
                    args: (0..width).map(ScalarExpr::Column).collect(),
                },
            ));
            self.share(map_plan(left, cols))
        } else {
            left
        };
        let mut schema = left.schema.clone();
        let mut right_output = Vec::new();
        for (i, c) in right.schema.iter().enumerate() {
            let nm = unique_name(&schema, &c.name);
            schema.push(Column {
                name: Str::from(nm.as_str()),
                ty: c.ty,
            });
            right_output.push(i);
        }
        let joined_width = left.schema.len();
        let event_time = left.event_time;
        let input = return_unmatched.then(|| left.clone());
        let joined = Plan {
            node: Node::Join {
                kind: JoinKind::Inner,
                left: Box::new(left),
                right: Box::new(right),
                left_keys,
                right_keys,
                right_output,
            },
            schema,
            event_time,
        };
        let predicate = ScalarExpr::Call {
            name: "ipv4_is_in_range".to_string(),
            args: vec![
                ScalarExpr::Column(src),
                ScalarExpr::Column(joined_width + key),
            ],
        };
        let matched = Plan::filter(joined, predicate, Vec::new());
        let Some(input) = input else {
            return Ok(matched);
        };
        Ok(self.with_unmatched(input, matched, width))
    }

    /// `ipv4_lookup(…, return_unmatched = true)`: the `matched` rows (the input's `width`
    /// columns, its row key, the lookup's columns) and the rows of `input` (the input's
    /// columns and its row key) that no matched row comes from, with the lookup's columns
    /// empty; the row key left out. The unmatched rows are `input` anti-joined with the
    /// matched rows' keys, so both engines maintain them as any anti-join.
    fn with_unmatched(&mut self, input: Plan, matched: Plan, width: usize) -> Plan {
        let matched = self.share(matched);
        let key_col = width;
        let names = |p: &Plan, i: usize| p.schema[i].name.clone();
        let out: Vec<(Str, Type, ScalarExpr)> = (0..matched.schema.len())
            .filter(|&i| i != key_col)
            .map(|i| {
                (
                    names(&matched, i),
                    matched.schema[i].ty,
                    ScalarExpr::Column(i),
                )
            })
            .collect();
        let keys = map_plan(
            matched.clone(),
            vec![(
                names(&matched, key_col),
                Type::Dynamic,
                ScalarExpr::Column(key_col),
            )],
        );
        let event_time = input.event_time;
        let anti = Plan {
            schema: input.schema.clone(),
            event_time,
            node: Node::Join {
                kind: JoinKind::LeftAnti,
                left: Box::new(input),
                right: Box::new(keys),
                left_keys: vec![key_col],
                right_keys: vec![0],
                right_output: Vec::new(),
            },
        };
        let padded: Vec<(Str, Type, ScalarExpr)> = out
            .iter()
            .enumerate()
            .map(|(i, (n, ty, _))| {
                let x = if i < width {
                    ScalarExpr::Column(i)
                } else if *ty == Type::String {
                    ScalarExpr::Literal(Value::empty_string())
                } else {
                    ScalarExpr::Literal(Value::Null)
                };
                (n.clone(), *ty, x)
            })
            .collect();
        let unmatched = map_plan(anti, padded);
        let matched = map_plan(matched, out);
        let schema = matched.schema.clone();
        let event_time = matched.event_time;
        let identity = |p: &Plan| (0..p.schema.len()).map(Some).collect();
        Plan {
            node: Node::Union {
                inputs: vec![
                    UnionInput {
                        columns: identity(&matched),
                        plan: matched,
                        source: "matched".to_string(),
                    },
                    UnionInput {
                        columns: identity(&unmatched),
                        plan: unmatched,
                        source: "unmatched".to_string(),
                    },
                ],
                with_source: false,
            },
            schema,
            event_time,
        }
    }
}
