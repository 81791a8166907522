//! Microsoft.OperationalInsights: Log Analytics workspaces (customer id, retention defaults),
//! tables (interactive, total and archive retention), dedicated clusters (Clusters.json), the
//! linked services that tie a workspace to a cluster (LinkedServices.json) and data exports to
//! a storage account or event hub (DataExports.json), all 2025-02-01.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::fields::{default, ensure_props, keep};
use crate::arm::registry::TypeSpec;
use crate::clock::{arm_timestamp, rfc1123};
use crate::errors::{ArmError, ArmResult};
use crate::ids::{self, ProviderPath, Target, lower};
use crate::state::{Resource, State};

pub const WORKSPACE: &str = "Microsoft.OperationalInsights/workspaces";
pub const TABLE: &str = "Microsoft.OperationalInsights/workspaces/tables";
pub const CLUSTER: &str = "Microsoft.OperationalInsights/clusters";
pub const LINKED_SERVICE: &str = "Microsoft.OperationalInsights/workspaces/linkedServices";
pub const DATA_EXPORT: &str = "Microsoft.OperationalInsights/workspaces/dataExports";

/// `ClusterSku.capacity` values the spec enumerates (GB per day).
const CAPACITIES: &[i64] = &[
    100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 25000, 50000,
];

fn invalid(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", message)
}

/// `^[A-Za-z0-9][A-Za-z0-9-]+[A-Za-z0-9]$` (clusters) or with a letter first (data exports),
/// 4 to 63 characters.
fn valid_name(name: &str, letter_first: bool) -> bool {
    let chars: Vec<char> = name.chars().collect();
    (4..=63).contains(&chars.len())
        && chars.iter().all(|c| c.is_ascii_alphanumeric() || *c == '-')
        && chars.first().is_some_and(|c| {
            if letter_first {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        })
        && chars.last().is_some_and(char::is_ascii_alphanumeric)
}

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    ensure_props(body);
    let ts = arm_timestamp(now);
    match spec.name {
        WORKSPACE => {
            let props = &mut body["properties"];
            keep(
                props,
                existing,
                "customerId",
                json!(uuid::Uuid::new_v4().to_string()),
            );
            keep(props, existing, "createdDate", json!(ts));
            props["modifiedDate"] = json!(ts);
            default(props, "sku", json!({"name": "PerGB2018"}));
            default(props, "retentionInDays", json!(30));
            default(props, "publicNetworkAccessForIngestion", json!("Enabled"));
            default(props, "publicNetworkAccessForQuery", json!("Enabled"));
        }
        TABLE => {
            let props = &mut body["properties"];
            let retention = props["retentionInDays"].as_i64().filter(|d| *d > 0);
            let total = props["totalRetentionInDays"].as_i64().filter(|d| *d > 0);
            let effective = retention.unwrap_or(30);
            let total_eff = total.unwrap_or(effective);
            if total_eff < effective {
                return Err(ArmError::bad_request(
                    "InvalidParameter",
                    "totalRetentionInDays must be greater than or equal to retentionInDays.",
                ));
            }
            props["retentionInDays"] = json!(effective);
            props["totalRetentionInDays"] = json!(total_eff);
            props["archiveRetentionInDays"] = json!(total_eff - effective);
            props["retentionInDaysAsDefault"] = json!(retention.is_none());
            props["totalRetentionInDaysAsDefault"] = json!(total.is_none());
            default(props, "plan", json!("Analytics"));
        }
        CLUSTER => cluster(st, p, existing, body, now)?,
        LINKED_SERVICE => linked_service(st, p, body)?,
        DATA_EXPORT => data_export(st, p, existing, body, now)?,
        _ => {}
    }
    Ok(())
}

/// A dedicated cluster: the defaults the spec states (billingType 'Cluster', double encryption
/// and availability zones on, neither changeable after creation), the capacity reservation's
/// minimum (100, as recorded), the workspaces linked to it, and dates in the recordings' RFC 1123.
fn cluster(
    st: &State,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    let name = p.name().unwrap_or_default();
    if !valid_name(name, false) {
        return Err(invalid(format!(
            "The cluster name '{name}' is invalid: 4 to 63 letters, digits and '-', starting and ending with a letter or digit."
        )));
    }
    if let Some(c) = body["sku"].get("capacity")
        && !c.as_i64().is_some_and(|c| CAPACITIES.contains(&c))
    {
        return Err(invalid(format!(
            "The cluster capacity {c} is invalid: it must be one of {CAPACITIES:?} GB."
        )));
    }
    let stamp = rfc1123(now);
    let old_sku = existing.map(|e| e.body["sku"].clone());
    let sku = body["sku"].clone();
    let props = &mut body["properties"];
    keep(
        props,
        existing,
        "clusterId",
        json!(uuid::Uuid::new_v4().to_string()),
    );
    keep(props, existing, "createdDate", json!(stamp));
    props["lastModifiedDate"] = json!(stamp);
    default(props, "billingType", json!("Cluster"));
    for create_only in ["isDoubleEncryptionEnabled", "isAvailabilityZonesEnabled"] {
        match existing.map(|e| e.body["properties"][create_only].clone()) {
            Some(v) if !v.is_null() => props[create_only] = v,
            _ => default(props, create_only, json!(true)),
        }
    }
    if sku["name"]
        .as_str()
        .is_some_and(|n| n.eq_ignore_ascii_case("CapacityReservation"))
    {
        let last = existing
            .filter(|_| old_sku.as_ref() == Some(&sku))
            .and_then(|e| {
                e.body["properties"]["capacityReservationProperties"]["lastSkuUpdate"].as_str()
            })
            .map(str::to_string)
            .unwrap_or_else(|| stamp.clone());
        props["capacityReservationProperties"] = json!({"lastSkuUpdate": last, "minCapacity": 100});
    }
    // An empty keyVersion follows the key's latest version, which the recorded update reports.
    let kv = &mut props["keyVaultProperties"];
    if kv["keyVersion"].as_str() == Some("")
        && let (Some(uri), Some(key)) = (kv["keyVaultUri"].as_str(), kv["keyName"].as_str())
        && let Some(latest) = crate::keyvault::latest_version(st, uri, key)
    {
        kv["keyVersion"] = json!(latest);
    }
    if kv.is_null()
        && let Some(o) = props.as_object_mut()
    {
        o.remove("keyVaultProperties");
    }
    props["associatedWorkspaces"] = json!(associated_workspaces(st, &p.id(), None));
    Ok(())
}

/// The workspaces linked to a cluster by a `linkedServices/cluster` write-access link, as the
/// cluster lists them (AssociatedWorkspace). `leaving` is a link being deleted.
fn associated_workspaces(st: &State, cluster_id: &str, leaving: Option<&str>) -> Vec<Value> {
    let cluster = lower(cluster_id);
    let mut out: Vec<(String, Value)> = st
        .resources
        .values()
        .filter(|r| r.type_name == LINKED_SERVICE)
        .filter(|r| leaving.is_none_or(|l| !r.id.eq_ignore_ascii_case(l)))
        .filter(|r| {
            r.body["properties"]["writeAccessResourceId"]
                .as_str()
                .is_some_and(|w| lower(w) == cluster)
        })
        .filter_map(|link| {
            let ws_id = match ids::parse(&link.id).ok()? {
                Target::Provider(p) => p.parent_id(),
                _ => return None,
            };
            let ws = st.get(&ws_id)?;
            let since = link.body["systemData"]["createdAt"]
                .as_str()
                .and_then(|t| {
                    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
                })
                .map(rfc1123)
                .unwrap_or_default();
            Some((
                lower(&ws.id),
                json!({
                    "workspaceId": ws.body["properties"]["customerId"],
                    "workspaceName": ws.body["name"],
                    "resourceId": ws.id,
                    "associateDate": since
                }),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, v)| v).collect()
}

fn refresh_cluster(st: &mut State, cluster_id: &str, leaving: Option<&str>) {
    let list = associated_workspaces(st, cluster_id, leaving);
    if let Some(c) = st.get_mut(cluster_id)
        && c.type_name == CLUSTER
        && c.body["properties"].is_object()
    {
        c.body["properties"]["associatedWorkspaces"] = json!(list);
    }
}

fn link_target(r: &Resource) -> Option<String> {
    r.body["properties"]["writeAccessResourceId"]
        .as_str()
        .map(str::to_string)
}

/// A linked service (`properties` required): a write-access link names a cluster that must
/// exist. The recorded responses name it `{workspace}/{linkedService}`.
fn linked_service(st: &State, p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    let props = &body["properties"];
    let write = props["writeAccessResourceId"].as_str();
    let read = props["resourceId"].as_str();
    if write.is_none() && read.is_none() {
        return Err(invalid(
            "A linked service needs properties.writeAccessResourceId or properties.resourceId.",
        ));
    }
    if let Some(target) = write
        && lower(target).contains("/providers/microsoft.operationalinsights/clusters/")
        && st.get(target).is_none_or(|r| r.type_name != CLUSTER)
    {
        return Err(invalid(format!(
            "The cluster {target} the linked service refers to was not found."
        )));
    }
    let ws = p.names.first().cloned().unwrap_or_default();
    body["name"] = json!(format!("{ws}/{}", p.name().unwrap_or_default()));
    Ok(())
}

/// A data export: tables and a destination are required; the destination is a storage account
/// (which must exist here) or an event hub namespace, its type computed. The recordings give the
/// id with `/export/`, the type `workspaces/export`, and RFC 1123 dates.
fn data_export(
    st: &State,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    let name = p.name().unwrap_or_default().to_string();
    if !valid_name(&name, true) {
        return Err(invalid(format!(
            "The data export name '{name}' is invalid: 4 to 63 letters, digits and '-', starting with a letter and ending with a letter or digit."
        )));
    }
    let props = &mut body["properties"];
    if props["tableNames"].as_array().is_none_or(Vec::is_empty) {
        return Err(invalid("A data export needs properties.tableNames."));
    }
    let Some(dest) = props["destination"]["resourceId"]
        .as_str()
        .map(str::to_string)
    else {
        return Err(invalid(
            "A data export needs properties.destination.resourceId.",
        ));
    };
    let d = lower(&dest);
    let kind = if d.contains("/providers/microsoft.storage/storageaccounts/") {
        // The operation's own validation code, as Azure answers it for a missing table
        // (Azure/azure-cli#17342); the message for a missing destination is not recorded.
        if st.get(&dest).is_none() {
            return Err(ArmError::bad_request(
                "InvalidOperationArgument",
                format!("The destination storage account {dest} does not exist."),
            ));
        }
        "StorageAccount"
    } else if d.contains("/providers/microsoft.eventhub/namespaces/") {
        "EventHub"
    } else {
        return Err(ArmError::bad_request(
            "InvalidOperationArgument",
            format!(
                "The destination {dest} is neither a storage account nor an event hub namespace."
            ),
        ));
    };
    props["destination"]["type"] = json!(kind);
    let stamp = rfc1123(now);
    keep(
        props,
        existing,
        "dataExportId",
        json!(uuid::Uuid::new_v4().to_string()),
    );
    keep(props, existing, "createdDate", json!(stamp));
    props["lastModifiedDate"] = json!(stamp);
    default(props, "enable", json!(true));
    let ws = p.parent_id();
    body["id"] = json!(format!("{ws}/export/{name}"));
    body["type"] = json!("Microsoft.OperationalInsights/workspaces/export");
    Ok(())
}

/// A link or its removal changes the clusters' workspace lists.
pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource, previous: Option<&Resource>) {
    if spec.name == WORKSPACE {
        builtin_tables(st, r);
    }
    if spec.name == LINKED_SERVICE {
        for cluster in [previous.and_then(link_target), link_target(r)]
            .into_iter()
            .flatten()
        {
            refresh_cluster(st, &cluster, None);
        }
    }
}

/// Tables every workspace has from its creation, whether or not data has arrived: the Azure
/// tables the diagnostic settings and the workspace's own auditing write to ("Tables_List"
/// lists them in a new workspace; Learn, "Manage tables in a Log Analytics workspace"). A
/// subset of Azure's hundreds: the ones this estate's services and the operator use.
pub const BUILT_IN_TABLES: &[&str] = &[
    "AzureActivity",
    "AzureDiagnostics",
    "AzureMetrics",
    "LAQueryLogs",
    "StorageBlobLogs",
    "StorageFileLogs",
    "SQLSecurityAuditEvents",
    "CDBDataPlaneRequests",
    "CDBControlPlaneRequests",
    "AHDSFhirAuditLogs",
    "AHDSDicomAuditLogs",
    "Usage",
];

/// Keeps the workspace's built-in tables: made with the workspace's retention, and following
/// it while their own retention is the default (`retentionInDaysAsDefault`, as Azure does).
fn builtin_tables(st: &mut State, ws: &Resource) {
    let retention = ws.body["properties"]["retentionInDays"]
        .as_i64()
        .unwrap_or(30);
    for name in BUILT_IN_TABLES {
        let id = format!("{}/tables/{name}", ws.id);
        match st.resources.get_mut(&lower(&id)) {
            Some(table) => {
                let props = &mut table.body["properties"];
                if props["retentionInDaysAsDefault"].as_bool() == Some(true) {
                    props["retentionInDays"] = json!(retention);
                    if props["totalRetentionInDaysAsDefault"].as_bool() == Some(true) {
                        props["totalRetentionInDays"] = json!(retention);
                    }
                    let total = props["totalRetentionInDays"].as_i64().unwrap_or(retention);
                    props["archiveRetentionInDays"] = json!((total - retention).max(0));
                }
            }
            None => {
                let body = json!({"properties": {
                    "retentionInDays": retention,
                    "totalRetentionInDays": retention,
                    "archiveRetentionInDays": 0,
                    "retentionInDaysAsDefault": true,
                    "totalRetentionInDaysAsDefault": true,
                    "plan": "Analytics",
                    "schema": {"name": name, "tableType": "Microsoft"},
                    "provisioningState": "Succeeded"
                }});
                super::insert_implicit(st, TABLE, &id, body);
            }
        }
    }
}

pub fn on_delete(st: &mut State, spec: &TypeSpec, r: &Resource) -> ArmResult<()> {
    let links: Vec<Resource> = match spec.name {
        LINKED_SERVICE => vec![r.clone()],
        WORKSPACE => st
            .descendants(&r.id)
            .iter()
            .filter_map(|k| st.resources.get(k))
            .filter(|l| l.type_name == LINKED_SERVICE)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    for link in links {
        if let Some(cluster) = link_target(&link) {
            refresh_cluster(st, &cluster, Some(&link.id));
        }
    }
    Ok(())
}
