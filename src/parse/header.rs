//! Header assembly: the report metadata and published policy, collected
//! while the stream reader reads up to the first record, then validated
//! with the fallbacks (file name, missing domain) applied.

use super::core::{Core, Ev, Source};
use super::element::E;
use super::error::{ParseError, shorten};
use super::lenient;
use crate::model::{PolicyPublished, ReportHeader, Schema};

/// Header fields as they are collected, before validation.
#[derive(Default)]
pub(super) struct HeaderDraft {
    pub(super) schema: Option<Schema>,
    version: Option<String>,
    org_name: Option<String>,
    email: Option<String>,
    extra_contact_info: Option<String>,
    report_id: Option<String>,
    begin: Option<String>,
    end: Option<String>,
    errors: Vec<String>,
    generator: Option<String>,
    policy: PolicyPublished,
    pct_line: u64,
    pct_raw: Option<String>,
    extensions: Vec<String>,
}

/// The outcome of an event in the element loop.
pub(super) enum Step {
    Continue,
    RecordStart,
    FeedbackEnd,
}

impl HeaderDraft {
    /// Handles one event while reading the header.
    pub(super) fn step<S: Source>(
        &mut self,
        core: &mut Core<S>,
        event: Ev,
    ) -> Result<Step, ParseError> {
        match event {
            Ev::Start(e) => {
                if core.stack.len() == 1 && e == E::Record {
                    core.stack.push(E::Record);
                    return Ok(Step::RecordStart);
                }
                core.push(e)?;
                if matches!(core.stack[..], [E::Feedback, E::Extension]) {
                    let ext = core.capture_subtree()?;
                    self.extensions.push(ext);
                }
                Ok(Step::Continue)
            }
            Ev::End => {
                self.value(core);
                if core.stack.pop() == Some(E::Feedback) && core.stack.is_empty() {
                    return Ok(Step::FeedbackEnd);
                }
                Ok(Step::Continue)
            }
            Ev::Text | Ev::Eof => Ok(Step::Continue),
        }
    }

    /// Stores the text of the element being closed into the header draft.
    fn value<S: Source>(&mut self, core: &Core<S>) {
        use lenient::{alignment, lower, policy, text};
        let t = core.text.as_str();
        match core.stack[..] {
            [E::Feedback, E::Version] => self.version = text(t),
            [E::Feedback, E::ReportMetadata, leaf] => match leaf {
                E::OrgName => self.org_name = text(t),
                E::Email => self.email = text(t),
                E::ExtraContactInfo => self.extra_contact_info = text(t),
                E::ReportId => self.report_id = text(t),
                E::Error => self.errors.extend(text(t)),
                E::Generator => self.generator = text(t),
                _ => {}
            },
            [E::Feedback, E::ReportMetadata, E::DateRange, E::Begin] => self.begin = text(t),
            [E::Feedback, E::ReportMetadata, E::DateRange, E::End] => self.end = text(t),
            [E::Feedback, E::PolicyPublished, leaf] => {
                let p = &mut self.policy;
                match leaf {
                    E::Domain => p.domain = lower(t).unwrap_or_default(),
                    E::Adkim => p.adkim = alignment(t),
                    E::Aspf => p.aspf = alignment(t),
                    E::P => p.p = policy(t),
                    E::Sp => p.sp = policy(t),
                    E::Np => p.np = policy(t),
                    E::Pct => {
                        self.pct_raw = text(t);
                        self.pct_line = core.line();
                    }
                    E::Fo => p.fo = text(t),
                    E::Testing => p.testing = lower(t),
                    E::DiscoveryMethod => p.discovery_method = lower(t),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Validates the header and applies the fallbacks.
    /// `line` is where the header reading stopped; `file_name` gives the
    /// date-range and domain fallbacks, and warnings about them are added
    /// to `warnings`.
    pub(super) fn finish(
        self,
        line: u64,
        file_name: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Result<ReportHeader, ParseError> {
        let d = self;
        let report_id = d.report_id.ok_or_else(|| ParseError::Missing {
            line,
            what: "the report has no <report_metadata><report_id>".into(),
        })?;
        let mut policy = d.policy;
        policy.pct = lenient::pct(d.pct_raw.as_deref().unwrap_or("")).map_err(|value| {
            ParseError::BadValue {
                line: d.pct_line,
                element: "pct",
                value: shorten(&value),
                expected: "a percentage from 0 to 100",
            }
        })?;
        let from_name = file_name.and_then(lenient::dates_from_filename);
        let begin = d.begin.as_deref().and_then(lenient::timestamp);
        let end = d.end.as_deref().and_then(lenient::timestamp);
        let (begin, end) = match (begin, end, &from_name) {
            (Some(b), Some(e), _) => (b, e),
            (_, _, Some((_, fb, fe))) => {
                warnings.push(format!(
                    "the date range is missing or unreadable; took {fb}..{fe} from the file name"
                ));
                (*fb, *fe)
            }
            _ => {
                return Err(ParseError::Missing {
                    line,
                    what: match (&d.begin, &d.end) {
                        (None, _) | (_, None) => {
                            "the report has no <date_range><begin>/<end> and its file name \
                             (receiver!domain!begin!end.xml) does not give one"
                                .into()
                        }
                        (Some(b), Some(e)) => format!(
                            "the date range \"{}\"..\"{}\" is not in seconds since 1970 and the \
                             file name does not give one",
                            shorten(b),
                            shorten(e)
                        ),
                    },
                });
            }
        };
        if begin > end {
            warnings.push(format!("the date range is reversed (begin {begin} > end {end})"));
        }
        if begin < 0 {
            warnings.push(format!("the date range begins before 1970 ({begin})"));
        }
        if policy.domain.is_empty() {
            match &from_name {
                Some((domain, _, _)) => {
                    warnings.push(format!(
                        "<policy_published> has no <domain>; took \"{domain}\" from the file name"
                    ));
                    policy.domain = domain.clone();
                }
                None => warnings.push("<policy_published> has no <domain>".into()),
            }
        }
        Ok(ReportHeader {
            schema: d.schema.unwrap_or(Schema::Rfc7489),
            version: d.version,
            org_name: d.org_name.unwrap_or_default(),
            email: d.email,
            extra_contact_info: d.extra_contact_info,
            report_id,
            begin,
            end,
            errors: d.errors,
            generator: d.generator,
            policy,
            extensions: d.extensions,
        })
    }
}
