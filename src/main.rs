//! The `dmarc-report` binary: parse arguments, run, map the outcome to an
//! exit status (0 ok, 1 some inputs failed, 2 fatal).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use dmarc_report::cli::{self, Cli};

fn main() -> ExitCode {
    let args = Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dmarc-report: error: {e:#}");
            ExitCode::from(cli::EXIT_FATAL)
        }
    }
}
