//! What the verifier reads from an X.509 certificate: validity, extensions, and the national
//! CA's identity attributes (IIN in serialNumber, BIN in OU).

use der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::{Any, Decode};
use kezek_domain::identity::{Bin, Iin};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::time::Time;

pub(crate) mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub const SERIAL_NUMBER: Oid = Oid::new_unwrap("2.5.4.5");
    pub const ORG_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
    pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
    pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
    pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
    pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
    pub const CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
    pub const CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
    pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
    pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
    pub const AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
    pub const KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
    pub const KP_EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
}

/// Extensions this verifier understands; a certificate with any other critical extension is
/// refused, as RFC 5280 §4.2 requires.
const UNDERSTOOD: [ObjectIdentifier; 9] = [
    oid::SUBJECT_KEY_ID,
    oid::KEY_USAGE,
    oid::SUBJECT_ALT_NAME,
    oid::BASIC_CONSTRAINTS,
    oid::CRL_DISTRIBUTION_POINTS,
    oid::CERTIFICATE_POLICIES,
    oid::AUTHORITY_KEY_ID,
    oid::EXT_KEY_USAGE,
    oid::AUTHORITY_INFO_ACCESS,
];

pub(crate) fn to_datetime(t: Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    // X.509 times are 1950..=9999, always inside OffsetDateTime's range.
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn not_before(c: &Certificate) -> OffsetDateTime {
    to_datetime(c.tbs_certificate.validity.not_before)
}

pub(crate) fn not_after(c: &Certificate) -> OffsetDateTime {
    to_datetime(c.tbs_certificate.validity.not_after)
}

pub(crate) fn serial_hex(c: &Certificate) -> String {
    hex::encode_upper(c.tbs_certificate.serial_number.as_bytes())
}

/// The decoded value of the extension `id`; `Err` when present but unreadable.
fn extension<'a, T: Decode<'a>>(
    c: &'a Certificate,
    id: ObjectIdentifier,
) -> Result<Option<T>, der::Error> {
    let Some(exts) = &c.tbs_certificate.extensions else {
        return Ok(None);
    };
    match exts.iter().find(|e| e.extn_id == id) {
        Some(e) => T::from_der(e.extn_value.as_bytes()).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn key_usage(c: &Certificate) -> Result<Option<KeyUsage>, der::Error> {
    extension(c, oid::KEY_USAGE)
}

pub(crate) fn extended_key_usage(c: &Certificate) -> Result<Option<ExtendedKeyUsage>, der::Error> {
    extension(c, oid::EXT_KEY_USAGE)
}

pub(crate) fn basic_constraints(c: &Certificate) -> Result<Option<BasicConstraints>, der::Error> {
    extension(c, oid::BASIC_CONSTRAINTS)
}

pub(crate) fn subject_key_id(c: &Certificate) -> Option<Vec<u8>> {
    extension::<SubjectKeyIdentifier>(c, oid::SUBJECT_KEY_ID)
        .ok()
        .flatten()
        .map(|s| s.0.as_bytes().to_vec())
}

pub(crate) fn authority_key_id(c: &Certificate) -> Option<Vec<u8>> {
    extension::<AuthorityKeyIdentifier>(c, oid::AUTHORITY_KEY_ID)
        .ok()
        .flatten()
        .and_then(|a| a.key_identifier)
        .map(|k| k.as_bytes().to_vec())
}

/// The first critical extension this verifier does not understand, if any.
pub(crate) fn unknown_critical_extension(c: &Certificate) -> Option<ObjectIdentifier> {
    c.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.critical && !UNDERSTOOD.contains(&e.extn_id))
        .map(|e| e.extn_id)
}

fn directory_string(value: &Any) -> Option<String> {
    if let Ok(s) = PrintableStringRef::try_from(value) {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = Utf8StringRef::try_from(value) {
        return Some(s.as_str().to_string());
    }
    Ia5StringRef::try_from(value)
        .ok()
        .map(|s| s.as_str().to_string())
}

fn attribute_values(name: &Name, id: ObjectIdentifier) -> impl Iterator<Item = String> + '_ {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(move |atv| atv.oid == id)
        .filter_map(|atv| directory_string(&atv.value))
}

/// The signer's IIN: NCA certificates carry `IIN` + 12 digits in the subject's serialNumber.
pub(crate) fn subject_iin(c: &Certificate) -> Option<Iin> {
    attribute_values(&c.tbs_certificate.subject, oid::SERIAL_NUMBER)
        .find_map(|v| v.strip_prefix("IIN").and_then(|d| Iin::parse(d).ok()))
}

/// The organisation's BIN: legal-entity certificates carry `BIN` + 12 digits in an OU.
pub(crate) fn subject_bin(c: &Certificate) -> Option<Bin> {
    attribute_values(&c.tbs_certificate.subject, oid::ORG_UNIT)
        .find_map(|v| v.strip_prefix("BIN").and_then(|d| Bin::parse(d).ok()))
}
