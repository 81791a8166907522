//! What the workspace and the store expect of an Azure SQL server, what was read for it, and
//! the readings of that observation the evaluator and the planner share.

use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::ArmResource;

/// What the workspace and the store expect of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlExpectations {
    pub server_id: String,
    pub log_analytics_id: String,
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: crate::controls::common::EndpointDns,
    /// The workspace vault's name and the key's name.
    pub vault_name: String,
    pub key_name: String,
    /// `https://{vault}.vault.azure.net/`.
    pub vault_uri: String,
    pub min_pitr_days: i64,
    pub classification_tag: (String, String),
}

/// One user database and its sub-resources, when read.
#[derive(Clone, Debug, PartialEq)]
pub struct Database {
    pub database: ArmResource,
    pub tde: Option<ArmResource>,
    pub long_term: Option<ArmResource>,
    pub short_term: Option<ArmResource>,
}

/// What was read for one server.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlObservation {
    pub server: ArmResource,
    pub firewall_rules: Vec<ArmResource>,
    pub databases: Vec<Database>,
    pub encryption_protector: Option<ArmResource>,
    pub auditing: Option<ArmResource>,
    /// Diagnostic settings on `databases/master` (where server audit events are routed).
    pub master_diagnostics: Vec<DiagnosticSetting>,
    pub administrator: Option<ArmResource>,
    pub entra_only: Option<ArmResource>,
    pub alert_policy: Option<ArmResource>,
    /// `sqlVulnerabilityAssessments/default` (the express configuration).
    pub vulnerability_assessment: Option<ArmResource>,
    /// `vulnerabilityAssessments/default` (the classic configuration, with a storage container).
    pub classic_assessment: Option<ArmResource>,
    pub endpoints: crate::controls::common::SeenEndpoints,
    /// The latest version of the workspace key, when it exists.
    pub latest_key_version: Option<String>,
}

impl SqlExpectations {
    pub fn master_diagnostics(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: format!("{}/databases/master", self.server_id),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: vec![],
            categories: vec!["SQLSecurityAuditEvents".into()],
        }
    }
}

pub(super) fn name(r: &ArmResource) -> &str {
    &r.name
}

pub(super) fn user_databases(obs: &SqlObservation) -> impl Iterator<Item = &Database> {
    obs.databases
        .iter()
        .filter(|d| !name(&d.database).eq_ignore_ascii_case("master"))
}

pub(super) fn open_rule(r: &ArmResource) -> bool {
    let start = r.properties["startIpAddress"].as_str().unwrap_or_default();
    let end = r.properties["endIpAddress"].as_str().unwrap_or_default();
    start == "0.0.0.0" && (end == "0.0.0.0" || end == "255.255.255.255")
}
