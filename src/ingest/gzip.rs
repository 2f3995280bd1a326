//! Reading gzip data as `zcat` does, and without losing what comes before damage: each member
//! in turn; zero bytes after the last member are padding (as `gzip -t` accepts); at damage (a
//! stream cut short, corrupt deflate data, a checksum that does not match, bytes after the last
//! member that are not gzip data) reading stops gracefully, every byte decoded before it is
//! handed on, and [`GzipState::end`] tells what was met, for the reader to report.

use std::cell::RefCell;
use std::io::{BufRead, ErrorKind, Read};
use std::rc::Rc;

use flate2::{Crc, Decompress, FlushDecompress, Status};

/// How a gzip stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GzipEnd {
    /// After its last member, at the end of the file.
    Clean,
    /// After its last member, followed by `bytes` zero bytes of padding (ignored).
    Padding {
        /// How many zero bytes.
        bytes: u64,
    },
    /// After a complete member, followed by `bytes` bytes at offset `at` that are not gzip
    /// data (ignored).
    TrailingGarbage {
        /// The offset of the first such byte in the compressed file.
        at: u64,
        /// How many bytes follow the last member.
        bytes: u64,
    },
    /// Cut short inside a member: the file ends after `at` bytes.
    Truncated {
        /// The file's length.
        at: u64,
    },
    /// Corrupt data at offset `at` (a bad header, bad deflate data, a checksum mismatch).
    Corrupt {
        /// The offset in the compressed file where the damage was found.
        at: u64,
        /// What is wrong.
        what: String,
    },
    /// Reading the compressed file failed after `at` bytes.
    Io {
        /// Bytes read before the error.
        at: u64,
        /// The error.
        error: String,
    },
}

impl GzipEnd {
    /// True when the data stopped inside a member, so the last line read may be cut short.
    pub(crate) fn is_damage(&self) -> bool {
        matches!(
            self,
            GzipEnd::Truncated { .. } | GzipEnd::Corrupt { .. } | GzipEnd::Io { .. }
        )
    }
}

/// What a [`GzipReader`] has met so far, shared with whoever reads from it.
#[derive(Debug, Default)]
pub(crate) struct GzipState {
    /// How the stream ended; `None` while it has not.
    pub end: Option<GzipEnd>,
    /// Bytes decoded so far.
    pub decoded: u64,
    /// Complete members read so far.
    pub members: u64,
}

/// A handle on a [`GzipReader`]'s state.
pub(crate) type GzipWatch = Rc<RefCell<GzipState>>;

/// Where the reader is in the gzip format.
enum Phase {
    /// At the start of a member's header.
    Header,
    /// In a member's deflate data.
    Body,
    /// At a member's trailer (CRC-32 and length).
    Trailer,
    /// After a complete member: another member, padding, garbage or the end.
    Next,
    /// Done: every read returns 0.
    Done,
}

/// Why a step stopped.
enum Stop {
    /// The input ended.
    Eof,
    /// The input could not be read.
    Io(std::io::Error),
}

/// The input's buffered bytes, empty at its end.
fn fill<R: BufRead>(inner: &mut R) -> Result<&[u8], Stop> {
    loop {
        match inner.fill_buf() {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    inner.fill_buf().map_err(Stop::Io)
}

/// Decodes the gzip stream `inner` (all its members); see the module's documentation. Never
/// returns an error: damage ends the data, and is recorded in the shared [`GzipState`].
pub(crate) struct GzipReader<R> {
    inner: R,
    watch: GzipWatch,
    phase: Phase,
    inflate: Decompress,
    crc: Crc,
    /// Compressed bytes consumed.
    consumed: u64,
}

impl<R: BufRead> GzipReader<R> {
    /// A reader of the gzip data `inner` holds, reporting to `watch`.
    pub(crate) fn new(inner: R, watch: GzipWatch) -> GzipReader<R> {
        GzipReader {
            inner,
            watch,
            phase: Phase::Header,
            inflate: Decompress::new(false),
            crc: Crc::new(),
            consumed: 0,
        }
    }

    fn stop(&mut self, end: GzipEnd) {
        self.phase = Phase::Done;
        self.watch.borrow_mut().end = Some(end);
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.consumed += n as u64;
    }

    /// Fills `buf` from the input.
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), Stop> {
        let mut got = 0;
        while got < buf.len() {
            let input = fill(&mut self.inner)?;
            if input.is_empty() {
                return Err(Stop::Eof);
            }
            let n = input.len().min(buf.len() - got);
            buf[got..got + n].copy_from_slice(&input[..n]);
            self.consume(n);
            got += n;
        }
        Ok(())
    }

    /// Skips a zero-terminated field of the header.
    fn skip_zero_terminated(&mut self) -> Result<(), Stop> {
        loop {
            let input = fill(&mut self.inner)?;
            if input.is_empty() {
                return Err(Stop::Eof);
            }
            match memchr::memchr(0, input) {
                Some(p) => {
                    self.consume(p + 1);
                    return Ok(());
                }
                None => {
                    let n = input.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Reads a member's header. `Ok(Err(what))` when it is not a valid gzip header.
    fn header(&mut self) -> Result<Result<(), String>, Stop> {
        let mut h = [0u8; 10];
        self.exact(&mut h[..2])?;
        if h[..2] != [0x1f, 0x8b] {
            return Ok(Err("not a gzip header".into()));
        }
        self.exact(&mut h[2..])?;
        if h[2] != 8 {
            return Ok(Err(format!("unknown compression method {}", h[2])));
        }
        let flags = h[3];
        if flags & 0xe0 != 0 {
            return Ok(Err(format!("reserved header flags set ({flags:#04x})")));
        }
        if flags & 0x04 != 0 {
            let mut len = [0u8; 2];
            self.exact(&mut len)?;
            let mut left = usize::from(u16::from_le_bytes(len));
            while left > 0 {
                let input = fill(&mut self.inner)?;
                if input.is_empty() {
                    return Err(Stop::Eof);
                }
                let n = input.len().min(left);
                self.consume(n);
                left -= n;
            }
        }
        if flags & 0x08 != 0 {
            self.skip_zero_terminated()?;
        }
        if flags & 0x10 != 0 {
            self.skip_zero_terminated()?;
        }
        if flags & 0x02 != 0 {
            self.exact(&mut [0u8; 2])?;
        }
        Ok(Ok(()))
    }

    /// Decodes deflate data into `buf`; 0 when the member's data has ended (or reading
    /// stopped).
    fn body(&mut self, buf: &mut [u8]) -> usize {
        loop {
            let input = match fill(&mut self.inner) {
                Ok(b) => b,
                Err(stop) => {
                    self.stop_at(stop);
                    return 0;
                }
            };
            let eof = input.is_empty();
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let result = self.inflate.decompress(input, buf, FlushDecompress::None);
            let used = (self.inflate.total_in() - in_before) as usize;
            let out = (self.inflate.total_out() - out_before) as usize;
            self.consume(used);
            self.crc.update(&buf[..out]);
            self.watch.borrow_mut().decoded += out as u64;
            match result {
                Ok(Status::StreamEnd) => {
                    self.phase = Phase::Trailer;
                    return out;
                }
                Ok(_) if out > 0 => return out,
                Ok(_) if eof => {
                    let at = self.consumed;
                    self.stop(GzipEnd::Truncated { at });
                    return 0;
                }
                Ok(_) if used == 0 => {
                    let at = self.consumed;
                    self.stop(GzipEnd::Corrupt {
                        at,
                        what: "the deflate data makes no progress".into(),
                    });
                    return 0;
                }
                Ok(_) => {}
                Err(e) => {
                    let at = self.consumed;
                    self.stop(GzipEnd::Corrupt {
                        at,
                        what: format!("corrupt deflate data ({e})"),
                    });
                    // The bytes decoded before the damage are kept.
                    return out;
                }
            }
        }
    }

    fn stop_at(&mut self, stop: Stop) {
        let at = self.consumed;
        match stop {
            Stop::Eof => self.stop(GzipEnd::Truncated { at }),
            Stop::Io(e) => self.stop(GzipEnd::Io {
                at,
                error: e.to_string(),
            }),
        }
    }

    /// Checks a member's trailer.
    fn trailer(&mut self) -> Result<Result<(), String>, Stop> {
        let mut t = [0u8; 8];
        self.exact(&mut t)?;
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc.sum() {
            return Ok(Err(format!(
                "the member's CRC-32 is {crc:#010x}, its data's {:#010x}",
                self.crc.sum()
            )));
        }
        if size != self.crc.amount() {
            return Ok(Err(format!(
                "the member's length is {size} (mod 2^32), its data's {}",
                self.crc.amount()
            )));
        }
        Ok(Ok(()))
    }

    /// After a complete member: tells what follows.
    fn next(&mut self) -> Result<(), Stop> {
        let input = fill(&mut self.inner)?;
        match input.first() {
            None => {
                self.stop(GzipEnd::Clean);
                return Ok(());
            }
            Some(0x1f) => {
                self.phase = Phase::Header;
                return Ok(());
            }
            Some(_) => {}
        }
        // Zero padding, or bytes that are not gzip data: count them all.
        let at = self.consumed;
        let mut zeros = true;
        loop {
            let input = fill(&mut self.inner)?;
            if input.is_empty() {
                break;
            }
            zeros = zeros && input.iter().all(|&b| b == 0);
            let n = input.len();
            self.consume(n);
        }
        let bytes = self.consumed - at;
        if zeros {
            self.stop(GzipEnd::Padding { bytes });
        } else {
            self.stop(GzipEnd::TrailingGarbage { at, bytes });
        }
        Ok(())
    }
}

impl<R: BufRead> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.phase {
                Phase::Done => return Ok(0),
                Phase::Header => {
                    let start = self.consumed;
                    let first = self.watch.borrow().members == 0;
                    match self.header() {
                        Ok(Ok(())) => {
                            self.inflate.reset(false);
                            self.crc.reset();
                            self.phase = Phase::Body;
                        }
                        // A later "member" that is not gzip: bytes after the data.
                        Ok(Err(_)) if !first => {
                            let at = start;
                            let mut bytes = self.consumed - start;
                            while let Ok(input) = fill(&mut self.inner) {
                                if input.is_empty() {
                                    break;
                                }
                                let n = input.len();
                                self.consume(n);
                                bytes += n as u64;
                            }
                            self.stop(GzipEnd::TrailingGarbage { at, bytes });
                        }
                        Ok(Err(what)) => self.stop(GzipEnd::Corrupt {
                            at: start,
                            what: format!("bad gzip header ({what})"),
                        }),
                        Err(stop) => self.stop_at(stop),
                    }
                }
                Phase::Body => {
                    let n = self.body(buf);
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Phase::Trailer => match self.trailer() {
                    Ok(Ok(())) => {
                        self.watch.borrow_mut().members += 1;
                        self.phase = Phase::Next;
                    }
                    Ok(Err(what)) => {
                        let at = self.consumed;
                        self.stop(GzipEnd::Corrupt { at, what });
                    }
                    Err(stop) => self.stop_at(stop),
                },
                Phase::Next => {
                    if let Err(stop) = self.next() {
                        self.stop_at(stop);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn decode(gz: &[u8]) -> (Vec<u8>, GzipState) {
        let watch = GzipWatch::default();
        let mut out = Vec::new();
        GzipReader::new(std::io::BufReader::with_capacity(7, gz), watch.clone())
            .read_to_end(&mut out)
            .unwrap();
        let state = std::mem::take(&mut *watch.borrow_mut());
        (out, state)
    }

    #[test]
    fn members_padding_and_garbage() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let one = gzip(&text, 6);
        let (out, st) = decode(&one);
        assert_eq!(out, text);
        assert_eq!(st.end, Some(GzipEnd::Clean));
        assert_eq!(st.members, 1);

        let two = [gzip(b"a\n", 1), gzip(b"b\n", 9)].concat();
        let (out, st) = decode(&two);
        assert_eq!(out, b"a\nb\n");
        assert_eq!((st.end, st.members), (Some(GzipEnd::Clean), 2));

        let padded = [one.clone(), vec![0; 1000]].concat();
        let (out, st) = decode(&padded);
        assert_eq!(out, text);
        assert_eq!(st.end, Some(GzipEnd::Padding { bytes: 1000 }));

        let at = one.len() as u64;
        for tail in [&b"garbage"[..], b"\x1f\x00junk", b"\x00\x00x"] {
            let (out, st) = decode(&[&one[..], tail].concat());
            assert_eq!(out, text);
            assert_eq!(
                st.end,
                Some(GzipEnd::TrailingGarbage {
                    at,
                    bytes: tail.len() as u64
                })
            );
        }
    }

    #[test]
    fn damage_keeps_what_was_decoded_before_it() {
        // Stored (level 0) data decodes byte for byte, so a cut keeps exactly what precedes it.
        let text: Vec<u8> = (0..500)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let gz = gzip(&text, 0);
        let (out, st) = decode(&gz[..1000]);
        assert!(text.starts_with(&out) && out.len() > 900, "{}", out.len());
        assert_eq!(st.end, Some(GzipEnd::Truncated { at: 1000 }));
        assert_eq!(st.decoded, out.len() as u64);
        // Cut inside the header, inside the trailer.
        assert_eq!(decode(&gz[..5]).1.end, Some(GzipEnd::Truncated { at: 5 }));
        let (out, st) = decode(&gz[..gz.len() - 3]);
        assert_eq!(out, text);
        assert!(st.end.as_ref().is_some_and(GzipEnd::is_damage));
        // A flipped byte of data: the checksum tells.
        let mut bad = gz.clone();
        bad[100] ^= 0x20;
        let (out, st) = decode(&bad);
        assert_eq!(out.len(), text.len());
        assert!(
            matches!(&st.end, Some(GzipEnd::Corrupt { what, .. }) if what.contains("CRC-32")),
            "{:?}",
            st.end
        );
        // A header with an unknown method.
        let mut bad = gz.clone();
        bad[2] = 7;
        let (out, st) = decode(&bad);
        assert!(out.is_empty());
        assert!(matches!(st.end, Some(GzipEnd::Corrupt { at: 0, .. })));
    }
}
