//! Tabular expressions: the query's root and pipes, tables (built-in, custom, called with
//! arguments), `print`, `externaldata`.

use super::*;

impl Binder<'_> {
    pub(super) fn bind_root(&mut self, body: &Expr) -> Result<Plan> {
        match &body.kind {
            ExprKind::Pipe { source, operators } => self.bind_pipe(source, operators),
            ExprKind::Paren(i) => self.bind_root(i),
            _ => {
                if !self.is_tabular_syntax(body) && !matches!(&body.kind, ExprKind::Call { .. }) {
                    let (_, _) = self.bind_scalar(body, &Scope::default())?;
                    return Err(BindError::new(
                        body.span,
                        "the query's result is a scalar; a tabular expression is needed (use `print`)",
                    ));
                }
                self.bind_tabular(body)
            }
        }
    }

    pub(super) fn bind_pipe(&mut self, source: &Expr, ops: &[Operator]) -> Result<Plan> {
        let saved_open = std::mem::take(&mut self.open_names);
        let open_source = match &strip_paren(source).kind {
            ExprKind::Call { name, .. } => name.name == "_GetWatchlist",
            ExprKind::Name(id) => {
                id.name.ends_with("_CL")
                    && self.lookup(&id.name).is_none()
                    && self.catalog.table(&id.name).is_none()
            }
            _ => false,
        };
        let saved_open_types = std::mem::take(&mut self.open_types);
        if open_source {
            self.open_names = self.names_in_ops(ops);
            self.open_types = self.time_and_assigned_names(ops);
        }
        let mut p = self.bind_tabular(source);
        self.open_names = saved_open;
        self.open_types = saved_open_types;
        for (i, op) in ops.iter().enumerate() {
            if is_plugin(op, "bag_unpack") || is_plugin(op, "pivot") {
                self.unpack_read = Some(self.names_read_after(&ops[i + 1..]));
            }
            p = self.bind_op(p?, op);
            self.unpack_read = None;
            if let Ok(plan) = &p
                && plan_height(plan) > MAX_PLAN_HEIGHT
            {
                return Err(BindError::new(
                    op.span,
                    format!(
                        "the query is too deep here: its plan is more than {MAX_PLAN_HEIGHT} operators deep, kqlflow's limit (merge consecutive `where`s and `extend`s into one)"
                    ),
                ));
            }
        }
        p
    }

    pub(super) fn names_in_ops(&self, ops: &[Operator]) -> Vec<String> {
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return Vec::new();
        };
        let text = Span::new(first.span.start, last.span.end).text(self.src);
        let Ok(tokens) = kql::tokenize(text) else {
            return Vec::new();
        };
        const KEYWORDS: &[&str] = &[
            "and",
            "or",
            "not",
            "by",
            "on",
            "kind",
            "true",
            "false",
            "typeof",
            "asc",
            "desc",
            "with",
            "to",
            "in",
            "has",
            "contains",
            "between",
            "matches",
            "regex",
            "nulls",
            "first",
            "last",
            "dynamic",
            "datetime",
            "timespan",
            "project",
            "extend",
            "where",
            "summarize",
            "distinct",
            "take",
            "limit",
            "sort",
            "order",
            "top",
            "join",
            "union",
            "isfuzzy",
            "count",
            "let",
        ];
        let mut out: Vec<String> = Vec::new();
        for t in tokens {
            if t.kind != kql::TokenKind::Word {
                continue;
            }
            let w = t.span.text(text);
            if w.starts_with(['$', '!'])
                || w.contains('~')
                || w.contains('-')
                || KEYWORDS.contains(&w)
                || BINDER_FUNCTIONS.contains(&w)
                || scalar_fn(w).is_some()
                || aggregate_fn(w).is_some()
                || self.lookup(w).is_some()
                || BinaryOp::from_word(w).is_some()
                || out.iter().any(|o| o == w)
            {
                continue;
            }
            out.push(w.to_string());
        }
        out
    }

    /// Of the names in `ops`, those used as times (compared with `ago(…)`, `now()`, a
    /// `datetime(…)` or `startofday(…)`, or binned by a timespan), and those first seen assigned
    /// (`N = …`): how an open custom table types its columns and which it leaves out.
    pub(super) fn time_and_assigned_names(&self, ops: &[Operator]) -> (Vec<String>, Vec<String>) {
        use kql::TokenKind as K;
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return (Vec::new(), Vec::new());
        };
        let text = Span::new(first.span.start, last.span.end).text(self.src);
        let Ok(tokens) = kql::tokenize(text) else {
            return (Vec::new(), Vec::new());
        };
        const TIME_FNS: &[&str] = &[
            "ago",
            "now",
            "startofday",
            "startofweek",
            "startofmonth",
            "startofyear",
            "endofday",
            "todatetime",
            "datetime_add",
        ];
        let word = |i: usize| {
            tokens
                .get(i)
                .filter(|t| t.kind == K::Word)
                .map(|t| t.span.text(text))
        };
        let is_time_at = |i: usize| match tokens.get(i).map(|t| &t.kind) {
            Some(K::DateTime(_)) => true,
            Some(K::LParen) => {
                matches!(tokens.get(i + 1).map(|t| &t.kind), Some(K::DateTime(_)))
                    || word(i + 1).is_some_and(|w| TIME_FNS.contains(&w))
            }
            _ => word(i).is_some_and(|w| TIME_FNS.contains(&w)),
        };
        let (mut times, mut assigned, mut read) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..tokens.len() {
            let Some(w) = word(i) else { continue };
            let next = tokens.get(i + 1).map(|t| &t.kind);
            let compared = matches!(next, Some(K::Gt | K::Ge | K::Lt | K::Le | K::EqEq))
                || word(i + 1).is_some_and(|b| b == "between" || b == "!between");
            let binned = i >= 2
                && word(i - 2) == Some("bin")
                && matches!(tokens.get(i - 1).map(|t| &t.kind), Some(K::LParen))
                && matches!(tokens.get(i + 2).map(|t| &t.kind), Some(K::TimeSpan(_)));
            if (compared && is_time_at(i + 2)) || binned {
                times.push(w.to_string());
            }
            // A name first seen assigned (`N = …`) is the query's own, not the table's,
            // unless its own value reads it (`extend N = tolower(N)`).
            let seen = assigned.iter().chain(&read).any(|x: &String| x == w);
            let reads_itself = || {
                let mut depth = 0i32;
                for (j, t) in tokens.iter().enumerate().skip(i + 2) {
                    match t.kind {
                        K::LParen | K::LBracket => depth += 1,
                        K::RParen | K::RBracket => depth -= 1,
                        K::Comma | K::Pipe | K::Semi if depth <= 0 => break,
                        K::Word if word(j) == Some(w) => return true,
                        _ => {}
                    }
                    if depth < 0 {
                        break;
                    }
                }
                false
            };
            if !seen {
                if next == Some(&K::Assign) && !reads_itself() {
                    assigned.push(w.to_string());
                } else {
                    read.push(w.to_string());
                }
            }
        }
        (times, assigned)
    }

    pub(super) fn bind_tabular(&mut self, e: &Expr) -> Result<Plan> {
        match &e.kind {
            ExprKind::Paren(i) => self.bind_tabular(i),
            ExprKind::Name(id) => self.table_named(id),
            ExprKind::Pipe { source, operators } => self.bind_pipe(source, operators),
            ExprKind::Union(u) => self.bind_union(None, u, e.span),
            ExprKind::Print(items) => self.bind_print(items),
            ExprKind::Datatable { columns, values } => {
                let mut rows = Vec::new();
                if columns.is_empty() || values.len() % columns.len() != 0 {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "datatable has {} values for {} columns",
                            values.len(),
                            columns.len()
                        ),
                    ));
                }
                for chunk in values.chunks(columns.len()) {
                    let mut row = Vec::new();
                    for (v, c) in chunk.iter().zip(columns) {
                        let (x, _) = self.bind_scalar(v, &Scope::default())?;
                        match fold(&x) {
                            Some(Folded::Const(val)) => row.push(cast(&val, c.ty)),
                            _ => {
                                return Err(BindError::new(
                                    v.span,
                                    "a datatable value must be a constant",
                                ));
                            }
                        }
                    }
                    rows.push(row);
                }
                Ok(Plan {
                    node: Node::Constant { rows },
                    schema: columns
                        .iter()
                        .map(|c| Column {
                            name: Str::from(c.name.name.as_str()),
                            ty: c.ty,
                        })
                        .collect(),
                    event_time: None,
                })
            }
            ExprKind::ExternalData {
                columns,
                uris,
                properties,
            } => self.bind_externaldata(e, columns, uris, properties),
            ExprKind::Range { .. } => Err(BindError::new(e.span, "not supported yet: range")),
            ExprKind::Call { name, args } => self.bind_table_call(name, args, e),
            _ => Err(BindError::new(
                e.span,
                "expected a tabular expression (a table, a `let` name bound to a table, or a pipeline)",
            )),
        }
    }

    pub(super) fn bind_table_call(
        &mut self,
        name: &Ident,
        args: &[Expr],
        e: &Expr,
    ) -> Result<Plan> {
        match name.name.as_str() {
            "materialize" => {
                let [arg] = args else {
                    return Err(BindError::new(e.span, "materialize() takes one table"));
                };
                let p = self.bind_tabular(arg)?;
                Ok(self.share(p))
            }
            "_GetWatchlist" => {
                let name = match args.first().map(|a| self.bind_scalar(a, &Scope::default())) {
                    Some(Ok((x, _))) => match fold(&x) {
                        Some(Folded::Const(Value::String(s))) => s.to_string(),
                        _ => String::new(),
                    },
                    Some(Err(err)) => return Err(err),
                    None => String::new(),
                };
                if name.is_empty() || args.len() != 1 {
                    return Err(BindError::new(
                        e.span,
                        "_GetWatchlist takes the watchlist's name as a constant string",
                    ));
                }
                let mut cols: Vec<String> = match self.opts.watchlists.get(&name) {
                    Some(c) => c.clone(),
                    None => {
                        let note = format!(
                            "watchlist '{name}' has no file (give --watchlist {name}=FILE.csv): the columns the query uses are taken as strings ({})",
                            self.open_names.join(", ")
                        );
                        if !self.notes.contains(&note) {
                            self.notes.push(note);
                        }
                        self.open_names.clone()
                    }
                };
                for standard in ["SearchKey", "_ItemId"] {
                    if !cols.iter().any(|c| c == standard) {
                        cols.push(standard.to_string());
                    }
                }
                Ok(Plan {
                    node: Node::Watchlist { name },
                    schema: cols
                        .iter()
                        .map(|c| Column {
                            name: Str::from(c.as_str()),
                            ty: Type::String,
                        })
                        .collect(),
                    event_time: None,
                })
            }
            "table" => {
                let t = match args.first().map(|a| self.bind_scalar(a, &Scope::default())) {
                    Some(Ok((x, _))) => match fold(&x) {
                        Some(Folded::Const(Value::String(s))) => s.to_string(),
                        _ => String::new(),
                    },
                    Some(Err(err)) => return Err(err),
                    None => String::new(),
                };
                if t.is_empty() {
                    return Err(BindError::new(
                        e.span,
                        "table() takes the table's name as a constant string",
                    ));
                }
                self.table_named(&Ident {
                    name: t,
                    span: e.span,
                })
            }
            "externaldata" => Err(BindError::new(
                e.span,
                "not supported yet: externaldata (kqlflow reads no external storage)",
            )),
            other => {
                if let Some(Binding::Function(def, env_len)) = self.lookup(other).cloned() {
                    return match self.call_function(
                        &def,
                        env_len,
                        args,
                        None,
                        e.span,
                        &Scope::default(),
                    )? {
                        Bound::Table(p) => Ok(p),
                        Bound::Scalar(..) => Err(BindError::new(
                            e.span,
                            format!("the function '{other}' returns a scalar, not a table"),
                        )),
                    };
                }
                Err(BindError::new(
                    name.span,
                    format!("not supported yet: the tabular function '{other}'"),
                ))
            }
        }
    }

    pub(super) fn table_named(&mut self, id: &Ident) -> Result<Plan> {
        match self.lookup(&id.name) {
            Some(Binding::Tabular(p)) => return Ok(p.clone()),
            Some(Binding::Scalar(..)) => {
                return Err(BindError::new(
                    id.span,
                    format!("'{}' is a scalar, not a table", id.name),
                ));
            }
            Some(Binding::Function(def, env_len)) => {
                // A function of no parameters (or only defaulted ones) may be called without
                // `()`, as Kusto allows: `let T = () { … }; T | …`.
                let (def, env_len) = (def.clone(), *env_len);
                if def.params.iter().all(|p| p.default.is_some()) {
                    return match self.call_function(
                        &def,
                        env_len,
                        &[],
                        None,
                        id.span,
                        &Scope::default(),
                    )? {
                        Bound::Table(p) => Ok(p),
                        Bound::Scalar(..) => Err(BindError::new(
                            id.span,
                            format!("'{}' is a scalar function, not a table", id.name),
                        )),
                    };
                }
                return Err(BindError::new(
                    id.span,
                    format!(
                        "'{}' is a function of {} parameter(s): call it with its arguments",
                        id.name,
                        def.params.len()
                    ),
                ));
            }
            None => {}
        }
        if let Some(t) = self.catalog.table(&id.name) {
            if !self.opts.logs.is_empty() && !Catalog::is_base_table(&id.name) {
                // A custom table added from logs earlier in this process: taken again from
                // these logs (they may hold more columns).
                return self.open_custom_table(id);
            }
            return Ok(Plan {
                node: Node::Scan {
                    table: t.name.to_string(),
                    columns: (0..t.schema.len()).collect(),
                },
                schema: t.schema.columns().to_vec(),
                event_time: Some(t.time_column),
            });
        }
        if id.name.ends_with("_CL") {
            return self.open_custom_table(id);
        }
        let mut near = self.catalog.closest(&id.name, 3);
        for (n, b) in &self.env {
            if matches!(b, Binding::Tabular(_))
                && crate::model::Schema::new(vec![Column {
                    name: Str::from(n.as_str()),
                    ty: Type::String,
                }])
                .closest(&id.name, 1)
                .len()
                    == 1
            {
                near.push(Str::from(n.as_str()));
            }
        }
        Err(BindError::new(
            id.span,
            format!(
                "unknown table '{}' (kqlflow has no schema for it){}",
                id.name,
                did_you_mean(&near)
            ),
        ))
    }

    /// A custom (`_CL`) table with no schema. `check` and `explain` bind it with the standard
    /// columns and the names the rest of the pipeline reads, typed by the suffix Log Analytics
    /// gives custom fields (`_s` string, `_d` real, `_b` bool, `_t` datetime, `_g` guid as
    /// string), as datetime when compared with a time (`EventTime > ago(1d)`), others as
    /// string, with a note; the commands that run queries refuse it, since nothing would read
    /// its records.
    ///
    /// When the query runs over logs ([`BindOptions::logs`]), the table's columns are taken
    /// from its records there instead, the table added to the process's catalog so that they
    /// are read like any table's, with a note.
    pub(super) fn open_custom_table(&mut self, id: &Ident) -> Result<Plan> {
        if !self.opts.logs.is_empty() {
            if let Some((table, records)) =
                crate::ingest::custom_table_from_logs(&id.name, &self.opts.logs)
            {
                let table = Catalog::add_custom_table(table);
                let cols: Vec<String> = table
                    .schema
                    .columns()
                    .iter()
                    .filter(|c| {
                        !crate::catalog::STANDARD_COLUMNS
                            .iter()
                            .any(|(s, _)| *s == &*c.name)
                    })
                    .map(|c| format!("{}:{}", c.name, c.ty.name()))
                    .collect();
                let note = format!(
                    "custom table '{}' has no schema in kqlflow: its columns were taken from the logs given ({records} record(s)), typed by their suffix (_s string, _d real, _b bool, _t datetime, _g string) or their values: {}",
                    id.name,
                    if cols.is_empty() {
                        "only the standard columns".to_string()
                    } else {
                        cols.join(", ")
                    }
                );
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                return Ok(Plan {
                    node: Node::Scan {
                        table: table.name.to_string(),
                        columns: (0..table.schema.len()).collect(),
                    },
                    schema: table.schema.columns().to_vec(),
                    event_time: Some(table.time_column),
                });
            }
            if !self.opts.open_custom_tables {
                return Err(BindError::new(
                    id.span,
                    format!(
                        "custom table '{0}' has no schema in kqlflow and the logs given hold none of its records (a file named {0}.json, .jsonl or .csv, or JSON records with \"Type\": \"{0}\") to take its columns from",
                        id.name
                    ),
                ));
            }
        }
        if !self.opts.open_custom_tables {
            return Err(BindError::new(
                id.span,
                format!(
                    "custom table '{}' has no schema in kqlflow: `kqlflow check` binds it with the columns the query uses; to run it, give logs holding its records (its columns are taken from them)",
                    id.name
                ),
            ));
        }
        let mut columns: Vec<Column> = Vec::new();
        for n in &self.open_names {
            if self.lookup(n).is_some()
                || crate::catalog::STANDARD_COLUMNS.iter().any(|(c, _)| c == n)
                || columns.iter().any(|c| &*c.name == n.as_str())
                || self.open_types.1.contains(n)
            {
                continue;
            }
            let ty = match n.rsplit_once('_').map(|(_, suffix)| suffix) {
                Some("d") => Type::Real,
                Some("b") => Type::Bool,
                Some("t") => Type::DateTime,
                _ if self.open_types.0.contains(n) => Type::DateTime,
                _ => Type::String,
            };
            columns.push(Column {
                name: Str::from(n.as_str()),
                ty,
            });
        }
        let table = crate::catalog::table_from_columns(&id.name, columns)
            .map_err(|e| BindError::new(id.span, e.to_string()))?;
        let used: Vec<&str> = table
            .schema
            .columns()
            .iter()
            .map(|c| &*c.name)
            .filter(|n| !crate::catalog::STANDARD_COLUMNS.iter().any(|(s, _)| s == n))
            .collect();
        let note = format!(
            "custom table '{}' has no schema in kqlflow: bound with the standard columns and the names the query reads, typed by their suffix (_s string, _d real, _b bool, _t datetime) or as datetime when compared with a time, others string: {}",
            id.name,
            if used.is_empty() {
                "none".to_string()
            } else {
                used.join(", ")
            }
        );
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
        Ok(Plan {
            node: Node::Scan {
                table: table.name.to_string(),
                columns: (0..table.schema.len()).collect(),
            },
            schema: table.schema.columns().to_vec(),
            event_time: Some(table.time_column),
        })
    }

    pub(super) fn bind_print(&mut self, items: &[NamedExpr]) -> Result<Plan> {
        let mut row = Vec::new();
        let mut schema: Vec<Column> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let (x, ty) = self.bind_scalar(&it.expr, &Scope::default())?;
            let v = match fold(&x) {
                Some(Folded::Const(v)) => v,
                _ => {
                    return Err(BindError::new(
                        it.expr.span,
                        "print needs constant values here",
                    ));
                }
            };
            let name = it
                .names
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| format!("print_{i}"));
            schema.push(Column {
                name: Str::from(name.as_str()),
                ty,
            });
            row.push(v);
        }
        Ok(Plan {
            node: Node::Constant { rows: vec![row] },
            schema,
            event_time: None,
        })
    }

    /// `externaldata(cols) [uri] with (format=…)`: the rows of the local file mapped to the URL
    /// (see [`crate::plan::external`]), as constant rows like `datatable`'s.
    pub(super) fn bind_externaldata(
        &mut self,
        e: &Expr,
        columns: &[kql::ColumnDecl],
        uris: &[Expr],
        properties: &[kql::Property],
    ) -> Result<Plan> {
        use crate::plan::external::{ExternalFormat, read_external};
        let mut urls = Vec::new();
        for u in uris {
            match fold(&self.bind_scalar(u, &Scope::default())?.0) {
                Some(Folded::Const(Value::String(s))) => urls.push(s.to_string()),
                _ => {
                    return Err(BindError::new(
                        u.span,
                        "an externaldata URL must be a constant string",
                    ));
                }
            }
        }
        let prop = |name: &str| -> Option<String> {
            properties
                .iter()
                .find(|p| p.name.name.eq_ignore_ascii_case(name))
                .map(|p| match &p.value.kind {
                    ExprKind::Literal(l) => crate::func::ops::text_of(&l.value).into_owned(),
                    ExprKind::Name(id) => id.name.clone(),
                    _ => p.value.span.text(self.src).to_string(),
                })
        };
        let format_name = prop("format").unwrap_or_else(|| "csv".to_string());
        let Some(format) = ExternalFormat::parse(&format_name) else {
            return Err(BindError::new(
                e.span,
                format!("not supported yet: externaldata format '{format_name}'"),
            ));
        };
        let skip_first = prop("ignoreFirstRecord").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let cols: Vec<(String, Type)> = columns
            .iter()
            .map(|c| (c.name.name.clone(), c.ty))
            .collect();
        let mut rows = Vec::new();
        for url in &urls {
            match self.opts.externaldata.get(url) {
                Some(path) => rows.extend(
                    read_external(path, &cols, format, skip_first)
                        .map_err(|err| BindError::new(e.span, format!("externaldata: {err}")))?,
                ),
                None if self.opts.externaldata_optional => {
                    let note = format!(
                        "externaldata {url} has no file (give --externaldata {url}=FILE): read as no rows"
                    );
                    if !self.notes.contains(&note) {
                        self.notes.push(note);
                    }
                }
                None => {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "externaldata {url}: kqlflow reads no external storage; map the URL to a local file with --externaldata {url}=FILE"
                        ),
                    ));
                }
            }
        }
        Ok(Plan {
            node: Node::Constant { rows },
            schema: cols
                .into_iter()
                .map(|(name, ty)| Column {
                    name: Str::from(name.as_str()),
                    ty,
                })
                .collect(),
            event_time: None,
        })
    }
}

/// True when `op` is `evaluate plugin(…)`.
pub(super) fn is_plugin(op: &Operator, plugin: &str) -> bool {
    matches!(&op.kind, OperatorKind::Evaluate { call, .. }
        if matches!(&call.kind, ExprKind::Call { name, .. } if name.name == plugin))
}
