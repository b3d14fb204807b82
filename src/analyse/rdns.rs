//! Reverse DNS names of source IPs, for `summary --resolve`: looked up with
//! a timeout, forward-confirmed, and cached in the database (`rdns_cache`)
//! so that a rerun asks the resolver nothing it already knows.
//!
//! A name is only kept when it is forward-confirmed (FCrDNS): the PTR name
//! must resolve back to the same address. The owner of an address block
//! controls its PTR records and can make them say `mail.google.com`; only
//! the owner of the name controls its A/AAAA records. An unconfirmed name
//! is treated as no name.
//!
//! Looking up is slow and the resolver cannot be interrupted (`getnameinfo`
//! blocks), so each address is resolved on its own worker thread, at most
//! [`ResolveOptions::concurrency`] threads at a time. A lookup that takes
//! longer than [`ResolveOptions::timeout`] is abandoned: it is recorded as
//! `timeout` and its thread is left to finish on its own (it still holds
//! one of the concurrency slots until it does, so abandoned lookups cannot
//! pile up). No lookup starts once [`ResolveOptions::total`] has passed, so
//! a call takes at most about `total + timeout`.
//!
//! Cache entries: `ok` (a confirmed name) and `none` (no name, or a name that
//! did not confirm) are trusted for [`ResolveOptions::ttl`]; `timeout` and
//! `error` (the resolver failed) are tried again after
//! [`ResolveOptions::retry_after`].

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::store::{RdnsCache, RdnsEntry, RdnsStatus, StoreError};

/// A resolver. [`SystemLookup`] asks the system's; tests use fakes.
pub trait Lookup {
    /// The PTR name of `ip`; `Ok(None)` when it has none (NXDOMAIN, no
    /// data). Errors are failures of the resolver itself, worth retrying.
    fn reverse(&self, ip: IpAddr) -> std::io::Result<Option<String>>;
    /// The addresses of `name` (A and AAAA); empty when it has none.
    fn forward(&self, name: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getnameinfo` / `getaddrinfo`, so `/etc/hosts` and
/// `/etc/resolv.conf` as configured in `nsswitch.conf`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn reverse(&self, ip: IpAddr) -> std::io::Result<Option<String>> {
        match dns_lookup::lookup_addr(&ip) {
            Ok(name) => Ok(Some(name)),
            Err(e) if no_such_name(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn forward(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        match dns_lookup::lookup_host(name) {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) if no_such_name(&e) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

/// NXDOMAIN and "no records of this type" are answers, not failures.
fn no_such_name(e: &dns_lookup::LookupError) -> bool {
    matches!(e.kind(), dns_lookup::LookupErrorKind::NoName | dns_lookup::LookupErrorKind::NoData)
}

/// How to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// Longest wait for one address (its PTR lookup and the forward
    /// confirmation together).
    pub timeout: Duration,
    /// No lookup starts after this much time since the call began.
    pub total: Duration,
    /// Lookups in flight at once (abandoned ones included); 0 counts as 1.
    pub concurrency: usize,
    /// How long an `ok` or `none` answer is trusted.
    pub ttl: Duration,
    /// How long after a `timeout` or `error` the address is tried again.
    pub retry_after: Duration,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            timeout: Duration::from_secs(2),
            total: Duration::from_secs(20),
            concurrency: 32,
            ttl: Duration::from_secs(7 * 86_400),
            retry_after: Duration::from_secs(3_600),
        }
    }
}

/// What one lookup found, as stored in `rdns_cache.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A forward-confirmed name.
    Name(String),
    /// No PTR record, or one that did not confirm.
    NoName,
    /// Abandoned after the per-lookup timeout.
    Timeout,
    /// The resolver failed.
    Error,
}

impl Outcome {
    fn status(&self) -> RdnsStatus {
        match self {
            Outcome::Name(_) => RdnsStatus::Ok,
            Outcome::NoName => RdnsStatus::None,
            Outcome::Timeout => RdnsStatus::Timeout,
            Outcome::Error => RdnsStatus::Error,
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Outcome::Name(name) => Some(name),
            _ => None,
        }
    }
}

/// The address a report names, when it is one worth looking up: junk,
/// empty strings, the unspecified address and multicast addresses (none
/// of which can send mail) give `None`.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let ip = text.trim().parse::<IpAddr>().ok()?.to_canonical();
    (!ip.is_unspecified() && !ip.is_multicast()).then_some(ip)
}

/// Resolves one address: the PTR name, then the forward confirmation.
pub fn confirm(lookup: &dyn Lookup, ip: IpAddr) -> Outcome {
    let name = match lookup.reverse(ip) {
        Ok(Some(name)) => name,
        Ok(None) => return Outcome::NoName,
        Err(_) => return Outcome::Error,
    };
    let Some(name) = clean_name(&name) else { return Outcome::NoName };
    match lookup.forward(&name) {
        Ok(addrs) if addrs.iter().any(|a| a.to_canonical() == ip) => Outcome::Name(name),
        Ok(_) => Outcome::NoName,
        Err(_) => Outcome::Error,
    }
}

/// A PTR name as a host name: lower case, without the root dot, at most
/// 253 characters of letters, digits, `-`, `_` and `.`. Anything else
/// (PTR data is arbitrary bytes, and ends up on a terminal or a web page)
/// and names that are addresses (some resolvers answer with the address
/// itself) are refused.
fn clean_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.split('.').any(str::is_empty)
        && name.parse::<IpAddr>().is_err();
    ok.then_some(name)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The fresh cache entry for `ip`, if any: its name (`None`: known to
/// have no name, or a failure not yet due for another try), status and
/// when it was looked up.
fn cache_get(
    cache: &dyn RdnsCache,
    ip: &str,
    now: i64,
    opts: &ResolveOptions,
) -> Result<Option<(Option<String>, RdnsStatus, i64)>, StoreError> {
    Ok(cache.rdns_get(ip)?.and_then(|entry| {
        let keep = match entry.status {
            RdnsStatus::Ok | RdnsStatus::None => opts.ttl,
            RdnsStatus::Timeout | RdnsStatus::Error => opts.retry_after,
        };
        // An entry from the future (clock moved back) counts as fresh.
        (now.saturating_sub(entry.resolved_at) < secs(keep)).then_some((
            entry.name,
            entry.status,
            entry.resolved_at,
        ))
    }))
}

/// What one call of [`resolve_counted`] did, for telling the user how
/// much of the reverse DNS is missing and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Addresses looked up now.
    pub looked_up: usize,
    /// Of those, abandoned after the per-lookup timeout.
    pub timed_out: usize,
    /// Of those, failed in the resolver (no DNS server, refused, ...).
    pub failed: usize,
    /// Addresses not looked up because the time budget ran out.
    pub not_started: usize,
    /// Addresses whose lookup failed or timed out in an earlier run,
    /// recently: served from the cache as unknown, tried again after
    /// [`ResolveOptions::retry_after`].
    pub failed_before: HashSet<IpAddr>,
    /// When the first call with this tally began (Unix seconds): failures
    /// cached since then are this run's, already counted.
    pub started_at: Option<i64>,
}

/// Names of `ips` from fresh cache entries only: no lookup at all. Every
/// distinct string of `ips` is a key; the value is its confirmed name, or
/// `None` (no name, not cached, or not an address).
pub fn cached(
    cache: &dyn RdnsCache,
    ips: &[String],
    opts: &ResolveOptions,
) -> Result<HashMap<String, Option<String>>, StoreError> {
    let now = unix_now();
    let mut names = HashMap::with_capacity(ips.len());
    for text in ips {
        let name = match parse_ip(text) {
            Some(ip) => cache_get(cache, &ip.to_string(), now, opts)?.and_then(|(name, ..)| name),
            None => None,
        };
        names.insert(text.clone(), name);
    }
    Ok(names)
}

/// Reverse DNS names of `ips`: fresh cache entries are served from the
/// cache; the other addresses are resolved with `lookup`, concurrently and
/// within the limits of `opts`, and the answers are written to the cache
/// all at once (inside the caller's batch, if one is open).
///
/// Every distinct string of `ips` is a key of the result; the value is its
/// forward-confirmed name, or `None`: no name, a name that did not
/// confirm, a timeout or resolver error, not an address, or not looked up
/// because the time budget ran out (those are not cached and are tried
/// next time).
pub fn resolve(
    cache: &dyn RdnsCache,
    ips: &[String],
    lookup: Arc<dyn Lookup + Send + Sync>,
    opts: &ResolveOptions,
) -> Result<HashMap<String, Option<String>>, StoreError> {
    resolve_counted(cache, ips, lookup, opts, &mut Tally::default())
}

/// [`resolve`], adding to `tally` what was looked up, what failed or
/// timed out, and what the cache answered as a recent failure.
pub fn resolve_counted(
    cache: &dyn RdnsCache,
    ips: &[String],
    lookup: Arc<dyn Lookup + Send + Sync>,
    opts: &ResolveOptions,
    tally: &mut Tally,
) -> Result<HashMap<String, Option<String>>, StoreError> {
    let now = unix_now();
    let started_at = *tally.started_at.get_or_insert(now);
    let mut names: HashMap<String, Option<String>> = HashMap::with_capacity(ips.len());
    // Canonical address → the report strings that spell it.
    let mut todo: HashMap<IpAddr, Vec<String>> = HashMap::new();
    for text in ips {
        if names.contains_key(text) {
            continue;
        }
        let Some(ip) = parse_ip(text) else {
            names.insert(text.clone(), None);
            continue;
        };
        match cache_get(cache, &ip.to_string(), now, opts)? {
            Some((name, status, resolved_at)) => {
                if matches!(status, RdnsStatus::Timeout | RdnsStatus::Error)
                    && resolved_at < started_at
                {
                    tally.failed_before.insert(ip);
                }
                names.insert(text.clone(), name);
            }
            None => {
                names.insert(text.clone(), None);
                todo.entry(ip).or_default().push(text.clone());
            }
        }
    }
    if todo.is_empty() {
        return Ok(names);
    }
    let mut addrs: Vec<IpAddr> = todo.keys().copied().collect();
    addrs.sort();
    let outcomes = run_lookups(&addrs, lookup, opts);
    tally.looked_up += outcomes.len();
    tally.not_started += addrs.len() - outcomes.len();
    for (_, outcome) in &outcomes {
        match outcome {
            Outcome::Timeout => tally.timed_out += 1,
            Outcome::Error => tally.failed += 1,
            Outcome::Name(_) | Outcome::NoName => {}
        }
    }

    let resolved_at = unix_now();
    let entries: Vec<RdnsEntry> = outcomes
        .iter()
        .map(|(ip, outcome)| RdnsEntry {
            ip: ip.to_string(),
            name: outcome.name().map(str::to_owned),
            resolved_at,
            status: outcome.status(),
        })
        .collect();
    cache.rdns_put(&entries)?;
    for (ip, outcome) in outcomes {
        if let (Some(name), Some(texts)) = (outcome.name(), todo.get(&ip)) {
            for text in texts {
                names.insert(text.clone(), Some(name.to_owned()));
            }
        }
    }
    Ok(names)
}

/// Resolves `addrs` on worker threads; returns the outcome of each address
/// that was started (all of them unless the total budget ran out).
fn run_lookups(
    addrs: &[IpAddr],
    lookup: Arc<dyn Lookup + Send + Sync>,
    opts: &ResolveOptions,
) -> Vec<(IpAddr, Outcome)> {
    let started = Instant::now();
    let budget_end = started + opts.total;
    let slots = opts.concurrency.max(1);
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    // Started and not yet answered nor abandoned: index → deadline.
    let mut pending: HashMap<usize, Instant> = HashMap::new();
    // Threads still running, abandoned ones included.
    let mut live = 0usize;
    let mut next = 0usize;
    let mut outcomes = Vec::with_capacity(addrs.len());
    let mut launching = true;
    loop {
        while launching && live < slots && next < addrs.len() {
            if Instant::now() >= budget_end {
                launching = false;
                break;
            }
            let (index, ip) = (next, addrs[next]);
            let (tx, lookup) = (tx.clone(), Arc::clone(&lookup));
            let spawned = std::thread::Builder::new().name("rdns".to_owned()).spawn(move || {
                // The receiver is gone once the call has returned: an
                // abandoned lookup's answer is simply dropped.
                let _ = tx.send((index, confirm(lookup.as_ref(), ip)));
            });
            if spawned.is_err() {
                // Out of threads: resolve nothing more this time.
                launching = false;
                break;
            }
            pending.insert(index, Instant::now() + opts.timeout);
            live += 1;
            next += 1;
        }
        if next >= addrs.len() || Instant::now() >= budget_end {
            launching = false;
        }
        if pending.is_empty() && !launching {
            break;
        }
        // Wake at the earliest deadline, or (all slots held by abandoned
        // lookups) when the budget ends.
        let wake = pending.values().min().copied().unwrap_or(budget_end);
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok((index, outcome)) => {
                live = live.saturating_sub(1);
                if pending.remove(&index).is_some() {
                    outcomes.push((addrs[index], outcome));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                pending.retain(|&index, deadline| {
                    let late = *deadline <= now;
                    if late {
                        outcomes.push((addrs[index], Outcome::Timeout));
                    }
                    !late
                });
            }
            // Every sender is held by this loop (`tx`): never happens.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fake {
        ptr: HashMap<IpAddr, String>,
        a: HashMap<String, Vec<IpAddr>>,
        calls: AtomicUsize,
    }

    impl Lookup for Fake {
        fn reverse(&self, ip: IpAddr) -> std::io::Result<Option<String>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.ptr.get(&ip).cloned())
        }
        fn forward(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
            Ok(self.a.get(name).cloned().unwrap_or_default())
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn junk_empty_and_unusable_addresses_are_not_looked_up() {
        for junk in ["", " ", "not-an-ip", "1.2.3", "0.0.0.0", "::", "224.0.0.1", "300.1.1.1"] {
            assert_eq!(parse_ip(junk), None, "{junk:?}");
        }
        assert_eq!(parse_ip(" 192.0.2.1 "), Some(ip("192.0.2.1")));
        assert_eq!(parse_ip("::ffff:192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_ip("2001:DB8::1"), Some(ip("2001:db8::1")));
    }

    #[test]
    fn names_are_cleaned_and_odd_ones_refused() {
        assert_eq!(clean_name("Mail.Example.COM.").as_deref(), Some("mail.example.com"));
        for bad in ["", ".", "a..b", "192.0.2.1", "evil\u{1b}[31m.example", "a b.example"] {
            assert_eq!(clean_name(bad), None, "{bad:?}");
        }
        assert_eq!(clean_name(&"a".repeat(254)), None);
    }

    #[test]
    fn a_name_that_does_not_resolve_back_is_no_name() {
        let fake = Fake {
            ptr: [
                (ip("192.0.2.1"), "mail.google.com".to_owned()),
                (ip("192.0.2.2"), "mx.example.".to_owned()),
                (ip("2001:db8::2"), "v6.example".to_owned()),
            ]
            .into(),
            a: [
                ("mail.google.com".to_owned(), vec![ip("142.250.0.1")]),
                ("mx.example".to_owned(), vec![ip("192.0.2.9"), ip("192.0.2.2")]),
                ("v6.example".to_owned(), vec![ip("2001:db8::2")]),
            ]
            .into(),
            calls: AtomicUsize::new(0),
        };
        assert_eq!(confirm(&fake, ip("192.0.2.1")), Outcome::NoName);
        assert_eq!(confirm(&fake, ip("192.0.2.2")), Outcome::Name("mx.example".into()));
        assert_eq!(confirm(&fake, ip("2001:db8::2")), Outcome::Name("v6.example".into()));
        assert_eq!(confirm(&fake, ip("192.0.2.3")), Outcome::NoName);
    }
}
