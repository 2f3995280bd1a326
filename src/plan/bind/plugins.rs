//! `evaluate` plugins whose output columns come from the data: `bag_unpack` and `pivot`.
//! (`ipv4_lookup` is a join, in [`super::joins`].)
//!
//! A statically bound plan cannot look at the data, so these bind like a watchlist without
//! its file: their columns are the ones their output schema declares, or else the names the
//! rest of the pipe reads that nothing else defines.

use super::summarize::order_key;
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
    /// first: what an `evaluate bag_unpack` or `pivot` with no output schema gives as
    /// columns. Bracketed names (`['@Name']`, `['#text']`) and the names `column_ifexists`
    /// asks for count as names.
    pub(super) fn names_read_after(&self, rest: &[Operator]) -> Vec<String> {
        // Up to the first operator whose output is not its input's columns and more (its
        // own names are read from this one's output; later names are of its output).
        let end = rest
            .iter()
            .position(|op| {
                matches!(
                    op.kind,
                    OperatorKind::Summarize(_)
                        | OperatorKind::Project(_)
                        | OperatorKind::Evaluate { .. }
                        | OperatorKind::Distinct(_)
                        | OperatorKind::Count
                        | OperatorKind::MakeSeries(_)
                )
            })
            .map_or(rest.len(), |i| i + 1);
        let rest = &rest[..end];
        let mut names = self.names_in_ops(rest);
        let (_, assigned) = self.time_and_assigned_names(rest);
        names.retain(|n| !assigned.contains(n));
        if let (Some(first), Some(last)) = (rest.first(), rest.last()) {
            let text = Span::new(first.span.start, last.span.end).text(self.src);
            if let Ok(tokens) = kql::tokenize(text) {
                use kql::TokenKind as K;
                // Operator and plugin names are not columns: the word after `|` (or first)
                // and after `evaluate`.
                let mut not_names: Vec<&str> = Vec::new();
                for (i, t) in tokens.iter().enumerate() {
                    let after_pipe = i == 0 || matches!(tokens[i - 1].kind, K::Pipe);
                    let after_evaluate = i > 0
                        && tokens[i - 1].kind == K::Word
                        && tokens[i - 1].span.text(text) == "evaluate";
                    if t.kind == K::Word && (after_pipe || after_evaluate) {
                        not_names.push(t.span.text(text));
                    }
                }
                names.retain(|n| !not_names.contains(&n.as_str()));
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
                // `column_ifexists('Name', default)` reads Name when the data has it.
                for w in tokens.windows(3) {
                    if let (K::Word, K::LParen, K::Str(name)) = (&w[0].kind, &w[1].kind, &w[2].kind)
                        && matches!(w[0].span.text(text), "column_ifexists" | "columnifexists")
                        && !names.contains(name)
                    {
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

impl Binder<'_> {
    /// `evaluate pivot(PivotColumn [, Aggregate] [, Column…]) [: (OutputSchema)]`: the rows
    /// grouped by the `Column`s (by default every column but the pivot column and those the
    /// aggregate reads), with one column per value `V` of the pivot column: the aggregate
    /// (`count()` by default) over the group's rows whose pivot column is `V` (as a string),
    /// its `-if` form over the whole group (`sum(x)` is `sumif(x, tostring(P) == 'V')`, so an
    /// absent value gives the aggregate's default: 0 for a count or sum, null for `min`). The
    /// values are the output schema's columns that are not keys, or else the names the rest
    /// of the pipe reads that are not keys nor `let`s (`read`), with a note. `take_any`/`any`
    /// takes the least value, as kqlflow's `take_any` does. A reduce, maintained by both
    /// engines as any `summarize`.
    pub(super) fn bind_pivot(
        &mut self,
        p: Plan,
        args: &[Expr],
        output: Option<&OutputSchema>,
        read: &[String],
        span: Span,
    ) -> Result<Plan> {
        let scope = Scope::of(&p);
        let column = |b: &Self, e: &Expr| -> Result<usize> {
            match &strip_paren(e).kind {
                ExprKind::Name(id) => p
                    .index_of(&id.name)
                    .ok_or_else(|| b.unknown_column(id, &scope)),
                _ => Err(BindError::new(
                    e.span,
                    "pivot: expected a column of the input",
                )),
            }
        };
        let Some(first) = args.first() else {
            return Err(BindError::new(
                span,
                "pivot takes the column to pivot, as in `evaluate pivot(State)`",
            ));
        };
        let pivot = column(self, first)?;
        let mut rest = &args[1..];
        // The aggregate: its -if kind, its value argument (none for count) and type.
        let mut agg: (AggKind, Option<(ScalarExpr, Type)>, String) =
            (AggKind::CountIf, None, "count".to_string());
        let mut agg_reads: Vec<usize> = Vec::new();
        if let Some(a) = rest.first()
            && let ExprKind::Call { name, args: aargs } = &strip_paren(a).kind
            && let Some(f) = aggregate_fn(&name.name)
        {
            let kind = match f.kind {
                AggKind::Count => AggKind::CountIf,
                AggKind::Sum => AggKind::SumIf,
                AggKind::Avg => AggKind::AvgIf,
                AggKind::Min | AggKind::TakeAny => AggKind::MinIf,
                AggKind::Max => AggKind::MaxIf,
                AggKind::DCount => AggKind::DCountIf,
                AggKind::Stdev => AggKind::StdevIf,
                AggKind::Variance => AggKind::VarianceIf,
                AggKind::MakeSet => AggKind::MakeSetIf,
                AggKind::MakeList => AggKind::MakeListIf,
                _ => {
                    return Err(BindError::new(
                        name.span,
                        format!(
                            "not supported yet: pivot with {}() (it takes count, sum, avg, min, max, take_any, dcount, stdev, variance, make_set, make_list)",
                            name.name
                        ),
                    ));
                }
            };
            let value = match (kind, aargs.as_slice()) {
                (AggKind::CountIf, []) => None,
                (AggKind::CountIf, [x]) if matches!(x.kind, ExprKind::Star) => None,
                (AggKind::CountIf, _) => {
                    return Err(BindError::new(a.span, "pivot: count() takes no argument"));
                }
                (_, [x]) => {
                    let (x, ty) = self.bind_row_expr(x, &scope)?;
                    columns_of(&x, &mut agg_reads);
                    Some((x, ty))
                }
                _ => {
                    return Err(BindError::new(
                        a.span,
                        format!("pivot: {}() takes one argument here", name.name),
                    ));
                }
            };
            agg = (kind, value, name.name.clone());
            rest = &rest[1..];
        }
        let mut keys: Vec<usize> = Vec::new();
        for e in rest {
            let k = column(self, e)?;
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if rest.is_empty() {
            keys = (0..p.schema.len())
                .filter(|c| *c != pivot && !agg_reads.contains(c))
                .collect();
        }
        let key_names: Vec<Str> = keys.iter().map(|&k| p.schema[k].name.clone()).collect();
        let is_key = |n: &str| key_names.iter().any(|k| &**k == n);
        // The pivot values, with the type each output column is given (None: the
        // aggregate's own).
        let mut values: Vec<(String, Option<Type>)> = Vec::new();
        match output {
            Some(schema) => {
                if schema.star {
                    return Err(BindError::new(
                        schema.span,
                        "pivot's output schema lists its columns: `*` is bag_unpack's",
                    ));
                }
                for c in &schema.columns {
                    if !is_key(&c.name.name) {
                        values.push((c.name.name.clone(), Some(c.ty)));
                    }
                }
            }
            None => {
                for n in read {
                    if !is_key(n) && self.lookup(n).is_none() && !values.iter().any(|v| v.0 == *n) {
                        values.push((n.clone(), None));
                    }
                }
                let note = format!(
                    "pivot's columns depend on the data: bound with the names the rest of the query reads as the values of {} (declare them with `evaluate pivot(…) : (Key:type, …, Value:type)`): {}",
                    p.schema[pivot].name,
                    if values.is_empty() {
                        "none".to_string()
                    } else {
                        values
                            .iter()
                            .map(|v| v.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
            }
        }
        let order = order_key(&p);
        let (kind, value, _) = agg;
        let arg_ty = value.as_ref().map_or(Type::Dynamic, |v| v.1);
        let mut aggs = Vec::new();
        let mut schema: Vec<Column> = key_names
            .iter()
            .zip(&keys)
            .map(|(n, &k)| Column {
                name: n.clone(),
                ty: p.schema[k].ty,
            })
            .collect();
        let mut casts: Vec<Option<Type>> = Vec::new();
        for (v, declared) in &values {
            let pred = ScalarExpr::Binary(
                BinOp::Eq,
                Box::new(ScalarExpr::Call {
                    name: "tostring".to_string(),
                    args: vec![ScalarExpr::Column(pivot)],
                }),
                Box::new(ScalarExpr::Literal(Value::str(v))),
            );
            let mut args = match &value {
                Some((x, _)) => vec![x.clone(), pred],
                None => vec![pred],
            };
            if kind == AggKind::MakeListIf {
                args.push(order.clone());
            }
            let spec = AggSpec::with_arg(kind, arg_ty);
            let ty = spec.result_type(&[arg_ty]);
            schema.push(Column {
                name: Str::from(v.as_str()),
                ty,
            });
            casts.push(declared.filter(|d| *d != ty));
            aggs.push(AggCall { spec, args });
        }
        let event_time = p.event_time.and_then(|t| keys.iter().position(|&k| k == t));
        let reduced = Plan {
            node: Node::Reduce {
                input: Box::new(p),
                keys: keys.iter().map(|&k| ScalarExpr::Column(k)).collect(),
                aggs,
            },
            schema,
            event_time,
        };
        if casts.iter().all(Option::is_none) && output.is_none() {
            return Ok(reduced);
        }
        // The declared types, and the declared order of the columns.
        let width = keys.len();
        let mut cols: Vec<(Str, Type, ScalarExpr)> = Scope::of(&reduced).cols;
        for (i, cast) in casts.iter().enumerate() {
            if let Some(ty) = cast {
                let c = &mut cols[width + i];
                c.1 = *ty;
                c.2 = ScalarExpr::Cast(Box::new(ScalarExpr::Column(width + i)), *ty);
            }
        }
        if let Some(schema) = output {
            let mut ordered = Vec::new();
            for d in &schema.columns {
                if let Some(c) = cols.iter().find(|c| *c.0 == *d.name.name) {
                    let x = if c.1 == d.ty {
                        c.2.clone()
                    } else {
                        ScalarExpr::Cast(Box::new(c.2.clone()), d.ty)
                    };
                    ordered.push((c.0.clone(), d.ty, x));
                }
            }
            for c in cols.iter().take(width) {
                if !ordered.iter().any(|o| o.0 == c.0) {
                    ordered.insert(0, c.clone());
                }
            }
            cols = ordered;
        }
        Ok(map_plan(reduced, cols))
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

/// Adds the columns `x` reads to `out`.
fn columns_of(x: &ScalarExpr, out: &mut Vec<usize>) {
    if let ScalarExpr::Column(c) = x {
        out.push(*c);
    }
    x.for_each_child(&mut |c| columns_of(c, out));
}

impl Binder<'_> {
    /// `evaluate basket([Threshold, WeightColumn, MaxDimensions, CustomWildcard…])`: the
    /// closed frequent patterns of the rows (see [`crate::func::basket`]), one row each:
    /// `SegmentId`, `Count`, `Percent`, then every input column, holding the pattern's value
    /// or the wildcard (the empty string for a string, else null, unless a custom wildcard of
    /// the column's type is given). Every column but the weight column and dynamic ones is a
    /// dimension. `'~'` takes a parameter's default (0.05, no weight, 5).
    pub(super) fn bind_basket(&mut self, p: Plan, args: &[Expr], span: Span) -> Result<Plan> {
        let a = self.pattern_args(
            &p,
            args,
            PatternPlugin {
                name: "basket",
                weight: |t| matches!(t, Type::Int | Type::Long | Type::Real),
                weight_kind: "a numeric",
                usage: "a threshold, a weight column and MaxDimensions",
            },
        )?;
        let threshold = match a.first {
            None => 0.05,
            Some((Value::Real(t), _)) if (0.015..=1.0).contains(&t) => t,
            Some((Value::Long(1), _)) => 1.0,
            Some((v, at)) => {
                return Err(BindError::new(
                    at,
                    format!("basket's threshold is a ratio from 0.015 to 1 (found {v})"),
                ));
            }
        };
        let max_dims = positive_count(a.third, 5, "basket's MaxDimensions")?;
        let spec = AggSpec {
            limit: max_dims,
            threshold,
            ..AggSpec::new(AggKind::Basket)
        };
        patterns_plan(p, a.weight, &a.wildcards, spec, span)
    }

    /// `evaluate autocluster([SizeWeight, WeightColumn, NumSeeds, CustomWildcard…])`: a small
    /// set of patterns that sum up the rows (see [`crate::func::autocluster`]), one row
    /// each, in the columns [`Binder::bind_basket`] gives. `'~'` takes a parameter's default
    /// (0.5, no weight, 25).
    pub(super) fn bind_autocluster(&mut self, p: Plan, args: &[Expr], span: Span) -> Result<Plan> {
        let a = self.pattern_args(
            &p,
            args,
            PatternPlugin {
                name: "autocluster",
                weight: |t| matches!(t, Type::Int | Type::Long),
                weight_kind: "an integer",
                usage: "a SizeWeight, a weight column and NumSeeds",
            },
        )?;
        let size_weight = match a.first {
            None => 0.5,
            Some((Value::Real(w), _)) if w > 0.0 && w < 1.0 => w,
            Some((v, at)) => {
                return Err(BindError::new(
                    at,
                    format!(
                        "autocluster's SizeWeight is a real number between 0 and 1 (found {v})"
                    ),
                ));
            }
        };
        let seeds = positive_count(a.third, 25, "autocluster's NumSeeds")?;
        let spec = AggSpec {
            limit: seeds,
            threshold: size_weight,
            ..AggSpec::new(AggKind::Autocluster)
        };
        patterns_plan(p, a.weight, &a.wildcards, spec, span)
    }

    /// The arguments of a pattern plugin over `p`: a weight column named second, constants
    /// first and third (left to the plugin to check, `'~'` left out), custom wildcards from
    /// the fourth on (one per column type).
    fn pattern_args(
        &mut self,
        p: &Plan,
        args: &[Expr],
        plugin: PatternPlugin,
    ) -> Result<PatternArgs> {
        let scope = Scope::of(p);
        let name = plugin.name;
        let mut out = PatternArgs {
            weight: None,
            wildcards: Vec::new(),
            first: None,
            third: None,
        };
        for (i, a) in args.iter().enumerate() {
            // A weight column is named, not a constant.
            if i == 1
                && let ExprKind::Name(n) = &a.kind
            {
                match p.schema.iter().position(|c| *c.name == *n.name) {
                    Some(c) if (plugin.weight)(p.schema[c].ty) => {
                        out.weight = Some(c);
                        continue;
                    }
                    _ => {
                        return Err(BindError::new(
                            a.span,
                            format!(
                                "{name}: the weight column must be {} column of the input, not {}",
                                plugin.weight_kind, n.name
                            ),
                        ));
                    }
                }
            }
            let (x, ty) = self.bind_scalar(a, &scope)?;
            let v = match fold(&x) {
                Some(Folded::Const(v)) => v,
                _ => {
                    return Err(BindError::new(
                        a.span,
                        format!("{name}'s parameters are constants"),
                    ));
                }
            };
            if matches!(&v, Value::String(s) if &**s == "~") {
                continue;
            }
            match i {
                0 => out.first = Some((v, a.span)),
                2 => out.third = Some((v, a.span)),
                1 => {
                    return Err(BindError::new(
                        a.span,
                        format!(
                            "{name} takes {} before its wildcards (found {v})",
                            plugin.usage
                        ),
                    ));
                }
                _ => wildcard_of(&mut out.wildcards, ty, v, a.span, name)?,
            }
        }
        Ok(out)
    }
}

/// What distinguishes the arguments of one pattern plugin (see [`Binder::pattern_args`]).
struct PatternPlugin {
    /// The plugin's name, for messages.
    name: &'static str,
    /// Which column types a weight column may have.
    weight: fn(Type) -> bool,
    /// Those types, as a message says them ("a numeric").
    weight_kind: &'static str,
    /// The parameters before the wildcards, as a message says them.
    usage: &'static str,
}

/// A pattern plugin's arguments.
struct PatternArgs {
    /// The weight column, when one is named.
    weight: Option<usize>,
    /// Custom wildcards, by the type of the columns they stand in.
    wildcards: Vec<(Type, Value)>,
    /// The first and third parameters (each with where it is), when given.
    first: Option<(Value, Span)>,
    third: Option<(Value, Span)>,
}

/// A pattern plugin's count parameter `arg` (`what`, in its messages): `default` when not
/// given, else a positive integer.
fn positive_count(arg: Option<(Value, Span)>, default: usize, what: &str) -> Result<usize> {
    match arg {
        None => Ok(default),
        Some((Value::Long(n), _)) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Some((v, at)) => Err(BindError::new(
            at,
            format!("{what} is a positive integer (found {v})"),
        )),
    }
}

/// Adds the custom wildcard `v` (of type `ty`) of a pattern plugin's argument at `span`,
/// replacing an earlier one of its type; a dynamic or null value is refused.
fn wildcard_of(
    wildcards: &mut Vec<(Type, Value)>,
    ty: Type,
    v: Value,
    span: Span,
    plugin: &str,
) -> Result<()> {
    if ty == Type::Dynamic || v.is_null() {
        return Err(BindError::new(
            span,
            format!(
                "{plugin}'s custom wildcards are values of a column type (string, long, real, bool, datetime, timespan)"
            ),
        ));
    }
    wildcards.retain(|(t, _)| *t != ty);
    wildcards.push((ty, v));
    Ok(())
}

/// The plan of a pattern plugin (`basket`, `autocluster`) over `p`: a keyless reduce whose
/// aggregate `spec` finds the patterns of the dimension columns (every column but the
/// weight column and dynamic ones), expanded to a row each: `SegmentId`, `Count`, `Percent`,
/// then every input column holding the pattern's value or the wildcard (the custom one of
/// its type, else the empty string for a string and null for the others).
fn patterns_plan(
    p: Plan,
    weight: Option<usize>,
    wildcards: &[(Type, Value)],
    spec: AggSpec,
    span: Span,
) -> Result<Plan> {
    let name = if spec.kind == AggKind::Basket {
        "basket"
    } else {
        "autocluster"
    };
    let dims: Vec<usize> = (0..p.schema.len())
        .filter(|&c| Some(c) != weight && p.schema[c].ty != Type::Dynamic)
        .collect();
    if dims.is_empty() {
        return Err(BindError::new(
            span,
            format!("{name}: the input has no column to find patterns in"),
        ));
    }
    let mut call_args: Vec<ScalarExpr> = dims.iter().map(|&c| ScalarExpr::Column(c)).collect();
    call_args.push(match weight {
        Some(w) => ScalarExpr::Column(w),
        None => ScalarExpr::Literal(Value::Long(1)),
    });
    let input_schema = p.schema.clone();
    let reduced = Plan {
        node: Node::Reduce {
            input: Box::new(p),
            keys: Vec::new(),
            aggs: vec![AggCall {
                spec,
                args: call_args,
            }],
        },
        schema: vec![Column {
            name: Str::from(name),
            ty: Type::Dynamic,
        }],
        event_time: None,
    };
    let expanded = Plan {
        schema: reduced.schema.clone(),
        node: Node::MvExpand {
            input: Box::new(reduced),
            columns: vec![(0, None)],
            limit: None,
        },
        event_time: None,
    };
    let at = |i: usize, ty: Type| {
        ScalarExpr::Cast(
            Box::new(ScalarExpr::Index {
                expr: Box::new(ScalarExpr::Column(0)),
                index: Box::new(ScalarExpr::Literal(Value::Long(i as i64))),
            }),
            ty,
        )
    };
    let mut cols: Vec<(Str, Type, ScalarExpr)> = vec![
        (Str::from("SegmentId"), Type::Long, at(0, Type::Long)),
        (Str::from("Count"), Type::Long, at(1, Type::Long)),
        (Str::from("Percent"), Type::Real, at(2, Type::Real)),
    ];
    let wildcard = |ty: Type| {
        wildcards
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| crate::plan::cast(v, ty))
    };
    for (c, col) in input_schema.iter().enumerate() {
        let x = match (dims.iter().position(|&d| d == c), wildcard(col.ty)) {
            (Some(k), None) => at(3 + k, col.ty),
            // A column the pattern leaves open holds the custom wildcard.
            (Some(k), Some(w)) => ScalarExpr::Call {
                name: "iff".to_string(),
                args: vec![
                    ScalarExpr::Call {
                        name: "isnull".to_string(),
                        args: vec![ScalarExpr::Index {
                            expr: Box::new(ScalarExpr::Column(0)),
                            index: Box::new(ScalarExpr::Literal(Value::Long(3 + k as i64))),
                        }],
                    },
                    ScalarExpr::Literal(w),
                    at(3 + k, col.ty),
                ],
            },
            (None, Some(w)) => ScalarExpr::Literal(w),
            (None, None) => ScalarExpr::Literal(missing_of(col.ty)),
        };
        cols.push((col.name.clone(), col.ty, x));
    }
    Ok(map_plan(expanded, cols))
}
