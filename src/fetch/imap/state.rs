//! What is known about a folder's messages between runs, and what a run
//! must do with each: the rules that keep a crash from losing or doubling
//! a message. The record itself lives wherever the caller keeps it (the
//! database); this module only decides.

use std::collections::{HashMap, HashSet};

/// What became of a message after it was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its reports are stored (or were already).
    Stored,
    /// It holds no readable report; its bytes were kept with the error.
    Failed,
    /// It is over the size limit and was not downloaded.
    TooLarge,
}

/// One folder at one UIDVALIDITY: the key under which its messages are
/// remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderId {
    /// `user@host:port`.
    pub account: String,
    /// Folder name.
    pub folder: String,
    /// The folder's UIDVALIDITY (0 if the server gave none).
    pub validity: u32,
}

/// What is remembered about one UID: its outcome, and whether it was
/// already moved or flagged on the server.
pub type Known = HashMap<u32, (Outcome, bool)>;

/// What to do in a folder.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Committed by an earlier run but not yet moved or flagged (a crash
    /// came between): acknowledge these first.
    pub pending: Vec<(u32, Outcome)>,
    /// To download, in UID order: new messages, and too-large ones that
    /// may fit a raised limit.
    pub todo: Vec<u32>,
    /// The part of `todo` that was too large before (not reported again
    /// when it still is).
    pub retried_too_large: HashSet<u32>,
}

impl Plan {
    /// Messages never seen before.
    pub fn new_messages(&self) -> usize {
        self.todo.len() - self.retried_too_large.len()
    }
}

/// Decides from the UIDs on the server and what is remembered.
pub fn plan(present: &HashSet<u32>, known: &Known) -> Plan {
    let mut pending: Vec<(u32, Outcome)> = known
        .iter()
        .filter(|(uid, (outcome, done))| {
            !done && *outcome != Outcome::TooLarge && present.contains(uid)
        })
        .map(|(uid, (outcome, _))| (*uid, *outcome))
        .collect();
    pending.sort_unstable_by_key(|(uid, _)| *uid);
    let mut todo: Vec<u32> = present
        .iter()
        .filter(|uid| match known.get(uid) {
            None => true,
            Some((outcome, _)) => *outcome == Outcome::TooLarge,
        })
        .copied()
        .collect();
    todo.sort_unstable();
    let retried_too_large = todo.iter().filter(|uid| known.contains_key(uid)).copied().collect();
    Plan { pending, todo, retried_too_large }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_but_unmoved_messages_are_finished_and_never_downloaded_again() {
        let present: HashSet<u32> = [1, 2, 3, 4, 5].into();
        let known: Known = [
            (1, (Outcome::Stored, false)),   // crash before the move
            (2, (Outcome::Failed, false)),   // likewise, to the error folder
            (3, (Outcome::Stored, true)),    // flagged in place earlier
            (4, (Outcome::TooLarge, false)), // may fit a raised limit
            (9, (Outcome::Stored, false)),   // gone from the server
        ]
        .into();
        let p = plan(&present, &known);
        assert_eq!(p.pending, [(1, Outcome::Stored), (2, Outcome::Failed)]);
        assert_eq!(p.todo, [4, 5]);
        assert_eq!(p.retried_too_large, [4].into());
        assert_eq!(p.new_messages(), 1);
    }

    #[test]
    fn an_empty_folder_needs_nothing() {
        assert_eq!(plan(&HashSet::new(), &Known::new()), Plan::default());
    }
}
