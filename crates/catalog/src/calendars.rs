//! Loads `catalog/calendar/YYYY.toml`, one file per year.
