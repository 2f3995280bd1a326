//! Loads the 26 public Sentinel rules in `../shared/corpus/sentinel-rules/` and parses their
//! queries, reporting every failure with its file position.
//!
//! Reads the public corpus under `../shared/corpus`: compiled only with `--features corpus`.

#![cfg(feature = "corpus")]

use std::path::{Path, PathBuf};

use kqlflow::kql::{self, ExprKind, LetValue, Statement};
use kqlflow::model::{TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE};
use kqlflow::rules::{Rule, load_rule};

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sentinel-rules");
    assert!(
        dir.is_dir(),
        "{} is absent: the `corpus` feature needs the public corpus in ../shared beside the checkout",
        dir.display()
    );
    dir
}

fn rule_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_rule_loads_and_parses() {
    let dir = corpus_dir();
    let files = rule_files(&dir);
    assert_eq!(files.len(), 26, "expected the 26 corpus rules");
    let mut parsed = 0;
    let mut failures = Vec::new();
    for f in &files {
        let rule = match load_rule(f) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("load: {e}"));
                continue;
            }
        };
        match rule.parse_query_all() {
            Ok(q) => {
                parsed += 1;
                // Printing and re-parsing gives the same tree.
                let printed = q.to_string();
                let again = kql::parse(&printed).unwrap_or_else(|e| {
                    panic!("{}: reprint does not parse: {e}\n{printed}", f.display())
                });
                assert_eq!(again.to_string(), printed, "{}", f.display());
            }
            Err(errs) => {
                for e in errs {
                    failures.push(e.to_string());
                }
            }
        }
    }
    println!("{parsed}/{} rules parse", files.len());
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        parsed >= 24,
        "only {parsed} of 26 rules parse:\n{}",
        failures.join("\n")
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

fn load(name: &str) -> Rule {
    load_rule(corpus_dir().join(name)).unwrap()
}

#[test]
fn rule_metadata() {
    let r = load("Lumen_IPEntity_IdentityLogonEvents.yaml");
    assert_eq!(r.query_frequency, Some(4 * TICKS_PER_HOUR));
    assert_eq!(r.query_period, Some(14 * TICKS_PER_DAY));
    assert_eq!(r.suppression_duration, Some(5 * TICKS_PER_HOUR));
    assert_eq!(r.suppression_enabled, Some(false));
    assert_eq!(r.kind.as_deref(), Some("Scheduled"));
    assert!(r.field("displayName").is_some());

    let r = load("AccountCreatedandDeletedinShortTimeframe.yaml");
    assert_eq!(r.id, "bb616d82-108f-47d3-9dec-9652ea0d3bf6");
    assert_eq!(r.severity.as_deref(), Some("High"));
    assert_eq!(r.query_frequency, Some(TICKS_PER_HOUR));
    // `queryPeriod: 7d // Increased …`: the comment is ignored with a warning.
    assert_eq!(r.query_period, Some(7 * TICKS_PER_DAY));
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.trigger_operator.as_deref(), Some("gt"));
    assert_eq!(r.trigger_threshold, Some(0));
    assert_eq!(r.tactics, ["InitialAccess"]);
    assert_eq!(r.relevant_techniques, ["T1078.004"]);
    assert_eq!(r.entity_mappings.len(), 7);
    assert_eq!(r.entity_mappings[5].entity_type, "IP");
    assert_eq!(r.entity_mappings[5].field_mappings[0].identifier, "Address");
    assert_eq!(
        r.entity_mappings[5].field_mappings[0].column_name,
        "CreatedByIPAddress"
    );
    assert_eq!(
        r.required_data_connectors[0].connector_id,
        "AzureActiveDirectory"
    );
    assert_eq!(r.required_data_connectors[0].data_types, ["SigninLogs"]);
    assert_eq!(r.version.as_deref(), Some("1.1.0"));
    assert!(r.field("tags").is_some());
    assert_eq!(r.query_location.line, 23);
    assert_eq!(r.query_location.column_offset, 2);

    let r = load("Conditional Access - A Conditional Access policy was disabled.yaml");
    assert_eq!(r.query_frequency, Some(5 * TICKS_PER_MINUTE));
    assert_eq!(
        r.event_grouping_settings
            .as_ref()
            .unwrap()
            .aggregation_kind
            .as_deref(),
        Some("AlertPerResult")
    );
    assert!(r.field("incidentConfiguration").is_some());

    let r = load("SigninPasswordSpray.yaml");
    // A 4-space indented block.
    assert_eq!(r.query_location.column_offset, 4);
}

#[test]
fn query_positions_map_to_the_yaml_file() {
    let r = load("FailedSigninsWithAuditDetails.yaml");
    // The block starts with an empty line: query line 2 is `let starttime = …` on file line 21.
    let off = r.query.find("let starttime").unwrap();
    let p = r.query_position(off);
    let text = std::fs::read_to_string(r.path.as_ref().unwrap()).unwrap();
    let line = text.lines().nth(p.line - 1).unwrap();
    assert_eq!(&line[p.column - 1..p.column - 1 + 13], "let starttime");

    // Every token of every rule maps to the same text in the file.
    let dir = corpus_dir();
    for f in rule_files(&dir) {
        let r = load_rule(&f).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for tok in kql::tokenize(&r.query).unwrap() {
            let word = &r.query[tok.span.start..tok.span.end];
            if word.is_empty() || word.contains('\n') {
                continue;
            }
            let p = r.query_position(tok.span.start);
            let line = lines[p.line - 1];
            let at: String = line
                .chars()
                .skip(p.column - 1)
                .take(word.chars().count())
                .collect();
            assert_eq!(at, word, "{}:{p}", f.display());
        }
    }
}

#[test]
fn corpus_structure() {
    let r = load("UserAssignedPrivilegedRole.yaml");
    let q = r.parse_query().unwrap();
    let lets: Vec<_> = q.lets().map(|l| l.name.name.as_str()).collect();
    assert_eq!(
        lets,
        [
            "starttime",
            "endtime",
            "lookback",
            "awsFunc",
            "EventInfo_CurrentDay",
            "EventInfo_historical",
            "EventInfo_Unseen"
        ]
    );
    let Some(Statement::Let(f)) = q.statements.get(3) else {
        panic!()
    };
    let LetValue::Function(def) = &f.value else {
        panic!("awsFunc is a function")
    };
    assert_eq!(def.params.len(), 2);
    let ops: Vec<_> = q
        .body()
        .unwrap()
        .operators()
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(ops, ["extend", "extend", "project", "extend"]);

    let r = load("TimeSeriesAnomaly_Mass_Cloud_Resource_Deletions.yaml");
    let q = r.parse_query().unwrap();
    let Some(Statement::Let(ts)) = q.statements.get(4) else {
        panic!()
    };
    let LetValue::Expr(e) = &ts.value else {
        panic!()
    };
    let ops: Vec<_> = e.operators().iter().map(|o| o.name()).collect();
    assert_eq!(ops, ["where", "where", "project", "make-series"]);

    let r = load("AzureRunCommandFromAzureIP.yaml");
    let q = r.parse_query().unwrap();
    let Some(Statement::Let(ranges)) = q.statements.first() else {
        panic!()
    };
    let LetValue::Expr(e) = &ranges.value else {
        panic!()
    };
    let (source, _) = e.as_pipe().unwrap();
    assert!(matches!(source.kind, ExprKind::ExternalData { .. }));
    let ops: Vec<_> = q
        .body()
        .unwrap()
        .operators()
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(ops.iter().filter(|o| **o == "evaluate").count(), 1);
}
