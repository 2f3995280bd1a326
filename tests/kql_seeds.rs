//! The seed queries in `../shared/corpus/seed-queries/`: the five valid ones parse with the
//! expected structure; the two known-bad ones fail at the exact line and column.
//!
//! Reads the public corpus under `../shared/corpus`: compiled only with `--features corpus`.

#![cfg(feature = "corpus")]

use std::path::{Path, PathBuf};

use kqlflow::kql::{
    self, ExprKind, JoinCondition, JoinKind, LetValue, ListOp, OperatorKind, ParamType, Query,
    Statement,
};
use kqlflow::model::{TICKS_PER_HOUR, Type};
use kqlflow::rules::load_rule;

fn seed_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/seed-queries");
    assert!(
        dir.is_dir(),
        "{} is absent: the `corpus` feature needs the public corpus in ../shared beside the checkout",
        dir.display()
    );
    dir
}

fn read(name: &str) -> String {
    std::fs::read_to_string(seed_dir().join(name)).unwrap()
}

fn parse_ok(src: &str) -> Query {
    match kql::parse_all(src) {
        Ok(q) => q,
        Err(errs) => panic!(
            "{}",
            errs.iter()
                .map(|e| e.render(src, "seed"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn op_names(e: &kql::Expr) -> Vec<&'static str> {
    e.operators().iter().map(|o| o.name()).collect()
}

fn let_names(q: &Query) -> Vec<&str> {
    q.lets().map(|l| l.name.name.as_str()).collect()
}

fn let_value<'q>(q: &'q Query, name: &str) -> &'q LetValue {
    &q.lets().find(|l| l.name.name == name).unwrap().value
}

fn let_expr<'q>(q: &'q Query, name: &str) -> &'q kql::Expr {
    match let_value(q, name) {
        LetValue::Expr(e) => e,
        LetValue::Function(_) => panic!("{name} is a function"),
    }
}

/// Re-printing gives text that parses to the same tree.
fn assert_reprints(q: &Query) {
    let printed = q.to_string();
    let again = kql::parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again.to_string(), printed);
}

#[test]
fn failed_signins_with_audit_details() {
    let src = read("failed_signins_with_audit_details.kql");
    let q = parse_ok(&src);
    assert_eq!(
        let_names(&q),
        [
            "starttime",
            "endtime",
            "lookback",
            "failLimit",
            "ipLimit",
            "failedSignins",
            "accountMods",
            "accountNameOnly",
            "auditMods",
            "availableAudits",
            "signinsWithAudit",
            "activity"
        ]
    );
    assert_eq!(
        op_names(let_expr(&q, "failedSignins")),
        [
            "where",
            "where",
            "extend",
            "extend",
            "extend",
            "summarize",
            "project",
            "where",
            "extend",
            "project",
            "extend"
        ]
    );
    // The summarize has 9 aggregates and a computed, named group key.
    let ops = let_expr(&q, "failedSignins").operators();
    let OperatorKind::Summarize(s) = &ops[5].kind else {
        panic!()
    };
    assert_eq!(s.aggregates.len(), 9);
    assert_eq!(s.by.len(), 7);
    assert_eq!(s.by[3].names[0].name, "UserPrincipalName");
    assert!(matches!(&s.by[3].expr.kind, ExprKind::Call { name, .. } if name.name == "tolower"));
    // `TargetResources.[0].modifiedProperties`.
    let OperatorKind::Extend(e) = &let_expr(&q, "accountMods").operators()[2].kind else {
        panic!()
    };
    let ExprKind::Member { target, name } = &e[0].expr.kind else {
        panic!("{:?}", e[0].expr)
    };
    assert_eq!(name.name, "modifiedProperties");
    assert!(matches!(target.kind, ExprKind::Index { .. }));
    // `activity` is a parenthesised union followed by `order by`.
    let activity = let_expr(&q, "activity");
    let (source, ops) = activity.as_pipe().unwrap();
    let ExprKind::Paren(inner) = &source.kind else {
        panic!()
    };
    let ExprKind::Union(u) = &inner.kind else {
        panic!()
    };
    assert_eq!(u.operands.len(), 2);
    assert!(u.param("isfuzzy").is_some());
    assert_eq!(ops[0].name(), "sort");
    // The innerunique joins.
    let OperatorKind::Join(j) = &let_expr(&q, "auditMods").operators()[0].kind else {
        panic!()
    };
    assert_eq!(j.kind, Some(JoinKind::InnerUnique));
    assert!(matches!(&j.on[0], JoinCondition::Column(c) if c.name == "UserPrincipalName"));
    assert_eq!(op_names(q.body().unwrap()), ["project", "sort", "extend"]);
    assert_reprints(&q);
}

#[test]
fn sp_signin_volume_anomaly() {
    let src = read("sp_signin_volume_anomaly.kql");
    let q = parse_ok(&src);
    assert_eq!(
        let_names(&q),
        [
            "_allow",
            "_allowCIDR",
            "_allowRange",
            "_ExcludeAllowlistedIPs",
            "DeviationThreshold",
            "MinSigninsThreshold",
            "MinBaselineDays",
            "Baseline",
            "CurrentWindow"
        ]
    );
    // materialize(union isfuzzy=true (print …), (_GetWatchlist(…) | project …) | where …)
    let ExprKind::Call { name, args } = &let_expr(&q, "_allow").kind else {
        panic!()
    };
    assert_eq!(name.name, "materialize");
    let (source, ops) = args[0].as_pipe().unwrap();
    let ExprKind::Union(u) = &source.kind else {
        panic!()
    };
    assert_eq!(u.operands.len(), 2);
    assert_eq!(ops.len(), 1);
    // A function with a tabular parameter.
    let LetValue::Function(f) = let_value(&q, "_ExcludeAllowlistedIPs") else {
        panic!()
    };
    assert_eq!(f.params.len(), 1);
    let ParamType::Tabular { columns, wildcard } = &f.params[0].ty else {
        panic!()
    };
    assert_eq!(columns[0].name.name, "IPAddress");
    assert_eq!(columns[0].ty, Type::String);
    assert!(!wildcard);
    let Some(Statement::Expr(body)) = f.body.last() else {
        panic!()
    };
    assert_eq!(
        op_names(body),
        ["extend", "where", "mv-apply", "where", "project-away"]
    );
    let OperatorKind::MvApply(m) = &body.operators()[2].kind else {
        panic!()
    };
    assert_eq!(m.items[0].target.names[0].name, "_r");
    assert_eq!(m.items[0].to_type, Some(Type::String));
    let sub: Vec<_> = m.subquery.iter().map(|o| o.name()).collect();
    assert_eq!(sub, ["extend", "extend", "summarize"]);
    // `(T | invoke f()) | where … between (ago(14d) .. ago(1h)) | summarize … by …, bin(…, 1h)`
    let baseline = let_expr(&q, "Baseline");
    assert_eq!(
        op_names(baseline),
        ["where", "where", "summarize", "summarize", "where"]
    );
    let (source, _) = baseline.as_pipe().unwrap();
    assert_eq!(op_names(source), ["invoke"]);
    let OperatorKind::Where(w) = &baseline.operators()[0].kind else {
        panic!()
    };
    assert!(matches!(w.kind, ExprKind::Between { negated: false, .. }));
    let OperatorKind::Summarize(s) = &baseline.operators()[2].kind else {
        panic!()
    };
    let ExprKind::Call { name, args } = &s.by[1].expr.kind else {
        panic!()
    };
    assert_eq!(name.name, "bin");
    assert!(
        matches!(&args[1].kind, ExprKind::Literal(l) if l.value == kqlflow::model::Value::TimeSpan(TICKS_PER_HOUR))
    );
    assert_eq!(
        op_names(q.body().unwrap()),
        ["join", "where", "extend", "where", "project"]
    );
    assert_reprints(&q);
}

#[test]
fn provisioning_failures_by_job_error_rule() {
    let dir = seed_dir();
    let rule = load_rule(dir.join("provisioning_failures_by_job_error.yaml")).unwrap();
    assert_eq!(rule.id, "aa1f0001-2001-4201-9201-aadprov-hunt01");
    assert_eq!(rule.severity.as_deref(), Some("Medium"));
    assert_eq!(rule.tactics, ["DefenseEvasion"]);
    assert_eq!(
        rule.required_data_connectors[0].data_types,
        ["AADProvisioningLogs"]
    );
    let q = rule.parse_query().unwrap();
    assert_eq!(q.lets().count(), 0);
    let body = q.body().unwrap();
    let (source, ops) = body.as_pipe().unwrap();
    assert_eq!(source.as_name().unwrap().name, "AADProvisioningLogs");
    assert_eq!(
        op_names(body),
        [
            "where",
            "where",
            "extend",
            "summarize",
            "where",
            "extend",
            "sort"
        ]
    );
    let OperatorKind::Summarize(s) = &ops[3].kind else {
        panic!()
    };
    let names: Vec<_> = s
        .aggregates
        .iter()
        .map(|a| a.names[0].name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Failures",
            "AffectedTargets",
            "ErrorMessages",
            "Operations",
            "DistinctDays",
            "FirstSeen",
            "LastSeen"
        ]
    );
    assert_eq!(s.by.len(), 3);
    let OperatorKind::Sort(keys) = &ops[6].kind else {
        panic!()
    };
    assert_eq!(keys[0].descending, Some(true));
    assert_reprints(&q);
}

#[test]
fn sp_graph_signins() {
    let src = read("sp_graph_signins_blog.kql");
    let q = parse_ok(&src);
    assert_eq!(q.statements.len(), 1);
    assert_eq!(op_names(q.body().unwrap()), ["where"]);
    assert_reprints(&q);
}

#[test]
fn rare_audit_activity_by_app() {
    let src = read("rare_audit_activity_by_app.kql");
    let q = parse_ok(&src);
    assert_eq!(
        let_names(&q),
        [
            "starttime",
            "endtime",
            "auditLookback",
            "propertyIgnoreList",
            "appIgnoreList",
            "AuditTrail",
            "AccountMods",
            "RareAudits"
        ]
    );
    let trail = let_expr(&q, "AuditTrail");
    assert_eq!(
        op_names(trail),
        [
            "where",
            "where",
            "extend",
            "extend",
            "extend",
            "extend",
            "extend",
            "mv-expand",
            "where",
            "extend",
            "where",
            "where",
            "summarize"
        ]
    );
    // `PropertyName !in~ (propertyIgnoreList) and (…) and (…)`: one flat `and` of three.
    let OperatorKind::Where(w) = &trail.operators()[10].kind else {
        panic!()
    };
    let ExprKind::Logical { operands, .. } = &w.kind else {
        panic!("{w:?}")
    };
    assert_eq!(operands.len(), 3);
    assert!(matches!(
        operands[0].kind,
        ExprKind::InList {
            op: ListOp::NotInCi,
            ..
        }
    ));
    let OperatorKind::Join(j) = &let_expr(&q, "RareAudits").operators()[0].kind else {
        panic!()
    };
    assert_eq!(j.kind, Some(JoinKind::LeftAnti));
    assert_eq!(j.on.len(), 4);
    assert_eq!(op_names(q.body().unwrap()), ["summarize", "sort", "extend"]);
    assert_reprints(&q);
}

#[test]
fn sp_signin_failures_is_rejected_at_the_as() {
    let src = read("sp_signin_failures_blog.kql");
    let errs = kql::parse_all(&src).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    let at = e.line_col(&src);
    assert_eq!((at.line, at.column), (7, 89));
    assert_eq!(&src[e.span.start..e.span.end], "as applicationCount");
    assert_eq!(
        e.message,
        "`as` is not valid in a `summarize` list: KQL names an aggregate with '=', so write \
         `applicationCount = count()`"
    );
    assert_eq!(kql::parse(&src).unwrap_err(), *e);
}

#[test]
fn sp_credential_added_is_rejected_at_both_trailing_commas() {
    let src = read("sp_credential_added_while_active_blog.kql");
    let errs = kql::parse_all(&src).unwrap_err();
    let at: Vec<_> = errs
        .iter()
        .map(|e| {
            let p = e.line_col(&src);
            (p.line, p.column)
        })
        .collect();
    assert_eq!(at, [(7, 94), (9, 134)]);
    for e in &errs {
        assert_eq!(&src[e.span.start..e.span.end], ",");
        assert_eq!(
            e.message,
            "expected an expression after ',' in the `extend` list, found '|': remove the \
             trailing ','"
        );
    }
    // `parse` reports the first.
    let first = kql::parse(&src).unwrap_err();
    assert_eq!(first.line_col(&src).line, 7);
    let rendered = first.render(&src, "sp_credential_added_while_active_blog.kql");
    assert!(rendered.starts_with("sp_credential_added_while_active_blog.kql:7:94: error: "));

    // With the commas removed, it parses; the join compares a column with itself, which is a
    // matter for the binder, not the parser.
    let fixed = src
        .replacen("TargetResources[0].id),\n", "TargetResources[0].id)\n", 1)
        .replace(
            "TargetResources[0].ipAddress)),\n",
            "TargetResources[0].ipAddress))\n",
        );
    let q = parse_ok(&fixed);
    assert_eq!(
        let_names(&q),
        ["timeRange", "maxTimeBetweenSecretMgmtandSigninInMinutes"]
    );
    assert_eq!(
        op_names(q.body().unwrap()),
        [
            "where",
            "where",
            "extend",
            "extend",
            "project",
            "join",
            "where",
            "extend",
            "where",
            "summarize",
            "project"
        ]
    );
}
