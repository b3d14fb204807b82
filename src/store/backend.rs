//! The operations the rest of the crate needs from a database, as traits:
//! [`super::Store`] (SQLite) implements them, and another database is
//! another implementation of the same traits. Analysis code takes
//! `&dyn SummaryReads` and `&dyn RdnsCache`, never a connection.

use super::{
    DomainDays, PolicyReport, RdnsEntry, RecordFacts, ReportRef, SourceDay, StoreError, StreamDay,
};

/// What the summary reads.
pub trait SummaryReads {
    /// Every policy domain with reports, in order.
    fn domains(&self) -> Result<Vec<String>, StoreError>;

    /// The earliest begin and the latest end of `domain`'s reports; `None`
    /// without reports.
    fn domain_span(&self, domain: &str) -> Result<Option<(i64, i64)>, StoreError>;

    /// The reports of `domain` that begin in `[begin, end)`.
    fn window_reports(
        &self,
        domain: &str,
        begin: i64,
        end: i64,
    ) -> Result<Vec<ReportRef>, StoreError>;

    /// Calls `visit` with every record of `reports`, report by report.
    fn scan_records(
        &self,
        reports: &[ReportRef],
        visit: &mut dyn FnMut(&ReportRef, &RecordFacts<'_>),
    ) -> Result<(), StoreError>;

    /// A second, independent reader of the same data for another thread;
    /// `None` when there can be none (an in-memory database).
    fn parallel_reader(&self) -> Result<Option<Box<dyn SummaryReads + Send>>, StoreError>;

    /// The policy stated by each report of `domain` that began before
    /// `until`.
    fn policy_reports(&self, domain: &str, until: i64) -> Result<Vec<PolicyReport>, StoreError>;

    /// Whether any of `ips` appears in a report of `domain` that began
    /// before `before`.
    fn seen_before(&self, domain: &str, ips: &[String], before: i64) -> Result<bool, StoreError>;

    /// The rollups of `domain`'s sources for the reports that begin on the
    /// days `[first_day, end_day)` (Unix seconds at 00:00 UTC), source by
    /// source (in byte order of the address text), each source's days in
    /// order.
    fn scan_source_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&SourceDay<'_>),
    ) -> Result<(), StoreError>;

    /// The streams of `domain`'s sources `ips` (each address once) on the
    /// days `[first_day, end_day)`: one call per stream, source and day, in
    /// no particular order.
    fn scan_streams(
        &self,
        domain: &str,
        ips: &[String],
        first_day: i64,
        end_day: i64,
        visit: &mut dyn FnMut(&StreamDay<'_>),
    ) -> Result<(), StoreError>;

    /// The DMARC record the newest `check` of `domain` found published.
    fn live_dmarc(&self, domain: &str) -> Result<Option<String>, StoreError>;

    /// `domain`'s dispositions and subdomains over the same days.
    fn domain_days(
        &self,
        domain: &str,
        first_day: i64,
        end_day: i64,
    ) -> Result<DomainDays, StoreError>;
}

/// The cache of reverse DNS answers.
pub trait RdnsCache {
    /// The cached answer for `ip` (canonical text form), if any.
    fn rdns_get(&self, ip: &str) -> Result<Option<RdnsEntry>, StoreError>;

    /// Stores answers (replacing older ones), all or none.
    fn rdns_put(&self, entries: &[RdnsEntry]) -> Result<(), StoreError>;

    /// Every cached answer, by address (tests, troubleshooting).
    fn rdns_entries(&self) -> Result<Vec<RdnsEntry>, StoreError>;
}

/// Everything the analysis reads: a backend implements both.
pub trait Backend: SummaryReads + RdnsCache {}

impl<T: SummaryReads + RdnsCache> Backend for T {}
