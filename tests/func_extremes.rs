//! No scalar function panics, whatever the values: every function of the registry is called
//! with extreme arguments (i64 min and max, NaN and infinities, negative and huge lengths and
//! indexes, empty, long and multi-byte strings, nested dynamics, nulls), every pair of them
//! for one or two arguments and a deterministic sample for more.

use std::panic::{AssertUnwindSafe, catch_unwind};

use kqlflow::func::{INTERNAL_FUNCTIONS, SCALAR_FUNCTIONS};
use kqlflow::model::Value;

fn nested(depth: usize) -> Value {
    let mut v = Value::Long(1);
    for _ in 0..depth {
        v = Value::array(vec![v]);
    }
    v
}

fn pool() -> Vec<Value> {
    let obj = kqlflow::model::from_json(
        &serde_json::from_str(r#"{"a":{"b":[1,2,{"c":null}]},"d":"x"}"#).unwrap(),
    );
    vec![
        Value::Null,
        Value::Bool(true),
        Value::Long(i64::MIN),
        Value::Long(i64::MAX),
        Value::Long(-1),
        Value::Long(0),
        Value::Long(3),
        Value::Long(1 << 40),
        Value::Real(f64::NAN),
        Value::Real(f64::INFINITY),
        Value::Real(f64::NEG_INFINITY),
        Value::Real(-0.0),
        Value::Real(1e308),
        Value::Real(-2.5),
        Value::DateTime(i64::MIN),
        Value::DateTime(i64::MAX),
        Value::DateTime(0),
        Value::TimeSpan(i64::MIN),
        Value::TimeSpan(i64::MAX),
        Value::TimeSpan(0),
        Value::str(""),
        Value::str("a,b;c=d 10.0.0.1/8 [KeyUsage=Verify]"),
        Value::str("é😀日本"),
        Value::str("((([[[\\"),
        Value::str("x".repeat(5_000)),
        Value::str("2024-05-01T10:00:00Z"),
        Value::str("-9223372036854775808"),
        Value::array(Vec::new()),
        Value::array(vec![Value::Long(1), Value::str("a"), Value::Null]),
        nested(200),
        obj,
    ]
}

/// A deterministic pseudo-random sequence (a 64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn no_scalar_function_panics_on_extreme_arguments() {
    let pool = pool();
    let mut panics: Vec<String> = Vec::new();
    let mut calls = 0u64;
    let mut rng = Lcg(42);
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for f in SCALAR_FUNCTIONS.iter().chain(INTERNAL_FUNCTIONS) {
        let max = f.max_args.min(5);
        for arity in f.min_args..=max {
            let mut tuples: Vec<Vec<Value>> = Vec::new();
            match arity {
                0 => tuples.push(Vec::new()),
                1 => tuples.extend(pool.iter().map(|v| vec![v.clone()])),
                2 => {
                    for a in &pool {
                        for b in &pool {
                            tuples.push(vec![a.clone(), b.clone()]);
                        }
                    }
                }
                _ => {
                    for _ in 0..600 {
                        tuples.push(
                            (0..arity)
                                .map(|_| pool[rng.next(pool.len())].clone())
                                .collect(),
                        );
                    }
                }
            }
            for args in tuples {
                calls += 1;
                if catch_unwind(AssertUnwindSafe(|| (f.eval)(&args))).is_err() {
                    let shown: Vec<String> = args
                        .iter()
                        .map(|a| {
                            let t = format!("{a:?}");
                            t.chars().take(60).collect()
                        })
                        .collect();
                    panics.push(format!("{}({})", f.name, shown.join(", ")));
                }
            }
        }
    }
    std::panic::set_hook(quiet);
    assert!(
        panics.is_empty(),
        "{} of {calls} calls panicked, first: {:#?}",
        panics.len(),
        &panics[..panics.len().min(400)]
    );
}

#[test]
fn no_operator_panics_on_extreme_operands() {
    use kqlflow::func::ops::{self, BinOp};
    let pool = pool();
    let all = [
        "+",
        "-",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "=~",
        "!~",
        "contains",
        "!contains",
        "contains_cs",
        "!contains_cs",
        "startswith",
        "!startswith",
        "startswith_cs",
        "endswith",
        "!endswith",
        "endswith_cs",
        "has",
        "!has",
        "has_cs",
        "!has_cs",
        "hasprefix",
        "!hasprefix",
        "hassuffix",
        "!hassuffix",
        "matches regex",
    ];
    let mut panics = Vec::new();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for sym in all {
        let op = BinOp::from_symbol(sym).unwrap_or_else(|| panic!("no operator {sym}"));
        for a in &pool {
            for b in &pool {
                if catch_unwind(AssertUnwindSafe(|| ops::binary(op, a, b))).is_err() {
                    panics.push(format!(
                        "{sym}: {:.60} {:.60}",
                        format!("{a:?}"),
                        format!("{b:?}")
                    ));
                }
            }
        }
    }
    for a in &pool {
        if catch_unwind(AssertUnwindSafe(|| ops::negate(a))).is_err() {
            panics.push(format!("-{a:?}"));
        }
        if catch_unwind(AssertUnwindSafe(|| ops::between(a, &pool[2], &pool[3]))).is_err() {
            panics.push(format!("between {a:?}"));
        }
    }
    std::panic::set_hook(quiet);
    assert!(panics.is_empty(), "{:#?}", &panics[..panics.len().min(40)]);
}

#[test]
fn no_aggregate_panics_on_extreme_values() {
    use kqlflow::func::AGGREGATE_FUNCTIONS;
    use kqlflow::func::agg::{Accumulator, AggSpec};
    let pool = pool();
    let mut panics = Vec::new();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for f in AGGREGATE_FUNCTIONS {
        let arity = f.min_args.clamp(1, 3);
        for a in &pool {
            for b in &pool {
                let run = || {
                    let mut acc = Accumulator::new(AggSpec::new(f.kind));
                    let args_a: Vec<Value> = (0..arity).map(|_| a.clone()).collect();
                    let args_b: Vec<Value> = (0..arity).map(|_| b.clone()).collect();
                    // In, in again, out: the incremental path's retractions too.
                    acc.add(&args_a, 1);
                    acc.add(&args_b, 2);
                    let _ = acc.result();
                    acc.add(&args_a, -1);
                    let _ = acc.result();
                    acc.add(&args_b, -2);
                    acc.result()
                };
                if catch_unwind(AssertUnwindSafe(run)).is_err() {
                    panics.push(format!(
                        "{}: {:.60} {:.60}",
                        f.name,
                        format!("{a:?}"),
                        format!("{b:?}")
                    ));
                }
            }
        }
    }
    std::panic::set_hook(quiet);
    assert!(
        panics.is_empty(),
        "{} panics: {:#?}",
        panics.len(),
        &panics[..panics.len().min(40)]
    );
}
