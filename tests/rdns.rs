//! Reverse DNS with its cache (`analyse::rdns`): fake resolvers that count
//! their calls check the cache, the expiry, forward confirmation and the
//! timeout; the system resolver is checked on 127.0.0.1 (`/etc/hosts`, no
//! network).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dmarc_report::analyse::rdns::{self, Lookup, ResolveOptions, SystemLookup};
use dmarc_report::store::{RdnsCache, RdnsEntry, RdnsStatus, Store};

/// A resolver with fixed answers that counts its reverse lookups and can
/// be made slow.
#[derive(Default)]
struct Fake {
    ptr: HashMap<IpAddr, String>,
    a: HashMap<String, Vec<IpAddr>>,
    /// Addresses whose reverse lookup fails (SERVFAIL).
    failing: Vec<IpAddr>,
    delay: Duration,
    calls: AtomicUsize,
}

impl Fake {
    /// `ip` has PTR `name`, and `name` resolves back to `ip`.
    fn confirmed(mut self, ip: &str, name: &str) -> Fake {
        let ip: IpAddr = ip.parse().unwrap();
        self.ptr.insert(ip, name.to_owned());
        self.a.entry(name.to_owned()).or_default().push(ip);
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Lookup for Fake {
    fn reverse(&self, ip: IpAddr) -> std::io::Result<Option<String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        if self.failing.contains(&ip) {
            return Err(std::io::Error::other("SERVFAIL"));
        }
        Ok(self.ptr.get(&ip).cloned())
    }

    fn forward(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(self.a.get(name).cloned().unwrap_or_default())
    }
}

fn strings(ips: &[&str]) -> Vec<String> {
    ips.iter().map(|s| (*s).to_owned()).collect()
}

/// The cache as (ip, name, status), by address.
fn cache_rows(cache: &dyn RdnsCache) -> Vec<(String, Option<String>, String)> {
    cache
        .rdns_entries()
        .unwrap()
        .into_iter()
        .map(|e| {
            let status = match e.status {
                RdnsStatus::Ok => "ok",
                RdnsStatus::None => "none",
                RdnsStatus::Timeout => "timeout",
                RdnsStatus::Error => "error",
            };
            (e.ip, e.name, status.to_owned())
        })
        .collect()
}

#[test]
fn a_cache_hit_avoids_the_lookup() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let fake = Arc::new(Fake::default().confirmed("192.0.2.10", "mail.example.com"));
    let ips = strings(&["192.0.2.10", "192.0.2.11"]);
    let opts = ResolveOptions::default();

    let first = rdns::resolve(conn, &ips, fake.clone(), &opts).unwrap();
    assert_eq!(first["192.0.2.10"].as_deref(), Some("mail.example.com"));
    assert_eq!(first["192.0.2.11"], None);
    assert_eq!(fake.calls(), 2);

    // Both answers, the name and the absence of one, come from the cache.
    let second = rdns::resolve(conn, &ips, fake.clone(), &opts).unwrap();
    assert_eq!(second, first);
    assert_eq!(fake.calls(), 2, "the second call must not ask the resolver");
    assert_eq!(rdns::cached(conn, &ips, &opts).unwrap(), first);
    assert_eq!(
        cache_rows(conn),
        vec![
            ("192.0.2.10".to_owned(), Some("mail.example.com".to_owned()), "ok".to_owned()),
            ("192.0.2.11".to_owned(), None, "none".to_owned()),
        ]
    );
}

#[test]
fn expired_entries_are_resolved_again() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let fake = Arc::new(Fake::default().confirmed("192.0.2.20", "new.example.com"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let opts = ResolveOptions::default();
    // Older than the TTL (7 days) and older than retry_after (1 hour).
    let entry = |ip: &str, name: Option<&str>, resolved_at, status| RdnsEntry {
        ip: ip.to_owned(),
        name: name.map(str::to_owned),
        resolved_at,
        status,
    };
    conn.rdns_put(&[
        entry("192.0.2.20", Some("old.example.com"), now - 8 * 86_400, RdnsStatus::Ok),
        entry("192.0.2.21", None, now - 2 * 3_600, RdnsStatus::Timeout),
        entry("192.0.2.22", None, now - 600, RdnsStatus::Error),
    ])
    .unwrap();

    let names = rdns::resolve(
        conn,
        &strings(&["192.0.2.20", "192.0.2.21", "192.0.2.22"]),
        fake.clone(),
        &opts,
    )
    .unwrap();
    assert_eq!(names["192.0.2.20"].as_deref(), Some("new.example.com"));
    assert_eq!(names["192.0.2.21"], None);
    assert_eq!(names["192.0.2.22"], None);
    // The error of 10 minutes ago is still fresh: only two lookups.
    assert_eq!(fake.calls(), 2);
    let rows = cache_rows(conn);
    assert_eq!(rows[0].1.as_deref(), Some("new.example.com"));
    assert_eq!(rows[1].2, "none");
    assert_eq!(rows[2].2, "error");
}

#[test]
fn a_ptr_name_that_does_not_resolve_back_gives_no_name() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let mut fake = Fake::default();
    // Anyone controls the PTR of their own addresses.
    fake.ptr.insert("198.51.100.7".parse().unwrap(), "mail.google.com".to_owned());
    fake.a.insert("mail.google.com".to_owned(), vec!["142.250.1.27".parse().unwrap()]);
    let names = rdns::resolve(
        conn,
        &strings(&["198.51.100.7"]),
        Arc::new(fake),
        &ResolveOptions::default(),
    )
    .unwrap();
    assert_eq!(names["198.51.100.7"], None);
    assert_eq!(cache_rows(conn), vec![("198.51.100.7".to_owned(), None, "none".to_owned())]);
}

#[test]
fn junk_addresses_get_no_lookup_and_no_name() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let fake = Arc::new(Fake::default());
    let ips = strings(&["", "not an address", "1.2.3", "0.0.0.0"]);
    let names = rdns::resolve(conn, &ips, fake.clone(), &ResolveOptions::default()).unwrap();
    assert_eq!(names.len(), 4);
    assert!(names.values().all(Option::is_none));
    assert_eq!(fake.calls(), 0);
    assert!(cache_rows(conn).is_empty());
}

#[test]
fn spellings_of_one_address_share_one_lookup() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let fake = Arc::new(Fake::default().confirmed("2001:db8::25", "mx.example.net"));
    let ips = strings(&["2001:DB8::25", "2001:db8:0:0:0:0:0:25", "2001:DB8::25"]);
    let names = rdns::resolve(conn, &ips, fake.clone(), &ResolveOptions::default()).unwrap();
    assert_eq!(names.len(), 2);
    assert!(names.values().all(|n| n.as_deref() == Some("mx.example.net")));
    assert_eq!(fake.calls(), 1);
}

#[test]
fn resolver_errors_are_cached_as_error_and_give_no_name() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let mut fake = Fake::default();
    fake.failing.push("192.0.2.30".parse().unwrap());
    let names =
        rdns::resolve(conn, &strings(&["192.0.2.30"]), Arc::new(fake), &ResolveOptions::default())
            .unwrap();
    assert_eq!(names["192.0.2.30"], None);
    assert_eq!(cache_rows(conn)[0].2, "error");
}

#[test]
fn a_lookup_slower_than_the_timeout_is_abandoned_and_recorded_as_timeout() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let mut fake = Fake::default().confirmed("192.0.2.40", "slow.example.com");
    fake.delay = Duration::from_secs(30);
    let fake = Arc::new(fake);
    let opts = ResolveOptions { timeout: Duration::from_millis(200), ..ResolveOptions::default() };
    let started = Instant::now();
    let names = rdns::resolve(conn, &strings(&["192.0.2.40"]), fake.clone(), &opts).unwrap();
    // Returned long before the lookup itself could finish (the bound is
    // deliberately loose: this is not a timing test).
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(names["192.0.2.40"], None);
    assert_eq!(cache_rows(conn), vec![("192.0.2.40".to_owned(), None, "timeout".to_owned())]);
    assert_eq!(fake.calls(), 1);
}

#[test]
fn no_lookup_starts_once_the_total_budget_is_spent() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let fake = Arc::new(Fake::default());
    let opts = ResolveOptions { total: Duration::ZERO, ..ResolveOptions::default() };
    let names =
        rdns::resolve(conn, &strings(&["192.0.2.50", "192.0.2.51"]), fake.clone(), &opts).unwrap();
    assert!(names.values().all(Option::is_none));
    assert_eq!(fake.calls(), 0);
    // Not looked up, so not cached: tried again next time.
    assert!(cache_rows(conn).is_empty());
}

#[test]
fn many_addresses_are_resolved_with_bounded_concurrency() {
    let store = Store::open_in_memory().unwrap();
    let conn = &store;
    let mut fake = Fake::default();
    let mut ips = Vec::new();
    for i in 1..=100u8 {
        let ip = format!("203.0.113.{i}");
        fake = fake.confirmed(&ip, &format!("h{i}.example.org"));
        ips.push(ip);
    }
    fake.delay = Duration::from_millis(5);
    let fake = Arc::new(fake);
    let opts = ResolveOptions { concurrency: 4, ..ResolveOptions::default() };
    let names = rdns::resolve(conn, &ips, fake.clone(), &opts).unwrap();
    assert_eq!(fake.calls(), 100);
    for (i, ip) in ips.iter().enumerate() {
        assert_eq!(names[ip].as_deref(), Some(format!("h{}.example.org", i + 1).as_str()));
    }
    assert_eq!(cache_rows(conn).len(), 100);
}

#[test]
fn the_cache_is_written_inside_the_callers_transaction() {
    let store = Store::open_in_memory().unwrap();
    let fake = Arc::new(Fake::default().confirmed("192.0.2.60", "in-tx.example"));
    store.begin().unwrap();
    rdns::resolve(&store, &strings(&["192.0.2.60"]), fake, &ResolveOptions::default()).unwrap();
    assert!(store.in_transaction());
    store.commit().unwrap();
    assert_eq!(cache_rows(&store).len(), 1);
}

#[test]
fn a_version_2_database_file_is_upgraded_in_place_with_the_cache_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    // The schema as release 2 made it (its data kept through an upgrade is
    // the store's own tests' business).
    dmarc_report::store::inspect::create_released(&path, 2).unwrap();
    let store = Store::open(&path).unwrap();
    // Upgraded through migration 3 (the cache) to whatever is latest.
    assert!(store.schema_version().unwrap() >= 3);
    let fake = Arc::new(Fake::default().confirmed("192.0.2.70", "upgraded.example"));
    let names =
        rdns::resolve(&store, &strings(&["192.0.2.70"]), fake, &ResolveOptions::default()).unwrap();
    assert_eq!(names["192.0.2.70"].as_deref(), Some("upgraded.example"));
}

#[test]
fn the_system_resolver_names_127_0_0_1_from_etc_hosts() {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let listed = hosts.lines().any(|line| {
        let mut fields = line.split('#').next().unwrap_or("").split_whitespace();
        fields.next() == Some("127.0.0.1") && fields.next().is_some()
    });
    if !listed {
        eprintln!("skipped: /etc/hosts has no name for 127.0.0.1");
        return;
    }
    let store = Store::open_in_memory().unwrap();
    let names = rdns::resolve(
        &store,
        &strings(&["127.0.0.1"]),
        Arc::new(SystemLookup),
        &ResolveOptions::default(),
    )
    .unwrap();
    let name = names["127.0.0.1"].as_deref().expect("a confirmed name for 127.0.0.1");
    assert!(hosts.to_ascii_lowercase().contains(name), "{name} is not in /etc/hosts");
}
