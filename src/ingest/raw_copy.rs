//! The raw copy every stored report keeps, made while the parser reads the
//! document: the compressed bytes the document arrived in when there are
//! some (a gzip member as it is, a zip entry's deflate data wrapped as a
//! gzip member), otherwise its XML compressed here into a gzip member with
//! a deflate state that the worker reuses from one document to the next.
//!
//! Either way the copy is one gzip member that decompresses to exactly the
//! bytes the parser read, and it is handed out in pieces of about
//! [`CHUNK_SIZE`] so that a large report is never held whole.

use std::io::{self, Read};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use crate::store::raw::CHUNK_SIZE;
use crate::unpack::{Arrived, GzipTap};

/// A gzip member's header: no name, no time, "unknown" system.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A deflate state kept by a parse worker for the documents that arrive
/// uncompressed (making a new one costs more than deflating a small report).
pub(super) struct Deflater {
    compress: Compress,
    /// The last stream was finished, so `reset` makes the state new
    /// again. A stream left half-way (a duplicate, a broken report) is
    /// not reused: a reset in the middle of a stream was seen to corrupt
    /// the next one.
    finished: bool,
}

impl Deflater {
    pub(super) fn new() -> Deflater {
        Deflater { compress: Compress::new(Compression::fast(), false), finished: true }
    }

    /// The state, ready for a new stream.
    fn start(&mut self) {
        if self.finished {
            self.compress.reset();
        } else {
            self.compress = Compress::new(Compression::fast(), false);
        }
        self.finished = false;
    }
}

/// How the copy is made.
enum Mode<'a> {
    /// The gzip member is collected under the decoder.
    Tap(GzipTap),
    /// A zip entry's deflate data, wrapped at the end.
    Member { data: &'a [u8], crc32: u32, size: u64 },
    /// The XML compressed here.
    Deflate { deflater: &'a mut Deflater, crc: Crc, out: Vec<u8> },
}

/// Reads a document through and makes its raw copy.
pub(super) struct RawCopy<'a> {
    inner: &'a mut (dyn Read + Send),
    mode: Mode<'a>,
    /// XML bytes read so far.
    read: u64,
}

impl<'a> RawCopy<'a> {
    /// Starts the copy of `inner`, from `arrived` when the document came
    /// compressed, else by compressing it with `deflater`.
    pub(super) fn new(
        inner: &'a mut (dyn Read + Send),
        arrived: Option<Arrived<'a>>,
        deflater: &'a mut Deflater,
    ) -> RawCopy<'a> {
        let mode = match arrived {
            Some(Arrived::Gzip(tap)) => Mode::Tap(tap),
            Some(Arrived::Deflate { data, crc32, size }) => Mode::Member { data, crc32, size },
            None => {
                deflater.start();
                let mut out = Vec::with_capacity(16 * 1024);
                out.extend_from_slice(&GZIP_HEADER);
                Mode::Deflate { deflater, crc: Crc::new(), out }
            }
        };
        RawCopy { inner, mode, read: 0 }
    }

    /// XML bytes read so far.
    pub(super) fn xml_read(&self) -> u64 {
        self.read
    }

    /// The next complete piece of the copy, once one is ready.
    pub(super) fn take_chunk(&mut self) -> Option<Vec<u8>> {
        match &mut self.mode {
            Mode::Tap(tap) => tap.take(CHUNK_SIZE),
            Mode::Member { .. } => None,
            Mode::Deflate { out, .. } => (out.len() >= CHUNK_SIZE)
                .then(|| std::mem::replace(out, Vec::with_capacity(1 << 16))),
        }
    }

    /// Reads the rest of the document (so the copy is complete, and a zip
    /// entry's checksum is checked) and returns the rest of the copy, in
    /// pieces of at most [`CHUNK_SIZE`].
    pub(super) fn finish(mut self) -> io::Result<Vec<Vec<u8>>> {
        io::copy(&mut self, &mut io::sink())?;
        let last = match self.mode {
            Mode::Tap(tap) => tap.take(0).unwrap_or_default(),
            Mode::Member { data, crc32, size } => {
                let mut member = Vec::with_capacity(data.len() + 18);
                member.extend_from_slice(&GZIP_HEADER);
                member.extend_from_slice(data);
                member.extend_from_slice(&crc32.to_le_bytes());
                // ISIZE is the size modulo 2^32 (RFC 1952).
                member.extend_from_slice(&(size as u32).to_le_bytes());
                member
            }
            Mode::Deflate { deflater, crc, mut out } => {
                deflate(&mut deflater.compress, &[], &mut out, FlushCompress::Finish)?;
                deflater.finished = true;
                out.extend_from_slice(&crc.sum().to_le_bytes());
                out.extend_from_slice(&crc.amount().to_le_bytes());
                out
            }
        };
        if last.len() <= CHUNK_SIZE {
            return Ok(vec![last]);
        }
        Ok(last.chunks(CHUNK_SIZE).map(<[u8]>::to_vec).collect())
    }
}

impl Read for RawCopy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        match &mut self.mode {
            Mode::Deflate { deflater, crc, out } => {
                crc.update(&buf[..n]);
                deflate(&mut deflater.compress, &buf[..n], out, FlushCompress::None)?;
            }
            Mode::Tap(tap) => tap.produced(n),
            Mode::Member { .. } => {}
        }
        Ok(n)
    }
}

/// Compresses all of `input` into `out` (and, with `Finish`, ends the
/// deflate stream).
fn deflate(
    compress: &mut Compress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> io::Result<()> {
    loop {
        if out.capacity() - out.len() < 8 * 1024 {
            out.reserve(out.len().max(32 * 1024));
        }
        let before = compress.total_in();
        let status = compress.compress_vec(input, out, flush).map_err(io::Error::other)?;
        let used = usize::try_from(compress.total_in() - before).unwrap_or(input.len());
        input = &input[used.min(input.len())..];
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => input.is_empty(),
        };
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::raw;

    fn xml(n: usize) -> Vec<u8> {
        crate::testing::pseudo_random(7)
            .take(n)
            .map(|x| b"<record> 0123456789abcdef</>\n"[(x >> 59) as usize % 29])
            .collect()
    }

    fn read_back(pieces: Vec<Vec<u8>>) -> Vec<u8> {
        let mut back = Vec::new();
        raw::open(pieces).read_to_end(&mut back).unwrap();
        back
    }

    /// Reads `copy` in small reads, collecting pieces on the way.
    fn run(mut copy: RawCopy<'_>, partly: usize) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        let mut buf = [0u8; 4096];
        let mut seen = 0;
        while seen < partly {
            let n = copy.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen += n;
            pieces.extend(copy.take_chunk());
        }
        pieces.extend(copy.finish().unwrap());
        pieces
    }

    #[test]
    fn a_copy_made_here_reads_back_with_a_reused_deflate_state() {
        let mut deflater = Deflater::new();
        for size in [0, 1, 5000, 3 * CHUNK_SIZE] {
            let doc = xml(size);
            let mut input = &doc[..];
            let pieces = run(RawCopy::new(&mut input, None, &mut deflater), size / 2);
            assert!(pieces[..pieces.len() - 1].iter().all(|p| p.len() >= CHUNK_SIZE));
            assert_eq!(read_back(pieces), doc, "{size} bytes");
            // A copy left half-way (a duplicate report) before the next.
            let mut input = &doc[..];
            let mut copy = RawCopy::new(&mut input, None, &mut deflater);
            copy.read_exact(&mut [0u8; 1]).ok();
        }
    }

    #[test]
    fn a_gzip_member_is_kept_as_it_arrived() {
        use std::io::Write;
        let doc = xml(2 * CHUNK_SIZE + 77);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&doc).unwrap();
        let mut member = gz.finish().unwrap();
        // Bytes after the member are never part of the report.
        member.extend_from_slice(b"\r\n");
        let tap = GzipTap::default();
        let mut decoder = flate2::read::GzDecoder::new(TapReader(&member[..], tap.clone()));
        let mut deflater = Deflater::new();
        let pieces = run(RawCopy::new(&mut decoder, Some(Arrived::Gzip(tap)), &mut deflater), 100);
        let kept: Vec<u8> = pieces.concat();
        assert_eq!(kept, member, "the member's own bytes");
        assert_eq!(read_back(pieces), doc);
    }

    #[test]
    fn a_zip_entry_is_wrapped_as_a_gzip_member() {
        use std::io::Write;
        let doc = xml(40_000);
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("r.xml", options).unwrap();
        zip.write_all(&doc).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let mut archive = zip::ZipArchive::new(io::Cursor::new(&bytes[..])).unwrap();
        let mut entry = archive.by_index(0).unwrap();
        let start = entry.data_start().unwrap() as usize;
        let data = &bytes[start..start + entry.compressed_size() as usize];
        let arrived = Arrived::Deflate { data, crc32: entry.crc32(), size: entry.size() };
        let mut deflater = Deflater::new();
        let pieces = run(RawCopy::new(&mut entry, Some(arrived), &mut deflater), 0);
        assert_eq!(read_back(pieces), doc);
    }

    /// What `unpack` puts under a gzip decoder, as a test sees it.
    struct TapReader<'a>(&'a [u8], GzipTap);

    impl Read for TapReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.push(&buf[..n])?;
            Ok(n)
        }
    }
}
