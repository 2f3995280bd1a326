//! `evaluate autocluster()`: a small set of patterns that sum up a row set, by the Seed-Expand
//! local search Kusto's autocluster plugin is based on.
//!
//! A pattern gives some columns (dimensions) a value each and leaves the others open; its
//! count is the weight of the rows that have those values. A pattern is scored by the
//! weighted geometric mean Kusto documents: `coverage^SizeWeight × shared^(1 - SizeWeight)`,
//! where `coverage` is the share of the total weight it covers and `shared` the share of the
//! dimensions it gives a value. A higher `SizeWeight` favours general patterns that cover much;
//! a lower one favours specific patterns that share many values.
//!
//! kqlflow's search, deterministic where Kusto's picks seeds at random:
//!
//! 1. **Seeds**: the rows' patterns (each row's values, null and empty strings left open),
//!    the `NumSeeds` heaviest first (ties by the values' order).
//! 2. **Expand**: from each seed, the generalisation (the seed with some values opened) of the
//!    highest score: every one when the seed has at most 16 values (ties to the wider), else
//!    grown from no value by adding the value that raises the score most while it rises.
//! 3. **Select**: the distinct patterns reached, by score (descending, then count, then values), each kept
//!    when it covers rows that no pattern kept before it covers. Patterns may overlap and may
//!    leave rows uncovered, as Kusto's do.
//!
//! Kusto's clusters on the same data may differ from these: the plugin's seed choice and
//! stopping rule are not documented.

use std::collections::BTreeMap;

use super::basket::{is_item, pattern_row, weighted};
use crate::model::Value;

/// A pattern: (column, value) pairs by ascending column.
type Items = Vec<(usize, Value)>;

/// The patterns of `rows` (each a row's `dims` values then its weight, with how many times the
/// row occurs) for `size_weight` (0 to 1) and `seeds` seeds: one array per pattern,
/// `[SegmentId, Count, Percent, value or null for each of the dims columns]`, by score;
/// SegmentId numbers them from 0.
pub fn autocluster(
    rows: &BTreeMap<Value, i64>,
    dims: usize,
    size_weight: f64,
    seeds: usize,
) -> Vec<Value> {
    let (data, total) = weighted(rows, dims);
    if total <= 0.0 || dims == 0 {
        return Vec::new();
    }
    // The rows holding each value of each column.
    let mut holders: BTreeMap<(usize, &Value), Vec<usize>> = BTreeMap::new();
    for (r, (cells, _)) in data.iter().enumerate() {
        for (c, v) in cells.iter().enumerate() {
            if is_item(v) {
                holders.entry((c, v)).or_default().push(r);
            }
        }
    }
    // The rows a pattern covers: those of its rarest value that hold the others.
    let covered = |items: &[(usize, Value)]| -> Vec<usize> {
        let lists: Vec<&Vec<usize>> = items
            .iter()
            .filter_map(|(c, v)| holders.get(&(*c, v)))
            .collect();
        if lists.len() < items.len() {
            return Vec::new();
        }
        let Some(rarest) = lists.iter().min_by_key(|l| l.len()) else {
            return (0..data.len()).collect();
        };
        rarest
            .iter()
            .copied()
            .filter(|&r| items.iter().all(|(c, v)| data[r].0.get(*c) == Some(v)))
            .collect()
    };
    let score = |cover: f64, values: usize| -> f64 {
        if values == 0 || cover <= 0.0 {
            return 0.0;
        }
        (cover / total).powf(size_weight) * (values as f64 / dims as f64).powf(1.0 - size_weight)
    };
    // Seeds: the rows' patterns, heaviest first.
    let mut by_pattern: BTreeMap<Items, f64> = BTreeMap::new();
    for (cells, w) in &data {
        let items: Items = cells
            .iter()
            .enumerate()
            .filter(|(_, v)| is_item(v))
            .map(|(c, v)| (c, v.clone()))
            .collect();
        if !items.is_empty() {
            *by_pattern.entry(items).or_insert(0.0) += w;
        }
    }
    let mut starts: Vec<(Items, f64)> = by_pattern.into_iter().collect();
    starts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    starts.truncate(seeds);
    // Expand each seed to its best generalisation.
    let mut optima: BTreeMap<Items, (f64, f64)> = BTreeMap::new();
    for (seed, _) in starts {
        let (items, best, cover) = expand(&seed, &data, &score);
        optima.insert(items, (best, cover));
    }
    let mut ranked: Vec<(Items, f64, f64)> =
        optima.into_iter().map(|(i, (s, c))| (i, s, c)).collect();
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(b.2.total_cmp(&a.2))
            .then_with(|| a.0.cmp(&b.0))
    });
    // Keep the patterns that cover rows no better pattern covers.
    let mut taken = vec![false; data.len()];
    let mut out = Vec::new();
    for (items, _, cover) in ranked {
        let rs = covered(&items);
        if rs.iter().all(|&r| taken[r]) {
            continue;
        }
        for &r in &rs {
            taken[r] = true;
        }
        out.push(pattern_row(out.len(), cover, total, dims, items));
    }
    out
}

/// The most a seed's values that [`expand`] searches every subset of.
const EXHAUSTIVE: usize = 16;

/// The best generalisation of `seed` (a subset of its values, not empty) by `score` over
/// the rows `data`, with its score and the weight it covers. Each row is reduced to the mask
/// of the seed's values it holds; with at most [`EXHAUSTIVE`] values, every subset's cover
/// comes from one sum over supersets of masks, and the best subset is taken; with more, the
/// pattern grows from none, a value at a time, the one that raises the score most, while it
/// rises. A seed's values past the 64th are left open.
fn expand(
    seed: &[(usize, Value)],
    data: &[(&[Value], f64)],
    score: &dyn Fn(f64, usize) -> f64,
) -> (Items, f64, f64) {
    let k = seed.len().min(64);
    let mut groups: BTreeMap<u64, f64> = BTreeMap::new();
    for (cells, w) in data {
        let mut mask = 0u64;
        for (bit, (c, v)) in seed.iter().take(k).enumerate() {
            if cells.get(*c) == Some(v) {
                mask |= 1 << bit;
            }
        }
        *groups.entry(mask).or_insert(0.0) += w;
    }
    let pick = |mask: u64| -> Items {
        seed.iter()
            .take(k)
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, i)| i.clone())
            .collect()
    };
    let full: u64 = if k == 64 { u64::MAX } else { (1u64 << k) - 1 };
    if k <= EXHAUSTIVE {
        // cover[S] = the weight of the rows whose mask holds S.
        let mut cover = vec![0.0f64; 1 << k];
        for (m, w) in &groups {
            cover[*m as usize] += w;
        }
        for bit in 0..k {
            for m in 0..cover.len() {
                if m & (1 << bit) == 0 {
                    cover[m] += cover[m | (1 << bit)];
                }
            }
        }
        let mut best: Option<(u64, f64)> = None;
        for m in 1..=full {
            let s = score(cover[m as usize], m.count_ones() as usize);
            // Ties go to the wider pattern (more cover), then to the lower mask.
            let better = match best {
                None => true,
                Some((b, bs)) => s > bs || (s == bs && cover[m as usize] > cover[b as usize]),
            };
            if better {
                best = Some((m, s));
            }
        }
        let (m, s) = best.unwrap_or((full, 0.0));
        return (pick(m), s, cover[m as usize]);
    }
    let cover_of = |s: u64| -> f64 {
        groups
            .iter()
            .filter(|(m, _)| *m & s == s)
            .map(|(_, w)| w)
            .sum()
    };
    // Many values: grown from none, adding the value that raises the score most while it
    // rises (opening values one at a time from the whole seed would stop at once, each
    // row's values being its own).
    let mut mask = 0u64;
    let mut cover = 0.0;
    let mut best = 0.0;
    loop {
        let mut step: Option<(u64, f64, f64)> = None;
        for bit in 0..k {
            let more = mask | (1 << bit);
            if more == mask {
                continue;
            }
            let c = cover_of(more);
            let s = score(c, more.count_ones() as usize);
            if s > step.map_or(best, |(_, s, _)| s) {
                step = Some((more, s, c));
            }
        }
        match step {
            Some((m, s, c)) => {
                mask = m;
                best = s;
                cover = c;
            }
            None => break,
        }
    }
    if mask == 0 {
        mask = full;
        cover = cover_of(full);
        best = score(cover, k);
    }
    (pick(mask), best, cover)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of (state, event, damage) with a count each, weight 1.
    fn rows(data: &[(&str, &str, &str, i64)]) -> BTreeMap<Value, i64> {
        let mut m = BTreeMap::new();
        for (a, b, c, n) in data {
            *m.entry(Value::array(vec![
                Value::str(a),
                Value::str(b),
                Value::str(c),
                Value::Long(1),
            ]))
            .or_insert(0) += n;
        }
        m
    }

    fn show(v: &[Value]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// 100 rows: Texas hail and wind without damage dominate, Kansas tornadoes with damage are
    /// a group of their own, and a few rows are scattered.
    fn storms() -> BTreeMap<Value, i64> {
        rows(&[
            ("TEXAS", "Hail", "NO", 30),
            ("TEXAS", "Wind", "NO", 25),
            ("TEXAS", "Flood", "NO", 5),
            ("KANSAS", "Tornado", "YES", 20),
            ("KANSAS", "Hail", "NO", 5),
            ("IOWA", "Flood", "YES", 5),
            ("OHIO", "Wind", "NO", 5),
            ("MAINE", "Snow", "YES", 5),
        ])
    }

    #[test]
    fn patterns_sum_up_the_rows_with_true_counts() {
        let m = storms();
        let got = autocluster(&m, 3, 0.5, 25);
        assert!(!got.is_empty() && got.len() < 8, "{:?}", show(&got));
        for (id, p) in got.iter().enumerate() {
            let Value::Array(cells) = p else {
                panic!("not an array")
            };
            assert_eq!(cells[0], Value::Long(id as i64));
            // The count is the number of rows with the pattern's values; the percent its
            // share of the 100 rows.
            let want: i64 = m
                .iter()
                .filter(|(r, _)| {
                    let Value::Array(r) = r else { return false };
                    (0..3).all(|c| cells[3 + c].is_null() || cells[3 + c] == r[c])
                })
                .map(|(_, n)| n)
                .sum();
            assert_eq!(cells[1], Value::Long(want), "{}", p);
            assert_eq!(cells[2], Value::Real(want as f64), "{}", p);
            // A pattern gives at least one column a value.
            assert!(cells[3..].iter().any(|v| !v.is_null()), "{}", p);
        }
        // The Texas rows without damage (60 of them) and Kansas tornadoes with damage are
        // found.
        let s = show(&got);
        assert!(
            s.contains(&r#"[0,60,60,"TEXAS",null,"NO"]"#.to_string()),
            "{s:?}"
        );
        assert!(
            s.iter()
                .any(|p| p.ends_with(r#","KANSAS","Tornado","YES"]"#)),
            "{s:?}"
        );
    }

    #[test]
    fn the_patterns_of_the_highest_scores() {
        let m = storms();
        // SizeWeight 0.5: score = sqrt(coverage × shared). TEXAS/NO: sqrt(0.6 × 2/3) = 0.632;
        // NO: sqrt(0.7 / 3) = 0.483 (it adds Kansas hail and Ohio); KANSAS/Tornado/YES:
        // sqrt(0.2) = 0.447; YES: sqrt(0.3 / 3) = 0.316 (it adds Iowa and Maine).
        assert_eq!(
            show(&autocluster(&m, 3, 0.5, 25)),
            vec![
                r#"[0,60,60,"TEXAS",null,"NO"]"#,
                r#"[1,70,70,null,null,"NO"]"#,
                r#"[2,20,20,"KANSAS","Tornado","YES"]"#,
                r#"[3,30,30,null,null,"YES"]"#,
            ]
        );
        // SizeWeight 0.8: YES (0.3^0.8 × (1/3)^0.2 = 0.306) outscores Kansas tornadoes
        // (0.2^0.8 = 0.276) and covers them.
        assert_eq!(
            show(&autocluster(&m, 3, 0.8, 25)),
            vec![
                r#"[0,60,60,"TEXAS",null,"NO"]"#,
                r#"[1,70,70,null,null,"NO"]"#,
                r#"[2,30,30,null,null,"YES"]"#,
            ]
        );
    }

    #[test]
    fn a_higher_size_weight_gives_fewer_and_wider_patterns() {
        let m = storms();
        let general = autocluster(&m, 3, 0.9, 25);
        let specific = autocluster(&m, 3, 0.1, 25);
        assert!(
            general.len() < specific.len(),
            "{:?} / {:?}",
            show(&general),
            show(&specific)
        );
        let values = |v: &[Value]| -> f64 {
            let n: usize = v
                .iter()
                .map(|p| {
                    let Value::Array(c) = p else { return 0 };
                    c[3..].iter().filter(|x| !x.is_null()).count()
                })
                .sum();
            n as f64 / v.len() as f64
        };
        assert!(values(&general) < values(&specific));
        // With a weight of 0.1 the patterns are the rows' own: every value shared.
        assert!(specific.iter().all(|p| {
            let Value::Array(c) = p else { return false };
            c[3..].iter().all(|x| !x.is_null())
        }));
    }

    #[test]
    fn seeds_of_many_values_are_grown_a_value_at_a_time() {
        // 20 columns: the first two shared by 80 of 100 rows, the others each row's own.
        let mut m = BTreeMap::new();
        for r in 0..100i64 {
            let mut cells: Vec<Value> = (0..20)
                .map(|c| match c {
                    0 => Value::str(if r < 80 { "x" } else { "y" }),
                    1 => Value::Long(if r < 80 { 7 } else { r }),
                    _ => Value::Long(r * 100 + c),
                })
                .collect();
            cells.push(Value::Long(1));
            m.insert(Value::array(cells), 1);
        }
        let got = autocluster(&m, 20, 0.5, 25);
        let first = show(&got[..1]);
        let nulls = vec!["null"; 18].join(",");
        assert_eq!(first, vec![format!(r#"[0,80,80,"x",7,{nulls}]"#)]);
    }

    #[test]
    fn weights_seeds_nulls_and_empty_input() {
        // Weighted rows: one row of weight 9 against one of weight 1.
        let mut m = BTreeMap::new();
        m.insert(
            Value::array(vec![Value::str("a"), Value::Null, Value::Long(9)]),
            1,
        );
        m.insert(
            Value::array(vec![Value::str("b"), Value::str(""), Value::Long(1)]),
            1,
        );
        let got = show(&autocluster(&m, 2, 0.5, 25));
        // Null and "" are no values: each row's pattern is its one value.
        assert_eq!(got, vec![r#"[0,9,90,"a",null]"#, r#"[1,1,10,"b",null]"#]);
        // One seed: only the heaviest row's pattern is searched from.
        assert_eq!(
            show(&autocluster(&m, 2, 0.5, 1)),
            vec![r#"[0,9,90,"a",null]"#]
        );
        assert!(autocluster(&BTreeMap::new(), 2, 0.5, 25).is_empty());
    }
}
