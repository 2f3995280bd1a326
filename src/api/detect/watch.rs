//! What a live detection watches besides the logs: new log files in the folders it follows,
//! watchlist files that change on disk, and the wall clock.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::readers::ReaderCtx;
use crate::eval::Watchlist;
use crate::pack::stream::Arrived;

/// A watchlist whose file [`super::detect`] re-reads when it changes on disk: its rows then
/// replace the watchlist's from the open tick on.
#[derive(Clone, Debug)]
pub struct WatchedWatchlist {
    /// The watchlist's name, as rules call it.
    pub name: String,
    /// Its CSV file.
    pub path: PathBuf,
    /// The file's modification time and length when last read.
    seen: Option<(SystemTime, u64)>,
}

impl WatchedWatchlist {
    /// Reads the watchlist `name` from its CSV file `path`, to be watched from now on: the
    /// watched file, and its rows as they are now (the watchlist's first version).
    pub fn read(name: &str, path: &Path) -> Result<(WatchedWatchlist, Watchlist), String> {
        let seen = stamp(path);
        let rows = crate::logs::read_watchlist(path)?;
        Ok((
            WatchedWatchlist {
                name: name.to_string(),
                path: path.to_path_buf(),
                seen,
            },
            rows,
        ))
    }

    /// Sends the watchlist's new version to the pack when its file has changed since it was
    /// last read (a file that cannot be read is told of, and the rows stay as they were).
    fn look(&mut self, ctx: &ReaderCtx) {
        let now = stamp(&self.path);
        if now.is_none() || now == self.seen {
            return;
        }
        self.seen = now;
        match crate::logs::read_watchlist(&self.path) {
            Ok(version) => {
                ctx.counts.watchlist_reloads.fetch_add(1, Ordering::Relaxed);
                (ctx.notices)(&format!(
                    "note: watchlist {} changed: {} rows from now on",
                    self.name,
                    version.rows.len()
                ));
                let _ = ctx.tx.send(Arrived::Watchlist {
                    name: self.name.clone(),
                    version,
                });
            }
            Err(e) => {
                ctx.counts.watchlist_errors.fetch_add(1, Ordering::Relaxed);
                (ctx.notices)(&format!(
                    "warning: {e}; the watchlist's rows stay as they were"
                ));
            }
        }
    }
}

/// The modification time and length of `path`.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// What the watcher looks at, every `poll`.
pub(super) struct Watcher {
    /// The folders whose new log files are followed (with `follow`).
    pub(super) dirs: Vec<PathBuf>,
    /// The files being read already.
    pub(super) started: Vec<PathBuf>,
    /// The watchlist files.
    pub(super) watched: Vec<WatchedWatchlist>,
    /// Whether files are followed (and the watcher runs until the run is stopped).
    pub(super) follow: bool,
    /// Whether the wall clock moves event time.
    pub(super) wall_clock: bool,
    /// How often to look.
    pub(super) poll: Duration,
    /// How long a followed file's reader waits for more.
    pub(super) tail_wait: Duration,
}

impl Watcher {
    /// Starts the watcher's thread: until the run stops (or, without `follow`, until every
    /// reader is done), every `poll` it follows new log files of the folders, sends changed
    /// watchlists and, with `wall_clock`, the time now.
    pub(super) fn spawn(mut self, ctx: ReaderCtx) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let poll = self.poll;
            let mut last = Instant::now()
                .checked_sub(poll)
                .unwrap_or_else(Instant::now);
            while !ctx.stop.load(Ordering::Acquire)
                && (self.follow || ctx.running.load(Ordering::Acquire) > 0)
            {
                std::thread::sleep(Duration::from_millis(10).min(poll));
                if last.elapsed() < poll {
                    continue;
                }
                last = Instant::now();
                self.look(&ctx);
            }
        })
    }

    /// One look at the folders, the watchlists and the clock.
    fn look(&mut self, ctx: &ReaderCtx) {
        if self.follow {
            for f in crate::ingest::log_files(&self.dirs) {
                if !self.started.contains(&f) {
                    (ctx.notices)(&format!("note: following the new file {}", f.display()));
                    ctx.spawn(f.clone(), true, self.tail_wait);
                    self.started.push(f);
                }
            }
        }
        for w in self.watched.iter_mut() {
            w.look(ctx);
        }
        if self.wall_clock {
            let _ = ctx
                .tx
                .send(Arrived::Clock(crate::runtime::arrival::wall_clock()));
        }
    }
}
