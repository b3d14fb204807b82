//! The command line in two layers: [`args`] (the raw flags, clap) and
//! [`settings`] (flags, config file, environment and defaults resolved
//! once). [`run`] hands the settings to one module per command in
//! `crate::commands`; `main.rs` only maps the outcome to an exit code.

pub mod args;
mod misplaced;
pub mod settings;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};

pub use args::Cli;
use args::Command;
pub use misplaced::misplaced_flag;
use settings::Settings;

use crate::commands;

/// Exit status: everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status: some inputs failed; everything good was still stored.
pub const EXIT_PARTIAL: u8 = 1;
/// Exit status: a fatal error (bad arguments, unusable database).
pub const EXIT_FATAL: u8 = 2;

/// Runs the parsed command line; the result is the exit status.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let top_db = cli.db;
    match cli.command {
        Command::Fetch(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::fetch::run(&settings, &args)
        }
        Command::Ingest(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::ingest::run(&settings, &args)
        }
        Command::Reparse(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::reparse::run(&settings, &args)
        }
        Command::Errors(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::errors::run(&settings, &args)
        }
        Command::Summary(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::summary::run(&settings, &args)
        }
        Command::Report(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::report::run(&settings, &args)
        }
        Command::Check(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::check::run(&settings, &args)
        }
        Command::Demo(args) => commands::demo::run(top_db, &args),
        Command::Notify(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::notify::run(&settings, &args)
        }
        Command::Metrics(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::metrics::run(&settings, &args)
        }
        Command::Copy(args) => {
            let settings = Settings::resolve(top_db, &args.store)?;
            commands::copy::run(&settings, &args)
        }
        Command::Auth(args) => commands::auth::run(&args),
    }
}

/// The exit status `code`.
pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// Writes a diagnostic line to stderr; a closed stderr is ignored.
pub fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> Result<()> {
    emit_bytes(text.as_bytes())
}

/// Runs `write` on a buffered stdout; a closed pipe (`| head`) is not an
/// error.
pub fn emit_with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let mut stdout = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to standard output"),
    }
}

/// Writes bytes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit_bytes(bytes: &[u8]) -> Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to standard output"),
    }
}
