//! Where inputs come from. [`files`]: paths on disk (files, directories,
//! Maildir folders, mbox files) and standard input; [`imap`]: rua mailboxes
//! on an IMAP server.

pub mod files;
pub mod imap;
