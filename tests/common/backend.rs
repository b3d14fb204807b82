//! The same test on both database backends.
//!
//! A test that does not care where the data lives takes a [`Backend`] and
//! asks it for its database; [`both_backends!`] turns it into two tests,
//! `NAME::on_sqlite` and `NAME::on_postgresql`:
//!
//! ```ignore
//! both_backends!(ingest_stores_each_report_once);
//! fn ingest_stores_each_report_once(backend: Backend) {
//!     let tmp = temp_dir();
//!     let db = backend.db(tmp.path());
//!     run(command(tmp.path()).arg("--db").arg(&db).arg("ingest").arg(&file));
//!     assert_eq!(db.inspect().counts().unwrap().reports, 1);
//! }
//! ```
//!
//! SQLite: a file `dmarc.db` in the test's folder. PostgreSQL: a fresh
//! database on the one cluster of the test binary ([`super::postgres`]).
//! Either way the [`TestDb`] is the value to give `--db` (it derefs to a
//! `Path`), and it opens the database for checks ([`TestDb::inspect`],
//! [`TestDb::store`]).
//!
//! `DMARC_REPORT_TEST_BACKEND=sqlite` (or `postgresql`) runs one backend
//! only; the other's tests then pass at once, saying they were skipped.
//! Without PostgreSQL installed its tests are skipped the same way, except
//! under `CI=true`, where that is a failure.

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use dmarc_report::store::Store;
use dmarc_report::store::inspect::Inspector;

/// Where a test's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A database on a real PostgreSQL server.
    Postgresql,
}

impl Backend {
    /// Its name, as `DMARC_REPORT_TEST_BACKEND` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgresql => "postgresql",
        }
    }

    /// Whether its tests run here: chosen by `DMARC_REPORT_TEST_BACKEND`
    /// (unset: both), and for PostgreSQL, installed (a failure under
    /// `CI=true` when not). Says so on standard error when not.
    pub fn runs(self) -> bool {
        if let Ok(only) = std::env::var("DMARC_REPORT_TEST_BACKEND")
            && !only.is_empty()
            && !only.eq_ignore_ascii_case(self.name())
        {
            assert!(
                ["sqlite", "postgresql"].iter().any(|b| only.eq_ignore_ascii_case(b)),
                "DMARC_REPORT_TEST_BACKEND={only}: give sqlite or postgresql"
            );
            eprintln!("skipped: DMARC_REPORT_TEST_BACKEND={only}");
            return false;
        }
        match self {
            Backend::Sqlite => true,
            Backend::Postgresql => {
                let installed = super::postgres::cluster().is_some();
                if !installed {
                    eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
                }
                installed
            }
        }
    }

    /// A new, empty database for the running test (named after its thread,
    /// which the test harness names after the test).
    pub fn db(self, dir: &Path) -> TestDb {
        let thread = std::thread::current();
        self.db_named(dir, thread.name().unwrap_or("test"))
    }

    /// A new, empty store, for tests that use the store directly: SQLite
    /// in memory, or a fresh PostgreSQL database (a copy of one the program
    /// migrated, see [`super::postgres::migrated_database`]).
    pub fn new_store(self) -> Store {
        match self {
            Backend::Sqlite => Store::open_in_memory().expect("an in-memory store"),
            Backend::Postgresql => {
                let thread = std::thread::current();
                let url = super::postgres::migrated_database(thread.name().unwrap_or("test"))
                    .expect("PostgreSQL runs (Backend::runs is checked first)");
                Store::open(Path::new(&url)).expect("open the test database")
            }
        }
    }

    /// A new, empty database: SQLite `dir/dmarc.db`, or a PostgreSQL
    /// database whose name starts with `name`.
    pub fn db_named(self, dir: &Path, name: &str) -> TestDb {
        let location = match self {
            Backend::Sqlite => dir.join("dmarc.db"),
            Backend::Postgresql => PathBuf::from(
                super::postgres::database(name)
                    .expect("PostgreSQL runs (Backend::runs is checked first)"),
            ),
        };
        TestDb { backend: self, location }
    }
}

/// One test's database: the value of `--db` (through `Deref<Target =
/// Path>` and `AsRef<OsStr>`), and the way to look into it.
#[derive(Debug, Clone)]
pub struct TestDb {
    backend: Backend,
    location: PathBuf,
}

impl TestDb {
    /// The backend it lives on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether it is a PostgreSQL database.
    pub fn is_postgresql(&self) -> bool {
        self.backend == Backend::Postgresql
    }

    /// Whether the program has created it: the SQLite file exists, or the
    /// PostgreSQL database has the schema.
    pub fn exists(&self) -> bool {
        match self.backend {
            Backend::Sqlite => self.location.exists(),
            Backend::Postgresql => {
                let url = self.location.to_str().expect("a URL is text");
                super::postgres::query_i64(
                    url,
                    "SELECT count(*) FROM pg_tables WHERE tablename = 'reports'",
                ) > 0
            }
        }
    }

    /// The database as the program opens it (it must exist: a SQLite file
    /// is never created here).
    pub fn store(&self) -> Store {
        Store::open_existing(&self.location).expect("open the test database")
    }

    /// A read-only look at what it holds (a SQLite file is opened as it
    /// is, without migration).
    pub fn inspect(&self) -> Inspector<'static> {
        Inspector::open(&self.location).expect("open the test database for inspection")
    }
}

impl Deref for TestDb {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.location
    }
}

impl AsRef<OsStr> for TestDb {
    fn as_ref(&self) -> &OsStr {
        self.location.as_os_str()
    }
}

impl AsRef<Path> for TestDb {
    fn as_ref(&self) -> &Path {
        &self.location
    }
}

/// Defines the test `NAME` on each backend, as `NAME::on_sqlite` and
/// `NAME::on_postgresql`, each calling `fn NAME(backend: Backend)`.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn on_sqlite() {
                if crate::common::Backend::Sqlite.runs() {
                    super::$name(crate::common::Backend::Sqlite);
                }
            }

            #[test]
            fn on_postgresql() {
                if crate::common::Backend::Postgresql.runs() {
                    super::$name(crate::common::Backend::Postgresql);
                }
            }
        }
    )+};
}
#[allow(unused_imports)]
pub(crate) use both_backends;
