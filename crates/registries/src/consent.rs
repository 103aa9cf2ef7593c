//! Recording consents to use protected personal data (002 §10, 000 R1 §12): written in the
//! caller's write transaction — normally the one that takes in the application — with an audit
//! entry, so an application and the consent it relies on are committed together.

use kezek_store::{AuditRecord, NewConsent, StoreError, WriteTx};

/// Records a consent given now, with its audit entry; returns its id.
pub async fn record(tx: &mut WriteTx, consent: &NewConsent<'_>) -> Result<i64, StoreError> {
    let id = tx.insert_consent(consent).await?;
    tx.audit(AuditRecord {
        action: "consent.given",
        object_type: "consent",
        object_id: id.to_string(),
        organization_id: None,
        // The channel, scope and operator only: the IINs stay in the consents table.
        details: serde_json::json!({
            "channel": consent.channel.as_str(),
            "scope": consent.scope,
            "operator_user_id": match consent.channel {
                kezek_store::ConsentChannel::StateCorporation { operator_user_id } => Some(operator_user_id),
                _ => None,
            },
        }),
    })
    .await?;
    Ok(id)
}

/// Revokes a consent now, with its audit entry; returns whether an unrevoked one was there.
/// Requests already made stay recorded; no new request may rely on it.
pub async fn revoke(tx: &mut WriteTx, id: i64) -> Result<bool, StoreError> {
    let revoked = tx.revoke_consent(id).await?;
    if revoked {
        tx.audit(AuditRecord {
            action: "consent.revoked",
            object_type: "consent",
            object_id: id.to_string(),
            organization_id: None,
            details: serde_json::json!({}),
        })
        .await?;
    }
    Ok(revoked)
}
