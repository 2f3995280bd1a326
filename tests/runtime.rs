//! The runtime driver: ticks, feeding, gathering the output, and the same answer on any number
//! of workers.

use std::sync::Arc;

use kqlflow::model::{TICKS_PER_SECOND as S, Value};
use kqlflow::runtime::{ClusterOptions, Event, Rows, run_dataflow, snapshot, tick_of};

/// Counts rows per key (the row's first value) over both inputs: [key, count].
fn count_by_key(inputs: Vec<Rows<'_>>) -> Rows<'_> {
    let mut it = inputs.into_iter();
    let first = it.next().expect("two inputs");
    let all = it.fold(first, |acc, c| acc.concat(c));
    all.map(|row| (row[0].clone(), ()))
        .count()
        .map(|((key, ()), n)| vec![key, Value::Long(n as i64)])
}

fn events() -> Vec<Event> {
    let ev = |input: usize, time: i64, key: &str| Event {
        input,
        time,
        row: vec![Value::str(key), Value::Long(time)],
        diff: 1,
    };
    vec![
        ev(0, 15 * S / 10, "alice"),
        ev(1, 2 * S, "bob"),
        ev(0, 21 * S / 10, "alice"),
        ev(0, 5 * S, "carol"),
        ev(1, S, "alice"),
        ev(0, 21 * S / 10, "bob"),
    ]
}

#[test]
fn ticks_round_up() {
    assert_eq!(tick_of(15 * S / 10, S), 2 * S as u64);
    assert_eq!(tick_of(2 * S, S), 2 * S as u64);
    assert_eq!(tick_of(0, S), 0);
    assert_eq!(tick_of(-5, S), 0);
}

#[test]
fn counts_change_tick_by_tick_and_agree_across_workers() {
    let events = Arc::new(events());
    let one = run_dataflow(
        &ClusterOptions::default(),
        S,
        2,
        events.clone(),
        count_by_key,
    )
    .unwrap();
    let alice = |n: i64| vec![Value::str("alice"), Value::Long(n)];
    let at = |secs: i64| snapshot(&one, (secs * S) as u64);
    assert_eq!(at(1), vec![(alice(1), 1)]);
    assert_eq!(
        at(2),
        vec![(alice(2), 1), (vec![Value::str("bob"), Value::Long(1)], 1)]
    );
    assert_eq!(at(3).len(), 2);
    assert!(at(3).contains(&(alice(3), 1)));
    assert!(at(3).contains(&(vec![Value::str("bob"), Value::Long(2)], 1)));
    assert_eq!(at(5).len(), 3);
    for workers in [2, 3] {
        let cluster = ClusterOptions {
            workers,
            ..ClusterOptions::default()
        };
        let many = run_dataflow(&cluster, S, 2, events.clone(), count_by_key).unwrap();
        assert_eq!(many, one, "{workers} workers");
    }
}

#[test]
fn bad_cluster_options_are_errors() {
    let e = ClusterOptions {
        workers: 0,
        ..ClusterOptions::default()
    }
    .timely_config()
    .unwrap_err();
    assert!(e.contains("-w"), "{e}");
    let e = ClusterOptions {
        processes: 2,
        process: 2,
        ..ClusterOptions::default()
    }
    .timely_config()
    .unwrap_err();
    assert!(e.contains("-p 2"), "{e}");
    let e = ClusterOptions {
        processes: 2,
        hostfile: Some("/no/such/hosts".into()),
        ..ClusterOptions::default()
    }
    .timely_config()
    .unwrap_err();
    assert!(e.contains("hostfile"), "{e}");
}
