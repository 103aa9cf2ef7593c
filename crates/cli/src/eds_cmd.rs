//! `kezek eds verify`: check one electronic signature against the configured national CA
//! roots and CRLs, print the JSON verdict, exit 0 only when it is valid.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use kezek_domain::identity::Iin;
use kezek_eds::{
    KeyPurpose, Request, RevocationPolicy, TrustStore, UpdatableCrls, Verifier, decode,
};
use kezek_web::crl_distribution::{self, Fetched};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Args)]
pub struct EdsArgs {
    #[command(subcommand)]
    command: EdsCommand,
}

#[derive(Subcommand)]
enum EdsCommand {
    /// Verify a CMS/PKCS#7 signature (DER, PEM or base64); prints a JSON verdict and exits
    /// 0 only when the signature is valid.
    Verify(VerifyArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum CrlPolicyArg {
    /// A certificate whose issuer has no current CRL makes the signature invalid.
    Require,
    /// Accept it, reporting `"revocation": "unknown"` in the verdict.
    AllowMissing,
}

#[derive(Clone, Copy, ValueEnum)]
enum PurposeArg {
    /// Signing a document or application (EKU emailProtection).
    Signing,
    /// Logging in with a signed challenge (EKU clientAuth).
    Login,
}

#[derive(Args)]
struct VerifyArgs {
    /// Folder of trusted root certificates (DER or PEM, e.g. the national CA's .cer files).
    #[arg(long, value_name = "DIR")]
    roots: PathBuf,
    /// Folder of intermediate certificates used when the signature does not carry them.
    #[arg(long, value_name = "DIR")]
    intermediates: Option<PathBuf>,
    /// A CRL file (DER or PEM); repeat for each issuer, base and delta.
    #[arg(long = "crl", value_name = "FILE")]
    crls: Vec<PathBuf>,
    /// A CRL distribution point (http://, DER or PEM), fetched once; repeat for each. A CRL
    /// is used only if signed by a certificate of --roots or --intermediates; one that cannot
    /// be fetched or is refused is reported on stderr and --crl-policy decides.
    #[arg(long = "crl-url", value_name = "URL")]
    crl_urls: Vec<String>,
    /// Timeout of each --crl-url fetch, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    crl_timeout_secs: u64,
    /// The IIN the signer must have.
    #[arg(long)]
    iin: Option<String>,
    /// Verification time, YYYY-MM-DDTHH:MM:SSZ (default: now).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The signed content: required for a detached signature; for an attached one it must
    /// equal the content inside.
    #[arg(long, value_name = "FILE")]
    content: Option<PathBuf>,
    /// What to do when a certificate's issuer has no current CRL.
    #[arg(long, value_enum, default_value = "require")]
    crl_policy: CrlPolicyArg,
    /// What the signer's key must be meant for.
    #[arg(long, value_enum, default_value = "signing")]
    purpose: PurposeArg,
    /// The signature file (.cms, .p7s, .sig).
    signature: PathBuf,
}

pub fn run(args: EdsArgs) -> anyhow::Result<()> {
    match args.command {
        EdsCommand::Verify(args) => {
            if !verify(args)? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Returns whether the signature is valid; configuration problems are errors.
fn verify(args: VerifyArgs) -> anyhow::Result<bool> {
    let roots = decode::certificates_in(&args.roots)?;
    if roots.is_empty() {
        bail!("no certificates in {}", args.roots.display());
    }
    let intermediates = match &args.intermediates {
        Some(dir) => decode::certificates_in(dir)?,
        None => Vec::new(),
    };
    let mut crls = Vec::new();
    for path in &args.crls {
        crls.extend(decode::crls_in(path)?);
    }
    let expected_iin = match &args.iin {
        Some(s) => Some(Iin::parse(s).map_err(|e| anyhow::anyhow!("--iin: {e}"))?),
        None => None,
    };
    let at = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .with_context(|| format!("--at {s}: expected YYYY-MM-DDTHH:MM:SSZ"))?,
        None => OffsetDateTime::now_utc(),
    };
    let crl_urls = args
        .crl_urls
        .iter()
        .map(|u| {
            crl_distribution::check_url(u)
                .map_err(|_| anyhow::anyhow!("--crl-url {u}: must be an http:// URL with a host"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let content = args.content.as_deref().map(read).transpose()?;
    let signature = read(&args.signature)?;

    let policy = match args.crl_policy {
        CrlPolicyArg::Require => RevocationPolicy::RequireCurrentCrl,
        CrlPolicyArg::AllowMissing => RevocationPolicy::AllowUnknown,
    };
    let purpose = match args.purpose {
        PurposeArg::Signing => KeyPurpose::Signing,
        PurposeArg::Login => KeyPurpose::Login,
    };
    let trust = TrustStore::new(roots, intermediates)?;
    let crls = Arc::new(UpdatableCrls::new(crls));
    let verifier = Arc::new(Verifier::new(trust, crls.clone(), policy));
    if !crl_urls.is_empty() {
        fetch_crls(
            &verifier,
            &crls,
            &crl_urls,
            Duration::from_secs(args.crl_timeout_secs),
        )?;
    }
    let verdict = verifier.verify(&Request {
        signature: &signature,
        content: content.as_deref(),
        expected_iin,
        purpose,
        at,
    });
    println!("{}", serde_json::to_string_pretty(&verdict)?);
    Ok(verdict.is_valid())
}

/// Fetches each distribution point once, as the server does, and holds the CRLs the verifier
/// takes; one it cannot fetch or refuses is reported, and the revocation policy decides.
fn fetch_crls(
    verifier: &Arc<Verifier>,
    crls: &Arc<UpdatableCrls>,
    urls: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crl_distribution::client(timeout);
        for url in urls {
            match crl_distribution::fetch_and_hold(&client, timeout, verifier, crls, url).await {
                Ok(Fetched::Newer { crl, .. }) => eprintln!(
                    "CRL of {} from {url}: thisUpdate {}, nextUpdate {}",
                    crl.issuer(),
                    crl.this_update(),
                    crl.next_update()
                        .map_or_else(|| "none".to_owned(), |t| t.to_string())
                ),
                Ok(Fetched::Unchanged) => {}
                Err(e) => eprintln!("warning: no CRL from {url}: {e}"),
            }
        }
    });
    Ok(())
}
