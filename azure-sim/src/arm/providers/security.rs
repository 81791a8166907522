//! Microsoft.Security pricings (Defender for Cloud plans, pricings.json 2024-01-01) at a
//! subscription or, for virtual machines, at a resource.
//!
//! A subscription lists every plan (Free until set). A resource without its own pricing
//! inherits the subscription's (`inherited: "True"`, `inheritedFrom`); one with its own shows
//! `inherited: "False"` and `inheritedFrom: null`, and deleting it returns to inheritance. A
//! subscription's `resourcesCoverageStatus` follows the resources that differ from it.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::fields::ensure_props;
use crate::arm::Call;
use crate::arm::registry::TypeSpec;
use crate::clock::arm_timestamp;
use crate::errors::{ArmError, ArmResult};
use crate::ids::{self, ProviderPath, Target, lower};
use crate::state::{Resource, State};

pub const PRICING: &str = "Microsoft.Security/pricings";

/// The plans a subscription lists, in the order of ListPricings_example.json, with the plans
/// that replace a deprecated one. `CosmosDbs` (Defender for Azure Cosmos DB) is not in that
/// recording; it is the plan name Learn documents for `az security pricing create -n`.
const PLANS: &[(&str, &[&str])] = &[
    ("VirtualMachines", &[]),
    ("SqlServers", &[]),
    ("AppServices", &[]),
    ("StorageAccounts", &[]),
    ("SqlServerVirtualMachines", &[]),
    ("KubernetesService", &["Containers"]),
    ("ContainerRegistry", &["Containers"]),
    ("KeyVaults", &[]),
    ("Dns", &[]),
    ("Arm", &[]),
    ("OpenSourceRelationalDatabases", &[]),
    ("Containers", &[]),
    ("CloudPosture", &[]),
    ("CosmosDbs", &[]),
];

/// Resource types that take a resource-level pricing (Pricings_Get: "VirtualMachines, VMSS and
/// ARC Machines").
const RESOURCE_LEVEL_TYPES: &[&str] = &[
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Compute/virtualMachineScaleSets",
    "Microsoft.HybridCompute/machines",
];

/// Extensions a plan turns on when it is set to Standard without naming any, as the recorded
/// PUT responses show them (PutPricingByName_example.json for CloudPosture,
/// PutPricingVMsByName_example.json and PutResourcePricingByNameVirtualMachines_example.json for
/// VirtualMachines); StorageAccounts and Containers as ListPricings_example.json lists them.
fn default_extensions(plan: &str, sub_plan: Option<&str>) -> &'static [(&'static str, bool)] {
    match plan.to_ascii_lowercase().as_str() {
        "cloudposture" => &[
            ("AgentlessVmScanning", true),
            ("AgentlessDiscoveryForKubernetes", true),
            ("SensitiveDataDiscovery", true),
            ("ContainerRegistriesVulnerabilityAssessments", true),
        ],
        "virtualmachines" => &[
            ("MdeDesignatedSubscription", false),
            ("AgentlessVmScanning", true),
        ],
        "storageaccounts"
            if sub_plan.is_some_and(|s| s.eq_ignore_ascii_case("DefenderForStorageV2")) =>
        {
            &[
                ("OnUploadMalwareScanning", true),
                ("SensitiveDataDiscovery", true),
            ]
        }
        "containers" => &[("ContainerRegistriesVulnerabilityAssessments", true)],
        _ => &[],
    }
}

fn plan_meta(name: &str) -> Option<&'static (&'static str, &'static [&'static str])> {
    PLANS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn bad(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("BadRequest", message)
}

/// The subscription a scope is, if it is one.
fn subscription_scope(scope: &str) -> Option<String> {
    match ids::parse(scope).ok()? {
        Target::Subscription { sub } => Some(sub),
        _ => None,
    }
}

fn is_standard(props: &Value) -> bool {
    props["pricingTier"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("Standard"))
}

fn sub_pricing_id(sub: &str, plan: &str) -> String {
    format!("/subscriptions/{sub}/providers/{PRICING}/{plan}")
}

/// Validates a pricing and fills what the service computes.
pub fn on_put(
    st: &State,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    ensure_props(body);
    let name = p.name().unwrap_or_default().to_string();
    let props = &mut body["properties"];
    let tier = props["pricingTier"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !["Free", "Standard"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&tier))
    {
        return Err(bad(
            "The property 'properties.pricingTier' is required and must be 'Free' or 'Standard'.",
        ));
    }
    let sub_scope = subscription_scope(&p.scope);
    if sub_scope.is_none() {
        let scope_type = match ids::parse(&p.scope) {
            Ok(Target::Provider(s)) if !s.is_collection() => s.type_name(),
            _ => String::new(),
        };
        if !RESOURCE_LEVEL_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&scope_type))
        {
            return Err(bad(
                "Pricing can be set on a subscription or, at resource level, on 'VirtualMachines, VMSS and ARC Machines' only.",
            ));
        }
        // Pricings_Update: at resource level only plan 'VirtualMachines' with subPlan 'P1'.
        if is_standard(props)
            && (!name.eq_ignore_ascii_case("VirtualMachines")
                || !props["subPlan"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("P1")))
        {
            return Err(bad(
                "At resource level the Standard tier is supported only for plan 'VirtualMachines' with subPlan 'P1'.",
            ));
        }
        // `enforce: "True"` on the subscription prevents overrides below it.
        let sub = p.subscription.clone().unwrap_or_default();
        if st
            .get(&sub_pricing_id(&sub, &name))
            .is_some_and(|s| s.body["properties"]["enforce"] == "True")
        {
            return Err(bad(format!(
                "The '{name}' pricing of subscription '{sub}' is enforced on its resources and cannot be overridden."
            )));
        }
    }
    let Some(o) = props.as_object_mut() else {
        return Ok(());
    };
    for k in [
        "freeTrialRemainingTime",
        "enablementTime",
        "inherited",
        "inheritedFrom",
        "resourcesCoverageStatus",
        "deprecated",
        "replacedBy",
    ] {
        o.remove(k);
    }
    o.insert("freeTrialRemainingTime".into(), json!("PT0S"));
    if is_standard(&Value::Object(o.clone())) {
        // The date the tier was last set to Standard: kept while it stays Standard.
        let kept = existing
            .filter(|e| is_standard(&e.body["properties"]))
            .and_then(|e| e.body["properties"]["enablementTime"].as_str())
            .map(str::to_string);
        o.insert(
            "enablementTime".into(),
            json!(kept.unwrap_or_else(|| arm_timestamp(now))),
        );
        let sub_plan = o.get("subPlan").and_then(Value::as_str).map(str::to_string);
        let sent = o.get("extensions").and_then(Value::as_array).cloned();
        let mut extensions: Vec<Value> = match sent {
            Some(list) => list,
            None => default_extensions(&name, sub_plan.as_deref())
                .iter()
                .map(|(n, on)| json!({"name": n, "isEnabled": if *on { "True" } else { "False" }}))
                .collect(),
        };
        for e in &mut extensions {
            if let Some(m) = e.as_object_mut() {
                m.remove("operationStatus");
                // Subscription-level PUT responses report each enabled extension's enablement.
                if sub_scope.is_some() && m.get("isEnabled") == Some(&json!("True")) {
                    m.insert(
                        "operationStatus".into(),
                        json!({"code": "Succeeded", "message": "Successfully enabled extension"}),
                    );
                }
            }
        }
        if extensions.is_empty() {
            o.remove("extensions");
        } else {
            o.insert("extensions".into(), json!(extensions));
        }
    } else {
        o.remove("extensions");
    }
    match &sub_scope {
        Some(sub) => {
            if !o.contains_key("enforce") {
                o.insert("enforce".into(), json!("False"));
            }
            add_plan_meta(o, &name);
            let covered = coverage(&name, &Value::Object(o.clone()), &resource_level(st, sub));
            o.insert("resourcesCoverageStatus".into(), json!(covered));
        }
        None => {
            o.remove("enforce");
            o.insert("inherited".into(), json!("False"));
            o.insert("inheritedFrom".into(), Value::Null);
        }
    }
    Ok(())
}

fn add_plan_meta(o: &mut Map<String, Value>, name: &str) {
    if let Some((_, replaced)) = plan_meta(name)
        && !replaced.is_empty()
    {
        o.insert("deprecated".into(), json!(true));
        o.insert("replacedBy".into(), json!(replaced));
    }
}

/// Resource-level pricings stored anywhere in a subscription: (plan name, standard?).
fn resource_level(st: &State, sub: &str) -> Vec<(String, bool)> {
    let prefix = format!("/subscriptions/{}/", lower(sub));
    let sub_level = format!("/subscriptions/{}/providers/", lower(sub));
    st.resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, r)| r.type_name == PRICING && !k.starts_with(&sub_level))
        .map(|(_, r)| {
            (
                r.id.rsplit('/').next().unwrap_or_default().to_string(),
                is_standard(&r.body["properties"]),
            )
        })
        .collect()
}

/// `resourcesCoverageStatus`: FullyCovered when the plan is Standard and no resource opted out,
/// NotCovered when it is Free and no resource opted in, PartiallyCovered otherwise.
fn coverage(plan: &str, props: &Value, below: &[(String, bool)]) -> &'static str {
    let standard = is_standard(props);
    let differs = below
        .iter()
        .any(|(n, s)| n.eq_ignore_ascii_case(plan) && *s != standard);
    match (standard, differs) {
        (_, true) => "PartiallyCovered",
        (true, false) => "FullyCovered",
        (false, false) => "NotCovered",
    }
}

/// A subscription plan nobody has set: Free.
fn default_pricing(sub: &str, plan: &str) -> Value {
    let mut o = Map::new();
    o.insert("pricingTier".into(), json!("Free"));
    o.insert("freeTrialRemainingTime".into(), json!("PT0S"));
    o.insert("enforce".into(), json!("False"));
    add_plan_meta(&mut o, plan);
    json!({"id": sub_pricing_id(sub, plan), "name": plan, "type": PRICING, "properties": o})
}

/// The subscription's pricing of a plan as a GET shows it, with its current coverage.
fn subscription_view(st: &State, sub: &str, plan: &str, below: &[(String, bool)]) -> Option<Value> {
    let mut body = match st.get(&sub_pricing_id(sub, plan)) {
        Some(r) => r.body.clone(),
        None if plan_meta(plan).is_some() => default_pricing(sub, plan),
        None => return None,
    };
    let covered = coverage(plan, &body["properties"], below);
    body["properties"]["resourcesCoverageStatus"] = json!(covered);
    Some(body)
}

/// What a resource without its own pricing shows: the subscription's, marked inherited.
fn inherited_view(st: &State, sub: &str, scope: &str, plan: &str) -> Option<Value> {
    let base = subscription_view(st, sub, plan, &[])?;
    let mut props = base["properties"].clone();
    if let Some(o) = props.as_object_mut() {
        for k in [
            "enforce",
            "resourcesCoverageStatus",
            "deprecated",
            "replacedBy",
        ] {
            o.remove(k);
        }
        if let Some(exts) = o.get_mut("extensions").and_then(Value::as_array_mut) {
            for e in exts {
                if let Some(m) = e.as_object_mut() {
                    m.remove("operationStatus");
                }
            }
        }
        o.insert("inherited".into(), json!("True"));
        o.insert(
            "inheritedFrom".into(),
            json!(format!("/subscriptions/{sub}")),
        );
    }
    let name = base["name"].as_str().unwrap_or(plan).to_string();
    Some(json!({
        "id": format!("{scope}/providers/{PRICING}/{name}"),
        "name": name,
        "type": PRICING,
        "properties": props
    }))
}

/// A resource's pricing of a plan: its own unless the subscription enforces its own.
fn resource_view(st: &State, sub: &str, scope: &str, plan: &str) -> Option<Value> {
    let enforced = st
        .get(&sub_pricing_id(sub, plan))
        .is_some_and(|s| s.body["properties"]["enforce"] == "True");
    match st.get(&format!("{scope}/providers/{PRICING}/{plan}")) {
        Some(own) if !enforced => Some(own.body.clone()),
        _ => inherited_view(st, sub, scope, plan),
    }
}

fn scope_exists(st: &State, p: &ProviderPath) -> ArmResult<()> {
    if subscription_scope(&p.scope).is_some() {
        return Ok(());
    }
    if st.get(&p.scope).is_none() {
        return Err(ArmError::new(
            axum::http::StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{}' was not found.", p.scope),
        ));
    }
    Ok(())
}

pub fn virtual_get(st: &State, spec: &TypeSpec, p: &ProviderPath) -> Option<ArmResult<Value>> {
    if spec.name != PRICING {
        return None;
    }
    if let Err(e) = scope_exists(st, p) {
        return Some(Err(e));
    }
    let plan = p.name()?;
    let sub = p.subscription.clone().unwrap_or_default();
    let found = if subscription_scope(&p.scope).is_some() {
        subscription_view(st, &sub, plan, &resource_level(st, &sub))
    } else {
        resource_view(st, &sub, &p.scope, plan)
    };
    Some(found.ok_or_else(|| ArmError::not_found(PRICING, plan, p.resource_group.as_deref())))
}

/// `$filter=name in (a,b)` of Pricings_List.
fn filter_names(filter: &str) -> Option<Vec<String>> {
    let l = filter.to_ascii_lowercase();
    let at = l.find("name in")?;
    let rest = &filter[at + 7..];
    let open = rest.find('(')?;
    let close = rest.find(')')?;
    Some(
        rest[open + 1..close]
            .split(',')
            .map(|s| s.trim().trim_matches('\'').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

pub fn virtual_list(
    call: &Call<'_>,
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
) -> Option<ArmResult<Vec<Value>>> {
    if spec.name != PRICING {
        return None;
    }
    if let Err(e) = scope_exists(st, p) {
        return Some(Err(e));
    }
    let sub = p.subscription.clone().unwrap_or_default();
    let scope = p.parent_id();
    let stored: Vec<String> = st
        .extensions_at(&scope, "/providers/microsoft.security/pricings/")
        .filter(|r| r.type_name == PRICING)
        .map(|r| r.id.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    let mut value: Vec<Value> = if subscription_scope(&scope).is_some() {
        let below = resource_level(st, &sub);
        let mut names: Vec<String> = PLANS.iter().map(|(n, _)| (*n).to_string()).collect();
        names.extend(stored.into_iter().filter(|n| plan_meta(n).is_none()));
        names
            .iter()
            .filter_map(|n| subscription_view(st, &sub, n, &below))
            .collect()
    } else {
        let mut names = vec!["VirtualMachines".to_string()];
        names.extend(
            stored
                .into_iter()
                .filter(|n| !n.eq_ignore_ascii_case("VirtualMachines")),
        );
        names
            .iter()
            .filter_map(|n| resource_view(st, &sub, &scope, n))
            .collect()
    };
    if let Some(wanted) = call.req.query("$filter").and_then(filter_names) {
        value.retain(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| wanted.iter().any(|w| w.eq_ignore_ascii_case(n)))
        });
    }
    Some(Ok(value))
}

/// Pricings_Delete is "valid only for resource scope".
pub fn check_delete(p: &ProviderPath) -> ArmResult<()> {
    if subscription_scope(&p.scope).is_some() {
        return Err(bad(
            "A pricing can be deleted at resource level only; set a subscription's plan to 'Free' instead.",
        ));
    }
    Ok(())
}
