//! Azure's own access reviews (`Microsoft.Authorization/accessReviewScheduleDefinitions`):
//! the definition the operator keeps for a store, and its newest instance mirrored into an
//! AccessReview.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::new_cycle;
use crate::api::accessreview::Decision;
use crate::api::accessreview::DecisionKind;
use crate::api::accessreview::{AccessReview, ReviewedAssignment};
use crate::api::common::Mode;
use crate::api::{HipaaWorkspace, PhiStore};
use crate::azure::AzureClient;
use crate::azure::resources::ArmResource;
use crate::azure::types::ArmOp;
use crate::controller::intent::Intent;
use crate::controller::pipeline::Failure;
use crate::controls::plan::ArmWrite;
use serde_json::{Value, json};

const API: &str = "2021-12-01-preview";
const PROVIDER: &str = "Microsoft.Authorization";
const GET_DEFINITION: ArmOp = ArmOp::new(
    "ScopeAccessReviewScheduleDefinitions_GetById",
    PROVIDER,
    API,
);
const PUT_DEFINITION: ArmOp = ArmOp::new(
    "ScopeAccessReviewScheduleDefinitions_CreateOrUpdateById",
    PROVIDER,
    API,
);
const LIST_INSTANCES: ArmOp = ArmOp::new("ScopeAccessReviewInstances_List", PROVIDER, API);
const LIST_DECISIONS: ArmOp = ArmOp::new("ScopeAccessReviewInstanceDecisions_List", PROVIDER, API);
/// Annotation on a reflected cycle naming the Azure instance it mirrors.
pub const INSTANCE_ANNOTATION: &str = "hipaa-operator.io/azure-review-instance";

#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<ArmResource>,
}

/// The schedule definition the operator keeps for a store, at the store's scope.
pub fn definition_id(store_id: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/accessReviewScheduleDefinitions/{}",
        store_id.trim_end_matches('/'),
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            store_id.to_ascii_lowercase().as_bytes()
        )
    )
}

/// What Azure holds of the store's review: whether the schedule definition exists, and its
/// newest instance with the decisions recorded on it.
pub struct View {
    definition: Option<ArmResource>,
    instance: Option<(ArmResource, Vec<ArmResource>)>,
}

/// Reads the definition, its newest instance and that instance's decisions.
pub async fn read(azure: &AzureClient, store: &PhiStore) -> Result<View, Failure> {
    let id = definition_id(&store.spec.resource.id);
    let definition: Option<ArmResource> = azure.get_opt(&GET_DEFINITION, &id).await?;
    if definition.is_none() {
        return Ok(View {
            definition,
            instance: None,
        });
    }
    let instances: Page = azure
        .get(&LIST_INSTANCES, &format!("{id}/instances"))
        .await?;
    let newest = instances.value.into_iter().max_by(|a, b| {
        let start = |r: &ArmResource| {
            r.properties["startDateTime"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        start(a).cmp(&start(b))
    });
    let instance = match newest {
        Some(instance) => {
            let decisions: Page = azure
                .get(&LIST_DECISIONS, &format!("{}/decisions", instance.id))
                .await?;
            Some((instance, decisions.value))
        }
        None => None,
    };
    Ok(View {
        definition,
        instance,
    })
}

/// The definition to create (Enforce mode) and the instance to mirror into an AccessReview:
/// the assignments Azure reviews and the decisions reviewers made there.
pub fn plan(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    mode: Mode,
    view: &View,
    current: &[ReviewedAssignment],
    reviews: &[AccessReview],
    now: &Time,
) -> Vec<Intent> {
    let mut intents = Vec::new();
    if view.definition.is_none() {
        if mode == Mode::Enforce {
            intents.push(Intent::Arm(ArmWrite::Put {
                op: PUT_DEFINITION,
                id: definition_id(&store.spec.resource.id),
                body: definition_body(store, ws, now),
            }));
        }
        return intents;
    }
    let Some((instance, decisions)) = &view.instance else {
        return intents;
    };
    let reflected: Vec<Decision> = decisions.iter().filter_map(decision_of).collect();
    let mirrored = reviews
        .iter()
        .find(|r| r.annotations().get(INSTANCE_ANNOTATION) == Some(&instance.id));
    match mirrored {
        Some(r) => {
            let mut wanted = reflected;
            wanted.retain(|d| {
                r.spec
                    .assignments
                    .iter()
                    .any(|a| a.principal_id == d.principal_id)
            });
            if r.spec.decisions != wanted {
                let mut updated = r.clone();
                updated.spec.decisions = wanted;
                intents.push(Intent::SetCycleDecisions(Box::new(updated)));
            }
        }
        None => {
            let due = instance.properties["endDateTime"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .unwrap_or(now.0);
            // Azure reviews the assignments at the store's own scope: those are the cycle.
            let in_review: Vec<ReviewedAssignment> = current
                .iter()
                .filter(|a| {
                    decisions.iter().any(|d| {
                        d.properties["principal"]["id"].as_str() == Some(a.principal_id.as_str())
                    })
                })
                .cloned()
                .collect();
            let mut review = new_cycle(
                store,
                ws.spec.access_review.as_ref(),
                &in_review,
                now,
                Time(due),
                reviews,
            );
            review.spec.decisions = reflected
                .into_iter()
                .filter(|d| in_review.iter().any(|a| a.principal_id == d.principal_id))
                .collect();
            review
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(INSTANCE_ANNOTATION.into(), instance.id.clone());
            intents.push(Intent::OpenCycle(Box::new(review)));
        }
    }
    intents
}

/// The schedule definition the operator creates for a store.
fn definition_body(store: &PhiStore, ws: &HipaaWorkspace, now: &Time) -> Value {
    let (cadence, due) = super::cadence(ws);
    let reviewers: Vec<Value> = ws
        .spec
        .access_review
        .as_ref()
        .map(|a| {
            a.reviewers
                .iter()
                .filter_map(|r| r.principal_id.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|p| json!({"principalId": p}))
        .collect();
    // What the 2021-12-01-preview model marks readOnly is not sent: the scope (the URL names
    // it), `reviewersType`, each reviewer's `principalType`, `status`, `createdBy`. The body is
    // wrapped in `properties`, as Microsoft's recorded example and the service's other
    // access-review examples send it; the swagger's unwrapped body parameter is reported as an
    // authoring error (Azure/azure-rest-api-specs#16217), and no SDK has recorded live traffic
    // of this call.
    json!({"properties": {
        "displayName": format!("HIPAA access review of {}", store.name_any()),
        "descriptionForReviewers": "Who can reach this PHI store: approve what is still needed, deny the rest (45 CFR 164.308(a)(3)(ii)(B)/(C), (a)(4)).",
        "reviewers": reviewers,
        "settings": {
            "justificationRequiredOnApproval": true,
            "defaultDecisionEnabled": false,
            "autoApplyDecisionsEnabled": false,
            "instanceDurationInDays": (due.as_secs() / 86_400).max(1),
            "recurrence": {
                "pattern": {"type": "absoluteMonthly", "interval": (cadence.as_secs() / (30 * 86_400)).max(1)},
                "range": {"type": "noEnd", "startDate": now.0.to_string()}
            }
        }
    }})
}

/// A decision recorded in Azure, as the cycle's decision.
fn decision_of(d: &ArmResource) -> Option<Decision> {
    let p = &d.properties;
    let kind = match p["decision"].as_str()? {
        "Approve" => DecisionKind::Approve,
        "Deny" => DecisionKind::Deny,
        _ => return None,
    };
    let principal = p["principal"]["id"].as_str()?.to_string();
    let reviewer = p["reviewedBy"]["principalName"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .or(p["reviewedBy"]["principalId"].as_str())
        .unwrap_or("a reviewer in Azure")
        .to_string();
    Some(Decision {
        principal_id: principal,
        decision: kind,
        reviewer,
        justification: p["justification"]
            .as_str()
            .filter(|j| !j.trim().is_empty())
            .unwrap_or("(recorded in Azure without a justification)")
            .to_string(),
        decided_at: p["reviewedDateTime"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .map(Time),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_definition_sends_nothing_the_model_marks_read_only() {
        let ws: HipaaWorkspace = serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "HipaaWorkspace",
            "metadata": {"name": "ws", "namespace": "n"},
            "spec": {
                "subscriptionId": "00000000-0000-4000-8000-000000000000", "resourceGroup": "rg",
                "keyVault": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"},
                "logAnalytics": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/la"},
                "accessReview": {"cadence": "P90D", "dueAfter": "P14D", "azureNative": true,
                    "reviewers": [{"name": "privacy-officer@contoso-health.example",
                                   "principalId": "22222222-2222-4222-8222-222222222222"}]}
            }
        }))
        .expect("workspace");
        let store: PhiStore = serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
            "metadata": {"name": "st", "namespace": "n"},
            "spec": {"workspaceRef": {"name": "ws"}, "resource": {"kind": "StorageAccount",
                "id": "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"}}
        }))
        .expect("store");
        let body = definition_body(&store, &ws, &Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        let props = &body["properties"];
        for read_only in ["scope", "reviewersType", "status", "createdBy", "instances"] {
            assert!(props.get(read_only).is_none(), "{read_only} sent: {body}");
        }
        assert_eq!(
            props["reviewers"],
            json!([{"principalId": "22222222-2222-4222-8222-222222222222"}])
        );
        assert_eq!(props["settings"]["instanceDurationInDays"], 14);
    }
}
