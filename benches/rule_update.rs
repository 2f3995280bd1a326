//! Criterion bench of a single rule update: a rule's dataflow holds a day of service principal
//! sign-ins (and for the rare-activity rule, two weeks of audit records); each iteration hands
//! one new record at the next tick and steps until the probe has passed it. The time per
//! iteration is the rule's update latency on one worker.
//!
//! ```sh
//! cargo bench --bench rule_update
//! ```

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use differential_dataflow::input::Input;
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::Probe;

use kqlflow::catalog::Catalog;
use kqlflow::demo::{RULES, allowlist, json, row};
use kqlflow::exec::{Layouts, Sources, columns_read, render, watchlist_sources};
use kqlflow::model::{Row, TICKS_PER_SECOND as S, Value};
use kqlflow::plan::{BindOptions, Program};
use kqlflow::rules::Rule;

/// 2024-05-01T00:00:00Z.
const T0: i64 = kqlflow::demo::T0;

fn program(file: &str) -> Program {
    let text = RULES
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
        .unwrap_or_default();
    let rule = Rule::from_yaml(text, std::path::Path::new(file)).expect("a built-in rule");
    let q = kqlflow::kql::parse(&rule.query).expect("parses");
    let mut opts = BindOptions {
        query_period: rule.query_period,
        ..BindOptions::default()
    };
    opts.watchlists
        .insert("NetworkAllowlist".into(), allowlist().columns.clone());
    kqlflow::plan::bind(&rule.query, &q, Catalog::builtin(), &opts).expect("binds")
}

/// A service principal sign-in: `k` picks the principal, address and result.
fn sp_signin(t: i64, k: usize) -> (String, (i64, Row)) {
    let failed = k.is_multiple_of(10);
    (
        "AADServicePrincipalSignInLogs".into(),
        row(
            "AADServicePrincipalSignInLogs",
            t,
            &[
                ("ServicePrincipalName", Value::str(format!("sp-{}", k % 50))),
                (
                    "ServicePrincipalId",
                    Value::str(format!("sp-{}-id", k % 50)),
                ),
                ("AppId", Value::str(format!("app-{}", k % 50))),
                ("IPAddress", Value::str(format!("203.0.113.{}", k % 200))),
                (
                    "ResultType",
                    Value::str(if failed { "7000215" } else { "0" }),
                ),
                ("ResourceDisplayName", Value::str("Microsoft Graph")),
                ("Location", Value::str("US")),
            ],
        ),
    )
}

/// An audit record by an application.
fn audit(t: i64, k: usize) -> (String, (i64, Row)) {
    (
        "AuditLogs".into(),
        row(
            "AuditLogs",
            t,
            &[
                ("OperationName", Value::str(format!("Operation {}", k % 40))),
                ("Category", Value::str("ApplicationManagement")),
                ("Result", Value::str("success")),
                (
                    "InitiatedBy",
                    json(&format!(
                        r#"{{"app":{{"displayName":"app-{}","servicePrincipalId":"sp-{}-id"}}}}"#,
                        k % 30,
                        k % 30
                    )),
                ),
                (
                    "TargetResources",
                    json(r#"[{"userPrincipalName":"alice@contoso.com","displayName":"alice"}]"#),
                ),
            ],
        ),
    )
}

/// Runs `program`'s dataflow on one worker with `base` loaded, and answers requests to
/// time `n` single-record updates made by `next(k)`.
fn serve(
    program: Program,
    base: Vec<(String, (i64, Row))>,
    next: fn(i64, usize) -> (String, (i64, Row)),
    requests: mpsc::Receiver<u64>,
    answers: mpsc::Sender<Duration>,
) {
    // timely wants a closure it could share between threads: the channel goes in a mutex.
    let requests = std::sync::Mutex::new(requests);
    timely::execute_directly(move |worker| {
        let tables: Vec<String> = columns_read(&program).into_keys().collect();
        // Records hold only the columns the rule reads, as the runtime feeds them.
        let layouts = Layouts::of([&program]);
        let probe = ProbeHandle::new();
        let mut handles = worker.dataflow::<u64, _, _>(|scope| {
            let mut handles = HashMap::new();
            let mut sources = Sources {
                tables: HashMap::new(),
                watchlists: HashMap::new(),
                layouts: layouts.clone(),
            };
            for t in &tables {
                let (h, c) = scope.new_collection::<Row, isize>();
                handles.insert(t.clone(), h);
                sources.tables.insert(t.clone(), c);
            }
            // The watchlists, fed once at tick 0.
            let lists = HashMap::from([("NetworkAllowlist".to_string(), allowlist())]);
            for (name, changes) in watchlist_sources(&program, &lists) {
                let (mut h, c) = scope.new_collection::<Row, isize>();
                for (_, r, diff) in changes {
                    h.update(r, diff);
                }
                // Kept outside this closure, as the runtime does: a session given data and
                // dropped while the dataflow is being built never reports its messages, and the
                // dataflow would stay at tick 0.
                handles.insert(format!("watchlist {name}"), h);
                sources.watchlists.insert(name, c);
            }
            let out = render(&program, &sources, S, 0).expect("renders");
            out.inner.probe_with(&probe);
            handles
        });
        let mut now = 0u64;
        type Handles = HashMap<String, differential_dataflow::input::InputSession<u64, Row, isize>>;
        fn feed(
            handles: &mut Handles,
            layouts: &Layouts,
            now: &mut u64,
            rows: Vec<(String, (i64, Row))>,
        ) {
            for (table, (t, r)) in rows {
                let tick = kqlflow::runtime::tick_of(t, S);
                if tick > *now {
                    for h in handles.values_mut() {
                        h.advance_to(tick);
                    }
                    *now = tick;
                }
                if let Some(h) = handles.get_mut(&table) {
                    h.update(layouts.narrow(&table, r), 1);
                }
            }
        }
        let mut base = base;
        base.sort_by_key(|(_, (t, _))| *t);
        let mut last = base.last().map(|(_, (t, _))| *t).unwrap_or(T0);
        // The base in batches of 256 records, each let through before the next (one step
        // over tens of thousands of distinct ticks is far slower).
        let mut base = base.into_iter().peekable();
        while base.peek().is_some() {
            let chunk: Vec<_> = base.by_ref().take(256).collect();
            feed(&mut handles, &layouts, &mut now, chunk);
            for h in handles.values_mut() {
                h.advance_to(now + 1);
                h.flush();
            }
            worker.step_while(|| probe.less_equal(&now));
        }
        let mut k = 0usize;
        let Ok(requests) = requests.lock() else {
            return;
        };
        while let Ok(n) = requests.recv() {
            let start = Instant::now();
            for _ in 0..n {
                last += S;
                k += 1;
                feed(&mut handles, &layouts, &mut now, vec![next(last, k)]);
                for h in handles.values_mut() {
                    h.advance_to(now + 1);
                    h.flush();
                }
                worker.step_while(|| probe.less_equal(&now));
            }
            if answers.send(start.elapsed()).is_err() {
                break;
            }
        }
    });
}

fn bench_rule(
    c: &mut Criterion,
    name: &str,
    file: &str,
    base: Vec<(String, (i64, Row))>,
    next: fn(i64, usize) -> (String, (i64, Row)),
) {
    let program = program(file);
    let (req_tx, req_rx) = mpsc::channel();
    let (ans_tx, ans_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || serve(program, base, next, req_rx, ans_tx));
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            req_tx.send(iters).expect("the worker is running");
            ans_rx.recv().expect("the worker answers")
        })
    });
    drop(req_tx);
    let _ = worker.join();
}

fn rule_updates(c: &mut Criterion) {
    // A day of sign-ins, one every 2 seconds: 43 200 records.
    let signins: Vec<_> = (0..43_200usize)
        .map(|k| sp_signin(T0 + k as i64 * 2 * S, k))
        .collect();
    bench_rule(
        c,
        "sp_signin_failures: one sign-in over a day of 43k",
        "sp_signin_failures.yaml",
        signins.clone(),
        sp_signin,
    );
    bench_rule(
        c,
        "sp_signin_volume_anomaly: one sign-in over a day of 43k",
        "sp_signin_volume_anomaly.yaml",
        signins,
        sp_signin,
    );
    // Two weeks of audit records by apps, one a minute: 20 160 records.
    let audits: Vec<_> = (0..20_160usize)
        .map(|k| audit(T0 + k as i64 * 60 * S, k))
        .collect();
    bench_rule(
        c,
        "rare_audit_activity_by_app: one audit record over 14 days of 20k",
        "rare_audit_activity_by_app.yaml",
        audits,
        audit,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = rule_updates
}
criterion_main!(benches);
