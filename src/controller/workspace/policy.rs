//! The HIPAA HITRUST policy initiative's assignment: read as the spec asks for it, and reported
//! as the `PolicyAssigned` condition with Azure Policy's compliance summary.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::HipaaWorkspace;
use crate::api::common::condition::{POLICY_ASSIGNED, reason};
use crate::api::workspace::PolicySummary;
use crate::azure::resources::{self, ArmResource};
use crate::azure::{AzureClient, AzureError};
use crate::controller::pipeline::Pass;
use crate::controller::report;

/// The HIPAA HITRUST initiative's assignment as read: where it should be and whether it is
/// there, pointing at the initiative and enforced.
pub(super) struct Assignment {
    pub(super) scope: String,
    pub(super) name: String,
    id: String,
    found: Option<ArmResource>,
    pub(super) assigned: bool,
}

/// Reads the assignment the spec asks for; `None` when the spec asks for none.
pub(super) async fn read_policy(
    ws: &HipaaWorkspace,
    azure: &AzureClient,
) -> Result<Option<Assignment>, AzureError> {
    let Some(initiative) = ws.spec.policy_initiative.as_ref().filter(|p| p.enabled) else {
        return Ok(None);
    };
    let scope = format!(
        "/subscriptions/{}/resourceGroups/{}",
        ws.spec.subscription_id, ws.spec.resource_group
    );
    let id = format!(
        "{scope}/providers/Microsoft.Authorization/policyAssignments/{}",
        initiative.assignment_name
    );
    let found = azure
        .get_resource(&resources::GET_POLICY_ASSIGNMENT, &id)
        .await?;
    let definition = found
        .as_ref()
        .and_then(|f| f.properties.get("policyDefinitionId"))
        .and_then(|d| d.as_str());
    let enforced = found
        .as_ref()
        .and_then(|f| f.properties.get("enforcementMode"))
        .and_then(|m| m.as_str())
        .is_none_or(|m| m.eq_ignore_ascii_case("Default"));
    let assigned = definition
        .is_some_and(|d| d.eq_ignore_ascii_case(resources::HIPAA_HITRUST_INITIATIVE))
        && enforced;
    Ok(Some(Assignment {
        scope,
        name: initiative.assignment_name.clone(),
        id,
        found,
        assigned,
    }))
}

/// The `PolicyAssigned` condition and Azure Policy's summary, once the assignment is there
/// (`fixed`: the executor just restored it).
pub(super) async fn policy_report(
    a: &Assignment,
    fixed: bool,
    azure: &AzureClient,
    pass: &Pass,
) -> Result<(Option<PolicySummary>, Condition), AzureError> {
    let (scope, name) = (&a.scope, &a.name);
    let condition = if a.assigned || fixed {
        report::condition(
            &pass.previous.conditions,
            POLICY_ASSIGNED,
            true,
            "Assigned",
            format!("the HIPAA HITRUST initiative is assigned at {scope} as {name}"),
            pass.generation,
            &pass.now,
        )
    } else {
        let definition = a
            .found
            .as_ref()
            .and_then(|f| f.properties.get("policyDefinitionId"))
            .and_then(|d| d.as_str());
        let observed = match (&a.found, definition) {
            (None, _) => format!("no assignment {name} at {scope}"),
            (Some(_), Some(d)) if !d.eq_ignore_ascii_case(resources::HIPAA_HITRUST_INITIATIVE) => {
                format!("{name} assigns {d}, not the HIPAA HITRUST initiative")
            }
            _ => format!("{name} is not enforced (enforcementMode DoNotEnforce)"),
        };
        report::condition(
            &pass.previous.conditions,
            POLICY_ASSIGNED,
            false,
            reason::DRIFTED,
            format!(
                "{observed}; the spec asks for the HIPAA HITRUST initiative (Enforce mode assigns it)"
            ),
            pass.generation,
            &pass.now,
        )
    };
    let summary = if a.assigned || fixed {
        let counts = azure.policy_summary(scope, &a.id).await?;
        Some(PolicySummary {
            assignment_id: a.id.clone(),
            non_compliant_resources: counts.map(|c| c.0),
            non_compliant_policies: counts.map(|c| c.1),
        })
    } else {
        None
    };
    Ok((summary, condition))
}
