//! The CMS SignedData checks of RFC 5652 §5, in the order that gives one reason code:
//! structure, content, signature, chain, validity, revocation, key usage, IIN.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::time::Time;

use crate::algorithms::AlgorithmError;
use crate::certificate::{self, to_datetime};
use crate::chain;
use crate::verdict::{Reason, RevocationStatus, Signer, Verdict};
use crate::{Request, Verifier};

mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
}

/// A failed check: the reason code and a sentence for the operator.
pub(crate) struct Failure {
    pub reason: Reason,
    pub detail: String,
}

pub(crate) fn fail<T>(reason: Reason, detail: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        reason,
        detail: detail.into(),
    })
}

/// What is known so far, so that an invalid verdict still names the signer when it can.
#[derive(Default)]
struct Progress {
    signer: Option<Signer>,
    signing_time: Option<OffsetDateTime>,
    revocation: Option<RevocationStatus>,
}

pub(crate) fn verify(verifier: &Verifier, request: &Request<'_>) -> Verdict {
    let mut progress = Progress::default();
    match run(verifier, request, &mut progress) {
        Ok((content, fingerprint)) => match progress.signer {
            Some(signer) => Verdict::valid(
                signer,
                progress.signing_time,
                request.at,
                progress.revocation.unwrap_or(RevocationStatus::Unknown),
                content,
                fingerprint,
            ),
            // `run` sets the signer before it can succeed; kept total rather than panicking.
            None => Verdict::invalid(
                Reason::UntrustedChain,
                "no signer certificate".into(),
                None,
                progress.signing_time,
                request.at,
                progress.revocation,
            ),
        },
        Err(f) => Verdict::invalid(
            f.reason,
            f.detail,
            progress.signer,
            progress.signing_time,
            request.at,
            progress.revocation,
        ),
    }
}

fn signer_details(c: &Certificate) -> Signer {
    Signer {
        iin: certificate::subject_iin(c),
        bin: certificate::subject_bin(c),
        subject: c.tbs_certificate.subject.to_string(),
        serial: certificate::serial_hex(c),
        issuer: c.tbs_certificate.issuer.to_string(),
        not_before: certificate::not_before(c),
        not_after: certificate::not_after(c),
    }
}

fn parse(bytes: &[u8]) -> Result<SignedData, Failure> {
    let der = crate::decode::signature_der(bytes)
        .or_else(|e| fail(Reason::Malformed, format!("the signature file: {e}")))?;
    let info = ContentInfo::from_der(&der)
        .or_else(|e| fail(Reason::Malformed, format!("not a CMS ContentInfo: {e}")))?;
    if info.content_type != oid::SIGNED_DATA {
        return fail(
            Reason::Malformed,
            format!("content type {} is not signedData", info.content_type),
        );
    }
    info.content
        .decode_as::<SignedData>()
        .or_else(|e| fail(Reason::Malformed, format!("not a CMS SignedData: {e}")))
}

/// The encapsulated content's octets, if the message carries them.
fn encapsulated_content(sd: &SignedData) -> Result<Option<Vec<u8>>, Failure> {
    let Some(any) = &sd.encap_content_info.econtent else {
        return Ok(None);
    };
    match any.decode_as::<OctetString>() {
        Ok(octets) => Ok(Some(octets.into_bytes())),
        Err(e) => fail(
            Reason::Malformed,
            format!("the encapsulated content is not an OCTET STRING: {e}"),
        ),
    }
}

fn message_certificates(sd: &SignedData) -> Vec<Certificate> {
    sd.certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect()
}

fn find_signer<'c>(sid: &SignerIdentifier, pool: &'c [Certificate]) -> Option<&'c Certificate> {
    pool.iter().find(|c| match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            c.tbs_certificate.issuer == isn.issuer
                && c.tbs_certificate.serial_number == isn.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            certificate::subject_key_id(c).as_deref() == Some(ski.0.as_bytes())
        }
    })
}

/// The single value of the signed attribute `id`; `None` when absent.
fn single_attribute(si: &SignerInfo, id: ObjectIdentifier) -> Result<Option<&der::Any>, Failure> {
    let Some(attrs) = &si.signed_attrs else {
        return Ok(None);
    };
    let mut found = attrs.iter().filter(|a| a.oid == id);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || attr.values.len() != 1 {
        // RFC 5652 §11: these attributes occur once with exactly one value.
        return fail(
            Reason::Malformed,
            format!("signed attribute {id} must have exactly one value"),
        );
    }
    Ok(attr.values.iter().next())
}

pub(crate) fn check_signature(
    verifier: &Verifier,
    key: &spki::SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    digest: Option<&AlgorithmIdentifierOwned>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), AlgorithmError> {
    let mut last = AlgorithmError::Unsupported(algorithm.oid.to_string());
    for suite in &verifier.suites {
        match suite.verify(key, algorithm, digest, message, signature) {
            Err(e @ AlgorithmError::Unsupported(_)) => last = e,
            other => return other,
        }
    }
    Err(last)
}

fn digest(
    verifier: &Verifier,
    algorithm: &AlgorithmIdentifierOwned,
    data: &[u8],
) -> Result<Vec<u8>, Failure> {
    for suite in &verifier.suites {
        match suite.digest(algorithm, data) {
            Err(AlgorithmError::Unsupported(_)) => continue,
            Ok(d) => return Ok(d),
            Err(e) => return fail(Reason::Malformed, format!("digest {}: {e}", algorithm.oid)),
        }
    }
    fail(
        Reason::BadSignature,
        format!("unsupported digest algorithm {}", algorithm.oid),
    )
}

/// SHA-256 identifying one act of signing: the signer certificate and the bytes its signature
/// covers (the signed attributes, which hold the content's digest and the signing time, or
/// the content itself without them). Re-packing a message (attached or detached, other
/// certificates, another encoding of the signature value) keeps it; signing again at another
/// time changes it.
fn fingerprint(signer: &Certificate, signed_message: &[u8]) -> Result<[u8; 32], Failure> {
    let certificate = signer
        .to_der()
        .or_else(|e| fail(Reason::Malformed, format!("the signer certificate: {e}")))?;
    Ok(Sha256::new()
        .chain_update(Sha256::digest(certificate))
        .chain_update(signed_message)
        .finalize()
        .into())
}

/// The checks in order; on success the content and the signature's fingerprint.
fn run(
    verifier: &Verifier,
    request: &Request<'_>,
    progress: &mut Progress,
) -> Result<(Vec<u8>, [u8; 32]), Failure> {
    let sd = parse(request.signature)?;
    let signer_info = match sd.signer_infos.0.as_slice() {
        [one] => one,
        [] => return fail(Reason::Malformed, "the message has no signer"),
        many => {
            return fail(
                Reason::Malformed,
                format!("{} signers; one was expected", many.len()),
            );
        }
    };

    // Content: attached, detached, or both (then they must agree).
    let content = match (encapsulated_content(&sd)?, request.content) {
        (Some(attached), Some(given)) if attached != given => {
            return fail(
                Reason::ContentMismatch,
                "the signed content differs from the content given",
            );
        }
        (Some(attached), _) => attached,
        (None, Some(given)) => given.to_vec(),
        (None, None) => {
            return fail(
                Reason::ContentMismatch,
                "a detached signature needs the signed content",
            );
        }
    };

    let mut pool = message_certificates(&sd);
    pool.extend(verifier.trust.intermediates().iter().cloned());
    let Some(signer_cert) = find_signer(&signer_info.sid, &pool).cloned() else {
        return fail(
            Reason::UntrustedChain,
            "the signer certificate is neither in the message nor configured",
        );
    };
    progress.signer = Some(signer_details(&signer_cert));

    // Signed attributes (RFC 5652 §5.4): the signature covers them, and they bind the content
    // through its digest.
    let signed_message = match &signer_info.signed_attrs {
        Some(attrs) => {
            match single_attribute(signer_info, oid::CONTENT_TYPE)? {
                Some(v) => {
                    let ct = v.decode_as::<ObjectIdentifier>().or_else(|e| {
                        fail(Reason::Malformed, format!("content-type attribute: {e}"))
                    })?;
                    if ct != sd.encap_content_info.econtent_type {
                        return fail(
                            Reason::ContentMismatch,
                            "the content-type attribute differs from the content's type",
                        );
                    }
                }
                None => return fail(Reason::Malformed, "signed attributes without content-type"),
            }
            let expected = match single_attribute(signer_info, oid::MESSAGE_DIGEST)? {
                Some(v) => v.decode_as::<OctetString>().or_else(|e| {
                    fail(Reason::Malformed, format!("message-digest attribute: {e}"))
                })?,
                None => {
                    return fail(
                        Reason::Malformed,
                        "signed attributes without message-digest",
                    );
                }
            };
            if let Some(v) = single_attribute(signer_info, oid::SIGNING_TIME)? {
                let t = v
                    .to_der()
                    .and_then(|d| Time::from_der(&d))
                    .or_else(|e| fail(Reason::Malformed, format!("signing-time attribute: {e}")))?;
                progress.signing_time = Some(to_datetime(t));
            }
            if digest(verifier, &signer_info.digest_alg, &content)? != expected.as_bytes() {
                return fail(
                    Reason::ContentMismatch,
                    "the content's digest differs from the signed message-digest",
                );
            }
            // The signature is over the attributes' DER as an explicit SET OF (tag 0x31), not
            // over the [0] IMPLICIT form they are stored in; decoding sorted them into DER order.
            attrs
                .to_der()
                .or_else(|e| fail(Reason::Malformed, format!("signed attributes: {e}")))?
        }
        None => {
            if sd.encap_content_info.econtent_type != oid::DATA {
                return fail(
                    Reason::Malformed,
                    "content other than id-data needs signed attributes",
                );
            }
            content.clone()
        }
    };

    match check_signature(
        verifier,
        &signer_cert.tbs_certificate.subject_public_key_info,
        &signer_info.signature_algorithm,
        Some(&signer_info.digest_alg),
        &signed_message,
        signer_info.signature.as_bytes(),
    ) {
        Ok(()) => {}
        Err(AlgorithmError::Invalid) => {
            return fail(
                Reason::BadSignature,
                "the signature does not verify with the signer's key",
            );
        }
        Err(e) => {
            return fail(
                Reason::BadSignature,
                format!("the signature cannot be verified: {e}"),
            );
        }
    }

    let path = chain::build(verifier, &signer_cert, &pool)?;
    chain::check_validity(&path, progress.signing_time, request.at)?;
    progress.revocation = Some(chain::check_revocation(verifier, &path, request.at)?);
    chain::check_key_purpose(&signer_cert, request.purpose)?;

    if let Some(expected) = request.expected_iin {
        match certificate::subject_iin(&signer_cert) {
            Some(iin) if iin == expected => {}
            Some(_) => {
                return fail(
                    Reason::IinMismatch,
                    "the certificate's IIN is not the applicant's",
                );
            }
            None => return fail(Reason::IinMismatch, "the certificate carries no IIN"),
        }
    }
    Ok((content, fingerprint(&signer_cert, &signed_message)?))
}
