//! The tabular operators of a pipe (`where` apart, see [`super::temporal`]): `project`,
//! `extend`, `parse`, `sort`, `take`, `top`, `mv-expand`, `mv-apply` and the rest.

use super::*;

/// The columns `e` reads.
fn columns_of(e: &ScalarExpr, out: &mut std::collections::BTreeSet<usize>) {
    if let ScalarExpr::Column(i) = e {
        out.insert(*i);
    }
    e.for_each_child(&mut |c| columns_of(c, out));
}

/// The order of `p`'s rows when they are a serialized row set (Kusto: after `sort`, `top`,
/// `take` or `serialize`, through `where`, `extend`, `project` and the like), as sort keys over
/// `p`'s columns (empty: the rows' own order); `None` when they have no order. A key reading a
/// column that a projection dropped makes the projection pass the column on, after its own
/// columns (so `p`'s schema may grow; its existing columns stay where they are).
fn serial_order(p: &mut Plan) -> Option<Vec<SortKey>> {
    let mut added: Vec<Column> = Vec::new();
    let mut schema: Option<Vec<Column>> = None;
    let keys = match &mut p.node {
        Node::Sort { keys, .. } | Node::Take { keys, .. } => keys.clone(),
        Node::Serialize { order, .. } => order.clone(),
        Node::Filter { input, .. } => {
            let keys = serial_order(input)?;
            schema = Some(input.schema.clone());
            keys
        }
        Node::Map { input, exprs } => {
            let keys = serial_order(input)?;
            let mut read = std::collections::BTreeSet::new();
            for k in &keys {
                columns_of(&k.expr, &mut read);
            }
            let mut at: HashMap<usize, usize> = HashMap::new();
            for c in read {
                let j = match exprs.iter().position(|e| *e == ScalarExpr::Column(c)) {
                    Some(j) => j,
                    None => {
                        exprs.push(ScalarExpr::Column(c));
                        added.push(Column {
                            name: Str::from(format!("__order#{c}").as_str()),
                            ty: input.schema.get(c).map_or(Type::Dynamic, |col| col.ty),
                        });
                        exprs.len() - 1
                    }
                };
                at.insert(c, j);
            }
            keys.into_iter()
                .map(|k| SortKey {
                    expr: k
                        .expr
                        .map_columns(&|c| ScalarExpr::Column(at.get(&c).copied().unwrap_or(c))),
                    ..k
                })
                .collect()
        }
        _ => return None,
    };
    if let Some(s) = schema {
        p.schema = s;
    }
    p.schema.extend(added);
    Some(keys)
}

/// The name of a window function kqlflow implements, if `n` is one.
pub(super) fn is_window_function(n: &str) -> bool {
    matches!(
        n,
        "prev" | "next" | "row_number" | "row_cumsum" | "row_window_session"
    )
}

impl Binder<'_> {
    /// Binds one operator of a pipe over `p`. Window functions met while binding it belong to
    /// it alone: those of an enclosing operator's expression are set aside meanwhile.
    pub(super) fn bind_op(&mut self, p: Plan, op: &Operator) -> Result<Plan> {
        let outer = self.window.take();
        let r = self.bind_op_here(p, op);
        self.window = outer;
        r
    }

    /// Binds `e` over `scope` for an item of `extend`, `project` or `serialize`, where window
    /// functions may be used: with some, `p` becomes a [`Node::Serialize`] computing them, and
    /// the expression reads its columns.
    fn bind_item_expr(
        &mut self,
        p: &mut Plan,
        e: &Expr,
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        let outer = self.window.replace(WindowCalls::default());
        let bound = self.bind_row_expr(e, scope);
        let calls = std::mem::replace(&mut self.window, outer).unwrap_or_default();
        let (x, ty) = bound?;
        if calls.fns.is_empty() {
            return Ok((x, ty));
        }
        let (name, span) = calls.first.unwrap_or_else(|| ("prev".to_string(), e.span));
        let Some(order) = serial_order(p) else {
            return Err(BindError::new(
                span,
                format!(
                    "{name}() needs a serialized row set, and these rows have no order: put `sort by`, `serialize`, `top` or `take` before it (summarize, join, union, distinct and mv-expand do not keep an order)"
                ),
            ));
        };
        // Each call's column: the levels' columns one after another after `p`'s.
        let base = p.schema.len();
        let top = calls.fns.iter().map(|c| c.2).max().unwrap_or(0);
        let mut column_of = vec![0usize; calls.fns.len()];
        let mut next = base;
        for level in 0..=top {
            for (j, c) in calls.fns.iter().enumerate() {
                if c.2 == level {
                    column_of[j] = next;
                    next += 1;
                }
            }
        }
        let remap = |x: &ScalarExpr| {
            x.map_columns(&|i| {
                ScalarExpr::Column(match i.checked_sub(WINDOW_BASE) {
                    Some(j) => column_of.get(j).copied().unwrap_or(i),
                    None => i,
                })
            })
        };
        for level in 0..=top {
            let mut schema = p.schema.clone();
            let mut columns = Vec::new();
            for (j, (f, ty, l)) in calls.fns.iter().enumerate() {
                if *l == level {
                    schema.push(Column {
                        name: Str::from(format!("__window#{}", column_of[j]).as_str()),
                        ty: *ty,
                    });
                    columns.push(f.map_exprs(&remap));
                }
            }
            // Functions of the input's columns alone join the Serialize node just below, when
            // it has the same order (its columns come last either way): one operator, one copy
            // of the set, for `extend a = next(x), b = next(y)`.
            if let Node::Serialize {
                input,
                order: below,
                columns: computed,
            } = &mut p.node
                && *below == order
                && !computed.is_empty()
                && columns.iter().all(|f| {
                    f.exprs().iter().all(|e| {
                        !e.any(&|c| matches!(c, ScalarExpr::Column(i) if *i >= input.schema.len()))
                    })
                })
            {
                computed.extend(columns);
                p.schema = schema;
                continue;
            }
            let input = std::mem::replace(
                p,
                Plan {
                    node: Node::ApplyRows,
                    schema: Vec::new(),
                    event_time: None,
                },
            );
            let event_time = input.event_time;
            *p = Plan {
                node: Node::Serialize {
                    input: Box::new(input),
                    order: order.clone(),
                    columns,
                },
                schema,
                event_time,
            };
        }
        Ok((remap(&x), ty))
    }

    /// `extend`: each item's column added (or replaced), in turn.
    fn bind_extend(&mut self, p: Plan, items: &[NamedExpr]) -> Result<Plan> {
        let mut p = p;
        let mut scope = Scope::of(&p);
        // Columns holding a multi-column function's parts, dropped at the end.
        let mut parts: Vec<Str> = Vec::new();
        for it in items {
            if let Some(multi) = self.multi_column_call(it, &scope)? {
                let hidden = format!("{}()#{}", multi.function, parts.len());
                scope.set(&hidden, Type::Dynamic, multi.call);
                p = map_plan(p, scope.cols);
                scope = Scope::of(&p);
                let at = p.index_of(&hidden).unwrap_or(p.schema.len() - 1);
                for (k, name) in multi.names.iter().enumerate() {
                    let part = ScalarExpr::Index {
                        expr: Box::new(ScalarExpr::Column(at)),
                        index: Box::new(ScalarExpr::Literal(Value::Long(k as i64))),
                    };
                    scope.set(name, Type::Dynamic, part);
                }
                parts.push(Str::from(hidden.as_str()));
                continue;
            }
            let (x, ty) = self.bind_item_expr(&mut p, &it.expr, &scope)?;
            one_name(it)?;
            let name = match it.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(&it.expr, scope.cols.iter().map(|c| &*c.0)),
            };
            scope.set(&name, ty, x);
        }
        scope.cols.retain(|c| !parts.contains(&c.0));
        Ok(map_plan(p, scope.cols))
    }

    fn bind_op_here(&mut self, p: Plan, op: &Operator) -> Result<Plan> {
        let span = op.span;
        match &op.kind {
            OperatorKind::Where(e) => self.bind_where(p, e),
            OperatorKind::Extend(items) => self.bind_extend(p, items),
            OperatorKind::Project(items) => {
                let mut p = p;
                let scope = Scope::of(&p);
                let mut cols: Vec<(Str, Type, ScalarExpr)> = Vec::new();
                let set = |cols: &mut Vec<(Str, Type, ScalarExpr)>, name: &str, ty, x| match cols
                    .iter_mut()
                    .find(|c| &*c.0 == name)
                {
                    Some(c) => {
                        c.1 = ty;
                        c.2 = x;
                    }
                    None => cols.push((Str::from(name), ty, x)),
                };
                for it in items {
                    // A multi-column function: its parts computed once in a hidden column
                    // appended to the input (its other columns stay where they are).
                    if let Some(multi) = self.multi_column_call(it, &scope)? {
                        let mut wider = Scope::of(&p).cols;
                        let hidden = format!("{}()#{}", multi.function, wider.len());
                        wider.push((Str::from(hidden.as_str()), Type::Dynamic, multi.call));
                        p = map_plan(p, wider);
                        let at = p.schema.len() - 1;
                        for (k, name) in multi.names.iter().enumerate() {
                            let part = ScalarExpr::Index {
                                expr: Box::new(ScalarExpr::Column(at)),
                                index: Box::new(ScalarExpr::Literal(Value::Long(k as i64))),
                            };
                            set(&mut cols, name, Type::Dynamic, part);
                        }
                        continue;
                    }
                    let (x, ty) = self.bind_item_expr(&mut p, &it.expr, &scope)?;
                    one_name(it)?;
                    let name = match it.names.first() {
                        Some(n) => n.name.clone(),
                        None => self.name_for(&it.expr, cols.iter().map(|c| &*c.0)),
                    };
                    set(&mut cols, &name, ty, x);
                }
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectAway(pats) => {
                self.check_patterns(&p, pats)?;
                let cols = Scope::of(&p)
                    .cols
                    .into_iter()
                    .filter(|c| !pats.iter().any(|pt| pt.matches(&c.0)))
                    .collect();
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectKeep(pats) => {
                self.check_patterns(&p, pats)?;
                let cols = Scope::of(&p)
                    .cols
                    .into_iter()
                    .filter(|c| pats.iter().any(|pt| pt.matches(&c.0)))
                    .collect();
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectRename(renames) => {
                let mut cols = Scope::of(&p).cols;
                for r in renames {
                    let Some(c) = cols.iter_mut().find(|c| *c.0 == *r.old.name) else {
                        return Err(self.unknown_column(&r.old, &Scope::of(&p)));
                    };
                    c.0 = Str::from(r.new.name.as_str());
                }
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectReorder(items) => {
                let pats: Vec<ColumnPattern> = items.iter().map(|i| i.pattern.clone()).collect();
                self.check_patterns(&p, &pats)?;
                let all = Scope::of(&p).cols;
                let mut cols: Vec<(Str, Type, ScalarExpr)> = Vec::new();
                for pt in &pats {
                    for c in &all {
                        if pt.matches(&c.0) && !cols.iter().any(|x| x.0 == c.0) {
                            cols.push(c.clone());
                        }
                    }
                }
                for c in all {
                    if !cols.iter().any(|x| x.0 == c.0) {
                        cols.push(c);
                    }
                }
                Ok(map_plan(p, cols))
            }
            OperatorKind::Summarize(s) => self.bind_summarize(p, s),
            OperatorKind::MakeSeries(m) => self.bind_make_series(p, m),
            OperatorKind::Join(j) => self.bind_join(p, j, false, span),
            OperatorKind::Lookup(j) => self.bind_join(p, j, true, span),
            OperatorKind::Evaluate { call, output, .. } => {
                let ExprKind::Call { name, args } = &call.kind else {
                    return Err(BindError::new(span, "internal: evaluate without a call"));
                };
                match name.name.as_str() {
                    "bag_unpack" => {
                        let read = self.unpack_read.take().unwrap_or_default();
                        self.bind_bag_unpack(p, args, output.as_ref(), &read, span)
                    }
                    "pivot" => {
                        let read = self.unpack_read.take().unwrap_or_default();
                        self.bind_pivot(p, args, output.as_ref(), &read, span)
                    }
                    _ if output.is_some() => Err(BindError::new(
                        output.as_ref().map_or(span, |o| o.span),
                        format!(
                            "not supported yet: an output schema for evaluate {}",
                            name.name
                        ),
                    )),
                    "ipv4_lookup" => self.bind_ipv4_lookup(p, args, span),
                    "basket" => self.bind_basket(p, args, span),
                    "autocluster" => self.bind_autocluster(p, args, span),
                    other => Err(BindError::new(
                        name.span,
                        format!("not supported yet: evaluate {other}"),
                    )),
                }
            }
            OperatorKind::Union(u) => self.bind_union(Some(p), u, span),
            OperatorKind::MvExpand(m) => self.bind_mv_expand(p, m, span),
            OperatorKind::MvApply(m) => self.bind_mv_apply(p, m, span),
            OperatorKind::Sort(keys) => {
                let keys = self.sort_keys(&p, keys)?;
                let schema = p.schema.clone();
                let event_time = p.event_time;
                Ok(Plan {
                    node: Node::Sort {
                        input: Box::new(p),
                        keys,
                    },
                    schema,
                    event_time,
                })
            }
            OperatorKind::Top(t) => {
                let count = self.const_count(&t.count)?;
                let keys = self.sort_keys(&p, std::slice::from_ref(&t.by))?;
                Ok(self.take(p, count, keys))
            }
            OperatorKind::Take(n) => {
                let count = self.const_count(n)?;
                Ok(self.take(p, count, Vec::new()))
            }
            OperatorKind::Distinct(exprs) => {
                let p = if matches!(exprs.as_slice(), [e] if matches!(e.kind, ExprKind::Star)) {
                    p
                } else {
                    let scope = Scope::of(&p);
                    let mut cols = Vec::new();
                    for e in exprs {
                        let (x, ty) = self.bind_row_expr(e, &scope)?;
                        cols.push((
                            Str::from(
                                self.name_for(
                                    e,
                                    cols.iter().map(|c: &(Str, Type, ScalarExpr)| &*c.0),
                                )
                                .as_str(),
                            ),
                            ty,
                            x,
                        ));
                    }
                    map_plan(p, cols)
                };
                let schema = p.schema.clone();
                let event_time = p.event_time;
                Ok(Plan {
                    node: Node::Distinct { input: Box::new(p) },
                    schema,
                    event_time,
                })
            }
            OperatorKind::Count => Ok(Plan {
                node: Node::Reduce {
                    input: Box::new(p),
                    keys: Vec::new(),
                    aggs: vec![AggCall {
                        spec: AggSpec::new(AggKind::Count),
                        args: Vec::new(),
                    }],
                },
                schema: vec![Column {
                    name: Str::from("Count"),
                    ty: Type::Long,
                }],
                event_time: None,
            }),
            OperatorKind::Parse(parse) => self.bind_parse(p, parse),
            OperatorKind::As { .. } => Ok(p),
            OperatorKind::Serialize(items) => {
                // Rows already in order stay so; others take their own order (the whole row).
                let p = if serial_order(&mut p.clone()).is_some() {
                    p
                } else {
                    let schema = p.schema.clone();
                    let event_time = p.event_time;
                    Plan {
                        node: Node::Serialize {
                            input: Box::new(p),
                            order: Vec::new(),
                            columns: Vec::new(),
                        },
                        schema,
                        event_time,
                    }
                };
                self.bind_extend(p, items)
            }
            OperatorKind::Render => {
                let note = "render is ignored: kqlflow produces rows, not charts";
                if !self.notes.iter().any(|n| n == note) {
                    self.notes.push(note.to_string());
                }
                Ok(p)
            }
            OperatorKind::Invoke(call) => {
                let c = strip_paren(call);
                let ExprKind::Call { name, args } = &c.kind else {
                    return Err(BindError::new(call.span, "invoke needs a function call"));
                };
                let Some(Binding::Function(def, env_len)) = self.lookup(&name.name).cloned() else {
                    return Err(BindError::new(
                        name.span,
                        format!("unknown function '{}' for invoke", name.name),
                    ));
                };
                match self.call_function(
                    &def,
                    env_len,
                    args,
                    Some(p),
                    call.span,
                    &Scope::default(),
                )? {
                    Bound::Table(t) => Ok(t),
                    Bound::Scalar(..) => Err(BindError::new(
                        call.span,
                        format!("the function '{}' returns a scalar, not a table", name.name),
                    )),
                }
            }
            other => Err(BindError::new(
                span,
                format!("not supported yet: the {} operator", other.name()),
            )),
        }
    }

    /// `parse`: each extracted column is `extract(regex, i, text)` converted to its type, the
    /// regex built from the pattern (`*` and columns match lazily; the whole text must match).
    pub(super) fn bind_parse(&mut self, p: Plan, parse: &kql::Parse) -> Result<Plan> {
        let mut regex_kind = false;
        for prm in &parse.params {
            if prm.name.name == "kind" {
                let v = prm.value.span.text(self.src);
                regex_kind = v == "regex";
                if !matches!(v, "regex" | "simple" | "relaxed") {
                    return Err(BindError::new(
                        prm.span,
                        format!("not supported yet: parse kind={v}"),
                    ));
                }
            } else {
                return Err(BindError::new(
                    prm.span,
                    format!("not supported yet: parse {}", prm.name.name),
                ));
            }
        }
        let mut scope = Scope::of(&p);
        let (text, _) = self.bind_row_expr(&parse.expr, &scope)?;
        let mut re = String::from("(?s)^");
        let mut columns = Vec::new();
        let n = parse.pattern.len();
        for (i, part) in parse.pattern.iter().enumerate() {
            match part {
                kql::ParsePart::Star(_) => re.push_str(".*?"),
                kql::ParsePart::Text(t, _) => {
                    if regex_kind {
                        re.push_str(&format!("(?:{t})"));
                    } else {
                        re.push_str(&regex::escape(t));
                    }
                }
                kql::ParsePart::Column { name, ty } => {
                    re.push_str(if i + 1 == n { "(.*)" } else { "(.*?)" });
                    columns.push((name.name.clone(), ty.unwrap_or(Type::String)));
                }
            }
        }
        re.push('$');
        if let Some(e) = crate::func::regex_error(&re) {
            return Err(BindError::new(
                parse.expr.span,
                format!("invalid parse pattern: {e}"),
            ));
        }
        for (k, (name, ty)) in columns.into_iter().enumerate() {
            let x = ScalarExpr::Cast(
                Box::new(ScalarExpr::Call {
                    name: "extract".to_string(),
                    args: vec![
                        ScalarExpr::Literal(Value::str(&re)),
                        ScalarExpr::Literal(Value::Long(k as i64 + 1)),
                        text.clone(),
                    ],
                }),
                ty,
            );
            scope.set(&name, ty, x);
        }
        Ok(map_plan(p, scope.cols))
    }

    pub(super) fn take(&self, p: Plan, count: usize, keys: Vec<SortKey>) -> Plan {
        // `sort by K | take N` is `top N by K`: the first rows in the sort's order.
        let (p, keys) = match p.node {
            Node::Sort {
                input,
                keys: sorted,
            } if keys.is_empty() => (*input, sorted),
            node => (
                Plan {
                    node,
                    schema: p.schema,
                    event_time: p.event_time,
                },
                keys,
            ),
        };
        let schema = p.schema.clone();
        let event_time = p.event_time;
        Plan {
            node: Node::Take {
                input: Box::new(p),
                count,
                keys,
            },
            schema,
            event_time,
        }
    }

    pub(super) fn const_count(&mut self, e: &Expr) -> Result<usize> {
        let (x, _) = self.bind_scalar(e, &Scope::default())?;
        const_usize(&x).ok_or_else(|| BindError::new(e.span, "expected a constant row count"))
    }

    pub(super) fn sort_keys(&mut self, p: &Plan, keys: &[kql::SortKey]) -> Result<Vec<SortKey>> {
        let scope = Scope::of(p);
        let mut out = Vec::new();
        for k in keys {
            let (x, _) = self.bind_row_expr(&k.expr, &scope)?;
            let descending = k.descending.unwrap_or(true);
            out.push(SortKey {
                expr: x,
                descending,
                nulls_first: k.nulls_first.unwrap_or(!descending),
            });
        }
        Ok(out)
    }

    pub(super) fn check_patterns(&self, p: &Plan, pats: &[ColumnPattern]) -> Result<()> {
        for pt in pats {
            if !pt.is_wildcard() && p.index_of(&pt.pattern).is_none() {
                return Err(self.unknown_column(
                    &Ident {
                        name: pt.pattern.clone(),
                        span: pt.span,
                    },
                    &Scope::of(p),
                ));
            }
        }
        Ok(())
    }

    /// The name of an unnamed column: Kusto's derived name, else the first `ColumnN` not
    /// among `taken`.
    pub(super) fn name_for<'n>(&self, e: &Expr, taken: impl Iterator<Item = &'n str>) -> String {
        if let Some(n) = infer_name(e) {
            return n;
        }
        let taken: Vec<&str> = taken.collect();
        (1..)
            .map(|i| format!("Column{i}"))
            .find(|n| !taken.contains(&n.as_str()))
            .unwrap_or_else(|| "Column".to_string())
    }

    pub(super) fn expand_items(
        &mut self,
        p: &Plan,
        items: &[kql::ExpandItem],
    ) -> Result<Vec<(String, ScalarExpr, Option<Type>)>> {
        let scope = Scope::of(p);
        let mut out = Vec::new();
        for it in items {
            let (x, ty) = self.bind_row_expr(&it.target.expr, &scope)?;
            if ty != Type::Dynamic {
                return Err(BindError::new(
                    it.target.expr.span,
                    format!("expanding needs a dynamic array, and this is a {ty}"),
                ));
            }
            let name = match it.target.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(
                    &it.target.expr,
                    out.iter()
                        .map(|c: &(String, ScalarExpr, Option<Type>)| c.0.as_str()),
                ),
            };
            out.push((name, x, it.to_type));
        }
        Ok(out)
    }

    pub(super) fn bind_mv_expand(
        &mut self,
        p: Plan,
        m: &kql::MvExpand,
        span: Span,
    ) -> Result<Plan> {
        if let Some(prm) = m.params.iter().find(|x| x.name.name == "with_itemindex") {
            return Err(BindError::new(
                prm.span,
                "not supported yet: mv-expand with_itemindex",
            ));
        }
        let items = self.expand_items(&p, &m.items)?;
        let limit = match &m.limit {
            Some(l) => Some(self.const_count(l)?),
            None => None,
        };
        let mut scope = Scope::of(&p);
        for (name, x, _) in &items {
            scope.set(name, Type::Dynamic, x.clone());
        }
        let mapped = map_plan(p, scope.cols);
        let mut schema = mapped.schema.clone();
        let mut columns = Vec::new();
        for (name, _, ty) in &items {
            let Some(i) = mapped.index_of(name) else {
                return Err(BindError::new(span, "internal: expanded column lost"));
            };
            schema[i].ty = ty.unwrap_or(Type::Dynamic);
            columns.push((i, *ty));
        }
        let event_time = mapped
            .event_time
            .filter(|t| !columns.iter().any(|(c, _)| c == t));
        Ok(Plan {
            node: Node::MvExpand {
                input: Box::new(mapped),
                columns,
                limit,
            },
            schema,
            event_time,
        })
    }

    pub(super) fn bind_mv_apply(&mut self, p: Plan, m: &kql::MvApply, span: Span) -> Result<Plan> {
        if let Some(prm) = m.params.first() {
            return Err(BindError::new(
                prm.span,
                format!("not supported yet: mv-apply {}", prm.name.name),
            ));
        }
        let items = self.expand_items(&p, &m.items)?;
        let limit = match &m.limit {
            Some(l) => Some(self.const_count(l)?),
            None => None,
        };
        let mut apply_schema = p.schema.clone();
        let mut item_columns = Vec::new();
        let mut ir_items = Vec::new();
        for (name, x, ty) in items {
            let col = Column {
                name: Str::from(name.as_str()),
                ty: ty.unwrap_or(Type::Dynamic),
            };
            let at = match apply_schema.iter().position(|c| *c.name == *name) {
                Some(i) => {
                    apply_schema[i] = col;
                    i
                }
                None => {
                    apply_schema.push(col);
                    apply_schema.len() - 1
                }
            };
            item_columns.push(at);
            ir_items.push(ExpandItem { expr: x, ty });
        }
        let sub_event_time = p.event_time.filter(|t| !item_columns.contains(t));
        let mut sub = Plan {
            node: Node::ApplyRows,
            schema: apply_schema.clone(),
            event_time: sub_event_time,
        };
        for op in &m.subquery {
            sub = self.bind_op(sub, op)?;
        }
        let keep: Vec<usize> = (0..p.schema.len())
            .filter(|i| !sub.schema.iter().any(|c| c.name == p.schema[*i].name))
            .collect();
        let mut schema: Vec<Column> = keep.iter().map(|i| p.schema[*i].clone()).collect();
        schema.extend(sub.schema.iter().cloned());
        let event_time = match p.event_time.and_then(|t| keep.iter().position(|k| *k == t)) {
            Some(i) => Some(i),
            None => sub.event_time.map(|t| t + keep.len()),
        };
        let _ = span;
        Ok(Plan {
            node: Node::MvApply {
                input: Box::new(p),
                items: ir_items,
                item_columns,
                apply_width: apply_schema.len(),
                keep,
                limit,
                sub: Box::new(sub),
            },
            schema,
            event_time,
        })
    }
}
