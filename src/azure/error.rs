//! Errors of Azure calls, classified so that controllers can choose a condition reason and a
//! retry policy, and metrics can count them by a fixed category.

use std::time::Duration;

use serde::Deserialize;

/// A failed Azure call. Every variant names the operation (`StorageAccounts_Update`, …) and the
/// resource it was about, never a token or secret.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("{operation} on {resource}: not found ({code}: {message})")]
    NotFound {
        operation: String,
        resource: String,
        code: String,
        message: String,
    },
    #[error("{operation} on {resource}: forbidden{}: {message}", action_hint(.action.as_deref()))]
    Forbidden {
        operation: String,
        resource: String,
        /// The action the identity lacks, when Azure names it.
        action: Option<String>,
        message: String,
    },
    #[error("{operation} on {resource}: the identity was not accepted (401): {message}")]
    Unauthorized {
        operation: String,
        resource: String,
        message: String,
    },
    #[error("{operation} on {resource}: throttled by Azure{}: {message}", retry_hint(*.retry_after))]
    Throttled {
        operation: String,
        resource: String,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Key Vault refused the caller's network path (`ForbiddenByFirewall`,
    /// `ForbiddenByConnection`): a network prerequisite, never a missing role.
    #[error(
        "{operation} on {resource}: the vault refused the operator's network path ({code}: {message}); the operator must reach it through the vault's private endpoint (an Approved connection, and the privatelink.vaultcore zone linked to the operator's VNet so the vault name resolves to the private IP) or from an address in the vault's firewall rules"
    )]
    Unreachable {
        operation: String,
        resource: String,
        code: String,
        message: String,
    },
    #[error("{operation} on {resource}: conflict ({code}: {message})")]
    Conflict {
        operation: String,
        resource: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: the resource changed since it was read (412 precondition failed)"
    )]
    PreconditionFailed { operation: String, resource: String },
    #[error("{operation} on {resource}: Azure is unavailable ({detail})")]
    Transient {
        operation: String,
        resource: String,
        detail: String,
    },
    #[error("{operation} on {resource}: Azure rejected the request ({code}: {message})")]
    Invalid {
        operation: String,
        resource: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: the long-running operation ended {status} ({code}: {message})"
    )]
    OperationFailed {
        operation: String,
        resource: String,
        status: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: the long-running operation did not finish within {waited:?}"
    )]
    Deadline {
        operation: String,
        resource: String,
        waited: Duration,
    },
    /// Azure accepted the write and is still working on it; the operation is handed over to
    /// be polled again later ([`super::types::RunningOperation`]). Not a failure.
    #[error("{} on {}: Azure is still working on it (started {})", .0.operation, .0.resource, .0.started_at)]
    Running(Box<super::types::RunningOperation>),
    #[error("{operation} on {resource}: unexpected response ({detail})")]
    Unexpected {
        operation: String,
        resource: String,
        detail: String,
    },
    #[error("Azure credential: {0}")]
    Credential(String),
    #[error("Azure client configuration: {0}")]
    Configuration(String),
    /// An id that is not a well-formed ARM id; nothing was sent.
    #[error("{0}; nothing was sent to Azure")]
    InvalidId(#[from] super::id::IdError),
}

/// An error's message with every cause below it (`outer: inner: innermost`), each once: the
/// innermost cause is what a person acts on (Entra's `AADSTS…` answer under a retry policy's
/// "will not be retried", for example).
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
        if parts.len() >= 8 {
            break;
        }
    }
    parts.join(": ")
}

impl AzureError {
    /// How long Azure asked the caller to wait (`Retry-After` of a throttled call).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AzureError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn action_hint(action: Option<&str>) -> String {
    match action {
        Some(action) => format!(
            " (missing action {action}; grant the identity {} at this scope)",
            role_for_action(action)
        ),
        None => String::new(),
    }
}

fn retry_hint(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {} s)", d.as_secs()))
        .unwrap_or_default()
}

/// Fixed categories of errors, for condition reasons, retry policy and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    NotFound,
    Forbidden,
    /// A network path refused (Key Vault's firewall or private link).
    Unreachable,
    Unauthorized,
    Throttled,
    Conflict,
    PreconditionFailed,
    Transient,
    Invalid,
    OperationFailed,
    Deadline,
    /// A long-running operation handed over, still running.
    Running,
    Unexpected,
    Configuration,
}

impl ErrorClass {
    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::NotFound => "not_found",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Unreachable => "unreachable",
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Conflict => "conflict",
            ErrorClass::PreconditionFailed => "precondition_failed",
            ErrorClass::Transient => "transient",
            ErrorClass::Invalid => "invalid",
            ErrorClass::OperationFailed => "operation_failed",
            ErrorClass::Deadline => "deadline",
            ErrorClass::Running => "running",
            ErrorClass::Unexpected => "unexpected",
            ErrorClass::Configuration => "configuration",
        }
    }

    /// Whether trying again later, unchanged, can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttled
                | ErrorClass::Transient
                | ErrorClass::Conflict
                | ErrorClass::PreconditionFailed
                | ErrorClass::Deadline
                | ErrorClass::Running
        )
    }
}

impl AzureError {
    /// The error's category.
    pub fn class(&self) -> ErrorClass {
        match self {
            AzureError::NotFound { .. } => ErrorClass::NotFound,
            AzureError::Forbidden { .. } => ErrorClass::Forbidden,
            AzureError::Unreachable { .. } => ErrorClass::Unreachable,
            AzureError::Unauthorized { .. } | AzureError::Credential(_) => ErrorClass::Unauthorized,
            AzureError::Throttled { .. } => ErrorClass::Throttled,
            AzureError::Conflict { .. } => ErrorClass::Conflict,
            AzureError::PreconditionFailed { .. } => ErrorClass::PreconditionFailed,
            AzureError::Transient { .. } => ErrorClass::Transient,
            AzureError::Invalid { .. } => ErrorClass::Invalid,
            AzureError::OperationFailed { .. } => ErrorClass::OperationFailed,
            AzureError::Deadline { .. } => ErrorClass::Deadline,
            AzureError::Running(_) => ErrorClass::Running,
            AzureError::Unexpected { .. } => ErrorClass::Unexpected,
            AzureError::Configuration(_) | AzureError::InvalidId(_) => ErrorClass::Configuration,
        }
    }

    /// Classifies an HTTP error response from ARM or Key Vault.
    pub fn from_response(
        operation: &str,
        resource: &str,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> AzureError {
        let (code, message, inner) = parse_error_body(body);
        let operation = operation.to_string();
        let resource = resource.to_string();
        match status {
            404 => AzureError::NotFound {
                operation,
                resource,
                code,
                message,
            },
            401 => AzureError::Unauthorized {
                operation,
                resource,
                message,
            },
            403 if inner.as_deref().is_some_and(network_refusal) => AzureError::Unreachable {
                operation,
                resource,
                code: inner.unwrap_or_default(),
                message,
            },
            403 => AzureError::Forbidden {
                operation,
                resource,
                action: missing_action(&message),
                message,
            },
            409 => AzureError::Conflict {
                operation,
                resource,
                code,
                message,
            },
            412 => AzureError::PreconditionFailed {
                operation,
                resource,
            },
            429 => AzureError::Throttled {
                operation,
                resource,
                retry_after,
                message,
            },
            408 | 500 | 502 | 503 | 504 => AzureError::Transient {
                operation,
                resource,
                detail: format!("HTTP {status}: {code}: {message}"),
            },
            400..=499 => AzureError::Invalid {
                operation,
                resource,
                code,
                message,
            },
            _ => AzureError::Unexpected {
                operation,
                resource,
                detail: format!("HTTP {status}: {code}: {message}"),
            },
        }
    }
}

/// Key Vault's inner codes for a request refused because of where it came from.
fn network_refusal(inner: &str) -> bool {
    ["ForbiddenByFirewall", "ForbiddenByConnection"]
        .iter()
        .any(|c| inner.eq_ignore_ascii_case(c))
}

/// ARM's `{"error": {"code", "message"}}`, Insights' flat `{"code", "message"}`, or Key Vault's
/// `{"error": {"code", "message", "innererror": {"code"}}}` (code, message, inner code);
/// anything else becomes an `Unknown` code.
fn parse_error_body(body: &[u8]) -> (String, String, Option<String>) {
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        code: Option<String>,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        innererror: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Envelope {
        error: Option<Detail>,
        #[serde(flatten)]
        flat: Detail,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => {
            let detail = envelope.error.unwrap_or(envelope.flat);
            (
                detail.code.unwrap_or_else(|| "Unknown".into()),
                detail.message.unwrap_or_default(),
                detail.innererror.and_then(|i| i.code),
            )
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(300).collect();
            ("Unknown".into(), text, None)
        }
    }
}

/// The action named in an `AuthorizationFailed` message: "... to perform action 'X' over scope ...".
fn missing_action(message: &str) -> Option<String> {
    // ARM: "... to perform action 'X' over scope ..."; Key Vault: "Action: 'X'".
    let start = ["action '", "Action: '"]
        .iter()
        .find_map(|m| message.find(m).map(|i| i + m.len()))?;
    let end = message[start..].find('\'')? + start;
    Some(message[start..end].to_string())
}

/// The least-privileged built-in role that grants `action`, for messages a person can act on.
pub fn role_for_action(action: &str) -> &'static str {
    let a = action.to_ascii_lowercase();
    if a.starts_with("microsoft.keyvault/vaults/keys/") {
        // Data actions on keys: creating, rotating and reading them and their policies.
        "Key Vault Crypto Officer"
    } else if a.ends_with("/read") {
        "Reader"
    } else if a.starts_with("microsoft.authorization/roleassignments/") {
        "Role Based Access Control Administrator"
    } else if a.starts_with("microsoft.authorization/policyassignments/") {
        "Resource Policy Contributor"
    } else if a.starts_with("microsoft.keyvault/") {
        "Key Vault Contributor"
    } else if a.starts_with("microsoft.storage/") {
        "Storage Account Contributor"
    } else if a.starts_with("microsoft.network/") {
        "Network Contributor"
    } else if a.starts_with("microsoft.insights/")
        || a.starts_with("microsoft.operationalinsights/")
    {
        "Monitoring Contributor"
    } else if a.starts_with("microsoft.sql/") {
        "SQL Server Contributor"
    } else if a.starts_with("microsoft.documentdb/") {
        "DocumentDB Account Contributor"
    } else {
        "Contributor"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    /// A vault that refuses the network path is a network prerequisite (VaultUnreachable), not
    /// a missing role; a vault that refuses the caller's rights stays Forbidden with the role.
    #[test]
    fn key_vault_network_refusals_are_not_missing_roles() {
        for inner in ["ForbiddenByFirewall", "ForbiddenByConnection"] {
            let body = format!(
                r#"{{"error": {{"code": "Forbidden", "message": "Client address is not authorized and caller is not a trusted service.", "innererror": {{"code": "{inner}"}}}}}}"#
            );
            let e = AzureError::from_response(
                "GetKey",
                "https://kv/keys/k",
                403,
                None,
                body.as_bytes(),
            );
            assert_eq!(e.class(), ErrorClass::Unreachable, "{inner}");
            let text = e.to_string();
            assert!(
                text.contains(inner) && text.contains("private endpoint"),
                "{text}"
            );
            assert!(!text.contains("grant the identity"), "{text}");
        }
        let rbac = br#"{"error": {"code": "Forbidden", "message": "Caller is not authorized. Action: 'Microsoft.KeyVault/vaults/keys/read'", "innererror": {"code": "ForbiddenByRbac"}}}"#;
        let e = AzureError::from_response("GetKey", "https://kv/keys/k", 403, None, rbac);
        assert_eq!(e.class(), ErrorClass::Forbidden);
    }

    #[test]
    fn the_innermost_cause_is_kept() {
        let e = Layer(
            "non-transport error occurred which will not be retried",
            Some(Box::new(Layer(
                "AADSTS7000215: Invalid client secret provided.",
                None,
            ))),
        );
        assert_eq!(
            with_causes(&e),
            "non-transport error occurred which will not be retried: AADSTS7000215: Invalid client secret provided."
        );
    }

    #[test]
    fn authorization_failed_names_the_action_and_the_role_to_grant() {
        let body = br#"{"error":{"code":"AuthorizationFailed","message":"The client 'abc' with object id 'abc' does not have authorization to perform action 'Microsoft.Storage/storageAccounts/write' over scope '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a' or the scope is invalid."}}"#;
        let err = AzureError::from_response(
            "StorageAccounts_Update",
            "/subscriptions/s/x",
            403,
            None,
            body,
        );
        assert_eq!(err.class(), ErrorClass::Forbidden);
        let text = err.to_string();
        assert!(
            text.contains("missing action Microsoft.Storage/storageAccounts/write"),
            "{text}"
        );
        assert!(
            text.contains("grant the identity Storage Account Contributor"),
            "{text}"
        );
    }

    #[test]
    fn key_vault_forbidden_names_the_data_action_and_crypto_role() {
        let body = br#"{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.\nAction: 'Microsoft.KeyVault/vaults/keys/read'\nResource: '/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv'"}}"#;
        let err = AzureError::from_response(
            "GetKey",
            "https://kv.vault.azure.net/keys/k",
            403,
            None,
            body,
        );
        let text = err.to_string();
        assert!(
            text.contains("missing action Microsoft.KeyVault/vaults/keys/read"),
            "{text}"
        );
        assert!(text.contains("Key Vault Crypto Officer"), "{text}");
    }

    #[test]
    fn statuses_map_to_classes() {
        let envelope = br#"{"error":{"code":"ResourceNotFound","message":"gone"}}"#;
        let cases = [
            (404, ErrorClass::NotFound),
            (401, ErrorClass::Unauthorized),
            (409, ErrorClass::Conflict),
            (412, ErrorClass::PreconditionFailed),
            (429, ErrorClass::Throttled),
            (500, ErrorClass::Transient),
            (503, ErrorClass::Transient),
            (400, ErrorClass::Invalid),
            (302, ErrorClass::Unexpected),
        ];
        for (status, class) in cases {
            let err = AzureError::from_response("Op", "/r", status, None, envelope);
            assert_eq!(err.class(), class, "HTTP {status}");
        }
        assert!(ErrorClass::Throttled.is_retryable());
        assert!(!ErrorClass::Forbidden.is_retryable());
    }

    #[test]
    fn flat_and_unparseable_error_bodies_keep_their_message() {
        let flat = AzureError::from_response(
            "DiagnosticSettings_Get",
            "/r",
            400,
            None,
            br#"{"code":"BadRequest","message":"bad category"}"#,
        );
        assert!(
            flat.to_string().contains("BadRequest: bad category"),
            "{flat}"
        );
        let html = AzureError::from_response("Op", "/r", 502, None, b"<html>Bad Gateway</html>");
        assert!(html.to_string().contains("Bad Gateway"), "{html}");
        let throttled =
            AzureError::from_response("Op", "/r", 429, Some(Duration::from_secs(17)), b"{}");
        assert!(
            throttled.to_string().contains("retry after 17 s"),
            "{throttled}"
        );
    }
}
