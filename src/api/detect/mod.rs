//! Live detection: a rule pack run over records as they arrive (standard input, streams of
//! lines, files read whole or followed as they grow), each alert out as soon as the record
//! that raises it has been fed; watchlist files re-read when they change on disk.

mod readers;
mod watch;

pub use watch::WatchedWatchlist;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kqlflow_replay::latency::{LatencyRecorder, Percentiles};

use super::{Alert, AlertSink, RulePack};
use crate::eval::Watchlist;
use crate::ingest::RejectReason;
use crate::model::format_datetime_iso;
use crate::pack::stream::{Arrived, LateRecord, StreamOptions};
use crate::pack::{PackSummary, Report};
use crate::runtime::arrival::LatePolicy;
use readers::{Counts, QUEUE, ReaderCtx, SharedWriter, write_reject};
use watch::Watcher;

/// Where a live detection's reader threads tell what they meet as they meet it (a rejected
/// line, a file that cannot be read, a new file followed, a watchlist changed): one line of
/// text each, starting `warning:`, `note:` or `error:`. Called on the readers' threads.
pub type Notices = Arc<dyn Fn(&str) + Send + Sync>;

/// What a live detection reads.
pub enum LogInput {
    /// A log file, or a folder of them (its log files, and with `follow` the new ones as they
    /// appear); `-` is standard input, read as JSON Lines.
    Path(PathBuf),
    /// A stream of JSON Lines (one record, or one `{"records":[…]}` envelope, per line), read
    /// as its lines come, called `name` in messages and rejects.
    Lines {
        /// Its name.
        name: String,
        /// The stream.
        reader: Box<dyn std::io::Read + Send>,
    },
}

/// How [`detect`] runs.
#[derive(Clone)]
pub struct DetectOptions {
    /// The tick length in 100 ns units (default one second).
    pub tick: i64,
    /// How far the watermark trails the newest event time, in 100 ns units (default 0: an
    /// alert comes out as soon as the record that raises it is fed).
    pub lateness: i64,
    /// What becomes of a record older than the watermark (default: it enters late).
    pub late: LatePolicy,
    /// How far ahead of the wall clock or of the newest record a record may be before it is
    /// rejected as a future record, in 100 ns units (default one day); `None` for any.
    pub max_ahead: Option<i64>,
    /// Worker threads (default 1).
    pub workers: usize,
    /// The table of records whose table nothing else tells.
    pub table: Option<String>,
    /// Keep reading until [`DetectOptions::stop`] is set: files as they grow (rotated or
    /// truncated files from their start) and new log files in the folders.
    pub follow: bool,
    /// How often watchlist files and log folders are looked at for changes, and the wall clock
    /// read (default one second).
    pub poll: Duration,
    /// Whether the wall clock moves event time too, so that windows close (and alerts clear)
    /// when the logs are quiet (for logs of the present).
    pub wall_clock: bool,
    /// Watchlists by name, as they stay for the whole run.
    pub watchlists: HashMap<String, Watchlist>,
    /// Watchlists read from files that are re-read when they change (their first versions
    /// come from [`WatchedWatchlist::read`], and belong in `watchlists`).
    pub watched: Vec<WatchedWatchlist>,
    /// Where to write every rejected line (unreadable lines, late records under
    /// [`LatePolicy::Reject`], future records) as JSON Lines, if anywhere.
    pub rejects: Option<PathBuf>,
    /// Set it to end the run (with its summary); the run sets it when it ends.
    pub stop: Arc<AtomicBool>,
    /// Where the readers' warnings and notes go (default: nowhere).
    pub notices: Notices,
}

impl Default for DetectOptions {
    fn default() -> DetectOptions {
        DetectOptions {
            tick: crate::model::TICKS_PER_SECOND,
            lateness: 0,
            late: LatePolicy::Accept,
            max_ahead: Some(crate::model::TICKS_PER_DAY),
            workers: 1,
            table: None,
            follow: false,
            poll: Duration::from_secs(1),
            wall_clock: false,
            watchlists: HashMap::new(),
            watched: Vec::new(),
            rejects: None,
            stop: Arc::new(AtomicBool::new(false)),
            notices: Arc::new(|_: &str| {}),
        }
    }
}

/// What a live detection read and did.
#[derive(Clone, Debug, Default)]
pub struct DetectSummary {
    /// Records read per table.
    pub records: BTreeMap<String, u64>,
    /// Lines rejected by the readers (unreadable lines, files that could not be read).
    pub rejected: u64,
    /// Records without an event time, left out.
    pub timeless: u64,
    /// Records older than the watermark when they arrived.
    pub late: u64,
    /// Of them, those that entered at the watermark's tick.
    pub late_accepted: u64,
    /// Records from the future, rejected.
    pub future: u64,
    /// Watchlist files re-read after they changed.
    pub watchlist_reloads: u64,
    /// Watchlist files that changed but could not be read (their rows stayed).
    pub watchlist_errors: u64,
    /// The pack's counts: raises per rule, raises suppressed, records no rule keeps.
    pub pack: PackSummary,
    /// The latency from a tick's close to its alerts.
    pub latency: Percentiles,
}

/// How long a followed file's reader waits for more before it looks again.
const TAIL_WAIT: Duration = Duration::from_millis(10);

/// Runs every rule of `pack` over the records of `logs` as they arrive, as `kqlflow detect`
/// does: `sink` receives each alert event as soon as the record that raises it is fed, each
/// tick, and each late or future record. Returns when every input is read to its end (with
/// `follow`, when `options.stop` is set). Every rule must be one the incremental engine runs
/// ([`RulePack::keep_runnable`]).
pub fn detect(
    pack: &RulePack,
    logs: Vec<LogInput>,
    options: &DetectOptions,
    sink: &mut dyn AlertSink,
) -> Result<DetectSummary, String> {
    let programs: Vec<&crate::plan::Program> = pack.rules.iter().map(|r| &r.program).collect();
    let projection = Arc::new(crate::logs::projection_for(&programs)?);
    let rejects = open_rejects(options.rejects.as_ref())?;
    // Readers and the watcher send into `tx`; a relay forwards to the pack until every reader
    // is done (or the run is stopped), then lets the pack finish. Bounded: a reader waits
    // while the dataflow is behind, rather than piling records up.
    let (tx, rx) = mpsc::sync_channel::<Arrived>(QUEUE);
    let counts = Arc::new(Counts::default());
    let ctx = ReaderCtx {
        projection,
        table: options.table.clone(),
        rejects: rejects.clone(),
        counts: counts.clone(),
        tx,
        stop: options.stop.clone(),
        notices: options.notices.clone(),
        running: Arc::new(AtomicUsize::new(0)),
        queue: Arc::new(Mutex::new(std::collections::VecDeque::new())),
        readers: Arc::new(AtomicUsize::new(0)),
        follower: Arc::new(Mutex::new(None)),
    };
    let (dirs, started) = start_readers(&ctx, logs, options.follow);
    let watcher = Watcher {
        dirs,
        started,
        watched: options.watched.clone(),
        follow: options.follow,
        wall_clock: options.wall_clock,
        poll: options.poll,
        tail_wait: TAIL_WAIT,
    }
    .spawn(ctx.clone());
    let (pack_rx, relay) = relay(rx, ctx);
    let sink = RefCell::new(sink);
    let mut late = LateTally {
        rejects: &rejects,
        max_ahead: options.max_ahead,
        late: 0,
        accepted: 0,
        future: 0,
    };
    let mut latency = LatencyRecorder::new().ok();
    let rules = pack.pairs();
    let columns = pack.columns();
    let result = crate::pack::stream::run(
        &rules,
        &options.watchlists,
        pack_rx,
        &stream_options(options),
        |report| match report {
            Report::Alert { rule, event } => {
                if let (Some((r, _)), Some(cols)) = (rules.get(*rule), columns.get(*rule)) {
                    sink.borrow_mut().alert(Alert {
                        index: *rule,
                        rule: r,
                        columns: cols,
                        event,
                    });
                }
            }
            Report::Ticks(ticks) => {
                if let Some(h) = latency.as_mut() {
                    for t in ticks {
                        h.record(t.latency);
                    }
                }
                sink.borrow_mut().ticks(ticks);
            }
            Report::Notes(_) | Report::Finished { .. } => {}
        },
        |record: &LateRecord| {
            late.record(record);
            sink.borrow_mut().late(record);
        },
    );
    let _ = relay.join();
    options.stop.store(true, Ordering::Release);
    let _ = watcher.join();
    if let Some(w) = &rejects {
        let mut w = w.clone();
        let _ = w.flush();
    }
    let pack_summary = result?;
    Ok(DetectSummary {
        records: counts.records.lock().map(|r| r.clone()).unwrap_or_default(),
        rejected: counts.rejected.load(Ordering::Relaxed),
        timeless: counts.timeless.load(Ordering::Relaxed),
        late: late.late,
        late_accepted: late.accepted,
        future: late.future,
        watchlist_reloads: counts.watchlist_reloads.load(Ordering::Relaxed),
        watchlist_errors: counts.watchlist_errors.load(Ordering::Relaxed),
        pack: pack_summary,
        latency: latency.map(|h| h.percentiles()).unwrap_or_default(),
    })
}

/// The live pack's options of a detection's.
fn stream_options(options: &DetectOptions) -> StreamOptions {
    StreamOptions {
        workers: options.workers,
        tick: options.tick,
        lateness: options.lateness,
        late: options.late,
        max_ahead: options.max_ahead,
    }
}

/// The rejects file at `path`, created (and shared by the readers), if any.
fn open_rejects(path: Option<&PathBuf>) -> Result<Option<SharedWriter>, String> {
    let Some(p) = path else {
        return Ok(None);
    };
    let f = std::fs::File::create(p)
        .map_err(|e| format!("cannot create the rejects file {}: {e}", p.display()))?;
    Ok(Some(SharedWriter(Arc::new(Mutex::new(
        std::io::BufWriter::new(f),
    )))))
}

/// Starts a reader for each input (a folder's log files each): the folders (whose new files
/// the watcher follows) and the files being read.
fn start_readers(
    ctx: &ReaderCtx,
    logs: Vec<LogInput>,
    follow: bool,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut started: Vec<PathBuf> = Vec::new();
    for input in logs {
        match input {
            LogInput::Path(p) if p.as_os_str() != "-" && p.is_dir() => {
                for f in crate::ingest::log_files(std::slice::from_ref(&p)) {
                    ctx.spawn(f.clone(), follow, TAIL_WAIT);
                    started.push(f);
                }
                dirs.push(p);
            }
            LogInput::Path(p) => {
                ctx.spawn(p.clone(), follow, TAIL_WAIT);
                started.push(p);
            }
            LogInput::Lines { name, reader } => ctx.spawn_lines(name, reader),
        }
    }
    (dirs, started)
}

/// How long the relay of a stopped run waits for more from readers that are not done (a
/// reader of standard input blocked in a read) before it lets the pack finish without them.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Starts the relay from what the readers send (`rx`) to the pack: it forwards until every
/// reader of `ctx` is done, then drops the pack's sender so the pack finishes. Once the run
/// is stopped the readers read what their files hold by then and end: the relay forwards all
/// of it, and gives up on a reader only after [`STOP_GRACE`] without a record. The pack's
/// receiver and the relay's thread.
fn relay(
    rx: Receiver<Arrived>,
    ctx: ReaderCtx,
) -> (Receiver<Arrived>, std::thread::JoinHandle<()>) {
    let (pack_tx, pack_rx) = mpsc::sync_channel::<Arrived>(QUEUE);
    let stop = ctx.stop.clone();
    let running = ctx.running.clone();
    // The readers and the watcher hold their own clones of the sender: the relay sees the
    // channel disconnect once they are all gone.
    drop(ctx);
    let handle = std::thread::spawn(move || {
        // The last record forwarded, or the moment the stop was seen if later.
        let mut last = std::time::Instant::now();
        let mut stopped = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(a) => {
                    last = std::time::Instant::now();
                    if pack_tx.send(a).is_err() {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if running.load(Ordering::Acquire) == 0 {
                        break;
                    }
                    if !stopped && stop.load(Ordering::Acquire) {
                        stopped = true;
                        last = last.max(std::time::Instant::now());
                    }
                    if stopped && last.elapsed() >= STOP_GRACE {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    (pack_rx, handle)
}

/// What is wrong with a late or future record, as its warning and its line in the rejects
/// file say: its event time and the watermark it arrived behind, or, for a future record,
/// how far ahead it is (`max_ahead`) and of what.
pub fn late_detail(late: &LateRecord, max_ahead: Option<i64>) -> String {
    if late.future {
        format!(
            "event time {} is more than {} ahead of {}",
            format_datetime_iso(late.time),
            max_ahead.map_or(String::new(), crate::plan::window::human_duration),
            format_datetime_iso(late.watermark)
        )
    } else {
        format!(
            "event time {} is before the watermark {}",
            format_datetime_iso(late.time),
            format_datetime_iso(late.watermark)
        )
    }
}

/// Late and future records counted, and written to the rejects file when rejected.
struct LateTally<'a> {
    rejects: &'a Option<SharedWriter>,
    max_ahead: Option<i64>,
    late: u64,
    accepted: u64,
    future: u64,
}

impl LateTally<'_> {
    /// Counts `late`, and writes it to the rejects file when it was rejected.
    fn record(&mut self, late: &LateRecord) {
        if late.future {
            // A bad clock: refused, so that detection goes on for the records after it.
            self.future += 1;
            let detail = late_detail(late, self.max_ahead);
            write_reject(self.rejects, late, RejectReason::FutureRecord, &detail);
            return;
        }
        self.late += 1;
        match late.entered {
            Some(_) => self.accepted += 1,
            None => {
                let detail = late_detail(late, self.max_ahead);
                write_reject(self.rejects, late, RejectReason::LateRecord, &detail);
            }
        }
    }
}
