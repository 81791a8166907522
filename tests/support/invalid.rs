//! Objects the API server must reject, each with the field the message must name.

use serde_json::{Value, json};

/// One invalid object: an example, changed.
pub struct Invalid {
    /// What is wrong, as a test name.
    pub name: &'static str,
    /// The example the object starts from.
    pub example: &'static str,
    /// The change that makes it invalid.
    pub mutate: fn(&mut Value),
    /// Applied as an update of the valid example (transition rules), not a create.
    pub update: bool,
    /// The field path the error must name.
    pub field: &'static str,
    /// A fragment of the message.
    pub says: &'static str,
    /// Rejected by a CEL rule (so offline CEL validation must reject it too), rather than by the
    /// OpenAPI schema (types, enums, ranges, required fields, list keys).
    pub cel: bool,
}

const STORE: &str = "phistore-storage.yaml";
const WORKSPACE: &str = "workspace.yaml";
const REVIEW: &str = "accessreview-decisions.yaml";
const SUB: &str =
    "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi";

pub fn cases() -> Vec<Invalid> {
    vec![
        Invalid {
            name: "resource id that is not an ARM id",
            example: STORE,
            mutate: |v| v["spec"]["resource"]["id"] = json!("streferralletters"),
            update: false,
            field: "spec.resource.id",
            says: "must be an Azure resource ID",
            cel: true,
        },
        Invalid {
            name: "kind that does not match the resource id",
            example: STORE,
            mutate: |v| v["spec"]["resource"]["kind"] = json!("SqlServer"),
            update: false,
            field: "spec.resource.id",
            says: "id must be the Azure resource ID of a SqlServer",
            cel: true,
        },
        Invalid {
            name: "resource id with a path traversal segment",
            example: STORE,
            mutate: |v| {
                v["spec"]["resource"]["id"] = json!(format!(
                    "{SUB}/providers/Microsoft.Storage/storageAccounts/../../../providers/Microsoft.Storage/storageAccounts/other"
                ))
            },
            update: false,
            field: "spec.resource.id",
            says: "must not contain empty, '.' or '..' segments",
            cel: true,
        },
        Invalid {
            name: "subscription in the resource id that is not a GUID",
            example: STORE,
            mutate: |v| {
                v["spec"]["resource"]["id"] = json!(
                    "/subscriptions/prod/resourceGroups/rg-clinical-phi/providers/Microsoft.Storage/storageAccounts/streferralletters"
                )
            },
            update: false,
            field: "spec.resource.id",
            says: "must be an Azure resource ID",
            cel: true,
        },
        Invalid {
            name: "unknown resource kind",
            example: STORE,
            mutate: |v| v["spec"]["resource"]["kind"] = json!("BlobContainer"),
            update: false,
            field: "spec.resource.kind",
            says: "Unsupported value: \"BlobContainer\"",
            cel: false,
        },
        Invalid {
            name: "workspace reference into another namespace",
            example: STORE,
            mutate: |v| v["spec"]["workspaceRef"]["namespace"] = json!("finance"),
            update: false,
            field: "spec.workspaceRef.namespace",
            says: "namespace must not be set",
            cel: true,
        },
        Invalid {
            name: "workspace reference that is not an object name",
            example: STORE,
            mutate: |v| v["spec"]["workspaceRef"]["name"] = json!("Clinical_WS"),
            update: false,
            field: "spec.workspaceRef.name",
            says: "must be a Kubernetes object name",
            cel: true,
        },
        Invalid {
            name: "unknown store mode",
            example: STORE,
            mutate: |v| v["spec"]["mode"] = json!("Strict"),
            update: false,
            field: "spec.mode",
            says: "Unsupported value: \"Strict\"",
            cel: false,
        },
        Invalid {
            name: "exemption without a reason",
            example: STORE,
            mutate: |v| {
                v["spec"]["exemptions"][0]
                    .as_object_mut()
                    .expect("an exemption")
                    .remove("reason");
            },
            update: false,
            field: "spec.exemptions[0].reason",
            says: "Required value",
            cel: false,
        },
        Invalid {
            name: "exemption with a blank approver",
            example: STORE,
            mutate: |v| v["spec"]["exemptions"][0]["approver"] = json!("   "),
            update: false,
            field: "spec.exemptions[0].approver",
            says: "approver must not be empty or blank",
            cel: true,
        },
        Invalid {
            name: "exemption without an expiry",
            example: STORE,
            mutate: |v| {
                v["spec"]["exemptions"][0]
                    .as_object_mut()
                    .expect("an exemption")
                    .remove("expires");
            },
            update: false,
            field: "spec.exemptions[0].expires",
            says: "Required value",
            cel: false,
        },
        Invalid {
            name: "exemption expiry that is not a timestamp",
            example: STORE,
            mutate: |v| v["spec"]["exemptions"][0]["expires"] = json!("next spring"),
            update: false,
            field: "spec.exemptions[0].expires",
            says: "date-time",
            cel: false,
        },
        Invalid {
            name: "exemption for an unknown control id",
            example: STORE,
            mutate: |v| v["spec"]["exemptions"][0]["control"] = json!("storage.min-tls"),
            update: false,
            field: "spec.exemptions[0].control",
            says: "storage.min-tls is not a control id",
            cel: true,
        },
        Invalid {
            name: "two exemptions for one control",
            example: STORE,
            mutate: |v| {
                let first = v["spec"]["exemptions"][0].clone();
                v["spec"]["exemptions"]
                    .as_array_mut()
                    .expect("exemptions")
                    .push(first);
            },
            update: false,
            field: "spec.exemptions[2]",
            says: "Duplicate value",
            cel: false,
        },
        Invalid {
            name: "private endpoint group id of another resource type",
            example: STORE,
            mutate: |v| v["spec"]["privateEndpoint"]["groupIds"] = json!(["blob", "vault"]),
            update: false,
            field: "spec.privateEndpoint.groupIds",
            says: "must be private-link sub-resources of a StorageAccount",
            cel: true,
        },
        Invalid {
            name: "allowed IP range that is not an address",
            example: STORE,
            mutate: |v| {
                v["spec"]["profile"]["allowedIpRanges"] = json!(["203.0.113.0/24", "clinic-wifi"])
            },
            update: false,
            field: "spec.profile.allowedIpRanges",
            says: "must be public IPv4 addresses",
            cel: true,
        },
        Invalid {
            name: "soft-delete retention out of range",
            example: STORE,
            mutate: |v| v["spec"]["profile"]["softDeleteRetentionDays"] = json!(0),
            update: false,
            field: "spec.profile.softDeleteRetentionDays",
            says: "should be greater than or equal to 1",
            cel: false,
        },
        Invalid {
            name: "changed resource id (immutable)",
            example: STORE,
            mutate: |v| {
                v["spec"]["resource"]["id"] = json!(format!(
                    "{SUB}/providers/Microsoft.Storage/storageAccounts/stotheraccount"
                ))
            },
            update: true,
            field: "spec.resource",
            says: "resource is immutable",
            cel: true,
        },
        Invalid {
            name: "subscription id that is not a GUID",
            example: WORKSPACE,
            mutate: |v| v["spec"]["subscriptionId"] = json!("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4"),
            update: false,
            field: "spec.subscriptionId",
            says: "subscriptionId must be a GUID",
            cel: true,
        },
        Invalid {
            name: "tenant id that is not a GUID",
            example: WORKSPACE,
            mutate: |v| v["spec"]["identity"]["tenantId"] = json!("contoso.onmicrosoft.com"),
            update: false,
            field: "spec.identity.tenantId",
            says: "tenantId must be a GUID",
            cel: true,
        },
        Invalid {
            name: "negative drift-check interval",
            example: WORKSPACE,
            mutate: |v| v["spec"]["driftCheckInterval"] = json!("-PT30M"),
            update: false,
            field: "spec.driftCheckInterval",
            says: "positive ISO-8601 duration",
            cel: true,
        },
        Invalid {
            name: "drift-check interval that is not ISO-8601",
            example: WORKSPACE,
            mutate: |v| v["spec"]["driftCheckInterval"] = json!("30m"),
            update: false,
            field: "spec.driftCheckInterval",
            says: "positive ISO-8601 duration",
            cel: true,
        },
        Invalid {
            name: "zero drift-check interval",
            example: WORKSPACE,
            mutate: |v| v["spec"]["driftCheckInterval"] = json!("PT0S"),
            update: false,
            field: "spec.driftCheckInterval",
            says: "positive ISO-8601 duration",
            cel: true,
        },
        Invalid {
            name: "drift interval that means never",
            example: WORKSPACE,
            mutate: |v| v["spec"]["driftCheckInterval"] = json!("P1000Y"),
            update: false,
            field: "spec.driftCheckInterval",
            says: "driftCheckInterval must be at most P1D",
            cel: true,
        },
        Invalid {
            name: "drift interval of a day and a minute, in hours and minutes",
            example: WORKSPACE,
            mutate: |v| v["spec"]["driftCheckInterval"] = json!("PT24H1M"),
            update: false,
            field: "spec.driftCheckInterval",
            says: "at most P1D",
            cel: true,
        },
        Invalid {
            name: "access-review cadence longer than a year",
            example: WORKSPACE,
            mutate: |v| v["spec"]["accessReview"]["cadence"] = json!("P13M"),
            update: false,
            field: "spec.accessReview.cadence",
            says: "cadence must be at most P1Y",
            cel: true,
        },
        Invalid {
            name: "access review due after its cadence",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["accessReview"]["cadence"] = json!("P30D");
                v["spec"]["accessReview"]["dueAfter"] = json!("P5W");
            },
            update: false,
            field: "spec.accessReview.dueAfter",
            says: "dueAfter must not be longer than cadence",
            cel: true,
        },
        Invalid {
            name: "access-review cadence with a time part and no value",
            example: WORKSPACE,
            mutate: |v| v["spec"]["accessReview"]["cadence"] = json!("P90DT"),
            update: false,
            field: "spec.accessReview.cadence",
            says: "cadence must be a positive ISO-8601 duration",
            cel: true,
        },
        Invalid {
            name: "unknown workspace mode",
            example: WORKSPACE,
            mutate: |v| v["spec"]["mode"] = json!("Monitor"),
            update: false,
            field: "spec.mode",
            says: "Unsupported value: \"Monitor\"",
            cel: false,
        },
        Invalid {
            name: "total retention above Log Analytics' maximum",
            example: WORKSPACE,
            mutate: |v| v["spec"]["logAnalytics"]["totalRetentionInDays"] = json!(5000),
            update: false,
            field: "spec.logAnalytics.totalRetentionInDays",
            says: "should be less than or equal to 4383",
            cel: false,
        },
        Invalid {
            name: "interactive retention below Log Analytics' minimum",
            example: WORKSPACE,
            mutate: |v| v["spec"]["logAnalytics"]["retentionInDays"] = json!(7),
            update: false,
            field: "spec.logAnalytics.retentionInDays",
            says: "should be greater than or equal to 30",
            cel: false,
        },
        Invalid {
            name: "total retention shorter than interactive retention",
            example: WORKSPACE,
            mutate: |v| v["spec"]["logAnalytics"]["totalRetentionInDays"] = json!(60),
            update: false,
            field: "spec.logAnalytics.totalRetentionInDays",
            says: "totalRetentionInDays must be at least retentionInDays",
            cel: true,
        },
        Invalid {
            name: "key size below 3072 bits",
            example: WORKSPACE,
            mutate: |v| v["spec"]["keyVault"]["keySize"] = json!(2048),
            update: false,
            field: "spec.keyVault.keySize",
            says: "keySize must be 3072 or 4096",
            cel: true,
        },
        Invalid {
            name: "key rotation after its expiry",
            example: WORKSPACE,
            mutate: |v| v["spec"]["keyVault"]["rotation"]["rotateAfter"] = json!("P2Y"),
            update: false,
            field: "spec.keyVault.rotation.rotateAfter",
            says: "rotateAfter must be shorter than expireAfter",
            cel: true,
        },
        Invalid {
            name: "key lifetime in hours",
            example: WORKSPACE,
            mutate: |v| v["spec"]["keyVault"]["rotation"]["notifyBefore"] = json!("PT12H"),
            update: false,
            field: "spec.keyVault.rotation.notifyBefore",
            says: "notifyBefore must be a Key Vault duration",
            cel: true,
        },
        Invalid {
            name: "key vault id naming a storage account",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["keyVault"]["resourceId"] = json!(format!(
                    "{SUB}/providers/Microsoft.Storage/storageAccounts/stclinicalcmk"
                ))
            },
            update: false,
            field: "spec.keyVault.resourceId",
            says: "Microsoft.KeyVault/vaults/{name}",
            cel: true,
        },
        Invalid {
            name: "subnet id naming a virtual network",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["privateNetworking"]["subnetId"] = json!(format!(
                    "{SUB}/providers/Microsoft.Network/virtualNetworks/vnet-clinical"
                ))
            },
            update: false,
            field: "spec.privateNetworking.subnetId",
            says: "virtualNetworks/{vnet}/subnets/{subnet}",
            cel: true,
        },
        Invalid {
            name: "audit archive container name with capitals",
            example: WORKSPACE,
            mutate: |v| v["spec"]["auditArchive"]["container"] = json!("Audit_Archive"),
            update: false,
            field: "spec.auditArchive.container",
            says: "container must be a blob container name",
            cel: true,
        },
        Invalid {
            name: "break-glass principal that is not a GUID",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["accessReview"]["breakGlassPrincipalIds"] = json!(["emergency-admin"])
            },
            update: false,
            field: "spec.accessReview.breakGlassPrincipalIds",
            says: "breakGlassPrincipalIds entries must be GUIDs",
            cel: true,
        },
        Invalid {
            name: "changed subscription (immutable)",
            example: WORKSPACE,
            mutate: |v| v["spec"]["subscriptionId"] = json!("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"),
            update: true,
            field: "spec.subscriptionId",
            says: "subscriptionId is immutable",
            cel: true,
        },
        Invalid {
            name: "decision for a principal not in the cycle",
            example: REVIEW,
            mutate: |v| {
                v["spec"]["decisions"][0]["principalId"] =
                    json!("9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a")
            },
            update: false,
            field: "spec.decisions",
            says: "every decision must name a principalId listed in assignments",
            cel: true,
        },
        Invalid {
            name: "two decisions for one principal",
            example: REVIEW,
            mutate: |v| {
                let first = v["spec"]["decisions"][0].clone();
                v["spec"]["decisions"][1] = first;
            },
            update: false,
            field: "spec.decisions[1]",
            says: "Duplicate value",
            cel: false,
        },
        Invalid {
            name: "decision without a justification",
            example: REVIEW,
            mutate: |v| {
                v["spec"]["decisions"][0]
                    .as_object_mut()
                    .expect("a decision")
                    .remove("justification");
            },
            update: false,
            field: "spec.decisions[0].justification",
            says: "Required value",
            cel: false,
        },
        Invalid {
            name: "decision with a blank reviewer",
            example: REVIEW,
            mutate: |v| v["spec"]["decisions"][1]["reviewer"] = json!("  "),
            update: false,
            field: "spec.decisions[1].reviewer",
            says: "reviewer must not be empty or blank",
            cel: true,
        },
        Invalid {
            name: "decision that is neither Approve nor Deny",
            example: REVIEW,
            mutate: |v| v["spec"]["decisions"][0]["decision"] = json!("Maybe"),
            update: false,
            field: "spec.decisions[0].decision",
            says: "Unsupported value: \"Maybe\"",
            cel: false,
        },
        // Look-alike characters: RE2's case-insensitive matching folds them to ASCII letters.
        Invalid {
            name: "resource id with a long s for an s",
            example: STORE,
            mutate: |v| {
                v["spec"]["resource"]["id"] = json!(format!(
                    "{SUB}/providers/Microsoft.Storage/\u{17F}torageAccounts/streferralletters"
                ))
            },
            update: false,
            field: "spec.resource.id",
            says: "in ASCII",
            cel: true,
        },
        Invalid {
            name: "key vault id with a Kelvin sign for a K",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["keyVault"]["resourceId"] = json!(format!(
                    "{SUB}/providers/Microsoft.\u{212A}eyVault/vaults/kv-clinical-cmk"
                ))
            },
            update: false,
            field: "spec.keyVault.resourceId",
            says: "in ASCII",
            cel: true,
        },
        Invalid {
            name: "role assignment id with a long s",
            example: REVIEW,
            mutate: |v| {
                let id = v["spec"]["assignments"][0]["roleAssignmentId"]
                    .as_str()
                    .expect("id")
                    .replace("roleAssignments", "roleA\u{17F}\u{17F}ignments");
                v["spec"]["assignments"][0]["roleAssignmentId"] = json!(id);
            },
            update: false,
            field: "spec.assignments[0].roleAssignmentId",
            says: "in ASCII",
            cel: true,
        },
        // Ids not anchored: an assignment id hidden after a query, a fragment or free text.
        Invalid {
            name: "role assignment id behind a query",
            example: REVIEW,
            mutate: |v| {
                v["spec"]["assignments"][0]["roleAssignmentId"] = json!(format!(
                    "{SUB}/providers/Microsoft.Storage/storageAccounts/stclinicalauditarchive?api-version=2025-01-01&x=/providers/Microsoft.Authorization/roleAssignments/5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
                ))
            },
            update: false,
            field: "spec.assignments[0].roleAssignmentId",
            says: "nothing after it",
            cel: true,
        },
        Invalid {
            name: "role assignment id behind a fragment",
            example: REVIEW,
            mutate: |v| {
                v["spec"]["assignments"][0]["roleAssignmentId"] = json!(format!(
                    "{SUB}#/providers/Microsoft.Authorization/roleAssignments/5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
                ))
            },
            update: false,
            field: "spec.assignments[0].roleAssignmentId",
            says: "nothing after it",
            cel: true,
        },
        Invalid {
            name: "role assignment id after free text",
            example: REVIEW,
            mutate: |v| {
                v["spec"]["assignments"][0]["roleAssignmentId"] = json!(
                    "delete everything /providers/Microsoft.Authorization/roleAssignments/5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
                )
            },
            update: false,
            field: "spec.assignments[0].roleAssignmentId",
            says: "nothing after it",
            cel: true,
        },
        Invalid {
            name: "free-text scope of an assignment",
            example: REVIEW,
            mutate: |v| v["spec"]["assignments"][0]["scope"] = json!("the whole company"),
            update: false,
            field: "spec.assignments[0].scope",
            says: "scope must be an Azure scope",
            cel: true,
        },
        // Blank to a person, not to a pattern that only knows ASCII white space.
        Invalid {
            name: "exemption approver of no-break spaces",
            example: STORE,
            mutate: |v| v["spec"]["exemptions"][0]["approver"] = json!("\u{a0}\u{a0}\u{a0}"),
            update: false,
            field: "spec.exemptions[0].approver",
            says: "approver must not be empty or blank",
            cel: true,
        },
        Invalid {
            name: "exemption reason of zero-width spaces",
            example: STORE,
            mutate: |v| v["spec"]["exemptions"][0]["reason"] = json!("\u{200b}\u{200b}\u{feff}"),
            update: false,
            field: "spec.exemptions[0].reason",
            says: "reason must not be empty or blank",
            cel: true,
        },
        Invalid {
            name: "decision reviewer of ideographic and thin spaces",
            example: REVIEW,
            mutate: |v| v["spec"]["decisions"][1]["reviewer"] = json!("\u{3000}\u{2009}"),
            update: false,
            field: "spec.decisions[1].reviewer",
            says: "reviewer must not be empty or blank",
            cel: true,
        },
        // Network ranges Azure Storage refuses, or that defeat the firewall.
        Invalid {
            name: "allowed IP range of the whole internet",
            example: STORE,
            mutate: |v| v["spec"]["profile"]["allowedIpRanges"] = json!(["0.0.0.0/0"]),
            update: false,
            field: "spec.profile.allowedIpRanges",
            says: "defeats the firewall",
            cel: true,
        },
        Invalid {
            name: "allowed IP range that is private",
            example: STORE,
            mutate: |v| v["spec"]["profile"]["allowedIpRanges"] = json!(["10.20.0.0/16"]),
            update: false,
            field: "spec.profile.allowedIpRanges",
            says: "refuses private and reserved ranges",
            cel: true,
        },
        Invalid {
            name: "allowed IP address that is private",
            example: STORE,
            mutate: |v| v["spec"]["profile"]["allowedIpRanges"] = json!(["192.168.1.10"]),
            update: false,
            field: "spec.profile.allowedIpRanges",
            says: "refuses private and reserved ranges",
            cel: true,
        },
        Invalid {
            name: "allowed IP range of /32",
            example: STORE,
            mutate: |v| v["spec"]["profile"]["allowedIpRanges"] = json!(["203.0.113.7/32"]),
            update: false,
            field: "spec.profile.allowedIpRanges",
            says: "/31-/32",
            cel: true,
        },
        Invalid {
            name: "allowed IP range in IPv6",
            example: STORE,
            mutate: |v| v["spec"]["profile"]["allowedIpRanges"] = json!(["2001:db8::/48"]),
            update: false,
            field: "spec.profile.allowedIpRanges",
            says: "public IPv4 addresses",
            cel: true,
        },
        Invalid {
            name: "allowed IP range listed twice",
            example: STORE,
            mutate: |v| {
                v["spec"]["profile"]["allowedIpRanges"] =
                    json!(["203.0.113.0/24", "203.0.113.0/24"])
            },
            update: false,
            field: "spec.profile.allowedIpRanges[1]",
            says: "Duplicate value",
            cel: false,
        },
        Invalid {
            name: "private-endpoint group id listed twice",
            example: STORE,
            mutate: |v| v["spec"]["privateEndpoint"]["groupIds"] = json!(["blob", "blob"]),
            update: false,
            field: "spec.privateEndpoint.groupIds[1]",
            says: "Duplicate value",
            cel: false,
        },
        // Duplicates that differ only in case: GUIDs are case-insensitive.
        Invalid {
            name: "break-glass principal listed twice in different case",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["accessReview"]["breakGlassPrincipalIds"] = json!([
                    "0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e",
                    "0B1C2D3E-4F5A-4B6C-8D7E-8F9A0B1C2D3E"
                ])
            },
            update: false,
            field: "spec.accessReview.breakGlassPrincipalIds",
            says: "lists a principal twice",
            cel: true,
        },
        // Key Vault's own minimums for a rotation policy.
        Invalid {
            name: "key rotation sooner than Key Vault allows",
            example: WORKSPACE,
            mutate: |v| v["spec"]["keyVault"]["rotation"]["rotateAfter"] = json!("P3D"),
            update: false,
            field: "spec.keyVault.rotation.rotateAfter",
            says: "at least P7D",
            cel: true,
        },
        Invalid {
            name: "key expiry shorter than Key Vault allows",
            example: WORKSPACE,
            mutate: |v| {
                v["spec"]["keyVault"]["rotation"]["rotateAfter"] = json!("P7D");
                v["spec"]["keyVault"]["rotation"]["notifyBefore"] = json!("P7D");
                v["spec"]["keyVault"]["rotation"]["expireAfter"] = json!("P20D");
            },
            update: false,
            field: "spec.keyVault.rotation.expireAfter",
            says: "at least P28D",
            cel: true,
        },
        // An exemption that does not apply to the store's kind exempts nothing.
        Invalid {
            name: "exemption of another kind's control",
            example: STORE,
            mutate: |v| v["spec"]["exemptions"][0]["control"] = json!("sql.tde-cmk"),
            update: false,
            field: "spec.exemptions",
            says: "only controls that apply to a StorageAccount: storage.*",
            cel: true,
        },
        // A store name the operator cannot put in a label value.
        Invalid {
            name: "store name longer than a label value",
            example: STORE,
            mutate: |v| v["metadata"]["name"] = json!("a".repeat(64)),
            update: false,
            // A rule on the whole object: the API server reports it at the root (`<nil>`), and
            // the message names the field.
            field: "<nil>",
            says: "metadata.name must be at most 63 characters",
            cel: true,
        },
        Invalid {
            name: "changed assignments of an open cycle (immutable)",
            example: REVIEW,
            mutate: |v| {
                v["spec"]["assignments"]
                    .as_array_mut()
                    .expect("assignments")
                    .pop();
                v["spec"]["decisions"]
                    .as_array_mut()
                    .expect("decisions")
                    .pop();
            },
            update: true,
            field: "spec.assignments",
            says: "assignments is immutable",
            cel: true,
        },
    ]
}
