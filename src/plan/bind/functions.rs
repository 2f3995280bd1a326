//! Calls of scalar functions: the function library's, and those decided when binding
//! (`column_ifexists`, `ingestion_time`); unknown functions named with a suggestion.

use super::*;

/// Kusto functions that kqlflow does not implement yet: calling one says so, rather than
/// suggesting a similarly named function as for a typo.
const KUSTO_FUNCTIONS_NOT_YET: &[&str] = &[
    "row_window_session",
    "hash",
    "hash_sha1",
    "hash_sha256",
    "geo_info_from_ip_address",
    "zip",
    "translate",
    "parse_user_agent",
    "array_sort_asc",
    "array_sort_desc",
    "bag_merge",
    "bag_remove_keys",
    "jaccard_index",
];

/// The known function closest to a misspelt name (by edit distance, ignoring case), if one is
/// close enough to be a likely typo: at most one edit for names up to five letters, two up to
/// ten, three beyond.
fn closest_function(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let limit = match lower.len() {
        0..=5 => 1,
        6..=10 => 2,
        _ => 3,
    };
    crate::func::SCALAR_FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(crate::func::AGGREGATE_FUNCTIONS.iter().map(|f| f.name))
        .chain([
            "now",
            "ago",
            "column_ifexists",
            "ingestion_time",
            "toscalar",
            "new_guid",
            "pack_all",
        ])
        .map(|f| (crate::model::edit_distance(&lower, f), f))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, f)| f)
}

impl Binder<'_> {
    pub(super) fn bind_call(
        &mut self,
        e: &Expr,
        name: &Ident,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        let n = name.name.as_str();
        match n {
            "now" => {
                return match args {
                    [] => Ok((ScalarExpr::Now, Type::DateTime)),
                    [off] => {
                        let (x, _) = self.bind_scalar(off, scope)?;
                        Ok((
                            ScalarExpr::Binary(BinOp::Add, Box::new(ScalarExpr::Now), Box::new(x)),
                            Type::DateTime,
                        ))
                    }
                    _ => Err(BindError::new(e.span, "now() takes at most one argument")),
                };
            }
            "ago" => {
                let [a] = args else {
                    return Err(BindError::new(e.span, "ago() takes one timespan"));
                };
                let (x, _) = self.bind_scalar(a, scope)?;
                return Ok((
                    ScalarExpr::Binary(BinOp::Sub, Box::new(ScalarExpr::Now), Box::new(x)),
                    Type::DateTime,
                ));
            }
            "column_ifexists" | "columnifexists" => {
                return self.bind_column_ifexists(e, args, scope);
            }
            "new_guid" | "pack_all" => {
                if !args.is_empty() && n == "new_guid" {
                    return Err(BindError::new(e.span, "new_guid() takes no argument"));
                }
                // new_guid is computed from the row's values (see func::more::f_new_guid), so
                // that both engines, and a row's insertion and retraction, agree.
                if n == "new_guid" {
                    let note = "new_guid() is a GUID derived from the row's values (not random), so that results can be maintained and retracted; equal rows get equal GUIDs";
                    if !self.notes.iter().any(|x| x == note) {
                        self.notes.push(note.to_string());
                    }
                    return Ok((
                        ScalarExpr::Call {
                            name: n.to_string(),
                            args: scope.cols.iter().map(|c| c.2.clone()).collect(),
                        },
                        Type::String,
                    ));
                }
                // pack_all([ignore_null_empty]): a bag of the row's columns.
                let skip_empty = match args.first() {
                    Some(a) => match fold(&self.bind_scalar(a, scope)?.0) {
                        Some(Folded::Const(Value::Bool(b))) => b,
                        _ => {
                            return Err(BindError::new(
                                a.span,
                                "pack_all() takes a constant bool (whether to leave out null and empty values)",
                            ));
                        }
                    },
                    None => false,
                };
                let mut xs = Vec::new();
                for (name, _, x) in &scope.cols {
                    xs.push(ScalarExpr::Literal(Value::str(name)));
                    xs.push(x.clone());
                }
                let name = if skip_empty { "pack_nonempty" } else { "pack" };
                return Ok((
                    ScalarExpr::Call {
                        name: name.to_string(),
                        args: xs,
                    },
                    Type::Dynamic,
                ));
            }
            "ingestion_time" => return self.bind_ingestion_time(e, args, scope),
            n if super::operators::is_window_function(n) && self.lookup(n).is_none() => {
                return self.bind_window_call(e, name, args, scope);
            }
            "toscalar" => {
                let [a] = args else {
                    return Err(BindError::new(e.span, "toscalar() takes one expression"));
                };
                if !self.is_tabular_syntax(a) {
                    return self.bind_scalar(a, scope);
                }
                let p = self.bind_tabular(a)?;
                let ty = p.schema.first().map_or(Type::Dynamic, |c| c.ty);
                self.scalars.push(p);
                return Ok((ScalarExpr::Scalar(self.scalars.len() - 1), ty));
            }
            _ => {}
        }
        if let Some(Binding::Function(def, env_len)) = self.lookup(n).cloned() {
            return match self.call_function(&def, env_len, args, None, e.span, scope)? {
                Bound::Scalar(x, ty) => Ok((x, ty)),
                Bound::Table(_) => Err(BindError::new(
                    e.span,
                    format!("the function '{n}' returns a table where a scalar is expected"),
                )),
            };
        }
        if let Some(f) = scalar_fn(n) {
            if args.len() < f.min_args || args.len() > f.max_args {
                return Err(BindError::new(
                    e.span,
                    format!(
                        "{n}() takes {} to {} arguments, {} given",
                        f.min_args,
                        if f.max_args == usize::MAX {
                            "any number of".to_string()
                        } else {
                            f.max_args.to_string()
                        },
                        args.len()
                    ),
                ));
            }
            // `extract(re, group, text, typeof(T))` and `extractjson(path, text, typeof(T))`:
            // the string found, converted to T.
            let typed = match (n, args.last().map(|a| &a.kind)) {
                ("extract", Some(ExprKind::TypeOf(t))) if args.len() == 4 => Some(*t),
                ("extractjson" | "extract_json", Some(ExprKind::TypeOf(t))) if args.len() == 3 => {
                    Some(*t)
                }
                _ => None,
            };
            let args = match typed {
                Some(_) => &args[..args.len() - 1],
                None => args,
            };
            let mut xs = Vec::new();
            let mut tys = Vec::new();
            for a in args {
                let (x, ty) = self.bind_scalar(a, scope)?;
                xs.push(x);
                tys.push(ty);
            }
            if n == "extract" || n == "replace_regex" || n == "replace" || n == "extract_all" {
                let i = usize::from(n == "replace_regex");
                let pat = xs.get(i).and_then(fold);
                if let Some(Folded::Const(Value::String(p))) = pat
                    && let Some(err) = crate::func::regex_error(&p)
                {
                    return Err(BindError::new(
                        args[i].span,
                        format!("invalid regular expression: {err}"),
                    ));
                }
            }
            if n == "series_decompose_anomalies" {
                let autodetect = match xs.get(2).map(fold) {
                    None | Some(Some(Folded::Const(Value::Null))) => true,
                    Some(Some(Folded::Const(v))) => crate::model::tolong(&v) == Value::Long(-1),
                    Some(_) => false,
                };
                let note = "series_decompose_anomalies: seasonality -1 (autodetect) is taken as no seasonality: kqlflow does not implement series_periods_detect";
                if autodetect && !self.notes.iter().any(|x| x == note) {
                    self.notes.push(note.to_string());
                }
            }
            let ty = f.result_type(&tys);
            let call = ScalarExpr::Call {
                name: n.to_string(),
                args: xs,
            };
            return Ok(match typed {
                Some(t) => (ScalarExpr::Cast(Box::new(call), t), t),
                None => (call, ty),
            });
        }
        if aggregate_fn(n).is_some() {
            return Err(BindError::new(
                e.span,
                format!("the aggregate {n}() can only be used in summarize"),
            ));
        }
        // A Kusto function kqlflow lacks is "not supported yet", not a typo.
        let hint = if KUSTO_FUNCTIONS_NOT_YET.contains(&n) {
            None
        } else {
            closest_function(n)
        };
        Err(BindError::new(
            name.span,
            match hint {
                Some(h) => format!("unknown function '{n}'; did you mean {h}()?"),
                None => format!("not supported yet: the function '{n}'"),
            },
        ))
    }

    /// A window function call (`prev`, `next`, `row_number`, `row_cumsum`) in an item of
    /// `extend`, `project` or `serialize`: recorded in the item's [`WindowCalls`] and bound to
    /// its placeholder column. Offsets, defaults and `row_number`'s start are constants; the
    /// other arguments are expressions over the row, window functions included.
    pub(super) fn bind_window_call(
        &mut self,
        e: &Expr,
        name: &Ident,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        let n = name.name.as_str();
        let Some(calls) = self.window.as_ref() else {
            return Err(BindError::new(
                name.span,
                format!(
                    "{n}() needs a serialized row set: kqlflow supports it in extend, project and serialize after `sort by`, `serialize`, `top` or `take`"
                ),
            ));
        };
        // Calls in the arguments (`row_cumsum(x, k != prev(k))`) are recorded first.
        let mark = calls.fns.len();
        let (f, ty) = self.window_fn(e, n, args, scope)?;
        let Some(calls) = self.window.as_mut() else {
            return Err(BindError::new(e.span, "internal: window calls lost"));
        };
        let level = calls
            .fns
            .get(mark..)
            .unwrap_or_default()
            .iter()
            .map(|c| c.2 + 1)
            .max()
            .unwrap_or(0);
        if calls.first.is_none() {
            calls.first = Some((n.to_string(), name.span));
        }
        calls.fns.push((f, ty, level));
        Ok((ScalarExpr::Column(WINDOW_BASE + calls.fns.len() - 1), ty))
    }

    /// The window function a call stands for, with its result type.
    fn window_fn(
        &mut self,
        e: &Expr,
        n: &str,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(WindowFn, Type)> {
        let constant = |b: &mut Self, a: &Expr, what: &str| -> Result<Value> {
            let (x, _) = b.bind_scalar(a, scope)?;
            match fold(&x) {
                Some(Folded::Const(v)) => Ok(v),
                _ => Err(BindError::new(
                    a.span,
                    format!("{n}()'s {what} must be a constant"),
                )),
            }
        };
        let restart = |b: &mut Self, a: Option<&Expr>| -> Result<Option<ScalarExpr>> {
            match a {
                Some(a) => Ok(Some(b.bind_row_expr(a, scope)?.0)),
                None => Ok(None),
            }
        };
        match (n, args) {
            ("prev" | "next", [x, rest @ ..]) if rest.len() <= 2 => {
                let (expr, ty) = self.bind_row_expr(x, scope)?;
                let offset = match rest.first() {
                    Some(a) => match constant(self, a, "offset")? {
                        Value::Long(k) if k >= 0 => usize::try_from(k).unwrap_or(usize::MAX),
                        _ => {
                            return Err(BindError::new(
                                a.span,
                                format!("{n}()'s offset must be a non-negative integer"),
                            ));
                        }
                    },
                    None => 1,
                };
                let default = match rest.get(1) {
                    Some(a) => match constant(self, a, "default value")? {
                        Value::Null => Value::Null,
                        v if ty == Type::Dynamic => v,
                        v => cast(&v, ty),
                    },
                    // Kusto's null of the column's type: a string's is the empty string.
                    None if ty == Type::String => Value::empty_string(),
                    None => Value::Null,
                };
                let f = if n == "prev" {
                    WindowFn::Prev {
                        expr,
                        offset,
                        default,
                    }
                } else {
                    WindowFn::Next {
                        expr,
                        offset,
                        default,
                    }
                };
                Ok((f, ty))
            }
            ("row_number", _) if args.len() <= 2 => {
                let start = match args.first() {
                    Some(a) => match constant(self, a, "starting index")? {
                        Value::Long(k) => k,
                        _ => {
                            return Err(BindError::new(
                                a.span,
                                "row_number()'s starting index must be an integer",
                            ));
                        }
                    },
                    None => 1,
                };
                let restart = restart(self, args.get(1))?;
                Ok((WindowFn::RowNumber { start, restart }, Type::Long))
            }
            ("row_cumsum", [t, rest @ ..]) if rest.len() <= 1 => {
                let (term, ty) = self.bind_row_expr(t, scope)?;
                if !matches!(ty, Type::Int | Type::Long | Type::Real) {
                    return Err(BindError::new(
                        t.span,
                        format!("row_cumsum() sums an int, long or real, and this is a {ty}"),
                    ));
                }
                let restart = restart(self, rest.first())?;
                Ok((WindowFn::RowCumsum { term, restart }, ty))
            }
            ("row_window_session", [x, first, between, rest @ ..]) if rest.len() <= 1 => {
                let (expr, ty) = self.bind_row_expr(x, scope)?;
                if ty != Type::DateTime {
                    return Err(BindError::new(
                        x.span,
                        format!("row_window_session() groups datetime values, and this is a {ty}"),
                    ));
                }
                let span = |b: &mut Self, a: &Expr, what: &str| -> Result<i64> {
                    match constant(b, a, what)? {
                        Value::TimeSpan(t) => Ok(t),
                        v => Err(BindError::new(
                            a.span,
                            format!("row_window_session()'s {what} must be a timespan (found {v})"),
                        )),
                    }
                };
                let max_from_first = span(self, first, "maximum distance from the first value")?;
                let max_between = span(self, between, "maximum distance between neighbours")?;
                let restart = restart(self, rest.first())?;
                Ok((
                    WindowFn::Session {
                        expr,
                        max_from_first,
                        max_between,
                        restart,
                    },
                    Type::DateTime,
                ))
            }
            _ => Err(BindError::new(
                e.span,
                match n {
                    "row_window_session" => "row_window_session() takes a datetime, the longest session, the longest gap between neighbours, and optionally a restart condition".to_string(),
                    "prev" | "next" => format!("{n}() takes a column, and optionally an offset and a default value"),
                    "row_number" => "row_number() takes an optional starting index and an optional restart condition".to_string(),
                    _ => "row_cumsum() takes a term, and optionally a restart condition".to_string(),
                },
            )),
        }
    }

    /// `column_ifexists("Name", default)`: decided when binding, with no function left to run.
    /// It is the input's column `Name` (with its type) when the input has that column, and
    /// otherwise `default` (with the default's type). The name must be a constant string.
    pub(super) fn bind_column_ifexists(
        &mut self,
        e: &Expr,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        let [name, default] = args else {
            return Err(BindError::new(
                e.span,
                "column_ifexists() takes a column name and a default value",
            ));
        };
        let (x, _) = self.bind_scalar(name, scope)?;
        let Some(Folded::Const(Value::String(col))) = fold(&x) else {
            return Err(BindError::new(
                name.span,
                "column_ifexists() needs the column's name as a constant string",
            ));
        };
        if let Some((_, ty, x)) = scope.get(&col) {
            return Ok((x.clone(), *ty));
        }
        self.bind_scalar(default, scope)
    }

    /// `ingestion_time()`: kqlflow has no ingestion time (records come from exported files,
    /// not from a Log Analytics workspace), so it is taken as the record's event time, the
    /// scanned table's `TimeGenerated`, which must reach the expression unchanged (after a
    /// `summarize` or a `project` that drops it there is none, and the call is refused). The
    /// program's notes say so: "ingestion_time() is taken as TimeGenerated".
    pub(super) fn bind_ingestion_time(
        &mut self,
        e: &Expr,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        if !args.is_empty() {
            return Err(BindError::new(e.span, "ingestion_time() takes no argument"));
        }
        let Some(t) = scope.event_time else {
            return Err(BindError::new(
                e.span,
                "not supported: ingestion_time() here; kqlflow takes ingestion_time() as the record's TimeGenerated, and the rows here no longer carry the scanned table's TimeGenerated unchanged",
            ));
        };
        let note = INGESTION_TIME_NOTE.to_string();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
        Ok((ScalarExpr::Column(t), Type::DateTime))
    }
}
