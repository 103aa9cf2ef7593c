//! Loads `catalog/calendar/YYYY.toml`, one file per year, into a [`Calendar`].

use std::path::{Path, PathBuf};

use kezek_domain::calendar::{Calendar, CalendarError};

/// Why the calendar could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CalendarLoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no calendar year files (YYYY.toml) in {0}")]
    NoYearFiles(PathBuf),
    /// A year file is malformed; the message names the file and line.
    #[error(transparent)]
    Invalid(#[from] CalendarError),
}

/// Reads every `*.toml` year file of the calendar. `dir` is either the catalog folder (its
/// `calendar/` subfolder is read) or the calendar folder itself.
pub fn load_calendar(dir: &Path) -> Result<Calendar, CalendarLoadError> {
    let nested = dir.join("calendar");
    let dir = if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CalendarLoadError::Io { path, source }
    };

    let mut paths = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let path = entry.map_err(io(&dir))?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(CalendarLoadError::NoYearFiles(dir));
    }
    // Sorted so the same folder always gives the same errors in the same order.
    paths.sort();

    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        files.push((path.display().to_string(), text));
    }
    Ok(Calendar::from_year_files(
        files
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str())),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog")
    }

    #[test]
    fn loads_the_shipped_calendar_from_the_catalog_folder_or_its_calendar_folder() {
        for dir in [shipped(), shipped().join("calendar")] {
            let cal = load_calendar(&dir).unwrap();
            assert_eq!(cal.years().collect::<Vec<_>>(), [2024, 2025, 2026, 2027]);
        }
    }

    #[test]
    fn a_broken_year_file_is_reported_with_its_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("2025.toml"),
            "year = 2025\n\n[[holiday]]\ndate = \"soon\"\n",
        )
        .unwrap();
        let err = load_calendar(dir.path()).unwrap_err().to_string();
        assert!(err.contains("2025.toml:4:"), "{err}");
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_calendar(dir.path()),
            Err(CalendarLoadError::NoYearFiles(_))
        ));
    }
}
