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
use crate::api::namespace_grant::GrantEntry;
use crate::api::{AzureScopeGrant, HipaaWorkspace, PhiStore};
use crate::azure::id::ArmId;

use crate::api::common::condition::Failed;
pub use crate::api::common::condition::reason::{ALREADY_GOVERNED, NOT_PERMITTED};

mod reservation;

use reservation::Reservation;

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

/// What `grants` give `namespace` (labelled `labels`): one entry per grant covering it, by
/// name. The operator writes it as the namespace's [`NamespaceGrant`](crate::api::NamespaceGrant)
/// for the chart's coverage policy; [`permit`] decides from the same grants.
pub fn namespace_grants(
    namespace: &str,
    labels: &BTreeMap<String, String>,
    grants: &[Arc<AzureScopeGrant>],
) -> Vec<GrantEntry> {
    let mut entries: Vec<GrantEntry> = grants
        .iter()
        .filter(|g| covers_namespace(g, namespace, Some(labels)))
        .map(|g| GrantEntry {
            name: g.name_any(),
            scopes: g.spec.scopes.clone(),
            identities: g.spec.identities.clone(),
            allow_operator_identity: g.spec.allow_operator_identity,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
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
mod tests;
