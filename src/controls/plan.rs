//! The plan every evaluator module returns for the kinds governed through the generic ARM
//! envelope: the Azure writes that remediate drifted controls, as data. Pure: the controller
//! applies a plan; a planner never performs I/O. Storage accounts keep their typed
//! [`super::storage::StoragePlan`]; the other kinds (and the workspace's shared safeguards) use
//! this one.

use serde_json::Value;

use crate::azure::insights::DesiredDiagnosticSetting;
use crate::azure::types::ArmOp;

/// One ARM write.
#[derive(Clone, Debug, PartialEq)]
pub enum ArmWrite {
    /// PATCH `id` with `body`: only the drifted properties.
    Patch { op: ArmOp, id: String, body: Value },
    /// PUT `id` with `body`: a sub-resource whose whole desired body the planner knows
    /// (auditing settings, encryption protector, a table's retention, …).
    Put { op: ArmOp, id: String, body: Value },
    /// Read-modify-write of a resource whose PATCH cannot change `properties` (Health Data
    /// Services): GET, set each JSON pointer (`/properties/corsConfiguration/origins`) to its
    /// value, PUT back with `If-Match`.
    Merge {
        get: ArmOp,
        put: ArmOp,
        id: String,
        set: Vec<(String, Value)>,
    },
    /// POST an action on `id` (`.../lock`, `.../regenerateKey`) with an optional body, guarded
    /// by `If-Match` when the action needs the etag read.
    Post {
        op: ArmOp,
        id: String,
        body: Option<Value>,
        if_match: Option<String>,
    },
    /// DELETE `id` (a firewall rule that opens the server to the internet, …).
    Delete { op: ArmOp, id: String },
}

impl ArmWrite {
    /// The resource the write changes.
    pub fn id(&self) -> &str {
        match self {
            ArmWrite::Patch { id, .. }
            | ArmWrite::Put { id, .. }
            | ArmWrite::Merge { id, .. }
            | ArmWrite::Post { id, .. }
            | ArmWrite::Delete { id, .. } => id,
        }
    }
}

/// A built-in role for a principal at a scope (an idempotent role assignment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleGrant {
    pub scope: String,
    pub role_guid: &'static str,
    pub principal_id: String,
}

/// The writes that remediate a set of drifted findings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// ARM writes, in the order they must be made.
    pub writes: Vec<ArmWrite>,
    /// Private-endpoint sub-resources (`sqlServer`, `Sql`, `vault`, `healthcareworkspace`)
    /// that need the operator's private endpoint on the target; the controller places it in the
    /// workspace's subnet with the matching private DNS zone.
    pub private_endpoint_groups: Vec<String>,
    /// Diagnostic settings (under the operator's well-known name) to write.
    pub diagnostics: Vec<DesiredDiagnosticSetting>,
    /// The workspace key must exist with its rotation policy before any write that points at it.
    pub ensure_key: bool,
    /// The name of that key in the workspace vault.
    pub key_name: Option<String>,
    /// Roles to give before a switch that needs them (a vault's access-policy holders before
    /// RBAC authorization): principals and scope from what the pass read.
    pub role_grants: Vec<RoleGrant>,
    /// Ids of the controls the plan remediates.
    pub remediates: Vec<&'static str>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.private_endpoint_groups.is_empty()
            && self.diagnostics.is_empty()
            && self.role_grants.is_empty()
            && !self.ensure_key
    }

    /// Records that `id` is remediated by this plan (once).
    pub fn remediates(&mut self, id: &'static str) {
        if !self.remediates.contains(&id) {
            self.remediates.push(id);
        }
    }
}

/// Whether `to_fix` holds control `id` as drift the operator may remediate on its own (the
/// catalog marks it automatic): what every planner asks before planning a write.
pub fn remediable(to_fix: &[&super::Finding], id: &str) -> bool {
    to_fix.iter().any(|f| {
        f.id() == id
            && f.found == super::Found::Drifted
            && f.control.remediation == crate::catalog::Remediation::Automatic
    })
}

/// The value at a dotted path of an ARM body (`properties.networkAcls.defaultAction`), for
/// evaluators that read the generic envelope.
pub fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// A value as evidence: strings bare, others as JSON, missing as `(not set)`.
pub fn evidence(value: Option<&Value>) -> String {
    match value {
        None => "(not set)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_nested_values_and_treat_null_as_missing() {
        let body = json!({"properties": {"a": {"b": "x"}, "n": null, "t": true}});
        assert_eq!(at(&body, "properties.a.b"), Some(&json!("x")));
        assert_eq!(at(&body, "properties.n"), None);
        assert_eq!(at(&body, "properties.missing.b"), None);
        assert_eq!(evidence(at(&body, "properties.a.b")), "x");
        assert_eq!(evidence(at(&body, "properties.t")), "true");
        assert_eq!(evidence(at(&body, "properties.n")), "(not set)");
    }

    #[test]
    fn an_empty_plan_writes_nothing_and_remediations_are_recorded_once() {
        let mut plan = Plan::default();
        assert!(plan.is_empty());
        plan.remediates("sql.min-tls-1-2");
        plan.remediates("sql.min-tls-1-2");
        assert_eq!(plan.remediates, vec!["sql.min-tls-1-2"]);
        plan.private_endpoint_groups.push("sqlServer".into());
        assert!(!plan.is_empty());
    }
}
