//! What each store kind expects, evaluates and plans — pure. Every kind is one variant of
//! [`Target`]: its expectations (from the store and workspace specs), its observation (read by
//! [`super::observe`]), its evaluator and its planner, so the driver handles all kinds alike.

use crate::api::HipaaWorkspace;
use crate::api::common::ControlState;
use crate::controller::intent::{
    self, EndpointPlacement, Intent, KeyGrant, StorageWrites, WritePlan,
};
use crate::controls::cosmos::{self, CosmosExpectations, CosmosObservation};
use crate::controls::healthdata::{self, HealthExpectations, HealthObservation};
use crate::controls::keyvault::{self, VaultExpectations, VaultObservation};
use crate::controls::plan::Plan;
use crate::controls::sql::{self, SqlExpectations, SqlObservation};
use crate::controls::storage::{self, StorageExpectations, StorageObservation};
use crate::controls::{Finding, Found};

pub use super::expect::{
    classification_tag, cosmos_expectations, diagnostic_categories, diagnostic_services,
    health_expectations, sql_expectations, storage_expectations, store_endpoint_groups,
    store_key_name, vault_expectations,
};

/// The Defender for Cloud plan covering a store kind: `(control, plan, sub-plan a fix sets)`.
pub fn defender_plan(
    kind: crate::api::phistore::ResourceKind,
) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    use crate::api::phistore::ResourceKind;
    let control = match kind {
        ResourceKind::StorageAccount => "storage.defender",
        ResourceKind::KeyVault => "kv.defender",
        ResourceKind::CosmosDbAccount => "cosmos.defender",
        // SQL's is its servers' security alert policy (sql.defender); Health Data Services
        // have no Defender plan.
        ResourceKind::SqlServer
        | ResourceKind::HealthDataWorkspace
        | ResourceKind::FhirService
        | ResourceKind::DicomService => return None,
    };
    crate::controls::defender::plan_for(control)
}

/// A governed resource as its kind's controls see it: what is expected and what was read.
pub enum Target {
    Storage(Box<(StorageExpectations, StorageObservation)>),
    Vault(Box<(VaultExpectations, VaultObservation)>),
    Cosmos(Box<(CosmosExpectations, CosmosObservation)>),
    Health(Box<(HealthExpectations, HealthObservation)>),
    Sql(Box<(SqlExpectations, SqlObservation)>),
}

impl Target {
    /// The kind's findings, with `common.cmk-vault-linked` for kinds whose key the operator
    /// keeps in the workspace vault.
    pub fn evaluate(&self, ws: &HipaaWorkspace) -> Vec<Finding> {
        match self {
            Target::Storage(t) => {
                let mut findings = storage::evaluate(&t.0, &t.1);
                findings.push(vault_linked(ws, &findings));
                findings
            }
            Target::Vault(t) => keyvault::evaluate(&t.0, &t.1),
            Target::Cosmos(t) => cosmos::evaluate(&t.0, &t.1),
            Target::Health(t) => healthdata::evaluate(&t.0, &t.1),
            Target::Sql(t) => sql::evaluate(&t.0, &t.1),
        }
    }

    /// The ARM id and region of the governed resource.
    pub fn resource(&self) -> (&str, &str) {
        fn of(r: &crate::azure::resources::ArmResource) -> (&str, &str) {
            (&r.id, r.location.as_deref().unwrap_or_default())
        }
        match self {
            Target::Storage(t) => (&t.1.account.id, &t.1.account.location),
            Target::Vault(t) => of(&t.1.vault),
            Target::Cosmos(t) => of(&t.1.account),
            Target::Health(t) => of(&t.1.resource),
            Target::Sql(t) => of(&t.1.server),
        }
    }

    /// The body the pass read for `id` (the resource or one of its sub-resources), for the
    /// `from` of a planned change.
    pub fn observed(&self, id: &str) -> Option<serde_json::Value> {
        use crate::azure::resources::ArmResource;
        let same = |r: &ArmResource| r.id.eq_ignore_ascii_case(id);
        let json = |r: &ArmResource| serde_json::to_value(r).ok();
        match self {
            Target::Storage(t) => {
                let account = &t.1.account;
                let under = |service: &str| {
                    format!("{}/{service}/default", account.id).eq_ignore_ascii_case(id)
                };
                if account.id.eq_ignore_ascii_case(id) {
                    serde_json::to_value(account).ok()
                } else if under("blobServices") {
                    Some(serde_json::json!({ "properties": t.1.blob_service }))
                } else if under("fileServices") {
                    Some(serde_json::json!({ "properties": t.1.file_service }))
                } else {
                    None
                }
            }
            Target::Vault(t) => Some(&t.1.vault).filter(|r| same(r)).and_then(json),
            Target::Cosmos(t) => Some(&t.1.account).filter(|r| same(r)).and_then(json),
            Target::Health(t) => Some(&t.1.resource).filter(|r| same(r)).and_then(json),
            Target::Sql(t) => {
                let o = &t.1;
                let singles = [
                    Some(&o.server),
                    o.encryption_protector.as_ref(),
                    o.auditing.as_ref(),
                    o.administrator.as_ref(),
                    o.entra_only.as_ref(),
                    o.alert_policy.as_ref(),
                ];
                let databases = o.databases.iter().flat_map(|d| {
                    [
                        Some(&d.database),
                        d.tde.as_ref(),
                        d.long_term.as_ref(),
                        d.short_term.as_ref(),
                    ]
                });
                singles
                    .into_iter()
                    .chain(databases)
                    .flatten()
                    .chain(&o.firewall_rules)
                    .find(|r| same(r))
                    .and_then(json)
            }
        }
    }

    /// The writes that fix `to_fix` (drifted, remediable, allowed findings).
    pub fn plan(
        &self,
        ws: &HipaaWorkspace,
        placement: &EndpointPlacement<'_>,
        to_fix: &[&Finding],
    ) -> Result<WritePlan, String> {
        let (id, location) = self.resource();
        let arm = |plan: Plan| intent::of_arm_plan(&plan, ws, placement, id, location);
        match self {
            Target::Storage(t) => storage_plan(ws, placement, &t.0, &t.1, to_fix),
            Target::Vault(t) => {
                let mut plan = Plan::default();
                keyvault::plan(&t.0, &t.1, to_fix, &mut plan);
                arm(plan)
            }
            Target::Cosmos(t) => arm(cosmos::plan(&t.0, &t.1, to_fix)),
            Target::Health(t) => arm(healthdata::plan(&t.0, &t.1, to_fix)),
            Target::Sql(t) => arm(sql::plan(&t.0, &t.1, to_fix)),
        }
    }
}

/// The typed storage plan as intents: the key (and its rotation), the private endpoints, the
/// account's writes, the diagnostic settings of its services.
fn storage_plan(
    ws: &HipaaWorkspace,
    placement: &EndpointPlacement<'_>,
    expect: &StorageExpectations,
    obs: &StorageObservation,
    to_fix: &[&Finding],
) -> Result<WritePlan, String> {
    let plan = storage::plan(expect, obs, to_fix);
    let account_id = &obs.account.id;
    let mut intents = Vec::new();
    if plan.ensure_key {
        let mut key = intent::ensure_key(ws, &expect.key.key_name);
        if let Intent::EnsureKey { seen_absent, .. } = &mut key {
            *seen_absent = obs.latest_key_version.is_none();
        }
        intents.push(key);
    }
    if plan.rotate_key {
        intents.push(Intent::RotateKey {
            vault_id: expect.key.vault_id.clone(),
            name: expect.key.key_name.clone(),
        });
    }
    if let Some((version, exp)) = &plan.set_key_expiry {
        intents.push(Intent::SetKeyExpiry {
            vault_id: expect.key.vault_id.clone(),
            name: expect.key.key_name.clone(),
            version: version.clone(),
            exp: *exp,
        });
    }
    if plan.ensure_private_endpoint {
        intents.extend(placement.endpoints(
            account_id,
            &obs.account.location,
            &expect.private_endpoint_groups,
        )?);
    }
    let writes = StorageWrites {
        account_id: account_id.clone(),
        patch: plan.account_patch.clone(),
        close_public: plan.close_public_after_endpoint,
        key_grant: plan.grant_key_access.then(|| KeyGrant {
            key_scope: intent::key_id(&expect.key.vault_id, &expect.key.key_name),
            user_assigned_identity: expect.key.user_assigned_identity.clone(),
            known_principal: storage::key_principal(expect, obs),
        }),
        blob_service: plan.blob_service.clone(),
        file_service: plan.file_service.clone(),
    };
    if writes
        != (StorageWrites {
            account_id: account_id.clone(),
            ..Default::default()
        })
    {
        intents.push(Intent::Storage(Box::new(writes)));
    }
    intents.extend(plan.ensure_diagnostics.iter().map(|service| {
        Intent::Diagnostic(crate::azure::insights::DesiredDiagnosticSetting {
            resource_id: format!("{account_id}/{service}Services/default"),
            workspace_id: expect.log_analytics_workspace_id.clone(),
            category_groups: expect.category_groups.clone(),
            categories: expect.categories.clone(),
        })
    }));
    Ok(WritePlan {
        intents,
        remediates: plan.remediates.clone(),
    })
}

/// `common.cmk-vault-linked`: the store's key lives in the workspace's vault, which must
/// itself pass soft delete and purge protection (as the workspace controller last reported),
/// and the key must carry its rotation policy.
pub fn vault_linked(ws: &HipaaWorkspace, findings: &[Finding]) -> Finding {
    let expected = "the key's vault passes kv.soft-delete and kv.purge-protection, and the key has a rotation policy";
    let vault_controls = ws
        .status
        .as_ref()
        .map(|s| s.controls.as_slice())
        .unwrap_or(&[]);
    if !vault_controls.iter().any(|c| c.id.starts_with("kv.")) {
        return Finding::new(
            "common.cmk-vault-linked",
            Found::Error,
            expected,
            "the workspace has not evaluated its vault yet",
        )
        .with_message("waiting for the HipaaWorkspace's first evaluation of its Key Vault");
    }
    let mut failing: Vec<String> = ["kv.soft-delete", "kv.purge-protection"]
        .iter()
        .filter_map(|id| match vault_controls.iter().find(|c| c.id == *id) {
            Some(c) if matches!(c.state, ControlState::Compliant | ControlState::Remediated) => {
                None
            }
            Some(c) => Some(format!("{id} is {:?} on the workspace vault", c.state)),
            None => Some(format!("{id} not yet evaluated by the workspace")),
        })
        .collect();
    if findings
        .iter()
        .any(|f| f.id() == "kv.key-rotation-policy" && f.found != Found::Compliant)
    {
        failing.push("the key has no matching rotation policy".into());
    }
    if failing.is_empty() {
        Finding::new(
            "common.cmk-vault-linked",
            Found::Compliant,
            expected,
            "vault and key pass",
        )
    } else {
        Finding::new(
            "common.cmk-vault-linked",
            Found::Drifted,
            expected,
            failing.join("; "),
        )
        .with_message(
            "the customer-managed key is only as safe as its vault: see the HipaaWorkspace's kv.* controls",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::phistore::{PhiStore, ResourceKind};
    use crate::azure::cloud::Cloud;
    use serde_json::json;

    fn workspace(vault_states: &[(&str, &str)]) -> HipaaWorkspace {
        let controls: Vec<serde_json::Value> = vault_states
            .iter()
            .map(|(id, state)| json!({"id": id, "state": state, "expected": "", "observed": "", "since": "2026-12-01T00:00:00Z"}))
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "HipaaWorkspace",
            "metadata": {"name": "ws", "namespace": "clinic"},
            "spec": {
                "subscriptionId": "00000000-0000-4000-8000-000000000000", "resourceGroup": "rg",
                "keyVault": {"resourceId": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-clinic"},
                "logAnalytics": {"resourceId": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/la"}
            },
            "status": {"controls": controls}
        }))
        .expect("workspace")
    }

    fn store(kind: &str, extra: serde_json::Value) -> PhiStore {
        let mut spec = json!({
            "workspaceRef": {"name": "ws"},
            "resource": {"kind": kind, "id": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"}
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
            "metadata": {"name": "referrals", "namespace": "clinic"}, "spec": spec
        }))
        .expect("store")
    }

    #[test]
    fn every_group_the_api_accepts_has_its_zones_in_every_cloud() {
        for cloud in [
            Cloud::azure_public(),
            Cloud::azure_us_government(),
            Cloud::azure_china(),
        ] {
            for kind in ResourceKind::ALL {
                for group in kind.private_endpoint_groups() {
                    let zones = cloud.private_dns.for_group(group);
                    assert!(
                        !zones.is_empty() && zones.iter().all(|z| z.starts_with("privatelink.")),
                        "{} {group}: {zones:?}",
                        cloud.name
                    );
                }
            }
        }
    }

    #[test]
    fn a_store_key_defaults_to_namespace_and_name_and_may_be_named() {
        assert_eq!(
            store_key_name(&store("StorageAccount", json!({}))),
            "clinic-referrals"
        );
        assert_eq!(
            store_key_name(&store(
                "StorageAccount",
                json!({"encryption": {"keyName": "own"}})
            )),
            "own"
        );
    }

    #[test]
    fn stores_ask_for_the_audit_group_and_their_kinds_endpoint_unless_they_say_otherwise() {
        let plain = store("StorageAccount", json!({}));
        assert_eq!(
            diagnostic_categories(&plain),
            (vec!["audit".into()], vec![])
        );
        assert_eq!(store_endpoint_groups(&plain), ["blob"]);
        assert_eq!(diagnostic_services(&plain), ["blob"]);
        let own = store(
            "StorageAccount",
            json!({"privateEndpoint": {"groupIds": ["blob", "file"]}, "diagnostics": {"services": ["file"]}}),
        );
        assert_eq!(store_endpoint_groups(&own), ["blob", "file"]);
        assert_eq!(diagnostic_services(&own), ["file"]);
        let expect = storage_expectations(&own, &workspace(&[]), &Cloud::azure_public());
        assert!(expect.file_shares);
        assert_eq!(expect.key.vault_uri, "https://kv-clinic.vault.azure.net/");
    }

    #[test]
    fn the_vault_link_follows_the_workspaces_vault_controls() {
        let unevaluated = vault_linked(&workspace(&[]), &[]);
        assert_eq!(unevaluated.found, Found::Error);
        let passing = workspace(&[
            ("kv.soft-delete", "Compliant"),
            ("kv.purge-protection", "Remediated"),
        ]);
        assert_eq!(vault_linked(&passing, &[]).found, Found::Compliant);
        let failing = workspace(&[
            ("kv.soft-delete", "Compliant"),
            ("kv.purge-protection", "Drifted"),
        ]);
        let finding = vault_linked(&failing, &[]);
        assert_eq!(finding.found, Found::Drifted);
        assert!(
            finding.observed.contains("kv.purge-protection"),
            "{}",
            finding.observed
        );
    }
}
