//! The kinds of Azure resources a PhiStore can govern: each kind's control prefix, id shape,
//! ARM type and private-endpoint groups, and the CEL rules the CRD derives from them.

use kube::core::cel::{Message, Rule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::rules;

/// The kinds of Azure resources a PhiStore can govern.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ResourceKind {
    /// `Microsoft.Storage/storageAccounts`
    StorageAccount,
    /// `Microsoft.Sql/servers`
    SqlServer,
    /// `Microsoft.DocumentDB/databaseAccounts`
    CosmosDbAccount,
    /// `Microsoft.KeyVault/vaults` (secrets holding PHI)
    KeyVault,
    /// `Microsoft.HealthcareApis/workspaces`
    HealthDataWorkspace,
    /// `Microsoft.HealthcareApis/workspaces/fhirservices`
    FhirService,
    /// `Microsoft.HealthcareApis/workspaces/dicomservices`
    DicomService,
}

impl ResourceKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::StorageAccount,
        ResourceKind::SqlServer,
        ResourceKind::CosmosDbAccount,
        ResourceKind::KeyVault,
        ResourceKind::HealthDataWorkspace,
        ResourceKind::FhirService,
        ResourceKind::DicomService,
    ];

    /// The prefix of the catalog ids of this kind's own controls.
    pub fn control_prefix(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "storage.",
            ResourceKind::SqlServer => "sql.",
            ResourceKind::CosmosDbAccount => "cosmos.",
            ResourceKind::KeyVault => "kv.",
            ResourceKind::HealthDataWorkspace => "ahds.",
            ResourceKind::FhirService => "fhir.",
            ResourceKind::DicomService => "dicom.",
        }
    }

    /// The name used in the API (`spec.resource.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "StorageAccount",
            ResourceKind::SqlServer => "SqlServer",
            ResourceKind::CosmosDbAccount => "CosmosDbAccount",
            ResourceKind::KeyVault => "KeyVault",
            ResourceKind::HealthDataWorkspace => "HealthDataWorkspace",
            ResourceKind::FhirService => "FhirService",
            ResourceKind::DicomService => "DicomService",
        }
    }

    /// The ARM type path after `/providers/`, with the resource name rules of the type, as an
    /// RE2 expression (escaped for a CEL string literal).
    fn id_pattern(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "Microsoft\\\\.Storage/storageAccounts/[a-z0-9]{3,24}",
            ResourceKind::SqlServer => "Microsoft\\\\.Sql/servers/[a-z0-9][-a-z0-9]{0,61}[a-z0-9]",
            ResourceKind::CosmosDbAccount => {
                "Microsoft\\\\.DocumentDB/databaseAccounts/[a-z0-9][-a-z0-9]{1,42}[a-z0-9]"
            }
            ResourceKind::KeyVault => {
                "Microsoft\\\\.KeyVault/vaults/[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]"
            }
            ResourceKind::HealthDataWorkspace => {
                "Microsoft\\\\.HealthcareApis/workspaces/[a-zA-Z0-9]{3,24}"
            }
            ResourceKind::FhirService => {
                "Microsoft\\\\.HealthcareApis/workspaces/[a-zA-Z0-9]{3,24}/fhirservices/[a-zA-Z0-9][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]"
            }
            ResourceKind::DicomService => {
                "Microsoft\\\\.HealthcareApis/workspaces/[a-zA-Z0-9]{3,24}/dicomservices/[a-zA-Z0-9][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]"
            }
        }
    }

    /// The ARM type a person should write, for messages.
    pub fn arm_type(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "Microsoft.Storage/storageAccounts/{name}",
            ResourceKind::SqlServer => "Microsoft.Sql/servers/{name}",
            ResourceKind::CosmosDbAccount => "Microsoft.DocumentDB/databaseAccounts/{name}",
            ResourceKind::KeyVault => "Microsoft.KeyVault/vaults/{name}",
            ResourceKind::HealthDataWorkspace => "Microsoft.HealthcareApis/workspaces/{name}",
            ResourceKind::FhirService => {
                "Microsoft.HealthcareApis/workspaces/{workspace}/fhirservices/{name}"
            }
            ResourceKind::DicomService => {
                "Microsoft.HealthcareApis/workspaces/{workspace}/dicomservices/{name}"
            }
        }
    }

    /// Private-endpoint group ids (sub-resources) the resource type offers.
    pub fn private_endpoint_groups(self) -> &'static [&'static str] {
        match self {
            ResourceKind::StorageAccount => &[
                "blob",
                "blob_secondary",
                "dfs",
                "dfs_secondary",
                "file",
                "file_secondary",
                "queue",
                "queue_secondary",
                "table",
                "table_secondary",
                "web",
                "web_secondary",
            ],
            ResourceKind::SqlServer => &["sqlServer"],
            ResourceKind::CosmosDbAccount => &[
                "Sql",
                "SqlDedicated",
                "MongoDB",
                "Cassandra",
                "Gremlin",
                "Table",
                "Analytical",
            ],
            ResourceKind::KeyVault => &["vault"],
            ResourceKind::HealthDataWorkspace
            | ResourceKind::FhirService
            | ResourceKind::DicomService => &["healthcareworkspace"],
        }
    }

    /// The group id used when the spec names none.
    pub fn default_private_endpoint_group(self) -> &'static str {
        self.private_endpoint_groups()[0]
    }
}

/// A CEL expression choosing a constant string by the kind at `kind_path` (constant strings
/// keep the API server's cost estimate of a message expression small).
fn choose_by_kind(kind_path: &str, text: impl Fn(ResourceKind) -> String) -> String {
    ResourceKind::ALL
        .iter()
        .rev()
        .fold(String::from("''"), |rest, kind| {
            format!(
                "{kind_path} == '{}' ? '{}' : ({rest})",
                kind.as_str(),
                text(*kind)
            )
        })
}

/// The rule that pairs `resource.kind` with the shape of `resource.id`.
pub(super) fn kind_matches_id_rule() -> Rule {
    let mut expr = String::from("false");
    for kind in ResourceKind::ALL.iter().rev() {
        expr = format!(
            "self.kind == '{}' ? (self.id.matches('^[!-~]+$') && self.id.matches('{}{}$')) : ({expr})",
            kind.as_str(),
            rules::arm_prefix(),
            kind.id_pattern()
        );
    }
    let examples = choose_by_kind("self.kind", |k| k.arm_type().to_string());
    Rule::new(expr)
        .message(Message::Expression(format!(
            "'id must be the Azure resource ID of a ' + self.kind + ': /subscriptions/{{subscription}}/resourceGroups/{{group}}/providers/' + ({examples})"
        )))
        .field_path(".id")
}

/// The rule that only lets a store ask for private-endpoint group ids its resource type offers.
pub(super) fn private_endpoint_groups_rule() -> Rule {
    let map = ResourceKind::ALL
        .iter()
        .map(|k| {
            let groups = k
                .private_endpoint_groups()
                .iter()
                .map(|g| format!("'{g}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("'{}': [{groups}]", k.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ");
    Rule::new(format!(
        "!has(self.privateEndpoint) || self.privateEndpoint.groupIds.all(g, g in {{{map}}}[self.resource.kind])"
    ))
    .message(Message::Expression(format!(
        "'privateEndpoint.groupIds must be private-link sub-resources of a ' + self.resource.kind + ': ' + ({})",
        choose_by_kind("self.resource.kind", |k| k.private_endpoint_groups().join(", "))
    )))
    .field_path(".privateEndpoint.groupIds")
}
