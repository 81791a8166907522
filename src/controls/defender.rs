//! `storage.defender`, `kv.defender`, `cosmos.defender`: the Microsoft Defender for Cloud plan
//! that covers the store, which Azure keeps per subscription for these kinds (see
//! [`crate::azure::security`]). Turning a subscription plan on bills it for every resource of
//! the kind in the subscription, so the operator does it only for a workspace an
//! AzureScopeGrant gives the whole subscription; otherwise a person does. Pure.

use serde_json::{Value, json};

use super::finding::{Finding, Found};
use super::plan::{ArmWrite, at, remediable};
use crate::azure::resources::ArmResource;
use crate::azure::security::PUT_PRICING;

/// The plans: `(control, plan, sub-plan a fix sets)`.
pub const PLANS: &[(&str, &str, Option<&str>)] = &[
    // Defender for Storage per account, with malware scanning on upload and sensitive data
    // discovery: the sub-plan Azure has recommended since 2023.
    (
        "storage.defender",
        "StorageAccounts",
        Some("DefenderForStorageV2"),
    ),
    ("kv.defender", "KeyVaults", None),
    ("cosmos.defender", "CosmosDbs", None),
];

/// The plan behind `control`.
pub fn plan_for(control: &str) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    PLANS.iter().copied().find(|(c, _, _)| *c == control)
}

/// What is expected of the store's Defender plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefenderExpectations {
    pub control: &'static str,
    pub plan: &'static str,
    pub sub_plan: Option<&'static str>,
    /// `/subscriptions/{id}/providers/Microsoft.Security/pricings/{plan}`, built from the
    /// store's parsed resource id.
    pub pricing_id: String,
    /// A grant covering the workspace holds the whole subscription.
    pub subscription_granted: bool,
}

impl DefenderExpectations {
    /// What is expected of the plan behind `control` for the resource `resource_id`, with
    /// `granted` saying whether a grant holds the plan's id. `None` for a control without a
    /// plan or an id not under a subscription.
    pub fn of(
        control: &str,
        resource_id: &str,
        granted: impl Fn(&str) -> bool,
    ) -> Option<DefenderExpectations> {
        let (control, plan, sub_plan) = plan_for(control)?;
        let pricing_id = crate::azure::security::subscription_plan_id(resource_id, plan).ok()?;
        Some(DefenderExpectations {
            control,
            plan,
            sub_plan,
            subscription_granted: granted(&pricing_id),
            pricing_id,
        })
    }
}

/// The plan as read, or why it could not be read (reading it takes
/// `Microsoft.Security/pricings/read` on the subscription, which a role scoped to a resource
/// group does not carry).
pub type DefenderObservation = Result<ArmResource, String>;

fn subscription(pricing_id: &str) -> &str {
    pricing_id.split('/').nth(2).unwrap_or("<subscription>")
}

/// Evaluates the store's Defender plan.
pub fn evaluate(expect: &DefenderExpectations, obs: &DefenderObservation) -> Finding {
    let expected = format!(
        "the subscription's {} plan at pricingTier Standard",
        expect.plan
    );
    let pricing = match obs {
        Err(why) => {
            return Finding::new(expect.control, Found::Error, expected, "plan not read")
                .with_message(format!(
                    "{why}; reading a Defender plan takes Microsoft.Security/pricings/read on subscription {} (Security Reader there)",
                    subscription(&expect.pricing_id)
                ));
        }
        Ok(pricing) => pricing,
    };
    let body = json!({ "properties": pricing.properties });
    let tier = at(&body, "properties.pricingTier")
        .and_then(Value::as_str)
        .unwrap_or("Free");
    let sub_plan = at(&body, "properties.subPlan").and_then(Value::as_str);
    let observed = match sub_plan {
        Some(sub) => format!("{}: {tier} ({sub})", expect.plan),
        None => format!("{}: {tier}", expect.plan),
    };
    let finding = Finding::check(
        expect.control,
        tier.eq_ignore_ascii_case("Standard"),
        expected,
        observed,
    );
    if expect.subscription_granted {
        return finding;
    }
    let command = match expect.sub_plan {
        Some(sub) => format!(
            "az security pricing create -n {} --tier Standard --subplan {sub} --subscription {}",
            expect.plan,
            subscription(&expect.pricing_id)
        ),
        None => format!(
            "az security pricing create -n {} --tier Standard --subscription {}",
            expect.plan,
            subscription(&expect.pricing_id)
        ),
    };
    finding.awaiting_person(format!(
        "the {} plan is set per subscription and billed for every resource of its kind there, and no AzureScopeGrant covering this workspace holds subscription {}: turn it on ({command}), have a cluster admin grant the subscription, or exempt {} in this PhiStore's spec.exemptions",
        expect.plan,
        subscription(&expect.pricing_id),
        expect.control
    ))
}

/// The PUT that turns the plan on, when it drifted, may be fixed, and the subscription is
/// granted.
pub fn plan(expect: &DefenderExpectations, to_fix: &[&Finding]) -> Option<ArmWrite> {
    if !expect.subscription_granted || !remediable(to_fix, expect.control) {
        return None;
    }
    let mut properties = json!({"pricingTier": "Standard"});
    if let Some(sub) = expect.sub_plan {
        properties["subPlan"] = json!(sub);
    }
    Some(ArmWrite::Put {
        op: PUT_PRICING,
        id: expect.pricing_id.clone(),
        body: json!({ "properties": properties }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(granted: bool) -> DefenderExpectations {
        DefenderExpectations {
            control: "storage.defender",
            plan: "StorageAccounts",
            sub_plan: Some("DefenderForStorageV2"),
            pricing_id: "/subscriptions/s1/providers/Microsoft.Security/pricings/StorageAccounts"
                .into(),
            subscription_granted: granted,
        }
    }

    /// The recorded subscription plan list's `StorageAccounts` entry, with the tier given.
    fn recorded(tier: &str) -> ArmResource {
        let path = format!(
            "{}/../shared/azure-rest-examples/Microsoft.Security/2024-01-01/ListPricings_example.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
        let mut entry = v["responses"]["200"]["body"]["value"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["name"] == "StorageAccounts")
            .expect("StorageAccounts")
            .clone();
        entry["properties"]["pricingTier"] = json!(tier);
        serde_json::from_value(entry).expect("pricing")
    }

    #[test]
    fn a_standard_plan_complies_and_a_free_one_is_fixed_only_on_a_granted_subscription() {
        let ok = evaluate(&expect(true), &Ok(recorded("Standard")));
        assert_eq!(ok.found, Found::Compliant, "{ok:?}");
        assert!(plan(&expect(true), &[&ok]).is_none());

        let free = evaluate(&expect(true), &Ok(recorded("Free")));
        assert_eq!(
            (free.found, free.awaiting()),
            (Found::Drifted, crate::api::common::Awaiting::Operator)
        );
        match plan(&expect(true), &[&free]) {
            Some(ArmWrite::Put { op, id, body }) => {
                assert_eq!(op, PUT_PRICING);
                assert_eq!(id, expect(true).pricing_id);
                assert_eq!(
                    body,
                    json!({"properties": {"pricingTier": "Standard", "subPlan": "DefenderForStorageV2"}})
                );
            }
            other => panic!("{other:?}"),
        }

        // Without the subscription: a person turns it on, the plan writes nothing.
        let held = evaluate(&expect(false), &Ok(recorded("Free")));
        assert_eq!(held.awaiting(), crate::api::common::Awaiting::Person);
        let message = held.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("az security pricing create -n StorageAccounts --tier Standard --subplan DefenderForStorageV2 --subscription s1"),
            "{message}"
        );
        assert!(plan(&expect(false), &[&held]).is_none());
    }

    #[test]
    fn an_unread_plan_is_an_error_never_compliant() {
        let f = evaluate(&expect(true), &Err("403 AuthorizationFailed".into()));
        assert_eq!(f.found, Found::Error);
        assert!(
            f.message
                .as_deref()
                .is_some_and(|m| m.contains("Microsoft.Security/pricings/read")),
            "{f:?}"
        );
        assert!(plan(&expect(true), &[&f]).is_none());
    }
}
