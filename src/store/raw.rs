//! The raw XML of every stored report, compressed, captured while the
//! parser streams through it and handed out in pieces of about
//! [`CHUNK_SIZE`], so that a large report is never held whole.

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Size of the pieces the compressed copy is stored in.
pub const CHUNK_SIZE: usize = 1 << 20;

/// A reader that passes bytes through and keeps a gzip copy of them.
pub struct RawCapture<R> {
    inner: R,
    encoder: GzEncoder<Vec<u8>>,
}

impl<R: Read> RawCapture<R> {
    /// Starts capturing what is read from `inner`.
    pub fn new(inner: R) -> Self {
        RawCapture { inner, encoder: GzEncoder::new(Vec::new(), Compression::fast()) }
    }

    /// The next complete piece of the compressed copy, once one is ready.
    pub fn take_chunk(&mut self) -> Option<Vec<u8>> {
        (self.encoder.get_ref().len() >= CHUNK_SIZE).then(|| std::mem::take(self.encoder.get_mut()))
    }

    /// Reads the rest of the input (so the copy is complete) and returns
    /// the last piece of the compressed copy.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        io::copy(&mut self, &mut io::sink())?;
        self.encoder.finish()
    }
}

impl<R: Read> Read for RawCapture<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.encoder.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Opens a stored raw copy, given its pieces in order, for reading.
pub fn open(chunks: Vec<Vec<u8>>) -> impl Read + Send {
    let mut readers: Vec<io::Cursor<Vec<u8>>> = chunks.into_iter().map(io::Cursor::new).collect();
    readers.reverse();
    GzDecoder::new(Pieces { pieces: readers })
}

/// The pieces of a stored copy read as one stream.
struct Pieces {
    /// In reverse order, so the next is popped from the end.
    pieces: Vec<io::Cursor<Vec<u8>>>,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(current) = self.pieces.last_mut() {
            let n = current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.pieces.pop();
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_round_trips_in_pieces_including_the_unread_tail() {
        // Incompressible enough to produce several pieces.
        let doc: Vec<u8> =
            crate::testing::pseudo_random(1).take(3_000_000).map(|x| (x >> 56) as u8).collect();
        let mut capture = RawCapture::new(&doc[..]);
        let mut pieces = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..30 {
            capture.read_exact(&mut buf).unwrap();
            pieces.extend(capture.take_chunk());
        }
        pieces.push(capture.finish().unwrap());
        assert!(pieces.len() >= 2, "expected several pieces, got {}", pieces.len());
        assert!(pieces[..pieces.len() - 1].iter().all(|p| p.len() >= CHUNK_SIZE));
        let mut back = Vec::new();
        open(pieces).read_to_end(&mut back).unwrap();
        assert_eq!(back, doc);
    }
}
