//! The parser must never panic, never overflow the stack, and stay near-linear in time.

use kqlflow::kql::{self, MAX_DEPTH};
use proptest::prelude::*;

/// Runs `f` on a thread with a 2 MiB stack (Rust's default for spawned threads and tests), so a
/// recursion that would overflow on a default thread fails here too.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `n` nestings of `open`…`close` around `inner`, in a `where` clause.
fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("T | where {}{inner}{}", open.repeat(n), close.repeat(n))
}

const SHAPES: &[(&str, &str, &str)] = &[
    ("(", "x", ")"),
    ("f(", "x", ")"),
    ("not(", "x", ")"),
    ("-", "x", ""),
    ("x[", "0", "]"),
    ("toscalar(T | where ", "x", ")"),
    ("x in (", "1", ")"),
    ("x between (", "1", " .. 2)"),
    ("a + (", "x", ")"),
    ("a or b and c == d + e * (", "x", ")"),
    ("f(a, (", "x", "))"),
    ("(T | where ", "x", ")"),
    ("x has_any (T | where ", "x", ")"),
];

/// Openers that nest; each is closed by the matching entry of `CLOSERS`.
const OPENERS: &[&str] = &[
    "(",
    "f(",
    "not(",
    "-",
    "x[",
    "toscalar(T | where ",
    "x in (",
    "x between (",
    "a + (",
    "a or b and c == d + e * (",
    "f(a, (",
    "(T | extend y = ",
    "x.y[",
    "materialize(union (T | where ",
];
const CLOSERS: &[&str] = &[
    ")", ")", ")", "", "]", ")", ")", " .. 1)", ")", ")", "))", ")", "]", "))",
];

/// Nested arrays and property bags inside one `dynamic(…)`.
fn nested_dynamic(n: usize) -> [String; 2] {
    [
        format!("print d = dynamic({}1{})", "[".repeat(n), "]".repeat(n)),
        format!("print d = dynamic({}1{})", "{'a':".repeat(n), "}".repeat(n)),
    ]
}

#[test]
fn deepest_allowed_nesting_fits_a_small_stack() {
    on_small_stack(|| {
        for &(open, inner, close) in SHAPES {
            // Around the limit: a tree or a depth error, never an overflow.
            for n in [
                MAX_DEPTH / 4,
                MAX_DEPTH / 2 - 2,
                MAX_DEPTH - 2,
                MAX_DEPTH + 2,
            ] {
                let src = nested(open, inner, close, n);
                if let Err(e) = kql::parse(&src) {
                    assert!(e.message.contains("nested too deeply"), "{open}: {e}");
                }
            }
            // A realistic depth always parses.
            kql::parse(&nested(open, inner, close, 30)).unwrap();
        }
        kql::parse(&nested("(", "x", ")", MAX_DEPTH - 5)).unwrap();
        for src in nested_dynamic(MAX_DEPTH - 2) {
            kql::parse(&src).unwrap();
        }
        // Nested let-function bodies and mv-apply subqueries.
        let n = MAX_DEPTH - 2;
        let src = format!("{}T{};\nf()", "let f = () { ".repeat(n), " }".repeat(n));
        // Function bodies need a result after their lets, so this is a syntax error, not a
        // depth error or a crash.
        let _ = kql::parse(&src);
        let src = format!(
            "T {} | take 1 {}",
            "| mv-apply x = y on (where a ".repeat(n / 2),
            ")".repeat(n / 2)
        );
        let _ = kql::parse(&src);
    });
}

#[test]
fn ten_thousand_nested_parentheses_are_an_error_not_a_crash() {
    on_small_stack(|| {
        for &(open, inner, close) in SHAPES {
            let src = nested(open, inner, close, 10_000);
            let e = kql::parse(&src).unwrap_err();
            assert!(
                e.message.contains("nested too deeply"),
                "{open}: {}",
                e.message
            );
        }
        for src in nested_dynamic(10_000) {
            assert!(
                kql::parse(&src)
                    .unwrap_err()
                    .message
                    .contains("nested too deeply")
            );
        }
        let src = "(".repeat(10_000);
        assert!(
            kql::parse(&src)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
        let src = format!("{}T", "let f = () { ".repeat(10_000));
        assert!(
            kql::parse(&src)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
        let src = format!("T{}", " | mv-apply x = y on (where a".repeat(10_000));
        assert!(
            kql::parse(&src)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
    });
}

#[test]
fn long_left_associative_chains_are_bounded() {
    on_small_stack(|| {
        // `and`/`or` chains are flat: any length is fine.
        let src = format!("T | where {}", vec!["a == 1"; 20_000].join(" or "));
        let q = kql::parse(&src).unwrap();
        drop(q);
        // Other chains build deep trees: too deep is an error, not a later stack overflow.
        for op in [" + ", " * ", " == ", " has "] {
            let src = format!("T | where {}", vec!["a"; 20_000].join(op));
            let e = kql::parse(&src).unwrap_err();
            assert!(
                e.message.contains("nested too deeply"),
                "{op}: {}",
                e.message
            );
        }
        let src = format!("T | extend y = x{}", ".a".repeat(20_000));
        assert!(
            kql::parse(&src)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
        let src = format!("T | extend y = x{}", "[0]".repeat(20_000));
        assert!(
            kql::parse(&src)
                .unwrap_err()
                .message
                .contains("nested too deeply")
        );
        // A chain within the limit parses, prints and drops on a small stack.
        let src = format!("T | where {}", vec!["a"; 400].join(" + "));
        let q = kql::parse(&src).unwrap();
        let printed = q.to_string();
        assert!(printed.len() > 1000);
        let _ = format!("{q:?}");
    });
}

#[test]
fn long_pipelines_and_big_inputs_parse() {
    on_small_stack(|| {
        // 20k operators in one pipeline.
        let mut src = String::from("T");
        for i in 0..20_000 {
            src.push_str(&format!("\n| where c{i} > {i}"));
        }
        let q = kql::parse(&src).unwrap();
        assert_eq!(q.body().unwrap().operators().len(), 20_000);
        let printed = q.to_string();
        assert_eq!(kql::parse(&printed).unwrap().to_string(), printed);

        // A seed query repeated to about 1 MB, as `let` statements.
        let seed = "SigninLogs | where TimeGenerated > ago(1h) and ResultType in (\"50126\", \
                    \"50053\") | extend U = tolower(UserPrincipalName) | summarize n = count(), \
                    ips = make_set(IPAddress, 5) by U, bin(TimeGenerated, 5m)";
        let mut big = String::new();
        let mut i = 0;
        while big.len() < 1 << 20 {
            big.push_str(&format!("let q{i} = {seed};\n"));
            i += 1;
        }
        big.push_str("q0");
        let q = kql::parse(&big).unwrap();
        assert_eq!(q.lets().count(), i);

        // Large flat lists.
        let src = format!(
            "T | where x in ({})",
            (0..50_000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        kql::parse(&src).unwrap();
        let src = format!(
            "T | extend {}",
            (0..20_000)
                .map(|i| format!("c{i} = {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        kql::parse(&src).unwrap();
        let src = format!(
            "print x = dynamic([{}])",
            (0..50_000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        kql::parse(&src).unwrap();
        let src = format!("print s = {}", vec!["'ab'"; 50_000].join(" "));
        kql::parse(&src).unwrap();
    });
}

/// Queries to mutate: two written here, the built-in pack's (`dataflows/`), and with
/// `--features corpus` the seed queries of the public corpus in `../shared`.
fn seed_queries() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![
        "let x = 5; T | where a > x and b has 'c' | summarize count() by bin(TimeGenerated, 1h)"
            .to_string(),
        "T | join kind=leftouter (U | project a, b) on $left.a == $right.b | mv-expand c to typeof(string)"
            .to_string(),
    ];
    let files = |dir: &std::path::Path, ext: &str| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|f| f.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        files
    };
    for f in files(&root.join("dataflows"), "yaml") {
        out.push(kqlflow::rules::load_rule(&f).unwrap().query);
    }
    if cfg!(feature = "corpus") {
        for f in files(&root.join("../shared/corpus/seed-queries"), "kql") {
            out.push(std::fs::read_to_string(&f).unwrap());
        }
    }
    out
}

/// Splits text into rough tokens (by the lexer when it succeeds) for mutation.
fn pieces(src: &str) -> Vec<String> {
    match kql::tokenize(src) {
        Ok(toks) => {
            let mut out = Vec::new();
            let mut last = 0;
            for t in toks {
                if t.span.start > last {
                    out.push(src[last..t.span.start].to_string());
                }
                out.push(src[t.span.start..t.span.end].to_string());
                last = t.span.end;
            }
            out
        }
        Err(_) => vec![src.to_string()],
    }
}

const INSERTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "|",
    ",",
    ";",
    "'",
    "\"",
    "@'",
    "```",
    "..",
    ".",
    "=",
    "==",
    "!",
    "!in~",
    "let",
    "where",
    "summarize",
    "by",
    "on",
    "join",
    "kind=",
    "union",
    "mv-apply",
    "to typeof(",
    "datetime(",
    "dynamic(",
    "between",
    "$left.",
    "*",
    "-",
    "1d",
    "0x",
    "1e",
    "h'",
    "//",
    "\n",
    "as",
    "not(",
    "project-away",
    "{{x}}",
    "é",
    "\\",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any mix of nesting constructs, however deep, ends in an error or a tree, never in a
    /// stack overflow (which would abort the whole test binary).
    #[test]
    fn mixed_deep_nesting_never_overflows(kinds in proptest::collection::vec(0..OPENERS.len(), 2000)) {
        let mut src = String::from("T | where ");
        for &k in &kinds {
            src.push_str(OPENERS[k]);
        }
        src.push('x');
        for &k in kinds.iter().rev() {
            src.push_str(CLOSERS[k]);
        }
        let r = on_small_stack(move || kql::parse(&src).map(|_| ()).map_err(|e| e.message));
        prop_assert!(r.is_err_and(|m| m.contains("nested too deeply")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = kql::parse(&s);
        let _ = kql::parse_all(&s);
        let _ = kql::parse_expr(&s);
    }

    #[test]
    fn never_panics_on_kql_like_text(s in "[a-z_|(),.;:'\"\\[\\]{}=!<>~ 0-9*+/%@$-]{0,120}") {
        if let Ok(q) = kql::parse(&s) {
            // Whatever parses re-prints to text that parses to the same tree.
            let printed = q.to_string();
            let again = kql::parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
            prop_assert_eq!(again.to_string(), printed);
        }
    }

    #[test]
    fn never_panics_on_mutated_seed_queries(
        which in 0usize..16,
        edits in proptest::collection::vec((0usize..10_000, 0usize..3, 0usize..INSERTS.len()), 1..6),
    ) {
        let seeds = seed_queries();
        let mut toks = pieces(&seeds[which % seeds.len()]);
        for (pos, action, ins) in edits {
            let at = pos % (toks.len() + 1);
            match action {
                0 if at < toks.len() => { toks.remove(at); }
                1 => toks.insert(at, INSERTS[ins].to_string()),
                _ => toks.insert(at, toks.get(pos % toks.len().max(1)).cloned().unwrap_or_default()),
            }
        }
        let src: String = toks.concat();
        let r = kql::parse_all(&src);
        if let Ok(q) = r {
            let printed = q.to_string();
            let again = kql::parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
            prop_assert_eq!(again.to_string(), printed);
        } else if let Err(errs) = r {
            prop_assert!(!errs.is_empty());
            for e in errs {
                prop_assert!(e.span.start <= src.len() && e.span.end <= src.len());
                prop_assert!(!e.message.is_empty());
                let _ = e.render(&src, "q");
            }
        }
    }
}
