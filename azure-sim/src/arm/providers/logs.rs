//! Microsoft.OperationalInsights: Log Analytics workspaces (customer id, retention defaults) and
//! tables (interactive, total and archive retention).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::fields::{default, ensure_props, keep};
use crate::arm::registry::TypeSpec;
use crate::clock::arm_timestamp;
use crate::errors::{ArmError, ArmResult};
use crate::state::Resource;

pub fn on_put(
    spec: &TypeSpec,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    ensure_props(body);
    let ts = arm_timestamp(now);
    let props = &mut body["properties"];
    match spec.name {
        "Microsoft.OperationalInsights/workspaces" => {
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
        "Microsoft.OperationalInsights/workspaces/tables" => {
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
        _ => {}
    }
    Ok(())
}
