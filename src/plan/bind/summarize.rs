//! `summarize` and `make-series`: grouping keys, aggregates (and expressions over them), and
//! series axes.

use super::*;

/// `make_list`'s order key for rows of `p`: (TimeGenerated, the whole row).
pub(super) fn order_key(p: &Plan) -> ScalarExpr {
    let row = ScalarExpr::Call {
        name: "pack_array".to_string(),
        args: (0..p.schema.len()).map(ScalarExpr::Column).collect(),
    };
    match p.event_time {
        Some(t) => ScalarExpr::Call {
            name: "pack_array".to_string(),
            args: vec![ScalarExpr::Column(t), row],
        },
        None => row,
    }
}

/// Refuses a tuple assignment `(A, B) = …` where only one column can be assigned.
/// True when a summarize item is a scalar expression over aggregates (`tostring(make_set(x))`)
/// rather than one aggregate call.
fn is_expr_over_aggregates(item: &NamedExpr) -> bool {
    let e = strip_paren(&item.expr);
    if let ExprKind::Call { name, .. } = &e.kind
        && aggregate_fn(&name.name).is_some()
    {
        return false;
    }
    let mut found = false;
    rewrite_calls(e, &mut |call: &Expr| {
        if let ExprKind::Call { name, .. } = &call.kind
            && aggregate_fn(&name.name).is_some()
        {
            found = true;
        }
        None
    });
    found
}

/// A copy of `e` in which every call `f` answers with a replacement is replaced (the
/// replacement's own calls are not visited); other calls' arguments are visited.
fn rewrite_calls(e: &Expr, f: &mut dyn FnMut(&Expr) -> Option<Expr>) -> Expr {
    let kind = match &e.kind {
        ExprKind::Call { name, args } => {
            if let Some(r) = f(e) {
                return r;
            }
            ExprKind::Call {
                name: name.clone(),
                args: args.iter().map(|a| rewrite_calls(a, f)).collect(),
            }
        }
        ExprKind::Paren(i) => ExprKind::Paren(Box::new(rewrite_calls(i, f))),
        ExprKind::Unary { op, operand } => ExprKind::Unary {
            op: *op,
            operand: Box::new(rewrite_calls(operand, f)),
        },
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op: *op,
            lhs: Box::new(rewrite_calls(lhs, f)),
            rhs: Box::new(rewrite_calls(rhs, f)),
        },
        ExprKind::Logical { op, operands } => ExprKind::Logical {
            op: *op,
            operands: operands.iter().map(|a| rewrite_calls(a, f)).collect(),
        },
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => ExprKind::Between {
            expr: Box::new(rewrite_calls(expr, f)),
            low: Box::new(rewrite_calls(low, f)),
            high: Box::new(rewrite_calls(high, f)),
            negated: *negated,
        },
        ExprKind::InList { expr, op, items } => ExprKind::InList {
            expr: Box::new(rewrite_calls(expr, f)),
            op: *op,
            items: items.iter().map(|a| rewrite_calls(a, f)).collect(),
        },
        ExprKind::Member { target, name } => ExprKind::Member {
            target: Box::new(rewrite_calls(target, f)),
            name: name.clone(),
        },
        ExprKind::Index { target, index } => ExprKind::Index {
            target: Box::new(rewrite_calls(target, f)),
            index: Box::new(rewrite_calls(index, f)),
        },
        other => other.clone(),
    };
    Expr { kind, span: e.span }
}

/// A percentage as Kusto writes it in a column name: `50`, `99_9`.
fn percent_suffix(pc: f64) -> String {
    if pc.fract() == 0.0 {
        format!("{}", pc as i64)
    } else {
        format!("{pc}").replace('.', "_")
    }
}

impl Binder<'_> {
    pub(super) fn bind_summarize(&mut self, p: Plan, s: &Summarize) -> Result<Plan> {
        if s.aggregates.iter().any(is_expr_over_aggregates) {
            return self.bind_summarize_exprs(p, s);
        }
        let scope = Scope::of(&p);
        let mut schema: Vec<Column> = Vec::new();
        let mut keys = Vec::new();
        let mut event_time = None;
        for k in &s.by {
            let (x, ty) = self.bind_row_expr(&k.expr, &scope)?;
            let name = match k.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(&k.expr, schema.iter().map(|c| &*c.name)),
            };
            if p.event_time.is_some() && x == ScalarExpr::Column(p.event_time.unwrap_or(0)) {
                event_time = Some(keys.len());
            }
            let name = unique_name(&schema, &name);
            schema.push(Column {
                name: Str::from(name.as_str()),
                ty,
            });
            keys.push(x);
        }
        let key_names: Vec<Str> = schema.iter().map(|c| c.name.clone()).collect();
        let mut aggs = Vec::new();
        // Per aggregate output: None for one column, Some(element columns) to unpack.
        let mut unpack: Vec<Option<Vec<(Str, Type)>>> = Vec::new();
        for a in &s.aggregates {
            let call = strip_paren(&a.expr);
            let ExprKind::Call { name, args } = &call.kind else {
                return Err(BindError::new(
                    a.expr.span,
                    "summarize takes aggregates (`N = count()`) or expressions over them (`N = toint(avg(x))`)",
                ));
            };
            let Some(f) = aggregate_fn(&name.name) else {
                return Err(BindError::new(
                    name.span,
                    if scalar_fn(&name.name).is_some() {
                        format!(
                            "'{}' is a scalar function: summarize takes aggregates or expressions over them (`{}(make_set(x))`)",
                            name.name, name.name
                        )
                    } else {
                        format!("not supported yet: the aggregate '{}'", name.name)
                    },
                ));
            };
            let nargs = args.len();
            let star_count = matches!(args.as_slice(), [x] if matches!(x.kind, ExprKind::Star));
            if !(f.kind == AggKind::Count && star_count)
                && (nargs < f.min_args || nargs > f.max_args)
            {
                return Err(BindError::new(
                    call.span,
                    format!(
                        "{} takes {} to {} arguments, {} given",
                        f.name,
                        f.min_args,
                        if f.max_args == usize::MAX {
                            "any number of".to_string()
                        } else {
                            f.max_args.to_string()
                        },
                        nargs
                    ),
                ));
            }
            if matches!(f.kind, AggKind::Percentile | AggKind::PercentileW) {
                // percentile(x, p) and percentiles(x, p1, p2, …): one column per percentage,
                // named `percentile_x_50` unless the query names them; the weighted forms
                // take the weight second.
                let (x, ty) = self.bind_row_expr(&args[0], &scope)?;
                let weighted = f.kind == AggKind::PercentileW;
                let mut inputs = vec![x];
                if weighted {
                    inputs.push(self.bind_row_expr(&args[1], &scope)?.0);
                }
                let mut percents = Vec::new();
                for arg in &args[inputs.len()..] {
                    let (pe, _) = self.bind_row_expr(arg, &scope)?;
                    let pc = match fold(&pe) {
                        Some(Folded::Const(Value::Long(n))) => n as f64,
                        Some(Folded::Const(Value::Real(r))) => r,
                        _ => {
                            return Err(BindError::new(
                                arg.span,
                                format!("{} needs constant percentages", f.name),
                            ));
                        }
                    };
                    if !(0.0..=100.0).contains(&pc) {
                        return Err(BindError::new(
                            arg.span,
                            format!("a percentage is between 0 and 100, not {pc}"),
                        ));
                    }
                    percents.push(pc);
                }
                if !a.names.is_empty() && a.names.len() != percents.len() {
                    return Err(BindError::new(
                        a.span,
                        format!(
                            "{} gives {} columns here: name each one, as in `(p50, p95) = percentiles(x, 50, 95)`, or none",
                            f.name,
                            percents.len()
                        ),
                    ));
                }
                let col = args.first().and_then(infer_name).unwrap_or_default();
                for (i, pc) in percents.into_iter().enumerate() {
                    let mut spec = AggSpec::with_arg(f.kind, ty);
                    spec.percentile = pc;
                    let nm = match a.names.get(i) {
                        Some(n) => n.name.clone(),
                        None => format!("percentile_{col}_{}", percent_suffix(pc)),
                    };
                    let nm = unique_name(&schema, &nm);
                    schema.push(Column {
                        name: Str::from(nm.as_str()),
                        ty: spec.result_type(&[ty]),
                    });
                    aggs.push(AggCall {
                        spec,
                        args: inputs.clone(),
                    });
                    unpack.push(None);
                }
                continue;
            }
            let mut spec = AggSpec::new(f.kind);
            let explicit = a.names.first().map(|n| n.name.clone());
            if !matches!(f.kind, AggKind::ArgMax | AggKind::ArgMin | AggKind::TakeAny) {
                one_name(a)?;
            }
            let first_name = args.first().and_then(infer_name);
            match f.kind {
                AggKind::ArgMax | AggKind::ArgMin | AggKind::TakeAny => {
                    let mut bound = Vec::new();
                    let mut names: Vec<(Str, Type)> = Vec::new();
                    for (i, arg) in args.iter().enumerate() {
                        if matches!(arg.kind, ExprKind::Star) {
                            for (ci, c) in p.schema.iter().enumerate() {
                                let taken = key_names.contains(&c.name)
                                    || names.iter().any(|n| n.0 == c.name);
                                if !taken {
                                    bound.push(ScalarExpr::Column(ci));
                                    names.push((c.name.clone(), c.ty));
                                }
                            }
                            continue;
                        }
                        let (x, ty) = self.bind_row_expr(arg, &scope)?;
                        let nm = match (i, &explicit) {
                            (0, Some(n)) => n.clone(),
                            _ => match infer_name(arg) {
                                Some(n) if f.kind == AggKind::TakeAny && f.prefix == "any_" => {
                                    format!("any_{n}")
                                }
                                Some(n) => n,
                                None => self.name_for(arg, names.iter().map(|c| &*c.0)),
                            },
                        };
                        bound.push(x);
                        names.push((Str::from(nm.as_str()), ty));
                    }
                    // `(A, B) = arg_max(x, y)` names the output columns in turn.
                    if a.names.len() > 1 {
                        if a.names.len() > names.len() {
                            return Err(BindError::new(
                                a.span,
                                format!(
                                    "{}() gives {} columns, {} names given",
                                    name.name,
                                    names.len(),
                                    a.names.len()
                                ),
                            ));
                        }
                        for (slot, n) in names.iter_mut().zip(&a.names) {
                            slot.0 = Str::from(n.name.as_str());
                        }
                    }
                    if f.kind == AggKind::TakeAny && names.len() == 1 {
                        let (nm, ty) = names.remove(0);
                        aggs.push(AggCall { spec, args: bound });
                        let nm = unique_name(&schema, &nm);
                        schema.push(Column {
                            name: Str::from(nm.as_str()),
                            ty,
                        });
                        unpack.push(None);
                    } else {
                        aggs.push(AggCall { spec, args: bound });
                        schema.push(Column {
                            name: Str::from(format!("__agg{}", aggs.len()).as_str()),
                            ty: Type::Dynamic,
                        });
                        unpack.push(Some(names));
                    }
                    continue;
                }
                _ => {}
            }
            let mut bound = Vec::new();
            let mut tys = Vec::new();
            for arg in args {
                if matches!(arg.kind, ExprKind::Star) {
                    continue;
                }
                let (x, ty) = self.bind_row_expr(arg, &scope)?;
                bound.push(x);
                tys.push(ty);
            }
            spec.arg = tys.first().copied().unwrap_or(Type::Dynamic);
            if f.kind == AggKind::Count && !bound.is_empty() {
                spec.kind = AggKind::CountValues;
            }
            let limit_at = |i: usize, b: &Vec<ScalarExpr>| b.get(i).and_then(const_usize);
            let args_ir: Vec<ScalarExpr> = match spec.kind {
                AggKind::Count => Vec::new(),
                AggKind::DCount => bound.into_iter().take(1).collect(),
                AggKind::DCountIf => bound.into_iter().take(2).collect(),
                AggKind::MakeSet => {
                    if let Some(n) = limit_at(1, &bound) {
                        spec.limit = n;
                    }
                    bound.into_iter().take(1).collect()
                }
                AggKind::MakeSetIf => {
                    if let Some(n) = limit_at(2, &bound) {
                        spec.limit = n;
                    }
                    bound.into_iter().take(2).collect()
                }
                AggKind::MakeList | AggKind::MakeListIf => {
                    let keep = if f.kind == AggKind::MakeList { 1 } else { 2 };
                    if let Some(n) = limit_at(keep, &bound) {
                        spec.limit = n;
                    }
                    let mut v: Vec<ScalarExpr> = bound.into_iter().take(keep).collect();
                    v.push(order_key(&p));
                    v
                }
                AggKind::MakeBag => bound.into_iter().take(1).collect(),
                _ => bound,
            };
            let ty = spec.result_type(&tys);
            let nm = match explicit {
                Some(n) => n,
                None if spec.kind == AggKind::CountValues => match &first_name {
                    Some(col) => format!("count_{col}"),
                    None => "count_".to_string(),
                },
                None => f.default_column_name(first_name.as_deref()),
            };
            let nm = unique_name(&schema, &nm);
            schema.push(Column {
                name: Str::from(nm.as_str()),
                ty,
            });
            aggs.push(AggCall {
                spec,
                args: args_ir,
            });
            unpack.push(None);
        }
        let nkeys = keys.len();
        let reduce = Plan {
            node: Node::Reduce {
                input: Box::new(p),
                keys,
                aggs,
            },
            schema: schema.clone(),
            event_time,
        };
        if unpack.iter().all(Option::is_none) {
            return Ok(reduce);
        }
        let mut cols: Vec<(Str, Type, ScalarExpr)> = (0..nkeys)
            .map(|i| (schema[i].name.clone(), schema[i].ty, ScalarExpr::Column(i)))
            .collect();
        for (j, u) in unpack.iter().enumerate() {
            let at = nkeys + j;
            match u {
                None => cols.push((
                    schema[at].name.clone(),
                    schema[at].ty,
                    ScalarExpr::Column(at),
                )),
                Some(elems) => {
                    for (k, (nm, ty)) in elems.iter().enumerate() {
                        let taken: Vec<Column> = cols
                            .iter()
                            .map(|c| Column {
                                name: c.0.clone(),
                                ty: c.1,
                            })
                            .collect();
                        let nm = unique_name(&taken, nm);
                        cols.push((
                            Str::from(nm.as_str()),
                            *ty,
                            ScalarExpr::Cast(
                                Box::new(ScalarExpr::Index {
                                    expr: Box::new(ScalarExpr::Column(at)),
                                    index: Box::new(ScalarExpr::Literal(Value::Long(k as i64))),
                                }),
                                *ty,
                            ),
                        ));
                    }
                }
            }
        }
        Ok(map_plan(reduce, cols))
    }

    /// A summarize with scalar expressions over aggregates (`s = tostring(make_set(x))`,
    /// `toint(avg(x))`): the aggregates are computed into hidden columns, then each expression
    /// is evaluated over them (and the group keys) in a map after the reduce.
    pub(super) fn bind_summarize_exprs(&mut self, p: Plan, s: &Summarize) -> Result<Plan> {
        const HIDDEN: &str = "__summarize_agg";
        let mut items: Vec<NamedExpr> = Vec::new();
        // Per item over aggregates: its name (if given), its expression over the hidden
        // columns, and the first hidden column it reads.
        let mut exprs: Vec<(Option<String>, Expr, String)> = Vec::new();
        let mut hidden = 0usize;
        for a in &s.aggregates {
            if !is_expr_over_aggregates(a) {
                items.push(a.clone());
                continue;
            }
            one_name(a)?;
            let mut first: Option<(String, Option<String>)> = None;
            let rewritten = rewrite_calls(&a.expr, &mut |call: &Expr| {
                let ExprKind::Call { name, args } = &call.kind else {
                    return None;
                };
                let f = aggregate_fn(&name.name)?;
                hidden += 1;
                let h = format!("{HIDDEN}{hidden}");
                if first.is_none() {
                    let default =
                        f.default_column_name(args.first().and_then(infer_name).as_deref());
                    first = Some((h.clone(), Some(default)));
                }
                items.push(NamedExpr {
                    names: vec![Ident {
                        name: h.clone(),
                        span: name.span,
                    }],
                    expr: call.clone(),
                    span: call.span,
                });
                Some(Expr {
                    kind: ExprKind::Name(Ident {
                        name: h,
                        span: call.span,
                    }),
                    span: call.span,
                })
            });
            let Some((first, default)) = first else {
                return Err(BindError::new(a.expr.span, "summarize takes aggregates"));
            };
            let name = a.names.first().map(|n| n.name.clone()).or_else(|| {
                // Through conversions (`tostring(make_set(x))`) the aggregate's own name.
                let mut e = strip_paren(&rewritten);
                while let ExprKind::Call { name, args } = &e.kind
                    && NAME_THROUGH.contains(&name.name.as_str())
                    && args.len() == 1
                {
                    e = strip_paren(&args[0]);
                }
                match &e.kind {
                    ExprKind::Name(id) if id.name == first => default,
                    _ => None,
                }
            });
            exprs.push((name, rewritten, first));
        }
        let inner = Summarize {
            params: s.params.clone(),
            aggregates: items,
            by: s.by.clone(),
        };
        let reduce = self.bind_summarize(p, &inner)?;
        let scope = Scope::of(&reduce);
        let nkeys = s.by.len();
        let mut outs: Vec<(Str, Type, ScalarExpr)> = Vec::new();
        let taken = |outs: &Vec<(Str, Type, ScalarExpr)>| -> Vec<Column> {
            outs.iter()
                .map(|c| Column {
                    name: c.0.clone(),
                    ty: c.1,
                })
                .collect()
        };
        for (i, c) in reduce.schema.iter().enumerate() {
            if i >= nkeys && c.name.starts_with(HIDDEN) {
                let Some((name, e, _)) = exprs.iter().find(|x| *x.2 == *c.name) else {
                    continue;
                };
                let (x, ty) = self.bind_row_expr(e, &scope)?;
                let nm = match name {
                    Some(n) => n.clone(),
                    None => self.name_for(e, outs.iter().map(|c| &*c.0)),
                };
                let nm = unique_name(&taken(&outs), &nm);
                outs.push((Str::from(nm.as_str()), ty, x));
            } else {
                let nm = unique_name(&taken(&outs), &c.name);
                outs.push((Str::from(nm.as_str()), c.ty, ScalarExpr::Column(i)));
            }
        }
        Ok(map_plan(reduce, outs))
    }

    /// An `extend` item that calls a function returning several columns
    /// ([`crate::func::MULTI_COLUMN_FUNCTIONS`]) with a tuple of names, or with none: the call
    /// of its internal function and the columns' names (the names given, then Kusto's
    /// generated `f_x_suffix` names). `None` for any other item.
    pub(super) fn multi_column_call(
        &mut self,
        it: &NamedExpr,
        scope: &Scope,
    ) -> Result<Option<MultiColumn>> {
        let call = strip_paren(&it.expr);
        let ExprKind::Call { name, args } = &call.kind else {
            return Ok(None);
        };
        let Some((function, internal, suffixes)) = crate::func::MULTI_COLUMN_FUNCTIONS
            .iter()
            .find(|(f, _, _)| *f == name.name)
        else {
            return Ok(None);
        };
        if it.names.len() == 1 || self.lookup(&name.name).is_some() {
            return Ok(None);
        }
        if it.names.len() > suffixes.len() {
            return Err(BindError::new(
                it.span,
                format!(
                    "{function}() returns {} columns, {} names given",
                    suffixes.len(),
                    it.names.len()
                ),
            ));
        }
        // Bind the call as a user's (arity, argument types), then call the internal function.
        let (x, _) = self.bind_row_expr(call, scope)?;
        let ScalarExpr::Call { args: bound, .. } = x else {
            return Ok(None);
        };
        let base = match args.first().and_then(infer_name) {
            Some(a) => format!("{function}_{a}"),
            None => function.to_string(),
        };
        let names = suffixes
            .iter()
            .enumerate()
            .map(|(k, suffix)| match it.names.get(k) {
                Some(n) => n.name.clone(),
                None => format!("{base}_{suffix}"),
            })
            .collect();
        Ok(Some(MultiColumn {
            function,
            call: ScalarExpr::Call {
                name: internal.to_string(),
                args: bound,
            },
            names,
        }))
    }

    /// A `from` or `to` of `make-series`: a constant, or a datetime that moves with now()
    /// (`startofday(ago(14d))`, `startofday(now())`, `ago(1d)`, `now() - 2h`).
    pub(super) fn series_bound(
        &mut self,
        e: &Expr,
        what: &str,
    ) -> Result<std::result::Result<Value, crate::plan::NowBound>> {
        let (x, _) = self.bind_scalar(e, &Scope::default())?;
        if x.uses_now() {
            return match super::temporal::now_bound(&x) {
                Some((offset, align)) => Ok(Err(crate::plan::NowBound { offset, align })),
                None => Err(self.series_now_error(e, what)),
            };
        }
        match fold(&x) {
            Some(Folded::Const(v)) => Ok(Ok(v)),
            _ => Err(BindError::new(
                e.span,
                format!("the make-series {what} must be a constant"),
            )),
        }
    }

    /// A constant of `make-series` (`from`, `to`, `step`, `default`): folded to a value;
    /// now() is refused here (see [`Binder::series_bound`] for the bounds that may move with
    /// it).
    pub(super) fn series_constant(&mut self, e: &Expr, what: &str) -> Result<Value> {
        match self.series_bound(e, what)? {
            Ok(v) => Ok(v),
            Err(_) => Err(self.series_now_error(e, what)),
        }
    }

    /// The error for a make-series parameter relative to now() that cannot be one.
    fn series_now_error(&self, e: &Expr, what: &str) -> BindError {
        BindError::new(
            self.now_span(e).unwrap_or(e.span),
            format!(
                "not supported: this make-series {what} relative to now() (a `from` or `to` may be now() or ago(x) plus or minus a constant, or startofday() of one); filter the rows with a `where TimeGenerated > ago(…)` before make-series and leave `from`/`to` out, or give constant datetimes"
            ),
        )
    }

    /// `make-series`: keys as summarize's, numeric aggregates, a datetime, timespan or long
    /// axis with constant bounds and step.
    pub(super) fn bind_make_series(&mut self, p: Plan, m: &kql::MakeSeries) -> Result<Plan> {
        let mut nonempty = false;
        for prm in &m.params {
            let v = prm.value.span.text(self.src);
            match (prm.name.name.as_str(), v) {
                ("kind", "nonempty") => nonempty = true,
                (n, _) if n.starts_with("hint.") => {}
                _ => {
                    return Err(BindError::new(
                        prm.span,
                        format!("not supported yet: make-series {}={v}", prm.name.name),
                    ));
                }
            }
        }
        let scope = Scope::of(&p);
        let mut schema: Vec<Column> = Vec::new();
        let mut keys = Vec::new();
        for k in &m.by {
            let (x, ty) = self.bind_row_expr(&k.expr, &scope)?;
            let name = match k.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(&k.expr, schema.iter().map(|c| &*c.name)),
            };
            let name = unique_name(&schema, &name);
            schema.push(Column {
                name: Str::from(name.as_str()),
                ty,
            });
            keys.push(x);
        }
        // The axis, its type and its bounds.
        let (axis_expr, axis_ty) = self.bind_row_expr(&m.on, &scope)?;
        let axis_ty = match axis_ty {
            Type::DateTime | Type::TimeSpan => axis_ty,
            Type::Long | Type::Int => Type::Long,
            other => {
                return Err(BindError::new(
                    m.on.span,
                    format!(
                        "not supported yet: a make-series axis of type {other} (datetime, timespan or long)"
                    ),
                ));
            }
        };
        let step = match (self.series_constant(&m.step, "step")?, axis_ty) {
            (Value::TimeSpan(t), Type::DateTime | Type::TimeSpan) if t > 0 => t,
            (Value::Long(n), Type::Long) if n > 0 => n,
            (v, _) => {
                return Err(BindError::new(
                    m.step.span,
                    format!(
                        "the make-series step must be a positive {} (found {v})",
                        if axis_ty == Type::Long {
                            "long"
                        } else {
                            "timespan"
                        }
                    ),
                ));
            }
        };
        let mut axis = SeriesAxis {
            expr: axis_expr,
            ty: axis_ty,
            step,
            start: None,
            end: None,
            start_now: None,
            end_now: None,
        };
        let mut moving: [Option<crate::plan::NowBound>; 2] = [None, None];
        let mut bound = |e: &Option<Expr>,
                         what: &str,
                         b: &mut Self,
                         slot: usize|
         -> Result<Option<i64>> {
            let Some(e) = e else { return Ok(None) };
            let v = match b.series_bound(e, what)? {
                Ok(v) => v,
                Err(now) if axis_ty == Type::DateTime => {
                    // In range(), the bins from the start's to the stop's, both included: a
                    // moving bound stays one when the step divides a day (then both epochs'
                    // grids are midnight's).
                    let now = if m.range {
                        let whole = crate::model::TICKS_PER_DAY % step == 0;
                        match (slot, now.align) {
                            (_, 0) if whole => Some(crate::plan::NowBound {
                                offset: now.offset.saturating_add(if slot == 1 { step } else { 0 }),
                                align: step,
                            }),
                            (0, a) if whole && a % step == 0 => Some(now),
                            _ => None,
                        }
                    } else {
                        Some(now)
                    };
                    if let Some(now) = now {
                        moving[slot] = Some(now);
                        return Ok(None);
                    }
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "not supported: this make-series range() {what} relative to now() (one that moves with now(), or a start by whole days, with a step that divides a day)"
                        ),
                    ));
                }
                Err(_) => {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "not supported: a make-series {what} relative to now() on a {axis_ty} axis (a datetime axis takes one)"
                        ),
                    ));
                }
            };
            if v.is_null() {
                return Ok(None);
            }
            match axis.value_of(&v) {
                Some(x) => Ok(Some(x)),
                None => Err(BindError::new(
                    e.span,
                    format!("the make-series {what} must be a {axis_ty} like the axis (found {v})"),
                )),
            }
        };
        let start = bound(&m.from, "start", self, 0)?;
        let end = bound(&m.to, if m.range { "stop" } else { "end" }, self, 1)?;
        let [start_now, end_now] = moving;
        axis.start_now = start_now;
        axis.end_now = end_now;
        if m.range {
            // `in range(start, stop, step)`: bins by bin(), from the start's bin to the stop's
            // (inclusive).
            axis.start = start.and_then(|s| axis.bin_of(s));
            axis.end = end
                .and_then(|e| axis.bin_of(e))
                .and_then(|b| b.checked_add(step));
        } else {
            axis.start = start;
            axis.end = end;
        }
        // Refused here, with its place, what neither engine would run the same: a bound that
        // moves the bins at every tick.
        if let Some(why) = axis.moving_unsupported(nonempty && m.by.is_empty()) {
            let at = if start_now.is_some_and(|s| !axis.keeps_grid(s)) {
                &m.from
            } else {
                &m.to
            };
            let span = at
                .as_ref()
                .map_or(m.on.span, |e| self.now_span(e).unwrap_or(e.span));
            return Err(BindError::new(span, format!("not supported: {why}")));
        }
        // The aggregates, with their defaults.
        let mut aggs = Vec::new();
        let mut defaults = Vec::new();
        for sa in &m.aggregates {
            let a = &sa.agg;
            let call = strip_paren(&a.expr);
            let ExprKind::Call { name, args } = &call.kind else {
                return Err(BindError::new(
                    a.expr.span,
                    "make-series takes aggregates (`N = count()`), not expressions over them",
                ));
            };
            let f = aggregate_fn(&name.name).filter(|f| {
                matches!(
                    f.kind,
                    AggKind::Count
                        | AggKind::CountIf
                        | AggKind::DCount
                        | AggKind::DCountIf
                        | AggKind::Sum
                        | AggKind::SumIf
                        | AggKind::Avg
                        | AggKind::AvgIf
                        | AggKind::Min
                        | AggKind::Max
                        | AggKind::MinIf
                        | AggKind::MaxIf
                        | AggKind::Stdev
                        | AggKind::Variance
                        | AggKind::StdevIf
                        | AggKind::VarianceIf
                )
            });
            let Some(f) = f else {
                return Err(BindError::new(
                    name.span,
                    format!(
                        "not supported yet: the aggregate '{}' in make-series (count, countif, dcount, dcountif, sum, sumif, avg, avgif, min, max, minif, maxif, stdev, stdevif, variance, varianceif)",
                        name.name
                    ),
                ));
            };
            one_name(a)?;
            let star_count = matches!(args.as_slice(), [x] if matches!(x.kind, ExprKind::Star));
            let nargs = if star_count { 0 } else { args.len() };
            if nargs < f.min_args || nargs > f.max_args {
                return Err(BindError::new(
                    call.span,
                    format!(
                        "{} takes {} to {} arguments, {} given",
                        f.name, f.min_args, f.max_args, nargs
                    ),
                ));
            }
            let mut bound = Vec::new();
            let mut tys = Vec::new();
            for arg in args.iter().filter(|a| !matches!(a.kind, ExprKind::Star)) {
                let (x, ty) = self.bind_row_expr(arg, &scope)?;
                bound.push(x);
                tys.push(ty);
            }
            let mut spec = AggSpec::with_arg(f.kind, tys.first().copied().unwrap_or(Type::Dynamic));
            if f.kind == AggKind::Count && !bound.is_empty() {
                spec.kind = AggKind::CountValues;
            }
            let args_ir: Vec<ScalarExpr> = match spec.kind {
                AggKind::Count => Vec::new(),
                AggKind::DCount => bound.into_iter().take(1).collect(),
                AggKind::DCountIf => bound.into_iter().take(2).collect(),
                _ => bound,
            };
            let ty = spec.result_type(&tys);
            let default = match &sa.default {
                Some(d) => self.series_constant(d, "default")?,
                None => match ty {
                    Type::Real => Value::Real(0.0),
                    Type::TimeSpan => Value::TimeSpan(0),
                    Type::DateTime => Value::Null,
                    _ => Value::Long(0),
                },
            };
            let nm = match a.names.first() {
                Some(n) => n.name.clone(),
                None => f.default_column_name(args.first().and_then(infer_name).as_deref()),
            };
            let nm = unique_name(&schema, &nm);
            schema.push(Column {
                name: Str::from(nm.as_str()),
                ty: Type::Dynamic,
            });
            aggs.push(AggCall {
                spec,
                args: args_ir,
            });
            defaults.push(default);
        }
        let axis_name = infer_name(&m.on)
            .unwrap_or_else(|| self.name_for(&m.on, schema.iter().map(|c| &*c.name)));
        let axis_name = unique_name(&schema, &axis_name);
        schema.push(Column {
            name: Str::from(axis_name.as_str()),
            ty: Type::Dynamic,
        });
        Ok(Plan {
            node: Node::MakeSeries {
                input: Box::new(p),
                keys,
                aggs,
                defaults,
                axis: Box::new(axis),
                nonempty,
            },
            schema,
            event_time: None,
        })
    }
}
