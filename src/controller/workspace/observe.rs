//! What a workspace's safeguards are in Azure: the vault, the Log Analytics workspace, the
//! network and the audit archive must exist (in the workspace's region), and are read.

use serde_json::json;

use crate::api::HipaaWorkspace;
use crate::api::common::condition::Failed;
use crate::azure::resources::{self, ArmResource, GET_LOG_ANALYTICS, GET_SUBNET, GET_VAULT};
use crate::azure::{AzureClient, AzureError};
use crate::controller::pipeline::Failure;
use crate::controls::workspace::{
    GET_CONTAINER, GET_IMMUTABILITY, GET_TABLE, Reaching, WorkspaceExpectations,
    WorkspaceObservation,
};

fn not_found(what: &str, id: &str, field: &str) -> Failure {
    Failure::new(
        Failed::ResourceNotFound,
        format!(
            "{what} {id} does not exist, or the operator's identity cannot see it: fix {field}"
        ),
    )
}

async fn must_exist(
    azure: &AzureClient,
    op: &crate::azure::types::ArmOp,
    id: &str,
    what: &str,
    field: &str,
) -> Result<ArmResource, Failure> {
    azure
        .get_resource(op, id)
        .await?
        .ok_or_else(|| not_found(what, id, field))
}

/// Regions compare without case and spaces (`East US 2` is `eastus2`).
fn region(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub(super) async fn observe(
    ws: &HipaaWorkspace,
    azure: &AzureClient,
    expect: &WorkspaceExpectations,
    role_settle: std::time::Duration,
) -> Result<(WorkspaceObservation, String), Failure> {
    let spec = &ws.spec;
    let vault = must_exist(
        azure,
        &GET_VAULT,
        &expect.vault_id,
        "Key Vault",
        "spec.keyVault.resourceId",
    )
    .await?;
    let law = must_exist(
        azure,
        &GET_LOG_ANALYTICS,
        &expect.log_analytics_id,
        "Log Analytics workspace",
        "spec.logAnalytics.resourceId",
    )
    .await?;
    let mut placed = vec![
        (
            "Key Vault",
            "spec.keyVault.resourceId",
            vault.location.clone(),
        ),
        (
            "Log Analytics workspace",
            "spec.logAnalytics.resourceId",
            law.location.clone(),
        ),
    ];
    if let Some(networking) = &spec.private_networking {
        must_exist(
            azure,
            &GET_SUBNET,
            &networking.subnet_id,
            "subnet",
            "spec.privateNetworking.subnetId",
        )
        .await?;
        let vnet_id = networking
            .subnet_id
            .split("/subnets/")
            .next()
            .unwrap_or_default()
            .to_string();
        let vnet = must_exist(
            azure,
            &resources::GET_VNET,
            &vnet_id,
            "virtual network",
            "spec.privateNetworking.subnetId",
        )
        .await?;
        placed.push((
            "subnet's virtual network",
            "spec.privateNetworking.subnetId",
            vnet.location,
        ));
    }
    if let Some(want) = &spec.location {
        for (what, field, found) in &placed {
            if let Some(found) = found
                && region(found) != region(want)
            {
                return Err(Failure::new(
                    Failed::InvalidSpec,
                    format!(
                        "the {what} is in {found} but the workspace's spec.location is {want}: private endpoints, keys and logs of PHI stay in the workspace's region; fix {field} or spec.location"
                    ),
                ));
            }
        }
    }
    let location = spec
        .location
        .clone()
        .or(vault.location.clone())
        .unwrap_or_default();
    let settings = |id: String| async move {
        match azure.list_diagnostic_settings(&id).await {
            Ok(s) => Ok(s),
            Err(AzureError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(Failure::from(e)),
        }
    };
    let vault_diagnostics = settings(expect.vault_id.clone()).await?;
    let vault_endpoints =
        crate::controller::observe::endpoints(azure, &json!({ "properties": vault.properties }))
            .await?;
    let vault_role_holders =
        if crate::controls::keyvault::VaultObservation::needs_role_holders(&expect.vault(), &vault)
        {
            Some(
                crate::controller::observe::role_holders(azure, &expect.vault_id, role_settle)
                    .await?,
            )
        } else {
            None
        };
    let log_analytics_diagnostics = settings(expect.log_analytics_id.clone()).await?;
    let mut tables = std::collections::BTreeMap::new();
    for table in &expect.audit_tables {
        let id = format!("{}/tables/{table}", expect.log_analytics_id);
        tables.insert(table.clone(), azure.get_resource(&GET_TABLE, &id).await?);
    }
    let log_analytics_access = reaching(azure, &expect.log_analytics_id).await;
    let log_analytics_locks = azure
        .locks_applying(&expect.log_analytics_id)
        .await
        .map_err(|e| e.to_string());
    // One page: `DataExports_ListByWorkspace` is not pageable (no nextLink in the spec).
    #[derive(serde::Deserialize)]
    struct Exports {
        #[serde(default)]
        value: Vec<ArmResource>,
    }
    let data_exports = azure
        .get::<Exports>(
            &crate::controls::workspace::LIST_DATA_EXPORTS,
            &format!("{}/dataExports", expect.log_analytics_id),
        )
        .await
        .map(|page| page.value)
        .map_err(|e| e.to_string());
    let operator_principal = azure.principal_object_id().await.map_err(|e| e.to_string());
    let vault_defender = match &expect.vault_defender {
        Some(e) => Some(crate::controller::observe::defender_plan(azure, e).await),
        None => None,
    };
    let (archive_container, archive_policy) = match &expect.archive {
        None => (None, None),
        Some(archive) => {
            azure
                .get_storage_account(&archive.account_id)
                .await
                .map_err(|e| match e {
                    AzureError::NotFound { .. } => not_found(
                        "audit archive storage account",
                        &archive.account_id,
                        "spec.auditArchive.storageAccountId",
                    ),
                    e => e.into(),
                })?;
            let container = azure
                .get_resource(&GET_CONTAINER, &archive.container_id())
                .await?;
            let policy = match container {
                Some(_) => azure
                    .get_resource(&GET_IMMUTABILITY, &archive.policy_id())
                    .await?
                    // An unset policy reads back as an empty one with no period.
                    .filter(|p| {
                        p.properties
                            .get("immutabilityPeriodSinceCreationInDays")
                            .is_some()
                    }),
                None => None,
            };
            (container, policy)
        }
    };
    Ok((
        WorkspaceObservation {
            vault,
            vault_diagnostics,
            vault_endpoints,
            vault_role_holders,
            log_analytics: law,
            log_analytics_diagnostics,
            tables,
            log_analytics_access,
            log_analytics_locks,
            archive_container,
            archive_policy,
            data_exports,
            operator_principal,
            vault_defender,
        },
        location,
    ))
}

/// The role assignments that reach `scope` (at it and inherited), with their roles.
async fn reaching(azure: &AzureClient, scope: &str) -> Result<Vec<Reaching>, String> {
    Ok(azure
        .role_assignments_reaching(scope)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(a, role)| Reaching {
            principal_id: a.properties.principal_id,
            scope: a.properties.scope.unwrap_or_default(),
            role,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_compare_without_case_or_spaces() {
        assert_eq!(region("East US 2"), region("eastus2"));
        assert_ne!(region("westus"), region("eastus2"));
    }
}
