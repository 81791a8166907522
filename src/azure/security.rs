//! Microsoft Defender for Cloud plans (`Microsoft.Security/pricings`, api-version 2024-01-01).
//!
//! Defender for Storage, for Key Vault and for Azure Cosmos DB are subscription plans: Azure
//! takes a resource-level pricing only for virtual machines, scale sets and Arc machines
//! (Pricings_Get in `pricings.json` 2024-01-01), so a store's protection is its subscription's
//! `StorageAccounts`, `KeyVaults` or `CosmosDbs` plan.

use std::time::Duration;

use super::client::AzureClient;
use super::error::AzureError;
use super::id::{ArmId, IdError};
use super::resources::ArmResource;
use super::types::ArmOp;

/// How long one read of a subscription's plan serves the passes of its other stores.
pub const PLAN_READ_SERVES: Duration = Duration::from_secs(60);

pub const API_VERSION: &str = "2024-01-01";
const PROVIDER: &str = "Microsoft.Security";
/// `Pricings_Get`: GET `{scope}/providers/Microsoft.Security/pricings/{plan}`.
pub const GET_PRICING: ArmOp = ArmOp::new("Pricings_Get", PROVIDER, API_VERSION);
/// `Pricings_Update`: PUT `{scope}/providers/Microsoft.Security/pricings/{plan}`.
pub const PUT_PRICING: ArmOp = ArmOp::new("Pricings_Update", PROVIDER, API_VERSION);

/// The id of the Defender plan `plan` of the subscription `resource` lies in, built from the
/// parsed id: nothing in `resource` can steer it anywhere but that subscription's plan.
pub fn subscription_plan_id(resource: &str, plan: &str) -> Result<String, IdError> {
    let parsed = ArmId::parse(resource)?;
    let subscription = parsed
        .subscription()
        .ok_or_else(|| super::id::refuse(resource, "not under a subscription"))?;
    Ok(ArmId::parse(&format!("/subscriptions/{subscription}"))?
        .child("providers", Some(PROVIDER))?
        .child("pricings", Some(plan))?
        .as_str()
        .to_string())
}

impl AzureClient {
    /// The Defender plan `pricing_id`: as read by a pass of this principal within the last
    /// minute (plans are the subscription's: one read serves every store there), else read now.
    /// `None` when Azure has no such plan.
    pub async fn defender_plan(&self, pricing_id: &str) -> Result<Option<ArmResource>, AzureError> {
        if let Some(plan) = self
            .shared_read(pricing_id, PLAN_READ_SERVES)
            .and_then(|v| serde_json::from_value(v).ok())
        {
            return Ok(Some(plan));
        }
        let read = self.get_resource(&GET_PRICING, pricing_id).await?;
        if let Some(plan) = &read
            && let Ok(v) = serde_json::to_value(plan)
        {
            self.remember_shared(pricing_id, v);
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_id_is_the_subscriptions_whatever_the_resource() {
        assert_eq!(
            subscription_plan_id(
                "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
                "StorageAccounts"
            )
            .expect("id"),
            "/subscriptions/s1/providers/Microsoft.Security/pricings/StorageAccounts"
        );
        for bad in [
            "/providers/Microsoft.Storage/storageAccounts/a",
            "/subscriptions/s1/../s2/resourceGroups/rg",
            "not an id",
        ] {
            assert!(
                subscription_plan_id(bad, "StorageAccounts").is_err(),
                "{bad}"
            );
        }
    }
}
