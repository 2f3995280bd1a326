//! Loading a rule file: errors name the file and the position in it (YAML syntax, bad values
//! at their key), unknown keys are kept, and query errors point into the file.

use std::path::Path;

use kqlflow::rules::load_rule;

#[test]
fn load_errors_name_the_file_and_position() {
    let e = load_rule("/nonexistent/dir/rule.yaml").unwrap_err();
    assert_eq!(e.path, Path::new("/nonexistent/dir/rule.yaml"));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/dir/rule.yaml: cannot read the rule file"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // A YAML syntax error: position from the YAML parser.
    let p = write("bad.yaml", "id: a\nname: b\nquery: |\n  T\n tactics: [\n");
    let e = load_rule(&p).unwrap_err();
    assert_eq!(e.path, p);
    let pos = e.position.expect("the YAML parser gives a position");
    assert_eq!(pos.line, 5, "{e}");
    assert!(e.message.starts_with("invalid YAML: "), "{e}");
    assert!(
        e.to_string().starts_with(&format!("{}:5:", p.display())),
        "{e}"
    );

    // A bad value: position of its key.
    let p = write(
        "period.yaml",
        "id: a\nname: b\nqueryPeriod: often\nquery: T\n",
    );
    let e = load_rule(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:14: invalid duration 'often' for `queryPeriod`: expected ISO 8601 (PT1H, P14D, PT5M) or a KQL timespan (1h, 14d, 5m)",
            p.display()
        )
    );
    let p = write(
        "thr.yaml",
        "id: a\nname: b\ntriggerThreshold: lots\nquery: T\n",
    );
    assert!(
        load_rule(&p)
            .unwrap_err()
            .message
            .contains("`triggerThreshold` must be an integer")
    );
    let p = write("tac.yaml", "id: a\nname: b\ntactics: {a: 1}\nquery: T\n");
    assert!(
        load_rule(&p)
            .unwrap_err()
            .message
            .contains("`tactics` must be a list of strings")
    );

    // Unknown keys are kept, not rejected; a query error points into the file.
    let p = write(
        "ok.yaml",
        "id: a\nname: b\nfancyNewKey:\n  nested: [1, 2]\nquery: |-\n    SigninLogs\n    | where x ==\n",
    );
    let r = load_rule(&p).unwrap();
    assert!(r.field("fancyNewKey").is_some());
    let e = r.parse_query().unwrap_err();
    assert_eq!(e.path, p);
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((7, 17)));
}
