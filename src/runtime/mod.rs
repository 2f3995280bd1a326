//! The timely runtime: worker configuration (`-w` threads, `-n` processes, `-p` this process,
//! `--hostfile`), event-time ticks, input sessions fed in tick order, and the change stream
//! of a dataflow's output gathered in one place.
//!
//! Time in a dataflow is event time: a record with `TimeGenerated` t enters at the first tick
//! at or after t (ticks are multiples of the tick length, in 100 ns units since the epoch), so
//! that the output at tick T reflects every record with `TimeGenerated <= T`. In arrival order
//! (see [`arrival`]) a late record enters at the watermark's tick instead, its row unchanged.

pub mod arrival;
pub mod connect;
pub mod live;
pub mod profile;
pub mod split;
pub mod stream;
pub mod temporal;

use std::path::PathBuf;
use std::sync::Arc;

use differential_dataflow::VecCollection;

use crate::model::Row;

/// A dataflow timestamp: an event-time tick, in 100 ns units since the Unix epoch.
pub type Time = u64;

/// A collection of rows in a dataflow.
pub type Rows<'scope> = VecCollection<'scope, Time, Row, isize>;

/// How the timely workers are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Worker threads per process (`-w`).
    pub workers: usize,
    /// Processes in the cluster (`-n`).
    pub processes: usize,
    /// This process's index, from 0 (`-p`).
    pub process: usize,
    /// A file whose lines are the processes' `host:port` addresses (`-h`); without it the
    /// processes listen on `localhost:2101`, `localhost:2102`, …
    pub hostfile: Option<PathBuf>,
    /// How long to wait for the other processes to connect before giving up.
    pub connect_timeout: std::time::Duration,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
            connect_timeout: std::time::Duration::from_secs(60),
        }
    }
}

impl ClusterOptions {
    /// The processes' addresses: the hostfile's first `processes` lines, or `localhost:2101`,
    /// `localhost:2102`, … without one (as timely has them).
    pub fn addresses(&self) -> Result<Vec<String>, String> {
        match &self.hostfile {
            None => Ok((0..self.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect()),
            Some(h) => {
                let text = std::fs::read_to_string(h)
                    .map_err(|e| format!("hostfile {}: {e}", h.display()))?;
                let lines: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .take(self.processes)
                    .map(str::to_string)
                    .collect();
                if lines.len() < self.processes {
                    return Err(format!(
                        "hostfile {} has {} address(es) for -n {}",
                        h.display(),
                        lines.len(),
                        self.processes
                    ));
                }
                Ok(lines)
            }
        }
    }

    /// The timely configuration these options describe, or a message saying what is wrong.
    pub fn timely_config(&self) -> Result<timely::Config, String> {
        if self.workers == 0 {
            return Err("-w must be at least 1".into());
        }
        if self.processes == 0 {
            return Err("-n must be at least 1".into());
        }
        if self.process >= self.processes {
            return Err(format!(
                "-p {} is not a process of a cluster of {} (-p counts from 0)",
                self.process, self.processes
            ));
        }
        let mut args = vec![
            "-w".to_string(),
            self.workers.to_string(),
            "-n".to_string(),
            self.processes.to_string(),
            "-p".to_string(),
            self.process.to_string(),
        ];
        if let Some(h) = &self.hostfile {
            if !h.is_file() {
                return Err(format!("hostfile {} cannot be read", h.display()));
            }
            args.push("-h".to_string());
            args.push(h.display().to_string());
        }
        timely::Config::from_args(args.into_iter()).map_err(|e| format!("cluster options: {e}"))
    }
}

/// Rounds an event time up to its tick: the first multiple of `tick` at or after `t`.
/// Times before the epoch are clamped to 0.
pub fn tick_of(t: i64, tick: i64) -> Time {
    let t = t.max(0) as u64;
    let tick = tick.max(1) as u64;
    t.div_ceil(tick) * tick
}

/// One input record for a dataflow: its table (an index into the inputs), its event time and
/// its row.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Which input.
    pub input: usize,
    /// Event time, in 100 ns units since the epoch.
    pub time: i64,
    /// The row.
    pub row: Row,
    /// +1 to insert the row, −1 to retract it (a watchlist version dropping it).
    pub diff: isize,
}

/// One change of a dataflow's output: at `tick`, `row` was added (`diff` > 0) or removed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The tick.
    pub tick: Time,
    /// The row.
    pub row: Row,
    /// How many copies were added (negative: removed).
    pub diff: i64,
}

/// Runs a dataflow over `events` on the workers `cluster` describes, and returns the output's
/// changes, consolidated and sorted by (tick, row).
///
/// `build` makes the dataflow from one collection per input (`inputs` of them) and returns the
/// output collection; it runs once on every worker. `events` are this process's records: they
/// are fed in event-time order, tick by tick, each of the process's workers taking every
/// `workers`-th, and every output change is routed to worker 0 of process 0, which returns
/// them (the other processes return nothing).
pub fn run_dataflow<B>(
    cluster: &ClusterOptions,
    tick: i64,
    inputs: usize,
    events: Arc<Vec<Event>>,
    build: B,
) -> Result<Vec<Change>, String>
where
    B: for<'scope> Fn(Vec<Rows<'scope>>) -> Rows<'scope> + Send + Sync + 'static,
{
    let events = Arc::try_unwrap(events).unwrap_or_else(|shared| (*shared).clone());
    let (sink, changes) = live::Collect::new();
    live::run_live(
        cluster,
        tick,
        live::Speed::Max,
        inputs,
        live::Feed {
            events,
            ..live::Feed::default()
        },
        move |collections: Vec<Rows<'_>>| vec![build(collections)],
        sink,
    )?;
    let changes = changes
        .lock()
        .map(|mut c| std::mem::take(&mut c.changes))
        .map_err(|_| "a worker failed while reporting".to_string())?;
    Ok(consolidate(changes))
}

/// The first panic of a dataflow thread, kept by [`quiet_worker_panics`].
static FIRST_PANIC: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes a failing dataflow end with one line instead of every thread's panic message and
/// backtrace: a panic on one of timely's threads (a worker, or a network thread that lost its
/// peer) is kept, not printed, and [`failure`] says it in the run's error. Other panics print
/// as before. For a program's `main`; a library leaves the panic hook alone.
pub fn quiet_worker_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let name = std::thread::current().name().unwrap_or("").to_string();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        // No thread could be started (the dataflow's workers, at the start of a run): say why
        // in one line and stop, rather than with a backtrace.
        if message.starts_with("failed to spawn thread") {
            eprintln!("error: {}", no_thread(&message));
            std::process::exit(1);
        }
        // A panic on a timely thread, or raised by timely's code (a guard joining a network
        // thread that failed), or one that follows such a failure (a poisoned queue).
        let in_timely = info
            .location()
            .is_some_and(|l| l.file().contains("/timely"));
        let timely =
            name.starts_with("timely") || in_timely || message.contains("timely communication");
        if timely || (FIRST_PANIC.get().is_some() && message.contains("poisoned")) {
            let _ = FIRST_PANIC.set(message);
        } else {
            default(info);
        }
    }));
}

/// The process's address-space limit in bytes (`ulimit -v`), when one is set.
pub fn address_space_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the limit into `lim`, which lives for the call.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0;
        if ok && lim.rlim_cur != libc::RLIM_INFINITY {
            // rlim_t is u64 on Linux and macOS, narrower on some other systems.
            #[allow(clippy::unnecessary_cast)]
            return Some(lim.rlim_cur as u64);
        }
    }
    None
}

/// Why a thread could not be started, from the panic `message` std gives, with what to do.
fn no_thread(message: &str) -> String {
    // std writes the OS error as `Os { code: 11, kind: …, message: "…" }`: keep its words.
    let cause = message
        .split_once("message: \"")
        .and_then(|(_, m)| m.split_once('"'))
        .map_or(message, |(m, _)| m);
    match address_space_limit() {
        Some(limit) => format!(
            "cannot start a thread ({cause}) under the address-space limit of {} MiB (ulimit -v): \
             each worker thread reserves its stack (RUST_MIN_STACK) there; raise the limit, or \
             run with fewer workers (-w) or a smaller RUST_MIN_STACK",
            limit >> 20
        ),
        None => format!(
            "cannot start a thread ({cause}): the system's limit on threads or memory is \
             reached; run with fewer workers (-w)"
        ),
    }
}

/// A dataflow's failure, with the first worker panic when one was kept: `what` and why.
pub fn failure(what: &str) -> String {
    match FIRST_PANIC.get() {
        Some(m) if m.contains("timely communication") || m.contains("Connection") => format!(
            "{what}: a peer process stopped or its connection was lost ({m}); the run is incomplete"
        ),
        Some(m) => format!("{what}: {m}"),
        None => what.to_string(),
    }
}

/// The message of a process that could not reach its peers within the connect timeout.
pub(crate) fn unreachable_peers(cluster: &ClusterOptions) -> String {
    format!(
        "process {} of {} could not reach its peers within {} s: check that every process is \
         started with the same -n and hostfile, and that the addresses in the hostfile are \
         reachable",
        cluster.process,
        cluster.processes,
        cluster.connect_timeout.as_secs()
    )
}

/// Sums the diffs of equal (tick, row) pairs, drops those that cancel, and sorts.
pub fn consolidate(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort();
    let mut out: Vec<Change> = Vec::with_capacity(changes.len());
    for c in changes {
        match out.last_mut() {
            Some(last) if last.tick == c.tick && last.row == c.row => last.diff += c.diff,
            _ => out.push(c),
        }
    }
    out.retain(|c| c.diff != 0);
    out
}

/// The multiset of rows at `tick`: every change up to and including it, accumulated.
pub fn snapshot(changes: &[Change], tick: Time) -> Vec<(Row, i64)> {
    let mut acc: std::collections::BTreeMap<&Row, i64> = std::collections::BTreeMap::new();
    for c in changes.iter().filter(|c| c.tick <= tick) {
        *acc.entry(&c.row).or_default() += c.diff;
    }
    acc.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(r, n)| (r.clone(), n))
        .collect()
}
