//! Loads `catalog/services/*.toml`, one file per service.
