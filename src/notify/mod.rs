//! Telling the owner: how the events (`analyse::events`) and the mail drawn
//! by `render::mail` leave the machine, by SMTP ([`smtp`]) or a webhook
//! ([`webhook`]), configured by the `[notify]` table ([`config`]).

pub mod config;
pub mod smtp;
pub mod webhook;

pub use config::{Delivery, NotifySettings, SmtpTls};
