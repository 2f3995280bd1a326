//! Unit tests of the simulator: records fit the tables' schemas, and the benign service
//! principal volumes stay under the volume rule's threshold.

use super::benign::day_events;
use super::json::{TICKS_PER_DAY, TICKS_PER_HOUR};
use super::records::{Body, render};
use super::tenant::Tenant;
use super::*;
use std::collections::{BTreeMap, BTreeSet};

fn config(users: usize, sps: usize, days: u32) -> TenantConfig {
    TenantConfig {
        users,
        service_principals: sps,
        days,
        seed: 7,
        ..TenantConfig::default()
    }
}

fn schema(table: &str) -> BTreeMap<String, String> {
    let path = format!(
        "{}/../src/catalog/schemas/{table}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["Properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["Name"]
                .as_str()
                .or(p["name"].as_str())
                .unwrap()
                .to_string();
            let ty = p["Type"]
                .as_str()
                .or(p["type"].as_str())
                .unwrap()
                .to_ascii_lowercase();
            (name, ty)
        })
        .collect()
}

#[test]
fn every_record_fits_its_tables_schema() {
    let cfg = config(30, 10, 16);
    let t = Tenant::build(&cfg);
    let start = DEFAULT_START * json::TICKS_PER_SECOND;
    let plan = attacks::plan(&t, cfg.seed, start, cfg.days);
    let mut seen = BTreeSet::new();
    for (table, name) in TABLES.iter().enumerate() {
        let cols = schema(name);
        let mut events = day_events(&t, cfg.seed, table, 3, start + 3 * TICKS_PER_DAY, cfg.users);
        events.extend(plan.events.iter().filter(|e| e.table() == table).cloned());
        assert!(!events.is_empty(), "{}", name);
        for e in events.iter().take(400) {
            let mut line = String::new();
            render(&t, cfg.seed, e, &mut line);
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&line).unwrap();
            assert!(v.len() > 10, "{line}");
            for (k, val) in &v {
                let ty = cols
                    .get(k)
                    .unwrap_or_else(|| panic!("{}: no column {k}", name));
                let ok = match ty.as_str() {
                    "string" => val.is_string(),
                    "datetime" => val.is_string(),
                    "bool" => val.is_boolean(),
                    "long" | "int" => val.is_i64(),
                    "real" | "double" => val.is_number(),
                    "dynamic" => !val.is_string() || val.as_str() == Some(""),
                    _ => true,
                };
                assert!(ok, "{}: {k} is {ty} but holds {val}", name);
            }
            assert_eq!(v["Type"], *name);
            seen.insert(table);
            if let Body::UserSignIn(s) = &e.body
                && s.interactive
            {
                assert!(line.len() > 3000, "a sign-in is 3-5 KB: {}", line.len());
            }
        }
    }
    assert_eq!(seen.len(), TABLES.len());
}

#[test]
fn no_duplicate_columns() {
    let cfg = config(5, 3, 4);
    let t = Tenant::build(&cfg);
    let start = DEFAULT_START * json::TICKS_PER_SECOND;
    for (table, name) in TABLES.iter().enumerate() {
        for e in day_events(&t, cfg.seed, table, 1, start + TICKS_PER_DAY, cfg.users)
            .iter()
            .take(20)
        {
            let mut line = String::new();
            render(&t, cfg.seed, e, &mut line);
            // Top-level keys: walk the object with a streaming deserializer into a Vec.
            let pairs: Vec<(String, serde_json::Value)> = {
                struct Pairs(Vec<(String, serde_json::Value)>);
                impl<'de> serde::Deserialize<'de> for Pairs {
                    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                        struct V;
                        impl<'de> serde::de::Visitor<'de> for V {
                            type Value = Pairs;
                            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                                f.write_str("an object")
                            }
                            fn visit_map<A: serde::de::MapAccess<'de>>(
                                self,
                                mut m: A,
                            ) -> Result<Pairs, A::Error> {
                                let mut v = Vec::new();
                                while let Some(kv) = m.next_entry()? {
                                    v.push(kv);
                                }
                                Ok(Pairs(v))
                            }
                        }
                        d.deserialize_map(V)
                    }
                }
                serde_json::from_str::<Pairs>(&line).unwrap().0
            };
            let keys: BTreeSet<&String> = pairs.iter().map(|(k, _)| k).collect();
            assert_eq!(keys.len(), pairs.len(), "duplicate column in {}", name);
        }
    }
}

/// The volume rule, evaluated at every sign-in: sign-ins in the last hour against the mean and
/// standard deviation of the hourly counts of the 14 days before (hours with sign-ins only).
/// Hourly bins wholly inside the baseline come from prefix sums; the two edge bins are counted.
fn volume_alerts(times: &[i64]) -> Vec<(i64, usize, f64, f64)> {
    let mut alerts = Vec::new();
    let Some(&first) = times.first() else {
        return alerts;
    };
    let h0 = first.div_euclid(TICKS_PER_HOUR);
    let mut counts: Vec<u64> = Vec::new();
    for &t in times {
        let h = (t.div_euclid(TICKS_PER_HOUR) - h0) as usize;
        if counts.len() <= h {
            counts.resize(h + 1, 0);
        }
        counts[h] += 1;
    }
    // Prefix sums over bins: nonzero bins, counts, squares.
    let mut pn = vec![0f64];
    let mut ps = vec![0f64];
    let mut pq = vec![0f64];
    for &c in &counts {
        let nz = if c > 0 { 1.0 } else { 0.0 };
        pn.push(pn.last().copied().unwrap_or(0.0) + nz);
        ps.push(ps.last().copied().unwrap_or(0.0) + c as f64);
        pq.push(pq.last().copied().unwrap_or(0.0) + (c * c) as f64);
    }
    let count_in = |lo: i64, hi_incl: i64| -> u64 {
        (times.partition_point(|&t| t <= hi_incl) - times.partition_point(|&t| t < lo)) as u64
    };
    for (i, &now) in times.iter().enumerate() {
        let lo = times.partition_point(|&t| t <= now - TICKS_PER_HOUR);
        let current = i + 1 - lo;
        if current < 50 {
            continue;
        }
        let b_lo = now - 14 * TICKS_PER_DAY;
        let b_hi = now - TICKS_PER_HOUR;
        if b_hi < first {
            continue;
        }
        let first_bin = b_lo.div_euclid(TICKS_PER_HOUR);
        let last_bin = b_hi.div_euclid(TICKS_PER_HOUR);
        let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
        let mut add = |c: u64| {
            if c > 0 {
                n += 1.0;
                sum += c as f64;
                sq += (c * c) as f64;
            }
        };
        add(count_in(
            b_lo,
            ((first_bin + 1) * TICKS_PER_HOUR - 1).min(b_hi),
        ));
        if last_bin > first_bin {
            add(count_in(last_bin * TICKS_PER_HOUR, b_hi));
        }
        let inner_lo = (first_bin + 1 - h0).max(0) as usize;
        let inner_hi = ((last_bin - h0).max(0) as usize).min(counts.len());
        if inner_hi > inner_lo {
            n += pn[inner_hi] - pn[inner_lo];
            sum += ps[inner_hi] - ps[inner_lo];
            sq += pq[inner_hi] - pq[inner_lo];
        }
        let day_lo = b_lo.max(first).div_euclid(TICKS_PER_DAY);
        let day_hi = b_hi.div_euclid(TICKS_PER_DAY);
        if day_hi - day_lo + 1 < 3 || n == 0.0 {
            continue;
        }
        let mean = sum / n;
        let var = if n > 1.0 {
            ((sq - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        let sd = var.sqrt();
        let score = if sd > 0.0 {
            (current as f64 - mean) / sd
        } else {
            current as f64
        };
        if score >= 3.0 || mean < 5.0 {
            alerts.push((now, current, mean, sd));
        }
    }
    alerts
}

#[test]
fn benign_service_principal_volumes_stay_under_the_volume_rule() {
    for seed in [1u64, 2, 3] {
        let cfg = TenantConfig {
            seed,
            ..config(10, 24, 30)
        };
        let t = Tenant::build(&cfg);
        let start = DEFAULT_START * json::TICKS_PER_SECOND;
        let plan = attacks::plan(&t, cfg.seed, start, cfg.days);
        let mut per_sp: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        let mut attacked: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for day in 0..cfg.days {
            for e in day_events(
                &t,
                seed,
                2,
                day,
                start + i64::from(day) * TICKS_PER_DAY,
                cfg.users,
            ) {
                if let Body::SpSignIn(s) = &e.body {
                    let allow = s.ip >> 24 == 10
                        || super::json::ip_text(s.ip) == "192.0.2.44"
                        || super::json::ip_text(s.ip).starts_with("198.51.100.");
                    if s.result == 0 && !allow {
                        per_sp.entry(s.sp).or_default().push(e.time);
                    }
                }
            }
        }
        // The attackers' side sign-ins (other than the bursts) must not be enough either.
        for e in &plan.events {
            if let Body::SpSignIn(s) = &e.body
                && s.result == 0
            {
                attacked.entry(s.sp).or_default().push(e.time);
            }
        }
        let bursts: Vec<(String, i64, i64)> = plan
            .labels
            .iter()
            .filter(|l| l.rule == "sp_signin_volume_anomaly.yaml")
            .map(|l| (l.entity.clone(), parse(&l.start), parse(&l.end)))
            .collect();
        for (sp, mut times) in per_sp {
            let mut all = times.clone();
            all.extend(attacked.get(&sp).cloned().unwrap_or_default());
            times.sort_unstable();
            all.sort_unstable();
            let benign = volume_alerts(&times);
            assert!(
                benign.is_empty(),
                "seed {seed}: {} {:?}",
                t.sps[sp].name,
                &benign[..benign.len().min(3)]
            );
            for (now, cur, mean, sd) in volume_alerts(&all) {
                let in_burst = bursts.iter().any(|(n, s, e)| {
                    *n == t.sps[sp].name && now >= *s && now <= e + TICKS_PER_HOUR
                });
                assert!(
                    in_burst,
                    "seed {seed}: {} alert outside a burst at {now}: {cur} vs {mean}±{sd}",
                    t.sps[sp].name
                );
            }
        }
    }
}

fn parse(s: &str) -> i64 {
    // 2024-05-01T08:03:12.1234567Z
    let secs = json::parse_date(s).unwrap();
    let h: i64 = s[11..13].parse().unwrap();
    let m: i64 = s[14..16].parse().unwrap();
    let sec: i64 = s[17..19].parse().unwrap();
    let frac: i64 = s[20..27].parse().unwrap();
    (secs + h * 3600 + m * 60 + sec) * json::TICKS_PER_SECOND + frac
}

#[test]
fn every_kind_is_planned_several_times_with_labels_inside_the_period() {
    let cfg = config(30, 5, 16);
    let t = Tenant::build(&cfg);
    let start = DEFAULT_START * json::TICKS_PER_SECOND;
    let plan = attacks::plan(&t, cfg.seed, start, cfg.days);
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    for (i, rule) in RULES.iter().enumerate() {
        let n = plan
            .labels
            .iter()
            .filter(|l| l.rule == rule.0 && l.kind == KINDS[i])
            .count();
        assert!(n >= 2, "{}: {n}", KINDS[i]);
    }
    let end = start + i64::from(cfg.days) * TICKS_PER_DAY;
    for e in &plan.events {
        assert!(e.time >= start && e.time < end, "{e:?}");
    }
    for l in &plan.labels {
        assert!(parse(&l.start) <= parse(&l.end));
    }
}
