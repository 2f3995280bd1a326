//! Following a log file as it grows (`tail -F`): a reader that, at the end of the file, waits
//! for more instead of ending, starts again from the beginning when the file is truncated or
//! replaced by a new one (log rotation), and ends only when told to stop.

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
}

impl Tail {
    /// Follows `path` from its beginning, looking for more every `wait` at its end, until
    /// `stop` is set. A file that does not exist yet is waited for.
    pub fn new(path: &Path, stop: Arc<AtomicBool>, wait: Duration) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file: File::open(path).ok(),
            pos: 0,
            stop,
            wait,
        }
    }

    /// Whether the file at the path is no longer the one being read: shorter than what was
    /// read (truncated), or another file (rotated).
    fn replaced(&self) -> bool {
        let Ok(now) = std::fs::metadata(&self.path) else {
            return false;
        };
        if now.len() < self.pos {
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

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(f) = self.file.as_mut() {
                match f.read(buf) {
                    Ok(0) => {}
                    Ok(n) => {
                        self.pos += n as u64;
                        return Ok(n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            // At the end: stop, start over on a truncated or rotated file, or wait.
            if self.stop.load(Ordering::Acquire) {
                return Ok(0);
            }
            if (self.file.is_none() || self.replaced())
                && let Ok(mut f) = File::open(&self.path)
            {
                // A truncated file may be the same file: read it from its start.
                f.seek(SeekFrom::Start(0))?;
                self.file = Some(f);
                self.pos = 0;
                continue;
            }
            std::thread::sleep(self.wait);
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
        stop.store(true, Ordering::Release);
        reader.join().unwrap();
        assert!(rx.try_recv().is_err());
    }
}
