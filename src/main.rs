//! The `dmarc-report` binary: parse arguments, run, map the outcome to an
//! exit status (0 ok, 1 some inputs failed, 2 fatal).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use dmarc_report::cli::{self, Cli};

fn main() -> ExitCode {
    let args = match Cli::try_parse() {
        Ok(args) => args,
        // --help, --version, and no command at all: clap's full help.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            let argv: Vec<String> =
                std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
            if let Some(message) = cli::misplaced_flag(&e, &argv) {
                let _ = writeln!(std::io::stderr(), "dmarc-report: error: {message} (see --help)");
                return ExitCode::from(cli::EXIT_FATAL);
            }
            // One line, like every other fatal error. clap puts details
            // (the missing arguments) on indented lines after the first.
            let rendered = e.render().to_string();
            let mut lines = rendered.lines();
            let first = lines.next().unwrap_or_default();
            // A "tip:" (did you mean ...) comes after a blank line; the
            // usage line ends the details.
            let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
            for line in lines
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .filter(|l| l.starts_with("  "))
            {
                // A tip is its own clause: "...: 'sumary'; a similar
                // subcommand exists: 'summary'".
                match line.trim().strip_prefix("tip: ") {
                    Some(tip) => message.push_str(&format!("; {tip}")),
                    None => message.push_str(&format!(" {}", line.trim())),
                }
            }
            let _ = writeln!(std::io::stderr(), "dmarc-report: error: {message} (see --help)");
            return ExitCode::from(cli::EXIT_FATAL);
        }
    };
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dmarc-report: error: {e:#}");
            ExitCode::from(cli::EXIT_FATAL)
        }
    }
}
