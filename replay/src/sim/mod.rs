//! The tenant simulator behind `kqlflow generate`: a deterministic synthetic Entra ID tenant
//! written as Log Analytics JSON Lines (gzip) under `DIR/logs`, one folder per table and one file
//! per day, with
//! injected attacks and their ground truth.
//!
//! Layout of the output folder:
//!
//! ```text
//! DIR/logs/SigninLogs/2024-05-01.jsonl.gz       … one file per table and day
//! DIR/logs/AADNonInteractiveUserSignInLogs/…         (SigninLogs, AADNonInteractiveUserSignInLogs,
//! DIR/logs/AADServicePrincipalSignInLogs/…            AADServicePrincipalSignInLogs,
//! DIR/logs/AADManagedIdentitySignInLogs/…             AADManagedIdentitySignInLogs, AuditLogs,
//! DIR/logs/AuditLogs/…                                AADProvisioningLogs, AzureActivity)
//! DIR/logs/AADProvisioningLogs/…
//! DIR/logs/AzureActivity/…
//! DIR/labels.jsonl                              one [`Label`] per attack instance and rule
//! DIR/NetworkAllowlist.csv                      the watchlist the volume rule reads
//! ```
//!
//! A file holds the records whose event time (`TimeGenerated`) falls on its UTC day, in arrival
//! order: event time plus an ingestion delay of seconds to a few minutes, so event times are a
//! few minutes out of order within a file, as in a real export.
//!
//! The same configuration and seed give byte-identical output, whatever the number of threads:
//! every file is a pure function of the tenant, its table and its day, and every random choice
//! comes from a [`rng::Rng`] stream derived from the seed and what it decides.
//!
//! The benign background is shaped so that the rule pack (`dataflows/`) raises no alert on it:
//! service principals never sign in to Microsoft Graph and never fail; their hourly volumes vary
//! within their own baseline (batch jobs spread their sign-ins evenly over each hour); bursts
//! come only from allow-listed addresses; user sign-in failures are single retries, each flow
//! with its own correlation id; provisioning jobs fail at most once in five days per job;
//! applications' audited changes are either made by applications or with properties the rare
//! activity rule ignores (group-based licensing, device OS versions); credentials are only added
//! to applications before their first sign-in; Azure operations are made by people. With
//! attacks, every labelled instance raises its rule's alert.

mod attacks;
mod benign;
pub mod json;
mod records;
pub mod rng;
mod tenant;

pub use attacks::{KINDS, Label, RULES};
pub use records::TABLES;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use json::{TICKS_PER_DAY, TICKS_PER_SECOND, date_text};
use records::Event;
use rng::Rng;
use tenant::Tenant;

/// 2024-05-01T00:00:00Z in unix seconds: the default first day.
pub const DEFAULT_START: i64 = 1_714_521_600;

/// What tenant to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantConfig {
    /// Number of users (members with devices and home locations).
    pub users: usize,
    /// Number of application service principals (about half as many managed identities are
    /// added).
    pub service_principals: usize,
    /// Number of days to write.
    pub days: u32,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// First day, in unix seconds (rounded down to midnight UTC).
    pub start: i64,
    /// Inject attacks (and write their labels); without them the rule pack raises no alert.
    pub attacks: bool,
    /// Worker threads writing files (0: as many as the machine has). The output does not
    /// depend on it.
    pub threads: usize,
    /// gzip level, 0–9.
    pub compression: u32,
}

impl Default for TenantConfig {
    fn default() -> TenantConfig {
        TenantConfig {
            users: 200,
            service_principals: 12,
            days: 16,
            seed: 1,
            start: DEFAULT_START,
            attacks: true,
            threads: 0,
            compression: 6,
        }
    }
}

/// One file written.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSummary {
    /// Its path.
    pub path: PathBuf,
    /// Its table.
    pub table: &'static str,
    /// Records in it.
    pub records: u64,
    /// Uncompressed JSON Lines bytes.
    pub raw_bytes: u64,
    /// Bytes on disk (gzip).
    pub bytes: u64,
    /// Records whose event time is earlier than the record before them in the file.
    pub out_of_order: u64,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default)]
pub struct GenerateSummary {
    /// Every log file, by table then day.
    pub files: Vec<FileSummary>,
    /// The labels file.
    pub labels_path: PathBuf,
    /// The allowlist watchlist file.
    pub allowlist_path: PathBuf,
    /// Ground truth of the injected attacks (empty without attacks).
    pub labels: Vec<Label>,
    /// Attack kinds that could not be injected, with why.
    pub skipped: Vec<String>,
    /// Users, service principals, managed identities and provisioning jobs of the tenant.
    pub entities: (usize, usize, usize, usize),
    /// The tenant's domain.
    pub domain: String,
    /// Largest ingestion delay (arrival minus event time), in seconds.
    pub max_delay_secs: f64,
}

impl GenerateSummary {
    /// Records and uncompressed and compressed bytes of one table, over its files.
    pub fn table_totals(&self, table: &str) -> (u64, u64, u64) {
        self.files
            .iter()
            .filter(|f| f.table == table)
            .fold((0, 0, 0), |(r, raw, b), f| {
                (r + f.records, raw + f.raw_bytes, b + f.bytes)
            })
    }

    /// Records, uncompressed bytes and compressed bytes over every file.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.files.iter().fold((0, 0, 0), |(r, raw, b), f| {
            (r + f.records, raw + f.raw_bytes, b + f.bytes)
        })
    }

    /// Records written out of event-time order (arrival order), over every file.
    pub fn out_of_order(&self) -> u64 {
        self.files.iter().map(|f| f.out_of_order).sum()
    }
}

/// The NetworkAllowlist watchlist as CSV: the lab network, a scanner and a partner's range.
pub const ALLOWLIST_CSV: &str = "IPOrRange,Comment\n10.0.0.0/8,lab and on-premises network\n192.0.2.44,vulnerability scanner\n198.51.100.1-198.51.100.20,partner load testing\n";

/// Ingestion delay of a record, in ticks: seconds to a few minutes, longer for audit and
/// provisioning records.
fn delay(seed: u64, table: usize, e: &Event) -> i64 {
    let mut r = Rng::derive(seed, "delay", &[table as u64, e.id, e.time as u64]);
    let (lo, hi) = match table {
        4 | 5 => (30.0, 600.0),
        6 => (20.0, 300.0),
        _ => (5.0, 240.0),
    };
    let u = r.unit();
    ((lo + (hi - lo) * u * u * u) * TICKS_PER_SECOND as f64) as i64
}

/// A written file's summary and its largest ingestion delay in seconds.
type FileResult = std::io::Result<(FileSummary, f64)>;

fn write_file(
    tenant: &Tenant,
    config: &TenantConfig,
    table: usize,
    day: u32,
    day_start: i64,
    attack_events: &[Event],
    dir: &Path,
) -> std::io::Result<(FileSummary, f64)> {
    let mut events = benign::day_events(tenant, config.seed, table, day, day_start, config.users);
    events.extend(
        attack_events
            .iter()
            .filter(|e| {
                e.table() == table && e.time >= day_start && e.time < day_start + TICKS_PER_DAY
            })
            .cloned(),
    );
    let mut keyed: Vec<(i64, u64, Event)> = events
        .into_iter()
        .map(|e| (e.time + delay(config.seed, table, &e), e.id, e))
        .collect();
    keyed.sort_by_key(|(arrival, id, _)| (*arrival, *id));
    let path = dir
        .join("logs")
        .join(TABLES[table])
        .join(format!("{}.jsonl.gz", date_text(day_start)));
    let file = std::fs::File::create(&path)?;
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::new(config.compression.min(9)),
    );
    let mut line = String::with_capacity(8192);
    let mut raw = 0u64;
    let mut out_of_order = 0u64;
    let mut last = i64::MIN;
    let mut max_delay = 0i64;
    let mut buf = String::with_capacity(1 << 20);
    for (arrival, _, e) in &keyed {
        line.clear();
        records::render(tenant, config.seed, e, &mut line);
        line.push('\n');
        raw += line.len() as u64;
        buf.push_str(&line);
        if buf.len() >= 1 << 20 {
            gz.write_all(buf.as_bytes())?;
            buf.clear();
        }
        if e.time < last {
            out_of_order += 1;
        }
        last = last.max(e.time);
        max_delay = max_delay.max(arrival - e.time);
    }
    gz.write_all(buf.as_bytes())?;
    let inner = gz.finish()?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().ok();
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((
        FileSummary {
            path,
            table: TABLES[table],
            records: keyed.len() as u64,
            raw_bytes: raw,
            bytes,
            out_of_order,
        },
        max_delay as f64 / TICKS_PER_SECOND as f64,
    ))
}

/// Writes the simulated tenant of `config` into the folder `out` (created if missing): the
/// seven tables' daily files, `labels.jsonl` (empty without attacks) and
/// `NetworkAllowlist.csv`. Returns what was written.
pub fn generate(config: &TenantConfig, out: &Path) -> std::io::Result<GenerateSummary> {
    let start_day = config.start.div_euclid(86_400);
    let start = start_day * TICKS_PER_DAY;
    let tenant = Tenant::build(config);
    let plan = if config.attacks {
        attacks::plan(&tenant, config.seed, start, config.days)
    } else {
        attacks::Plan::default()
    };
    std::fs::create_dir_all(out)?;
    for t in TABLES {
        std::fs::create_dir_all(out.join("logs").join(t))?;
    }
    let jobs: Vec<(usize, u32)> = (0..TABLES.len())
        .flat_map(|t| (0..config.days).map(move |d| (t, d)))
        .collect();
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        config.threads
    }
    .clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileResult>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(table, day)) = jobs.get(k) else {
                        break;
                    };
                    let day_start = start + i64::from(day) * TICKS_PER_DAY;
                    let r = write_file(&tenant, config, table, day, day_start, &plan.events, out);
                    if let Ok(mut v) = results.lock() {
                        v[k] = Some(r);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut summary = GenerateSummary {
        labels_path: out.join("labels.jsonl"),
        allowlist_path: out.join("NetworkAllowlist.csv"),
        labels: plan.labels,
        skipped: plan.skipped,
        entities: (
            tenant.users.len(),
            tenant.sps.len(),
            tenant.mis.len(),
            tenant.jobs.len(),
        ),
        domain: tenant.domain.clone(),
        ..GenerateSummary::default()
    };
    for r in results {
        match r {
            Some(Ok((f, d))) => {
                summary.max_delay_secs = summary.max_delay_secs.max(d);
                summary.files.push(f);
            }
            Some(Err(e)) => return Err(e),
            None => return Err(std::io::Error::other("a file was not written")),
        }
    }
    let mut labels = String::new();
    for l in &summary.labels {
        labels.push_str(&serde_json::to_string(l).map_err(std::io::Error::other)?);
        labels.push('\n');
    }
    std::fs::write(&summary.labels_path, labels)?;
    std::fs::write(&summary.allowlist_path, ALLOWLIST_CSV)?;
    Ok(summary)
}

#[cfg(test)]
mod tests;
