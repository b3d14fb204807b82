//! Where inputs come from. [`files`]: paths on disk (files, directories,
//! Maildir folders, mbox files) and standard input.

pub mod files;
