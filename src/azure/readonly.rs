//! Properties Azure's published models mark `readOnly`, by write operation. A body the operator
//! builds from what it read (a read-modify-write PUT, a service's whole property set) drops
//! them before it is sent: Azure computes them, and a request carrying them does not match the
//! operation's model.
//!
//! Sources: the `readOnly` flags of the operations' request models in Azure/azure-rest-api-specs
//! (`healthcare-apis.json` 2024-03-31, `blob.json` and `file.json` of Microsoft.Storage
//! 2025-01-01) and ARM's common `Resource` model (`id`, `name`, `type`, `systemData`).

use serde_json::Value;

use super::types::ArmOp;

/// Read-only in every ARM resource body (or absent from its model).
const EVERY_RESOURCE: &[&str] = &[
    "id",
    "name",
    "type",
    "systemData",
    "properties.provisioningState",
];

/// Dropped too, though not read-only everywhere: Health Data Services models `etag` as
/// writable (optimistic concurrency in the body), and the operator's conditional writes use
/// `If-Match`, never a body etag carried over from a read.
const NOT_CARRIED_OVER: &[&str] = &["etag"];

/// What Health Data Services computes on a FHIR or DICOM service: the managed identity's ids,
/// the event state, the private endpoint connections, and public network access (it follows
/// the workspace's private link; `ResourcePublicNetworkAccess` is readOnly).
const HEALTH_SERVICE: &[&str] = &[
    "identity.principalId",
    "identity.tenantId",
    "properties.eventState",
    "properties.privateEndpointConnections",
    "properties.publicNetworkAccess",
];

/// The read-only paths of `op`'s request body, beyond [`EVERY_RESOURCE`].
fn paths(op: &ArmOp) -> &'static [&'static str] {
    match (op.provider, op.operation) {
        ("Microsoft.HealthcareApis", "FhirServices_CreateOrUpdate") => HEALTH_SERVICE,
        ("Microsoft.HealthcareApis", "DicomServices_CreateOrUpdate") => &[
            "identity.principalId",
            "identity.tenantId",
            "properties.eventState",
            "properties.privateEndpointConnections",
            "properties.publicNetworkAccess",
            "properties.serviceUrl",
            "properties.authenticationConfiguration.authority",
            "properties.authenticationConfiguration.audiences",
        ],
        ("Microsoft.HealthcareApis", "Workspaces_CreateOrUpdate") => &[
            "properties.privateEndpointConnections",
            "properties.publicNetworkAccess",
        ],
        ("Microsoft.Storage", "BlobServices_SetServiceProperties") => &[
            "sku",
            "properties.restorePolicy.lastEnabledTime",
            "properties.restorePolicy.minRestoreTime",
        ],
        ("Microsoft.Storage", "FileServices_SetServiceProperties") => &["sku"],
        _ => &[],
    }
}

/// Removes from `body` every property `op`'s model marks read-only.
pub fn strip(op: &ArmOp, body: &mut Value) {
    for path in EVERY_RESOURCE
        .iter()
        .chain(NOT_CARRIED_OVER)
        .chain(paths(op))
    {
        remove(body, path);
    }
}

fn remove(body: &mut Value, path: &str) {
    let mut segments: Vec<&str> = path.split('.').collect();
    let Some(last) = segments.pop() else {
        return;
    };
    let mut at = body;
    for segment in segments {
        match at.get_mut(segment) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(object) = at.as_object_mut() {
        object.remove(last);
    }
}

/// Merges `changes` into `current`: objects key by key, anything else (values, arrays)
/// replaced. What `changes` does not name stays as read, so a write built this way carries
/// every property the operator does not model.
pub fn merge_into(current: &mut Value, changes: &Value) {
    match (current, changes) {
        (Value::Object(current), Value::Object(changes)) => {
            for (key, value) in changes {
                match current.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_into(existing, value)
                    }
                    _ => {
                        current.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (current, changes) => *current = changes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PUT_DICOM: ArmOp = ArmOp::new(
        "DicomServices_CreateOrUpdate",
        "Microsoft.HealthcareApis",
        "2024-03-31",
    );

    #[test]
    fn a_dicom_body_read_back_loses_what_azure_computes_and_keeps_the_rest() {
        let mut body = json!({
            "id": "/x", "name": "d", "type": "Microsoft.HealthcareApis/workspaces/dicomservices",
            "etag": "\"1\"", "location": "eastus2",
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {
                "provisioningState": "Succeeded", "eventState": "Disabled",
                "serviceUrl": "https://ws-d.dicom.azurehealthcareapis.com",
                "privateEndpointConnections": [], "publicNetworkAccess": "Disabled",
                "authenticationConfiguration": {"authority": "a", "audiences": ["b"]},
                "encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": "k"}},
                "corsConfiguration": {"origins": ["https://app"]}
            }
        });
        strip(&PUT_DICOM, &mut body);
        assert_eq!(
            body,
            json!({
                "location": "eastus2",
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "authenticationConfiguration": {},
                    "encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": "k"}},
                    "corsConfiguration": {"origins": ["https://app"]}
                }
            })
        );
    }

    /// The lists above against the models azure-sim enforces (extracted from Azure's published
    /// specs, `azure-sim/conformance/models.json`): for every ARM write operation with a model,
    /// each path listed for that operation is readOnly there, and each path listed for every
    /// resource is readOnly or not in that operation's model at all (a settings body has no
    /// `provisioningState`). Operations without a model yet are checked when their model is
    /// extracted.
    #[test]
    fn every_listed_path_is_read_only_in_the_published_model() {
        let models = azure_sim::conformance::models();
        let mut checked = 0;
        for model in models
            .operations
            .iter()
            .filter(|m| m.plane == azure_sim::conformance::Plane::Arm)
        {
            let op = ArmOp::new(&model.operation_id, &model.provider, &model.api_version);
            for path in EVERY_RESOURCE {
                let read_only = models.read_only_at(model, path);
                assert_ne!(
                    read_only,
                    Some(false),
                    "{path} is writable in the model of {} {}",
                    model.operation_id,
                    model.api_version
                );
                checked += 1;
            }
            for path in paths(&op) {
                assert_eq!(
                    models.read_only_at(model, path),
                    Some(true),
                    "{path} of {} {}",
                    model.operation_id,
                    model.api_version
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "no operation of the models was checked");
    }

    #[test]
    fn a_merge_changes_what_it_names_and_keeps_everything_else() {
        let mut current = json!({"properties": {
            "deleteRetentionPolicy": {"enabled": false, "days": 7, "allowPermanentDelete": false},
            "cors": {"corsRules": [{"allowedOrigins": ["https://app"]}]},
            "isVersioningEnabled": true
        }});
        merge_into(
            &mut current,
            &json!({"properties": {"deleteRetentionPolicy": {"enabled": true, "days": 14}}}),
        );
        assert_eq!(
            current,
            json!({"properties": {
                "deleteRetentionPolicy": {"enabled": true, "days": 14, "allowPermanentDelete": false},
                "cors": {"corsRules": [{"allowedOrigins": ["https://app"]}]},
                "isVersioningEnabled": true
            }})
        );
    }
}
