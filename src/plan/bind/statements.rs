//! Lets, user-defined functions and the names a query binds: `let` statements, calls of
//! functions the query defines, and the binder's shared subplans.

use super::*;

impl Binder<'_> {
    pub(super) fn bind_lets<'q>(&mut self, stmts: &'q [Statement]) -> Result<Option<&'q Expr>> {
        let mut body = None;
        for s in stmts {
            match s {
                Statement::Let(l) => {
                    let binding = match &l.value {
                        kql::LetValue::Function(def) => {
                            Binding::Function(Rc::new(def.clone()), self.env.len())
                        }
                        kql::LetValue::Expr(e) => match self.bind_any(e, &Scope::default())? {
                            Bound::Table(p) => Binding::Tabular(self.share(p)),
                            Bound::Scalar(x, ty) => self.scalar_let(x, ty, e)?,
                        },
                    };
                    self.env.push((l.name.name.clone(), binding));
                }
                Statement::Expr(e) => body = Some(e),
            }
        }
        Ok(body)
    }

    pub(super) fn scalar_let(&mut self, x: ScalarExpr, ty: Type, e: &Expr) -> Result<Binding> {
        match fold(&x) {
            Some(Folded::Const(v)) => Ok(Binding::Scalar(ScalarExpr::Literal(v), ty)),
            Some(Folded::NowPlus(t)) => Ok(Binding::Scalar(now_plus(t), Type::DateTime)),
            // A time that moves by whole days (`startofday(now())`): its uses are checked
            // where they are (a where's time bound, or refused).
            None if now_bound(&x).is_some() => Ok(Binding::Scalar(x, Type::DateTime)),
            None if x.uses_now() => Err(BindError::new(
                self.now_span(e).unwrap_or(e.span),
                NOW_MESSAGE,
            )),
            None => Ok(Binding::Scalar(x, ty)),
        }
    }

    pub(super) fn share(&mut self, p: Plan) -> Plan {
        if matches!(p.node, Node::Shared(_)) {
            return p;
        }
        let schema = p.schema.clone();
        let event_time = p.event_time;
        self.shared.push(p);
        Plan {
            node: Node::Shared(self.shared.len() - 1),
            schema,
            event_time,
        }
    }

    pub(super) fn lookup(&self, name: &str) -> Option<&Binding> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
    }

    pub(super) fn is_tabular_syntax(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Paren(i) => self.is_tabular_syntax(i),
            ExprKind::Pipe { .. }
            | ExprKind::Union(_)
            | ExprKind::Print(_)
            | ExprKind::Datatable { .. }
            | ExprKind::ExternalData { .. }
            | ExprKind::Range { .. } => true,
            ExprKind::Name(id) => match self.lookup(&id.name) {
                Some(Binding::Tabular(_)) => true,
                Some(_) => false,
                None => self.catalog.table(&id.name).is_some(),
            },
            ExprKind::Call { name, .. } => matches!(
                name.name.as_str(),
                "materialize" | "_GetWatchlist" | "table" | "externaldata"
            ),
            _ => false,
        }
    }

    pub(super) fn bind_any(&mut self, e: &Expr, scope: &Scope) -> Result<Bound> {
        if self.is_tabular_syntax(e) {
            return Ok(Bound::Table(self.bind_tabular(e)?));
        }
        if let ExprKind::Call { name, args } = &strip_paren(e).kind
            && let Some(Binding::Function(def, env_len)) = self.lookup(&name.name).cloned()
        {
            return self.call_function(&def, env_len, args, None, e.span, scope);
        }
        let (x, ty) = self.bind_scalar(e, scope)?;
        Ok(Bound::Scalar(x, ty))
    }

    pub(super) fn call_function(
        &mut self,
        def: &FunctionDef,
        env_len: usize,
        args: &[Expr],
        input: Option<Plan>,
        span: Span,
        scope: &Scope,
    ) -> Result<Bound> {
        if self.depth > 32 {
            return Err(BindError::new(
                span,
                "user functions nest too deeply (is a function calling itself?)",
            ));
        }
        let given = args.len() + usize::from(input.is_some());
        if given > def.params.len() {
            return Err(BindError::new(
                span,
                format!(
                    "the function takes {} argument(s), {} given",
                    def.params.len(),
                    given
                ),
            ));
        }
        // Named arguments (`f(x, window = 2d)`) go to their parameters, the others in order.
        let mut named: Vec<(&Ident, &Expr)> = Vec::new();
        let mut positional: Vec<&Expr> = Vec::new();
        for a in args {
            match &a.kind {
                ExprKind::NamedArg { name, value } => {
                    if !def.params.iter().any(|p| p.name.name == name.name) {
                        return Err(BindError::new(
                            name.span,
                            format!("the function has no parameter '{}'", name.name),
                        ));
                    }
                    named.push((name, value));
                }
                _ => positional.push(a),
            }
        }
        let mut bindings = Vec::new();
        let mut args_iter = positional.into_iter();
        let mut input = input;
        for (i, p) in def.params.iter().enumerate() {
            let by_name = named
                .iter()
                .find(|(n, _)| n.name == p.name.name)
                .map(|(_, v)| *v);
            let binding = match &p.ty {
                ParamType::Tabular { columns, .. } => {
                    let (plan, at) = match (i, input.take()) {
                        (0, Some(plan)) => (plan, span),
                        (_, _) => match by_name.or_else(|| args_iter.next()) {
                            Some(a) => (self.bind_tabular(a)?, a.span),
                            None => {
                                return Err(BindError::new(
                                    span,
                                    format!("missing the table argument '{}'", p.name.name),
                                ));
                            }
                        },
                    };
                    for c in columns {
                        if plan.index_of(&c.name.name).is_none() {
                            return Err(BindError::new(
                                at,
                                format!(
                                    "the table passed as '{}' has no column '{}' that the function needs",
                                    p.name.name, c.name.name
                                ),
                            ));
                        }
                    }
                    Binding::Tabular(plan)
                }
                ParamType::Scalar(ty) => {
                    let arg = by_name.or_else(|| args_iter.next());
                    match (arg, &p.default) {
                        (Some(a), _) => {
                            let (x, _) = self.bind_scalar(a, scope)?;
                            Binding::Scalar(folded_expr(x), *ty)
                        }
                        (None, Some(d)) => {
                            let (x, _) = self.bind_scalar(d, &Scope::default())?;
                            Binding::Scalar(folded_expr(x), *ty)
                        }
                        (None, None) => {
                            return Err(BindError::new(
                                span,
                                format!("missing the argument '{}'", p.name.name),
                            ));
                        }
                    }
                }
            };
            bindings.push((p.name.name.clone(), binding));
        }
        let prefix = self.env[..env_len.min(self.env.len())].to_vec();
        let saved = std::mem::replace(&mut self.env, prefix);
        self.env.extend(bindings);
        self.depth += 1;
        let result = (|| {
            let body = self.bind_lets(&def.body)?;
            match body {
                Some(b) => self.bind_any(b, scope),
                None => Err(BindError::new(
                    def.span,
                    "the function has no result expression",
                )),
            }
        })();
        self.depth -= 1;
        self.env = saved;
        result
    }
}
