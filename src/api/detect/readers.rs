//! The readers of a live detection: threads that read standard input, streams of lines, whole
//! files and followed files, and send each record to the pack as it is read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Notices;
use crate::catalog::Catalog;
use crate::ingest::tail::Tail;
use crate::ingest::{Ingest, Options, Projection, RejectReason};
use crate::logs::{layouts_of, schema_row};
use crate::pack::stream::{Arrived, LateRecord};

/// How many records may wait between the readers and the dataflow.
pub(super) const QUEUE: usize = 1 << 14;

/// What the readers counted, shared between their threads.
#[derive(Default)]
pub(super) struct Counts {
    /// Records per table.
    pub(super) records: Mutex<BTreeMap<String, u64>>,
    /// Lines rejected.
    pub(super) rejected: AtomicU64,
    /// Records without an event time, left out.
    pub(super) timeless: AtomicU64,
    /// Watchlist files re-read.
    pub(super) watchlist_reloads: AtomicU64,
    /// Watchlist files that changed but could not be read.
    pub(super) watchlist_errors: AtomicU64,
}

/// The rejects file, shared by the readers.
#[derive(Clone)]
pub(super) struct SharedWriter(pub(super) Arc<Mutex<std::io::BufWriter<std::fs::File>>>);

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
pub(super) fn write_reject(
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
pub(super) struct ReaderCtx {
    /// The columns read of each table.
    pub(super) projection: Arc<Projection>,
    /// The table of records whose table nothing else tells.
    pub(super) table: Option<String>,
    /// The rejects file.
    pub(super) rejects: Option<SharedWriter>,
    /// What the readers counted.
    pub(super) counts: Arc<Counts>,
    /// Where records go.
    pub(super) tx: SyncSender<Arrived>,
    /// Set when the run is to end.
    pub(super) stop: Arc<AtomicBool>,
    /// Where warnings and notes go.
    pub(super) notices: Notices,
    /// Files (and standard input) not read to their end yet: queued, being read or followed.
    pub(super) running: Arc<AtomicUsize>,
    /// Whole files waiting for a reader of the pool, and how many readers run.
    pub(super) queue: Arc<Mutex<std::collections::VecDeque<PathBuf>>>,
    /// How many pooled readers run.
    pub(super) readers: Arc<AtomicUsize>,
    /// The follower thread's inbox of files to follow, once it runs.
    pub(super) follower: Arc<Mutex<Option<mpsc::Sender<PathBuf>>>>,
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
    pub(super) fn spawn(&self, path: PathBuf, live: bool, wait: Duration) {
        self.running.fetch_add(1, Ordering::AcqRel);
        if path.as_os_str() == "-" {
            let ctx = self.clone();
            self.start("stdin", move || {
                ctx.read_lines("<stdin>", Box::new(std::io::stdin().lock()));
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

    /// Reads `reader`, called `name`, as JSON Lines as they come, on a thread of its own, each
    /// record sent to the pack as it is read.
    pub(super) fn spawn_lines(&self, name: String, reader: Box<dyn std::io::Read + Send>) {
        self.running.fetch_add(1, Ordering::AcqRel);
        let ctx = self.clone();
        self.start("lines", move || {
            ctx.read_lines(&name, reader);
            ctx.running.fetch_sub(1, Ordering::AcqRel);
        });
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
            (self.notices)(&format!(
                "warning: cannot start a {name} thread: {e}; what it was to read is not read"
            ));
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
            (self.notices)(&format!(
                "warning: {} is not followed: the follower stopped",
                e.0.display()
            ));
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
        let notices = self.notices.clone();
        ing.report.echo_rejects(Box::new(move |reason, at| {
            counts.rejected.fetch_add(1, Ordering::Relaxed);
            notices(&format!("warning: rejected {at} ({reason})"));
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

    /// Reads JSON Lines from `reader`, called `shown`, to its end.
    fn read_lines(&self, shown: &str, reader: Box<dyn std::io::Read + '_>) {
        let mut ing = self.ingest();
        let mut sink = self.sink(&ing, shown);
        ing.read_live(shown, None, reader, &mut sink);
        if let Err(e) = ing.finish() {
            (self.notices)(&format!("error: {e}"));
        }
    }

    /// Reads the file `path`: followed as it grows when `live`, else whole.
    fn read(&self, path: &Path, live: bool, wait: Duration) {
        let mut ing = self.ingest();
        let shown = path.display().to_string();
        let mut sink = self.sink(&ing, &shown);
        if live {
            let tail = Tail::new(path, self.stop.clone(), wait);
            ing.read_live(&shown, Some(path), Box::new(tail), &mut sink);
        } else {
            ing.read_path(path, &mut sink);
        }
        if let Err(e) = ing.finish() {
            (self.notices)(&format!("error: {e}"));
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
                                (self.notices)(&format!(
                                    "warning: cannot read {}: {e}; trying again",
                                    f.path.display()
                                ));
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
                (self.notices)(&format!("error: {e}"));
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
