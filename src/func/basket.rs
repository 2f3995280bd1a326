//! `evaluate basket()`: the frequent patterns of a row set's values, as Kusto's basket plugin
//! finds them with the Apriori algorithm.
//!
//! A pattern gives some columns a value each (the others are wildcards); its count is the
//! weight of the rows that have those values. Patterns whose count is at least the threshold
//! times the total weight are frequent; kqlflow returns the closed ones (no pattern with one
//! more column has the same count: that one says more about the same rows), of at most
//! `max_dims` columns. Kusto samples the data to find the first frequent values, so its
//! results may differ for patterns whose frequency is near the threshold; kqlflow counts
//! exactly. Null values and empty strings are not values a pattern can ask for (the empty
//! string is a string column's wildcard).

use std::collections::BTreeMap;

use crate::model::Value;

/// One pattern: (column, value) pairs by ascending column, its count and matching rows.
struct Pattern {
    items: Vec<(usize, Value)>,
    count: f64,
    rows: Vec<usize>,
}

/// The closed frequent patterns of `rows` (each a row's `dims` values then its weight, with
/// how many times the row occurs): one array per pattern, `[SegmentId, Count, Percent,
/// value or null for each of the `dims` columns]`, ordered by count (descending), then by
/// fewer columns, then by the columns' values; SegmentId numbers them from 0.
pub fn basket(
    rows: &BTreeMap<Value, i64>,
    dims: usize,
    threshold: f64,
    max_dims: usize,
) -> Vec<Value> {
    let (data, total) = weighted(rows, dims);
    if total <= 0.0 {
        return Vec::new();
    }
    let min = threshold * total;
    // Frequent single values.
    let mut singles: BTreeMap<(usize, Value), (f64, Vec<usize>)> = BTreeMap::new();
    for (r, (cells, w)) in data.iter().enumerate() {
        for (c, v) in cells.iter().enumerate() {
            if is_item(v) {
                let e = singles.entry((c, v.clone())).or_insert((0.0, Vec::new()));
                e.0 += w;
                e.1.push(r);
            }
        }
    }
    let mut level: Vec<Pattern> = singles
        .into_iter()
        .filter(|(_, (count, _))| *count >= min)
        .map(|((c, v), (count, rows))| Pattern {
            items: vec![(c, v)],
            count,
            rows,
        })
        .collect();
    let items: Vec<(usize, Value)> = level.iter().map(|p| p.items[0].clone()).collect();
    let mut all: Vec<Pattern> = Vec::new();
    let mut size = 1;
    while !level.is_empty() {
        let mut next: Vec<Pattern> = Vec::new();
        if size < max_dims {
            for p in &level {
                let last = p.items.last().map_or(0, |i| i.0);
                for (c, v) in items.iter().filter(|(c, _)| *c > last) {
                    let rows: Vec<usize> = p
                        .rows
                        .iter()
                        .copied()
                        .filter(|&r| data[r].0.get(*c) == Some(v))
                        .collect();
                    let count: f64 = rows.iter().map(|&r| data[r].1).sum();
                    if count >= min {
                        let mut items = p.items.clone();
                        items.push((*c, v.clone()));
                        next.push(Pattern { items, count, rows });
                    }
                }
            }
        }
        // A pattern is closed when no pattern with one more column has its count.
        for p in level {
            let covered = next
                .iter()
                .any(|q| q.count == p.count && p.items.iter().all(|i| q.items.contains(i)));
            if !covered {
                all.push(p);
            }
        }
        level = next;
        size += 1;
    }
    all.sort_by(|a, b| {
        b.count
            .total_cmp(&a.count)
            .then(a.items.len().cmp(&b.items.len()))
            .then_with(|| a.items.cmp(&b.items))
    });
    all.into_iter()
        .enumerate()
        .map(|(id, p)| pattern_row(id, p.count, total, dims, p.items))
        .collect()
}

/// The rows of a pattern aggregate's multiset (each a row's `dims` values then its weight,
/// with how many times the row occurs) as (values, weight times multiplicity), rows of no
/// positive finite weight left out; and their total weight.
pub(super) fn weighted(rows: &BTreeMap<Value, i64>, dims: usize) -> (Vec<(&[Value], f64)>, f64) {
    let mut data: Vec<(&[Value], f64)> = Vec::new();
    for (row, n) in rows {
        if *n <= 0 {
            continue;
        }
        let Value::Array(cells) = row else { continue };
        let weight = match cells.get(dims) {
            Some(Value::Long(w)) => *w as f64,
            Some(Value::Real(w)) => *w,
            _ => 1.0,
        };
        if weight.is_finite() && weight > 0.0 {
            data.push((&cells[..dims.min(cells.len())], weight * *n as f64));
        }
    }
    let total = data.iter().map(|(_, w)| w).sum();
    (data, total)
}

/// Whether a pattern can ask for `v`: null and the empty string are no values (the empty
/// string is a string column's wildcard).
pub(super) fn is_item(v: &Value) -> bool {
    !v.is_null() && !matches!(v, Value::String(s) if s.is_empty())
}

/// A pattern's output, `[SegmentId, Count, Percent, value or null for each of the dims
/// columns]`, for pattern number `id` of weight `count` out of `total`.
pub(super) fn pattern_row(
    id: usize,
    count: f64,
    total: f64,
    dims: usize,
    items: Vec<(usize, Value)>,
) -> Value {
    let mut out = vec![
        Value::Long(id as i64),
        Value::Long(count.round() as i64),
        Value::Real(100.0 * count / total),
    ];
    let mut cells = vec![Value::Null; dims];
    for (c, v) in items {
        if let Some(cell) = cells.get_mut(c) {
            *cell = v;
        }
    }
    out.extend(cells);
    Value::array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[(&str, &str, i64)]) -> BTreeMap<Value, i64> {
        let mut m = BTreeMap::new();
        for (a, b, n) in data {
            *m.entry(Value::array(vec![
                Value::str(a),
                Value::str(b),
                Value::Long(1),
            ]))
            .or_insert(0) += n;
        }
        m
    }

    fn show(v: &[Value]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn closed_frequent_patterns_by_count() {
        // 10 rows: Hail/NO 6, Hail/YES 1, Wind/NO 3.
        let m = rows(&[("Hail", "NO", 6), ("Hail", "YES", 1), ("Wind", "NO", 3)]);
        let got = basket(&m, 2, 0.2, 5);
        assert_eq!(
            show(&got),
            vec![
                // NO: 9 rows (90%); Hail: 7; Hail and NO: 6; Wind and NO: 3 (Wind alone has
                // the same count as Wind/NO, so only the longer pattern is kept).
                r#"[0,9,90,null,"NO"]"#,
                r#"[1,7,70,"Hail",null]"#,
                r#"[2,6,60,"Hail","NO"]"#,
                r#"[3,3,30,"Wind","NO"]"#,
            ]
        );
        // YES (10%) is under a 20% threshold but over 5%.
        let low = basket(&m, 2, 0.05, 5);
        assert!(show(&low).iter().any(|s| s.contains("\"YES\"")));
        // At most one column per pattern.
        let one = basket(&m, 2, 0.2, 1);
        assert!(
            one.iter().all(|p| p.index(3).is_some_and(Value::is_null)
                || p.index(4).is_some_and(Value::is_null))
        );
        assert_eq!(one.len(), 3);
    }

    #[test]
    fn weights_nulls_and_empty_input() {
        let mut m = BTreeMap::new();
        m.insert(
            Value::array(vec![Value::str("a"), Value::Null, Value::Long(3)]),
            1,
        );
        m.insert(
            Value::array(vec![Value::str("b"), Value::str(""), Value::Long(1)]),
            1,
        );
        let got = basket(&m, 2, 0.5, 5);
        // a weighs 3 of 4: 75%; b 25% is under the threshold; null and "" are no values.
        assert_eq!(show(&got), vec![r#"[0,3,75,"a",null]"#]);
        assert!(basket(&BTreeMap::new(), 2, 0.05, 5).is_empty());
    }
}
