//! Record assembly: the values of one `<record>`, element by element, on
//! top of the core event loop. Both readers parse records through
//! [`Core::record_body`].

use super::core::{Core, Ev, Source};
use super::element::E;
use super::error::{ParseError, shorten};
use super::lenient;
use crate::model::{DkimAuth, Reason, Record, SpfAuth};

impl<S: Source> Core<S> {
    /// Reads a record whose `<record>` start was just pushed, up to and
    /// including its end.
    pub(super) fn record_body(&mut self) -> Result<Record, ParseError> {
        let mut record = Record::default();
        let mut count: Option<u64> = None;
        loop {
            match self.next_event()? {
                Ev::Eof => {
                    return Err(ParseError::Xml {
                        line: self.line(),
                        message: "the document ends inside a <record>".into(),
                    });
                }
                Ev::Start(e) => {
                    self.push(e)?;
                    match self.stack[1..] {
                        [E::Record, E::Row, E::PolicyEvaluated, E::Reason] => {
                            record.reasons.push(Reason { kind: None, comment: None })
                        }
                        [E::Record, E::AuthResults, E::Dkim] => {
                            record.dkim_results.push(DkimAuth {
                                domain: String::new(),
                                selector: None,
                                result: None,
                                human_result: None,
                            })
                        }
                        [E::Record, E::AuthResults, E::Spf] => record.spf_results.push(SpfAuth {
                            domain: String::new(),
                            scope: None,
                            result: None,
                            human_result: None,
                        }),
                        // RFC 9990: record-level extensions are namespaced
                        // elements after <auth_results>; some wrap them in
                        // <extension>. Both are kept verbatim.
                        [E::Record, E::Extension | E::Other] => {
                            let ext = self.capture_subtree()?;
                            record.extensions.push(ext);
                        }
                        _ => {}
                    }
                }
                Ev::End => {
                    if self.stack.len() == 2 {
                        self.stack.pop();
                        break;
                    }
                    self.record_value(&mut record, &mut count)?;
                    self.stack.pop();
                }
                Ev::Text => {}
            }
        }
        // The line is counted only now, on error: counting for every
        // record would cost more than parsing it.
        record.count = count.ok_or_else(|| ParseError::Missing {
            line: self.line(),
            what: "the <record> ending here has no <row><count>".into(),
        })?;
        let stats = &mut self.stats;
        if record.source_ip.is_empty() {
            stats.empty_source_ip += 1;
        } else if record.source_ip.parse::<std::net::IpAddr>().is_err() {
            stats.bad_source_ip += 1;
            if stats.first_bad_source_ip.is_none() {
                stats.first_bad_source_ip = Some(shorten(&record.source_ip));
            }
        }
        stats.records += 1;
        Ok(record)
    }

    /// Stores the text of the element being closed into the record.
    fn record_value(&mut self, r: &mut Record, count: &mut Option<u64>) -> Result<(), ParseError> {
        use lenient::{lower, text};
        let t = self.text.as_str();
        match self.stack[1..] {
            [E::Record, E::Row, E::SourceIp] => r.source_ip = t.trim().to_owned(),
            [E::Record, E::Row, E::Count] => {
                let n = lenient::count(t).map_err(|value| ParseError::BadValue {
                    line: self.line(),
                    element: "count",
                    value: shorten(&value),
                    expected: "a whole number from 0 to 10^12",
                })?;
                *count = Some(n);
            }
            [E::Record, E::Row, E::PolicyEvaluated, E::Reason]
                // `<reason><type/></reason>` (Google, Mimecast) says nothing.
                if r.reasons.last().is_some_and(|x| x.kind.is_none() && x.comment.is_none()) => {
                    r.reasons.pop();
                }
            [E::Record, E::Row, E::PolicyEvaluated, leaf] => match leaf {
                E::Disposition => r.disposition = lenient::disposition(t),
                E::Dkim => r.dkim = lenient::dmarc_result(t),
                E::Spf => r.spf = lenient::dmarc_result(t),
                _ => {}
            },
            [E::Record, E::Row, E::PolicyEvaluated, E::Reason, leaf] => {
                if let Some(reason) = r.reasons.last_mut() {
                    match leaf {
                        E::Type => reason.kind = lenient::override_reason(t),
                        E::Comment => reason.comment = text(t),
                        _ => {}
                    }
                }
            }
            [E::Record, E::Identifiers, leaf] => match leaf {
                E::HeaderFrom => r.header_from = lower(t),
                E::EnvelopeFrom => r.envelope_from = lower(t),
                E::EnvelopeTo => r.envelope_to = lower(t),
                _ => {}
            },
            [E::Record, E::AuthResults, E::Dkim, leaf] => {
                if let Some(a) = r.dkim_results.last_mut() {
                    match leaf {
                        E::Domain => a.domain = lower(t).unwrap_or_default(),
                        E::Selector => a.selector = text(t),
                        E::Result => a.result = lenient::dkim_result(t),
                        E::HumanResult => a.human_result = text(t),
                        _ => {}
                    }
                }
            }
            [E::Record, E::AuthResults, E::Spf, leaf] => {
                if let Some(a) = r.spf_results.last_mut() {
                    match leaf {
                        E::Domain => a.domain = lower(t).unwrap_or_default(),
                        E::Scope => a.scope = lenient::spf_scope(t),
                        E::Result => a.result = lenient::spf_result(t),
                        E::HumanResult => a.human_result = text(t),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
