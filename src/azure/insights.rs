//! Microsoft.Insights diagnostic settings (api-version 2021-05-01-preview, the one with category
//! groups): the setting the operator owns on each resource, sending audit logs to Log Analytics.

use azure_core::http::Method;
use serde::{Deserialize, Serialize};

use super::client::AzureClient;
use super::error::AzureError;
use super::types::ArmOp;
use super::types::Ensured;

pub const API_VERSION: &str = "2021-05-01-preview";
const PROVIDER: &str = "Microsoft.Insights";
const LIST: ArmOp = ArmOp::new("DiagnosticSettings_List", PROVIDER, API_VERSION);
const GET: ArmOp = ArmOp::new("DiagnosticSettings_Get", PROVIDER, API_VERSION);
const PUT: ArmOp = ArmOp::new("DiagnosticSettings_CreateOrUpdate", PROVIDER, API_VERSION);
const DELETE: ArmOp = ArmOp::new("DiagnosticSettings_Delete", PROVIDER, API_VERSION);

/// The name of the diagnostic setting the operator owns on every governed resource.
pub const SETTING_NAME: &str = "hipaa-operator-audit";

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub properties: DiagnosticSettingProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticSettingProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub logs: Vec<LogSetting>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_group: Option<String>,
    pub enabled: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct SettingList {
    #[serde(default)]
    value: Vec<DiagnosticSetting>,
}

/// The setting the operator wants on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredDiagnosticSetting {
    /// The resource (or sub-resource, e.g. `{account}/blobServices/default`) the setting is on.
    pub resource_id: String,
    pub workspace_id: String,
    pub category_groups: Vec<String>,
    pub categories: Vec<String>,
}

impl DesiredDiagnosticSetting {
    fn setting_id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Insights/diagnosticSettings/{SETTING_NAME}",
            self.resource_id
        )
    }

    /// Whether `found` sends at least the desired logs to the desired workspace.
    pub fn is_met_by(&self, found: &DiagnosticSetting) -> bool {
        let workspace_ok = found
            .properties
            .workspace_id
            .as_deref()
            .is_some_and(|w| w.eq_ignore_ascii_case(&self.workspace_id));
        let enabled = |pick: &dyn Fn(&LogSetting) -> Option<&str>, want: &str| {
            found
                .properties
                .logs
                .iter()
                .any(|l| l.enabled && pick(l).is_some_and(|v| v.eq_ignore_ascii_case(want)))
        };
        workspace_ok
            && self
                .category_groups
                .iter()
                // `allLogs` includes the `audit` group.
                .all(|g| {
                    enabled(&|l| l.category_group.as_deref(), g)
                        || (g.eq_ignore_ascii_case("audit")
                            && enabled(&|l| l.category_group.as_deref(), "allLogs"))
                })
            && self
                .categories
                .iter()
                .all(|c| enabled(&|l| l.category.as_deref(), c))
    }

    fn body(&self) -> DiagnosticSetting {
        let logs = self
            .category_groups
            .iter()
            .map(|g| LogSetting {
                category: None,
                category_group: Some(g.clone()),
                enabled: true,
            })
            .chain(self.categories.iter().map(|c| LogSetting {
                category: Some(c.clone()),
                category_group: None,
                enabled: true,
            }))
            .collect();
        DiagnosticSetting {
            id: None,
            name: None,
            properties: DiagnosticSettingProperties {
                workspace_id: Some(self.workspace_id.clone()),
                logs,
            },
        }
    }
}

impl AzureClient {
    /// `DiagnosticSettings_List` on a resource.
    pub async fn list_diagnostic_settings(
        &self,
        resource_id: &str,
    ) -> Result<Vec<DiagnosticSetting>, AzureError> {
        let path = format!("{resource_id}/providers/Microsoft.Insights/diagnosticSettings");
        let list: SettingList = self.get(&LIST, &path).await?;
        Ok(list.value)
    }

    /// Keeps the operator's setting as desired; writes only when it differs.
    pub async fn ensure_diagnostic_setting(
        &self,
        desired: &DesiredDiagnosticSetting,
    ) -> Result<Ensured, AzureError> {
        let id = desired.setting_id();
        let found: Option<DiagnosticSetting> = self.get_opt(&GET, &id).await?;
        if found.as_ref().is_some_and(|f| desired.is_met_by(f)) {
            return Ok(Ensured::Unchanged);
        }
        self.write(&PUT, Method::Put, &id, Some(&desired.body()), None)
            .await?;
        Ok(Ensured::Written)
    }

    /// Writes the operator's setting as desired without reading it first: for a pass that has
    /// just listed the resource's settings and found none that meets it. A PUT of the whole
    /// setting is idempotent, so a setting made meanwhile costs one redundant write, never a
    /// wrong one.
    pub async fn put_diagnostic_setting(
        &self,
        desired: &DesiredDiagnosticSetting,
    ) -> Result<Ensured, AzureError> {
        let id = desired.setting_id();
        self.write(&PUT, Method::Put, &id, Some(&desired.body()), None)
            .await?;
        Ok(Ensured::Written)
    }

    /// Removes the operator's setting; already gone is success.
    pub async fn ensure_diagnostic_setting_absent(
        &self,
        resource_id: &str,
    ) -> Result<(), AzureError> {
        let id =
            format!("{resource_id}/providers/Microsoft.Insights/diagnosticSettings/{SETTING_NAME}");
        self.delete(&DELETE, &id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/blobServices/default".into(),
            workspace_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law".into(),
            category_groups: vec!["audit".into()],
            categories: vec![],
        }
    }

    #[test]
    fn a_setting_with_the_group_to_the_workspace_is_met_and_others_are_not() {
        let d = desired();
        let body = d.body();
        assert!(d.is_met_by(&body));
        let mut other_workspace = body.clone();
        other_workspace.properties.workspace_id = Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/elsewhere".into());
        assert!(!d.is_met_by(&other_workspace));
        let mut disabled = body;
        disabled.properties.logs[0].enabled = false;
        assert!(!d.is_met_by(&disabled));
    }

    #[test]
    fn recorded_setting_parses() {
        let example: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/azure-rest-examples/Microsoft.Insights/2021-05-01-preview/createOrUpdateDiagnosticSetting.json"
        ))
        .expect("example JSON");
        let s: DiagnosticSetting =
            serde_json::from_value(example["responses"]["200"]["body"].clone()).expect("setting");
        assert_eq!(
            s.properties.logs[0].category_group.as_deref(),
            Some("allLogs")
        );
    }
}
