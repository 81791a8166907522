//! The vault-level `kv.*` controls: evaluated for the workspace's Key Vault (by the workspace
//! controller) and for a Key Vault that is itself a PhiStore. Pure.

use serde_json::{Value, json};

use super::common;
use super::finding::{Finding, Found};
use super::plan::{ArmWrite, Plan, RoleGrant, at};
use super::setting::{self, Absent, Fix, Lit, Setting};
use super::vault_rbac::{Migration, RoleHolders, migration};
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::{ArmResource, api_version};
use crate::azure::types::ArmOp;

pub const PATCH_VAULT: ArmOp = ArmOp::new(
    "Vaults_Update",
    "Microsoft.KeyVault",
    api_version::KEY_VAULT,
);

/// Vault controls this module does not evaluate, and why.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[
    (
        "kv.key-age-observed",
        "key-level: the age of the version a store uses is evaluated as storage.cmk-rotation-observed; the vault-wide age of every key is not",
    ),
    (
        "kv.secret-expiry-set",
        "secrets' metadata is not read yet: it needs secrets/readMetadata on every vault holding PHI secrets, which the operator's role does not carry (azure-sim serves secrets since the catalog's second edition)",
    ),
];

/// The vault's controls that one property decides, declared once for evaluation and PATCH.
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "kv.purge-protection",
        "properties.enablePurgeProtection",
        &[Lit::Bool(true)],
    )
    .absent(Absent::Means(Lit::Bool(false)))
    .named(),
    // Public access goes off only once the private endpoint is in place (the caller's gate
    // reads the endpoint from what was observed).
    Setting::new(
        "kv.public-network-disabled",
        "properties.publicNetworkAccess",
        &[Lit::Str("Disabled")],
    )
    .absent(Absent::Means(Lit::Str("Enabled")))
    .fix(Fix::After("kv.private-endpoint")),
];

/// What is expected of a vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultExpectations {
    pub vault_id: String,
    /// The Log Analytics workspace that must receive the vault's audit events.
    pub log_analytics_id: String,
    /// The workspace names a subnet, so a private endpoint is expected.
    pub private_networking: bool,
    /// The private DNS zones the vault's endpoint must be registered in.
    pub endpoint_dns: common::EndpointDns,
    /// `(name, value)` of the PHI classification tag, when the vault is a PhiStore.
    pub classification_tag: Option<(String, String)>,
    /// The diagnostic categories and category groups the audit setting must carry.
    pub category_groups: Vec<String>,
    pub categories: Vec<String>,
    /// The workspace opted in to moving access policies to role assignments
    /// (`spec.keyVault.migrateAccessPolicies`) before `kv.rbac-authorization` switches.
    pub migrate_access_policies: bool,
}

impl VaultExpectations {
    pub fn diagnostics(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: self.vault_id.clone(),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: self.category_groups.clone(),
            categories: self.categories.clone(),
        }
    }
}

/// What was read for a vault.
#[derive(Clone, Debug, PartialEq)]
pub struct VaultObservation {
    pub vault: ArmResource,
    pub diagnostics: Vec<DiagnosticSetting>,
    /// The private endpoints connected to the vault, by endpoint id.
    pub endpoints: super::common::SeenEndpoints,
    /// The role assignments reaching the vault, read only for a migration of its access
    /// policies (opted in, RBAC off, policies present).
    pub role_holders: Option<RoleHolders>,
}

impl VaultObservation {
    /// Whether the pass must read the role assignments reaching the vault: only when a
    /// migration to RBAC is opted in and still to do.
    pub fn needs_role_holders(expect: &VaultExpectations, vault: &ArmResource) -> bool {
        expect.migrate_access_policies
            && !at(&vault.properties, "enableRbacAuthorization")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            && policies_present(&vault.properties)
    }
}

fn flag(body: &Value, path: &str) -> Option<bool> {
    at(body, path).and_then(Value::as_bool)
}

fn text<'a>(body: &'a Value, path: &str) -> Option<&'a str> {
    at(body, path).and_then(Value::as_str)
}

/// Evaluates the vault-level `kv.*` controls (and the classification tag when the vault is a
/// PhiStore).
pub fn evaluate(expect: &VaultExpectations, obs: &VaultObservation) -> Vec<Finding> {
    let v = json!({ "properties": obs.vault.properties });
    // Current API versions default soft delete to on.
    let soft_delete = flag(&v, "properties.enableSoftDelete").unwrap_or(true);
    let soft_days = at(&v, "properties.softDeleteRetentionInDays")
        .and_then(Value::as_i64)
        .unwrap_or(90);
    let soft = Finding::check(
        "kv.soft-delete",
        soft_delete && soft_days >= 90,
        "enableSoftDelete=true, softDeleteRetentionInDays=90",
        format!("enableSoftDelete={soft_delete}, softDeleteRetentionInDays={soft_days}"),
    );
    let soft = if soft_delete && soft_days < 90 {
        soft.with_message("the retention can only be chosen when a vault is created: recreate the vault or exempt this control")
    } else {
        soft
    };
    let rbac = flag(&v, "properties.enableRbacAuthorization").unwrap_or(false);
    let default_action = text(&v, "properties.networkAcls.defaultAction").unwrap_or("Allow");
    let ip_rules = at(&v, "properties.networkAcls.ipRules")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let endpoint = if expect.private_networking {
        common::private_endpoint(
            "kv.private-endpoint",
            &v,
            &obs.endpoints,
            &["vault".to_string()],
            &expect.endpoint_dns,
        )
    } else {
        Finding::new(
            "kv.private-endpoint",
            Found::Drifted,
            "an Approved private endpoint for vault",
            "no private endpoint",
        )
        .with_message("the workspace has no spec.privateNetworking.subnetId to place one in")
    };
    let endpoint_approved = endpoint.found == Found::Compliant;
    let access_policies = at(&v, "properties.accessPolicies")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let tag = expect
        .classification_tag
        .as_ref()
        .map(|(name, value)| common::classification_tag(obs.vault.tags.as_ref(), (name, value)));
    let mut out = setting::evaluate(SETTINGS, &v);
    out.extend([
        soft,
        rbac_finding(rbac, access_policies, expect, obs),
        behind_endpoint(
            Finding::check(
                "kv.firewall-default-deny",
                default_action.eq_ignore_ascii_case("Deny") && ip_rules == 0,
                "defaultAction=Deny, no ipRules, bypass=AzureServices for customer-managed-key consumers",
                format!("defaultAction={default_action}, {ip_rules} ipRules"),
            ),
            expect,
            endpoint_approved,
        ),
        endpoint,
        common::diagnostics(
            "kv.diag-audit-event",
            &obs.diagnostics,
            &expect.diagnostics(),
        ),
    ]);
    out.extend(tag);
    out
}
/// `kv.rbac-authorization`. Turning RBAC on makes every access policy stop working at once:
/// with access policies present the switch would lock their holders out (the operator among
/// them, when it reaches keys through a policy). It is made only once no policy is left, or,
/// when the workspace opts in to migration, once every holder has the equivalent role and
/// Azure has applied it.
fn rbac_finding(
    rbac: bool,
    access_policies: usize,
    expect: &VaultExpectations,
    obs: &VaultObservation,
) -> Finding {
    let f = Finding::check(
        "kv.rbac-authorization",
        rbac,
        "enableRbacAuthorization=true",
        format!("enableRbacAuthorization={rbac}, {access_policies} access policies"),
    );
    if rbac || access_policies == 0 {
        return f;
    }
    let person = |message: String| f.clone().awaiting_person(message);
    let message = match migration_state(expect, obs) {
        None => return person(format!(
            "not switched: the vault has {access_policies} access policies, which stop working the moment RBAC authorization is on (a lock-out); set spec.keyVault.migrateAccessPolicies on the workspace and the operator first gives each holder the equivalent Key Vault role at the vault, or move them yourself (Crypto User/Officer, Secrets User/Officer, Certificates Officer); or exempt this control"
        )),
        Some(Migration::Blocked(why)) => return person(format!(
            "not switched: {}; move these holders to role assignments by hand and remove their policies, or exempt this control",
            why.join("; ")
        )),
        Some(Migration::Grant(grants)) => format!(
            "migrating: the equivalent roles are given first ({}); RBAC authorization is switched on once every holder has its role and Azure has applied it",
            grants
                .iter()
                .map(|g| format!("{} to {}", g.role.name(), g.principal_id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Migration::Settling { until }) => {
            return f.recheck_at(until).with_message(format!(
                "migrating: every access-policy holder has its equivalent role; RBAC authorization is switched on after {until}, once Azure has applied the newest of them"
            ));
        }
        Some(Migration::Ready) => {
            "migrating: every access-policy holder has its equivalent role in effect; RBAC authorization is switched on next (the access policies stay, unused, for a person to remove)".to_string()
        }
    };
    f.with_message(message)
}

/// Where the move of the vault's access policies to roles stands; `None` when it was not
/// opted in (or not read).
fn migration_state(expect: &VaultExpectations, obs: &VaultObservation) -> Option<Migration> {
    if !expect.migrate_access_policies {
        return None;
    }
    let holders = obs.role_holders.as_ref()?;
    Some(migration(
        obs.vault
            .properties
            .get("accessPolicies")
            .unwrap_or(&Value::Null),
        holders,
    ))
}

/// A network control the operator closes only behind an Approved private endpoint: before it, a
/// closed vault shuts out the operator and every client that reaches it over the public path.
fn behind_endpoint(f: Finding, expect: &VaultExpectations, endpoint_approved: bool) -> Finding {
    if f.found == Found::Compliant || (expect.private_networking && endpoint_approved) {
        f
    } else if !expect.private_networking {
        f.with_message("not closed: without a private endpoint (spec.privateNetworking.subnetId) a closed firewall locks out the operator and every client; add the subnet, or exempt this control after allowing your clients another way")
    } else {
        f.with_message("closed once the vault's private endpoint is Approved and registered in the vault's private DNS zone (kv.private-endpoint): before that a closed firewall locks out the operator and every client, whose vault name still resolves to the public address")
    }
}

/// Whether the vault has a private endpoint for `vault` that Azure made, that is Approved and
/// that is registered in the vault's private DNS zone (as `kv.private-endpoint` reads it):
/// only then can clients, the operator among them, reach a vault whose firewall is closed.
fn endpoint_approved(expect: &VaultExpectations, obs: &VaultObservation) -> bool {
    common::private_endpoint(
        "kv.private-endpoint",
        &json!({ "properties": obs.vault.properties }),
        &obs.endpoints,
        &["vault".to_string()],
        &expect.endpoint_dns,
    )
    .found
        == Found::Compliant
}

/// Whether a vault's properties hold access policies.
fn policies_present(properties: &Value) -> bool {
    at(properties, "accessPolicies")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// Adds to `plan` the fewest vault writes that fix the drifted, automatically remediable
/// findings of `to_fix`: one PATCH, the private endpoint, the diagnostic setting.
pub fn plan(
    expect: &VaultExpectations,
    obs: &VaultObservation,
    to_fix: &[&Finding],
    plan: &mut Plan,
) {
    let drifted = |id: &str| super::plan::remediable(to_fix, id);
    // From what was read, not from `to_fix`: an exempt or paused endpoint finding is not in
    // `to_fix`, and the endpoint is still not there.
    let endpoint_ok = expect.private_networking && endpoint_approved(expect, obs);

    // The vault: one PATCH with every drifted property.
    let current = json!({ "properties": obs.vault.properties });
    let (writes, mut vault_fixes) = setting::fixes(SETTINGS, to_fix, |_| endpoint_ok);
    let mut vault = setting::properties(&writes, &current);
    if drifted("kv.soft-delete")
        && flag(&json!({"p": obs.vault.properties}), "p.enableSoftDelete") == Some(false)
    {
        vault.insert("enableSoftDelete".into(), json!(true));
        vault_fixes.push("kv.soft-delete");
    }
    // Never over live access policies: their holders would be locked out. With migration
    // opted in, their roles are given first and the switch follows once they are in effect.
    if drifted("kv.rbac-authorization") {
        let switch = if !policies_present(&obs.vault.properties) {
            true
        } else {
            match migration_state(expect, obs) {
                Some(Migration::Ready) => true,
                Some(Migration::Grant(grants)) => {
                    plan.role_grants
                        .extend(grants.into_iter().map(|g| RoleGrant {
                            scope: expect.vault_id.clone(),
                            role_guid: g.role.guid(),
                            principal_id: g.principal_id,
                        }));
                    false
                }
                _ => false,
            }
        };
        if switch {
            vault.insert("enableRbacAuthorization".into(), json!(true));
            vault_fixes.push("kv.rbac-authorization");
        }
    }
    // The firewall closes only behind an Approved private endpoint, like public access.
    if drifted("kv.firewall-default-deny") && endpoint_ok {
        let current = obs
            .vault
            .properties
            .get("networkAcls")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut acls = current.as_object().cloned().unwrap_or_default();
        acls.insert("defaultAction".into(), json!("Deny"));
        acls.insert("bypass".into(), json!("AzureServices"));
        acls.insert("ipRules".into(), json!([]));
        vault.insert("networkAcls".into(), Value::Object(acls));
        vault_fixes.push("kv.firewall-default-deny");
    }
    if !vault.is_empty() {
        plan.writes.push(ArmWrite::Patch {
            op: PATCH_VAULT,
            id: expect.vault_id.clone(),
            body: json!({ "properties": vault }),
        });
        vault_fixes.into_iter().for_each(|id| plan.remediates(id));
    }
    if drifted("kv.private-endpoint") && expect.private_networking {
        plan.private_endpoint_groups.push("vault".into());
        plan.remediates("kv.private-endpoint");
    }
    if drifted("kv.diag-audit-event") {
        plan.diagnostics.push(expect.diagnostics());
        plan.remediates("kv.diag-audit-event");
    }

    if drifted("common.phi-classification-tag")
        && let Some((name, value)) = &expect.classification_tag
    {
        // Tags merge: PATCH carries the owner's other tags too.
        let mut tags = obs.vault.tags.clone().unwrap_or_default();
        tags.insert(name.clone(), value.clone());
        plan.writes.push(ArmWrite::Patch {
            op: PATCH_VAULT,
            id: expect.vault_id.clone(),
            body: json!({ "tags": tags }),
        });
        plan.remediates("common.phi-classification-tag");
    }
}

#[cfg(test)]
pub(crate) mod tests;
