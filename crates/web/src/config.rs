//! The server's one configuration: flags, each with an environment variable and a default.

use std::net::SocketAddr;
use std::path::PathBuf;

use kezek_store::DatabaseTarget;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "KEZEK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Folder for the embedded SQLite database (used when no DATABASE_URL is given).
    #[arg(long, env = "KEZEK_DATA_DIR", default_value = "./kezek-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user:password@host:port/db); empty means embedded SQLite.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The catalog folder: service definitions and the working-day calendar.
    #[arg(long, env = "KEZEK_CATALOG_DIR", default_value = "./catalog")]
    pub catalog_dir: PathBuf,
    /// Do not load demo data into an empty database.
    #[arg(long, env = "KEZEK_NO_DEMO")]
    pub no_demo: bool,
    /// Mark cookies Secure (set when served over HTTPS).
    #[arg(long, env = "KEZEK_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Log format: `pretty` for people, `json` for collectors.
    #[arg(long, env = "KEZEK_LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,
}

impl ServerConfig {
    pub fn database(&self) -> DatabaseTarget {
        match self.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => DatabaseTarget::Postgres(url.to_owned()),
            _ => DatabaseTarget::SqliteFile(self.data_dir.join("kezek.db")),
        }
    }

    /// One line per setting, secrets removed, for the start-up banner.
    pub fn describe(&self) -> String {
        format!(
            "bind={} database={} catalog={} demo_data={} secure_cookies={} log_format={}",
            self.bind,
            self.database().redacted(),
            self.catalog_dir.display(),
            !self.no_demo,
            self.secure_cookies,
            self.log_format
        )
    }
}
