//! Output for people and programs: the summary as a table, JSON or CSV
//! ([`summary`]).

pub mod summary;
