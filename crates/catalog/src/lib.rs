//! The catalog folder: data, not code. This crate reads its files and hands their text to the
//! pure parsers of `kezek-domain`; every problem names the file and line it comes from.

pub mod calendars;
pub mod services;
