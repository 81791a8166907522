//! Defender for Cloud pricings: subscription plans (Free until set, with their coverage), and
//! resource-level pricing on virtual machines that inherits the subscription's until it is set,
//! and returns to inheritance when deleted.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const API: &str = "2024-01-01";

fn sub_pricing(plan: &str) -> String {
    format!("/subscriptions/{SUB}/providers/Microsoft.Security/pricings/{plan}?api-version={API}")
}

async fn machine(h: &Harness, name: &str) -> String {
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/{name}"
    );
    let r = h
        .arm(
            Method::PUT,
            &format!("{id}?api-version=2024-07-01"),
            Some(&json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_machine_inherits_the_subscription_plan_until_it_sets_its_own() {
    let h = Harness::start().await;
    let vm = machine(&h, "vm-phi-01").await;
    let set = h
        .arm(
            Method::PUT,
            &sub_pricing("VirtualMachines"),
            Some(&json!({"properties": {"pricingTier": "Standard", "subPlan": "P2"}})),
        )
        .await;
    assert_eq!(set.status, 201, "{:?}", set.body);
    assert_eq!(set.body["properties"]["enforce"], "False");
    assert_eq!(
        set.body["properties"]["resourcesCoverageStatus"],
        "FullyCovered"
    );
    assert!(set.body["properties"]["enablementTime"].is_string());

    let at_vm =
        format!("{vm}/providers/Microsoft.Security/pricings/VirtualMachines?api-version={API}");
    let inherited = h.arm(Method::GET, &at_vm, None).await;
    assert_eq!(inherited.status, 200, "{:?}", inherited.body);
    let props = &inherited.body["properties"];
    assert_eq!(props["inherited"], "True");
    assert_eq!(props["inheritedFrom"], format!("/subscriptions/{SUB}"));
    assert_eq!(props["subPlan"], "P2");
    assert!(props.get("enforce").is_none() && props.get("resourcesCoverageStatus").is_none());
    assert_eq!(
        inherited.body["id"],
        format!("{vm}/providers/Microsoft.Security/pricings/VirtualMachines")
    );

    let own = h
        .arm(
            Method::PUT,
            &at_vm,
            Some(&json!({"properties": {"pricingTier": "Free"}})),
        )
        .await;
    assert_eq!(own.status, 201, "{:?}", own.body);
    assert_eq!(own.body["properties"]["inherited"], "False");
    assert!(own.body["properties"]["inheritedFrom"].is_null());
    let sub = h
        .arm(Method::GET, &sub_pricing("VirtualMachines"), None)
        .await;
    assert_eq!(
        sub.body["properties"]["resourcesCoverageStatus"], "PartiallyCovered",
        "a machine opted out"
    );
    let listed = h
        .arm(
            Method::GET,
            &format!("{vm}/providers/Microsoft.Security/pricings?api-version={API}"),
            None,
        )
        .await;
    assert_eq!(listed.body["value"][0]["properties"]["pricingTier"], "Free");

    let deleted = h.arm(Method::DELETE, &at_vm, None).await;
    assert_eq!(deleted.status, 200);
    let again = h.arm(Method::DELETE, &at_vm, None).await;
    assert_eq!(again.status, 204, "no pricing left to delete");
    let back = h.arm(Method::GET, &at_vm, None).await;
    assert_eq!(back.body["properties"]["inherited"], "True");
    assert_eq!(back.body["properties"]["pricingTier"], "Standard");
    let sub = h
        .arm(Method::GET, &sub_pricing("VirtualMachines"), None)
        .await;
    assert_eq!(
        sub.body["properties"]["resourcesCoverageStatus"],
        "FullyCovered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_list_every_plan_and_resource_pricing_follows_the_spec_limits() {
    let h = Harness::start().await;
    let all = h
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.Security/pricings?api-version={API}"
            ),
            None,
        )
        .await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let cosmos = all.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "CosmosDbs")
        .expect("an unset plan is listed");
    assert_eq!(cosmos["properties"]["pricingTier"], "Free");
    assert_eq!(
        cosmos["properties"]["resourcesCoverageStatus"],
        "NotCovered"
    );
    let filtered = h
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.Security/pricings?api-version={API}&$filter=name%20in%20(KeyVaults,StorageAccounts)"
            ),
            None,
        )
        .await;
    assert_eq!(filtered.body["value"].as_array().map(Vec::len), Some(2));

    let storage = h
        .arm(
            Method::PUT,
            &sub_pricing("StorageAccounts"),
            Some(&json!({"properties": {"pricingTier": "Standard", "subPlan": "DefenderForStorageV2"}})),
        )
        .await;
    let names: Vec<&str> = storage.body["properties"]["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["OnUploadMalwareScanning", "SensitiveDataDiscovery"]);
    let free = h
        .arm(
            Method::PUT,
            &sub_pricing("StorageAccounts"),
            Some(&json!({"properties": {"pricingTier": "Free"}})),
        )
        .await;
    assert_eq!(free.status, 200);
    assert!(free.body["properties"].get("extensions").is_none());
    assert!(free.body["properties"].get("enablementTime").is_none());
    let bad_tier = h
        .arm(
            Method::PUT,
            &sub_pricing("KeyVaults"),
            Some(&json!({"properties": {"pricingTier": "Premium"}})),
        )
        .await;
    assert_eq!(bad_tier.status, 400);
    let sub_delete = h.arm(Method::DELETE, &sub_pricing("KeyVaults"), None).await;
    assert_eq!(
        sub_delete.status, 400,
        "Pricings_Delete is for resources only"
    );

    let vm = machine(&h, "vm-phi-02").await;
    let at_vm =
        |plan: &str| format!("{vm}/providers/Microsoft.Security/pricings/{plan}?api-version={API}");
    let p2 = h
        .arm(
            Method::PUT,
            &at_vm("VirtualMachines"),
            Some(&json!({"properties": {"pricingTier": "Standard", "subPlan": "P2"}})),
        )
        .await;
    assert_eq!(p2.status, 400, "only P1 at resource level");
    let other_plan = h
        .arm(
            Method::PUT,
            &at_vm("KeyVaults"),
            Some(&json!({"properties": {"pricingTier": "Standard"}})),
        )
        .await;
    assert_eq!(other_plan.status, 400);
    let acct = h.storage_account("phidefender01").await;
    let on_storage = h
        .arm(
            Method::PUT,
            &format!(
                "{acct}/providers/Microsoft.Security/pricings/VirtualMachines?api-version={API}"
            ),
            Some(&json!({"properties": {"pricingTier": "Free"}})),
        )
        .await;
    assert_eq!(on_storage.status, 400, "not a machine");

    let enforced = h
        .arm(
            Method::PUT,
            &sub_pricing("VirtualMachines"),
            Some(&json!({"properties": {"pricingTier": "Standard", "subPlan": "P2", "enforce": "True"}})),
        )
        .await;
    assert_eq!(enforced.status, 201);
    let override_ = h
        .arm(
            Method::PUT,
            &at_vm("VirtualMachines"),
            Some(&json!({"properties": {"pricingTier": "Free"}})),
        )
        .await;
    assert_eq!(
        override_.status, 400,
        "an enforced plan cannot be overridden"
    );

    // The operator (Contributor on the group) cannot change a subscription's plan.
    let op = h.token(OPERATOR).await;
    let denied = h
        .arm_as(
            &op,
            Method::PUT,
            &sub_pricing("CosmosDbs"),
            Some(&json!({"properties": {"pricingTier": "Standard"}})),
        )
        .await;
    assert_eq!((denied.status, denied.code()), (403, "AuthorizationFailed"));
}
