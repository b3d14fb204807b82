//! `notify`, `notify --digest` and `metrics`: what changed since the last
//! notification, told once by mail, webhook or standard output; a periodic
//! digest; a Prometheus text file.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use super::open_existing_store;
use crate::analyse::events::{self, Event};
use crate::analyse::{self, Summary, senders::Catalogue, summary::WindowSpec};
use crate::cli::args::{Format, NotifyArgs};
use crate::cli::settings::Settings;
use crate::cli::{EXIT_OK, EXIT_PARTIAL, emit, exit, note};
use crate::config::AnalysisConfig;
use crate::notify::{NotifySettings, smtp, webhook};
use crate::render;
use crate::store::Store;
use crate::units::{DAY, plural};

/// How `notify` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotifyOptions {
    /// Show what would be sent; change nothing.
    pub dry_run: bool,
    /// Send the digest instead of the events.
    pub digest: bool,
    /// Print JSON instead of text.
    pub json: bool,
}

/// A channel's name, as kept in the database.
const STDOUT: &str = "stdout";
const SMTP: &str = "smtp";
const WEBHOOK: &str = "webhook";

/// What `notify --format json` prints.
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    /// This run told the baseline.
    baseline: bool,
    /// Nothing was changed or sent.
    dry_run: bool,
    /// The events told (or, with --dry-run, that would be).
    events: &'a [Event],
    /// Where they went.
    delivered_to: Vec<&'static str>,
    /// Delivery failures, one line each.
    errors: Vec<String>,
}

/// The current time, Unix seconds.
pub(super) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The summary every notification and the metrics look at: every domain,
/// the last `window_days` days of each.
pub(super) fn summarise(
    store: &Store,
    config: AnalysisConfig,
    window_days: u32,
    now: i64,
) -> Result<Summary> {
    let options = analyse::Options {
        domains: Vec::new(),
        window: WindowSpec::LastDays(window_days),
        now,
        catalogue: Catalogue::builtin().with(config.known_senders),
        criteria: config.criteria,
        rua: config.rua,
        resolver: None,
    };
    analyse::summarise(store, &options).context("summarising")
}

fn print(text: &str) -> Result<()> {
    emit(text)
}

/// Runs `notify`.
pub fn run(settings: &Settings, args: &NotifyArgs) -> Result<ExitCode> {
    let opts = NotifyOptions {
        dry_run: args.dry_run,
        digest: args.digest,
        json: args.format == Format::Json,
    };
    notify_with(settings, opts)
}

/// Runs `notify` (or `notify --digest`) with `opts`.
pub fn notify_with(settings: &Settings, opts: NotifyOptions) -> Result<ExitCode> {
    let mut json = None;
    let code = notify_into(settings, opts, &mut json)?;
    if let Some(value) = json {
        print(&(serde_json::to_string_pretty(&value)? + "\n"))?;
    }
    Ok(code)
}

/// Runs `notify` with `opts`; with `opts.json` (and not `--digest`), what
/// it would print goes into `json` instead, for `fetch --notify --format
/// json` to print one document for the fetch and its notification.
pub fn notify_into(
    settings: &Settings,
    opts: NotifyOptions,
    json: &mut Option<serde_json::Value>,
) -> Result<ExitCode> {
    let analysis = settings.config.analysis()?;
    let pass_rate = analysis.criteria.pass_rate;
    let notify_settings = settings.config.notify()?;
    for w in notify_settings.warnings() {
        note(&format!("dmarc-report: {w}"));
    }
    let db = &settings.db;
    let store = open_existing_store(db)?;
    // One run at a time reads what to tell, tells it and records that it
    // did: runs at the same moment (two hosts' timers, `fetch --notify`)
    // never tell an event twice. A second run waits for the first, then
    // finds what it told recorded.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(store.lock_notify(&mut || {
            note(
                "dmarc-report: another notify run is working on this database; waiting for it \
                 to finish",
            )
        })?)
    };
    let now = now();
    let summary = summarise(&store, analysis, notify_settings.window_days, now)?;
    if opts.digest {
        return digest(&store, &summary, &notify_settings, pass_rate, opts, now);
    }
    let settings = &notify_settings;
    let facts = store.notify_facts()?;
    let failures = store.failures()?;
    let detection = events::detect(&summary, &failures, &facts, &settings.rules(), now);

    let mut pending = Vec::new();
    let mut ids = Vec::new();
    if opts.dry_run {
        for stored in store.pending_notifications()? {
            if let Ok(e) = serde_json::from_str::<Event>(&stored.payload) {
                pending.push((stored.id, stored.delivered_to, e));
            }
        }
        pending.extend(detection.events.iter().cloned().map(|e| (0, Vec::new(), e)));
    } else {
        store.record_notifications(&detection.changes, &detection.rows()?, now)?;
        for stored in store.pending_notifications()? {
            match serde_json::from_str::<Event>(&stored.payload) {
                Ok(e) => pending.push((stored.id, stored.delivered_to, e)),
                Err(e) => {
                    // Written by another version of dmarc-report: it cannot
                    // be told as it was meant, and must not block the rest.
                    note(&format!(
                        "dmarc-report: warning: dropping stored event {} that this version cannot read: {e}",
                        stored.id
                    ));
                    ids.push(stored.id);
                }
            }
        }
        if !ids.is_empty() {
            store.mark_notified(&ids, now)?;
        }
    }
    pending.sort_by_key(|(_, _, e)| e.importance());
    let events: Vec<Event> = pending.iter().map(|(_, _, e)| e.clone()).collect();

    if events.is_empty() || opts.dry_run {
        let outcome = Outcome {
            baseline: detection.baseline,
            dry_run: opts.dry_run,
            events: &events,
            delivered_to: Vec::new(),
            errors: Vec::new(),
        };
        if opts.json {
            *json = Some(serde_json::to_value(&outcome)?);
        } else if events.is_empty() {
            if opts.dry_run {
                print("dry run: nothing to tell.\n")?;
            }
        } else {
            let mut text = format!(
                "dry run: nothing is sent and nothing is recorded.\n{}",
                where_to(settings)
            );
            text.push('\n');
            text.push_str(&render::mail::alert_text(&events, now));
            print(&text)?;
        }
        return Ok(exit(EXIT_OK));
    }

    let database = db.display().to_string();
    let mut delivered_to = Vec::new();
    let mut errors = Vec::new();
    let channels = channels(settings);
    for &channel in &channels {
        let todo: Vec<&(i64, Vec<String>, Event)> =
            pending.iter().filter(|(_, done, _)| !done.iter().any(|c| c == channel)).collect();
        if todo.is_empty() {
            continue;
        }
        let batch: Vec<Event> = todo.iter().map(|(_, _, e)| e.clone()).collect();
        let sent: Result<(), String> = match channel {
            STDOUT => {
                if opts.json {
                    Ok(())
                } else {
                    print(&render::mail::alert_text(&batch, now)).map_err(|e| format!("{e:#}"))
                }
            }
            SMTP => match &settings.delivery.smtp {
                Some(smtp_settings) => render::mail::alert(&batch, now, &database)
                    .map_err(|e| e.to_string())
                    .and_then(|mail| smtp::send(smtp_settings, &mail).map_err(|e| e.to_string())),
                None => Ok(()),
            },
            _ => match &settings.delivery.webhook {
                Some(url) => webhook_body(&batch).and_then(|body| {
                    webhook::post(url, &body, settings.delivery.ca_file.as_deref())
                        .map_err(|e| e.to_string())
                }),
                None => Ok(()),
            },
        };
        match sent {
            Ok(()) => {
                let ids: Vec<i64> = todo.iter().map(|(id, _, _)| *id).collect();
                store.mark_delivered_to(&ids, channel)?;
                delivered_to.push(channel);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        let ids: Vec<i64> = pending.iter().map(|(id, _, _)| *id).collect();
        store.mark_notified(&ids, now)?;
    }
    if opts.json {
        let outcome = Outcome {
            baseline: detection.baseline,
            dry_run: false,
            events: &events,
            delivered_to,
            errors: errors.clone(),
        };
        *json = Some(serde_json::to_value(&outcome)?);
    }
    if errors.is_empty() {
        return Ok(exit(EXIT_OK));
    }
    for e in &errors {
        note(&format!(
            "dmarc-report: error: {e}; {} pending for the next run",
            match events.len() {
                1 => "1 event stays".to_owned(),
                n => format!("{} stay", plural(n as u64, "event", "events")),
            }
        ));
    }
    Ok(exit(EXIT_PARTIAL))
}

/// The configured channels, mail first.
fn channels(settings: &NotifySettings) -> Vec<&'static str> {
    let d = &settings.delivery;
    if d.is_stdout() {
        return vec![STDOUT];
    }
    let mut out = Vec::new();
    if d.smtp.is_some() {
        out.push(SMTP);
    }
    if d.webhook.is_some() {
        out.push(WEBHOOK);
    }
    out
}

/// One line saying where events would go.
fn where_to(settings: &NotifySettings) -> String {
    let d = &settings.delivery;
    let mut parts = Vec::new();
    if let Some(s) = &d.smtp {
        parts.push(format!("mail to {} through {}:{}", s.to.join(", "), s.host, s.port));
    }
    if let Some(url) = &d.webhook {
        parts.push(format!("a POST to {url}"));
    }
    if parts.is_empty() {
        "Without a [notify] delivery in the config, events are printed here.\n".to_owned()
    } else {
        format!("They would go as {}.\n", parts.join(" and "))
    }
}

/// The JSON the webhook receives.
fn webhook_body(events: &[Event]) -> Result<Vec<u8>, String> {
    #[derive(Serialize)]
    struct Body<'a> {
        source: &'static str,
        kind: &'static str,
        subject: String,
        text: String,
        events: &'a [Event],
    }
    let text: Vec<String> = events.iter().map(Event::headline).collect();
    serde_json::to_vec(&Body {
        source: "dmarc-report",
        kind: "events",
        subject: events::subject(events),
        text: text.join("\n"),
        events,
    })
    .map_err(|e| e.to_string())
}

/// `notify --digest`.
fn digest(
    store: &Store,
    summary: &Summary,
    settings: &NotifySettings,
    pass_rate: f64,
    opts: NotifyOptions,
    now: i64,
) -> Result<ExitCode> {
    const WEEK: i64 = 7 * DAY;
    let facts = store.notify_facts()?;
    let last = events::last_digest(&facts);
    let since = last.map(|(at, _)| at);
    let newest_event = store.newest_notification_id()?;
    let mut changes: Vec<Event> = store
        .notifications_since(since.unwrap_or(now - WEEK), last.map_or(0, |(_, id)| id))?
        .into_iter()
        .filter_map(|s| serde_json::from_str::<Event>(&s.payload).ok())
        .collect();
    events::by_importance(&mut changes);
    let mail = render::mail::digest(summary, &changes, since, now, pass_rate)?;

    if opts.dry_run || settings.delivery.is_stdout() {
        if opts.json {
            #[derive(Serialize)]
            struct DigestOut<'a> {
                dry_run: bool,
                subject: &'a str,
                text: &'a str,
                changes: &'a [Event],
            }
            let out = DigestOut {
                dry_run: opts.dry_run,
                subject: &mail.subject,
                text: &mail.text,
                changes: &changes,
            };
            print(&(serde_json::to_string_pretty(&out)? + "\n"))?;
        } else {
            let head = if opts.dry_run {
                format!(
                    "dry run: nothing is sent and nothing is recorded.\n{}Subject: {}\n\n",
                    where_to(settings),
                    mail.subject
                )
            } else {
                String::new()
            };
            print(&(head + &mail.text))?;
        }
        if !opts.dry_run {
            store.record_notifications(&[events::digest_sent(now, newest_event)], &[], now)?;
        }
        return Ok(exit(EXIT_OK));
    }

    let mut errors = Vec::new();
    if let Some(smtp_settings) = &settings.delivery.smtp
        && let Err(e) = smtp::send(smtp_settings, &mail)
    {
        errors.push(e.to_string());
    }
    if let Some(url) = &settings.delivery.webhook {
        #[derive(Serialize)]
        struct Body<'a> {
            source: &'static str,
            kind: &'static str,
            subject: &'a str,
            text: &'a str,
            changes: &'a [Event],
        }
        let body = serde_json::to_vec(&Body {
            source: "dmarc-report",
            kind: "digest",
            subject: &mail.subject,
            text: &mail.text,
            changes: &changes,
        })?;
        if let Err(e) = webhook::post(url, &body, settings.delivery.ca_file.as_deref()) {
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        store.record_notifications(&[events::digest_sent(now, newest_event)], &[], now)?;
        if opts.json {
            print(
                &(serde_json::to_string_pretty(&serde_json::json!({
                    "digest": true,
                    "subject": mail.subject,
                    "delivered_to": channels(settings),
                }))? + "\n"),
            )?;
        }
        return Ok(exit(EXIT_OK));
    }
    for e in &errors {
        note(&format!("dmarc-report: error: {e}; the digest is sent again on the next run"));
    }
    Ok(exit(EXIT_PARTIAL))
}
