//! Certificates, CRLs and signatures arrive as DER (national CAs publish `.cer`/`.crl` files
//! in DER), PEM, or bare base64 (what NCALayer returns). These functions turn any of them into
//! parsed values; they never panic on bad input.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use der::Decode;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// Why bytes could not be read as the expected object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty input")]
    Empty,
    #[error("neither DER, PEM nor base64")]
    NotAnEncoding,
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("invalid {what}: {source}")]
    Der {
        what: &'static str,
        #[source]
        source: der::Error,
    },
}

/// A DER SEQUENCE starts with 0x30; PEM and base64 text never do (`0` is 0x30 only in base64
/// of data starting with 0xD3..., and such text is tried as DER first, then as text).
fn looks_like_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
}

/// Every DER object in `bytes`: one for DER input, one per PEM block (any label), or one for
/// bare base64 text.
pub fn der_objects(bytes: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    if looks_like_der(bytes) {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotAnEncoding)?;
    if text.contains("-----BEGIN ") {
        return pem_blocks(text);
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = Base64::decode_vec(&compact).map_err(|_| DecodeError::NotAnEncoding)?;
    Ok(vec![der])
}

fn pem_blocks(text: &str) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(end_marker) = block.find("-----END ") else {
            return Err(DecodeError::NotAnEncoding);
        };
        let after_end = &block[end_marker + "-----END ".len()..];
        let Some(close) = after_end.find("-----") else {
            return Err(DecodeError::NotAnEncoding);
        };
        let len = end_marker + "-----END ".len() + close + "-----".len();
        let (_label, der) = der::pem::decode_vec(&block.as_bytes()[..len])
            .map_err(|e| DecodeError::Pem(e.to_string()))?;
        out.push(der);
        rest = &block[len..];
    }
    if out.is_empty() {
        return Err(DecodeError::NotAnEncoding);
    }
    Ok(out)
}

/// All certificates in a `.cer`/`.crt`/`.pem` file's bytes.
pub fn certificates(bytes: &[u8]) -> Result<Vec<Certificate>, DecodeError> {
    der_objects(bytes)?
        .iter()
        .map(|der| {
            Certificate::from_der(der).map_err(|source| DecodeError::Der {
                what: "certificate",
                source,
            })
        })
        .collect()
}

/// All CRLs in a `.crl` file's bytes.
pub fn crls(bytes: &[u8]) -> Result<Vec<CertificateList>, DecodeError> {
    der_objects(bytes)?
        .iter()
        .map(|der| {
            CertificateList::from_der(der).map_err(|source| DecodeError::Der {
                what: "CRL",
                source,
            })
        })
        .collect()
}

/// A configured file or folder could not be read as certificates or CRLs.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: DecodeError,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in the files of `dir` (a folder of the CA's `.cer` files; hidden files
/// skipped, sorted for a stable order). A file that is not a certificate is an error: a
/// misplaced file in a trust folder is a configuration mistake to report, not to skip.
pub fn certificates_in(dir: &Path) -> Result<Vec<Certificate>, FileError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FileError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        let parsed = certificates(&read(&path)?).map_err(|source| FileError::Decode {
            path: path.clone(),
            source,
        })?;
        certs.extend(parsed);
    }
    Ok(certs)
}

/// Every CRL in the file at `path` (DER or PEM, base and delta alike).
pub fn crls_in(path: &Path) -> Result<Vec<CertificateList>, FileError> {
    crls(&read(path)?).map_err(|source| FileError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

/// The DER of one CMS message given as DER, PEM (`CMS`/`PKCS7`) or base64.
pub fn signature_der(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut objects = der_objects(bytes)?;
    match objects.len() {
        1 => Ok(objects.remove(0)),
        _ => Err(DecodeError::NotAnEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_input_are_errors_not_panics() {
        assert_eq!(der_objects(b"").unwrap_err(), DecodeError::Empty);
        assert_eq!(der_objects(b"  \n").unwrap_err(), DecodeError::Empty);
        assert!(der_objects(b"\xff\xfe\x00").is_err());
        assert!(der_objects(b"-----BEGIN CMS-----\nAAAA").is_err());
        assert!(certificates(b"\x30\x03\x02\x01\x01").is_err());
    }

    #[test]
    fn bare_base64_is_read_as_der() {
        assert_eq!(
            der_objects(b"MAMCAQE=\n").unwrap(),
            vec![vec![0x30, 3, 2, 1, 1]]
        );
    }
}
