//! The raw XML of every stored report, compressed, captured while the
//! parser streams through it.

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

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

    /// Reads the rest of the input (so the copy is complete) and returns
    /// the compressed copy.
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

/// Opens a stored raw copy for reading.
pub fn open(compressed: &[u8]) -> impl Read + '_ {
    GzDecoder::new(compressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_round_trips_everything_including_the_unread_tail() {
        let doc: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut capture = RawCapture::new(&doc[..]);
        let mut first = [0u8; 1000];
        capture.read_exact(&mut first).unwrap();
        let stored = capture.finish().unwrap();
        let mut back = Vec::new();
        open(&stored).read_to_end(&mut back).unwrap();
        assert_eq!(back, doc);
    }
}
