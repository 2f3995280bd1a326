//! The command line's options on reading logs: the order records arrive in, late records, the
//! rejects file, and the warnings and summary lines of a read. The reading itself is the
//! library's [`crate::logs`].

use std::collections::HashMap;
use std::path::PathBuf;

use super::check::QueryOptions;
use crate::eval::Watchlist;
use crate::logs::{Arrival, Order, ReadCounts};
use crate::model::parse_timespan;
use crate::runtime::ClusterOptions;
use crate::runtime::arrival::LatePolicy;

/// The run summary's line on late records: in `order` (an [`Order::name`]) with the allowed
/// `lateness` (as given) and the `policy` name, `late` records were late, `accepted` of them
/// entered late and `rejected` were rejected.
pub fn late_summary(
    order: &str,
    lateness: &str,
    policy: &str,
    late: u64,
    accepted: u64,
    rejected: u64,
) -> String {
    if order == Order::Event.name() {
        return "late records: 0 (event-time order)".to_string();
    }
    format!(
        "late records: {late} ({accepted} entered late, {rejected} rejected; arrival order, allowed lateness {lateness}, --late={policy})"
    )
}

/// What becomes of a late record (`--late`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Late {
    /// It enters at the current tick (the watermark's), its row unchanged.
    Accept,
    /// It is not fed: it is counted with the rejects and written to the rejects file.
    Reject,
}

/// The default of `--allowed-lateness`.
pub const DEFAULT_LATENESS: &str = "5m";

/// The options of `hunt` and `replay` on the order records arrive in, late records and the
/// rejects file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ArrivalArgs {
    /// The order records reach the rules in.
    #[arg(long, value_enum, default_value_t = Order::Event)]
    pub order: Order,
    /// With --order arrival: how far the watermark trails the newest event time seen, such
    /// as 5m, 30s or 1h (default 5m); a record older than the watermark is late.
    #[arg(long, value_name = "TIMESPAN")]
    pub allowed_lateness: Option<String>,
    /// With --order arrival: what becomes of a late record (default: accept); either way it
    /// is counted and reported.
    #[arg(long, value_enum, value_name = "accept|reject")]
    pub late: Option<Late>,
    /// Write every rejected line (ingest's rejects, and late records under --late=reject) to
    /// FILE as JSON Lines (file, line, reason, detail, text). In a cluster process p writes
    /// FILE.p.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// A record stamped more than this ahead of the wall clock (or, with --order arrival, of
    /// the newest record before it) is rejected as a future record: a bad clock would
    /// otherwise make every later record late (default 1d). `none` accepts any time.
    #[arg(long, value_name = "TIMESPAN|none")]
    pub max_ahead: Option<String>,
}

/// `--max-ahead`: a timespan (default 1d), or `none` for no bound; or a usage error.
pub fn max_ahead(text: Option<&str>) -> Result<Option<i64>, String> {
    match text.map(str::trim) {
        None => Ok(Some(crate::model::TICKS_PER_DAY)),
        Some(t) if t.eq_ignore_ascii_case("none") => Ok(None),
        Some(t) => match parse_timespan(t) {
            Some(v) if v > 0 => Ok(Some(v)),
            _ => Err(format!(
                "--max-ahead {t}: not a positive timespan (such as 1d or 6h) nor `none`"
            )),
        },
    }
}

impl ArrivalArgs {
    /// The arrival options these arguments give for ticks `tick` long, or the message of a
    /// usage error (a lateness that is not a timespan of zero or more).
    pub fn arrival(&self, tick: i64) -> Result<Arrival, String> {
        let text = self.lateness_text();
        let lateness = match parse_timespan(text) {
            Some(l) if l >= 0 => l,
            _ => {
                return Err(format!(
                    "--allowed-lateness {text}: not a timespan of zero or more (such as 5m, 30s, 1h)"
                ));
            }
        };
        Ok(Arrival {
            order: self.order,
            lateness,
            late: match self.late {
                Some(Late::Reject) => LatePolicy::Reject,
                Some(Late::Accept) | None => LatePolicy::Accept,
            },
            tick,
            max_ahead: max_ahead(self.max_ahead.as_deref())?,
        })
    }

    /// The allowed lateness as given (or its default).
    pub fn lateness_text(&self) -> &str {
        self.allowed_lateness.as_deref().unwrap_or(DEFAULT_LATENESS)
    }

    /// A note for standard error when --late or --allowed-lateness is given without
    /// `--order arrival`, where it has no effect.
    pub fn unused_note(&self) -> Option<&'static str> {
        (self.order == Order::Event && (self.late.is_some() || self.allowed_lateness.is_some()))
            .then_some(
                "note: --late and --allowed-lateness apply with --order arrival; in event-time order no record is late",
            )
    }

    /// The rejects file this process writes: `--rejects FILE`, as FILE.p for process p of a
    /// cluster of several ([`crate::logs::rejects_of_process`]).
    pub fn rejects_path(&self, cluster: &ClusterOptions) -> Option<PathBuf> {
        let path = self.rejects.as_ref()?;
        Some(crate::logs::rejects_of_process(path, cluster))
    }
}

/// Reads the watchlist files named by `--watchlist NAME=FILE.csv[@DATETIME]`, each with its
/// later versions.
pub fn load_watchlists(common: &QueryOptions) -> Result<HashMap<String, Watchlist>, String> {
    common.options()?.load_watchlists()
}

/// Prints the warnings of a read on standard error: rejected lines, records left out, late
/// records with the first few named.
pub fn warn(counts: &ReadCounts) {
    for line in counts.warnings() {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Arrival, Order};
    use crate::model::{TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND};
    use crate::runtime::ClusterOptions;
    use crate::runtime::arrival::LatePolicy;

    #[test]
    fn arrival_options_from_arguments() {
        let args = ArrivalArgs::default();
        let a = args.arrival(TICKS_PER_SECOND).unwrap();
        assert_eq!(a, Arrival::default());
        assert_eq!(a.lateness, 5 * TICKS_PER_MINUTE);
        assert_eq!(args.unused_note(), None);
        let args = ArrivalArgs {
            order: Order::Arrival,
            allowed_lateness: Some("1h".into()),
            late: Some(Late::Reject),
            rejects: None,
            max_ahead: Some("6h".into()),
        };
        let a = args.arrival(TICKS_PER_MINUTE).unwrap();
        assert_eq!(a.max_ahead, Some(6 * TICKS_PER_HOUR));
        assert_eq!(max_ahead(Some("none")), Ok(None));
        assert!(max_ahead(Some("soon")).is_err());
        assert_eq!(
            (a.order, a.lateness, a.late, a.tick),
            (
                Order::Arrival,
                TICKS_PER_HOUR,
                LatePolicy::Reject,
                TICKS_PER_MINUTE
            )
        );
        assert_eq!(args.unused_note(), None);
        for bad in ["soon", "-1m", ""] {
            let args = ArrivalArgs {
                allowed_lateness: Some(bad.into()),
                ..ArrivalArgs::default()
            };
            let e = args.arrival(TICKS_PER_SECOND).unwrap_err();
            assert!(e.starts_with(&format!("--allowed-lateness {bad}:")), "{e}");
            assert!(args.unused_note().is_some());
        }
    }

    #[test]
    fn each_process_of_a_cluster_has_its_own_rejects_file() {
        let args = ArrivalArgs {
            rejects: Some(PathBuf::from("out/rejects.jsonl")),
            ..ArrivalArgs::default()
        };
        let one = ClusterOptions::default();
        assert_eq!(
            args.rejects_path(&one),
            Some(PathBuf::from("out/rejects.jsonl"))
        );
        let second = ClusterOptions {
            processes: 2,
            process: 1,
            ..ClusterOptions::default()
        };
        assert_eq!(
            args.rejects_path(&second),
            Some(PathBuf::from("out/rejects.jsonl.1"))
        );
        assert_eq!(ArrivalArgs::default().rejects_path(&second), None);
    }

    #[test]
    fn late_summary_lines() {
        assert_eq!(
            late_summary("event", "5m", "accept", 0, 0, 0),
            "late records: 0 (event-time order)"
        );
        assert_eq!(
            late_summary("arrival", "10m", "reject", 3, 0, 3),
            "late records: 3 (0 entered late, 3 rejected; arrival order, allowed lateness 10m, --late=reject)"
        );
    }
}
