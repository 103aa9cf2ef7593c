//! Service definitions: regulations as data, their channels, steps and regional variants.
//!
//! A definition file (`catalog/services/*.toml`, format in `catalog/README.md`) describes one
//! service: a base edition (one regulation text, one region) and variants (other regions or
//! other editions of the same service) that override parts of it. Parsing is pure: it takes
//! the file name and text, and either returns every edition fully resolved or every problem
//! found, each with the file and line it comes from.

mod build;
mod deadline;
mod model;
mod raw;

#[cfg(test)]
mod tests;

use std::fmt;

pub use deadline::{DeadlineError, PathDeadline, PathHours, effective_deadline};
pub use model::*;

/// One thing wrong with a definition file, with the line it is on (1-based).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found in one or more definition files, in file and line order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionErrors(pub Vec<Problem>);

impl fmt::Display for DefinitionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Parses and validates one service definition file, resolving its variants.
pub fn parse_service(file: &str, text: &str) -> Result<ServiceDefinition, DefinitionErrors> {
    build::service(file, text)
}

/// Parses the list of services the seeds only name (`_named-only.toml`).
pub fn parse_named_only(file: &str, text: &str) -> Result<Vec<NamedOnlyService>, DefinitionErrors> {
    build::named_only(file, text)
}

/// Checks that hold across files: a service id is defined once, and a service the seeds only
/// name in one region is not also given a full definition for that region.
pub fn check_catalog(
    services: &[ServiceDefinition],
    named_only: &[NamedOnlyService],
) -> Vec<Problem> {
    build::check_catalog(services, named_only)
}

/// Converts a byte offset into a 1-based line number; toml's spans are byte ranges.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
