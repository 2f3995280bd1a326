//! Hunts a folder of logs with the built-in rule pack and prints each alert as it is raised.
//!
//! `cargo run --release --example hunt -- DIR [NetworkAllowlist.csv]` (for a tenant to hunt,
//! `kqlflow demo --out DIR` writes one: hunt `DIR/logs` with `DIR/NetworkAllowlist.csv`).

use kqlflow::alerts::Status;
use kqlflow::api::{HuntOptions, RulePack, hunt, on_alert};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let logs = args.next().ok_or("usage: hunt DIR [ALLOWLIST.csv]")?;
    let mut options = HuntOptions::default();
    if let Some(allow) = args.next() {
        let text = std::fs::read_to_string(&allow).map_err(|e| format!("{allow}: {e}"))?;
        let list = kqlflow::eval::Watchlist::from_csv(&text)?;
        options.watchlists.insert("NetworkAllowlist".into(), list);
    }
    let pack = RulePack::builtin(&Default::default())?;
    for message in &pack.messages {
        eprintln!("{message}");
    }
    let mut sink = on_alert(|alert| {
        if alert.event.status == Status::Raised {
            println!(
                "{}  {}  {:?}",
                kqlflow::model::format_datetime_iso(alert.event.tick as i64),
                alert.rule.name,
                alert.event.key
            );
        }
    });
    let summary = hunt(&pack, &[logs.into()], &options, &mut sink)?;
    eprintln!(
        "{} records read, {} rejected, {} alerts",
        summary.records,
        summary.rejected,
        summary.raised.iter().sum::<u64>()
    );
    Ok(())
}
