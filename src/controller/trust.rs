//! Trust boundaries: what a namespace may reach in Azure, decided before any Azure request.
//!
//! A cluster admin's [`AzureScopeGrant`]s say which namespaces may govern which Azure scopes,
//! with which identities, and whether `Enforce` and irreversible actions are allowed. A
//! workspace is served only through a [`Permit`] built from the grants that cover it; a store
//! only when its resource lies inside its workspace's resource group and the permit's scopes,
//! and when no other store governs the same resource. An exclusive grant also reserves its
//! scopes and identities: no object of a namespace it does not select may name them, whatever
//! other grants allow (the chart's admission policy refuses the same at apply time). Everything
//! here but the cache plumbing is pure and unit-tested.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::runtime::reflector::{self, Store};
use kube::{Resource, ResourceExt};

use crate::api::common::Mode;
use crate::api::{AzureScopeGrant, HipaaWorkspace, PhiStore};
use crate::azure::id::ArmId;

use crate::api::common::condition::Failed;
pub use crate::api::common::condition::reason::{ALREADY_GOVERNED, NOT_PERMITTED};

/// What the grants covering one workspace allow.
#[derive(Clone, Debug, PartialEq)]
pub struct Permit {
    /// The grants that cover the workspace, by name.
    pub grants: Vec<String>,
    /// The Azure scopes those grants allow.
    scopes: Vec<ArmId>,
    /// What exclusive grants of other namespaces reserve: never reachable from this one.
    reserved: Vec<Reservation>,
    pub allow_enforce: bool,
    pub allow_irreversible: bool,
}

impl Permit {
    /// The mode the operator may act in: `wanted`, or `Audit` when no covering grant allows
    /// `Enforce`.
    pub fn mode(&self, wanted: Mode) -> Mode {
        if self.allow_enforce {
            wanted
        } else {
            Mode::Audit
        }
    }

    /// Whether `id` lies inside one of the granted scopes and outside every scope another
    /// namespace's exclusive grant reserves.
    pub fn covers(&self, id: &ArmId) -> bool {
        self.scopes.iter().any(|s| id.is_within(s)) && self.reserving(id).is_none()
    }

    /// The exclusive grant of other namespaces whose scopes hold `id`, if any.
    fn reserving(&self, id: &ArmId) -> Option<&Reservation> {
        self.reserved.iter().find(|r| r.holds(id))
    }

    /// A permit of `scopes` for unit tests of what consumes permits (the executor).
    #[cfg(test)]
    pub(crate) fn for_test(
        scopes: &[&str],
        allow_enforce: bool,
        allow_irreversible: bool,
    ) -> Permit {
        Permit {
            grants: vec!["test-grant".into()],
            scopes: scopes.iter().filter_map(|s| ArmId::parse(s).ok()).collect(),
            reserved: Vec::new(),
            allow_enforce,
            allow_irreversible,
        }
    }
}

/// Remediations that cannot be undone: enabling Key Vault purge protection (Azure never turns
/// it off again). Made only where a grant allows irreversible changes; the archive lock, the
/// other one, is kept out of the workspace's expectations the same way.
pub const IRREVERSIBLE: &[&str] = &["kv.purge-protection"];

impl Permit {
    /// The findings a plan may fix under this permit: irreversible ones only when allowed.
    pub fn allowed<'f>(
        &self,
        to_fix: Vec<&'f crate::controls::Finding>,
    ) -> Vec<&'f crate::controls::Finding> {
        to_fix
            .into_iter()
            .filter(|f| self.allow_irreversible || !IRREVERSIBLE.contains(&f.id()))
            .collect()
    }
}

/// Why the operator will not serve an object; nothing was sent to Azure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Failed,
    pub message: String,
}

fn not_permitted(message: String) -> Refusal {
    Refusal {
        reason: Failed::NotPermitted,
        message,
    }
}

/// Whether `selector` matches `labels` (matchLabels and matchExpressions, as Kubernetes
/// defines them).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // An operator Kubernetes does not define matches nothing.
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// What an exclusive grant reserves against a namespace it does not select: its scopes and its
/// identities.
#[derive(Clone, Debug, PartialEq)]
struct Reservation {
    grant: String,
    /// The namespaces it reserves them to, as a refusal names them.
    holders: String,
    scopes: Vec<ArmId>,
    identities: Vec<String>,
}

impl Reservation {
    fn of(grant: &AzureScopeGrant) -> Reservation {
        let names = &grant.spec.namespaces;
        let holders = match (names.is_empty(), grant.spec.namespace_selector.is_some()) {
            (false, false) => format!("namespaces {}", listed(names, 5)),
            (false, true) => format!(
                "namespaces {} and those its namespaceSelector selects",
                listed(names, 5)
            ),
            (true, _) => "the namespaces its namespaceSelector selects".to_string(),
        };
        Reservation {
            grant: grant.name_any(),
            holders,
            scopes: grant
                .spec
                .scopes
                .iter()
                .filter_map(|s| ArmId::parse(s).ok())
                .collect(),
            identities: grant.spec.identities.clone(),
        }
    }

    fn holds(&self, id: &ArmId) -> bool {
        self.scopes.iter().any(|s| id.is_within(s))
    }

    fn holds_identity(&self, client_id: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.eq_ignore_ascii_case(client_id))
    }

    /// The refusal of `named` (`field: value` each) in `namespace`, in the words of the chart's
    /// admission policy.
    fn refusal(&self, named: &[String], namespace: &str) -> Refusal {
        not_permitted(format!(
            "{} {} reserved by AzureScopeGrant {} to {}; namespace {namespace} is not among them; nothing was sent to Azure",
            listed(named, 3),
            if named.len() == 1 { "is" } else { "are" },
            self.grant,
            self.holders
        ))
    }
}

/// The first `at_most` of `items`, and how many more: "a, b, c and 4 more". The admission
/// policy words its messages the same way, to stay under the API server's 5 KiB.
fn listed(items: &[String], at_most: usize) -> String {
    let shown = items
        .iter()
        .take(at_most)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().checked_sub(at_most) {
        Some(more) if more > 0 => format!("{shown} and {more} more"),
        _ => shown,
    }
}

/// Whether `grant` covers `namespace` (by name, or by label when `labels` are known).
fn covers_namespace(
    grant: &AzureScopeGrant,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    grant.spec.namespaces.iter().any(|n| n == namespace)
        || grant
            .spec
            .namespace_selector
            .as_ref()
            .zip(labels)
            .is_some_and(|(s, l)| selects(s, l))
}

/// The workspace's resource group as an ARM scope.
pub fn workspace_scope(ws: &HipaaWorkspace) -> Result<ArmId, Refusal> {
    ArmId::parse(&format!(
        "/subscriptions/{}/resourceGroups/{}",
        ws.spec.subscription_id, ws.spec.resource_group
    ))
    .map_err(|e| Refusal {
        reason: Failed::InvalidSpec,
        message: format!("spec.subscriptionId and spec.resourceGroup: {e}"),
    })
}

/// Every Azure resource a workspace's spec names, with the field that names it: each must lie
/// inside the granted scopes.
fn named_resources(ws: &HipaaWorkspace) -> Vec<(&'static str, &str)> {
    let s = &ws.spec;
    let mut out = vec![
        ("spec.keyVault.resourceId", s.key_vault.resource_id.as_str()),
        (
            "spec.logAnalytics.resourceId",
            s.log_analytics.resource_id.as_str(),
        ),
    ];
    if let Some(a) = &s.audit_archive {
        out.push(("spec.auditArchive.storageAccountId", &a.storage_account_id));
    }
    if let Some(n) = &s.private_networking {
        out.push(("spec.privateNetworking.subnetId", &n.subnet_id));
        out.extend(
            n.private_dns_zone_ids
                .iter()
                .map(|z| ("spec.privateNetworking.privateDnsZoneIds", z.as_str())),
        );
    }
    out
}

/// The permit of `ws` in `namespace` (whose labels are `labels`, when known) from `grants`.
pub fn permit(
    ws: &HipaaWorkspace,
    labels: Option<&BTreeMap<String, String>>,
    grants: &[Arc<AzureScopeGrant>],
) -> Result<Permit, Refusal> {
    let namespace = ws.namespace().unwrap_or_default();
    let scope = workspace_scope(ws)?;
    let client_id = ws.spec.identity.as_ref().and_then(|i| i.client_id.clone());
    let identity = match &client_id {
        Some(c) => format!("identity {c}"),
        None => "the operator's own identity".to_string(),
    };
    let mut sorted: Vec<&Arc<AzureScopeGrant>> = grants.iter().collect();
    sorted.sort_by_key(|g| g.name_any());
    let (for_namespace, others): (Vec<&Arc<AzureScopeGrant>>, Vec<_>) = sorted
        .into_iter()
        .partition(|g| covers_namespace(g, &namespace, labels));
    let reserved: Vec<Reservation> = others
        .into_iter()
        .filter(|g| g.spec.exclusive)
        .map(|g| Reservation::of(g))
        .collect();
    let mut named = vec![("spec.resourceGroup", scope.clone())];
    named.extend(
        named_resources(ws)
            .into_iter()
            .filter_map(|(field, id)| ArmId::parse(id).ok().map(|id| (field, id))),
    );
    for r in &reserved {
        let mut intrusions: Vec<String> = named
            .iter()
            .filter(|(_, id)| r.holds(id))
            .map(|(field, id)| format!("{field}: {id}"))
            .collect();
        if let Some(c) = client_id.as_deref().filter(|c| r.holds_identity(c)) {
            intrusions.push(format!("spec.identity.clientId: {c}"));
        }
        if !intrusions.is_empty() {
            return Err(r.refusal(&intrusions, &namespace));
        }
    }
    if for_namespace.is_empty() {
        return Err(not_permitted(format!(
            "no AzureScopeGrant covers namespace {namespace}: a cluster admin must grant it {scope} with {identity} before the operator makes any Azure request for this workspace"
        )));
    }
    let granted_scopes = |g: &AzureScopeGrant| -> Vec<ArmId> {
        g.spec
            .scopes
            .iter()
            .filter_map(|s| ArmId::parse(s).ok())
            .collect()
    };
    let mut why_not = Vec::new();
    let mut covering = Vec::new();
    for g in for_namespace {
        let in_scope = granted_scopes(g).iter().any(|s| scope.is_within(s));
        let identity_ok = match &client_id {
            Some(c) => g.spec.identities.iter().any(|i| i.eq_ignore_ascii_case(c)),
            None => g.spec.allow_operator_identity,
        };
        match (in_scope, identity_ok) {
            (true, true) => covering.push(g),
            (false, _) => why_not.push(format!("{} does not include {scope}", g.name_any())),
            (true, false) => why_not.push(format!("{} does not allow {identity}", g.name_any())),
        }
    }
    if covering.is_empty() {
        return Err(not_permitted(format!(
            "no AzureScopeGrant lets namespace {namespace} govern {scope} with {identity} ({}); nothing was sent to Azure",
            why_not.join("; ")
        )));
    }
    let permit = Permit {
        grants: covering.iter().map(|g| g.name_any()).collect(),
        scopes: covering.iter().flat_map(|g| granted_scopes(g)).collect(),
        reserved,
        allow_enforce: covering.iter().any(|g| g.spec.allow_enforce),
        allow_irreversible: covering.iter().any(|g| g.spec.allow_irreversible),
    };
    let outside: Vec<String> = named_resources(ws)
        .into_iter()
        .filter(|(_, id)| ArmId::parse(id).map_or(true, |id| !permit.covers(&id)))
        .map(|(field, id)| format!("{field} {id}"))
        .collect();
    if !outside.is_empty() {
        return Err(not_permitted(format!(
            "outside the scopes granted to namespace {namespace} by {}: {}; nothing was sent to Azure",
            permit.grants.join(", "),
            outside.join(", ")
        )));
    }
    Ok(permit)
}

/// Whether `store`'s resource lies inside its workspace's resource group and the permit's
/// scopes.
pub fn store_in_scope(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    permit: &Permit,
) -> Result<(), Refusal> {
    let scope = workspace_scope(ws)?;
    let id = ArmId::parse(&store.spec.resource.id).map_err(|e| Refusal {
        reason: Failed::InvalidSpec,
        message: format!("spec.resource.id: {e}"),
    })?;
    if let Some(r) = permit.reserving(&id) {
        return Err(r.refusal(
            &[format!("spec.resource.id: {id}")],
            &store.namespace().unwrap_or_default(),
        ));
    }
    if !id.is_within(&scope) {
        return Err(not_permitted(format!(
            "spec.resource.id {id} is outside workspace {}'s scope {scope}: a store governs a resource of its workspace's resource group only; nothing was sent to Azure",
            ws.name_any()
        )));
    }
    if !permit.covers(&id) {
        return Err(not_permitted(format!(
            "spec.resource.id {id} is outside the scopes granted by {}; nothing was sent to Azure",
            permit.grants.join(", ")
        )));
    }
    Ok(())
}

/// The store that governs `store`'s resource first, if it is another: the oldest claim wins
/// (creation time, then namespace and name), so two stores on one resource never fight.
pub fn first_claim<'a>(store: &PhiStore, all: &'a [Arc<PhiStore>]) -> Option<&'a PhiStore> {
    let key = |s: &PhiStore| {
        (
            s.creation_timestamp().map(|t| t.0),
            s.namespace().unwrap_or_default(),
            s.name_any(),
        )
    };
    let mine = key(store);
    all.iter()
        .map(|s| &**s)
        .filter(|s| {
            s.spec
                .resource
                .id
                .eq_ignore_ascii_case(&store.spec.resource.id)
                && s.meta().deletion_timestamp.is_none()
                && key(s) != mine
        })
        .filter(|s| key(s) < mine)
        .min_by_key(|s| key(s))
}

/// An empty grants cache and the writer that fills it.
pub fn grants_store() -> (
    Store<AzureScopeGrant>,
    reflector::store::Writer<AzureScopeGrant>,
) {
    reflector::store()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUB_A: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    const SUB_B: &str = "11111111-2222-4333-8444-555555555555";
    const CLIENT_A: &str = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d";
    const CLIENT_B: &str = "9b0c1d2e-3f4a-4b5c-9d8e-0f1a2b3c4d5e";

    fn rg(sub: &str, rg: &str) -> String {
        format!("/subscriptions/{sub}/resourceGroups/{rg}")
    }

    fn grant(name: &str, spec: serde_json::Value) -> Arc<AzureScopeGrant> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AzureScopeGrant",
                "metadata": {"name": name}, "spec": spec
            }))
            .expect("grant"),
        )
    }

    fn workspace(namespace: &str, sub: &str, group: &str, client: Option<&str>) -> HipaaWorkspace {
        let mut ws: HipaaWorkspace =
            serde_saphyr::from_str(include_str!("../../examples/workspace.yaml")).expect("example");
        ws.metadata.namespace = Some(namespace.into());
        ws.spec.subscription_id = sub.into();
        ws.spec.resource_group = group.into();
        let scope = rg(sub, group);
        ws.spec.key_vault.resource_id = format!("{scope}/providers/Microsoft.KeyVault/vaults/kv1");
        ws.spec.log_analytics.resource_id =
            format!("{scope}/providers/Microsoft.OperationalInsights/workspaces/law1");
        ws.spec.audit_archive = None;
        ws.spec.private_networking = None;
        ws.spec.identity = client.map(|c| crate::api::workspace::AzureIdentity {
            tenant_id: None,
            client_id: Some(c.into()),
            client_secret_ref: None,
        });
        ws
    }

    /// team-a's and team-b's grants, each of its own group and identity, reserving them when
    /// `exclusive`.
    fn team_grants(exclusive: bool) -> Vec<Arc<AzureScopeGrant>> {
        vec![
            grant(
                "team-a",
                json!({"namespaces": ["team-a"], "scopes": [rg(SUB_A, "rg-a")], "identities": [CLIENT_A], "allowEnforce": true, "exclusive": exclusive}),
            ),
            grant(
                "team-b",
                json!({"namespaces": ["team-b"], "scopes": [rg(SUB_A, "rg-b")], "identities": [CLIENT_B], "exclusive": exclusive}),
            ),
        ]
    }

    #[test]
    fn a_workspace_is_served_only_where_a_grant_covers_namespace_scope_and_identity() {
        // Not exclusive: what the namespace's own grants allow decides alone.
        let grants = team_grants(false);
        let ok = permit(
            &workspace("team-a", SUB_A, "rg-a", Some(CLIENT_A)),
            None,
            &grants,
        )
        .expect("team-a on its own group");
        assert_eq!(ok.grants, ["team-a"]);
        assert_eq!(ok.mode(Mode::Enforce), Mode::Enforce);
        // team-b: Enforce is not granted, so it runs in Audit.
        let b = permit(
            &workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B)),
            None,
            &grants,
        )
        .expect("team-b");
        assert_eq!(b.mode(Mode::Enforce), Mode::Audit);
        for (ws, says) in [
            // team-b aims at team-a's resource group,
            (
                workspace("team-b", SUB_A, "rg-a", Some(CLIENT_B)),
                "does not include",
            ),
            // names team-a's identity,
            (
                workspace("team-b", SUB_A, "rg-b", Some(CLIENT_A)),
                "does not allow identity",
            ),
            // or the operator's own identity, which no grant allows here,
            (
                workspace("team-b", SUB_A, "rg-b", None),
                "operator's own identity",
            ),
            // or a namespace no grant names at all,
            (
                workspace("team-c", SUB_A, "rg-b", Some(CLIENT_B)),
                "no AzureScopeGrant covers namespace team-c",
            ),
            // or a group whose name starts like a granted one.
            (
                workspace("team-a", SUB_A, "rg-a-2", Some(CLIENT_A)),
                "does not include",
            ),
        ] {
            let refusal = permit(&ws, None, &grants).expect_err(says);
            assert_eq!(refusal.reason, Failed::NotPermitted);
            assert!(refusal.message.contains(says), "{}", refusal.message);
        }
    }

    #[test]
    fn a_workspace_whose_safeguards_lie_outside_the_grant_is_refused() {
        let grants = team_grants(false);
        let mut ws = workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B));
        ws.spec.key_vault.resource_id = format!(
            "{}/providers/Microsoft.KeyVault/vaults/kv-a",
            rg(SUB_A, "rg-a")
        );
        let refusal = permit(&ws, None, &grants).expect_err("vault of team-a");
        assert!(
            refusal.message.contains("spec.keyVault.resourceId")
                && refusal.message.contains("outside the scopes granted"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn grants_select_namespaces_by_label_and_subscription_scopes_cover_their_groups() {
        let grants = vec![grant(
            "clinical",
            json!({"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["phi"]}]},
                   "scopes": [format!("/subscriptions/{SUB_B}")], "allowOperatorIdentity": true}),
        )];
        let ws = workspace("any", SUB_B, "rg-x", None);
        let phi: BTreeMap<String, String> = [("tier".to_string(), "phi".to_string())].into();
        let other: BTreeMap<String, String> = [("tier".to_string(), "web".to_string())].into();
        assert!(permit(&ws, Some(&phi), &grants).is_ok());
        assert!(permit(&ws, Some(&other), &grants).is_err());
        assert!(permit(&ws, None, &grants).is_err());
    }

    fn store(namespace: &str, name: &str, id: &str, created: &str) -> PhiStore {
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
            "spec": {"workspaceRef": {"name": "ws"}, "resource": {"kind": "StorageAccount", "id": id}}
        }))
        .expect("store")
    }

    #[test]
    fn a_store_governs_only_its_workspaces_group_and_one_resource_has_one_store() {
        let grants = team_grants(false);
        let ws = workspace("team-a", SUB_A, "rg-a", Some(CLIENT_A));
        let p = permit(&ws, None, &grants).expect("permit");
        let own = format!(
            "{}/providers/Microsoft.Storage/storageAccounts/sta",
            rg(SUB_A, "rg-a")
        );
        let theirs = format!(
            "{}/providers/Microsoft.Storage/storageAccounts/stb",
            rg(SUB_A, "rg-b")
        );
        let first = store("team-a", "a", &own, "2026-12-01T00:00:00Z");
        assert!(store_in_scope(&first, &ws, &p).is_ok());
        let refusal = store_in_scope(
            &store("team-a", "x", &theirs, "2026-12-01T00:00:00Z"),
            &ws,
            &p,
        )
        .expect_err("outside");
        assert!(
            refusal.message.contains("outside workspace"),
            "{}",
            refusal.message
        );
        let forged = format!("{own}?api-version=1#x");
        assert!(
            store_in_scope(
                &store("team-a", "y", &forged, "2026-12-01T00:00:00Z"),
                &ws,
                &p
            )
            .is_err()
        );

        let second = store("team-b", "b", &own.to_uppercase(), "2026-12-02T00:00:00Z");
        let all = vec![Arc::new(first.clone()), Arc::new(second.clone())];
        assert!(first_claim(&first, &all).is_none());
        assert_eq!(
            first_claim(&second, &all).map(|s| s.name_any()),
            Some("a".into())
        );
    }
    /// team-a's exclusive grant of rg-a and CLIENT_A, and a platform team's broad grant of the
    /// whole subscription to team-b, not exclusive, which alone would allow team-b everything.
    fn reserved_and_platform_grants(team_a_exclusive: bool) -> Vec<Arc<AzureScopeGrant>> {
        vec![
            grant(
                "team-a",
                json!({"namespaces": ["team-a"], "scopes": [rg(SUB_A, "rg-a")], "identities": [CLIENT_A],
                       "exclusive": team_a_exclusive}),
            ),
            grant(
                "platform",
                json!({"namespaces": ["team-b"], "scopes": [format!("/subscriptions/{SUB_A}")],
                       "identities": [CLIENT_A, CLIENT_B], "exclusive": false}),
            ),
        ]
    }

    #[test]
    fn an_exclusive_grant_reserves_its_scopes_and_identities_to_the_namespaces_it_selects() {
        let grants = reserved_and_platform_grants(true);
        let vault_in_a = format!(
            "{}/providers/Microsoft.KeyVault/vaults/kv-a",
            rg(SUB_A, "rg-a")
        );
        let mut vault_of_a = workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B));
        vault_of_a.spec.key_vault.resource_id = vault_in_a.clone();
        for (ws, says) in [
            // team-b's own grant covers rg-a, but team-a's reserves it,
            (
                workspace("team-b", SUB_A, "rg-a", Some(CLIENT_B)),
                format!(
                    "spec.resourceGroup: {}, spec.keyVault.resourceId: {}/providers/Microsoft.KeyVault/vaults/kv1, spec.logAnalytics.resourceId: {}/providers/Microsoft.OperationalInsights/workspaces/law1 are reserved by AzureScopeGrant team-a to namespaces team-a; namespace team-b is not among them",
                    rg(SUB_A, "rg-a"),
                    rg(SUB_A, "rg-a"),
                    rg(SUB_A, "rg-a")
                ),
            ),
            // and team-a's identity, whatever its case,
            (
                workspace("team-b", SUB_A, "rg-b", Some(&CLIENT_A.to_uppercase())),
                format!(
                    "spec.identity.clientId: {} is reserved by AzureScopeGrant team-a to namespaces team-a; namespace team-b is not among them",
                    CLIENT_A.to_uppercase()
                ),
            ),
            // and every safeguard inside rg-a.
            (
                vault_of_a,
                format!(
                    "spec.keyVault.resourceId: {vault_in_a} is reserved by AzureScopeGrant team-a"
                ),
            ),
        ] {
            let refusal = permit(&ws, None, &grants).expect_err(&says);
            assert_eq!(refusal.reason, Failed::NotPermitted);
            assert!(refusal.message.contains(&says), "{}", refusal.message);
        }
        // team-a's own workspace is served under its grant; team-b's own group under the
        // platform grant, whose permit still never reaches into rg-a (the executor's check).
        assert!(
            permit(
                &workspace("team-a", SUB_A, "rg-a", Some(CLIENT_A)),
                None,
                &grants
            )
            .is_ok()
        );
        let b = permit(
            &workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B)),
            None,
            &grants,
        )
        .expect("team-b on its own group");
        let parse = |s: &str| ArmId::parse(s).expect("an ARM id");
        assert!(b.covers(&parse(&format!(
            "{}/providers/Microsoft.Storage/storageAccounts/stb",
            rg(SUB_A, "rg-b")
        ))));
        assert!(!b.covers(&parse(&vault_in_a)));
        assert!(!b.covers(&parse(&rg(SUB_A, "rg-a"))));

        // A store of team-b's own workspace on an account in rg-a: refused, naming the grant.
        let account_in_a = format!(
            "{}/providers/Microsoft.Storage/storageAccounts/sta",
            rg(SUB_A, "rg-a")
        );
        let refusal = store_in_scope(
            &store("team-b", "poach", &account_in_a, "2026-12-01T00:00:00Z"),
            &workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B)),
            &b,
        )
        .expect_err("a store in rg-a");
        assert_eq!(refusal.reason, Failed::NotPermitted);
        assert!(
            refusal.message.contains(&format!(
                "spec.resource.id: {account_in_a} is reserved by AzureScopeGrant team-a to namespaces team-a; namespace team-b is not among them"
            )),
            "{}",
            refusal.message
        );

        // Not exclusive, team-a's grant reserves nothing: the platform grant serves team-b.
        let shared = reserved_and_platform_grants(false);
        assert!(
            permit(
                &workspace("team-b", SUB_A, "rg-a", Some(CLIENT_A)),
                None,
                &shared
            )
            .is_ok()
        );
    }

    #[test]
    fn a_reservation_by_label_spares_the_namespaces_its_selector_selects() {
        let grants = vec![
            grant(
                "clinical",
                json!({"namespaces": ["clinical"],
                       "namespaceSelector": {"matchLabels": {"tier": "phi"},
                                             "matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]},
                       "scopes": [rg(SUB_B, "rg-clinical")], "allowOperatorIdentity": true}),
            ),
            grant(
                "platform",
                json!({"namespaceSelector": {}, "scopes": [format!("/subscriptions/{SUB_B}")],
                       "allowOperatorIdentity": true, "exclusive": false}),
            ),
        ];
        let ws = workspace("research", SUB_B, "rg-clinical", None);
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let phi = labels(&[("tier", "phi")]);
        let p = permit(&ws, Some(&phi), &grants).expect("a namespace the selector selects");
        assert_eq!(p.grants, ["clinical", "platform"]);
        for other in [
            labels(&[("tier", "web")]),
            labels(&[("tier", "phi"), ("legacy", "yes")]),
        ] {
            let refusal = permit(&ws, Some(&other), &grants).expect_err("not selected");
            assert!(
                refusal.message.contains(
                    "reserved by AzureScopeGrant clinical to namespaces clinical and those its namespaceSelector selects; namespace research is not among them"
                ),
                "{}",
                refusal.message
            );
        }
        // Elsewhere in the subscription the platform grant serves any namespace.
        assert!(
            permit(
                &workspace("research", SUB_B, "rg-research", None),
                Some(&labels(&[])),
                &grants
            )
            .is_ok()
        );
    }
    #[test]
    fn a_reservation_names_at_most_three_ids_and_five_namespaces() {
        let namespaces: Vec<String> = (1..=7).map(|i| format!("team-{i}")).collect();
        let grants = vec![grant(
            "wide",
            json!({"namespaces": namespaces, "scopes": [rg(SUB_A, "rg-a")]}),
        )];
        let mut ws = workspace("team-b", SUB_A, "rg-a", Some(CLIENT_B));
        ws.spec.audit_archive = Some(crate::api::workspace::AuditArchive {
            storage_account_id: format!(
                "{}/providers/Microsoft.Storage/storageAccounts/starchive",
                rg(SUB_A, "rg-a")
            ),
            ..serde_saphyr::from_str::<HipaaWorkspace>(include_str!(
                "../../examples/workspace.yaml"
            ))
            .expect("example")
            .spec
            .audit_archive
            .expect("an archive")
        });
        let refusal = permit(&ws, None, &grants).expect_err("reserved");
        assert!(
            refusal.message.ends_with(
                "/providers/Microsoft.OperationalInsights/workspaces/law1 and 1 more are reserved by AzureScopeGrant wide to namespaces team-1, team-2, team-3, team-4, team-5 and 2 more; namespace team-b is not among them; nothing was sent to Azure"
            ),
            "{}",
            refusal.message
        );
        assert_eq!(listed(&["a".to_string()], 3), "a");
        assert_eq!(listed(&[], 3), "");
    }
}
