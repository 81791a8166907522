//! Role definitions as ARM returns them and what they grant: the model the client's role
//! cache and the access controls share. No I/O.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    pub id: String,
    pub name: String,
    pub properties: RoleDefinitionProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    pub role_name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

impl RoleDefinition {
    /// Whether the role grants `action` (a control-plane action): one of its permission blocks
    /// matches it (`*` wildcards included) without a not-action removing it.
    pub fn grants(&self, action: &str) -> bool {
        self.properties.permissions.iter().any(|p| {
            p.actions.iter().any(|a| glob(a, action))
                && !p.not_actions.iter().any(|a| glob(a, action))
        })
    }

    /// Whether the role grants the data action `action` (`Microsoft.KeyVault/vaults/keys/wrap/action`).
    pub fn grants_data(&self, action: &str) -> bool {
        self.properties.permissions.iter().any(|p| {
            p.data_actions.iter().any(|a| glob(a, action))
                && !p.not_data_actions.iter().any(|a| glob(a, action))
        })
    }

    /// Whether the role grants data actions (reading or writing the data itself, i.e. PHI).
    pub fn grants_data_access(&self) -> bool {
        self.properties
            .permissions
            .iter()
            .any(|p| !p.data_actions.is_empty())
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters; case-insensitive,
/// as ARM compares actions.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}
