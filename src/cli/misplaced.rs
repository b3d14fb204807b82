//! A flag given to a command that does not take it, though another command
//! does (`reparse --max-zip-entries`): clap would only say that a similar
//! flag exists (`--max-report-size`), which sends the user the wrong way.
//! This says which commands take the flag instead, and why it does not
//! apply where it was given.

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::Cli;

/// The one-line message for an unknown flag that belongs to other
/// commands; `None` for any other error (clap's own message is right).
/// `argv` is the command line without the program name.
pub fn misplaced_flag(error: &clap::Error, argv: &[String]) -> Option<String> {
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(given)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = given.strip_prefix("--")?.split('=').next()?;
    let cli = Cli::command();
    let name = command_name(argv)?;
    let used = cli.find_subcommand(name)?;
    let takers: Vec<String> = cli
        .get_subcommands()
        .filter(|c| c.get_name() != used.get_name())
        .filter(|c| c.get_arguments().any(|a| !a.is_hide_set() && a.get_long() == Some(long)))
        .map(|c| format!("`{}`", c.get_name()))
        .collect();
    if takers.is_empty() {
        return None;
    }
    let mut message = format!(
        "`{}` does not take --{long}: it is an option of {}",
        used.get_name(),
        list(&takers)
    );
    if let Some(why) = why_not(used.get_name(), long) {
        message.push_str(&format!(" ({why})"));
    }
    Some(message)
}

/// Why a flag does not apply to a command, when there is more to say than
/// that it does not.
fn why_not(command: &str, long: &str) -> Option<&'static str> {
    match (command, long) {
        ("reparse", "max-message-size" | "max-zip-entries") => Some(
            "reparse reads each report's stored XML again, not messages or archives: \
             of the size limits only --max-report-size applies",
        ),
        ("demo", "db" | "config") => Some(
            "the demo always works in a fresh database of its own, in its --out folder, \
             and reads no config file",
        ),
        _ => None,
    }
}

/// The subcommand named on the command line: the first word that is not a
/// flag, after the top-level `--db PATH`.
fn command_name(argv: &[String]) -> Option<&str> {
    let mut words = argv.iter();
    while let Some(word) = words.next() {
        if word == "--db" {
            words.next();
        } else if !word.starts_with('-') {
            return Some(word);
        }
    }
    None
}

/// `a`, `a and b`, `a, b and c`.
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn message(args: &[&str]) -> Option<String> {
        let argv: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let error =
            Cli::try_parse_from(std::iter::once("dmarc-report").chain(args.iter().copied()))
                .expect_err("the command line is refused");
        misplaced_flag(&error, &argv)
    }

    #[test]
    fn a_limit_given_to_reparse_names_the_commands_that_take_it_and_why() {
        let text = message(&["--db", "x.db", "reparse", "--max-zip-entries", "5"]).unwrap();
        assert!(
            text.starts_with(
                "`reparse` does not take --max-zip-entries: it is an option of `fetch` and `ingest`"
            ),
            "{text}"
        );
        assert!(text.contains("only --max-report-size applies"), "{text}");
        let text = message(&["reparse", "--max-message-size=1M"]).unwrap();
        assert!(text.contains("--max-message-size: it is an option of"), "{text}");
    }

    #[test]
    fn another_commands_flag_is_named_with_its_commands() {
        let text = message(&["report", "--out", "r", "--format", "json"]).unwrap();
        assert!(text.starts_with("`report` does not take --format: it is an option of"), "{text}");
        assert!(text.contains("`summary`"), "{text}");
    }

    #[test]
    fn the_demo_says_it_never_uses_the_configured_database() {
        let text = message(&["demo", "--config", "c.toml"]).unwrap();
        assert!(text.contains("a fresh database of its own"), "{text}");
    }

    #[test]
    fn a_flag_no_command_takes_keeps_claps_message() {
        assert_eq!(message(&["reparse", "--max-zip-entrie", "5"]), None);
        assert_eq!(message(&["summary", "--nonsense"]), None);
    }
}
