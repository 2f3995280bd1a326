//! The report page: [`render`] writes a [`RunReport`] as one HTML file with its style sheet,
//! script, data and plots inline, so it opens offline in any browser. Every value that came
//! from the logs (alert titles, entities, rule texts, file names) is escaped: alerts carry
//! attacker-controlled text.
//!
//! The page stays small however many alerts there are: the timeline is binned, the incident
//! and entity tables list the first [`INCIDENTS_SHOWN`] incidents and [`ENTITIES_SHOWN`]
//! entities, and the filters' data holds the first [`ALERTS_EMBEDDED`] alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::svg::{LineChart, Svg, short_number};
use super::{Alert, RunReport};
use crate::alerts::SEVERITIES;
use crate::model::format_datetime_iso;

/// How many incidents the incident table lists.
pub const INCIDENTS_SHOWN: usize = 300;
/// How many entities the entity table lists (those with the most alerts).
pub const ENTITIES_SHOWN: usize = 200;
/// How many alerts of an entity its rows list.
pub const ALERTS_PER_ENTITY: usize = 25;
/// How many alerts the page's filters work on (the first, in time order).
pub const ALERTS_EMBEDDED: usize = 50_000;
/// The most bins of the timeline (each a round span: a minute, an hour, a day…).
pub const TIMELINE_BINS: usize = 120;

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by their character references: safe in text
/// and in quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A severity rank's name.
fn severity_name(rank: usize) -> &'static str {
    SEVERITIES.get(rank).copied().unwrap_or("Informational")
}

/// A severity rank's colour.
fn severity_colour(rank: usize) -> &'static str {
    ["#6c7a89", "#2c7bb6", "#d98200", "#c0392b"]
        .get(rank)
        .copied()
        .unwrap_or("#6c7a89")
}

/// A time as the page shows it: `2024-05-01 10:00:00`.
fn when(t: i64) -> String {
    let iso = format_datetime_iso(t);
    let iso = iso.trim_end_matches('Z');
    let iso = iso.split('.').next().unwrap_or(iso);
    iso.replacen('T', " ", 1)
}

/// A count with thin separators: `12 345`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// JSON for a `<script type="application/json">` element: `<`, `>` and `&` written as
/// escapes, so no value can close the element.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The logs' span: the earliest and latest event time read, else the alerts'.
fn span(r: &RunReport) -> Option<(i64, i64)> {
    let first = r.tables.iter().filter_map(|t| t.first).min();
    let last = r.tables.iter().filter_map(|t| t.last).max();
    let a_first = r.alerts.iter().map(|a| a.tick).min();
    let a_last = r.alerts.iter().map(|a| a.tick).max();
    let lo = match (first, a_first) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }?;
    let hi = match (last, a_last) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }?;
    Some((lo, hi.max(lo)))
}

/// The report as one HTML page.
pub fn render(r: &RunReport) -> String {
    let mut alerts: Vec<&Alert> = r.alerts.iter().collect();
    alerts.sort_by_key(|a| a.tick);
    let mut page = String::with_capacity(64 * 1024 + alerts.len() * 64);
    let title = format!("kqlflow {} report", r.command);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let _ = write!(
        page,
        "<header><h1>{}</h1><p class=\"meta\">{}{}</p>\
         <nav><a href=\"#timeline-section\">Timeline</a>\
         <a href=\"#incidents\">Incidents</a><a href=\"#entities\">Entities</a>\
         <a href=\"#mitre\">MITRE ATT&amp;CK</a><a href=\"#run\">Run</a>{}</nav></header>\n<main>\n",
        escape(&title),
        escape(&r.command_line),
        if r.version.is_empty() {
            String::new()
        } else {
            format!(" · kqlflow {}", escape(&r.version))
        },
        if r.replay.is_some() {
            "<a href=\"#replay\">Replay</a>"
        } else {
            ""
        }
    );
    summary(&mut page, r, &alerts);
    filters(&mut page, r, &alerts);
    timeline(&mut page, r, &alerts);
    incidents(&mut page, r);
    entities(&mut page, r, &alerts);
    mitre(&mut page, r);
    run_section(&mut page, r);
    if let Some(f) = &r.replay {
        replay(&mut page, f);
    }
    page.push_str("</main>\n");
    let _ = write!(
        page,
        "<script type=\"application/json\" id=\"report-data\">{}</script>\n\
         <script>{SCRIPT}</script>\n</body></html>\n",
        script_json(&data(r, &alerts))
    );
    page
}

/// The cards at the top: alerts and incidents by severity, and the run's figures.
fn summary(page: &mut String, r: &RunReport, alerts: &[&Alert]) {
    let records: u64 = r.tables.iter().map(|t| t.records).sum();
    let rate = if r.wall_seconds > 0.0 {
        records as f64 / r.wall_seconds
    } else {
        0.0
    };
    let mut by_alert = [0u64; 4];
    for a in alerts {
        if let Some(n) = by_alert.get_mut(a.severity) {
            *n += 1;
        }
    }
    let mut by_incident = [0u64; 4];
    for i in &r.incidents {
        if let Some(n) = by_incident.get_mut(i.severity) {
            *n += 1;
        }
    }
    page.push_str("<section id=\"summary\" class=\"cards\">");
    let card = |page: &mut String, id: &str, big: String, small: &str, by: Option<&[u64; 4]>| {
        let _ = write!(
            page,
            "<div class=\"card\" id=\"{id}\"><div class=\"big\">{big}</div><div>{small}</div>"
        );
        if let Some(by) = by {
            page.push_str("<div class=\"sevs\">");
            for rank in (0..4).rev() {
                if by[rank] > 0 {
                    let _ = write!(
                        page,
                        "<span class=\"sev sev{rank}\">{} {}</span>",
                        severity_name(rank),
                        count(by[rank])
                    );
                }
            }
            page.push_str("</div>");
        }
        page.push_str("</div>");
    };
    card(
        page,
        "card-incidents",
        count(r.incidents.len() as u64),
        "incidents",
        Some(&by_incident),
    );
    card(
        page,
        "card-alerts",
        count(alerts.len() as u64 + r.alerts_left_out),
        "alerts",
        Some(&by_alert),
    );
    card(page, "card-records", count(records), "records read", None);
    card(
        page,
        "card-rules",
        count(r.rules.len() as u64),
        "rules run",
        None,
    );
    card(
        page,
        "card-wall",
        format!("{:.2} s", r.wall_seconds),
        &format!("wall time · {} records/s", count(rate.round() as u64)),
        None,
    );
    page.push_str("</section>\n");
    if r.alerts_left_out > 0 {
        let _ = write!(
            page,
            "<p class=\"note\">{} alerts beyond the first {} are counted but not shown; \
             the alerts file (<code>--out</code>) holds them all.</p>",
            count(r.alerts_left_out),
            count(alerts.len() as u64)
        );
    }
}

/// What was read, rejected and run.
fn run_section(page: &mut String, r: &RunReport) {
    page.push_str("<section id=\"run\"><h2>The run</h2><h3>Logs read</h3>");
    if r.tables.is_empty() {
        page.push_str("<p>No records were read.</p>");
    } else {
        page.push_str(
            "<table id=\"tables-read\"><thead><tr><th>Table</th><th class=\"num\">Records</th>\
             <th>From</th><th>To</th></tr></thead><tbody>",
        );
        for t in &r.tables {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.table),
                count(t.records),
                t.first.map(when).unwrap_or_default(),
                t.last.map(when).unwrap_or_default()
            );
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("<h3>Rejected and late records</h3>");
    if r.rejects.is_empty() {
        page.push_str("<p>No line was rejected.</p>");
    } else {
        page.push_str(
            "<table id=\"rejects\"><thead><tr><th>Reason</th><th class=\"num\">Lines</th>\
             <th>First examples</th></tr></thead><tbody>",
        );
        for x in &r.rejects {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"examples\">{}</td></tr>",
                escape(&x.reason),
                count(x.count),
                x.examples
                    .iter()
                    .take(3)
                    .map(|e| escape(e))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
        }
        page.push_str("</tbody></table>");
    }
    let l = &r.late;
    let _ = write!(
        page,
        "<p id=\"late\">Order: <b>{}</b>{}. Late records: {} ({} accepted at the watermark, \
         {} rejected). Records without an event time: {}. Records kept by no rule's first \
         filter (not fed): {}.</p>",
        escape(if l.order.is_empty() {
            "event"
        } else {
            &l.order
        }),
        if l.order == "arrival" {
            format!(
                ", allowed lateness {}, late records {}ed",
                escape(&l.lateness),
                escape(&l.policy)
            )
        } else {
            String::new()
        },
        count(l.late),
        count(l.accepted),
        count(l.rejected),
        count(r.timeless),
        count(r.skipped)
    );
    page.push_str(
        "<h3>Rules</h3><table id=\"rules\"><thead><tr><th>Rule</th><th>Severity</th>\
         <th>Tactics</th><th class=\"num\">Records read</th><th class=\"num\">Rows kept</th>\
         <th class=\"num\">Alerts</th><th class=\"num\">Suppressed</th></tr></thead><tbody>",
    );
    for rule in &r.rules {
        let rank = crate::alerts::severity_rank(&rule.severity).unwrap_or(0);
        let _ = write!(
            page,
            "<tr><td>{}{}</td><td><span class=\"sev sev{rank}\">{}</span></td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            escape(&rule.name),
            if rule.hunting {
                format!(
                    " <span class=\"tag\">hunting query: {} result(s), not alerts</span>",
                    count(rule.results)
                )
            } else {
                String::new()
            },
            escape(&rule.severity),
            escape(&rule.tactics.join(", ")),
            count(rule.records_read),
            count(rule.rows_kept),
            count(rule.alerts),
            count(rule.suppressed)
        );
    }
    page.push_str("</tbody></table></section>\n");
}

/// The filters: severity, rule, entity.
fn filters(page: &mut String, r: &RunReport, alerts: &[&Alert]) {
    page.push_str("<section id=\"filters\" class=\"filters\"><b>Filter</b> ");
    for rank in (0..4).rev() {
        let _ = write!(
            page,
            "<label><input type=\"checkbox\" name=\"sev\" value=\"{rank}\" checked> \
             <span class=\"sev sev{rank}\">{}</span></label> ",
            severity_name(rank)
        );
    }
    page.push_str("<select id=\"f-rule\"><option value=\"\">every rule</option>");
    let fired: BTreeSet<usize> = alerts.iter().map(|a| a.rule).collect();
    for i in fired {
        if let Some(rule) = r.rules.get(i) {
            let _ = write!(
                page,
                "<option value=\"{i}\">{}</option>",
                escape(&rule.name)
            );
        }
    }
    page.push_str(
        "</select> <input type=\"search\" id=\"f-entity\" placeholder=\"entity (user, IP, app…)\"> \
         <span id=\"filter-status\"></span>",
    );
    if alerts.len() > ALERTS_EMBEDDED {
        let _ = write!(
            page,
            "<p class=\"note\">The filters redraw the timeline from the first {} alerts.</p>",
            count(ALERTS_EMBEDDED as u64)
        );
    }
    page.push_str("</section>\n");
}

/// The timeline's geometry, shared with the page's script: `bins` bins of `bin` ticks from
/// `t0` (a multiple of `bin`).
struct Geometry {
    t0: i64,
    bin: i64,
    bins: usize,
    x0: f64,
    bin_width: f64,
    lane: f64,
    top: f64,
}

impl Geometry {
    const WIDTH: f64 = 1100.0;
    const LABELS: f64 = 300.0;

    /// Bins of the first round length (a minute, five, …, a day, a week, thirty days) that
    /// covers `t0..=t1` in at most [`TIMELINE_BINS`] bins.
    fn of(t0: i64, t1: i64) -> Geometry {
        use crate::model::{TICKS_PER_DAY as D, TICKS_PER_HOUR as H, TICKS_PER_MINUTE as M};
        let round = [
            M,
            5 * M,
            10 * M,
            15 * M,
            30 * M,
            H,
            2 * H,
            3 * H,
            6 * H,
            12 * H,
            D,
            2 * D,
            7 * D,
            30 * D,
        ];
        let fits =
            |bin: i64| (t1.div_euclid(bin) - t0.div_euclid(bin) + 1) as usize <= TIMELINE_BINS;
        let bin = round
            .into_iter()
            .find(|b| fits(*b))
            .unwrap_or_else(|| ((t1 - t0) / (TIMELINE_BINS as i64 - 1)).max(1) + 1);
        let start = t0.div_euclid(bin) * bin;
        let bins =
            ((t1.div_euclid(bin) - t0.div_euclid(bin) + 1).max(1) as usize).min(TIMELINE_BINS);
        Geometry {
            t0: start,
            bin,
            bins,
            x0: Self::LABELS,
            bin_width: (Self::WIDTH - Self::LABELS - 10.0) / bins as f64,
            lane: 22.0,
            top: 8.0,
        }
    }

    fn bin(&self, tick: i64) -> usize {
        (((tick - self.t0).div_euclid(self.bin)).max(0) as usize).min(self.bins - 1)
    }

    /// A bin's start as its label: the date alone for bins of a day or more.
    fn label(&self, b: usize) -> String {
        let t = when(self.t0 + self.bin * b as i64);
        if self.bin % crate::model::TICKS_PER_DAY == 0 {
            t.chars().take(10).collect()
        } else {
            t.chars().take(16).collect()
        }
    }
}

/// The lanes of the timeline: the rules that fired, most severe first.
fn lanes(r: &RunReport, alerts: &[&Alert]) -> Vec<usize> {
    let fired: BTreeSet<usize> = alerts.iter().map(|a| a.rule).collect();
    let mut lanes: Vec<usize> = fired.into_iter().collect();
    lanes.sort_by_key(|&i| {
        let rule = r.rules.get(i);
        (
            std::cmp::Reverse(
                rule.and_then(|x| crate::alerts::severity_rank(&x.severity))
                    .unwrap_or(0),
            ),
            rule.map(|x| x.name.clone()).unwrap_or_default(),
        )
    });
    lanes
}

fn rule_rank(r: &RunReport, i: usize) -> usize {
    r.rules
        .get(i)
        .and_then(|x| crate::alerts::severity_rank(&x.severity))
        .unwrap_or(0)
}

/// The timeline: per rule that fired, its alerts binned over the logs' span.
fn timeline(page: &mut String, r: &RunReport, alerts: &[&Alert]) {
    page.push_str("<section id=\"timeline-section\"><h2>Timeline</h2>");
    let Some((t0, t1)) = span(r) else {
        page.push_str("<p>No records and no alerts: nothing to draw.</p></section>\n");
        return;
    };
    let g = Geometry::of(t0, t1);
    let lanes = lanes(r, alerts);
    let _ = write!(
        page,
        "<p>When each alert would have fired over the logs' span, from {} to {}, in bins \
         of {}; darker is more alerts. Hover a bar for its count.</p>",
        when(t0),
        when(t1),
        crate::plan::window::human_duration(g.bin)
    );
    let height = g.top + g.lane * lanes.len().max(1) as f64 + 40.0;
    let mut svg = Svg::new(
        "timeline",
        Geometry::WIDTH,
        height,
        "Alerts per rule over the logs' span",
    );
    let mut counts: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for a in alerts {
        counts.entry(a.rule).or_insert_with(|| vec![0; g.bins])[g.bin(a.tick)] += 1;
    }
    let max = counts.values().flatten().copied().max().unwrap_or(1).max(1);
    for (row, &rule) in lanes.iter().enumerate() {
        let y = g.top + g.lane * row as f64;
        let name = r.rules.get(rule).map_or("", |x| x.name.as_str());
        let rank = rule_rank(r, rule);
        svg.open_group(&[
            ("class", "lane"),
            ("data-rule", &rule.to_string()),
            ("data-y", &format!("{}", y + 3.0)),
        ]);
        let label: String = if name.chars().count() > 44 {
            name.chars().take(43).chain(['…']).collect()
        } else {
            name.to_string()
        };
        svg.text(g.x0 - 8.0, y + 15.0, "end", "lane-label", &label);
        svg.line(g.x0, y + g.lane, Geometry::WIDTH - 10.0, y + g.lane, "grid");
        if let Some(bins) = counts.get(&rule) {
            for (b, &c) in bins.iter().enumerate() {
                if c == 0 {
                    continue;
                }
                svg.rect(
                    g.x0 + g.bin_width * b as f64,
                    y + 3.0,
                    g.bin_width,
                    g.lane - 6.0,
                    severity_colour(rank),
                    opacity(c, max),
                    &format!("{name}: {c} alert(s) from {}", g.label(b)),
                );
            }
        }
        svg.close_group();
    }
    let axis_y = g.top + g.lane * lanes.len().max(1) as f64;
    svg.line(g.x0, axis_y, Geometry::WIDTH - 10.0, axis_y, "axis");
    // About six labels, at bin starts, each text starting at its tick (at least 130 px
    // apart: ⌈bins / 6⌉ bins of 790 / bins px), none past the right edge.
    let every = g.bins.div_ceil(6).max(1);
    for b in (0..g.bins).step_by(every) {
        let x = g.x0 + g.bin_width * b as f64;
        if x + 110.0 > Geometry::WIDTH {
            break;
        }
        svg.line(x, axis_y, x, axis_y + 5.0, "axis");
        svg.text(x, axis_y + 18.0, "start", "tick", &g.label(b));
    }
    page.push_str(&svg.finish());
    if lanes.is_empty() {
        page.push_str("<p>No alert was raised.</p>");
    }
    page.push_str("</section>\n");
}

/// A bin's opacity: more alerts darker, on a log scale (the page's script computes the same).
fn opacity(c: u64, max: u64) -> f64 {
    0.25 + 0.75 * ((1 + c) as f64).ln() / ((1 + max) as f64).ln()
}

/// An alert's rule and title (the title alone when it is the rule's name), escaped.
fn rule_and_title(r: &RunReport, a: &Alert) -> String {
    let rule = r.rules.get(a.rule).map_or("", |x| x.name.as_str());
    if a.title == rule || rule.is_empty() {
        escape(&a.title)
    } else {
        format!("{}: {}", escape(rule), escape(&a.title))
    }
}

/// The names of rules `rules`, joined.
fn rule_names(r: &RunReport, rules: &[usize]) -> String {
    rules
        .iter()
        .map(|&i| r.rules.get(i).map_or("", |x| x.name.as_str()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The incident table.
fn incidents(page: &mut String, r: &RunReport) {
    page.push_str("<section id=\"incidents\"><h2>Incidents</h2>");
    if r.incidents.is_empty() {
        page.push_str("<p>No incident: no alert was raised.</p></section>\n");
        return;
    }
    page.push_str(
        "<table id=\"incident-table\"><thead><tr><th>#</th><th>Severity</th><th>Title</th>\
         <th>First</th><th>Last</th><th class=\"num\">Alerts</th><th>Rules</th><th>Entities</th>\
         </tr></thead><tbody>",
    );
    for (n, i) in r.incidents.iter().take(INCIDENTS_SHOWN).enumerate() {
        let rules: String = i.rules.iter().map(|x| format!(" {x}")).collect::<String>() + " ";
        let shown: Vec<String> = i.entities.iter().take(6).map(|e| escape(e)).collect();
        let more = i.entities.len().saturating_sub(6);
        let _ = write!(
            page,
            "<tr class=\"incident\" data-sev=\"{}\" data-rules=\"{}\" data-ents=\"{}\">\
             <td>{}</td><td><span class=\"sev sev{}\">{}</span></td><td>{}<details><summary>\
             its alerts</summary><ol>",
            i.severity,
            rules,
            escape(&i.entities.join("\n")),
            n + 1,
            i.severity,
            severity_name(i.severity),
            escape(&i.title)
        );
        for m in &i.members {
            let _ = write!(
                page,
                "<li>{} <span class=\"sev sev{}\">{}</span> {}</li>",
                when(m.tick),
                m.severity,
                severity_name(m.severity),
                rule_and_title(r, m)
            );
        }
        if i.alerts > i.members.len() {
            let _ = write!(page, "<li>… and {} more</li>", i.alerts - i.members.len());
        }
        let _ = write!(
            page,
            "</ol></details></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td>{}{}</td></tr>",
            when(i.first),
            when(i.last),
            i.alerts,
            escape(&rule_names(r, &i.rules)),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    page.push_str("</tbody></table>");
    if r.incidents.len() > INCIDENTS_SHOWN {
        let _ = write!(
            page,
            "<p class=\"note\">{} more incidents are not listed; <code>--incidents-out FILE</code> \
             writes them all.</p>",
            count((r.incidents.len() - INCIDENTS_SHOWN) as u64)
        );
    }
    page.push_str("</section>\n");
}

/// An entity of the alerts: its type, its value as first seen, its alerts in time order.
struct Entity<'a> {
    kind: String,
    value: String,
    alerts: Vec<&'a Alert>,
}

/// The alerts' entities, keyed by type and lower-cased value.
fn entity_index<'a>(alerts: &[&'a Alert]) -> BTreeMap<(String, String), Entity<'a>> {
    let mut out: BTreeMap<(String, String), Entity<'a>> = BTreeMap::new();
    for a in alerts {
        let mut seen = BTreeSet::new();
        for (k, v) in &a.entities {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let kind = k.split('.').next().unwrap_or(k).to_string();
            let key = (kind.clone(), v.to_lowercase());
            if !seen.insert(key.clone()) {
                continue;
            }
            out.entry(key)
                .or_insert_with(|| Entity {
                    kind,
                    value: v.to_string(),
                    alerts: Vec::new(),
                })
                .alerts
                .push(a);
        }
    }
    out
}

/// The entity table: each entity's alerts across rules, in time order.
fn entities(page: &mut String, r: &RunReport, alerts: &[&Alert]) {
    page.push_str(
        "<section id=\"entities\"><h2>Entities</h2><p>Each user, service principal, IP address \
         and application the alerts name, with its alerts across rules in time order; most \
         alerted first.</p>",
    );
    let index = entity_index(alerts);
    let mut list: Vec<&Entity> = index.values().collect();
    list.sort_by(|a, b| {
        b.alerts
            .len()
            .cmp(&a.alerts.len())
            .then_with(|| a.value.to_lowercase().cmp(&b.value.to_lowercase()))
    });
    if list.is_empty() {
        page.push_str("<p>The alerts name no entity.</p></section>\n");
        return;
    }
    page.push_str(
        "<table id=\"entity-table\"><thead><tr><th>Entity</th><th>Type</th>\
         <th class=\"num\">Alerts</th><th>Rules</th><th>First</th><th>Last</th></tr></thead>",
    );
    for e in list.iter().take(ENTITIES_SHOWN) {
        let rules: BTreeSet<usize> = e.alerts.iter().map(|a| a.rule).collect();
        let first = e.alerts.first().map(|a| when(a.tick)).unwrap_or_default();
        let last = e.alerts.last().map(|a| when(a.tick)).unwrap_or_default();
        let _ = write!(
            page,
            "<tbody class=\"ent\" data-ent=\"{}\"><tr class=\"ent-head\"><th>{}</th><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{first}</td><td>{last}</td></tr>",
            escape(&format!("{} {}", e.kind, e.value).to_lowercase()),
            escape(&e.value),
            escape(&e.kind),
            e.alerts.len(),
            rules.len()
        );
        for a in e.alerts.iter().take(ALERTS_PER_ENTITY) {
            let _ = write!(
                page,
                "<tr class=\"ent-alert\" data-sev=\"{}\" data-rule=\"{}\"><td>{}</td>\
                 <td><span class=\"sev sev{}\">{}</span></td><td colspan=\"4\">{}</td></tr>",
                a.severity,
                a.rule,
                when(a.tick),
                a.severity,
                severity_name(a.severity),
                rule_and_title(r, a)
            );
        }
        if e.alerts.len() > ALERTS_PER_ENTITY {
            let _ = write!(
                page,
                "<tr class=\"more\"><td colspan=\"6\">… and {} more</td></tr>",
                e.alerts.len() - ALERTS_PER_ENTITY
            );
        }
        page.push_str("</tbody>");
    }
    page.push_str("</table>");
    if list.len() > ENTITIES_SHOWN {
        let _ = write!(
            page,
            "<p class=\"note\">{} entities with fewer alerts are not listed.</p>",
            count((list.len() - ENTITIES_SHOWN) as u64)
        );
    }
    page.push_str("</section>\n");
}

/// The MITRE ATT&CK tactics, in the enterprise matrix's order.
const TACTICS: [&str; 14] = [
    "Reconnaissance",
    "ResourceDevelopment",
    "InitialAccess",
    "Execution",
    "Persistence",
    "PrivilegeEscalation",
    "DefenseEvasion",
    "CredentialAccess",
    "Discovery",
    "LateralMovement",
    "Collection",
    "CommandAndControl",
    "Exfiltration",
    "Impact",
];

/// A tactic's name without spaces, as Sentinel writes it (`Credential Access` →
/// `CredentialAccess`), in the matrix's spelling when it is one of its tactics.
fn tactic_key(t: &str) -> String {
    let squeezed: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    TACTICS
        .iter()
        .find(|x| x.eq_ignore_ascii_case(&squeezed))
        .map_or(squeezed, |x| x.to_string())
}

/// The MITRE ATT&CK matrix: a column per tactic of the rules, a cell per technique, with the
/// alerts raised under it.
fn mitre(page: &mut String, r: &RunReport) {
    page.push_str(
        "<section id=\"mitre\"><h2>MITRE ATT&amp;CK</h2><p>The tactics and techniques of the \
         rules run; those that fired are coloured by how many alerts they raised.</p>",
    );
    // tactic → technique → (alerts, rules)
    let mut cells: BTreeMap<String, BTreeMap<String, (u64, BTreeSet<String>)>> = BTreeMap::new();
    for rule in &r.rules {
        let techniques: Vec<String> = if rule.techniques.is_empty() {
            vec!["(no technique)".to_string()]
        } else {
            rule.techniques.clone()
        };
        for t in &rule.tactics {
            for tech in &techniques {
                let cell = cells
                    .entry(tactic_key(t))
                    .or_default()
                    .entry(tech.clone())
                    .or_default();
                cell.0 += rule.alerts;
                cell.1.insert(rule.name.clone());
            }
        }
    }
    if cells.is_empty() {
        page.push_str("<p>The rules name no tactic.</p></section>\n");
        return;
    }
    let mut order: Vec<String> = TACTICS
        .iter()
        .filter(|t| cells.contains_key(**t))
        .map(|t| t.to_string())
        .collect();
    order.extend(
        cells
            .keys()
            .filter(|k| !TACTICS.contains(&k.as_str()))
            .cloned(),
    );
    let max = cells
        .values()
        .flat_map(|m| m.values().map(|c| c.0))
        .max()
        .unwrap_or(1)
        .max(1);
    page.push_str("<div id=\"mitre-matrix\" class=\"matrix\">");
    for tactic in &order {
        let Some(techs) = cells.get(tactic) else {
            continue;
        };
        let total: u64 = techs.values().map(|c| c.0).sum();
        let _ = write!(
            page,
            "<div class=\"tactic{}\"><div class=\"tactic-name\">{}<br><small>{} alert(s)</small></div>",
            if total > 0 { " fired" } else { "" },
            escape(tactic),
            count(total)
        );
        for (tech, (n, rules)) in techs {
            let style = if *n > 0 {
                format!(
                    " style=\"background: rgba(192,57,43,{:.2})\"",
                    opacity(*n, max) * 0.8
                )
            } else {
                String::new()
            };
            let _ = write!(
                page,
                "<div class=\"technique{}\"{style} title=\"{}\">{} <b>{}</b></div>",
                if *n > 0 { " fired" } else { "" },
                escape(&rules.iter().cloned().collect::<Vec<_>>().join("; ")),
                escape(tech),
                if *n > 0 { count(*n) } else { String::new() }
            );
        }
        page.push_str("</div>");
    }
    page.push_str("</div></section>\n");
}

/// The replay's plots: tick latency percentiles and records/s over the run.
fn replay(page: &mut String, f: &super::ReplayFigures) {
    let _ = write!(
        page,
        "<section id=\"replay\"><h2>Replay</h2><p>Speed {}, tick {}, {} worker(s); ingest \
         {:.2} s, replay {:.2} s ({}× real time); {} ticks measured.</p>",
        escape(&f.speed),
        escape(&f.tick),
        f.workers,
        f.ingest_seconds,
        f.replay_seconds,
        short_number(f.speedup.round()),
        count(f.ticks)
    );
    page.push_str("<h3>Tick latency</h3>");
    if f.latency.is_empty() {
        page.push_str("<p>No tick was measured.</p>");
    } else {
        // hdrhistogram's percentile plot: x is log10(1 / (1 - q)), the maximum just past
        // the last percentile.
        let last = 5.0;
        let x = |q: f64| {
            if q >= 1.0 {
                last + 0.6
            } else {
                (1.0 / (1.0 - q)).log10().min(last)
            }
        };
        let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
        let mut x_ticks: Vec<(f64, String)> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, l.to_string()))
            .collect();
        x_ticks.push((last + 0.6, "max".to_string()));
        let chart = LineChart {
            id: "latency",
            label: "Tick latency by percentile",
            x_title: "percentile",
            y_title: "latency (ms)",
            x_range: (0.0, last + 0.6),
            x_ticks,
            points: f.latency.iter().map(|(q, ms)| (x(*q), *ms)).collect(),
            tips: f
                .latency
                .iter()
                .map(|(q, ms)| format!("p{} = {ms:.3} ms", short_number(q * 100.0)))
                .collect(),
            colour: "#2c7bb6",
        };
        page.push_str(&chart.render());
    }
    page.push_str("<h3>Records per second</h3>");
    let rates = rates(&f.progress, 60);
    if rates.len() < 2 {
        page.push_str("<p>The replay was too short to plot its throughput.</p>");
    } else {
        let end = f
            .progress
            .last()
            .map_or(1.0, |p| p.0)
            .max(f64::MIN_POSITIVE);
        let x_ticks = (0..=5)
            .map(|k| {
                let x = end * k as f64 / 5.0;
                (x, format!("{} s", short_number((x * 10.0).round() / 10.0)))
            })
            .collect();
        let chart = LineChart {
            id: "throughput",
            label: "Records per second over the replay",
            x_title: "seconds into the replay",
            y_title: "records/s",
            x_range: (0.0, end),
            x_ticks,
            points: rates,
            tips: Vec::new(),
            colour: "#1a9850",
        };
        page.push_str(&chart.render());
    }
    page.push_str("</section>\n");
}

/// Records per second in `buckets` equal spans of the run, from (seconds, records so far)
/// samples: (the span's middle, its rate).
fn rates(progress: &[(f64, u64)], buckets: usize) -> Vec<(f64, f64)> {
    let Some(&(end, _)) = progress.last() else {
        return Vec::new();
    };
    if end <= 0.0 || progress.len() < 2 {
        return Vec::new();
    }
    // Records so far at time t, interpolated between samples.
    let at = |t: f64| -> f64 {
        let i = progress.partition_point(|p| p.0 < t);
        match (
            i.checked_sub(1).and_then(|j| progress.get(j)),
            progress.get(i),
        ) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                a.1 as f64 + (b.1 as f64 - a.1 as f64) * (t - a.0) / (b.0 - a.0)
            }
            (_, Some(b)) => b.1 as f64 * if b.0 > 0.0 { (t / b.0).min(1.0) } else { 1.0 },
            (Some(a), None) => a.1 as f64,
            (None, None) => 0.0,
        }
    };
    let step = end / buckets as f64;
    (0..buckets)
        .map(|k| {
            let (a, b) = (step * k as f64, step * (k + 1) as f64);
            ((a + b) / 2.0, (at(b) - at(a)) / step)
        })
        .collect()
}

/// The data the page's script filters: the timeline's geometry and the first alerts as
/// `[seconds after the start, rule, severity, [entity numbers]]`, with the entities' names.
fn data(r: &RunReport, alerts: &[&Alert]) -> serde_json::Value {
    let Some((t0, t1)) = span(r) else {
        return serde_json::json!({});
    };
    let g = Geometry::of(t0, t1);
    let mut names: Vec<String> = Vec::new();
    let mut numbers: BTreeMap<String, usize> = BTreeMap::new();
    let rows: Vec<serde_json::Value> = alerts
        .iter()
        .take(ALERTS_EMBEDDED)
        .map(|a| {
            let mut ids: Vec<usize> = a
                .entities
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| {
                    let kind = k.split('.').next().unwrap_or(k);
                    let name = format!("{kind} {}", v.trim()).to_lowercase();
                    *numbers.entry(name.clone()).or_insert_with(|| {
                        names.push(name);
                        names.len() - 1
                    })
                })
                .collect();
            ids.sort_unstable();
            ids.dedup();
            serde_json::json!([g.bin(a.tick), a.rule, a.severity, ids])
        })
        .collect();
    let rule_colours: BTreeMap<String, &str> = lanes(r, alerts)
        .into_iter()
        .map(|i| (i.to_string(), severity_colour(rule_rank(r, i))))
        .collect();
    let rule_names: BTreeMap<String, &str> = lanes(r, alerts)
        .into_iter()
        .map(|i| {
            (
                i.to_string(),
                r.rules.get(i).map_or("", |x| x.name.as_str()),
            )
        })
        .collect();
    serde_json::json!({
        "bins": g.bins,
        "x0": g.x0,
        "bw": g.bin_width,
        "lh": g.lane - 6.0,
        "binStarts": (0..g.bins).map(|b| g.label(b)).collect::<Vec<_>>(),
        "colours": rule_colours,
        "names": rule_names,
        "alerts": rows,
        "ents": names,
    })
}

/// The page's style sheet.
const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px}
header .meta{margin:4px 0 8px;color:#b8c0cc;font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
nav a{color:#9cc9ff;margin-right:16px;text-decoration:none}
main{padding:12px 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px;margin:12px 0}
h2{margin:4px 0 8px;font-size:18px}
h3{margin:14px 0 6px;font-size:15px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceff2;vertical-align:top}
thead th{background:#f0f2f5;position:sticky;top:0}
.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px;background:none;border:none;padding:0}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 16px;min-width:150px}
.card .big{font-size:26px;font-weight:600}
.sev{display:inline-block;border-radius:3px;padding:0 6px;color:#fff;font-size:12px;margin-right:4px}
.sev0{background:#6c7a89}.sev1{background:#2c7bb6}.sev2{background:#d98200}.sev3{background:#c0392b}
.tag{font-size:11px;color:#6c7a89}
.note{color:#6c7a89;font-size:12px}
.examples{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.filters{position:sticky;top:0;z-index:2}
.filters label{margin-right:6px}
#f-entity{width:260px}
#f-rule{max-width:340px}
svg text{font-size:11px;fill:#1d2330}
svg#latency,svg#throughput{max-width:760px;display:block}
svg .tick{fill:#5a6472}
svg .axis-title{font-weight:600}
svg line.axis{stroke:#5a6472}
svg line.grid{stroke:#eceff2}
tbody.ent tr.ent-head th,tbody.ent tr.ent-head td{background:#f7f8fa;border-top:2px solid #dde1e6}
tr.ent-alert td:first-child{padding-left:24px;white-space:nowrap}
details summary{cursor:pointer;color:#2c6fb7;font-size:12px}
.matrix{display:flex;gap:6px;overflow-x:auto}
.tactic{flex:1 0 120px;display:flex;flex-direction:column;gap:4px}
.tactic-name{font-weight:600;padding:4px;border-bottom:3px solid #dde1e6}
.tactic.fired .tactic-name{border-bottom-color:#c0392b}
.technique{border:1px solid #dde1e6;border-radius:4px;padding:4px;font-size:12px;color:#9aa3ad}
.technique.fired{color:#1d2330;border-color:#c0392b}
.hidden{display:none}
"#;

/// The page's script: the filters (severity, rule, entity) over the timeline, the incidents and
/// the entity table. It writes an element `#report-ready` when it has run, for the browser
/// test.
const SCRIPT: &str = r##"
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent || "{}");
  var SVGNS = "http://www.w3.org/2000/svg";
  var sevBoxes = Array.prototype.slice.call(document.querySelectorAll("#filters input[name=sev]"));
  var ruleSel = document.getElementById("f-rule");
  var entIn = document.getElementById("f-entity");
  var status = document.getElementById("filter-status");
  function state() {
    var sev = {};
    sevBoxes.forEach(function (b) { if (b.checked) sev[b.value] = true; });
    return { sev: sev, rule: ruleSel ? ruleSel.value : "", ent: entIn ? entIn.value.trim().toLowerCase() : "" };
  }
  function entMatch(ids, q) {
    if (!q) return true;
    for (var i = 0; i < ids.length; i++) if ((D.ents[ids[i]] || "").indexOf(q) >= 0) return true;
    return false;
  }
  function alertShown(a, s) {
    return !!s.sev[a[2]] && (s.rule === "" || String(a[1]) === s.rule) && entMatch(a[3], s.ent);
  }
  function redrawTimeline(s) {
    if (!D.alerts) return 0;
    var counts = {}, shown = 0, max = 1;
    D.alerts.forEach(function (a) {
      if (!alertShown(a, s)) return;
      shown++;
      var c = counts[a[1]] || (counts[a[1]] = new Array(D.bins).fill(0));
      c[a[0]]++;
      if (c[a[0]] > max) max = c[a[0]];
    });
    Array.prototype.forEach.call(document.querySelectorAll("#timeline g.lane"), function (g) {
      var rule = g.getAttribute("data-rule"), y = g.getAttribute("data-y");
      Array.prototype.forEach.call(g.querySelectorAll("rect"), function (e) { g.removeChild(e); });
      var c = counts[rule];
      if (!c) return;
      c.forEach(function (n, b) {
        if (!n) return;
        var e = document.createElementNS(SVGNS, "rect");
        e.setAttribute("x", (D.x0 + D.bw * b).toFixed(1));
        e.setAttribute("y", y);
        e.setAttribute("width", D.bw.toFixed(1));
        e.setAttribute("height", D.lh);
        e.setAttribute("fill", D.colours[rule] || "#6c7a89");
        e.setAttribute("fill-opacity", (0.25 + 0.75 * Math.log(1 + n) / Math.log(1 + max)).toFixed(2));
        var t = document.createElementNS(SVGNS, "title");
        t.textContent = (D.names[rule] || "") + ": " + n + " alert(s) from " + D.binStarts[b];
        e.appendChild(t);
        g.appendChild(e);
      });
    });
    return shown;
  }
  function apply() {
    var s = state();
    var shown = redrawTimeline(s);
    Array.prototype.forEach.call(document.querySelectorAll("tr.incident"), function (tr) {
      var ok = !!s.sev[tr.getAttribute("data-sev")] &&
        (s.rule === "" || tr.getAttribute("data-rules").indexOf(" " + s.rule + " ") >= 0) &&
        (!s.ent || tr.getAttribute("data-ents").indexOf(s.ent) >= 0);
      tr.classList.toggle("hidden", !ok);
    });
    Array.prototype.forEach.call(document.querySelectorAll("tbody.ent"), function (tb) {
      var entOk = !s.ent || tb.getAttribute("data-ent").indexOf(s.ent) >= 0, any = false;
      Array.prototype.forEach.call(tb.querySelectorAll("tr.ent-alert"), function (tr) {
        var ok = !!s.sev[tr.getAttribute("data-sev")] && (s.rule === "" || tr.getAttribute("data-rule") === s.rule);
        tr.classList.toggle("hidden", !ok);
        if (ok) any = true;
      });
      tb.classList.toggle("hidden", !(entOk && any));
    });
    if (status && D.alerts) status.textContent = shown + " of " + D.alerts.length + " alerts shown";
  }
  sevBoxes.forEach(function (b) { b.addEventListener("change", apply); });
  if (ruleSel) ruleSel.addEventListener("change", apply);
  if (entIn) entIn.addEventListener("input", apply);
  apply();
  var ready = document.createElement("p");
  ready.id = "report-ready";
  ready.className = "hidden";
  ready.textContent = "report script ran";
  document.body.appendChild(ready);
})();
"##;

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    const H: i64 = crate::model::TICKS_PER_HOUR;
    const T0: i64 = crate::demo::T0;

    fn alert(hour: i64, rule: usize, severity: usize, user: &str, ip: &str) -> Alert {
        Alert {
            tick: T0 + hour * H,
            rule,
            severity,
            title: format!("alert of rule {rule} for {user}"),
            entities: vec![
                ("Account.FullName".into(), user.into()),
                ("IP.Address".into(), ip.into()),
            ],
        }
    }

    /// A small hunt: two rules, three alerts (one with a script for a user name), two
    /// incidents, a reject.
    fn small_hunt() -> RunReport {
        let evil = "<script>alert(1)</script>";
        let alerts = vec![
            alert(1, 0, 2, "alice@contoso.com", "203.0.113.5"),
            alert(2, 1, 3, "alice@contoso.com", "198.51.100.7"),
            alert(30, 1, 3, evil, "192.0.2.1"),
        ];
        let mut grouper =
            crate::alerts::incidents::Grouper::new(crate::alerts::incidents::Options {
                scope: crate::alerts::incidents::Scope::AcrossRules,
                matching: crate::alerts::incidents::Matching::Any,
                window: 24 * H,
            });
        for a in &alerts {
            grouper.add(crate::alerts::incidents::Member {
                rule: a.rule,
                tick: a.tick as u64,
                severity: a.severity,
                title: a.title.clone(),
                entities: a.entities.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            });
        }
        RunReport {
            command: "hunt".into(),
            command_line: "kqlflow hunt --logs logs/ --report r.html".into(),
            version: "0.1.0".into(),
            tables: vec![TableRead {
                table: "SigninLogs".into(),
                records: 1234,
                first: Some(T0),
                last: Some(T0 + 48 * H),
            }],
            rejects: vec![Rejected {
                reason: "malformed JSON".into(),
                count: 2,
                examples: vec!["logs/a.json:3: <oops>".into()],
            }],
            late: Late {
                order: "event".into(),
                ..Late::default()
            },
            wall_seconds: 0.5,
            rules: vec![
                RuleRun {
                    name: "Password spray".into(),
                    id: "a".into(),
                    severity: "Medium".into(),
                    tactics: vec!["CredentialAccess".into()],
                    techniques: vec!["T1110".into()],
                    records_read: 1234,
                    rows_kept: 5,
                    alerts: 1,
                    ..RuleRun::default()
                },
                RuleRun {
                    name: "Impossible travel".into(),
                    id: "b".into(),
                    severity: "High".into(),
                    tactics: vec!["Initial Access".into()],
                    techniques: vec!["T1078".into()],
                    records_read: 1234,
                    rows_kept: 2,
                    alerts: 2,
                    ..RuleRun::default()
                },
            ],
            incidents: grouper
                .incidents()
                .iter()
                .map(|i| Incident::of(i))
                .collect(),
            alerts,
            ..RunReport::default()
        }
    }

    #[test]
    fn the_page_of_a_small_hunt() {
        let page = render(&small_hunt());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.trim_end().ends_with("</html>"));
        // Self-contained: no external resource.
        for external in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
            assert!(!page.contains(external), "{external}");
        }
        // The run.
        assert!(page.contains("<td>SigninLogs</td><td class=\"num\">1\u{202f}234</td><td>2024-05-01 00:00:00</td><td>2024-05-03 00:00:00</td>"), "{page}");
        assert!(page.contains("<td>malformed JSON</td><td class=\"num\">2</td>"));
        assert!(page.contains("logs/a.json:3: &lt;oops&gt;"));
        assert!(page.contains("<td>Password spray</td><td><span class=\"sev sev2\">Medium</span></td><td>CredentialAccess</td><td class=\"num\">1\u{202f}234</td><td class=\"num\">5</td><td class=\"num\">1</td>"), "{page}");
        // Incidents: alice's two alerts are one (High), the other user's another (High).
        let incidents = page.split("<section id=\"incidents\">").nth(1).unwrap();
        let incidents = incidents.split("</section>").next().unwrap();
        assert_eq!(incidents.matches("<tr class=\"incident\"").count(), 2);
        assert!(incidents.contains("data-rules=\" 0 1 \""), "{incidents}");
        assert!(page.contains("<div class=\"big\">2</div><div>incidents</div>"));
        assert!(page.contains("<div class=\"big\">3</div><div>alerts</div>"));
        // The timeline: a lane per rule that fired, the High one first, bars in bins.
        let svg = page.split("<svg id=\"timeline\"").nth(1).unwrap();
        let svg = svg.split("</svg>").next().unwrap();
        assert_eq!(svg.matches("<g class=\"lane\"").count(), 2);
        assert!(
            svg.find("data-rule=\"1\"").unwrap() < svg.find("data-rule=\"0\"").unwrap(),
            "{svg}"
        );
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(
            svg.contains("Impossible travel: 1 alert(s) from 2024-05-02 06:00<"),
            "{svg}"
        );
        assert!(page.contains("in bins of 30m;"), "{page}");
        // The entity table: alice with her two alerts, in time order.
        let ents = page.split("<table id=\"entity-table\">").nth(1).unwrap();
        let alice = ents
            .split("<tbody class=\"ent\" data-ent=\"account alice@contoso.com\">")
            .nth(1)
            .unwrap();
        let alice = alice.split("</tbody>").next().unwrap();
        assert_eq!(alice.matches("<tr class=\"ent-alert\"").count(), 2);
        assert!(alice.find("Password spray").unwrap() < alice.find("Impossible travel").unwrap());
        assert_eq!(ents.matches("<tbody class=\"ent\"").count(), 5);
        // The matrix: the tactics in ATT&CK order, spaces squeezed.
        let matrix = page.split("<div id=\"mitre-matrix\"").nth(1).unwrap();
        let initial = matrix.find(">InitialAccess<").unwrap();
        let credential = matrix.find(">CredentialAccess<").unwrap();
        assert!(initial < credential);
        assert!(matrix.contains("T1078 <b>2</b>") && matrix.contains("T1110 <b>1</b>"));
        // Escaping: the user named <script> is text everywhere, in the page and its data.
        assert!(!page.contains("<script>alert(1)"), "unescaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(page.matches("<script").count(), 2);
        assert_eq!(page.matches("</script>").count(), 2);
        let data = page.split("id=\"report-data\">").nth(1).unwrap();
        let data = data.split("</script>").next().unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 3);
        assert!(
            v["ents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "account <script>alert(1)</script>")
        );
        // No replay section for a hunt.
        assert!(!page.contains("id=\"replay\""));
    }

    #[test]
    fn a_replay_shows_its_latency_and_throughput() {
        let mut r = small_hunt();
        r.replay = Some(ReplayFigures {
            speed: "max".into(),
            tick: "1s".into(),
            workers: 1,
            replay_seconds: 2.0,
            ticks: 100,
            latency: vec![(0.0, 0.1), (0.5, 0.2), (0.9, 0.5), (0.99, 1.5), (1.0, 4.0)],
            progress: vec![(0.5, 1000), (1.0, 3000), (2.0, 4000)],
            ..ReplayFigures::default()
        });
        let page = render(&r);
        assert!(page.contains("<svg id=\"latency\""));
        assert!(page.contains("<title>p99 = 1.500 ms</title>"), "{page}");
        assert!(page.contains("<svg id=\"throughput\""));
        let rates = rates(&r.replay.as_ref().unwrap().progress, 4);
        // 0–0.5 s: 1000 records; 0.5–1: 2000; 1–1.5 and 1.5–2: 500 each.
        assert_eq!(
            rates,
            vec![
                (0.25, 2000.0),
                (0.75, 4000.0),
                (1.25, 1000.0),
                (1.75, 1000.0)
            ]
        );
    }

    #[test]
    fn many_alerts_make_a_bounded_page() {
        let mut r = small_hunt();
        r.alerts = (0..60_000)
            .map(|i| {
                alert(
                    i % 48,
                    i as usize % 2,
                    2,
                    &format!("user{}", i % 5000),
                    "10.0.0.1",
                )
            })
            .collect();
        let page = render(&r);
        let ents = page.split("<table id=\"entity-table\">").nth(1).unwrap();
        assert_eq!(ents.matches("<tbody class=\"ent\"").count(), ENTITIES_SHOWN);
        assert!(page.contains("entities with fewer alerts are not listed"));
        assert!(page.contains("The filters redraw the timeline from the first"));
        // The timeline is binned: at most a bar per bin and rule.
        let svg = page.split("<svg id=\"timeline\"").nth(1).unwrap();
        let svg = svg.split("</svg>").next().unwrap();
        assert!(svg.matches("<rect").count() <= 2 * TIMELINE_BINS);
        assert!(page.len() < 4_000_000, "{} bytes", page.len());
    }

    #[test]
    fn a_run_that_read_nothing_still_makes_a_page() {
        let page = render(&RunReport {
            command: "hunt".into(),
            ..RunReport::default()
        });
        assert!(page.contains("No records and no alerts: nothing to draw."));
        assert!(page.contains("No incident: no alert was raised."));
        assert!(page.contains("The alerts name no entity."));
        assert!(page.contains("No records were read."));
        assert!(page.contains("id=\"report-data\">{}</script>"));
    }

    #[test]
    fn escape_covers_text_and_attributes() {
        assert_eq!(
            escape("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            script_json(&serde_json::json!(["</script><!--&"])),
            "[\"\\u003c/script\\u003e\\u003c!--\\u0026\"]"
        );
    }
}
