//! Digest and signature algorithms, behind a trait so that a GOST R 34.10-2015 suite (the
//! national CA's GOST certificates, Kazakh OIDs 1.2.398.3.10.1...) can be added beside the
//! RustCrypto one without touching the CMS or chain logic.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rsa::RsaPublicKey;
use rsa::pkcs1::{DecodeRsaPublicKey, RsaPssParams};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

pub mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// NCA writes this as the signature algorithm of CMS signer infos; the hash is then the
    /// signer info's digest algorithm.
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const PRIME256V1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
}

/// Why an algorithm step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    /// This suite does not know the algorithm; another suite may.
    #[error("unsupported algorithm {0}")]
    Unsupported(String),
    #[error("unreadable public key: {0}")]
    BadKey(String),
    #[error("malformed algorithm parameters: {0}")]
    BadParameters(String),
    #[error("the signature does not verify")]
    Invalid,
}

/// A family of digest and signature algorithms. The verifier asks each configured suite in
/// turn and takes the first answer that is not [`AlgorithmError::Unsupported`].
pub trait AlgorithmSuite: Send + Sync {
    /// The digest of `data` under `algorithm`.
    fn digest(
        &self,
        algorithm: &AlgorithmIdentifierOwned,
        data: &[u8],
    ) -> Result<Vec<u8>, AlgorithmError>;

    /// Verifies `signature` over `message` with `key`. `digest` is the CMS signer info's
    /// digest algorithm, needed when the signature algorithm does not name its hash
    /// (`rsaEncryption`, as NCA writes it); it is `None` for certificates and CRLs.
    fn verify(
        &self,
        key: &SubjectPublicKeyInfoOwned,
        signature_algorithm: &AlgorithmIdentifierOwned,
        digest: Option<&AlgorithmIdentifierOwned>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AlgorithmError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            oid::SHA256 => Some(Hash::Sha256),
            oid::SHA384 => Some(Hash::Sha384),
            oid::SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// RSA (PKCS#1 v1.5 and PSS) and ECDSA P-256 with SHA-2, on the RustCrypto crates.
#[derive(Debug, Default, Clone, Copy)]
pub struct RustCryptoSuite;

enum Scheme {
    RsaPkcs1(Hash),
    RsaPss { hash: Hash, salt_len: usize },
    EcdsaP256(Hash),
}

fn unsupported(oid: &ObjectIdentifier) -> AlgorithmError {
    AlgorithmError::Unsupported(oid.to_string())
}

fn digest_hash(digest: Option<&AlgorithmIdentifierOwned>) -> Result<Hash, AlgorithmError> {
    match digest {
        Some(d) => Hash::from_oid(&d.oid).ok_or_else(|| unsupported(&d.oid)),
        None => Err(AlgorithmError::BadParameters(
            "a bare key algorithm as signature algorithm needs a digest algorithm".into(),
        )),
    }
}

fn pss_scheme(alg: &AlgorithmIdentifierOwned) -> Result<Scheme, AlgorithmError> {
    let bad = |e: der::Error| AlgorithmError::BadParameters(format!("RSASSA-PSS: {e}"));
    let params_der = match &alg.parameters {
        Some(p) => p.to_der().map_err(bad)?,
        None => {
            return Err(AlgorithmError::BadParameters(
                "RSASSA-PSS without parameters".into(),
            ));
        }
    };
    let params = RsaPssParams::from_der(&params_der).map_err(bad)?;
    let hash = Hash::from_oid(&params.hash.oid).ok_or_else(|| unsupported(&params.hash.oid))?;
    // rsa 0.9 uses the message hash for MGF1 too, so anything else is refused rather than
    // verified with the wrong mask.
    let mgf_hash = params.mask_gen.parameters.as_ref().map(|p| p.oid);
    if params.mask_gen.oid != oid::MGF1 || mgf_hash.and_then(|o| Hash::from_oid(&o)) != Some(hash) {
        return Err(AlgorithmError::Unsupported(
            "RSASSA-PSS with a different MGF hash".into(),
        ));
    }
    Ok(Scheme::RsaPss {
        hash,
        salt_len: usize::from(params.salt_len),
    })
}

fn scheme(
    alg: &AlgorithmIdentifierOwned,
    digest: Option<&AlgorithmIdentifierOwned>,
) -> Result<Scheme, AlgorithmError> {
    Ok(match alg.oid {
        oid::RSA_ENCRYPTION => Scheme::RsaPkcs1(digest_hash(digest)?),
        oid::SHA256_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha256),
        oid::SHA384_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha384),
        oid::SHA512_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha512),
        oid::RSASSA_PSS => pss_scheme(alg)?,
        oid::EC_PUBLIC_KEY => Scheme::EcdsaP256(digest_hash(digest)?),
        oid::ECDSA_SHA256 => Scheme::EcdsaP256(Hash::Sha256),
        oid::ECDSA_SHA384 => Scheme::EcdsaP256(Hash::Sha384),
        oid::ECDSA_SHA512 => Scheme::EcdsaP256(Hash::Sha512),
        other => return Err(unsupported(&other)),
    })
}

fn rsa_key(key: &SubjectPublicKeyInfoOwned) -> Result<RsaPublicKey, AlgorithmError> {
    if key.algorithm.oid != oid::RSA_ENCRYPTION && key.algorithm.oid != oid::RSASSA_PSS {
        return Err(AlgorithmError::BadKey(format!(
            "{} is not an RSA key",
            key.algorithm.oid
        )));
    }
    let bytes = key
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| AlgorithmError::BadKey("unused bits in the key".into()))?;
    RsaPublicKey::from_pkcs1_der(bytes).map_err(|e| AlgorithmError::BadKey(e.to_string()))
}

fn p256_key(key: &SubjectPublicKeyInfoOwned) -> Result<p256::ecdsa::VerifyingKey, AlgorithmError> {
    if key.algorithm.oid != oid::EC_PUBLIC_KEY {
        return Err(AlgorithmError::BadKey(format!(
            "{} is not an EC key",
            key.algorithm.oid
        )));
    }
    let curve = key
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if curve != Some(oid::PRIME256V1) {
        return Err(AlgorithmError::Unsupported(format!(
            "EC curve {}",
            curve.map_or_else(|| "(none)".to_string(), |c| c.to_string())
        )));
    }
    let bytes = key
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| AlgorithmError::BadKey("unused bits in the key".into()))?;
    p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
        .map_err(|e| AlgorithmError::BadKey(e.to_string()))
}

impl AlgorithmSuite for RustCryptoSuite {
    fn digest(
        &self,
        algorithm: &AlgorithmIdentifierOwned,
        data: &[u8],
    ) -> Result<Vec<u8>, AlgorithmError> {
        Hash::from_oid(&algorithm.oid)
            .map(|h| h.digest(data))
            .ok_or_else(|| unsupported(&algorithm.oid))
    }

    fn verify(
        &self,
        key: &SubjectPublicKeyInfoOwned,
        signature_algorithm: &AlgorithmIdentifierOwned,
        digest: Option<&AlgorithmIdentifierOwned>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AlgorithmError> {
        match scheme(signature_algorithm, digest)? {
            Scheme::RsaPkcs1(hash) => {
                let key = rsa_key(key)?;
                let hashed = hash.digest(message);
                let padding = match hash {
                    Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                key.verify(padding, &hashed, signature)
                    .map_err(|_| AlgorithmError::Invalid)
            }
            Scheme::RsaPss { hash, salt_len } => {
                let key = rsa_key(key)?;
                let hashed = hash.digest(message);
                let padding = match hash {
                    Hash::Sha256 => rsa::Pss::new_with_salt::<Sha256>(salt_len),
                    Hash::Sha384 => rsa::Pss::new_with_salt::<Sha384>(salt_len),
                    Hash::Sha512 => rsa::Pss::new_with_salt::<Sha512>(salt_len),
                };
                key.verify(padding, &hashed, signature)
                    .map_err(|_| AlgorithmError::Invalid)
            }
            Scheme::EcdsaP256(hash) => {
                let key = p256_key(key)?;
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| AlgorithmError::Invalid)?;
                key.verify_prehash(&hash.digest(message), &sig)
                    .map_err(|_| AlgorithmError::Invalid)
            }
        }
    }
}
