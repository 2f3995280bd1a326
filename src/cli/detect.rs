//! `kqlflow detect`: live detection. The rule pack runs over records as they arrive (standard
//! input, or files followed as they grow), and each alert is printed the moment the record
//! that raises it has been fed; watchlist files are re-read when they change on disk.

use clap::{Args, ValueEnum};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use crate::ingest::RejectReason;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::check::QueryOptions;
use super::hunt::{AlertFormat, LoadedRule, describe};
use super::logs::Late;
use crate::catalog::Catalog;
use crate::eval::Watchlist;
use crate::ingest::tail::Tail;
use crate::ingest::{Ingest, Options, Projection};
use crate::logs::{layouts_of, projection_for, schema_row};
use crate::model::{format_datetime_iso, parse_timespan};
use crate::pack::Report;
use crate::pack::stream::{Arrived, LateRecord, StreamOptions};
use crate::plan::Program;
use crate::runtime::arrival::LatePolicy;

/// What moves event time forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    /// Only the records: event time is the newest record's, so windows close as records come.
    Event,
    /// The records and the wall clock: event time is at least the time now, so windows close
    /// (and alerts clear) when the logs are quiet too. For logs of the present.
    Wall,
}

/// Arguments of `kqlflow detect`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
tail -F /var/log/entra/signins.jsonl | kqlflow detect --rules dataflows/\n  \
kqlflow detect --rules dataflows/ --logs exports/ --follow --watchlist NetworkAllowlist=allow.csv\n  \
kqlflow detect --logs today.jsonl --format jsonl --out alerts.jsonl   (the built-in rule pack)")]
pub struct DetectArgs {
    /// Rule files (.yaml) or folders of them (default: the built-in rule pack).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Log files or directories to read, `-` for standard input (the default). Records are
    /// taken as they arrive, each file in its own line order; standard input and followed
    /// files are read as JSON Lines (one record, or one {"records":[…]} envelope, per line).
    #[arg(long, num_args = 1.., value_name = "PATH", default_value = "-")]
    logs: Vec<PathBuf>,
    /// Keep reading until interrupted (Ctrl-C): files as they grow (rotated or truncated
    /// files from their start) and new log files in the directories.
    #[arg(short = 'f', long)]
    follow: bool,
    /// How often watchlist files and log directories are looked at for changes, and the wall
    /// clock read under --clock wall.
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    poll: String,
    /// How far the watermark trails the newest event time. With 0s an alert comes out as soon
    /// as the record that raises it is fed; a larger lateness lets records that arrive out of
    /// order by up to that much keep their own tick, and holds alerts back by as much.
    #[arg(long, default_value = "0s", value_name = "TIMESPAN")]
    allowed_lateness: String,
    /// A record stamped more than this ahead of the wall clock or of the newest record before
    /// it is rejected as a future record (a bad clock would otherwise make every later
    /// record late and blind detection); default 1d, `none` for no bound.
    #[arg(long, value_name = "TIMESPAN|none")]
    max_ahead: Option<String>,
    /// What becomes of a record older than the watermark: it enters at the current tick, or
    /// is rejected. Either way it is reported and counted.
    #[arg(long, value_enum, default_value_t = Late::Accept, value_name = "accept|reject")]
    late: Late,
    /// What moves event time forward.
    #[arg(long, value_enum, default_value_t = Clock::Event)]
    clock: Clock,
    /// Write every rejected line (unreadable lines, late records under --late=reject) to
    /// FILE as JSON Lines (file, line, reason, detail, text).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// How to print the alerts.
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    format: AlertFormat,
    /// Also write the alerts' lifecycle events (as --format jsonl prints them) to FILE, as
    /// they happen.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// No colours in the table, even on a terminal.
    #[arg(long)]
    no_color: bool,
    /// The event-time step of the dataflows.
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    tick: String,
    /// Worker threads.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    workers: usize,
    /// The table of records whose table nothing else tells.
    #[arg(long)]
    table: Option<String>,
    #[command(flatten)]
    show: super::output::ShowArgs,
    #[command(flatten)]
    common: QueryOptions,
}

/// How many records may wait between the readers and the dataflow.
const QUEUE: usize = 1 << 14;

/// A timespan argument, or the usage error's message.
fn timespan(name: &str, text: &str, zero_ok: bool) -> Result<i64, String> {
    match parse_timespan(text) {
        Some(t) if t > 0 || (zero_ok && t == 0) => Ok(t),
        _ => Err(format!(
            "--{name} {text}: not a {} timespan (such as 0s, 500ms, 5m)",
            if zero_ok {
                "zero or positive"
            } else {
                "positive"
            }
        )),
    }
}

/// What the readers counted, shared between their threads.
#[derive(Default)]
struct Counts {
    records: Mutex<BTreeMap<String, u64>>,
    rejected: AtomicU64,
    timeless: AtomicU64,
    watchlist_reloads: AtomicU64,
    watchlist_errors: AtomicU64,
}

/// The rejects file, shared by the readers.
#[derive(Clone)]
struct SharedWriter(Arc<Mutex<std::io::BufWriter<std::fs::File>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut w) => w.write(buf),
            Err(_) => Err(std::io::Error::other("the rejects file's lock is poisoned")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut w) => w.flush(),
            Err(_) => Err(std::io::Error::other("the rejects file's lock is poisoned")),
        }
    }
}

/// Writes a record the pack refused (late, or from the future) to the rejects file, if any,
/// as the ingest's rejects are written: file, line, reason, detail.
fn write_reject(
    rejects: &Option<SharedWriter>,
    late: &LateRecord,
    reason: RejectReason,
    detail: &str,
) {
    if let Some(w) = rejects {
        let mut w = w.clone();
        let (file, line) = match late.origin.rsplit_once(':') {
            Some((f, l)) => (f, l.parse::<u64>().unwrap_or(0)),
            None => (late.origin.as_str(), 0),
        };
        let line = serde_json::json!({
            "file": file,
            "line": line,
            "reason": reason.to_string(),
            "detail": detail,
            "text": "",
        });
        let _ = writeln!(w, "{line}");
    }
}

/// What every reader thread needs.
#[derive(Clone)]
struct ReaderCtx {
    projection: Arc<Projection>,
    table: Option<String>,
    rejects: Option<SharedWriter>,
    counts: Arc<Counts>,
    tx: SyncSender<Arrived>,
    stop: Arc<AtomicBool>,
    /// Files (and standard input) not read to their end yet: queued, being read or followed.
    running: Arc<AtomicUsize>,
    /// Whole files waiting for a reader of the pool, and how many readers run.
    queue: Arc<Mutex<std::collections::VecDeque<PathBuf>>>,
    readers: Arc<AtomicUsize>,
    /// The follower thread's inbox of files to follow, once it runs.
    follower: Arc<Mutex<Option<mpsc::Sender<PathBuf>>>>,
}

/// How many threads read whole files at once (without --follow).
const READERS: usize = 4;

/// How long the follower waits, at most, between looks at files that do not grow.
const FOLLOW_IDLE: Duration = Duration::from_millis(250);

impl ReaderCtx {
    /// Reads `path` (`-` for standard input): standard input as JSON Lines as they come, on a
    /// thread of its own; a followed file (`live`) as it grows, by the one follower thread that
    /// follows every file; else the whole file in any format, by one of [`READERS`] pooled
    /// reader threads. Each record goes to the pack as it is read.
    fn spawn(&self, path: PathBuf, live: bool, wait: Duration) {
        self.running.fetch_add(1, Ordering::AcqRel);
        if path.as_os_str() == "-" {
            let ctx = self.clone();
            self.start("stdin", move || {
                ctx.read(Path::new("-"), true, wait);
                ctx.running.fetch_sub(1, Ordering::AcqRel);
            });
        } else if live {
            self.follow(path, wait);
        } else {
            if let Ok(mut q) = self.queue.lock() {
                q.push_back(path);
            }
            if self.readers.load(Ordering::Acquire) < READERS {
                self.readers.fetch_add(1, Ordering::AcqRel);
                let ctx = self.clone();
                self.start("reader", move || {
                    loop {
                        let next = ctx.queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some(path) = next else { break };
                        if !ctx.stop.load(Ordering::Acquire) {
                            ctx.read(&path, false, wait);
                        }
                        ctx.running.fetch_sub(1, Ordering::AcqRel);
                    }
                    ctx.readers.fetch_sub(1, Ordering::AcqRel);
                });
            }
        }
    }

    /// Starts a thread called `name` running `f`; a thread that cannot be started is reported
    /// (and what it was to read counted as rejected and done).
    fn start(&self, name: &str, f: impl FnOnce() + Send + 'static) {
        // A reader needs little stack (JSON nesting is bounded); the binary's default for
        // threads is large, for the dataflow's workers.
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .stack_size(4 << 20)
            .spawn(f);
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::AcqRel);
            self.counts.rejected.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "warning: cannot start a {name} thread: {e}; what it was to read is not read"
            );
        }
    }

    /// Hands `path` to the follower thread, starting it on the first file.
    fn follow(&self, path: PathBuf, wait: Duration) {
        let Ok(mut slot) = self.follower.lock() else {
            return;
        };
        if slot.is_none() {
            let (tx, rx) = mpsc::channel::<PathBuf>();
            let ctx = self.clone();
            self.start("follower", move || ctx.run_follower(rx, wait));
            *slot = Some(tx);
        }
        if let Some(tx) = slot.as_ref()
            && let Err(e) = tx.send(path)
        {
            self.running.fetch_sub(1, Ordering::AcqRel);
            self.counts.rejected.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "warning: {} is not followed: the follower stopped",
                e.0.display()
            );
        }
    }

    /// A reader for one file or stream: its ingest, with rejects counted and written.
    fn ingest(&self) -> Ingest<'static> {
        let mut ing = Ingest::new(
            Catalog::builtin(),
            &self.projection,
            Options {
                table: self.table.clone(),
                ..Options::default()
            },
        );
        if let Some(w) = &self.rejects {
            ing.report.keep_rejects(Box::new(w.clone()));
        }
        let counts = self.counts.clone();
        ing.report.echo_rejects(Box::new(move |reason, at| {
            counts.rejected.fetch_add(1, Ordering::Relaxed);
            eprintln!("warning: rejected {at} ({reason})");
        }));
        ing
    }

    /// What a reader does with each record of `shown` (a file's name): counted, sent on.
    fn sink<'a>(
        &'a self,
        ing: &Ingest<'_>,
        shown: &'a str,
    ) -> impl FnMut(crate::ingest::Record) + 'a {
        let catalog = Catalog::builtin();
        let layouts = layouts_of(ing);
        move |rec: crate::ingest::Record| {
            if rec.time.is_none() {
                self.counts.timeless.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let origin = rec.origin;
            let Some((def, time, row)) = schema_row(catalog, &layouts, rec) else {
                return;
            };
            if let Ok(mut r) = self.counts.records.lock() {
                *r.entry(def.name.to_string()).or_default() += 1;
            }
            let _ = self.tx.send(Arrived::Record {
                table: def.name.to_string(),
                time,
                row,
                origin: format!("{shown}:{}", origin.line),
            });
        }
    }

    fn read(&self, path: &Path, live: bool, wait: Duration) {
        let mut ing = self.ingest();
        let shown = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        let mut sink = self.sink(&ing, &shown);
        if path.as_os_str() == "-" {
            ing.read_live(&shown, None, Box::new(std::io::stdin().lock()), &mut sink);
        } else if live {
            let tail = Tail::new(path, self.stop.clone(), wait);
            ing.read_live(&shown, Some(path), Box::new(tail), &mut sink);
        } else {
            ing.read_path(path, &mut sink);
        }
        if let Err(e) = ing.finish() {
            eprintln!("error: {e}");
        }
    }

    /// The follower: one thread reads every followed file as it grows, a chunk at a time in
    /// turn, keeping at most [`open_file_budget`] of them open (a file that does not grow is
    /// closed and looked at by its metadata until it changes). It looks again every `wait`
    /// while files grow, less often (up to [`FOLLOW_IDLE`]) while none does, and ends with the
    /// run, reading what each file holds by then.
    fn run_follower(&self, inbox: mpsc::Receiver<PathBuf>, wait: Duration) {
        struct Followed {
            path: PathBuf,
            shown: String,
            tail: Tail,
            ing: Ingest<'static>,
            lines: crate::ingest::LiveLines,
            /// An error already reported (not repeated while it lasts).
            failing: bool,
        }
        let budget = open_file_budget();
        let mut files: Vec<Followed> = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut idle = wait;
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            while let Ok(path) = inbox.try_recv() {
                let mut ing = self.ingest();
                let shown = path.display().to_string();
                let lines = ing.live_lines(&shown, Some(&path));
                let tail = Tail::new_closed(&path, self.stop.clone(), wait);
                files.push(Followed {
                    path,
                    shown,
                    tail,
                    ing,
                    lines,
                    failing: false,
                });
            }
            let mut grew = false;
            let mut open = files.iter().filter(|f| f.tail.is_open()).count();
            for f in files.iter_mut() {
                // A few chunks per file per turn, so that one busy file does not hold up
                // the others.
                for _ in 0..4 {
                    let was_open = f.tail.is_open();
                    let got = f.tail.read_now(&mut buf);
                    if !was_open && f.tail.is_open() {
                        open += 1;
                    }
                    match got {
                        Ok(0) => break,
                        Ok(n) => {
                            grew = true;
                            f.failing = false;
                            let mut sink = self.sink(&f.ing, &f.shown);
                            f.ing.live_push(&mut f.lines, &buf[..n], &mut sink);
                        }
                        Err(e) => {
                            if !f.failing {
                                f.failing = true;
                                self.counts.rejected.fetch_add(1, Ordering::Relaxed);
                                eprintln!(
                                    "warning: cannot read {}: {e}; trying again",
                                    f.path.display()
                                );
                            }
                            break;
                        }
                    }
                }
                if open > budget && f.tail.is_open() {
                    f.tail.close();
                    open -= 1;
                }
            }
            if stopping {
                break;
            }
            if grew {
                idle = wait;
            } else {
                std::thread::sleep(idle);
                idle = (idle * 2).min(FOLLOW_IDLE.max(wait));
            }
        }
        for mut f in files {
            let mut sink = self.sink(&f.ing, &f.shown);
            f.ing.live_end(&mut f.lines, &mut sink);
            drop(sink);
            if let Err(e) = f.ing.finish() {
                eprintln!("error: {e}");
            }
            self.running.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// How many followed files the follower keeps open at once: a quarter of the process's
/// descriptor limit, at most 256 (the rest are closed while they do not grow).
fn open_file_budget() -> usize {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the limit into `lim`, which lives for the call.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            let quarter = usize::try_from(lim.rlim_cur / 4).unwrap_or(usize::MAX);
            return quarter.clamp(8, 256);
        }
    }
    64
}

/// A watched watchlist file: its name, path, and what it looked like when last read.
struct Watched {
    name: String,
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

/// The modification time and length of `path`.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Runs `kqlflow detect`: 0 when every rule ran, 1 when a rule could not be read, bound or
/// run, 2 for a usage error.
pub fn run(args: &DetectArgs) -> i32 {
    if let Err(e) = args.show.validate() {
        eprintln!("error: {e}");
        return 2;
    }
    let start = Instant::now();
    let parsed = (|| -> Result<(i64, i64, i64), String> {
        Ok((
            timespan("tick", &args.tick, false)?,
            timespan("allowed-lateness", &args.allowed_lateness, true)?,
            timespan("poll", &args.poll, false)?,
        ))
    })();
    let (tick, lateness, poll) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let max_ahead = match super::logs::max_ahead(args.max_ahead.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if args.workers == 0 {
        eprintln!("error: -w must be at least 1");
        return 2;
    }
    let poll = Duration::from_micros((poll / 10).max(1) as u64);
    // Watchlists: one file each, watched for changes.
    if let Some(w) = args.common.watchlists.iter().find(|w| {
        w.split_once('=')
            .and_then(|(_, f)| f.rsplit_once('@'))
            .is_some_and(|(f, at)| {
                !f.is_empty() && crate::model::parse_datetime(at.trim()).is_some()
            })
    }) {
        eprintln!(
            "error: --watchlist {w}: detect re-reads a watchlist's file when it changes; a version dated with @ is for hunt and replay"
        );
        return 2;
    }
    let paths = match args.common.watchlist_paths() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut watched: Vec<Watched> = Vec::new();
    let mut watchlists: HashMap<String, Watchlist> = HashMap::new();
    for (name, files) in paths {
        if !files.later.is_empty() {
            eprintln!(
                "error: --watchlist {name}: detect re-reads a watchlist's file when it changes; a version dated with @ is for hunt and replay"
            );
            return 2;
        }
        let Some(path) = files.first else { continue };
        let seen = stamp(&path);
        match read_watchlist(&path) {
            Ok(w) => {
                watchlists.insert(name.clone(), w);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
        watched.push(Watched { name, path, seen });
    }
    let loaded = if args.rules.is_empty() {
        super::hunt::builtin_rules(&args.common)
    } else {
        super::hunt::load_rules(&args.rules, &args.common)
    };
    let (mut rules, mut failed): (Vec<LoadedRule>, bool) = match loaded {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Err(e) = args.show.select(&mut rules, |(_, r, _)| r) {
        eprintln!("error: {e}");
        return 2;
    }
    failed |= super::hunt::keep_runnable(&mut rules, true);
    let programs: Vec<&Program> = rules.iter().map(|(_, _, p)| p).collect();
    let projection = match projection_for(&programs) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let rejects = match &args.rejects {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(SharedWriter(Arc::new(Mutex::new(std::io::BufWriter::new(
                f,
            ))))),
            Err(e) => {
                eprintln!("error: cannot create the rejects file {}: {e}", p.display());
                return 1;
            }
        },
        None => None,
    };
    let mut printer = match super::output::AlertPrinter::new(
        args.format,
        args.no_color,
        &args.show,
        args.out.as_deref(),
        rules.iter().map(|(_, r, _)| r.name.clone()).collect(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    printer.live = true;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // The first Ctrl-C ends the run with its summary; a second ends it at once.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::AcqRel) {
                std::process::exit(130);
            }
        });
    }
    // Readers, the watchlist watcher and the clock send into `tx`; a relay forwards to the
    // pack until every reader is done (or the run is stopped), then lets the pack finish.
    // Bounded: a reader waits while the dataflow is behind, rather than piling records up.
    let (tx, rx) = mpsc::sync_channel::<Arrived>(QUEUE);
    let counts = Arc::new(Counts::default());
    let ctx = ReaderCtx {
        projection,
        table: args.table.clone(),
        rejects: rejects.clone(),
        counts: counts.clone(),
        tx: tx.clone(),
        stop: stop.clone(),
        running: Arc::new(AtomicUsize::new(0)),
        queue: Arc::new(Mutex::new(std::collections::VecDeque::new())),
        readers: Arc::new(AtomicUsize::new(0)),
        follower: Arc::new(Mutex::new(None)),
    };
    let tail_wait = Duration::from_millis(10);
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut started: Vec<PathBuf> = Vec::new();
    for p in &args.logs {
        if p.as_os_str() != "-" && p.is_dir() {
            dirs.push(p.clone());
            for f in crate::ingest::log_files(std::slice::from_ref(p)) {
                ctx.spawn(f.clone(), args.follow, tail_wait);
                started.push(f);
            }
        } else {
            ctx.spawn(p.clone(), args.follow, tail_wait);
            started.push(p.clone());
        }
    }
    // With --follow: new log files in the directories, changed watchlist files, the clock.
    let watcher = {
        let ctx = ctx.clone();
        let follow = args.follow;
        let wall = args.clock == Clock::Wall;
        let counts = counts.clone();
        std::thread::spawn(move || {
            let mut last = Instant::now()
                .checked_sub(poll)
                .unwrap_or_else(Instant::now);
            while !ctx.stop.load(Ordering::Acquire)
                && (follow || ctx.running.load(Ordering::Acquire) > 0)
            {
                std::thread::sleep(Duration::from_millis(10).min(poll));
                if last.elapsed() < poll {
                    continue;
                }
                last = Instant::now();
                if follow {
                    for f in crate::ingest::log_files(&dirs) {
                        if !started.contains(&f) {
                            eprintln!("note: following the new file {}", f.display());
                            ctx.spawn(f.clone(), true, tail_wait);
                            started.push(f);
                        }
                    }
                }
                for w in watched.iter_mut() {
                    let now = stamp(&w.path);
                    if now.is_none() || now == w.seen {
                        continue;
                    }
                    w.seen = now;
                    match read_watchlist(&w.path) {
                        Ok(version) => {
                            counts.watchlist_reloads.fetch_add(1, Ordering::Relaxed);
                            eprintln!(
                                "note: watchlist {} changed: {} rows from now on",
                                w.name,
                                version.rows.len()
                            );
                            let _ = ctx.tx.send(Arrived::Watchlist {
                                name: w.name.clone(),
                                version,
                            });
                        }
                        Err(e) => {
                            counts.watchlist_errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("warning: {e}; the watchlist's rows stay as they were");
                        }
                    }
                }
                if wall {
                    let _ = ctx
                        .tx
                        .send(Arrived::Clock(crate::runtime::arrival::wall_clock()));
                }
            }
        })
    };
    let (pack_tx, pack_rx) = mpsc::sync_channel::<Arrived>(QUEUE);
    let relay = {
        let stop = stop.clone();
        let running = ctx.running.clone();
        drop(tx);
        drop(ctx);
        std::thread::spawn(move || {
            loop {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(a) => {
                        if pack_tx.send(a).is_err() {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if stop.load(Ordering::Acquire) || running.load(Ordering::Acquire) == 0 {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if stop.load(Ordering::Acquire) {
                    break;
                }
            }
        })
    };
    let (pack, columns, severities) = super::hunt::pack_parts(&rules);
    let options = StreamOptions {
        workers: args.workers,
        tick,
        lateness,
        late: match args.late {
            Late::Accept => LatePolicy::Accept,
            Late::Reject => LatePolicy::Reject,
        },
        max_ahead,
    };
    let mut future_seen: u64 = 0;
    let mut latency = kqlflow_replay::latency::LatencyRecorder::new().ok();
    let mut late_seen: u64 = 0;
    let mut late_accepted: u64 = 0;
    let mut raised = vec![0u64; pack.len()];
    let result = crate::pack::stream::run(
        &pack,
        &watchlists,
        pack_rx,
        &options,
        |report| match report {
            Report::Alert { rule: order, event } => {
                let (rule, cols) = (&pack[*order].0, &columns[*order]);
                let d = describe(rule, cols, event);
                if printer.event(*order, rule, &d, event) {
                    raised[*order] += 1;
                }
            }
            Report::Ticks(ticks) => {
                if let Some(h) = latency.as_mut() {
                    for t in ticks {
                        h.record(t.latency);
                    }
                }
            }
            Report::Notes(_) | Report::Finished { .. } => {}
        },
        |late: &LateRecord| {
            if late.future {
                // A bad clock: refused, so that detection goes on for the records after it.
                future_seen += 1;
                let detail = format!(
                    "event time {} is more than {} ahead of {}",
                    format_datetime_iso(late.time),
                    max_ahead.map_or(String::new(), crate::plan::window::human_duration),
                    format_datetime_iso(late.watermark)
                );
                write_reject(&rejects, late, RejectReason::FutureRecord, &detail);
                eprintln!("warning: future record {}: {detail}; rejected", late.origin);
                return;
            }
            late_seen += 1;
            let what = match late.entered {
                Some(t) => {
                    late_accepted += 1;
                    format!("entered at {}", format_datetime_iso(t as i64))
                }
                None => {
                    let detail = format!(
                        "event time {} is before the watermark {}",
                        format_datetime_iso(late.time),
                        format_datetime_iso(late.watermark)
                    );
                    write_reject(&rejects, late, RejectReason::LateRecord, &detail);
                    "rejected".to_string()
                }
            };
            eprintln!(
                "warning: late record {}: event time {} is before the watermark {}; {what}",
                late.origin,
                format_datetime_iso(late.time),
                format_datetime_iso(late.watermark)
            );
        },
    );
    let _ = relay.join();
    stop.store(true, Ordering::Release);
    let _ = watcher.join();
    if let Some(w) = &rejects {
        let mut w = w.clone();
        let _ = w.flush();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Err(e) = printer.finish() {
        eprintln!("error: {e}");
        failed = true;
    }
    // The summary.
    let secs = start.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nsummary:");
    super::output::summarise_incidents(&mut err, &printer.incidents, &printer.rule_names, 20);
    let records = counts.records.lock().map(|r| r.clone()).unwrap_or_default();
    for (t, n) in &records {
        let _ = writeln!(err, "  {t}: {n} records");
    }
    let _ = writeln!(
        err,
        "  rejected lines: {}; records without event time: {}; late records: {late_seen} ({late_accepted} entered late, {} rejected; allowed lateness {}, --late={})",
        counts.rejected.load(Ordering::Relaxed),
        counts.timeless.load(Ordering::Relaxed),
        late_seen - late_accepted,
        args.allowed_lateness,
        crate::logs::policy_name(options.late),
    );
    if future_seen > 0 {
        let _ = writeln!(
            err,
            "  future records rejected: {future_seen} (more than --max-ahead ahead of the wall clock or of the stream)"
        );
    }
    if summary.skipped > 0 {
        let _ = writeln!(
            err,
            "  {} records kept by no rule's first filter were not fed to the dataflow",
            summary.skipped
        );
    }
    let (reloads, reload_errors) = (
        counts.watchlist_reloads.load(Ordering::Relaxed),
        counts.watchlist_errors.load(Ordering::Relaxed),
    );
    if reloads + reload_errors > 0 {
        let _ = writeln!(
            err,
            "  watchlist changes: {reloads} taken, {reload_errors} unreadable (kept the rows before)"
        );
    }
    for (i, (rule, _)) in pack.iter().enumerate() {
        let held = match summary.suppressed.get(i) {
            Some(&n) if n > 0 => format!(" ({n} suppressed)"),
            _ => String::new(),
        };
        let _ = writeln!(
            err,
            "  [{}] {}: {} alert(s){held}",
            severities[i], rule.name, raised[i]
        );
    }
    if let Some(p) = latency.map(|h| h.percentiles())
        && p.count > 0
    {
        let _ = writeln!(
            err,
            "  latency from a tick's close to its alerts, over {} ticks: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p.count, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    let total: u64 = records.values().sum();
    let _ = writeln!(
        err,
        "  {} rule(s), {total} records in {secs:.2} s",
        pack.len()
    );
    i32::from(failed)
}

/// Reads a watchlist's CSV file.
fn read_watchlist(path: &Path) -> Result<Watchlist, String> {
    std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| Watchlist::from_csv(&t))
        .map_err(|e| format!("watchlist {}: {e}", path.display()))
}
