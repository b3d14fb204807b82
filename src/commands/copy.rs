//! `copy --to DB`: moves everything a database holds into another one
//! (SQLite into PostgreSQL, or any backend into any other): reports with
//! their records and raw copies, failed inputs with their bytes, IMAP
//! state, the reverse DNS cache, notify's facts and events, and the runs of
//! `check`.
//!
//! Rows are read as typed values from the source store and written through
//! the target's own write path (a report as `ingest` writes one, so that the
//! target builds its own rollups), never as SQL shared between backends.
//! Each report is committed whole or not at all, and everything already in
//! the target is recognised and skipped (a report by its identity key), so
//! a copy killed at any moment is completed by running it again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::args::CopyArgs;
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, emit, exit, note};
use crate::render::format::plural;
use crate::store::notify::FactChange;
use crate::store::{Location, RawMeta, RdnsCache, RecordRow, ReportTail, Store, StoreError};

/// Records handed to the target in one write.
const ROWS_PER_WRITE: usize = 1_000;

/// SQLite target: a commit at least this often (reports, records), so that
/// a killed copy loses little work and never holds the file for long.
const COMMIT_EVERY: (u64, u64) = (500, 200_000);

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopySummary {
    /// Reports written to the target.
    pub reports: u64,
    /// Their records.
    pub records: u64,
    /// Reports the target held already.
    pub present: u64,
    /// Failed inputs written.
    pub failed_inputs: u64,
    /// IMAP message states written.
    pub imap_messages: u64,
    /// Reverse DNS answers written.
    pub rdns: u64,
    /// Notify facts written.
    pub facts: u64,
    /// Notify events written.
    pub events: u64,
    /// Runs of `check` written.
    pub check_runs: u64,
}

/// Runs `copy`.
pub fn run(settings: &Settings, args: &CopyArgs) -> Result<ExitCode> {
    let from = Location::parse(&settings.db)?;
    let to = Location::parse(&args.to)?;
    if same_database(&from, &to) {
        bail!("--to names the database being copied: give another database");
    }
    let source = super::open_existing_store(&settings.db)?;
    let target = Store::open(&args.to).context("opening the target database")?;
    let verbose = args.verbose;
    let mut progress = |line: &str| {
        if verbose {
            note(line);
        }
    };
    let summary = copy(&source, &target, &mut progress)?;
    emit(&(line(&summary) + "\n"))?;
    Ok(exit(EXIT_OK))
}

/// Whether two locations are one database.
fn same_database(a: &Location, b: &Location) -> bool {
    match (a, b) {
        (Location::Sqlite(a), Location::Sqlite(b)) => {
            let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            canonical(a) == canonical(b)
        }
        (Location::Postgres(a), Location::Postgres(b)) => a == b,
        _ => false,
    }
}

/// The one-line account of a copy.
pub fn line(s: &CopySummary) -> String {
    format!(
        "copied {} ({}), {} already present, {}, {}, {}, {}, {}, {}",
        plural(s.reports, "report", "reports"),
        plural(s.records, "record", "records"),
        s.present,
        plural(s.failed_inputs, "failed input", "failed inputs"),
        plural(s.imap_messages, "IMAP message state", "IMAP message states"),
        plural(s.rdns, "rDNS answer", "rDNS answers"),
        plural(s.facts, "notify fact", "notify facts"),
        plural(s.events, "notify event", "notify events"),
        plural(s.check_runs, "check run", "check runs"),
    )
}

/// Copies everything `source` holds into `target`, skipping what is there
/// already; `progress` hears of each step.
pub fn copy(source: &Store, target: &Store, progress: &mut dyn FnMut(&str)) -> Result<CopySummary> {
    let mut s = CopySummary::default();
    copy_reports(source, target, &mut s, progress)?;
    copy_failures(source, target, &mut s, progress)?;
    copy_imap(source, target, &mut s)?;
    progress(&format!("IMAP state: {} copied", s.imap_messages));
    copy_rdns(source, target, &mut s)?;
    progress(&format!("rDNS cache: {} copied", s.rdns));
    copy_notify(source, target, &mut s)?;
    progress(&format!("notify: {} facts, {} events copied", s.facts, s.events));
    copy_checks(source, target, &mut s)?;
    progress(&format!("check runs: {} copied", s.check_runs));
    Ok(s)
}

fn copy_reports(
    source: &Store,
    target: &Store,
    s: &mut CopySummary,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let ids = source.report_ids().context("listing the stored reports")?;
    let total = ids.len();
    let (mut since_commit, mut records_since_commit) = (0u64, 0u64);
    target.begin()?;
    for (n, id) in ids.into_iter().enumerate() {
        let Some(report) = source.stored_report(id)? else { continue };
        let h = &report.header;
        let what = format!(
            "report {}/{total} {} | {} | {}",
            n + 1,
            h.org_name,
            h.policy.domain,
            h.report_id
        );
        let Some(mut writer) = target.start_report(h, &report.source, report.ingested_at)? else {
            s.present += 1;
            progress(&format!("{what}: already present"));
            continue;
        };
        let mut rows = Vec::with_capacity(ROWS_PER_WRITE);
        source
            .report_records(id, &mut |record| {
                rows.push(RecordRow::new(&record));
                if rows.len() == ROWS_PER_WRITE {
                    writer.rows(&rows)?;
                    rows.clear();
                }
                Ok(())
            })
            .with_context(|| format!("copying the records of {what}"))?;
        writer.rows(&rows)?;
        let meta = match source.raw_report(id)? {
            Some((_, _, meta)) => meta,
            None => RawMeta::default(),
        };
        for chunk in source.raw_chunks(id)? {
            writer.raw_chunk(&chunk)?;
        }
        if writer.records() != report.records {
            let read = writer.records();
            writer.abandon()?;
            bail!(
                "{what}: {read} records were read but the source says it holds {}; \
                 nothing of it was copied",
                report.records
            );
        }
        // The header already holds every report-level extension.
        let tail = ReportTail { warnings: report.warnings.clone(), extensions: Vec::new() };
        let records = writer.finish(&tail, &meta).with_context(|| format!("storing {what}"))?;
        s.reports += 1;
        s.records += records;
        since_commit += 1;
        records_since_commit += records;
        progress(&format!("{what}: copied ({})", plural(records, "record", "records")));
        if since_commit >= COMMIT_EVERY.0 || records_since_commit >= COMMIT_EVERY.1 {
            target.commit()?;
            target.begin()?;
            (since_commit, records_since_commit) = (0, 0);
        }
    }
    target.commit()?;
    Ok(())
}

fn copy_failures(
    source: &Store,
    target: &Store,
    s: &mut CopySummary,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    // The dismissed ones too: they stay dismissed in the target.
    let mut all = source.failures().context("listing the failed inputs")?;
    all.extend(source.dismissed_failures().context("listing the dismissed inputs")?);
    all.sort_by_key(|f| f.id);
    for listed in all {
        let Some(failure) = source.kept_failure(listed.id)? else { continue };
        let copied = target.import_failure(&failure)?;
        if copied {
            s.failed_inputs += 1;
        }
        progress(&format!(
            "failed input #{} {}: {}",
            failure.id,
            failure.name,
            if copied { "copied" } else { "already present" }
        ));
    }
    Ok(())
}

fn copy_imap(source: &Store, target: &Store, s: &mut CopySummary) -> Result<(), StoreError> {
    let there: HashMap<_, _> = target
        .imap_state()?
        .into_iter()
        .map(|m| ((m.account, m.folder, m.uidvalidity, m.uid), (m.outcome, m.done)))
        .collect();
    for m in source.imap_state()? {
        let key = (m.account.clone(), m.folder.clone(), m.uidvalidity, m.uid);
        if there.get(&key) == Some(&(m.outcome, m.done)) {
            continue;
        }
        target.record_imap_message(
            &m.account,
            &m.folder,
            m.uidvalidity,
            m.uid,
            m.outcome,
            m.first_seen,
        )?;
        if m.done {
            target.imap_messages_done(&m.account, &m.folder, m.uidvalidity, &[m.uid], false)?;
        }
        s.imap_messages += 1;
    }
    Ok(())
}

fn copy_rdns(source: &Store, target: &Store, s: &mut CopySummary) -> Result<(), StoreError> {
    let there: HashMap<_, _> =
        target.rdns_entries()?.into_iter().map(|e| (e.ip.clone(), e)).collect();
    let missing: Vec<_> =
        source.rdns_entries()?.into_iter().filter(|e| there.get(&e.ip) != Some(e)).collect();
    target.rdns_put(&missing)?;
    s.rdns = missing.len() as u64;
    Ok(())
}

fn copy_notify(source: &Store, target: &Store, s: &mut CopySummary) -> Result<(), StoreError> {
    let there: BTreeSet<_> =
        target.notify_fact_rows()?.into_iter().map(|f| (f.fact, f.updated_at)).collect();
    // Facts are written with the time they were set: one write per time.
    let mut by_time: BTreeMap<i64, Vec<FactChange>> = BTreeMap::new();
    for f in source.notify_fact_rows()? {
        if !there.contains(&(f.fact.clone(), f.updated_at)) {
            by_time.entry(f.updated_at).or_default().push(FactChange::Set(f.fact));
        }
    }
    for (at, changes) in by_time {
        target.record_notifications(&changes, &[], at)?;
        s.facts += changes.len() as u64;
    }
    for e in source.event_rows()? {
        if target.import_event(&e)? {
            s.events += 1;
        }
    }
    Ok(())
}

fn copy_checks(source: &Store, target: &Store, s: &mut CopySummary) -> Result<(), StoreError> {
    let there: HashSet<_> =
        target.check_runs()?.into_iter().map(|r| (r.domain, r.checked_at)).collect();
    for run in source.check_runs()? {
        if !there.contains(&(run.domain.clone(), run.checked_at)) {
            target.save_check(&run.domain, run.checked_at, &run.findings)?;
            s.check_runs += 1;
        }
    }
    Ok(())
}
