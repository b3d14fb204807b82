//! Where inputs come from. [`files`]: paths on disk (files, directories,
//! Maildir folders, mbox files) and standard input; [`imap`]: rua mailboxes
//! on an IMAP server; [`oauth`]: OAuth2 access tokens to log in there.

pub mod files;
pub mod imap;
pub mod oauth;
