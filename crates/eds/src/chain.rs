//! Certification path: building it to a configured root, then validity, revocation and the
//! signer's key purpose (RFC 5280 §6, reduced to what the national CA's hierarchy needs).

use der::Encode;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::certificate::{self, oid, to_datetime};
use crate::signed_data::{Failure, check_signature, fail};
use crate::verdict::{Reason, RevocationStatus};
use crate::{KeyPurpose, RevocationPolicy, Verifier};

/// NCA's hierarchy is root → intermediate → user; anything much deeper is refused rather
/// than searched.
const MAX_PATH_LEN: usize = 8;

/// Certificate signatures checked while searching for a path. A message can carry many
/// certificates with the same subject; without a bound, backtracking over them would let a
/// crafted message cost exponential time.
const SIGNATURE_BUDGET: u32 = 32;

fn describe(c: &Certificate) -> String {
    format!(
        "{} (serial {})",
        c.tbs_certificate.subject,
        certificate::serial_hex(c)
    )
}

/// Remembered certificate signatures; beyond this many the memory is simply cleared.
const MAX_REMEMBERED: usize = 10_000;

/// `issued` was signed with `issuer`'s key. Successes are remembered under a digest of the
/// issuer's key and the whole issued certificate (which includes its signature), so a hit
/// proves the same check passed before.
fn signed_by(verifier: &Verifier, issued: &Certificate, issuer: &Certificate) -> bool {
    if issued.signature_algorithm != issued.tbs_certificate.signature {
        return false;
    }
    let key = &issuer.tbs_certificate.subject_public_key_info;
    let memo_key: Option<[u8; 32]> = match (key.to_der(), issued.to_der()) {
        (Ok(k), Ok(c)) => Some(
            Sha256::new()
                .chain_update(&k)
                .chain_update(&c)
                .finalize()
                .into(),
        ),
        _ => None,
    };
    if let Some(m) = &memo_key
        && verifier
            .verified_certificates
            .lock()
            .map(|set| set.contains(m))
            .unwrap_or(false)
    {
        return true;
    }
    let Ok(tbs) = issued.tbs_certificate.to_der() else {
        return false;
    };
    let Some(signature) = issued.signature.as_bytes() else {
        return false;
    };
    let ok = check_signature(
        verifier,
        key,
        &issued.signature_algorithm,
        None,
        &tbs,
        signature,
    )
    .is_ok();
    if ok
        && let Some(m) = memo_key
        && let Ok(mut set) = verifier.verified_certificates.lock()
    {
        if set.len() >= MAX_REMEMBERED {
            set.clear();
        }
        set.insert(m);
    }
    ok
}

/// `ca` may issue certificates with `below` CA certificates under it (RFC 5280 §4.2.1.9/.3).
fn may_issue(ca: &Certificate, below: usize) -> Result<(), String> {
    match certificate::basic_constraints(ca) {
        Ok(Some(bc)) if bc.ca => {
            if let Some(limit) = bc.path_len_constraint
                && usize::from(limit) < below
            {
                return Err(format!(
                    "{} allows {limit} CA certificates below it",
                    describe(ca)
                ));
            }
        }
        Ok(_) => return Err(format!("{} is not a CA certificate", describe(ca))),
        Err(e) => {
            return Err(format!(
                "{}: unreadable basic constraints: {e}",
                describe(ca)
            ));
        }
    }
    match certificate::key_usage(ca) {
        Ok(Some(ku)) if !ku.key_cert_sign() => {
            Err(format!("{} may not sign certificates", describe(ca)))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{}: unreadable key usage: {e}", describe(ca))),
    }
}

fn extend(
    verifier: &Verifier,
    path: &mut Vec<Certificate>,
    pool: &[Certificate],
    note: &mut String,
    budget: &mut u32,
) -> bool {
    let Some(current) = path.last().cloned() else {
        return false;
    };
    if path.len() > MAX_PATH_LEN {
        *note = "the certification path is too long".into();
        return false;
    }
    let aki = certificate::authority_key_id(&current);
    let roots = verifier.trust.roots().iter().map(|c| (c, true));
    let others = pool.iter().map(|c| (c, false));
    for (candidate, is_root) in roots.chain(others) {
        if candidate.tbs_certificate.subject != current.tbs_certificate.issuer
            || path.contains(candidate)
        {
            continue;
        }
        if let (Some(a), Some(s)) = (&aki, certificate::subject_key_id(candidate))
            && *a != s
        {
            continue;
        }
        // The certificates between `candidate` and the signer: all but the signer itself.
        if let Err(why) = may_issue(candidate, path.len() - 1) {
            *note = why;
            continue;
        }
        if *budget == 0 {
            *note = "too many candidate issuer certificates".into();
            return false;
        }
        *budget -= 1;
        if !signed_by(verifier, &current, candidate) {
            *note = format!(
                "the signature on {} by {} does not verify",
                describe(&current),
                describe(candidate)
            );
            continue;
        }
        path.push(candidate.clone());
        if is_root || extend(verifier, path, pool, note, budget) {
            return true;
        }
        path.pop();
    }
    false
}

/// The path from `signer` to a configured root (signer first, root last), every signature
/// on it verified.
pub(crate) fn build(
    verifier: &Verifier,
    signer: &Certificate,
    pool: &[Certificate],
) -> Result<Vec<Certificate>, Failure> {
    let mut path = vec![signer.clone()];
    let mut note = format!(
        "no issuer certificate for {} among the configured ones",
        describe(signer)
    );
    let mut budget = SIGNATURE_BUDGET;
    let anchored = verifier.trust.roots().contains(signer)
        || extend(verifier, &mut path, pool, &mut note, &mut budget);
    if !anchored {
        return fail(Reason::UntrustedChain, note);
    }
    if let Some((c, ext)) = path
        .iter()
        .find_map(|c| certificate::unknown_critical_extension(c).map(|e| (c, e)))
    {
        return fail(
            Reason::UntrustedChain,
            format!(
                "{} has a critical extension {ext} this verifier does not process",
                describe(c)
            ),
        );
    }
    Ok(path)
}

/// Every certificate of the path is valid at signing time (when the signer stated it) and at
/// verification time.
pub(crate) fn check_validity(
    path: &[Certificate],
    signing_time: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> Result<(), Failure> {
    let moments = signing_time
        .map(|t| (t, "at signing time"))
        .into_iter()
        .chain([(at, "at verification time")]);
    for (t, when) in moments {
        for c in path {
            if t < certificate::not_before(c) {
                return fail(
                    Reason::NotYetValid,
                    format!("{} was not yet valid {when}", describe(c)),
                );
            }
            if t > certificate::not_after(c) {
                return fail(
                    Reason::Expired,
                    format!("{} had expired {when}", describe(c)),
                );
            }
        }
    }
    Ok(())
}

/// Every certificate below the root is absent from its issuer's CRLs (base and delta: all
/// CRLs with a valid signature count), and at least one of them is current at `at`.
pub(crate) fn check_revocation(
    verifier: &Verifier,
    path: &[Certificate],
    at: OffsetDateTime,
) -> Result<RevocationStatus, Failure> {
    let mut status = RevocationStatus::Good;
    for pair in path.windows(2) {
        let [cert, issuer] = pair else { continue };
        let (crls, mut why_unknown) = match verifier.crls.crls_for(cert, issuer) {
            Ok(crls) => (
                crls,
                format!("no CRL from {}", issuer.tbs_certificate.subject),
            ),
            Err(e) => (Vec::new(), e.to_string()),
        };
        let issuer_may_sign_crls =
            !matches!(certificate::key_usage(issuer), Ok(Some(ku)) if !ku.crl_sign());
        let mut current = false;
        let issuer_key = &issuer.tbs_certificate.subject_public_key_info;
        let key_digest = crate::crl::Crl::issuer_key_digest(issuer_key);
        for crl in &crls {
            let tbs = &crl.list().tbs_cert_list;
            if tbs.issuer != issuer.tbs_certificate.subject {
                continue;
            }
            let genuine = issuer_may_sign_crls
                && crl.list().signature_algorithm == tbs.signature
                && match (&key_digest, crl.list().signature.as_bytes()) {
                    (Some(digest), _) if crl.known_signed_by(digest) => true,
                    (Some(digest), Some(sig)) => {
                        let ok = check_signature(
                            verifier,
                            issuer_key,
                            &crl.list().signature_algorithm,
                            None,
                            crl.tbs_der(),
                            sig,
                        )
                        .is_ok();
                        if ok {
                            crl.remember_signed_by(*digest);
                        }
                        ok
                    }
                    _ => false,
                };
            if !genuine {
                why_unknown = format!(
                    "a CRL naming {} as issuer has a bad signature",
                    issuer.tbs_certificate.subject
                );
                continue;
            }
            if let Some(date) = crl.revoked_on(cert.tbs_certificate.serial_number.as_bytes()) {
                return fail(
                    Reason::Revoked,
                    format!("{} was revoked on {date}", describe(cert)),
                );
            }
            let this_update = to_datetime(tbs.this_update);
            match tbs.next_update.map(to_datetime) {
                Some(next) if this_update <= at && at < next => current = true,
                Some(next) if at >= next => {
                    why_unknown = format!(
                        "the CRL of {} is stale since {next}",
                        issuer.tbs_certificate.subject
                    )
                }
                Some(_) => {
                    why_unknown = format!(
                        "the CRL of {} is not yet in force",
                        issuer.tbs_certificate.subject
                    )
                }
                None => {
                    why_unknown = format!(
                        "the CRL of {} has no nextUpdate",
                        issuer.tbs_certificate.subject
                    )
                }
            }
        }
        if !current {
            match verifier.policy {
                RevocationPolicy::RequireCurrentCrl => {
                    return fail(
                        Reason::UntrustedChain,
                        format!(
                            "revocation status of {} unknown: {why_unknown}",
                            describe(cert)
                        ),
                    );
                }
                RevocationPolicy::AllowUnknown => status = RevocationStatus::Unknown,
            }
        }
    }
    Ok(status)
}

/// The signer's key is meant for `purpose`: key usage digitalSignature and the purpose's EKU.
pub(crate) fn check_key_purpose(signer: &Certificate, purpose: KeyPurpose) -> Result<(), Failure> {
    let (eku_oid, eku_name) = match purpose {
        KeyPurpose::Signing => (oid::KP_EMAIL_PROTECTION, "emailProtection (signing)"),
        KeyPurpose::Login => (oid::KP_CLIENT_AUTH, "clientAuth (authentication)"),
    };
    match certificate::key_usage(signer) {
        Ok(Some(ku)) if ku.digital_signature() => {}
        Ok(Some(_)) => {
            return fail(
                Reason::WrongKeyUsage,
                "the key usage lacks digitalSignature",
            );
        }
        Ok(None) => {
            return fail(
                Reason::WrongKeyUsage,
                "the certificate has no key usage extension",
            );
        }
        Err(e) => return fail(Reason::WrongKeyUsage, format!("unreadable key usage: {e}")),
    }
    match certificate::extended_key_usage(signer) {
        Ok(Some(eku)) if eku.0.contains(&eku_oid) => Ok(()),
        Ok(_) => fail(
            Reason::WrongKeyUsage,
            format!("the certificate is not for {eku_name}"),
        ),
        Err(e) => fail(
            Reason::WrongKeyUsage,
            format!("unreadable extended key usage: {e}"),
        ),
    }
}
