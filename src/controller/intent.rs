//! A pass's plan: every write it will make, as data. Pure — building a [`WritePlan`] performs no
//! I/O; [`super::execute`] is the only code that turns intents into Azure calls or Kubernetes
//! objects, and it checks each one against the mode and the admin's grants first.
//!
//! Kinds plan in their own vocabulary ([`crate::controls::plan::Plan`] of ARM writes, the typed
//! storage plan, access removals, review cycles); the functions here translate each into the
//! intents, in the order they must be made: the key before anything points at it, private
//! endpoints before public access closes, the resource, then its diagnostic settings.

use crate::api::AccessReview;
use crate::api::HipaaWorkspace;
use crate::azure::cloud::PrivateDnsZones;
use crate::azure::id::{ArmId, RoleAssignmentId};
use crate::azure::insights::DesiredDiagnosticSetting;
use crate::azure::keyvault::RotationPolicy;
use crate::azure::network::DesiredPrivateEndpoint;
use crate::azure::storage::{BlobServiceProperties, FileServiceProperties, StorageAccountPatch};
use crate::controls::common::EndpointDns;
use crate::controls::plan::{ArmWrite, Plan, RoleGrant};

/// One write the operator will make.
#[derive(Clone, Debug)]
pub enum Intent {
    /// Keep the workspace key `name` in the vault `vault_id`: create it when missing, keep its
    /// rotation policy.
    EnsureKey {
        vault_id: String,
        name: String,
        kty: &'static str,
        bits: u32,
        policy: RotationPolicy,
        /// The pass has just read the vault and found no such key: it is created, and its
        /// policy set, without reading either again.
        seen_absent: bool,
    },
    /// A new version of the key now (it is older than the rotation cadence).
    RotateKey { vault_id: String, name: String },
    /// Give version `version` of the key an expiry (`exp`, seconds since the epoch).
    SetKeyExpiry {
        vault_id: String,
        name: String,
        version: String,
        exp: i64,
    },
    /// Keep the operator's private endpoint to a target.
    PrivateEndpoint(DesiredPrivateEndpoint),
    /// The typed writes of a storage account.
    Storage(Box<StorageWrites>),
    /// One ARM write planned by a kind's evaluator.
    Arm(ArmWrite),
    /// Keep a diagnostic setting under the operator's name. Planned only from the pass's own
    /// list of the resource's settings, which showed none that meets it: the executor PUTs it
    /// without reading it again (an idempotent PUT of the whole setting).
    Diagnostic(DesiredDiagnosticSetting),
    /// Give a principal the operator read from Azure a built-in role at a scope (a vault's
    /// access-policy holders before RBAC authorization switches on).
    GrantRole(RoleGrant),
    /// Remove a role assignment the operator listed itself (unreviewed or denied access).
    RemoveRoleAssignment(RoleAssignmentId),
    /// Remove the operator's private endpoint (cleanup); already gone is success.
    RemovePrivateEndpoint(String),
    /// Remove the operator's diagnostic setting on a resource (cleanup).
    RemoveDiagnosticSetting(String),
    /// Keep the HIPAA HITRUST initiative assigned at a scope.
    AssignPolicy {
        scope: String,
        name: String,
        location: String,
    },
    /// Create an AccessReview cycle (a Kubernetes object, not an Azure write).
    OpenCycle(Box<AccessReview>),
    /// Set the decisions of a cycle mirrored from Azure's own review to what Azure recorded.
    SetCycleDecisions(Box<AccessReview>),
}

impl Intent {
    /// Whether the intent writes to Azure (everything but a review cycle).
    pub fn writes_azure(&self) -> bool {
        !matches!(self, Intent::OpenCycle(_) | Intent::SetCycleDecisions(_))
    }

    /// Every ARM id the intent writes to or points a write at: each must lie inside the
    /// granted scopes.
    pub fn targets(&self) -> Vec<String> {
        match self {
            Intent::EnsureKey { vault_id, name, .. }
            | Intent::RotateKey { vault_id, name }
            | Intent::SetKeyExpiry { vault_id, name, .. } => vec![key_id(vault_id, name)],
            Intent::PrivateEndpoint(pe) => {
                let mut out = vec![pe.id.clone(), pe.target_id.clone(), pe.subnet_id.clone()];
                out.extend(pe.dns_zone_ids.iter().cloned());
                out
            }
            Intent::Storage(w) => {
                let mut out = vec![w.account_id.clone()];
                if let Some(g) = &w.key_grant {
                    out.push(g.key_scope.clone());
                }
                out
            }
            Intent::Arm(write) => vec![write.id().to_string()],
            Intent::Diagnostic(d) => vec![d.resource_id.clone(), d.workspace_id.clone()],
            Intent::RemoveRoleAssignment(id) => vec![id.as_str().to_string()],
            Intent::GrantRole(g) => vec![g.scope.clone()],
            Intent::RemovePrivateEndpoint(id) | Intent::RemoveDiagnosticSetting(id) => {
                vec![id.clone()]
            }
            Intent::AssignPolicy { scope, .. } => vec![scope.clone()],
            Intent::OpenCycle(_) | Intent::SetCycleDecisions(_) => vec![],
        }
    }
}

/// The ARM id of a key below its vault.
pub fn key_id(vault_id: &str, name: &str) -> String {
    format!("{}/keys/{name}", vault_id.trim_end_matches('/'))
}

/// The writes of a storage account, in order: the identity (when the key needs one) and the
/// key role for it, the account PATCH (public access closed only after the endpoint step
/// before it succeeded), the blob and file services.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageWrites {
    pub account_id: String,
    pub patch: StorageAccountPatch,
    /// Disable public network access (the private endpoint intent precedes this one).
    pub close_public: bool,
    pub key_grant: Option<KeyGrant>,
    /// The whole blob-service property set to PUT.
    pub blob_service: Option<BlobServiceProperties>,
    pub file_service: Option<FileServiceProperties>,
}

/// `Key Vault Crypto Service Encryption User` on the store's key for the account's identity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGrant {
    /// The key's ARM id.
    pub key_scope: String,
    /// The user-assigned identity the account encrypts with; the system identity otherwise.
    pub user_assigned_identity: Option<String>,
    /// The identity's principal as last read (absent until the identity exists).
    pub known_principal: Option<String>,
}

/// Every write of one pass, in order, and the controls they remediate.
#[derive(Clone, Debug, Default)]
pub struct WritePlan {
    pub intents: Vec<Intent>,
    /// Controls the Azure writes remediate.
    pub remediates: Vec<&'static str>,
}

impl WritePlan {
    pub fn is_empty(&self) -> bool {
        self.intents.is_empty()
    }

    /// Whether the plan writes to Azure at all.
    pub fn writes_azure(&self) -> bool {
        self.intents.iter().any(Intent::writes_azure)
    }

    /// Appends `other` after this plan's intents.
    pub fn extend(&mut self, other: WritePlan) {
        self.intents.extend(other.intents);
        for id in other.remediates {
            if !self.remediates.contains(&id) {
                self.remediates.push(id);
            }
        }
    }
}

/// The key intent of the workspace's key settings, for `name` in the workspace vault.
pub fn ensure_key(ws: &HipaaWorkspace, name: &str) -> Intent {
    let rotation = &ws.spec.key_vault.rotation;
    Intent::EnsureKey {
        vault_id: ws.spec.key_vault.resource_id.clone(),
        name: name.to_string(),
        kty: match ws.spec.key_vault.key_type {
            crate::api::workspace::KeyType::Rsa => "RSA",
            crate::api::workspace::KeyType::RsaHsm => "RSA-HSM",
        },
        bits: u32::try_from(ws.spec.key_vault.key_size).unwrap_or(3072),
        policy: RotationPolicy::new(
            &rotation.rotate_after,
            &rotation.expire_after,
            &rotation.notify_before,
        ),
        seen_absent: false,
    }
}

/// The private endpoint the operator keeps for one sub-resource of `target_id`, built from
/// parsed ids only: never a string a user wrote joined into a path.
///
/// Azure requires an endpoint in its subnet's subscription, so in a hub-and-spoke network,
/// where the subnet lives in another subscription than the target, the endpoint goes there:
/// into `spec.privateNetworking.endpointResourceGroup` when set, else the target's resource
/// group when the subnet is in the target's subscription, else the subnet's own group. The
/// group name and the target's name are single id segments ([`ArmId::child`] refuses a `/`,
/// a query, a fragment or an escape).
pub fn endpoint_id(
    ws: &HipaaWorkspace,
    target_id: &str,
    sub_resource: &str,
) -> Result<String, String> {
    let target = ArmId::parse(target_id).map_err(|e| e.to_string())?;
    let subnet = match ws.spec.private_networking.as_ref() {
        Some(n) => Some((n, ArmId::parse(&n.subnet_id).map_err(|e| e.to_string())?)),
        None => None,
    };
    let (subscription, group) = match &subnet {
        Some((networking, subnet)) => {
            let same_subscription = match (subnet.subscription(), target.subscription()) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => true,
            };
            let group = match &networking.endpoint_resource_group {
                Some(named) => Some(named.as_str()),
                None if same_subscription => target.resource_group(),
                None => subnet.resource_group(),
            };
            (subnet.subscription().or(target.subscription()), group)
        }
        None => (target.subscription(), target.resource_group()),
    };
    let (Some(subscription), Some(group)) = (subscription, group) else {
        return Err(format!(
            "no subscription and resource group to place the private endpoint of {target_id} in"
        ));
    };
    let target_name = target.segments().last().unwrap_or_default();
    let name = format!(
        "pe-{}-{}",
        target_name.to_ascii_lowercase(),
        sub_resource.to_ascii_lowercase()
    );
    let id = ArmId::parse("/subscriptions")
        .and_then(|root| root.child(subscription, None))
        .and_then(|s| s.child("resourceGroups", Some(group)))
        .and_then(|g| g.child("providers", Some("Microsoft.Network")))
        .and_then(|p| p.child("privateEndpoints", Some(&name)))
        .map_err(|e| e.to_string())?;
    Ok(id.as_str().to_string())
}

/// The private DNS zones the endpoints of `groups` need in `cloud`, and those the workspace
/// lists for the operator to register them in.
pub fn endpoint_dns(
    ws: &HipaaWorkspace,
    cloud: &crate::azure::cloud::Cloud,
    groups: &[String],
) -> EndpointDns {
    let listed = ws
        .spec
        .private_networking
        .as_ref()
        .map(|n| n.private_dns_zone_ids.as_slice())
        .unwrap_or_default();
    EndpointDns::of(groups, &cloud.private_dns, listed)
}

/// Where the operator's private endpoints go: the workspace's subnet and zones, and the zone
/// each sub-resource registers in (the cloud's zones of a group id).
pub struct EndpointPlacement<'a> {
    pub ws: &'a HipaaWorkspace,
    pub zones: &'a PrivateDnsZones,
}

impl EndpointPlacement<'_> {
    /// The endpoints for `groups` on `target_id`; an error when the workspace has no subnet.
    pub fn endpoints(
        &self,
        target_id: &str,
        target_location: &str,
        groups: &[String],
    ) -> Result<Vec<Intent>, String> {
        if groups.is_empty() {
            return Ok(vec![]);
        }
        let Some(networking) = self.ws.spec.private_networking.as_ref() else {
            return Err(
                "the workspace has no spec.privateNetworking.subnetId, so no private endpoint can be created"
                    .into(),
            );
        };
        groups
            .iter()
            .map(|group| {
                let zones = self.zones.for_group(group);
                let dns_zone_ids = networking
                    .private_dns_zone_ids
                    .iter()
                    .filter(|id| {
                        let name = id.rsplit('/').next().unwrap_or_default();
                        zones.iter().any(|z| z.eq_ignore_ascii_case(name))
                    })
                    .cloned()
                    .collect();
                Ok(Intent::PrivateEndpoint(DesiredPrivateEndpoint {
                    id: endpoint_id(self.ws, target_id, group)?,
                    location: self
                        .ws
                        .spec
                        .location
                        .clone()
                        .unwrap_or_else(|| target_location.to_string()),
                    subnet_id: networking.subnet_id.clone(),
                    target_id: target_id.to_string(),
                    group_id: group.clone(),
                    dns_zone_ids,
                }))
            })
            .collect()
    }
}

/// The intents of a kind's ARM plan on `target_id`: the key, the private endpoints, the
/// writes, the diagnostic settings.
pub fn of_arm_plan(
    plan: &Plan,
    ws: &HipaaWorkspace,
    placement: &EndpointPlacement<'_>,
    target_id: &str,
    target_location: &str,
) -> Result<WritePlan, String> {
    let mut intents = Vec::new();
    if plan.ensure_key
        && let Some(key) = &plan.key_name
    {
        intents.push(ensure_key(ws, key));
    }
    intents.extend(placement.endpoints(
        target_id,
        target_location,
        &plan.private_endpoint_groups,
    )?);
    // Roles before the writes that need them held (RBAC authorization).
    intents.extend(plan.role_grants.iter().cloned().map(Intent::GrantRole));
    intents.extend(plan.writes.iter().cloned().map(Intent::Arm));
    intents.extend(plan.diagnostics.iter().cloned().map(Intent::Diagnostic));
    Ok(WritePlan {
        intents,
        remediates: plan.remediates.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::cloud::Cloud;
    use crate::azure::types::ArmOp;
    use serde_json::json;

    fn workspace(networking: bool) -> HipaaWorkspace {
        let mut spec = json!({
            "subscriptionId": "00000000-0000-4000-8000-000000000000", "resourceGroup": "rg",
            "keyVault": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"},
            "logAnalytics": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/la"}
        });
        if networking {
            spec["privateNetworking"] = json!({
                "subnetId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe",
                "privateDnsZoneIds": [
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net",
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"
                ]
            });
        }
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "HipaaWorkspace",
            "metadata": {"name": "ws", "namespace": "n"}, "spec": spec
        }))
        .expect("workspace")
    }

    #[test]
    fn endpoint_ids_live_in_the_subnets_subscription() {
        let kv =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/KV-Clinical";
        // The subnet in the target's subscription: the target's group.
        let ws = workspace(true);
        assert_eq!(
            endpoint_id(&ws, kv, "vault").expect("id"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-kv-clinical-vault"
        );
        // Hub and spoke: the subnet in a hub subscription; Azure wants the endpoint there, in
        // the subnet's group unless the workspace names one.
        let mut hub = workspace(true);
        let networking = hub.spec.private_networking.as_mut().expect("networking");
        networking.subnet_id = "/subscriptions/hub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/v/subnets/pe".into();
        assert!(endpoint_id(&hub, kv, "vault").expect("id").starts_with(
            "/subscriptions/hub/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/"
        ));
        // A group name is one segment: whatever a spec holds cannot steer the id elsewhere.
        for forged in [
            "rg-x/providers/Microsoft.Storage/storageAccounts/victim",
            "rg?x=1",
            "rg#x",
            "rg%2Fx",
            "..",
        ] {
            let mut bad = hub.clone();
            bad.spec
                .private_networking
                .as_mut()
                .expect("networking")
                .endpoint_resource_group = Some(forged.into());
            assert!(endpoint_id(&bad, kv, "vault").is_err(), "{forged}");
        }
        hub.spec
            .private_networking
            .as_mut()
            .expect("networking")
            .endpoint_resource_group = Some("rg-endpoints".into());
        assert!(
            endpoint_id(&hub, kv, "vault")
                .expect("id")
                .starts_with("/subscriptions/hub/resourceGroups/rg-endpoints/")
        );
        let placement = EndpointPlacement {
            ws: &hub,
            zones: &Cloud::azure_public().private_dns,
        };
        let planned = placement
            .endpoints(kv, "eastus", &["vault".to_string()])
            .expect("placed");
        let Intent::PrivateEndpoint(pe) = &planned[0] else {
            panic!("an endpoint")
        };
        assert!(
            pe.id
                .starts_with("/subscriptions/hub/resourceGroups/rg-endpoints/"),
            "{}",
            pe.id
        );
        // Every id the intent names is checked against the grants, the hub's group included.
        assert!(planned[0].targets().contains(&pe.id));
    }

    #[test]
    fn an_arm_plan_becomes_key_then_endpoints_then_writes_then_settings() {
        let ws = workspace(true);
        let vault = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
        let plan = Plan {
            writes: vec![ArmWrite::Patch {
                op: ArmOp::new("Vaults_Update", "Microsoft.KeyVault", "2023-07-01"),
                id: vault.into(),
                body: json!({"properties": {"enableSoftDelete": true}}),
            }],
            private_endpoint_groups: vec!["vault".into()],
            diagnostics: vec![DesiredDiagnosticSetting {
                resource_id: vault.into(),
                workspace_id: ws.spec.log_analytics.resource_id.clone(),
                category_groups: vec!["audit".into()],
                categories: vec![],
            }],
            ensure_key: true,
            key_name: Some("n-st".into()),
            role_grants: vec![RoleGrant {
                scope: vault.into(),
                role_guid: "12338af0-0e69-4776-bea7-57ae8d297424",
                principal_id: "00000000-0000-0000-0000-00000000000a".into(),
            }],
            remediates: vec!["kv.soft-delete"],
        };
        let placement = EndpointPlacement {
            ws: &ws,
            zones: &Cloud::azure_public().private_dns,
        };
        let planned = of_arm_plan(&plan, &ws, &placement, vault, "eastus").expect("planned");
        let order: Vec<&str> = planned
            .intents
            .iter()
            .map(|i| match i {
                Intent::EnsureKey { .. } => "key",
                Intent::PrivateEndpoint(_) => "endpoint",
                Intent::Arm(_) => "write",
                Intent::Diagnostic(_) => "diagnostic",
                Intent::GrantRole(_) => "role",
                _ => "other",
            })
            .collect();
        // Roles before the writes that need them held.
        assert_eq!(order, ["key", "endpoint", "role", "write", "diagnostic"]);
        assert_eq!(planned.intents[2].targets(), [vault]);
        let Intent::PrivateEndpoint(pe) = &planned.intents[1] else {
            panic!("an endpoint");
        };
        // Only the zone of the group's service.
        assert_eq!(pe.dns_zone_ids.len(), 1);
        assert!(pe.dns_zone_ids[0].ends_with("privatelink.vaultcore.azure.net"));
        assert_eq!(planned.remediates, ["kv.soft-delete"]);
        assert!(planned.writes_azure());
        // Every intent names what it writes; the key is below its vault.
        assert_eq!(planned.intents[0].targets(), [format!("{vault}/keys/n-st")]);
    }

    #[test]
    fn endpoints_without_a_subnet_are_an_error_not_a_silent_skip() {
        let ws = workspace(false);
        let placement = EndpointPlacement {
            ws: &ws,
            zones: &Cloud::azure_public().private_dns,
        };
        let err = placement
            .endpoints(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
                "eastus",
                &["vault".into()],
            )
            .expect_err("no subnet");
        assert!(err.contains("spec.privateNetworking.subnetId"), "{err}");
        assert!(
            placement
                .endpoints("/x", "eastus", &[])
                .expect("none")
                .is_empty()
        );
    }
}
