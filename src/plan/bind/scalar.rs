//! Scalar expressions: columns, literals, operators with Kusto's result types, template
//! times.

use super::*;

fn map_binop(op: BinaryOp) -> Option<(BinOp, bool)> {
    use BinaryOp as A;
    Some(match op {
        A::Add => (BinOp::Add, false),
        A::Sub => (BinOp::Sub, false),
        A::Mul => (BinOp::Mul, false),
        A::Div => (BinOp::Div, false),
        A::Mod => (BinOp::Mod, false),
        A::Eq => (BinOp::Eq, false),
        A::NotEq => (BinOp::Ne, false),
        A::Lt => (BinOp::Lt, false),
        A::Le => (BinOp::Le, false),
        A::Gt => (BinOp::Gt, false),
        A::Ge => (BinOp::Ge, false),
        A::EqCi => (BinOp::EqTilde, false),
        A::NotEqCi => (BinOp::NeTilde, false),
        A::Has => (BinOp::Has, false),
        A::NotHas => (BinOp::NotHas, false),
        A::HasCs => (BinOp::HasCs, false),
        A::NotHasCs => (BinOp::NotHasCs, false),
        A::HasPrefix => (BinOp::HasPrefix, false),
        A::NotHasPrefix => (BinOp::NotHasPrefix, false),
        A::HasSuffix => (BinOp::HasSuffix, false),
        A::NotHasSuffix => (BinOp::NotHasSuffix, false),
        A::Contains => (BinOp::Contains, false),
        A::NotContains => (BinOp::NotContains, false),
        A::ContainsCs => (BinOp::ContainsCs, false),
        A::NotContainsCs => (BinOp::NotContainsCs, false),
        A::StartsWith => (BinOp::StartsWith, false),
        A::NotStartsWith => (BinOp::NotStartsWith, false),
        A::StartsWithCs => (BinOp::StartsWithCs, false),
        A::NotStartsWithCs => (BinOp::StartsWithCs, true),
        A::EndsWith => (BinOp::EndsWith, false),
        A::NotEndsWith => (BinOp::NotEndsWith, false),
        A::EndsWithCs => (BinOp::EndsWithCs, false),
        A::NotEndsWithCs => (BinOp::EndsWithCs, true),
        A::MatchesRegex => (BinOp::MatchesRegex, false),
        _ => return None,
    })
}

fn arith_type(op: BinOp, a: Type, b: Type) -> Type {
    use Type as T;
    if a == T::Dynamic || b == T::Dynamic {
        return T::Dynamic;
    }
    match op {
        BinOp::Add => match (a, b) {
            (T::DateTime, T::TimeSpan) | (T::TimeSpan, T::DateTime) => T::DateTime,
            (T::TimeSpan, T::TimeSpan) => T::TimeSpan,
            _ => num_type(a, b),
        },
        BinOp::Sub => match (a, b) {
            (T::DateTime, T::DateTime) => T::TimeSpan,
            (T::DateTime, T::TimeSpan) => T::DateTime,
            (T::TimeSpan, T::TimeSpan) => T::TimeSpan,
            _ => num_type(a, b),
        },
        BinOp::Mul => match (a, b) {
            (T::TimeSpan, _) | (_, T::TimeSpan) => T::TimeSpan,
            _ => num_type(a, b),
        },
        BinOp::Div => match (a, b) {
            (T::TimeSpan, T::TimeSpan) => T::Real,
            (T::TimeSpan, _) => T::TimeSpan,
            _ => num_type(a, b),
        },
        _ => num_type(a, b),
    }
}

fn num_type(a: Type, b: Type) -> Type {
    match (a, b) {
        (Type::Real, _) | (_, Type::Real) => Type::Real,
        (Type::Int, Type::Int) => Type::Int,
        _ => Type::Long,
    }
}

impl Binder<'_> {
    /// Binds a per-row expression: now() is refused.
    pub(super) fn bind_row_expr(&mut self, e: &Expr, scope: &Scope) -> Result<(ScalarExpr, Type)> {
        let (x, ty) = self.bind_scalar(e, scope)?;
        if x.uses_now() {
            return Err(BindError::new(
                self.now_span(e).unwrap_or(e.span),
                NOW_MESSAGE,
            ));
        }
        Ok((x, ty))
    }

    pub(super) fn unknown_column(&self, id: &Ident, scope: &Scope) -> BindError {
        if scope.cols.is_empty() {
            return BindError::new(id.span, format!("unknown name '{}'", id.name));
        }
        BindError::new(
            id.span,
            format!(
                "unknown column '{}'{}",
                id.name,
                did_you_mean(&scope.closest(&id.name))
            ),
        )
    }

    pub(super) fn template_time(&self, s: &str) -> Option<ScalarExpr> {
        let period = self.opts.query_period.unwrap_or(TICKS_PER_DAY);
        match s {
            "{{StartTimeISO}}" => Some(now_plus(-period)),
            "{{EndTimeISO}}" => Some(ScalarExpr::Now),
            _ => None,
        }
    }

    pub(super) fn bind_scalar(&mut self, e: &Expr, scope: &Scope) -> Result<(ScalarExpr, Type)> {
        match &e.kind {
            ExprKind::Literal(l) => {
                if let Value::String(s) = &l.value
                    && let Some(x) = self.template_time(s)
                {
                    return Ok((x, Type::DateTime));
                }
                Ok((ScalarExpr::Literal(l.value.clone()), l.ty))
            }
            ExprKind::Name(id) => {
                if let Some((_, ty, x)) = scope.get(&id.name) {
                    return Ok((x.clone(), *ty));
                }
                match self.lookup(&id.name) {
                    Some(Binding::Scalar(x, ty)) => Ok((x.clone(), *ty)),
                    Some(Binding::Tabular(_)) => Err(BindError::new(
                        id.span,
                        format!(
                            "'{}' is a table where a scalar is expected (use toscalar())",
                            id.name
                        ),
                    )),
                    Some(Binding::Function(def, env_len))
                        if def.params.iter().all(|p| p.default.is_some()) =>
                    {
                        // A function of no parameters called without `()`.
                        let (def, env_len) = (def.clone(), *env_len);
                        match self.call_function(&def, env_len, &[], None, id.span, scope)? {
                            Bound::Scalar(x, ty) => Ok((x, ty)),
                            Bound::Table(_) => Err(BindError::new(
                                id.span,
                                format!(
                                    "the function '{}' returns a table where a scalar is expected",
                                    id.name
                                ),
                            )),
                        }
                    }
                    Some(Binding::Function(..)) => Err(BindError::new(
                        id.span,
                        format!("'{}' is a function: call it with its arguments", id.name),
                    )),
                    None => Err(self.unknown_column(id, scope)),
                }
            }
            ExprKind::Paren(i) => self.bind_scalar(i, scope),
            ExprKind::Unary { op, operand } => {
                let (x, ty) = self.bind_scalar(operand, scope)?;
                Ok(match op {
                    UnaryOp::Plus => (x, ty),
                    UnaryOp::Neg => (ScalarExpr::Neg(Box::new(x)), ty),
                    UnaryOp::Not => (ScalarExpr::Not(Box::new(x)), Type::Bool),
                })
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let Some((bop, negate)) = map_binop(*op) else {
                    return Err(BindError::new(
                        e.span,
                        format!("not supported yet: the operator {}", op.as_str()),
                    ));
                };
                let (a, ta) = self.bind_scalar(lhs, scope)?;
                let (b, tb) = self.bind_scalar(rhs, scope)?;
                if bop == BinOp::MatchesRegex
                    && let Some(Folded::Const(Value::String(pat))) = fold(&b)
                    && let Some(err) = crate::func::regex_error(&pat)
                {
                    return Err(BindError::new(
                        rhs.span,
                        format!("invalid regular expression: {err}"),
                    ));
                }
                let ty = if bop.is_predicate() {
                    Type::Bool
                } else {
                    arith_type(bop, ta, tb)
                };
                let x = ScalarExpr::Binary(bop, Box::new(a), Box::new(b));
                Ok((
                    if negate {
                        ScalarExpr::Not(Box::new(x))
                    } else {
                        x
                    },
                    ty,
                ))
            }
            ExprKind::Logical { op, operands } => {
                let mut xs = Vec::new();
                for o in operands {
                    xs.push(self.bind_scalar(o, scope)?.0);
                }
                Ok((
                    match op {
                        LogicalOp::And => ScalarExpr::And(xs),
                        LogicalOp::Or => ScalarExpr::Or(xs),
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let (x, xt) = self.bind_scalar(expr, scope)?;
                let (lo, lt) = self.bind_scalar(low, scope)?;
                let (hi, ht) = self.bind_scalar(high, scope)?;
                // `t between (start .. 3d)`: with a datetime and a timespan the range is
                // `start .. start + 3d`, as Kusto documents.
                let hi = if xt == Type::DateTime && lt == Type::DateTime && ht == Type::TimeSpan {
                    ScalarExpr::Binary(BinOp::Add, Box::new(lo.clone()), Box::new(hi))
                } else {
                    hi
                };
                Ok((
                    ScalarExpr::Between {
                        expr: Box::new(x),
                        lo: Box::new(folded_expr(lo)),
                        hi: Box::new(folded_expr(hi)),
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::InList { expr, op, items } => {
                let (x, _) = self.bind_scalar(expr, scope)?;
                let mut list = Vec::new();
                for it in items {
                    if self.is_tabular_syntax(it) {
                        let p = self.bind_tabular(it)?;
                        list.push(self.column_as_array(p, it.span)?);
                    } else {
                        list.push(folded_expr(self.bind_scalar(it, scope)?.0));
                    }
                }
                let x = Box::new(x);
                Ok((
                    match op {
                        ListOp::In | ListOp::NotIn | ListOp::InCi | ListOp::NotInCi => {
                            ScalarExpr::In {
                                expr: x,
                                list,
                                negated: matches!(op, ListOp::NotIn | ListOp::NotInCi),
                                ignore_case: matches!(op, ListOp::InCi | ListOp::NotInCi),
                            }
                        }
                        ListOp::HasAny | ListOp::HasAll => ScalarExpr::HasAny {
                            expr: x,
                            list,
                            all: *op == ListOp::HasAll,
                        },
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Call { name, args } => self.bind_call(e, name, args, scope),
            ExprKind::Member { target, name } => {
                let (x, ty) = self.bind_scalar(target, scope)?;
                if ty != Type::Dynamic {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "'.{}' reads a property of a dynamic value, and {} is a {ty}",
                            name.name,
                            target.span.text(self.src)
                        ),
                    ));
                }
                Ok((
                    ScalarExpr::Member {
                        expr: Box::new(x),
                        key: name.name.clone(),
                    },
                    Type::Dynamic,
                ))
            }
            ExprKind::Index { target, index } => {
                let (x, ty) = self.bind_scalar(target, scope)?;
                if ty != Type::Dynamic {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "indexing needs a dynamic value, and {} is a {ty}",
                            target.span.text(self.src)
                        ),
                    ));
                }
                let (i, _) = self.bind_scalar(index, scope)?;
                let i = folded_expr(i);
                Ok((
                    match i {
                        ScalarExpr::Literal(Value::String(k)) => ScalarExpr::Member {
                            expr: Box::new(x),
                            key: k.to_string(),
                        },
                        other => ScalarExpr::Index {
                            expr: Box::new(x),
                            index: Box::new(other),
                        },
                    },
                    Type::Dynamic,
                ))
            }
            ExprKind::Star => Err(BindError::new(e.span, "`*` is not a value here")),
            ExprKind::TypeOf(_) => Err(BindError::new(e.span, "typeof(…) is not a value here")),
            ExprKind::NamedArg { name, .. } => Err(BindError::new(
                name.span,
                format!(
                    "a named argument (`{} = …`) is taken by user functions and plugins, not here",
                    name.name
                ),
            )),
            _ => Err(BindError::new(
                e.span,
                "a tabular expression where a scalar is expected (use toscalar())",
            )),
        }
    }

    /// A table's first column as one array value (a scalar sub-query), for `in (T)`.
    pub(super) fn column_as_array(&mut self, p: Plan, span: Span) -> Result<ScalarExpr> {
        if p.schema.is_empty() {
            return Err(BindError::new(span, "the table has no column"));
        }
        let reduce = Plan {
            node: Node::Reduce {
                input: Box::new(p),
                keys: Vec::new(),
                aggs: vec![AggCall {
                    spec: AggSpec::new(AggKind::MakeSet),
                    args: vec![ScalarExpr::Column(0)],
                }],
            },
            schema: vec![Column {
                name: Str::from("set"),
                ty: Type::Dynamic,
            }],
            event_time: None,
        };
        self.scalars.push(reduce);
        Ok(ScalarExpr::Scalar(self.scalars.len() - 1))
    }
}
