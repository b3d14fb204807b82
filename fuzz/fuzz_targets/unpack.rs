//! Sniffing and unpacking (gzip, zip, MIME, plain XML) with the default
//! limits, every document found drained to its end. It must never panic,
//! and every input must come out as at least one document or one problem.
#![no_main]

use dmarc_report::limits::Limits;
use dmarc_report::unpack::{self, Document, Hints, Sink, UnpackError};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "input";

#[derive(Default)]
struct Drain {
    documents: usize,
    problems: usize,
}

impl Sink for Drain {
    type Fatal = std::convert::Infallible;

    fn document(&mut self, doc: Document<'_>) -> Result<(), Self::Fatal> {
        assert!(doc.location.starts_with(NAME), "location {:?}", doc.location);
        self.documents += 1;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match doc.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                // A read error must be one `unpack` can describe.
                Err(e) => {
                    assert!(!UnpackError::from_io("input", e).to_string().is_empty());
                    break;
                }
            }
        }
        Ok(())
    }

    fn problem(&mut self, location: &str, error: UnpackError) {
        assert!(location.starts_with(NAME), "location {location:?}");
        assert!(!error.to_string().is_empty());
        self.problems += 1;
    }

    fn warning(&mut self, location: &str, message: String) {
        assert!(location.starts_with(NAME), "location {location:?}");
        assert!(!message.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sink = Drain::default();
    let Ok(()) = unpack::unpack(NAME, data, &Hints::default(), &Limits::default(), &mut sink);
    assert!(
        sink.documents + sink.problems > 0,
        "the input produced neither a document nor a problem"
    );
});
