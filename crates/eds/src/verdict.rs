//! The outcome of verifying one signature: valid, or invalid with exactly one reason code.

use kezek_domain::identity::{Bin, Iin};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a signature was not accepted. The codes are stable: they are stored with applications
/// and shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not a CMS SignedData we can read (garbage, truncated, wrong structure).
    Malformed,
    /// A signature (of the message, a certificate or a CRL) does not verify, or uses an
    /// algorithm this verifier does not support.
    BadSignature,
    /// No chain to a configured root, a CA certificate that may not issue certificates, or a
    /// revocation status that could not be established under a policy that requires it.
    UntrustedChain,
    /// A certificate of the chain had expired at signing time or at verification time.
    Expired,
    /// A certificate of the chain was not yet valid at signing time or at verification time.
    NotYetValid,
    /// A certificate of the chain is listed on its issuer's revocation list.
    Revoked,
    /// The signer certificate is not meant for this purpose (key usage / extended key usage).
    WrongKeyUsage,
    /// The IIN in the certificate is not the IIN of the person the request is for.
    IinMismatch,
    /// The signed content is not the content presented (digest, content type, detached data).
    ContentMismatch,
}

impl Reason {
    /// The reason code as written in JSON and stored with applications.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::BadSignature => "bad_signature",
            Reason::UntrustedChain => "untrusted_chain",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Revoked => "revoked",
            Reason::WrongKeyUsage => "wrong_key_usage",
            Reason::IinMismatch => "iin_mismatch",
            Reason::ContentMismatch => "content_mismatch",
        }
    }
}

/// Whether the revocation status of the chain was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationStatus {
    /// Every certificate below the root was checked against a current CRL of its issuer.
    Good,
    /// Some certificate had no current CRL and the policy allowed that; the verdict says so
    /// rather than pretending the check happened.
    Unknown,
}

/// Who signed: what the signer certificate says.
#[derive(Clone, PartialEq, Eq)]
pub struct Signer {
    pub(crate) iin: Option<Iin>,
    pub(crate) bin: Option<Bin>,
    pub(crate) subject: String,
    pub(crate) serial: String,
    pub(crate) issuer: String,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
}

impl Signer {
    /// The IIN from the subject's serialNumber (`IIN` + 12 digits), if it carries a valid one.
    pub fn iin(&self) -> Option<Iin> {
        self.iin
    }
    /// The organisation's BIN from the subject's OU (`BIN` + 12 digits), for legal entities.
    pub fn bin(&self) -> Option<Bin> {
        self.bin
    }
    /// The subject name in RFC 4514 form. Personal data: do not log.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// The certificate serial number, upper-case hex.
    pub fn serial(&self) -> &str {
        &self.serial
    }
    /// The issuer name in RFC 4514 form.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Masked: the subject holds a name and the IIN.
impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("iin", &self.iin)
            .field("bin", &self.bin)
            .field("serial", &self.serial)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Valid,
    Invalid { reason: Reason, detail: String },
}

/// The verdict on one signature. Built only by the verifier, so a valid verdict always means
/// every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    outcome: Outcome,
    signer: Option<Signer>,
    signing_time: Option<OffsetDateTime>,
    checked_at: OffsetDateTime,
    revocation: Option<RevocationStatus>,
    content: Option<Vec<u8>>,
    fingerprint: Option<[u8; 32]>,
}

impl Verdict {
    pub(crate) fn valid(
        signer: Signer,
        signing_time: Option<OffsetDateTime>,
        checked_at: OffsetDateTime,
        revocation: RevocationStatus,
        content: Vec<u8>,
        fingerprint: [u8; 32],
    ) -> Self {
        Verdict {
            outcome: Outcome::Valid,
            signer: Some(signer),
            signing_time,
            checked_at,
            revocation: Some(revocation),
            content: Some(content),
            fingerprint: Some(fingerprint),
        }
    }

    pub(crate) fn invalid(
        reason: Reason,
        detail: String,
        signer: Option<Signer>,
        signing_time: Option<OffsetDateTime>,
        checked_at: OffsetDateTime,
        revocation: Option<RevocationStatus>,
    ) -> Self {
        Verdict {
            outcome: Outcome::Invalid { reason, detail },
            signer,
            signing_time,
            checked_at,
            revocation,
            content: None,
            fingerprint: None,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.outcome == Outcome::Valid
    }

    /// The reason code of an invalid signature; `None` when valid.
    pub fn reason(&self) -> Option<Reason> {
        match &self.outcome {
            Outcome::Valid => None,
            Outcome::Invalid { reason, .. } => Some(*reason),
        }
    }

    /// A sentence for operators saying what exactly failed; `None` when valid.
    pub fn detail(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Valid => None,
            Outcome::Invalid { detail, .. } => Some(detail),
        }
    }

    /// The signer, when the signer certificate was found (also for most invalid verdicts).
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// The signing-time attribute, if the signer included one (it is the signer's claim).
    pub fn signing_time(&self) -> Option<OffsetDateTime> {
        self.signing_time
    }

    pub fn checked_at(&self) -> OffsetDateTime {
        self.checked_at
    }

    pub fn revocation(&self) -> Option<RevocationStatus> {
        self.revocation
    }

    /// The signed bytes (attached or the detached content given), only for a valid verdict.
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref()
    }

    /// SHA-256 identifying the act of signing, only for a valid verdict: the signer
    /// certificate and the bytes its signature covers (the signed attributes with the content's
    /// digest and the signing time, or the content without them). The same signature re-packed
    /// (attached or detached, other certificates in the message, the ECDSA value re-encoded)
    /// has the same fingerprint, so a server can refuse to take one signature twice.
    pub fn fingerprint(&self) -> Option<[u8; 32]> {
        self.fingerprint
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Every OffsetDateTime the verifier holds comes from X.509 times (years 1950-9999) or the
    // caller's clock, all of which RFC 3339 can represent; the fallback only guards the type.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[derive(Serialize)]
struct SignerView<'a> {
    iin: Option<String>,
    bin: Option<String>,
    subject: &'a str,
    serial: &'a str,
    issuer: &'a str,
    not_before: String,
    not_after: String,
}

#[derive(Serialize)]
struct VerdictView<'a> {
    valid: bool,
    reason: Option<Reason>,
    detail: Option<&'a str>,
    signer: Option<SignerView<'a>>,
    signing_time: Option<String>,
    checked_at: String,
    revocation: Option<RevocationStatus>,
}

/// The JSON form printed by `kezek eds verify` and stored with applications.
impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        VerdictView {
            valid: self.is_valid(),
            reason: self.reason(),
            detail: self.detail(),
            signer: self.signer.as_ref().map(|x| SignerView {
                iin: x.iin.map(|i| i.as_string()),
                bin: x.bin.map(|b| b.as_string()),
                subject: &x.subject,
                serial: &x.serial,
                issuer: &x.issuer,
                not_before: rfc3339(x.not_before),
                not_after: rfc3339(x.not_after),
            }),
            signing_time: self.signing_time.map(rfc3339),
            checked_at: rfc3339(self.checked_at),
            revocation: self.revocation,
        }
        .serialize(s)
    }
}
