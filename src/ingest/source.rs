//! Opening inputs: files, directory trees, standard input; gzip detection; telling JSON Lines,
//! JSON documents and CSV apart; reading lines with a length limit.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use super::gzip::{GzipEnd, GzipReader, GzipWatch};
use super::json::{DocSplitter, Piece};
use super::{FileStats, Ingest, Record, RejectReason, WarningKind};

/// File endings read when walking a directory.
const LOG_EXTENSIONS: [&str; 6] = ["json", "jsonl", "ndjson", "csv", "txt", "gz"];

/// Reads a file, or every log file under a directory, or standard input (`-`): the one-path,
/// one-thread case of [`super::parallel::read_paths`], which lists what a path holds.
pub(crate) fn read_path(ing: &mut Ingest, path: &Path, sink: &mut dyn FnMut(Record)) {
    super::parallel::read_paths(ing, &[path.to_path_buf()], 1, sink)
}

/// Reads standard input, called `<stdin>`.
pub(crate) fn read_stdin(ing: &mut Ingest, sink: &mut dyn FnMut(Record)) {
    let name = "<stdin>";
    ing.report.files.push(FileStats {
        path: name.into(),
        ..FileStats::default()
    });
    read_reader(ing, name, None, Box::new(std::io::stdin().lock()), sink);
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
    pub(crate) fn of(path: &Path, m: &std::fs::Metadata) -> FileId {
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
pub(crate) fn is_special(m: &std::fs::Metadata) -> bool {
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
pub(crate) struct Walk {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) errors: Vec<(PathBuf, String)>,
    pub(crate) loops: Vec<PathBuf>,
    /// The directories on the current path from the root, by identity.
    parents: Vec<FileId>,
    /// Every file found so far, by identity.
    seen: std::collections::HashSet<FileId>,
}

impl Walk {
    /// Adds every log file under `dir`, sorted by path; hidden entries are skipped.
    pub(crate) fn walk(&mut self, dir: &Path) {
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

/// Reads the file at `path`, once it is known to be neither special nor read before.
pub(crate) fn read_opened(ing: &mut Ingest, path: &Path, sink: &mut dyn FnMut(Record)) {
    let shown = path.display().to_string();
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
    mut reader: Box<dyn Read + '_>,
    sink: &mut dyn FnMut(Record),
) {
    let mut lines = LiveLines::new(ing, name, path);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => lines.push(ing, &buf[..n], sink),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let at = lines.lineno + 1;
                ing.report.reject(
                    name,
                    at,
                    RejectReason::Unreadable,
                    &format!("reading stopped: {e}"),
                    b"",
                );
                break;
            }
        }
    }
    lines.end(ing, sink);
}

/// JSON Lines handed in pieces as they arrive (a followed file read a chunk at a time): each
/// line is read as soon as it is complete, a line longer than `--max-line-bytes` is rejected
/// without being held whole, and what is left without a newline is read when the stream ends.
pub struct LiveLines {
    name: String,
    hint: Option<usize>,
    lineno: u64,
    /// The start of the line not complete yet (at most the line limit, then its first KiB).
    partial: Vec<u8>,
    /// Bytes of the incomplete line so far.
    total: usize,
    too_long: bool,
}

impl LiveLines {
    /// Starts a stream called `name`; `path` names the table of records that tell none.
    pub(crate) fn new(ing: &mut Ingest, name: &str, path: Option<&Path>) -> LiveLines {
        ing.report.files.push(FileStats {
            path: name.into(),
            ..FileStats::default()
        });
        set_format(ing, "JSON Lines");
        LiveLines {
            name: name.to_string(),
            hint: ing.hint_for(path),
            lineno: 0,
            partial: Vec::new(),
            total: 0,
            too_long: false,
        }
    }

    /// Reads the lines `bytes` completes, and keeps the start of the next one.
    pub(crate) fn push(
        &mut self,
        ing: &mut Ingest,
        mut bytes: &[u8],
        sink: &mut dyn FnMut(Record),
    ) {
        let max = ing.options.max_line_bytes;
        while let Some(p) = memchr::memchr(b'\n', bytes) {
            if self.total == 0 && p <= max {
                // The whole line is here: read it in place.
                self.lineno += 1;
                one_line(
                    ing,
                    &self.name,
                    self.lineno,
                    &bytes[..p],
                    &mut self.hint,
                    sink,
                );
            } else {
                self.gather(&bytes[..p], max);
                self.line_done(ing, sink);
            }
            bytes = &bytes[p + 1..];
        }
        if !bytes.is_empty() {
            self.gather(bytes, max);
        }
    }

    /// Reads what is left without a newline: the stream has ended.
    pub(crate) fn end(&mut self, ing: &mut Ingest, sink: &mut dyn FnMut(Record)) {
        if self.total > 0 {
            self.line_done(ing, sink);
        }
    }

    fn gather(&mut self, chunk: &[u8], max: usize) {
        self.total += chunk.len();
        if self.too_long {
            return;
        }
        if self.partial.len() + chunk.len() > max {
            self.too_long = true;
            let keep = 1024usize
                .saturating_sub(self.partial.len())
                .min(chunk.len());
            self.partial.extend_from_slice(&chunk[..keep]);
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    fn line_done(&mut self, ing: &mut Ingest, sink: &mut dyn FnMut(Record)) {
        self.lineno += 1;
        if self.too_long {
            let max = ing.options.max_line_bytes;
            ing.report.reject(
                &self.name,
                self.lineno,
                RejectReason::LineTooLong,
                &format!(
                    "{} bytes, more than the limit of {max} (--max-line-bytes)",
                    self.total
                ),
                &self.partial,
            );
        } else {
            let line = std::mem::take(&mut self.partial);
            one_line(ing, &self.name, self.lineno, &line, &mut self.hint, sink);
            self.partial = line;
        }
        self.partial.clear();
        self.total = 0;
        self.too_long = false;
    }
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
    let mut watch = None;
    if gz {
        set_format(ing, "gzip");
        let w = GzipWatch::default();
        reader = Box::new(BufReader::with_capacity(
            1 << 18,
            GzipReader::new(reader, w.clone()),
        ));
        watch = Some(w);
    }
    let gz = watch.as_ref();
    read_data(ing, name, path, reader, gz, sink);
    // Damage the format's reader has not reported (it stopped before the end).
    report_gzip_end(ing, name, gz, 0, b"");
}

/// Tells the format of the (decoded) data `reader` holds and reads it; `gz` watches the gzip
/// stream it comes from.
fn read_data(
    ing: &mut Ingest,
    name: &str,
    path: Option<&Path>,
    mut reader: Box<dyn BufRead + '_>,
    gz: Option<&GzipWatch>,
    sink: &mut dyn FnMut(Record),
) {
    // Look at the start of the data to tell the format. (A gzip stream's damage ends its data
    // without an error: it is reported where the data ends.)
    let mut prefix = Vec::with_capacity(1 << 16);
    if let Err(e) = (&mut reader).take(1 << 16).read_to_end(&mut prefix) {
        ing.report
            .reject(name, 0, RejectReason::Unreadable, &e.to_string(), b"");
        return;
    }
    let hint = ing.hint_for(path);
    let body = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&prefix);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        set_format(ing, "empty");
        // A gzip stream damaged before its first record is not an empty file: its damage is
        // reported.
        if !gz.is_some_and(is_damaged) {
            ing.report
                .warn(name, 0, WarningKind::EmptyFile, "the file holds no records");
        }
        return;
    };
    let first_line_end = body[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |p| start + p);
    let first_line = &body[start..first_line_end];
    if let Some(why) = is_binary(&prefix) {
        set_format(ing, "binary");
        ing.report.reject(
            name,
            0,
            RejectReason::BinaryFile,
            &format!("the file holds binary data, not JSON or CSV text: {why}"),
            b"",
        );
        return;
    }
    // A UTF-8 byte order mark (Windows tools write one) is not data: the readers start after it.
    let bom = prefix.len() - body.len();
    let stream: Box<dyn BufRead + '_> = Box::new(Cursor::new(prefix[bom..].to_vec()).chain(reader));
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
            if gz.is_some_and(is_damaged) && !body[start..].contains(&b'\n') {
                // The data is one line, cut short by gzip damage: that is why.
                return report_gzip_end(ing, name, gz, 1, first_line);
            }
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

/// True when the gzip stream `watch` follows stopped at damage inside a member (so the data
/// read last may be cut short).
pub(crate) fn is_damaged(watch: &GzipWatch) -> bool {
    watch.borrow().end.as_ref().is_some_and(GzipEnd::is_damage)
}

/// Reports how the gzip stream `gz` follows ended, once, when it did not end cleanly: zero
/// padding after the last member as a warning (gzip accepts it); damage (cut short, corrupt
/// data, a read error) or bytes after the last member that are not gzip data as one reject at
/// `line`, the line where the data stops, with `partial`, the text of the line the damage cut
/// short (empty when it fell between lines). Every row decoded before the damage has been read.
pub(crate) fn report_gzip_end(
    ing: &mut Ingest,
    name: &str,
    gz: Option<&GzipWatch>,
    line: u64,
    partial: &[u8],
) {
    let Some(watch) = gz else { return };
    let (end, decoded, members) = {
        let mut st = watch.borrow_mut();
        let Some(end) = st.end.take() else { return };
        (end, st.decoded, st.members)
    };
    let cut = if partial.is_empty() {
        String::new()
    } else {
        format!("; the record there is cut short ({} bytes)", partial.len())
    };
    let (reason, detail) = match end {
        GzipEnd::Clean => return,
        GzipEnd::Padding { bytes } => {
            ing.report.warn(
                name,
                0,
                WarningKind::GzipPadding,
                &format!("{bytes} zero bytes after the end of the gzip data, ignored"),
            );
            return;
        }
        GzipEnd::TrailingGarbage { at, bytes } => (
            RejectReason::BadGzip,
            format!(
                "trailing garbage after gzip member {members}: {bytes} bytes at byte {at} that are not gzip data, ignored"
            ),
        ),
        GzipEnd::Truncated { at } => (
            RejectReason::BadGzip,
            format!(
                "gzip stream truncated after {at} bytes ({decoded} bytes decoded; every line before is read){cut}"
            ),
        ),
        GzipEnd::Corrupt { at, what } => (
            RejectReason::BadGzip,
            format!(
                "gzip data damaged at byte {at}: {what} ({decoded} bytes decoded; reading stopped there){cut}"
            ),
        ),
        GzipEnd::Io { at, error } => (
            RejectReason::Unreadable,
            format!("reading stopped after {at} bytes of gzip data: {error}{cut}"),
        ),
    };
    ing.report.reject(name, line, reason, &detail, partial);
}

/// The magic numbers of binary formats that turn up where logs are exported or collected,
/// with their names: a file (after gzip decoding) that starts with one is binary.
const BINARY_MAGIC: [(&[u8], &str); 16] = [
    (b"PK\x03\x04", "a zip archive (or an Office document)"),
    (b"\x1f\x8b", "gzip data inside gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"Obj\x01", "an Avro file"),
    (b"ElfFile\x00", "a Windows event log (EVTX)"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an OLE document (an old Office file)",
    ),
];

/// The share of NUL and control bytes above which a file is binary: more than 1 in 10.
const BINARY_CONTROL_SHARE: usize = 10;

/// Tells whether a file is binary from `head`, its first bytes (up to 64 KiB, after gzip
/// decoding), and if so why. The rule: a file is binary when
///
/// - it starts with the magic number of a known binary format ([`BINARY_MAGIC`]: zip, bzip2,
///   xz, zstd, 7-Zip, gzip inside gzip, images, PDF, executables, SQLite, Parquet, Avro, EVTX,
///   OLE); or
/// - it starts with a UTF-16 byte order mark (text kqlflow does not read: convert it to UTF-8);
///   or
/// - more than 10% of `head` are NUL bytes or other control bytes (below 0x20, except tab, line
///   feed, vertical tab, form feed, carriage return and escape).
///
/// Anything else is text, read line by line: a line with a NUL byte or bytes that are not UTF-8
/// is rejected alone, with its file:line, and the rest of the file is read.
fn is_binary(head: &[u8]) -> Option<String> {
    if let Some((_, what)) = BINARY_MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return Some(format!("it starts with the magic number of {what}"));
    }
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return Some(
            "it is UTF-16 text (byte order mark); kqlflow reads UTF-8: convert it, e.g. with iconv -f UTF-16 -t UTF-8"
                .into(),
        );
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1b))
        .count();
    if control * BINARY_CONTROL_SHARE > head.len() {
        return Some(format!(
            "{control} of its first {} bytes are NUL or control bytes, more than 10%",
            head.len()
        ));
    }
    None
}

/// The formats told apart by [`sniff`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Format {
    JsonLines,
    Document,
    Csv,
    Unknown,
}

/// Tells the format from the start of the text (`head` starts at the first non-blank byte):
/// JSON Lines when most of the first lines are complete objects (so a damaged first line does
/// not turn a JSON Lines file into CSV); a JSON document when the text opens an array, or an
/// object whose first line is unfinished; CSV when the first line has a comma; else unknown.
pub(crate) fn sniff(head: &[u8]) -> Format {
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
        // A line of an array (whole or cut short) followed by object lines is a damaged JSON
        // Lines file; a document's array opens on a line of its own or holds its elements.
        Some(b'[')
            if more_lines && first.len() > 1 && complete * 2 >= considered - 1 && complete > 0 =>
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
    gz: Option<&GzipWatch>,
    sink: &mut dyn FnMut(Record),
) {
    let max = ing.options.max_line_bytes;
    let stopped = |ing: &mut Ingest, lineno: u64, e: std::io::Error, text: &[u8]| {
        ing.report.reject(
            name,
            lineno,
            RejectReason::Unreadable,
            &format!("reading stopped: {e}"),
            text,
        );
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
            // The data ends after a whole line.
            return report_gzip_end(ing, name, gz, lineno, b"");
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
        } else if eof && gz.is_some_and(is_damaged) && !is_whole_json(&line) {
            // The last line of a damaged gzip stream, cut short: rejected with the damage.
            return report_gzip_end(ing, name, gz, lineno, &line);
        } else {
            one_line(ing, name, lineno, &line, &mut hint, sink);
        }
        if eof {
            return report_gzip_end(ing, name, gz, lineno + 1, b"");
        }
    }
}

/// True when `line` holds one whole JSON value (or only blanks): a last line that gzip damage
/// ends exactly after is still whole.
fn is_whole_json(line: &[u8]) -> bool {
    let text = line.strip_suffix(b"\r").unwrap_or(line);
    text.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
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
    if text.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    if let Some(at) = memchr::memchr(0, text) {
        ing.report.reject(
            name,
            lineno,
            RejectReason::NulByte,
            &format!("a NUL byte at byte {} of the line", at + 1),
            text,
        );
        return;
    }
    ing.read_object(name, lineno, text, hint, sink);
}

/// Reads a JSON document (an array of rows, an envelope of records, or pretty-printed objects
/// one after another) as it comes, and reads each object in it. Only the element being read is
/// kept: one longer than the limit is rejected and skipped to its end without being kept, and
/// reading goes on with the next.
fn read_document(
    ing: &mut Ingest,
    name: &str,
    mut r: Box<dyn BufRead + '_>,
    mut hint: Option<usize>,
    gz: Option<&GzipWatch>,
    sink: &mut dyn FnMut(Record),
) {
    set_format(ing, "JSON document");
    let max = ing.options.max_line_bytes;
    let mut doc = DocSplitter::new(max);
    loop {
        match doc.next(&mut *r) {
            Piece::End => break,
            Piece::Failed(e) => ing.report.reject(
                name,
                0,
                RejectReason::Unreadable,
                &format!("reading stopped: {e}"),
                b"",
            ),
            Piece::TooLong { line, bytes, head } => ing.report.reject(
                name,
                line,
                RejectReason::LineTooLong,
                &format!(
                    "an element of {bytes} bytes, more than the limit of {max} (--max-line-bytes)"
                ),
                head,
            ),
            Piece::Element { line, text } => {
                if let Some(at) = memchr::memchr(0, text) {
                    ing.report.reject(
                        name,
                        line,
                        RejectReason::NulByte,
                        &format!("a NUL byte at byte {} of the element", at + 1),
                        text,
                    );
                } else if std::str::from_utf8(text).is_err() {
                    ing.report.reject(
                        name,
                        line,
                        RejectReason::NotUtf8,
                        "the element is not UTF-8 text",
                        text,
                    );
                } else {
                    ing.read_object(name, line, text, &mut hint, sink);
                }
            }
            Piece::Error {
                line,
                msg,
                text,
                cut,
            } => {
                // The document cut short where a damaged gzip stream ends: one reject, for the
                // damage.
                if cut && gz.is_some_and(is_damaged) {
                    return report_gzip_end(ing, name, gz, line, text);
                }
                ing.report
                    .reject(name, line, RejectReason::MalformedJson, &msg, text);
            }
        }
    }
    report_gzip_end(ing, name, gz, doc.end_line(), b"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_lines_read_each_line_once_whole_however_it_is_cut() {
        let catalog = crate::catalog::Catalog::builtin();
        let projection = crate::ingest::Projection::all();
        let mut ing = Ingest::new(
            catalog,
            &projection,
            crate::ingest::Options {
                max_line_bytes: 200,
                ..crate::ingest::Options::default()
            },
        );
        let mut lines = ing.live_lines("live", None);
        let record = |user: &str| {
            format!(
                r#"{{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"SigninLogs","UserPrincipalName":"{user}"}}"#
            )
        };
        let long = format!(
            r#"{{"Type":"SigninLogs","UserPrincipalName":"{}"}}"#,
            "x".repeat(300)
        );
        let text = format!(
            "{}\n{}\n{long}\n\n{}",
            record("a"),
            record("b"),
            record("c")
        );
        let mut users = Vec::new();
        // Cut in pieces of every size from 1 to 40 bytes, the last line without a newline.
        for cut in [1usize, 7, 40] {
            for piece in text.as_bytes().chunks(cut) {
                ing.live_push(&mut lines, piece, &mut |r| users.push(r.origin.line));
            }
            ing.live_end(&mut lines, &mut |r| users.push(r.origin.line));
        }
        // Each pass reads records at lines 1, 2 and 5 and rejects the long line 3.
        assert_eq!(users, vec![1, 2, 5, 6, 7, 10, 11, 12, 15]);
        assert_eq!(ing.report.files[0].rejected, 3);
    }

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
        assert_eq!(sniff(b"[1, 2,\n{\"a\":1}\n{\"a\":2}\n"), Format::JsonLines);
        assert_eq!(sniff(b"[\n{\"a\":1}\n]\n"), Format::Document);
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

    #[test]
    fn binary_is_more_than_a_tenth_of_control_bytes_or_a_magic_number() {
        let mut head = vec![b'a'; 90];
        head.extend([0u8; 10]);
        assert_eq!(is_binary(&head), None, "exactly 10% is still text");
        head.push(0x01);
        assert!(is_binary(&head).is_some_and(|w| w.contains("more than 10%")));
        assert_eq!(is_binary(b"a\tb\r\n\x0c\x1b[0m\n"), None);
        assert!(is_binary(b"\x7fELF rest").is_some_and(|w| w.contains("ELF")));
        assert!(is_binary(b"\xff\xfe{\x00").is_some_and(|w| w.contains("UTF-16")));
        assert_eq!(is_binary(b""), None);
    }
}
