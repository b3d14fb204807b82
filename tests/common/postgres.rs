//! A real PostgreSQL for the tests: Debian's `postgresql` package, one
//! cluster per test binary (`initdb` into a temporary folder, started on
//! its own loopback port, as the `postgres` user when the tests run as
//! root), one database per test.
//!
//! Without PostgreSQL installed, [`database`] returns `None` and the test
//! says it is skipped; under `CI=true` that is a failure instead. The
//! cluster is stopped and its folder removed by a watcher process once the
//! test binary has exited.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian installs the server's programs.
const BIN_DIRS: &[&str] =
    &["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"];

/// A running cluster.
pub struct Cluster {
    /// Its folder (data, socket, log).
    pub dir: PathBuf,
    /// Its loopback port.
    pub port: u16,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command that runs `program` as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start() -> Option<Cluster> {
    let Some(bin) = BIN_DIRS.iter().map(Path::new).find(|d| d.join("initdb").exists()) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL is not installed (apt-get install postgresql; scripts/test does)");
        }
        eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
        return None;
    };
    let dir = tempfile::Builder::new()
        .prefix("dmarc-report-pg-")
        .tempdir()
        .expect("create the cluster's folder")
        .keep();
    if is_root() {
        let status = Command::new("chown").arg("postgres:postgres").arg(&dir).status();
        assert!(status.is_ok_and(|s| s.success()), "chown the cluster's folder to postgres");
    }
    let data = dir.join("data");
    let out = as_server_user(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args(["-A", "trust", "-U", "dmarc", "-E", "UTF8", "--no-sync"])
        .output()
        .expect("run initdb");
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.display()
        );
        // The server inherits whatever pg_ctl's output is: never a pipe.
        let status = as_server_user(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(dir.join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run pg_ctl");
        if status.success() {
            watch_and_stop(bin, &dir);
            return Some(Cluster { dir, port });
        }
        last_error = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    }
    panic!("PostgreSQL did not start: {last_error}");
}

/// Stops the cluster and removes its folder once this process has exited.
fn watch_and_stop(bin: &Path, dir: &Path) {
    let pg_ctl = bin.join("pg_ctl");
    let user = if is_root() { "runuser -u postgres -- " } else { "" };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {user}{pg_ctl} -D {dir}/data stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        pg_ctl = pg_ctl.display(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// The cluster of this test binary (started on first use); `None` when
/// PostgreSQL is not installed (outside CI).
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

impl Cluster {
    /// The URL of database `name` on this cluster (plain TCP on loopback).
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://dmarc@127.0.0.1:{}/{name}?sslmode=disable", self.port)
    }
}

/// A new, empty database for one test: its URL. `None` when PostgreSQL is
/// not installed (outside CI).
pub fn database(test: &str) -> Option<String> {
    let cluster = cluster()?;
    let name = database_name(test);
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
        .expect("connect to the test cluster");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create the test database");
    Some(cluster.url(&name))
}

/// A new database that already has the program's schema, for tests that
/// use the store directly: a copy (`CREATE DATABASE ... TEMPLATE`) of one
/// database that the program migrated once for this test binary, instead
/// of every test migrating its own. Its URL; `None` when PostgreSQL is not
/// installed (outside CI).
pub fn migrated_database(test: &str) -> Option<String> {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    let cluster = cluster()?;
    let template = TEMPLATE.get_or_init(|| {
        let url = database("template").expect("the cluster runs");
        let store = dmarc_report::store::Store::open(Path::new(&url));
        drop(store.expect("migrate the template database"));
        url.rsplit_once('/')
            .and_then(|(_, rest)| rest.split('?').next())
            .expect("a database name in the URL")
            .to_owned()
    });
    let name = database_name(test);
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
        .expect("connect to the test cluster");
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .expect("copy the migrated database");
    Some(cluster.url(&name))
}

/// A database name of its own for `test`.
fn database_name(test: &str) -> String {
    format!(
        "t_{}_{}_{}",
        test.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect::<String>(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
    .to_ascii_lowercase()
}

/// Runs SQL on a test database (checks that go past the program's API).
pub fn query_i64(url: &str, sql: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    client.query_one(sql, &[]).expect("query").get(0)
}
