//! `where` and time: a filter's conjuncts, the temporal bounds (`TimeGenerated > ago(1h)`)
//! extracted from them, and where `now()` may appear.

use super::*;

pub(super) fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Paren(i) => conjuncts(i, out),
        ExprKind::Logical {
            op: LogicalOp::And,
            operands,
        } => operands.iter().for_each(|o| conjuncts(o, out)),
        _ => out.push(e),
    }
}

pub(super) fn bound_op(op: &BinOp) -> Option<BoundOp> {
    Some(match op {
        BinOp::Lt => BoundOp::Lt,
        BinOp::Le => BoundOp::Le,
        BinOp::Gt => BoundOp::Gt,
        BinOp::Ge => BoundOp::Ge,
        _ => return None,
    })
}

/// The temporal bounds a bound `where` conjunct expresses, when it compares a datetime column
/// of the input row (the event time, or another such as ThreatIntelIndicators' `ValidUntil`)
/// with `now()` plus a constant. `is_time` tells which columns are datetime columns.
pub(super) fn temporal_bounds(
    x: &ScalarExpr,
    is_time: &dyn Fn(usize) -> bool,
) -> Option<Vec<TemporalBound>> {
    let col = |e: &ScalarExpr| match e {
        ScalarExpr::Column(i) if is_time(*i) => Some(*i),
        _ => None,
    };
    let now = now_bound;
    match x {
        ScalarExpr::Binary(op, a, b) => {
            let op = bound_op(op)?;
            if let (Some(c), Some((t, align))) = (col(a), now(b)) {
                return Some(vec![TemporalBound {
                    column: c,
                    op,
                    offset_ticks: t,
                    align,
                }]);
            }
            if let (Some((t, align)), Some(c)) = (now(a), col(b)) {
                return Some(vec![TemporalBound {
                    column: c,
                    op: op.flip(),
                    offset_ticks: t,
                    align,
                }]);
            }
            None
        }
        ScalarExpr::Between {
            expr,
            lo,
            hi,
            negated: false,
        } => {
            let c = col(expr)?;
            let ((l, la), (h, ha)) = (now(lo)?, now(hi)?);
            Some(vec![
                TemporalBound {
                    column: c,
                    op: BoundOp::Ge,
                    offset_ticks: l,
                    align: la,
                },
                TemporalBound {
                    column: c,
                    op: BoundOp::Le,
                    offset_ticks: h,
                    align: ha,
                },
            ])
        }
        _ => None,
    }
}

/// `now() + t` as (t, 0), or a time that moves by whole days as (t, a day):
/// `startofday(now() + t)`, plus or minus whole days (`startofday(now()) - 8d` is
/// `startofday(now() - 8d)`).
pub(super) fn now_bound(e: &ScalarExpr) -> Option<(i64, i64)> {
    if let Some(Folded::NowPlus(t)) = fold(e) {
        return Some((t, 0));
    }
    match e {
        ScalarExpr::Call { name, args } if name == "startofday" && args.len() == 1 => {
            match fold(&args[0]) {
                Some(Folded::NowPlus(t)) => Some((t, TICKS_PER_DAY)),
                _ => None,
            }
        }
        ScalarExpr::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) => {
            let (t, align) = now_bound(a)?;
            let Some(Folded::Const(Value::TimeSpan(k))) = fold(b) else {
                return None;
            };
            if align == 0 || k % align != 0 {
                return None;
            }
            let t = if *op == BinOp::Add {
                t.checked_add(k)?
            } else {
                t.checked_sub(k)?
            };
            Some((t, align))
        }
        _ => None,
    }
}

pub(super) const NOW_MESSAGE: &str = "now() can only bound TimeGenerated (or another datetime column) in a where (as in `where TimeGenerated > ago(1h)` or `between (ago(14d) .. ago(1h))`): this use of now() cannot be maintained incrementally";

impl Binder<'_> {
    pub(super) fn bind_where(&mut self, p: Plan, e: &Expr) -> Result<Plan> {
        let scope = Scope::of(&p);
        let mut cs = Vec::new();
        conjuncts(e, &mut cs);
        let mut preds = Vec::new();
        let mut temporal: Vec<TemporalBound> = Vec::new();
        let is_time = |i: usize| p.schema.get(i).is_some_and(|c| c.ty == Type::DateTime);
        for c in cs {
            let (x, _) = self.bind_scalar(c, &scope)?;
            if x.uses_now() {
                match temporal_bounds(&x, &is_time) {
                    Some(b) => {
                        self.check_reach(&b, p.event_time, c);
                        temporal.extend(b);
                    }
                    None => {
                        return Err(BindError::new(
                            self.now_span(c).unwrap_or(c.span),
                            NOW_MESSAGE,
                        ));
                    }
                }
            } else {
                preds.push(x);
            }
        }
        let predicate = match preds.len() {
            0 => ScalarExpr::Literal(Value::Bool(true)),
            1 => preds
                .pop()
                .unwrap_or(ScalarExpr::Literal(Value::Bool(true))),
            _ => ScalarExpr::And(preds),
        };
        // One filter per bounded column (a filter's bounds all read one column): the event
        // time's bounds, with the predicate, first.
        let mut groups: Vec<Vec<TemporalBound>> = Vec::new();
        for b in temporal {
            match groups.iter_mut().find(|g| g[0].column == b.column) {
                Some(g) => g.push(b),
                None => groups.push(vec![b]),
            }
        }
        if let Some(t) = p.event_time
            && let Some(i) = groups.iter().position(|g| g[0].column == t)
        {
            groups[..=i].rotate_right(1);
        }
        let mut groups = groups.into_iter();
        let mut plan = Plan::filter(p, predicate, groups.next().unwrap_or_default());
        for g in groups {
            plan = Plan::filter(plan, ScalarExpr::Literal(Value::Bool(true)), g);
        }
        Ok(plan)
    }

    /// Warns when a rule windowed on every scan bounds its event time below further back
    /// than its period: the records before the period are not there to read.
    pub(super) fn check_reach(
        &mut self,
        bounds: &[TemporalBound],
        event_time: Option<usize>,
        c: &Expr,
    ) {
        let Some(PeriodWindow {
            period,
            scope: WindowScope::EveryScan,
        }) = self.opts.window
        else {
            return;
        };
        let reach = bounds
            .iter()
            .filter(|b| Some(b.column) == event_time && matches!(b.op, BoundOp::Gt | BoundOp::Ge))
            .map(|b| b.offset_ticks.saturating_sub(b.align))
            .min();
        if let Some(r) = reach
            && r < -period
        {
            self.warnings.push(Warning {
                start: c.span.start,
                end: c.span.end,
                message: format!(
                    "this filter reads back to now() - {}, but the rule's queryPeriod is {}: \
                     the rule sees only the records of its period (as in Sentinel); raise \
                     queryPeriod to at least {}",
                    crate::plan::window::human_duration(-r),
                    crate::plan::window::human_duration(period),
                    crate::plan::window::human_duration(-r),
                ),
            });
        }
    }

    /// Where in `e` now() is read: a `now()`/`ago()` call, a template time, or a `let` name
    /// bound to a time relative to now().
    pub(super) fn now_span(&self, e: &Expr) -> Option<Span> {
        match &e.kind {
            ExprKind::Call { name, args } => {
                if name.name == "now" || name.name == "ago" {
                    return Some(e.span);
                }
                args.iter().find_map(|a| self.now_span(a))
            }
            ExprKind::Literal(l) => match &l.value {
                Value::String(s) if &**s == "{{StartTimeISO}}" || &**s == "{{EndTimeISO}}" => {
                    Some(e.span)
                }
                _ => None,
            },
            ExprKind::Name(id) => match self.lookup(&id.name) {
                Some(Binding::Scalar(x, _)) if x.uses_now() => Some(e.span),
                _ => None,
            },
            ExprKind::Paren(i) => self.now_span(i),
            ExprKind::Unary { operand, .. } => self.now_span(operand),
            ExprKind::Binary { lhs, rhs, .. } => self.now_span(lhs).or_else(|| self.now_span(rhs)),
            ExprKind::Logical { operands, .. } => operands.iter().find_map(|a| self.now_span(a)),
            ExprKind::Between {
                expr, low, high, ..
            } => self
                .now_span(expr)
                .or_else(|| self.now_span(low))
                .or_else(|| self.now_span(high)),
            ExprKind::InList { expr, items, .. } => self
                .now_span(expr)
                .or_else(|| items.iter().find_map(|a| self.now_span(a))),
            ExprKind::Member { target, .. } => self.now_span(target),
            ExprKind::Index { target, index } => {
                self.now_span(target).or_else(|| self.now_span(index))
            }
            _ => None,
        }
    }
}
