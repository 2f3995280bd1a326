//! Following a log file as it grows (`tail -F`): a reader that, at the end of the file, waits
//! for more instead of ending, starts again from the beginning when the file is truncated or
//! replaced by a new one (log rotation), and ends only when told to stop.
//!
//! A copy-then-truncate rotation may write the new content past the point already read before
//! the reader looks again: the file is then no shorter than what was read, yet it is not the
//! same. The reader keeps the last bytes it read and, at the end of the file, checks that the
//! file still holds them where they were; if not, it starts again from the beginning.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A file read as it grows, from its beginning, until `stop` is set.
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    /// Bytes read from the current file.
    pos: u64,
    stop: Arc<AtomicBool>,
    wait: Duration,
    /// The last bytes read (up to [`MARK`]), ending at `pos`.
    mark: Vec<u8>,
    /// The last read found the end of the file: the file is checked before reading on.
    at_end: bool,
    /// The identity (device, inode) of the file read, kept while it is closed (see
    /// [`Tail::close`]) so that reading resumes where it stopped if it is still the same file.
    identity: Option<(u64, u64)>,
}

/// How many of the last bytes read are kept to tell a rewritten file from a grown one.
const MARK: usize = 64;

impl Tail {
    /// Follows `path` from its beginning, looking for more every `wait` at its end, until
    /// `stop` is set. A file that does not exist yet is waited for.
    pub fn new(path: &Path, stop: Arc<AtomicBool>, wait: Duration) -> Tail {
        let mut tail = Tail::new_closed(path, stop, wait);
        tail.file = File::open(path).ok();
        tail
    }

    /// Follows `path` as [`Tail::new`] does, without opening it yet: the first read opens it.
    pub fn new_closed(path: &Path, stop: Arc<AtomicBool>, wait: Duration) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
            stop,
            wait,
            mark: Vec::new(),
            at_end: true,
            identity: None,
        }
    }

    /// Whether the file is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Closes the file, to spare a descriptor while it does not grow; the next read reopens it
    /// and goes on where this one stopped if it is still the same file, no shorter, holding
    /// the bytes last read where they were (else it starts again from its beginning, as after
    /// a rotation).
    pub fn close(&mut self) {
        if let Some(f) = self.file.take() {
            self.identity = identity(&f);
        }
    }

    /// Opens the file at the path again after [`Tail::close`]: at the position reached when
    /// it is the same file, else from its beginning.
    fn reopen(&mut self) -> std::io::Result<()> {
        let f = File::open(&self.path)?;
        let same = self
            .identity
            .take()
            .is_some_and(|id| identity(&f) == Some(id))
            && f.metadata().is_ok_and(|m| m.len() >= self.pos);
        self.file = Some(f);
        if same && !self.rewritten() {
            if let Some(f) = self.file.as_mut() {
                f.seek(SeekFrom::Start(self.pos))?;
            }
            return Ok(());
        }
        if let Some(f) = self.file.as_mut() {
            f.seek(SeekFrom::Start(0))?;
        }
        self.pos = 0;
        self.mark.clear();
        self.at_end = false;
        Ok(())
    }

    /// Reads what the file holds now past what was read, without waiting: 0 when there is
    /// nothing more yet. Starts again from the beginning of a
    /// truncated, rewritten or rotated file, and reopens a file closed by [`Tail::close`].
    pub fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.file.is_none() && self.identity.is_some() {
            // Closed to spare a descriptor: nothing new unless the file changed.
            let unchanged = std::fs::metadata(&self.path)
                .is_ok_and(|m| m.len() == self.pos && file_identity(&m) == self.identity);
            if unchanged {
                return Ok(0);
            }
            match self.reopen() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.identity = None;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
        }
        for _ in 0..4 {
            match self.step(buf)? {
                Step::Read(n) => return Ok(n),
                Step::Again => continue,
                Step::Nothing => return Ok(0),
            }
        }
        Ok(0)
    }

    /// Whether the file being read no longer holds, just before `pos`, the bytes last read:
    /// it was rewritten in place (truncated, then written past `pos` again).
    fn rewritten(&self) -> bool {
        if self.mark.is_empty() {
            return false;
        }
        let at = self.pos - self.mark.len() as u64;
        let mut now = vec![0u8; self.mark.len()];
        #[cfg(unix)]
        let got = match &self.file {
            Some(f) => {
                use std::os::unix::fs::FileExt;
                f.read_exact_at(&mut now, at)
            }
            None => return false,
        };
        #[cfg(not(unix))]
        let got = File::open(&self.path).and_then(|mut f| {
            f.seek(SeekFrom::Start(at))
                .and_then(|_| f.read_exact(&mut now))
        });
        match got {
            Ok(()) => now != self.mark,
            Err(_) => true,
        }
    }

    /// Whether the file at the path is no longer the one being read: shorter than what was
    /// read (truncated), or another file (rotated).
    fn replaced(&self) -> bool {
        let Ok(now) = std::fs::metadata(&self.path) else {
            return false;
        };
        if now.len() < self.pos || self.rewritten() {
            return true;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Some(Ok(mine)) = self.file.as_ref().map(File::metadata) {
                return mine.ino() != now.ino() || mine.dev() != now.dev();
            }
        }
        false
    }
}

/// What one attempt to read gave.
enum Step {
    /// Bytes read.
    Read(usize),
    /// The file was (re)opened or found at its end: try again at once.
    Again,
    /// Nothing more for now.
    Nothing,
}

impl Tail {
    fn step(&mut self, buf: &mut [u8]) -> std::io::Result<Step> {
        // At the end (and before reading what comes after it): stop, or start over on a
        // truncated, rewritten or rotated file.
        if self.at_end && (self.file.is_none() || self.replaced()) {
            match File::open(&self.path) {
                Ok(mut f) => {
                    // A truncated file may be the same file: read it from its start.
                    f.seek(SeekFrom::Start(0))?;
                    self.file = Some(f);
                    self.pos = 0;
                    self.mark.clear();
                    self.at_end = false;
                    return Ok(Step::Again);
                }
                // Not there (yet, or between a rotation's rename and create): wait.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Anything else (no permission, too many open files) is reported, not
                // waited on for ever.
                Err(e) => return Err(e),
            }
        }
        if let Some(f) = self.file.as_mut() {
            match f.read(buf) {
                Ok(0) if !self.at_end => {
                    self.at_end = true;
                    Ok(Step::Again)
                }
                Ok(0) => Ok(Step::Nothing),
                Ok(n) => {
                    // Make sure the file was not rewritten in place since the last read
                    // (the bytes before this read must still be those read last), else
                    // drop what was read and start over from the beginning.
                    if self.rewritten() {
                        self.file = None;
                        return Ok(Step::Again);
                    }
                    self.at_end = false;
                    self.pos += n as u64;
                    let got = &buf[..n];
                    if got.len() >= MARK {
                        self.mark = got[got.len() - MARK..].to_vec();
                    } else {
                        self.mark.extend_from_slice(got);
                        let excess = self.mark.len().saturating_sub(MARK);
                        self.mark.drain(..excess);
                    }
                    Ok(Step::Read(n))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Step::Again),
                Err(e) => Err(e),
            }
        } else if !self.at_end {
            self.at_end = true;
            Ok(Step::Again)
        } else {
            Ok(Step::Nothing)
        }
    }
}

/// The identity (device, inode) of an open file.
fn identity(f: &File) -> Option<(u64, u64)> {
    f.metadata().ok().as_ref().and_then(file_identity)
}

/// The identity (device, inode) of a file from its metadata (none where the system has none).
fn file_identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

impl Read for Tail {
    /// Reads as the file grows: waits at its end until more is written or `stop` is set.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at_end && self.stop.load(Ordering::Acquire) {
                return Ok(0);
            }
            match self.step(buf)? {
                Step::Read(n) => return Ok(n),
                Step::Again => continue,
                Step::Nothing => std::thread::sleep(self.wait),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn follows_growth_truncation_and_rotation_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "one\n").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let tail = Tail::new(&path, stop.clone(), Duration::from_millis(5));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(tail).lines() {
                tx.send(line.unwrap()).unwrap();
            }
        });
        let next = || rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(next(), "one");
        // Growth, in two writes that split a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"tw").unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        f.write_all(b"o\n").unwrap();
        drop(f);
        assert_eq!(next(), "two");
        // Truncation: read again from the start.
        std::fs::write(&path, "3\n").unwrap();
        assert_eq!(next(), "3");
        // Rotation: a new file at the path.
        let old = dir.path().join("log.jsonl.1");
        std::fs::rename(&path, &old).unwrap();
        std::fs::write(&path, "four\n").unwrap();
        assert_eq!(next(), "four");
        // Copy-then-truncate, the new content written past what was read before the reader
        // looks: read from its start, head included.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(0).unwrap();
        drop(f);
        std::fs::write(&path, "fifth line\nsixth\n").unwrap();
        assert_eq!(next(), "fifth line");
        assert_eq!(next(), "sixth");
        stop.store(true, Ordering::Release);
        reader.join().unwrap();
        assert!(rx.try_recv().is_err());
    }

    /// Reads what `tail` holds now, as text.
    fn now(tail: &mut Tail) -> String {
        let mut buf = [0u8; 256];
        let mut out = Vec::new();
        loop {
            match tail.read_now(&mut buf).unwrap() {
                0 => return String::from_utf8(out).unwrap(),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn a_closed_file_resumes_where_it_stopped_unless_it_was_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "one\n").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tail = Tail::new_closed(&path, stop, Duration::from_millis(5));
        assert!(!tail.is_open());
        assert_eq!(now(&mut tail), "one\n");
        assert!(tail.is_open());
        // Closed while it does not grow: nothing new, and it stays closed.
        tail.close();
        assert_eq!(now(&mut tail), "");
        assert!(!tail.is_open());
        // It grows: reopened, and read on from where it stopped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"two\n").unwrap();
        drop(f);
        assert_eq!(now(&mut tail), "two\n");
        // Rotated while closed: the new file is read from its start.
        tail.close();
        std::fs::rename(&path, dir.path().join("log.jsonl.1")).unwrap();
        std::fs::write(&path, "three\nfour\n").unwrap();
        assert_eq!(now(&mut tail), "three\nfour\n");
        // Rewritten in place while closed, longer than what was read: from its start too.
        tail.close();
        std::fs::write(&path, "five and more\nsix\n").unwrap();
        assert_eq!(now(&mut tail), "five and more\nsix\n");
    }
}
