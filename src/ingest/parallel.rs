//! Reading many files on several threads with the result of reading them one after another.
//!
//! The paths are first listed in the order a sequential read takes them (directories walked,
//! each file once, special files and unreadable paths noted where they come). Each file is
//! then read whole by one of the threads, into its records and a report of its own; the main
//! thread takes the files in their order, adds each one's report to the run's (renumbering
//! the records' origins) and hands its records on. Records, report, rejects file and warnings
//! are the same as a sequential read gives, whatever the number of threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use super::source::{FileId, Walk, is_special};
use super::{FileStats, Ingest, Record, RejectReason, Report, WarningKind};

/// How many files may be read ahead of the one the main thread waits for, per thread: bounds
/// the records held while an earlier, larger file is still being read.
const AHEAD_PER_THREAD: usize = 1;

/// One thing a sequential read of the paths meets, in order.
enum Step {
    /// Standard input (read on the main thread, in its turn).
    Stdin,
    /// A path that cannot be read (a missing file, a directory that cannot be listed), and why.
    Unreadable(String, String),
    /// A special file (FIFO, socket, device): skipped.
    Special(String),
    /// A file read already by another path, and that path.
    Duplicate(String, String),
    /// A directory met again below itself (a symlink loop).
    Loop(String),
    /// A file to read: the index of its read among the files.
    Read(usize),
}

/// The steps of reading `paths` in order, and the files to read. Files already read by `ing`
/// (by another call) are duplicates, as a sequential read finds them.
fn plan(ing: &mut Ingest, paths: &[PathBuf]) -> (Vec<Step>, Vec<PathBuf>) {
    let mut steps = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut file = |ing: &mut Ingest, steps: &mut Vec<Step>, path: &Path| {
        let shown = path.display().to_string();
        if let Ok(m) = std::fs::metadata(path) {
            if is_special(&m) {
                steps.push(Step::Special(shown));
                return;
            }
            let id = FileId::of(path, &m);
            if let Some(first) = ing.seen_files.get(&id) {
                steps.push(Step::Duplicate(shown, first.clone()));
                return;
            }
            ing.seen_files.insert(id, shown);
        }
        steps.push(Step::Read(files.len()));
        files.push(path.to_path_buf());
    };
    for path in paths {
        if path.as_os_str() == "-" {
            steps.push(Step::Stdin);
            continue;
        }
        match std::fs::metadata(path) {
            Err(e) => steps.push(Step::Unreadable(path.display().to_string(), e.to_string())),
            Ok(m) if m.is_dir() => {
                let mut w = Walk::default();
                w.walk(path);
                for (p, e) in w.errors {
                    steps.push(Step::Unreadable(p.display().to_string(), e));
                }
                for p in w.loops {
                    steps.push(Step::Loop(p.display().to_string()));
                }
                for f in w.files {
                    file(ing, &mut steps, &f);
                }
            }
            Ok(_) => file(ing, &mut steps, path),
        }
    }
    (steps, files)
}

/// The files read so far and not yet taken: (records, report) by file index.
type Done = BTreeMap<usize, (Vec<Record>, Report)>;

/// What the threads share: the next file to read and the files read, waiting for the main
/// thread.
struct Shared {
    next: usize,
    /// Files before this one have been taken by the main thread.
    taken: usize,
    done: Done,
}

/// Reads `paths` (files, directories, `-` for standard input) as [`Ingest::read_path`] reads
/// each in turn, on up to `threads` threads, handing every record to `sink` in the order of
/// a sequential read.
pub(crate) fn read_paths(
    ing: &mut Ingest,
    paths: &[PathBuf],
    threads: usize,
    sink: &mut dyn FnMut(Record),
) {
    let (steps, files) = plan(ing, paths);
    let threads = threads.min(files.len());
    if threads <= 1 {
        // One thread: read each in turn, as the steps say.
        for step in steps {
            match step {
                Step::Read(i) => {
                    if let Some(f) = files.get(i) {
                        super::source::read_opened(ing, f, sink);
                    }
                }
                other => apply(ing, other, sink),
            }
        }
        return;
    }
    let shared = Mutex::new(Shared {
        next: 0,
        taken: 0,
        done: BTreeMap::new(),
    });
    let ready = Condvar::new();
    let window = threads * AHEAD_PER_THREAD;
    let forks: Vec<Ingest> = (0..threads).map(|_| ing.forked()).collect();
    std::thread::scope(|scope| {
        for mut mine in forks {
            let (shared, ready, files) = (&shared, &ready, &files);
            scope.spawn(move || {
                loop {
                    // The next file, once it is within the window of the one being taken.
                    let index = {
                        let Ok(mut s) = shared.lock() else { return };
                        loop {
                            if s.next >= files.len() {
                                return;
                            }
                            if s.next < s.taken + window {
                                break;
                            }
                            s = match ready.wait(s) {
                                Ok(s) => s,
                                Err(_) => return,
                            };
                        }
                        s.next += 1;
                        s.next - 1
                    };
                    let mut records = Vec::new();
                    if let Some(f) = files.get(index) {
                        super::source::read_opened(&mut mine, f, &mut |r| records.push(r));
                    }
                    let fresh = mine.fresh_report();
                    let report = std::mem::replace(&mut mine.report, fresh);
                    let Ok(mut s) = shared.lock() else { return };
                    s.done.insert(index, (records, report));
                    ready.notify_all();
                }
            });
        }
        // The main thread takes the files in order, with what comes between them.
        for step in steps {
            let Step::Read(i) = step else {
                apply(ing, step, sink);
                continue;
            };
            let taken = {
                let Ok(mut s) = shared.lock() else { break };
                loop {
                    if let Some(d) = s.done.remove(&i) {
                        s.taken = i + 1;
                        ready.notify_all();
                        break Some(d);
                    }
                    s = match ready.wait(s) {
                        Ok(s) => s,
                        Err(_) => break None,
                    };
                }
            };
            let Some((records, report)) = taken else {
                break;
            };
            let offset = ing.report.absorb(report);
            for mut r in records {
                r.origin.file += offset;
                sink(r);
            }
        }
    });
}

/// Does what a sequential read does at a step that reads no file in a thread.
fn apply(ing: &mut Ingest, step: Step, sink: &mut dyn FnMut(Record)) {
    let unreadable = |ing: &mut Ingest, shown: &str, detail: &str| {
        ing.report.files.push(FileStats {
            path: shown.to_string(),
            ..FileStats::default()
        });
        ing.report
            .reject(shown, 0, RejectReason::Unreadable, detail, b"");
    };
    match step {
        Step::Stdin => super::source::read_stdin(ing, sink),
        Step::Unreadable(shown, e) => unreadable(ing, &shown, &e),
        Step::Special(shown) => unreadable(
            ing,
            &shown,
            "not a regular file (a FIFO, socket or device): skipped",
        ),
        Step::Duplicate(shown, first) => {
            let detail = format!("the same file as {first}");
            ing.report
                .warn(&shown, 0, WarningKind::DuplicateFile, &detail);
        }
        Step::Loop(shown) => ing.report.warn(
            &shown,
            0,
            WarningKind::DirectoryLoop,
            "this directory is one of its own parents (a symlink loop)",
        ),
        Step::Read(_) => {}
    }
}
