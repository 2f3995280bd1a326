//! The public network beaconing rules (`sort` into source sessions, `serialize`, `next()` for
//! the time to the next contact, then `series_stats`, `series_outliers` and `arg_max` with
//! named columns) on both engines: over two days of periodic beacons and noise, at every other
//! hourly tick, the incremental engine's rows equal the batch evaluator's, on 1 and 3 workers.
//!
//! Reads the public corpus under `../shared/corpus`: compiled only with `--features corpus`.

#![cfg(feature = "corpus")]

use std::collections::HashMap;
use std::path::Path;

use kqlflow::catalog::Catalog;
use kqlflow::eval::{Data, evaluate};
use kqlflow::exec::{run_program, strip_presentation, watchlist_sources};
use kqlflow::model::{Row, TICKS_PER_HOUR as H, TICKS_PER_MINUTE as MIN, Type, Value};
use kqlflow::plan::{self, BindOptions, Program};
use kqlflow::runtime::{ClusterOptions, snapshot};

const T0: i64 = kqlflow::demo::T0;

/// The rule's query bound with its query period (its own `ago()` filters bound the scans).
fn rule_program(name: &str) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/sentinel-other")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the `corpus` feature needs ../shared beside the checkout)",
            path.display()
        )
    });
    let rule = kqlflow::rules::Rule::from_yaml(&text, &path).unwrap();
    let q = kqlflow::kql::parse(&rule.query).unwrap();
    let opts = BindOptions {
        query_period: rule.query_period,
        ..BindOptions::default()
    };
    let mut p = plan::bind(&rule.query, &q, Catalog::builtin(), &opts)
        .unwrap_or_else(|e| panic!("{}", e.render(&rule.query, name)));
    p.root = strip_presentation(&p.root).clone();
    p
}

/// A record of `table` at `t` with the given columns (by name; numbers go into numeric
/// columns, text into string columns).
fn record(table: &str, t: i64, cols: &[(&str, &str)]) -> (i64, Row) {
    let tab = Catalog::builtin().table(table).unwrap();
    let mut row = tab.schema.empty_row();
    row[tab.schema.index_of("TimeGenerated").unwrap()] = Value::DateTime(t);
    for (name, v) in cols {
        let i = tab
            .schema
            .index_of(name)
            .unwrap_or_else(|| panic!("{table} has no column {name}"));
        row[i] = match tab.schema.columns()[i].ty {
            Type::Int | Type::Long => Value::Long(v.parse().unwrap()),
            Type::Real => Value::Real(v.parse().unwrap()),
            _ => Value::str(v),
        };
    }
    (t, row)
}

/// Two days of beacons (one source calling a public address every 3 minutes, another every
/// 6 minutes 90 seconds later) and of irregular noise from a third source, some of it twice.
fn traffic(mut make: impl FnMut(i64, &str, &str, &str) -> (i64, Row)) -> Vec<(i64, Row)> {
    let mut out = Vec::new();
    for k in 0..(48 * 20) {
        let t = T0 + k * 3 * MIN;
        out.push(make(t, "10.0.0.5", "203.0.113.9", "443"));
        if k % 2 == 0 {
            out.push(make(
                t + 90 * 10_000_000,
                "10.0.0.6",
                "198.51.100.7",
                "8080",
            ));
        }
        if k % 5 == 0 {
            let noise = (k * 104_729) % (50 * MIN);
            out.push(make(t + noise, "10.0.0.7", "192.0.2.44", "53"));
            if k % 15 == 0 {
                // A repeated record: two copies in the serialized set.
                out.push(make(t + noise, "10.0.0.7", "192.0.2.44", "53"));
            }
        }
    }
    out
}

fn compare(name: &str, table: &str, rows: &[(i64, Row)], workers: usize) {
    let p = rule_program(name);
    let cluster = ClusterOptions {
        workers,
        ..ClusterOptions::default()
    };
    let changes = run_program(
        &p,
        &[(table.to_string(), rows.to_vec())],
        &watchlist_sources(&p, &HashMap::new()),
        &cluster,
        H,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let data = Data {
        tables: HashMap::from([(table.to_string(), rows.to_vec())]),
        watchlists: HashMap::new(),
    };
    let mut nonempty = 0;
    let mut t = T0;
    while t <= T0 + 72 * H {
        let mut inc = Vec::new();
        for (row, n) in snapshot(&changes, t as u64) {
            assert!(n > 0, "{name}: negative multiplicity at {t}: {row:?}");
            for _ in 0..n {
                inc.push(row.clone());
            }
        }
        let mut batch = evaluate(&p, &data, t);
        inc.sort();
        batch.sort();
        assert_eq!(inc, batch, "{name} at tick {t} on {workers} workers");
        nonempty += usize::from(!batch.is_empty());
        t += 2 * H;
    }
    assert!(nonempty > 0, "{name} found no beacon at any tick");
}

#[test]
fn palo_alto_beaconing_on_both_engines() {
    let rows = traffic(|t, src, dst, port| {
        record(
            "CommonSecurityLog",
            t,
            &[
                ("DeviceVendor", "Palo Alto Networks"),
                ("Activity", "TRAFFIC"),
                ("DeviceName", "fw1"),
                ("SourceUserID", "u1"),
                ("SourceIP", src),
                ("SourcePort", "50000"),
                ("DestinationIP", dst),
                ("DestinationPort", port),
                ("ReceivedBytes", "100"),
                ("SentBytes", "200"),
            ],
        )
    });
    for workers in [1, 3] {
        compare(
            "PaloAlto-NetworkBeaconing.yaml",
            "CommonSecurityLog",
            &rows,
            workers,
        );
    }
}

#[test]
fn wire_data_beaconing_on_both_engines() {
    let rows = traffic(|t, src, dst, port| {
        record(
            "WireData",
            t,
            &[
                ("LocalIP", src),
                ("LocalPortNumber", "50000"),
                ("RemoteIP", dst),
                ("RemotePortNumber", port),
                ("ReceivedBytes", "100"),
                ("SentBytes", "200"),
            ],
        )
    });
    for workers in [1, 3] {
        compare("WireDataBeacon.yaml", "WireData", &rows, workers);
    }
}

#[test]
fn fortinet_beacon_pattern_on_both_engines() {
    let rows = traffic(|t, src, dst, port| {
        record(
            "CommonSecurityLog",
            t,
            &[
                ("DeviceVendor", "Fortinet"),
                ("DeviceAction", "accept"),
                ("SourceIP", src),
                ("DestinationIP", dst),
                ("DestinationPort", port),
                ("ReceivedBytes", "100"),
                ("SentBytes", "200"),
            ],
        )
    });
    for workers in [1, 3] {
        compare(
            "Fortinet-NetworkBeaconPattern.yaml",
            "CommonSecurityLog",
            &rows,
            workers,
        );
    }
}
