//! Opening inputs: files, directory trees, standard input; gzip detection; telling JSON Lines,
//! JSON documents and CSV apart; reading lines with a length limit.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use super::json::{envelope_records, split_document};
use super::{FileStats, Ingest, Record, RejectReason, WarningKind};

/// File endings read when walking a directory.
const LOG_EXTENSIONS: [&str; 6] = ["json", "jsonl", "ndjson", "csv", "txt", "gz"];

pub(crate) fn read_path(ing: &mut Ingest, path: &Path, sink: &mut dyn FnMut(Record)) {
    if path.as_os_str() == "-" {
        let name = "<stdin>";
        ing.report.files.push(FileStats {
            path: name.into(),
            ..FileStats::default()
        });
        read_reader(ing, name, None, Box::new(std::io::stdin().lock()), sink);
        return;
    }
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Err(e) => {
            ing.report.files.push(FileStats {
                path: shown.clone(),
                ..FileStats::default()
            });
            ing.report
                .reject(&shown, 0, RejectReason::Unreadable, &e.to_string(), b"");
        }
        Ok(m) if m.is_dir() => {
            let mut w = Walk::default();
            w.walk(path);
            for (p, e) in w.errors {
                let shown = p.display().to_string();
                ing.report.files.push(FileStats {
                    path: shown.clone(),
                    ..FileStats::default()
                });
                ing.report
                    .reject(&shown, 0, RejectReason::Unreadable, &e, b"");
            }
            for p in w.loops {
                ing.report.warn(
                    &p.display().to_string(),
                    0,
                    WarningKind::DirectoryLoop,
                    "this directory is one of its own parents (a symlink loop)",
                );
            }
            for f in w.files {
                read_file(ing, &f, sink);
            }
        }
        Ok(_) => read_file(ing, path, sink),
    }
}

/// A file's identity: device and inode where the platform has them, else its canonical path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FileId {
    /// Device and inode.
    #[cfg(unix)]
    Inode(u64, u64),
    /// The canonical path.
    #[cfg(not(unix))]
    Path(PathBuf),
}

impl FileId {
    /// The identity of the file `m` describes, at `path`.
    fn of(path: &Path, m: &std::fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            let _ = path;
            use std::os::unix::fs::MetadataExt;
            FileId::Inode(m.dev(), m.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            FileId::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
        }
    }
}

/// Whether `m` describes something other than a regular file or a directory (a FIFO, a
/// socket, a device): reading it could block forever or never end.
fn is_special(m: &std::fs::Metadata) -> bool {
    !m.is_file() && !m.is_dir()
}

/// The files `paths` name: directories expanded into the log files under them (sorted by path,
/// hidden entries skipped, each file once however many paths reach it, symlink loops not
/// followed), other paths (files, `-` for standard input) kept as given. A directory that
/// cannot be listed is kept as given, so that reading it reports why.
pub fn log_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut w = Walk::default();
    for p in paths {
        if p.as_os_str() != "-" && p.is_dir() {
            w.walk(p);
            out.append(&mut w.files);
            out.extend(w.errors.drain(..).map(|(p, _)| p));
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// A walk over directory trees: the log files found (each file once, by identity), the
/// directories that could not be listed, and the symlink loops not followed.
#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    errors: Vec<(PathBuf, String)>,
    loops: Vec<PathBuf>,
    /// The directories on the current path from the root, by identity.
    parents: Vec<FileId>,
    /// Every file found so far, by identity.
    seen: std::collections::HashSet<FileId>,
}

impl Walk {
    /// Adds every log file under `dir`, sorted by path; hidden entries are skipped.
    fn walk(&mut self, dir: &Path) {
        let id = match std::fs::metadata(dir) {
            Ok(m) => FileId::of(dir, &m),
            Err(e) => {
                self.errors.push((dir.to_path_buf(), e.to_string()));
                return;
            }
        };
        if self.parents.contains(&id) {
            self.loops.push(dir.to_path_buf());
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.errors.push((dir.to_path_buf(), e.to_string()));
                return;
            }
        };
        self.parents.push(id);
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if p.is_dir() {
                self.walk(&p);
            } else {
                let ext = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if !ext.is_some_and(|e| LOG_EXTENSIONS.contains(&e.as_str())) {
                    continue;
                }
                // A file reached twice (through a symlink) is listed once; a special file is
                // listed, so that reading it reports why it is skipped.
                let first = std::fs::metadata(&p)
                    .map(|m| is_special(&m) || self.seen.insert(FileId::of(&p, &m)))
                    .unwrap_or(true);
                if first {
                    self.files.push(p);
                }
            }
        }
        self.parents.pop();
    }
}

fn read_file(ing: &mut Ingest, path: &Path, sink: &mut dyn FnMut(Record)) {
    let shown = path.display().to_string();
    // Special files (a FIFO would block forever, a device never end) are skipped; a file read
    // already by another path is read once.
    if let Ok(m) = std::fs::metadata(path) {
        if is_special(&m) {
            ing.report.files.push(FileStats {
                path: shown.clone(),
                ..FileStats::default()
            });
            ing.report.reject(
                &shown,
                0,
                RejectReason::Unreadable,
                "not a regular file (a FIFO, socket or device): skipped",
                b"",
            );
            return;
        }
        let id = FileId::of(path, &m);
        if let Some(first) = ing.seen_files.get(&id) {
            let detail = format!("the same file as {first}");
            ing.report
                .warn(&shown, 0, WarningKind::DuplicateFile, &detail);
            return;
        }
        ing.seen_files.insert(id, shown.clone());
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            ing.report.files.push(FileStats {
                path: shown.clone(),
                ..FileStats::default()
            });
            ing.report
                .reject(&shown, 0, RejectReason::Unreadable, &e.to_string(), b"");
            return;
        }
    };
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    ing.report.files.push(FileStats {
        path: shown.clone(),
        bytes,
        ..FileStats::default()
    });
    read_reader(ing, &shown, Some(path), Box::new(file), sink);
}

/// Reads an in-memory or opened stream called `name`.
pub(crate) fn read_stream(
    ing: &mut Ingest,
    name: &str,
    reader: Box<dyn Read + '_>,
    bytes: u64,
    sink: &mut dyn FnMut(Record),
) {
    ing.report.files.push(FileStats {
        path: name.into(),
        bytes,
        ..FileStats::default()
    });
    read_reader(ing, name, Some(Path::new(name)), reader, sink);
}

/// Reads JSON Lines from `reader`, called `name`, as they come: no look ahead to tell the
/// format, so each record reaches `sink` as soon as its line is complete (a live tail, a
/// pipe). Records of a file whose table nothing else tells take the table `path`'s name gives.
pub(crate) fn read_live_lines(
    ing: &mut Ingest,
    name: &str,
    path: Option<&Path>,
    reader: Box<dyn Read + '_>,
    sink: &mut dyn FnMut(Record),
) {
    ing.report.files.push(FileStats {
        path: name.into(),
        ..FileStats::default()
    });
    set_format(ing, "JSON Lines");
    let hint = path.and_then(|p| ing.hint_for(p));
    let stream: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(1 << 16, reader));
    read_lines(ing, name, stream, hint, false, sink);
}

fn set_format(ing: &mut Ingest, format: &str) {
    if let Some(f) = ing.report.files.last_mut() {
        if f.format.is_empty() {
            f.format = format.to_string();
        } else {
            f.format = format!("{} ({})", format, f.format);
        }
    }
}

fn read_reader(
    ing: &mut Ingest,
    name: &str,
    path: Option<&Path>,
    reader: Box<dyn Read + '_>,
    sink: &mut dyn FnMut(Record),
) {
    let mut reader: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(1 << 18, reader));
    let gz = matches!(reader.fill_buf(), Ok(b) if b.starts_with(&[0x1f, 0x8b]));
    if gz {
        set_format(ing, "gzip");
        reader = Box::new(BufReader::with_capacity(
            1 << 18,
            flate2::bufread::MultiGzDecoder::new(reader),
        ));
    }
    // Look at the start of the data to tell the format.
    let mut prefix = Vec::with_capacity(1 << 16);
    if let Err(e) = (&mut reader).take(1 << 16).read_to_end(&mut prefix) {
        let reason = if gz {
            RejectReason::BadGzip
        } else {
            RejectReason::Unreadable
        };
        ing.report.reject(name, 0, reason, &e.to_string(), b"");
        return;
    }
    let hint = path.and_then(|p| ing.hint_for(p));
    let body = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&prefix);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        set_format(ing, "empty");
        ing.report
            .warn(name, 0, WarningKind::EmptyFile, "the file holds no records");
        return;
    };
    let first_line_end = body[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |p| start + p);
    let first_line = &body[start..first_line_end];
    let utf8_broken = matches!(std::str::from_utf8(first_line), Err(e) if e.error_len().is_some());
    if prefix.contains(&0) || utf8_broken {
        set_format(ing, "binary");
        ing.report.reject(
            name,
            0,
            RejectReason::BinaryFile,
            "the file holds binary data, not JSON or CSV text",
            b"",
        );
        return;
    }
    let stream: Box<dyn BufRead + '_> = Box::new(Cursor::new(prefix.clone()).chain(reader));
    match sniff(&body[start..]) {
        Format::Document => read_document(ing, name, stream, hint, gz, sink),
        Format::JsonLines => {
            set_format(ing, "JSON Lines");
            read_lines(ing, name, stream, hint, gz, sink)
        }
        Format::Csv => {
            set_format(ing, "CSV");
            super::csv::read_csv(ing, name, stream, hint, gz, sink)
        }
        Format::Unknown => {
            set_format(ing, "unknown");
            ing.report.reject(
                name,
                0,
                RejectReason::UnknownFormat,
                "expected JSON Lines, a JSON array or object, or CSV with a header row",
                first_line,
            );
        }
    }
}

/// The formats told apart by [`sniff`].
#[derive(Debug, PartialEq, Eq)]
enum Format {
    JsonLines,
    Document,
    Csv,
    Unknown,
}

/// Tells the format from the start of the text (`head` starts at the first non-blank byte):
/// JSON Lines when most of the first lines are complete objects (so a damaged first line does
/// not turn a JSON Lines file into CSV); a JSON document when the text opens an array, or an
/// object whose first line is unfinished; CSV when the first line has a comma; else unknown.
fn sniff(head: &[u8]) -> Format {
    let lines: Vec<&[u8]> = head
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty())
        .take(21)
        .collect();
    let complete = lines
        .iter()
        .take(20)
        .filter(|l| l.starts_with(b"{") && l.ends_with(b"}"))
        .count();
    let considered = lines.len().min(20);
    let first = lines.first().copied().unwrap_or_default();
    let more_lines = lines.len() > 1;
    match first.first() {
        Some(b'{') if first.ends_with(b"}") || !more_lines => Format::JsonLines,
        Some(b'{') if complete > 0 && complete * 2 >= considered => Format::JsonLines,
        Some(b'{') => Format::Document,
        // A one-line array followed by object lines is a damaged JSON Lines file.
        Some(b'[')
            if more_lines
                && first.ends_with(b"]")
                && complete * 2 >= considered - 1
                && complete > 0 =>
        {
            Format::JsonLines
        }
        Some(b'[') => Format::Document,
        _ if more_lines && complete > 0 && complete * 2 >= considered => Format::JsonLines,
        _ if first.contains(&b',') => Format::Csv,
        _ => Format::Unknown,
    }
}

/// Reads JSON Lines, one object per line, with the line-length limit.
fn read_lines(
    ing: &mut Ingest,
    name: &str,
    mut r: Box<dyn BufRead + '_>,
    mut hint: Option<usize>,
    gz: bool,
    sink: &mut dyn FnMut(Record),
) {
    let max = ing.options.max_line_bytes;
    let stopped = |ing: &mut Ingest, lineno: u64, e: std::io::Error, text: &[u8]| {
        let reason = if gz {
            RejectReason::BadGzip
        } else {
            RejectReason::Unreadable
        };
        ing.report
            .reject(name, lineno, reason, &format!("reading stopped: {e}"), text);
    };
    let mut line = Vec::new();
    let mut lineno: u64 = 0;
    loop {
        lineno += 1;
        // The common case: the whole line is in the reader's buffer; read it in place.
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) => return stopped(ing, lineno, e, b""),
        };
        if buf.is_empty() {
            return;
        }
        if let Some(p) = memchr::memchr(b'\n', buf).filter(|&p| p <= max) {
            one_line(ing, name, lineno, &buf[..p], &mut hint, sink);
            r.consume(p + 1);
            continue;
        }
        // Otherwise gather the line across buffers, keeping at most `max` bytes of it.
        line.clear();
        let mut too_long = false;
        let mut total = 0usize;
        let mut eof = false;
        loop {
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(e) => return stopped(ing, lineno, e, &line),
            };
            if buf.is_empty() {
                eof = true;
                break;
            }
            let (chunk, found) = match memchr::memchr(b'\n', buf) {
                Some(p) => (&buf[..p], true),
                None => (buf, false),
            };
            total += chunk.len();
            if !too_long {
                if line.len() + chunk.len() > max {
                    too_long = true;
                    let keep = 1024usize.saturating_sub(line.len()).min(chunk.len());
                    line.extend_from_slice(&chunk[..keep]);
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let used = chunk.len() + usize::from(found);
            r.consume(used);
            if found {
                break;
            }
        }
        if too_long {
            ing.report.reject(
                name,
                lineno,
                RejectReason::LineTooLong,
                &format!("{total} bytes, more than the limit of {max} (--max-line-bytes)"),
                &line,
            );
        } else {
            one_line(ing, name, lineno, &line, &mut hint, sink);
        }
        if eof {
            return;
        }
    }
}

/// Reads one line of JSON Lines (without its newline).
fn one_line(
    ing: &mut Ingest,
    name: &str,
    lineno: u64,
    line: &[u8],
    hint: &mut Option<usize>,
    sink: &mut dyn FnMut(Record),
) {
    let text = line.strip_suffix(b"\r").unwrap_or(line);
    let text = if lineno == 1 {
        text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text)
    } else {
        text
    };
    if !text.iter().all(u8::is_ascii_whitespace) {
        ing.read_object(name, lineno, text, hint, sink);
    }
}

/// Reads a whole JSON document (an array of rows, an envelope of records, or pretty-printed
/// objects one after another) and reads each object in it.
fn read_document(
    ing: &mut Ingest,
    name: &str,
    mut r: Box<dyn BufRead + '_>,
    mut hint: Option<usize>,
    gz: bool,
    sink: &mut dyn FnMut(Record),
) {
    set_format(ing, "JSON document");
    let mut doc = Vec::new();
    if let Err(e) = r.read_to_end(&mut doc) {
        let reason = if gz {
            RejectReason::BadGzip
        } else {
            RejectReason::Unreadable
        };
        ing.report
            .reject(name, 0, reason, &format!("reading stopped: {e}"), b"");
        if doc.is_empty() {
            return;
        }
    }
    let newlines: Vec<usize> = memchr::memchr_iter(b'\n', &doc).collect();
    let line_of = |offset: usize| newlines.partition_point(|&n| n < offset) as u64 + 1;
    let (spans, err) = split_document(&doc);
    let max = ing.options.max_line_bytes;
    let mut objects = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match envelope_records(&doc, s, e) {
            Some(records) => objects.extend(records),
            None => objects.push((s, e)),
        }
    }
    let err_at = err.as_ref().map(|(at, _)| *at);
    for (s, e) in objects {
        if Some(s) == err_at {
            continue;
        }
        let text = &doc[s..e];
        if text.len() > max {
            ing.report.reject(
                name,
                line_of(s),
                RejectReason::LineTooLong,
                &format!(
                    "an element of {} bytes, more than the limit of {max} (--max-line-bytes)",
                    text.len()
                ),
                &text[..1024.min(text.len())],
            );
        } else if std::str::from_utf8(text).is_err() {
            ing.report.reject(
                name,
                line_of(s),
                RejectReason::NotUtf8,
                "the element is not UTF-8 text",
                text,
            );
        } else {
            ing.read_object(name, line_of(s), text, &mut hint, sink);
        }
    }
    if let Some((at, msg)) = err {
        let text = &doc[at.min(doc.len())..doc.len().min(at + 4096)];
        ing.report
            .reject(name, line_of(at), RejectReason::MalformedJson, &msg, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(b"{\"a\":1}\n{\"a\":2}\n"), Format::JsonLines);
        assert_eq!(sniff(b"{\"a\":1"), Format::JsonLines);
        assert_eq!(sniff(b"{\n  \"a\": 1\n}\n"), Format::Document);
        assert_eq!(
            sniff(b"{\"records\": [\n{\"a\":1},\n{\"a\":2}\n]}"),
            Format::Document
        );
        assert_eq!(sniff(b"[\n{\"a\":1},\n{\"a\":2}\n]"), Format::Document);
        assert_eq!(sniff(b"[{\"a\":1},{\"a\":2}]"), Format::Document);
        assert_eq!(sniff(b"[1,2]\n{\"a\":1}\n{\"a\":2}\n"), Format::JsonLines);
        assert_eq!(
            sniff(b"x{\"a\":1,\"b\":2}\n{\"a\":1}\n{\"a\":2}\n"),
            Format::JsonLines
        );
        assert_eq!(
            sniff(b"{\"a\":1,\n{\"a\":1}\n{\"a\":2}\n"),
            Format::JsonLines
        );
        assert_eq!(
            sniff(b"TimeGenerated,Type\n2024-01-01,SigninLogs\n"),
            Format::Csv
        );
        assert_eq!(sniff(b"hello world\n"), Format::Unknown);
    }
}
