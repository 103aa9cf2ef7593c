//! Loads `catalog/services/*.toml`, one file per service, and `_named-only.toml`, the services
//! the seeds only name. Every file is read and checked even after a bad one, so one run of
//! `kezek catalog check` shows every problem of the folder.

use std::path::{Path, PathBuf};

use kezek_domain::regulation::{
    self, DefinitionErrors, NamedOnlyService, Problem, ServiceDefinition,
};

/// The file listing services without a regulation body in the seeds.
pub const NAMED_ONLY_FILE: &str = "_named-only.toml";

/// Every service definition of a catalog folder.
#[derive(Debug, Clone)]
pub struct ServiceCatalog {
    pub services: Vec<ServiceDefinition>,
    pub named_only: Vec<NamedOnlyService>,
}

impl ServiceCatalog {
    pub fn service(&self, id: &str) -> Option<&ServiceDefinition> {
        self.services.iter().find(|s| s.id == id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Definitions(DefinitionErrors),
}

/// The services folder of a catalog folder.
pub fn services_dir(catalog_dir: &Path) -> PathBuf {
    catalog_dir.join("services")
}

/// Reads and validates every `*.toml` in `<catalog_dir>/services`, in file-name order.
pub fn load_services(catalog_dir: &Path) -> Result<ServiceCatalog, ServicesError> {
    let dir = services_dir(catalog_dir);
    let io = |source| ServicesError::Io {
        path: dir.clone(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();

    let mut services = Vec::new();
    let mut named_only = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut named_only_file = None;
    for path in &paths {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ServicesError::Io {
            path: path.clone(),
            source,
        })?;
        let Ok(text) = String::from_utf8(bytes) else {
            problems.push(Problem {
                file: shown,
                line: 1,
                message: "not UTF-8 text".to_owned(),
            });
            continue;
        };
        let is_named_only = path.file_name().is_some_and(|n| n == NAMED_ONLY_FILE);
        if is_named_only {
            named_only_file = Some(shown.clone());
            match regulation::parse_named_only(&shown, &text) {
                Ok(list) => named_only = list,
                Err(DefinitionErrors(p)) => problems.extend(p),
            }
        } else {
            match regulation::parse_service(&shown, &text) {
                Ok(def) => services.push(def),
                Err(DefinitionErrors(p)) => problems.extend(p),
            }
        }
    }
    for mut p in regulation::check_catalog(&services, &named_only) {
        // Cross-file problems about the named-only list carry no file name of their own.
        if p.file.is_empty() {
            p.file = named_only_file.clone().unwrap_or_default();
        }
        problems.push(p);
    }
    // S2 before S10: the digest's order, not the file names'.
    services.sort_by_key(|s| s.id[1..].parse::<u32>().unwrap_or(u32::MAX));
    if !problems.is_empty() {
        problems.sort();
        return Err(ServicesError::Definitions(DefinitionErrors(problems)));
    }
    Ok(ServiceCatalog {
        services,
        named_only,
    })
}
