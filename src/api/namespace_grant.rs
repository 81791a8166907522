//! `NamespaceGrant`: what the AzureScopeGrants give one namespace, written by the operator into
//! that namespace so an admission policy can read it.
//!
//! A ValidatingAdmissionPolicy evaluates each of its params on its own and denies when any
//! evaluation denies, so "some grant covers this workspace" cannot be asked of the
//! AzureScopeGrants themselves. The operator therefore gathers, for each namespace a grant
//! covers, the grants that cover it into one object with a fixed name ([`NAME`]); the chart's
//! coverage policy takes it as its param (`paramRef.name` without a namespace means the
//! request's own namespace) and refuses a workspace or store it does not cover, at apply time.

// clippy reads the repeated `printcolumn(type_ = ...)` arguments of `#[kube]` as duplicated
// attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The one name a namespace's NamespaceGrant has.
pub const NAME: &str = "azure-scope-grants";

/// The most grants one NamespaceGrant lists (the schema's `maxItems` of `spec.grants`).
pub const MAX_GRANTS: usize = 32;

/// The AzureScopeGrants that cover this namespace, as the operator last read them. Written only
/// by the operator (the chart's admission policy refuses anyone else); change the grants
/// instead. The chart's coverage policy reads it to refuse, at apply time, a HipaaWorkspace or
/// PhiStore that no grant covers; with no grant covering the namespace there is no
/// NamespaceGrant, and every HipaaWorkspace or PhiStore there is refused.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[kube(
    group = "hipaa-operator.io",
    version = "v1alpha1",
    kind = "NamespaceGrant",
    doc = "What the AzureScopeGrants give this namespace, written by the operator for the chart's coverage admission policy.",
    namespaced,
    shortname = "nsgrant",
    printcolumn(name = "Grants", type_ = "string", json_path = ".spec.grants[*].name"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceGrantSpec {
    /// The grants that cover the namespace, sorted by name. At most 32: the coverage policy
    /// compares every id an object names with every scope listed, within the API server's CEL
    /// cost budget. A namespace more grants cover gets no NamespaceGrant (the operator logs
    /// why), and the policy refuses its objects: merge grants instead.
    #[schemars(length(max = 32))]
    pub grants: Vec<GrantEntry>,
}

/// One AzureScopeGrant covering the namespace: what it lets the namespace govern.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantEntry {
    /// The AzureScopeGrant's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Its scopes (`spec.scopes`).
    #[schemars(length(max = 64))]
    #[schemars(inner(length(max = 1024)))]
    pub scopes: Vec<String>,
    /// Its client ids (`spec.identities`).
    #[serde(default)]
    #[schemars(length(max = 64))]
    #[schemars(inner(length(max = 36)))]
    pub identities: Vec<String>,
    /// Whether workspaces naming no identity may use the operator's own
    /// (`spec.allowOperatorIdentity`).
    #[serde(default)]
    pub allow_operator_identity: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_schema_bounds_the_grants_at_max_grants() {
        let crd = serde_json::to_value(NamespaceGrant::crd()).expect("CRD");
        let grants = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["grants"];
        assert_eq!(grants["maxItems"], MAX_GRANTS);
    }
}
