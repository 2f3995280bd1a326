//! Parser unit tests: every statement, operator and expression form, operator precedence,
//! spans, and the wording and position of errors.

use kqlflow::kql::{
    self, BinaryOp, Expr, ExprKind, JoinCondition, JoinKind, LetValue, ListOp, LogicalOp,
    OperatorKind, ParamType, ParsePart, Query, Span, Statement, UnaryOp,
};
use kqlflow::model::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MILLI, TICKS_PER_MINUTE, TICKS_PER_SECOND, Type,
    Value, parse_datetime,
};

fn q(src: &str) -> Query {
    let query = match kql::parse_all(src) {
        Ok(q) => q,
        Err(errs) => panic!(
            "{}",
            errs.iter()
                .map(|e| e.render(src, "q"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    // Every accepted query re-prints to text that parses to the same tree.
    let printed = query.to_string();
    let again = kql::parse(&printed).unwrap_or_else(|e| panic!("reprint: {e}\n{printed}"));
    assert_eq!(again.to_string(), printed, "reprint of {src}");
    query
}

/// The operators of the query's body.
fn ops(src: &str) -> Vec<OperatorKind> {
    q(src)
        .body()
        .unwrap()
        .operators()
        .iter()
        .map(|o| o.kind.clone())
        .collect()
}

fn op(src: &str) -> OperatorKind {
    let mut o = ops(src);
    assert_eq!(o.len(), 1, "{src}");
    o.remove(0)
}

fn e(src: &str) -> Expr {
    kql::parse_expr(src).unwrap_or_else(|e| panic!("{src}: {}", e.render(src, "e")))
}

/// An S-expression of the tree, for precedence checks.
fn s(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => match &l.value {
            Value::String(v) => format!("'{v}'"),
            Value::Long(v) => v.to_string(),
            v => format!("{v:?}"),
        },
        ExprKind::Name(id) => id.name.clone(),
        ExprKind::Star => "*".into(),
        ExprKind::TypeOf(t) => format!("typeof({t})"),
        ExprKind::Paren(i) => s(i),
        ExprKind::Unary { op, operand } => format!("({op:?} {})", s(operand)),
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", op.as_str(), s(lhs), s(rhs)),
        ExprKind::Logical { op, operands } => format!(
            "({} {})",
            if *op == LogicalOp::And { "and" } else { "or" },
            operands.iter().map(s).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => format!(
            "({}between {} {} {})",
            if *negated { "!" } else { "" },
            s(expr),
            s(low),
            s(high)
        ),
        ExprKind::InList { expr, op, items } => format!(
            "({} {} [{}])",
            op.as_str(),
            s(expr),
            items.iter().map(s).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Call { name, args } => format!(
            "{}({})",
            name.name,
            args.iter().map(s).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::NamedArg { name, value } => format!("{}={}", name.name, s(value)),
        ExprKind::Member { target, name } => format!("{}.{}", s(target), name.name),
        ExprKind::Index { target, index } => format!("{}[{}]", s(target), s(index)),
        ExprKind::Pipe { source, operators } => format!(
            "{{{} | {}}}",
            s(source),
            operators
                .iter()
                .map(|o| o.name())
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        other => format!("{other:?}"),
    }
}

fn se(src: &str) -> String {
    s(&e(src))
}

/// The first error: (line, column, message).
fn err(src: &str) -> (usize, usize, String) {
    let e = kql::parse(src).expect_err(src);
    let at = e.line_col(src);
    (at.line, at.column, e.message)
}

fn lit(e: &Expr) -> (&Value, Type) {
    match &e.kind {
        ExprKind::Literal(l) => (&l.value, l.ty),
        other => panic!("not a literal: {other:?}"),
    }
}

// ---- statements ---------------------------------------------------------------------------

#[test]
fn let_statements() {
    let query = q(
        "let a = 5; let b = T | where x > a; let c = materialize(b); let d = toscalar(b | count);\n// comment\nc | take a",
    );
    let names: Vec<_> = query.lets().map(|l| l.name.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(query.statements.len(), 5);
    let LetValue::Expr(b) = &query.lets().nth(1).unwrap().value else {
        panic!()
    };
    assert_eq!(s(b), "{T | where}");
    let LetValue::Expr(d) = &query.lets().nth(3).unwrap().value else {
        panic!()
    };
    assert_eq!(s(d), "toscalar({b | count})");
    // Spans: the let statement covers `let` to the end of its value.
    let src = "let a = 5;\nT";
    let l = q(src).lets().next().unwrap().clone();
    assert_eq!(l.span, Span::new(0, 9));
    assert_eq!(l.name.span, Span::new(4, 5));
    // Empty statements and a trailing ';'.
    assert_eq!(q(";; T ;;").statements.len(), 1);
}

#[test]
fn functions() {
    let query = q(
        "let f = (T:(IPAddress:string, n:long), x:long = 5, y:string = 'a', U:(*)) { let z = x + 1; T | where n > z | union U }; f(V, 3)",
    );
    let LetValue::Function(f) = &query.lets().next().unwrap().value else {
        panic!()
    };
    assert_eq!(f.params.len(), 4);
    let ParamType::Tabular { columns, wildcard } = &f.params[0].ty else {
        panic!()
    };
    assert_eq!(columns.len(), 2);
    assert_eq!(
        (columns[1].name.name.as_str(), columns[1].ty),
        ("n", Type::Long)
    );
    assert!(!wildcard);
    assert_eq!(f.params[1].ty, ParamType::Scalar(Type::Long));
    assert_eq!(
        lit(f.params[1].default.as_ref().unwrap()).0,
        &Value::Long(5)
    );
    assert!(
        matches!(&f.params[3].ty, ParamType::Tabular { columns, wildcard: true } if columns.is_empty())
    );
    assert_eq!(f.body.len(), 2);
    assert!(matches!(f.body[0], Statement::Let(_)));
    let query = q("let g = () { 42 }; let h = view () { T }; print g()");
    let LetValue::Function(h) = &query.lets().nth(1).unwrap().value else {
        panic!()
    };
    assert!(h.view && h.params.is_empty());
    // invoke
    let o = ops("T | invoke f(1)");
    assert!(matches!(&o[0], OperatorKind::Invoke(c) if s(c) == "f(1)"));
}

#[test]
fn unsupported_statements_and_empty_queries() {
    assert_eq!(
        err("set querytrace; T"),
        (
            1,
            1,
            "`set` statements (query options) are not supported by kqlflow: remove the statement"
                .into()
        )
    );
    assert!(
        err("declare query_parameters(x:long); T")
            .2
            .contains("bind values with `let`")
    );
    assert_eq!(
        err("let x = 1;"),
        (
            1,
            11,
            "the query has no tabular expression: it ends after its `let` statements".into()
        )
    );
    assert!(err("").2.starts_with("the query is empty"));
    assert!(
        err("  // only a comment\n")
            .2
            .starts_with("the query is empty")
    );
    assert_eq!(
        err("let x = 1\nlet y = 2;\nT"),
        (
            2,
            1,
            "expected ';' after the `let` statement, found 'let'".into()
        )
    );
    assert_eq!(
        err("let x == 1; T"),
        (
            1,
            7,
            "expected '=' after `let x` ('==' compares values), found '=='".into()
        )
    );
    assert!(
        err("let f = (x:long) { let y = 1; }; T")
            .2
            .contains("the function body has no result expression")
    );
}

// ---- tabular operators ---------------------------------------------------------------------

#[test]
fn where_extend_project() {
    assert!(matches!(op("T | where a == 1"), OperatorKind::Where(_)));
    assert!(matches!(op("T | filter a == 1"), OperatorKind::Where(_)));
    let OperatorKind::Extend(items) = op("T | extend a = 1, b, (c, d) = f(x), ['e f'] = 2") else {
        panic!()
    };
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].names[0].name, "a");
    assert!(items[1].names.is_empty());
    let tuple: Vec<_> = items[2].names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(tuple, ["c", "d"]);
    assert_eq!(items[3].names[0].name, "e f");
    let OperatorKind::Project(items) = op("T | project a, b = c + 1, ['Col Name']") else {
        panic!()
    };
    assert_eq!(items.len(), 3);
    assert_eq!(s(&items[2].expr), "Col Name");
}

#[test]
fn project_variants() {
    let OperatorKind::ProjectAway(p) = op("T | project-away _*, *1, Col, Col*, ['a b']") else {
        panic!()
    };
    let pats: Vec<_> = p.iter().map(|p| p.pattern.as_str()).collect();
    assert_eq!(pats, ["_*", "*1", "Col", "Col*", "a b"]);
    assert!(p[0].is_wildcard() && p[0].matches("_anyInRange") && !p[2].is_wildcard());
    let OperatorKind::ProjectKeep(p) = op("T | project-keep A*") else {
        panic!()
    };
    assert_eq!(p[0].pattern, "A*");
    let OperatorKind::ProjectRename(r) = op("T | project-rename New = Old, ['x y'] = z") else {
        panic!()
    };
    assert_eq!(
        (r[0].new.name.as_str(), r[0].old.name.as_str()),
        ("New", "Old")
    );
    assert_eq!(r[1].new.name, "x y");
    let OperatorKind::ProjectReorder(r) = op("T | project-reorder B desc, A*, C granny-asc") else {
        panic!()
    };
    assert_eq!(r[0].order.as_deref(), Some("desc"));
    assert_eq!(r[1].order, None);
    assert_eq!(r[2].order.as_deref(), Some("granny-asc"));
    // `project - away` with spaces is `project` of `-away`.
    assert!(
        err("T | project - away x")
            .2
            .contains("after the `project` operator")
    );
    assert!(
        err("T | project-rename a")
            .2
            .contains("needs `NewName = ExistingName`")
    );
}

#[test]
fn summarize() {
    let OperatorKind::Summarize(su) = op(
        "T | summarize hint.strategy=shuffle X = count(), dcount(U), make_set(x, 5) by bin(TimeGenerated, 1h), K = tolower(k), c",
    ) else {
        panic!()
    };
    assert_eq!(su.params[0].name.name, "hint.strategy");
    assert_eq!(su.aggregates.len(), 3);
    assert_eq!(su.aggregates[0].names[0].name, "X");
    assert_eq!(s(&su.aggregates[2].expr), "make_set(x, 5)");
    assert_eq!(su.by.len(), 3);
    assert_eq!(su.by[1].names[0].name, "K");
    let OperatorKind::Summarize(su) = op("T | summarize by a, b") else {
        panic!()
    };
    assert!(su.aggregates.is_empty() && su.by.len() == 2);
    let OperatorKind::Summarize(su) = op("T | summarize count()") else {
        panic!()
    };
    assert!(su.by.is_empty());
    let OperatorKind::Summarize(su) = op("T | summarize arg_max(TimeGenerated, *) by k") else {
        panic!()
    };
    assert_eq!(s(&su.aggregates[0].expr), "arg_max(TimeGenerated, *)");
}

#[test]
fn joins() {
    for (kind, k) in [
        ("innerunique", JoinKind::InnerUnique),
        ("inner", JoinKind::Inner),
        ("leftouter", JoinKind::LeftOuter),
        ("rightouter", JoinKind::RightOuter),
        ("fullouter", JoinKind::FullOuter),
        ("leftanti", JoinKind::LeftAnti),
        ("anti", JoinKind::LeftAnti),
        ("leftantisemi", JoinKind::LeftAnti),
        ("rightanti", JoinKind::RightAnti),
        ("rightantisemi", JoinKind::RightAnti),
        ("leftsemi", JoinKind::LeftSemi),
        ("rightsemi", JoinKind::RightSemi),
    ] {
        let OperatorKind::Join(j) = op(&format!("T | join kind = {kind} (U) on a")) else {
            panic!()
        };
        assert_eq!(j.kind, Some(k), "{kind}");
    }
    let OperatorKind::Join(j) = op(
        "T | join kind=leftouter hint.strategy=shuffle hint.shufflekey=a (U | where b) on a, $left.X == $right.Y, $right.P == $left.Q",
    ) else {
        panic!()
    };
    assert_eq!(j.hints.len(), 2);
    assert_eq!(s(&j.right), "{U | where}");
    assert!(matches!(&j.on[0], JoinCondition::Column(c) if c.name == "a"));
    assert!(
        matches!(&j.on[1], JoinCondition::Equal { left, right, .. } if left.name == "X" && right.name == "Y")
    );
    assert!(
        matches!(&j.on[2], JoinCondition::Equal { left, right, .. } if left.name == "Q" && right.name == "P")
    );
    let OperatorKind::Join(j) = op("T | join U on $left['a b'] == $right.c") else {
        panic!()
    };
    assert_eq!(j.kind, None);
    assert_eq!(s(&j.right), "U");
    assert!(
        matches!(&j.on[0], JoinCondition::Equal { left, right, .. } if left.name == "a b" && right.name == "c")
    );
    assert!(
        err("T | join U on $up.x")
            .2
            .starts_with("a join condition must be")
    );
    // Conditions joined by `and`, as Sentinel rules write them.
    let OperatorKind::Join(j) =
        op("T | join kind=anti U on $left.D==$right.D and $left.T == $right.U and K, M")
    else {
        panic!()
    };
    assert_eq!(j.on.len(), 4);
    assert!(
        matches!(&j.on[1], JoinCondition::Equal { left, right, .. } if left.name == "T" && right.name == "U")
    );
    assert!(matches!(&j.on[2], JoinCondition::Column(c) if c.name == "K"));
    assert!(matches!(&j.on[3], JoinCondition::Column(c) if c.name == "M"));
    // `or` is no join condition.
    assert!(
        err("T | join U on $left.a == $right.b or $left.c == $right.d")
            .2
            .starts_with("a join condition must be")
    );
    let OperatorKind::Lookup(l) = op("T | lookup kind=inner (U) on a") else {
        panic!()
    };
    assert_eq!(l.kind, Some(JoinKind::Inner));
    let OperatorKind::Lookup(l) = op("T | lookup U on $left.a == $right.b") else {
        panic!()
    };
    assert_eq!(l.kind, None);

    assert_eq!(
        err("T | join kind=outer (U) on a"),
        (1, 15, "unknown `join` kind 'outer': expected one of innerunique, inner, leftouter, rightouter, fullouter, leftanti, rightanti, leftsemi, rightsemi".into())
    );
    assert!(
        err("T | lookup kind=fullouter (U) on a")
            .2
            .contains("expected one of leftouter, inner")
    );
    assert_eq!(
        err("T | join (U) on a == b"),
        (
            1,
            17,
            "a join condition must be a column name or `$left.Column == $right.Column` (several joined by `,` or `and`)".into()
        )
    );
    assert_eq!(
        err("T | join (U) a"),
        (
            1,
            14,
            "expected `on` and the join columns after the right side of `join`, found 'a'".into()
        )
    );
    assert!(
        err("T | join on a")
            .2
            .contains("expected the right side of `join`")
    );
}

#[test]
fn unions() {
    let query = q("union isfuzzy=true kind=outer withsource=Src T1, (T2 | where a), T3 | where b");
    let body = query.body().unwrap();
    let (source, ops) = body.as_pipe().unwrap();
    let ExprKind::Union(u) = &source.kind else {
        panic!()
    };
    assert_eq!(u.operands.len(), 3);
    assert_eq!(u.param("withsource").map(s).as_deref(), Some("Src"));
    assert_eq!(u.param("isfuzzy").map(s).as_deref(), Some("Bool(true)"));
    assert_eq!(ops.len(), 1);
    let query = q("union T1, T2");
    assert!(matches!(query.body().unwrap().kind, ExprKind::Union(_)));
    let OperatorKind::Union(u) = op("T | union kind=inner U, (V)") else {
        panic!()
    };
    assert_eq!(u.operands.len(), 2);
    q("union isfuzzy=True T, U");
    assert!(
        err("union kind=left T")
            .2
            .contains("invalid value 'left' for `kind` in `union`")
    );
    assert!(
        err("union isfuzzy=yes T")
            .2
            .contains("expected `true` or `false`")
    );
}

#[test]
fn mv_expand_and_mv_apply() {
    let OperatorKind::MvExpand(m) = op(
        "T | mv-expand bagexpansion=array with_itemindex=Idx a to typeof(string), B = b.c to typeof(long), d limit 100",
    ) else {
        panic!()
    };
    assert_eq!(m.params.len(), 2);
    assert_eq!(m.items.len(), 3);
    assert_eq!(m.items[0].to_type, Some(Type::String));
    assert_eq!(m.items[1].target.names[0].name, "B");
    assert_eq!(s(&m.items[1].target.expr), "b.c");
    assert_eq!(m.items[2].to_type, None);
    assert_eq!(s(m.limit.as_ref().unwrap()), "100");
    assert!(matches!(op("T | mvexpand x"), OperatorKind::MvExpand(_)));
    let OperatorKind::MvExpand(m) = op("T | mv-expand todynamic(x)") else {
        panic!()
    };
    assert_eq!(s(&m.items[0].target.expr), "todynamic(x)");

    let OperatorKind::MvApply(m) = op(
        "T | mv-apply with_itemindex=i x = arr to typeof(string), y on (where x != '' | extend z = 1 | summarize max(z))",
    ) else {
        panic!()
    };
    assert_eq!(m.items.len(), 2);
    let sub: Vec<_> = m.subquery.iter().map(|o| o.name()).collect();
    assert_eq!(sub, ["where", "extend", "summarize"]);
    assert!(
        err("T | mv-apply x = y where a")
            .2
            .contains("expected `on (subquery)`")
    );
    assert!(
        err("T | mv-expand x to string")
            .2
            .contains("expected `typeof(type)` after `to`")
    );
}

#[test]
fn sorting_and_limits() {
    let OperatorKind::Sort(k) = op("T | order by a asc, b desc nulls first, c nulls last, d")
    else {
        panic!()
    };
    assert_eq!(k.len(), 4);
    assert_eq!((k[0].descending, k[0].nulls_first), (Some(false), None));
    assert_eq!(
        (k[1].descending, k[1].nulls_first),
        (Some(true), Some(true))
    );
    assert_eq!((k[2].descending, k[2].nulls_first), (None, Some(false)));
    assert!(matches!(op("T | sort by a"), OperatorKind::Sort(_)));
    let OperatorKind::Top(t) = op("T | top 10 by count_ desc") else {
        panic!()
    };
    assert_eq!(s(&t.count), "10");
    assert_eq!(t.by.descending, Some(true));
    assert!(matches!(op("T | take 5"), OperatorKind::Take(_)));
    assert!(matches!(op("T | limit n"), OperatorKind::Take(_)));
    assert_eq!(
        err("T | order a"),
        (1, 11, "expected `by` after `order`, found 'a'".into())
    );
    assert!(
        err("T | top 10")
            .2
            .contains("expected `by` and a sort key after the `top` count")
    );
}

#[test]
fn small_operators() {
    let OperatorKind::Distinct(d) = op("T | distinct a, b") else {
        panic!()
    };
    assert_eq!(d.len(), 2);
    let OperatorKind::Distinct(d) = op("T | distinct *") else {
        panic!()
    };
    assert!(matches!(d[0].kind, ExprKind::Star));
    assert!(matches!(op("T | count"), OperatorKind::Count));
    assert!(matches!(op("T | getschema"), OperatorKind::GetSchema));
    assert!(matches!(op("T | serialize"), OperatorKind::Serialize(v) if v.is_empty()));
    assert!(
        matches!(op("T | serialize n = row_number()"), OperatorKind::Serialize(v) if v.len() == 1)
    );
    let OperatorKind::As { name, params } = op("T | as hint.materialized=true X") else {
        panic!()
    };
    assert_eq!((name.name.as_str(), params.len()), ("X", 1));
    let OperatorKind::Evaluate { call, .. } = op("T | evaluate bag_unpack(d)") else {
        panic!()
    };
    assert_eq!(s(&call), "bag_unpack(d)");
    let OperatorKind::Evaluate { call, .. } = op("T | evaluate ipv4_lookup(ranges, ip, net)")
    else {
        panic!()
    };
    assert_eq!(s(&call), "ipv4_lookup(ranges, ip, net)");
    // Named arguments, after positional ones or alone; `==` stays a comparison.
    let OperatorKind::Evaluate { call, .. } =
        op("T | evaluate ipv4_lookup(ranges, ip, net, return_unmatched = true)")
    else {
        panic!()
    };
    assert_eq!(
        s(&call),
        "ipv4_lookup(ranges, ip, net, return_unmatched=Bool(true))"
    );
    assert_eq!(se("f(a = 1, b == 2)"), "f(a=1, (== b 2))");
    assert_eq!(
        e("f(x, window = 2d)").to_string(),
        "f(x, window = 2d)",
        "displayed as written"
    );
    assert!(err("f(a = )").2.contains("after `a =` in the call to `f`"));
    assert!(
        err("T | evaluate x")
            .2
            .contains("expected a plugin call after `evaluate`")
    );
    // An output schema after the call, with or without `*`; shown as written.
    for (q, shown) in [
        (
            "T | evaluate bag_unpack(d) : (*, Name:string, Age:long)",
            "evaluate bag_unpack(d) : (*, Name:string, Age:long)",
        ),
        (
            "T | evaluate bag_unpack(d, 'p_') : (p_Name:string)",
            "evaluate bag_unpack(d, \"p_\") : (p_Name:string)",
        ),
        (
            "T | evaluate bag_unpack(d) : (*)",
            "evaluate bag_unpack(d) : (*)",
        ),
    ] {
        let OperatorKind::Evaluate { output, .. } = op(q) else {
            panic!("{q}")
        };
        assert!(output.is_some(), "{q}");
        let parsed = kql::parse(q).unwrap();
        assert_eq!(parsed.body().unwrap().operators()[0].to_string(), shown);
    }
    assert!(
        err("T | evaluate bag_unpack(d) : Name:string")
            .2
            .contains("'(' and the output schema after `:`")
    );
    assert!(
        err("T | evaluate bag_unpack(d) : (Name)")
            .2
            .contains("':' and a type")
    );
}

#[test]
fn parse_operator() {
    let OperatorKind::Parse(p) = op(r#"T | parse Col with * "a=" X:string ",b=" Y:long "]" *"#)
    else {
        panic!()
    };
    assert_eq!(s(&p.expr), "Col");
    assert_eq!(p.pattern.len(), 7);
    assert!(matches!(&p.pattern[0], ParsePart::Star(_)));
    assert!(matches!(&p.pattern[1], ParsePart::Text(t, _) if t == "a="));
    assert!(
        matches!(&p.pattern[2], ParsePart::Column { name, ty: Some(Type::String) } if name.name == "X")
    );
    assert!(matches!(
        &p.pattern[4],
        ParsePart::Column {
            ty: Some(Type::Long),
            ..
        }
    ));
    let OperatorKind::Parse(p) = op(r#"T | parse kind=regex Col with "x" A"#) else {
        panic!()
    };
    assert_eq!(p.params[0].name.name, "kind");
    assert!(matches!(&p.pattern[1], ParsePart::Column { ty: None, .. }));
    assert!(
        err("T | parse Col")
            .2
            .contains("expected `with` and a pattern")
    );
}

#[test]
fn make_series() {
    let OperatorKind::MakeSeries(m) = op(
        "T | make-series Total = count() default = 0, avg(x) on TimeGenerated from ago(14d) to now() step 1d by Caller",
    ) else {
        panic!()
    };
    assert_eq!(m.aggregates.len(), 2);
    assert_eq!(s(m.aggregates[0].default.as_ref().unwrap()), "0");
    assert_eq!(s(&m.on), "TimeGenerated");
    assert_eq!(s(m.from.as_ref().unwrap()), "ago(TimeSpan(12096000000000))");
    assert!(m.to.is_some());
    assert_eq!(m.by.len(), 1);
    let OperatorKind::MakeSeries(m) = op("T | make-series n = count() on t in range(a, b, 1h)")
    else {
        panic!()
    };
    assert_eq!(s(&m.step), format!("TimeSpan({TICKS_PER_HOUR})"));
    assert!(m.range);
    assert!(m.to.is_some());
    let OperatorKind::MakeSeries(m) = op("T | make-series kind=nonempty n = count() on t step 1h")
    else {
        panic!()
    };
    assert!(m.from.is_none() && m.by.is_empty() && !m.range);
    assert!(
        err("T | make-series n = count() on t")
            .2
            .contains("expected `step`")
    );
}

#[test]
fn sources() {
    assert!(matches!(
        q("print (1 + 2)").body().unwrap().kind,
        ExprKind::Print(_)
    ));
    let query = q("print a = 1, 'x'");
    let ExprKind::Print(items) = &query.body().unwrap().kind else {
        panic!()
    };
    assert_eq!(items.len(), 2);
    let query = q("datatable(a:string, b:long) ['x', 1, 'y', 2,] | where b > 1");
    let (source, _) = query.body().unwrap().as_pipe().unwrap();
    let ExprKind::Datatable { columns, values } = &source.kind else {
        panic!()
    };
    assert_eq!(columns.len(), 2);
    assert_eq!(values.len(), 4);
    let query = q(
        r#"externaldata(a:string, b:dynamic) [@"https://x/y.csv", h"https://z"] with (format="csv", ignoreFirstRecord=True)"#,
    );
    let ExprKind::ExternalData {
        uris, properties, ..
    } = &query.body().unwrap().kind
    else {
        panic!()
    };
    assert_eq!(uris.len(), 2);
    assert_eq!(properties.len(), 2);
    let query = q("range x from 1 to 10 step 2");
    assert!(matches!(query.body().unwrap().kind, ExprKind::Range { .. }));
    // `range(…)` is an ordinary function call.
    assert_eq!(se("range(1, 10, 2)"), "range(1, 10, 2)");
    assert!(err("search 'x'").2.contains("`search` is not supported"));
    // Tabular sources are not operands.
    assert_eq!(
        err("T | where x in union(U)"),
        (1, 16, "`union` starts a tabular expression and cannot be an operand here: put it in parentheses, as in `(union …)`".into())
    );
    assert!(
        err("print x = 1 + print 2")
            .2
            .contains("`print` starts a tabular expression")
    );
    assert!(matches!(
        op("T | where x in (union U, V)"),
        OperatorKind::Where(_)
    ));
}

#[test]
fn unsupported_and_unknown_operators() {
    assert_eq!(
        err("T | top-nested 3 of a by count()"),
        (
            1,
            5,
            "the `top-nested` operator is not supported by kqlflow".into()
        )
    );
    assert_eq!(
        err("T | sample 5").2,
        "the `sample` operator is not supported by kqlflow"
    );
    assert_eq!(
        err("T | summarise count()"),
        (
            1,
            5,
            "unknown tabular operator 'summarise': did you mean `summarize`?".into()
        )
    );
    assert_eq!(
        err("T | Where x").2,
        "unknown tabular operator 'Where': did you mean `where`?"
    );
    assert_eq!(
        err("T | 5").2,
        "expected a tabular operator after '|', found the number 5"
    );
    assert_eq!(
        err("T | where x |"),
        (
            1,
            14,
            "expected a tabular operator after '|', found the end of the query".into()
        )
    );
}

// ---- expressions -------------------------------------------------------------------------

#[test]
fn string_literals() {
    assert_eq!(lit(&e(r#"'a\'b'"#)).0, &Value::str("a'b"));
    assert_eq!(lit(&e(r#""c\"d""#)).0, &Value::str("c\"d"));
    assert_eq!(lit(&e(r"@'\d+'")).0, &Value::str("\\d+"));
    assert_eq!(lit(&e(r#"@"a""b""#)).0, &Value::str("a\"b"));
    assert_eq!(lit(&e("h'secret'")).0, &Value::str("secret"));
    // Adjacent literals concatenate, also across lines.
    let x = e("'a' \"b\"\n  @'c'");
    assert_eq!(lit(&x).0, &Value::str("abc"));
    assert_eq!(x.span, Span::new(0, 14));
    assert_eq!(lit(&e("```multi\nline```")).0, &Value::str("multi\nline"));
    assert_eq!(
        lit(&e("'{{StartTimeISO}}'")).0,
        &Value::str("{{StartTimeISO}}")
    );
}

#[test]
fn numeric_and_time_literals() {
    assert_eq!(lit(&e("42")), (&Value::Long(42), Type::Long));
    assert_eq!(lit(&e("1.5")), (&Value::Real(1.5), Type::Real));
    assert_eq!(lit(&e("1e3")), (&Value::Real(1000.0), Type::Real));
    assert_eq!(lit(&e("0x10")), (&Value::Long(16), Type::Long));
    assert_eq!(lit(&e("int(7)")), (&Value::Long(7), Type::Int));
    assert_eq!(lit(&e("long(-7)")), (&Value::Long(-7), Type::Long));
    assert_eq!(lit(&e("real(2)")), (&Value::Real(2.0), Type::Real));
    assert!(matches!(lit(&e("real(nan)")).0, Value::Real(r) if r.is_nan()));
    assert_eq!(lit(&e("bool(true)")), (&Value::Bool(true), Type::Bool));
    assert_eq!(lit(&e("long(null)")), (&Value::Null, Type::Long));
    assert_eq!(lit(&e("true")), (&Value::Bool(true), Type::Bool));
    assert_eq!(lit(&e("False")), (&Value::Bool(false), Type::Bool));
    assert_eq!(lit(&e("null")), (&Value::Null, Type::Dynamic));
    for (src, ticks) in [
        ("1d", TICKS_PER_DAY),
        ("5m", 5 * TICKS_PER_MINUTE),
        ("30s", 30 * TICKS_PER_SECOND),
        ("100ms", 100 * TICKS_PER_MILLI),
        ("1h", TICKS_PER_HOUR),
        ("1.5h", 3 * TICKS_PER_HOUR / 2),
        ("time(1d)", TICKS_PER_DAY),
        ("timespan(2h)", 2 * TICKS_PER_HOUR),
        ("time(0s)", 0),
        ("time(1.02:00:00)", TICKS_PER_DAY + 2 * TICKS_PER_HOUR),
    ] {
        assert_eq!(
            lit(&e(src)),
            (&Value::TimeSpan(ticks), Type::TimeSpan),
            "{src}"
        );
    }
    assert_eq!(lit(&e("timespan(null)")), (&Value::Null, Type::TimeSpan));
    let jan1 = parse_datetime("2021-01-01").unwrap();
    assert_eq!(
        lit(&e("datetime(2021-01-01)")),
        (&Value::DateTime(jan1), Type::DateTime)
    );
    assert_eq!(
        lit(&e("datetime(2021-01-01T10:00:00Z)")).0,
        &Value::DateTime(jan1 + 10 * TICKS_PER_HOUR)
    );
    assert_eq!(lit(&e("datetime(null)")), (&Value::Null, Type::DateTime));
    assert_eq!(
        lit(&e("guid(74be27de-1e4e-49d9-b579-fe0b331d3642)")).1,
        Type::String
    );
    // Datetime and timespan arithmetic parse as ordinary arithmetic.
    assert_eq!(
        se("datetime(2021-01-01) + 1d - ago(1h)"),
        format!(
            "(- (+ DateTime({jan1}) TimeSpan({TICKS_PER_DAY})) ago(TimeSpan({TICKS_PER_HOUR})))"
        )
    );
}

#[test]
fn dynamic_literals() {
    let x = e("dynamic(['a', 1, -2.5, true, null, [], {}])");
    let (v, t) = lit(&x);
    assert_eq!(t, Type::Dynamic);
    assert_eq!(
        v,
        &Value::array(vec![
            Value::str("a"),
            Value::Long(1),
            Value::Real(-2.5),
            Value::Bool(true),
            Value::Null,
            Value::array(vec![]),
            Value::object(vec![]),
        ])
    );
    let x = e(r#"dynamic({"b": {"c": [1]}, 'a': "x"})"#);
    let (v, _) = lit(&x);
    assert_eq!(v.get("a"), Some(&Value::str("x")));
    assert_eq!(
        v.get("b").and_then(|b| b.get("c")).and_then(|c| c.index(0)),
        Some(&Value::Long(1))
    );
    assert_eq!(lit(&e("dynamic(null)")), (&Value::Null, Type::Dynamic));
    assert!(
        kql::parse_expr("dynamic([1, x])")
            .unwrap_err()
            .message
            .contains("expected a dynamic value")
    );
}

#[test]
fn typeof_names_and_star() {
    assert!(matches!(
        e("typeof(string)").kind,
        ExprKind::TypeOf(Type::String)
    ));
    assert!(matches!(
        e("typeof(datetime)").kind,
        ExprKind::TypeOf(Type::DateTime)
    ));
    assert!(
        kql::parse_expr("typeof(strng)")
            .unwrap_err()
            .message
            .starts_with("unknown type 'strng'")
    );
    assert_eq!(se("['Col Name'] == [\"x\"]"), "(== Col Name x)");
    assert_eq!(se("$left.a"), "$left.a");
    assert_eq!(se("count(*)"), "count(*)");
}

#[test]
fn precedence() {
    assert_eq!(
        se("a + b * c - d / e % f"),
        "(- (+ a (* b c)) (% (/ d e) f))"
    );
    assert_eq!(se("-a * b"), "(* (Neg a) b)");
    assert_eq!(se("- -a"), "(Neg (Neg a))");
    assert_eq!(se("a + b == c * d"), "(== (+ a b) (* c d))");
    assert_eq!(
        se("a == 1 or b == 2 and c == 3"),
        "(or (== a 1) (and (== b 2) (== c 3)))"
    );
    assert_eq!(se("a and b and c or d"), "(or (and a b c) d)");
    assert_eq!(se("(a or b) and c"), "(and (or a b) c)");
    assert_eq!(se("a or b or c"), "(or a b c)");
    assert_eq!(se("not(a == b) and c"), "(and (Not (== a b)) c)");
    assert_eq!(se("a - b - c"), "(- (- a b) c)");
    assert_eq!(se("a <> b"), "(!= a b)");
    assert_eq!(
        se("x has 'a' and y !contains 'b'"),
        "(and (has x 'a') (!contains y 'b'))"
    );
    assert_eq!(
        se("a + 1 between (1 .. b * 2)"),
        "(between (+ a 1) 1 (* b 2))"
    );
    assert_eq!(se("a in (1, 2) or b"), "(or (in a [1 2]) b)");
    assert_eq!(
        se("x matches regex @'^a' and y"),
        "(and (matches regex x '^a') y)"
    );
    assert_eq!(se("a.b.c[0]['d'] + f(x)[1]"), "(+ a.b.c[0]['d'] f(x)[1])");
    assert_eq!(
        se("TargetResources.[0].modifiedProperties"),
        "TargetResources[0].modifiedProperties"
    );
    assert_eq!(se("x[-1]"), "x[(Neg 1)]");
}

#[test]
fn comparison_and_string_operators() {
    for (src, op) in [
        ("a == b", BinaryOp::Eq),
        ("a != b", BinaryOp::NotEq),
        ("a < b", BinaryOp::Lt),
        ("a <= b", BinaryOp::Le),
        ("a > b", BinaryOp::Gt),
        ("a >= b", BinaryOp::Ge),
        ("a =~ b", BinaryOp::EqCi),
        ("a !~ b", BinaryOp::NotEqCi),
        ("a has b", BinaryOp::Has),
        ("a !has b", BinaryOp::NotHas),
        ("a has_cs b", BinaryOp::HasCs),
        ("a hasprefix b", BinaryOp::HasPrefix),
        ("a hassuffix b", BinaryOp::HasSuffix),
        ("a contains b", BinaryOp::Contains),
        ("a !contains b", BinaryOp::NotContains),
        ("a contains_cs b", BinaryOp::ContainsCs),
        ("a startswith b", BinaryOp::StartsWith),
        ("a !startswith b", BinaryOp::NotStartsWith),
        ("a startswith_cs b", BinaryOp::StartsWithCs),
        ("a endswith b", BinaryOp::EndsWith),
        ("a !endswith b", BinaryOp::NotEndsWith),
        ("a matches regex b", BinaryOp::MatchesRegex),
    ] {
        let ExprKind::Binary { op: got, .. } = e(src).kind else {
            panic!("{src}")
        };
        assert_eq!(got, op, "{src}");
    }
    for (src, op) in [
        ("a in (1, 2)", ListOp::In),
        ("a !in (1)", ListOp::NotIn),
        ("a in~ ('x')", ListOp::InCi),
        ("a !in~ (L)", ListOp::NotInCi),
        ("a has_any ('x', 'y')", ListOp::HasAny),
        ("a has_all (L)", ListOp::HasAll),
        ("a in(L)", ListOp::In),
    ] {
        let ExprKind::InList { op: got, .. } = e(src).kind else {
            panic!("{src}")
        };
        assert_eq!(got, op, "{src}");
    }
    assert_eq!(se("a in (T | project b)"), "(in a [{T | project}])");
    assert_eq!(se("a !between (1 .. 2)"), "(!between a 1 2)");
    assert_eq!(se("t between(s..e)"), "(between t s e)");
    assert_eq!(
        kql::parse_expr("a like 'x%'").unwrap_err().message,
        "`like` is not a KQL operator: use `contains`, `startswith`, `endswith`, `has` or `matches regex`"
    );
    assert_eq!(
        kql::parse_expr("a !foo b").unwrap_err().message,
        "unknown operator '!foo'"
    );
}

#[test]
fn calls() {
    assert_eq!(se("iff(a > 1, 'x', 'y')"), "iff((> a 1), 'x', 'y')");
    assert_eq!(se("case(a, 1, b, 2, 3)"), "case(a, 1, b, 2, 3)");
    assert_eq!(se("now()"), "now()");
    assert_eq!(se("_GetWatchlist('Name')"), "_GetWatchlist('Name')");
    assert_eq!(se("pack('a', x, 'b', y)"), "pack('a', x, 'b', y)");
    assert_eq!(
        se("toscalar(T | summarize max(x))"),
        "toscalar({T | summarize})"
    );
    assert!(matches!(
        e("not(x)").kind,
        ExprKind::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));
}

// ---- errors --------------------------------------------------------------------------------

#[test]
fn as_instead_of_assignment() {
    let src = "T | extend x + 1 as y | project a as b";
    let errs = kql::parse_all(src).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!(
        errs[0].message,
        "`as` is not valid in a `extend` list: KQL names a column with '=', so write `y = x + 1`"
    );
    assert_eq!(errs[0].line_col(src).column, 18);
    assert!(errs[1].message.contains("so write `b = a`"));
}

#[test]
fn trailing_commas() {
    let src = "T\n| extend a = 1, b = 2,\n| take 1";
    assert_eq!(
        err(src),
        (2, 22, "expected an expression after ',' in the `extend` list, found '|': remove the trailing ','".into())
    );
    assert_eq!(
        err("T | summarize count(), by x"),
        (1, 22, "expected an expression after ',' in the `summarize` list, found 'by': remove the trailing ','".into())
    );
    assert_eq!(
        err("T | summarize count() by x,"),
        (1, 27, "expected an expression after ',' in the `by` list, found the end of the query: remove the trailing ','".into())
    );
    assert_eq!(
        err("T | project a,;"),
        (1, 14, "expected an expression after ',' in the `project` list, found ';': remove the trailing ','".into())
    );
    assert_eq!(
        err("print f(a,)"),
        (
            1,
            10,
            "expected an argument after ',' in the call to `f`, found ')': remove the trailing ','"
                .into()
        )
    );
    assert_eq!(
        err("T | where a in (1,)"),
        (
            1,
            18,
            "expected a value after ',' in the list after `in`, found ')': remove the trailing ','"
                .into()
        )
    );
    // A comma followed by something that is not an expression.
    assert_eq!(
        err("T | extend a = 1, , b"),
        (
            1,
            19,
            "expected an expression after ',' in the `extend` list, found ','".into()
        )
    );
}

#[test]
fn missing_pieces() {
    assert_eq!(
        err("T | where a =="),
        (
            1,
            15,
            "expected an expression after '==', found the end of the query".into()
        )
    );
    assert_eq!(
        err("T | where (a"),
        (
            1,
            13,
            "expected ')' to close the '(', found the end of the query".into()
        )
    );
    assert_eq!(
        err("T | where"),
        (
            1,
            10,
            "expected a predicate after `where`, found the end of the query".into()
        )
    );
    assert_eq!(
        err("T | where a and"),
        (
            1,
            16,
            "expected an expression after `and`, found the end of the query".into()
        )
    );
    assert_eq!(
        err("print f(a b)"),
        (
            1,
            11,
            "expected ',' or ')' in the arguments of `f`, found 'b'".into()
        )
    );
    assert_eq!(
        err("T | where x between (1, 2)"),
        (
            1,
            23,
            "expected '..' between the bounds of `between`, found ','".into()
        )
    );
    assert_eq!(
        err("T | where a.1"),
        (
            1,
            13,
            "expected a property name or '[' after '.', found the number 1".into()
        )
    );
    assert_eq!(
        err("T | extend = 1"),
        (
            1,
            12,
            "expected an expression after `extend`, found '='".into()
        )
    );
    assert_eq!(
        err("T where a"),
        (1, 3, "expected '|', ';' or the end of the query after the expression, found 'where' (is a '|' missing before `where`?)".into())
    );
    assert_eq!(
        err("T | where a, b"),
        (
            1,
            12,
            "unexpected ',' after the `where` predicate: combine conditions with `and`".into()
        )
    );
    assert_eq!(
        err("T | extend a = 1 b = 2"),
        (1, 18, "unexpected token after the `extend` operator: expected '|' or ';', found 'b' (is a ',' missing?)".into())
    );
    assert_eq!(
        err("T | where a ! b"),
        (1, 13, "unexpected '!': KQL negates with `not(…)`, `!=`, `!~` or a negated operator such as `!has`, `!in` or `!contains`".into())
    );
    assert!(
        err("T | where x == datetime(2021-99-01)")
            .2
            .starts_with("invalid datetime literal datetime(2021-99-01)")
    );
    assert!(
        err("T | where x > 5x")
            .2
            .contains("invalid number or timespan literal '5x'")
    );
    assert!(
        err("T | where x == 'abc")
            .2
            .starts_with("unterminated string literal")
    );
}

#[test]
fn errors_render_with_line_and_caret() {
    let src = "let a = 1;\nT\n| summarize count() as n by k";
    let e = kql::parse(src).unwrap_err();
    assert_eq!(
        e.render(src, "q.kql"),
        "q.kql:3:21: error: `as` is not valid in a `summarize` list: KQL names an aggregate with '=', so write `n = count()`\n  |\n3 | | summarize count() as n by k\n  |                     ^^^^"
    );
}

#[test]
fn spans() {
    let src = "T | where a == 'x' | extend b = f(a, 1)";
    let query = q(src);
    let body = query.body().unwrap();
    assert_eq!(body.span, Span::new(0, src.len()));
    let ops = body.operators();
    assert_eq!(ops[0].span.text(src), "where a == 'x'");
    assert_eq!(ops[1].span.text(src), "extend b = f(a, 1)");
    let OperatorKind::Extend(items) = &ops[1].kind else {
        panic!()
    };
    assert_eq!(items[0].span.text(src), "b = f(a, 1)");
    assert_eq!(items[0].expr.span.text(src), "f(a, 1)");
    let ExprKind::Call { args, .. } = &items[0].expr.kind else {
        panic!()
    };
    assert_eq!(args[1].span.text(src), "1");
    assert_eq!(kql::line_col(src, ops[1].span.start).to_string(), "1:22");
}
