//! Parsing of ARM request paths into scopes, resource types and names (case-insensitive, as ARM).

use crate::errors::{ArmError, ArmResult};
use axum::http::StatusCode;

/// What an ARM path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/subscriptions`
    Subscriptions,
    /// `/subscriptions/{id}`
    Subscription { sub: String },
    /// `/subscriptions/{id}/resourceGroups`
    ResourceGroups { sub: String },
    /// `/subscriptions/{id}/resourceGroups/{rg}`
    ResourceGroup { sub: String, rg: String },
    /// `/subscriptions/{id}/operationresults/{op}`: Resource Manager's own operation results.
    OperationResult { sub: String, op: String },
    /// Anything under `/providers/{namespace}/...`, an instance or a collection.
    Provider(ProviderPath),
}

/// A path of the form `{scope}/providers/{namespace}/{type}/{name}[/{type}/{name}...][/{type}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPath {
    /// The scope before the last `/providers/`: empty (tenant), a subscription, a resource
    /// group, or a resource id (for extension resources such as diagnostic settings).
    pub scope: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub namespace: String,
    pub types: Vec<String>,
    pub names: Vec<String>,
}

impl ProviderPath {
    pub fn is_collection(&self) -> bool {
        self.names.len() < self.types.len()
    }

    /// `Namespace/type1/type2`, in the case the client sent.
    pub fn type_name(&self) -> String {
        let mut s = self.namespace.clone();
        for t in &self.types {
            s.push('/');
            s.push_str(t);
        }
        s
    }

    /// The id of the instance (or of the collection's parent plus the collection segment).
    pub fn id(&self) -> String {
        let mut s = format!("{}/providers/{}", self.scope, self.namespace);
        for (i, t) in self.types.iter().enumerate() {
            s.push('/');
            s.push_str(t);
            if let Some(n) = self.names.get(i) {
                s.push('/');
                s.push_str(n);
            }
        }
        s
    }

    pub fn name(&self) -> Option<&str> {
        if self.is_collection() {
            None
        } else {
            self.names.last().map(String::as_str)
        }
    }

    /// The id of the resource that must exist before this one can: the parent for a nested
    /// type, the scope for a top-level or extension one (empty for tenant-level).
    pub fn parent_id(&self) -> String {
        let depth = if self.is_collection() {
            self.names.len()
        } else {
            self.names.len().saturating_sub(1)
        };
        if depth == 0 {
            return self.scope.clone();
        }
        let mut p = ProviderPath {
            types: self.types[..depth].to_vec(),
            names: self.names[..depth].to_vec(),
            ..self.clone()
        };
        p.types.truncate(depth);
        p.id()
    }
}

pub fn lower(id: &str) -> String {
    id.to_ascii_lowercase()
}

fn invalid_uri(path: &str) -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequestUri",
        format!(
            "The request URI '{path}' is not valid. Resource identifiers must not contain empty, '.' or '..' segments."
        ),
    )
}

/// Splits and percent-decodes a path; refuses traversal and empty segments instead of resolving them.
pub fn segments(path: &str) -> ArmResult<Vec<String>> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Err(invalid_uri(path));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for raw in rest.split('/') {
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| invalid_uri(path))?
            .into_owned();
        if decoded.is_empty()
            || decoded == "."
            || decoded == ".."
            || decoded.contains('/')
            || decoded.contains('\\')
            || decoded.chars().any(char::is_control)
        {
            return Err(invalid_uri(path));
        }
        out.push(decoded);
    }
    Ok(out)
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Parses an ARM path (already without the query string).
pub fn parse(path: &str) -> ArmResult<Target> {
    let segs = segments(path)?;
    parse_segments(&segs).ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "The requested path '{path}' does not address an Azure Resource Manager resource."
            ),
        )
    })
}

fn parse_segments(segs: &[String]) -> Option<Target> {
    let providers_at = segs
        .iter()
        .enumerate()
        .rev()
        .find(|(i, s)| eq(s, "providers") && i + 1 < segs.len())
        .map(|(i, _)| i);
    match providers_at {
        None => match segs {
            [s] if eq(s, "subscriptions") => Some(Target::Subscriptions),
            [s, sub] if eq(s, "subscriptions") => Some(Target::Subscription { sub: sub.clone() }),
            [s, sub, r] if eq(s, "subscriptions") && eq(r, "resourceGroups") => {
                Some(Target::ResourceGroups { sub: sub.clone() })
            }
            [s, sub, o, op] if eq(s, "subscriptions") && eq(o, "operationresults") => {
                Some(Target::OperationResult {
                    sub: sub.clone(),
                    op: op.clone(),
                })
            }
            [s, sub, r, rg] if eq(s, "subscriptions") && eq(r, "resourceGroups") => {
                Some(Target::ResourceGroup {
                    sub: sub.clone(),
                    rg: rg.clone(),
                })
            }
            _ => None,
        },
        Some(i) => {
            let scope_segs = &segs[..i];
            let (subscription, resource_group) = scope_of(scope_segs)?;
            let namespace = segs[i + 1].clone();
            let rest = &segs[i + 2..];
            if rest.is_empty() {
                return None;
            }
            let mut types = Vec::new();
            let mut names = Vec::new();
            for (k, s) in rest.iter().enumerate() {
                if k % 2 == 0 {
                    types.push(s.clone());
                } else {
                    names.push(s.clone());
                }
            }
            let scope = if scope_segs.is_empty() {
                String::new()
            } else {
                format!("/{}", scope_segs.join("/"))
            };
            Some(Target::Provider(ProviderPath {
                scope,
                subscription,
                resource_group,
                namespace,
                types,
                names,
            }))
        }
    }
}

/// Validates a scope prefix and extracts its subscription and resource group.
fn scope_of(scope: &[String]) -> Option<(Option<String>, Option<String>)> {
    match scope {
        [] => Some((None, None)),
        [s, sub] if eq(s, "subscriptions") => Some((Some(sub.clone()), None)),
        [s, sub, r, rg, ..] if eq(s, "subscriptions") && eq(r, "resourceGroups") => {
            if scope.len() == 4 {
                return Some((Some(sub.clone()), Some(rg.clone())));
            }
            // A resource used as the scope of an extension resource must itself parse.
            match parse_segments(scope)? {
                Target::Provider(p) if !p.is_collection() => {
                    Some((Some(sub.clone()), Some(rg.clone())))
                }
                _ => None,
            }
        }
        [s, _sub, ..] if eq(s, "subscriptions") => match parse_segments(scope)? {
            Target::Provider(p) if !p.is_collection() => Some((p.subscription, None)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(path: &str) -> ProviderPath {
        match parse(path) {
            Ok(Target::Provider(p)) => p,
            other => panic!("expected a provider path for {path}, got {other:?}"),
        }
    }

    #[test]
    fn nested_resource() {
        let p = provider(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default/containers/c1",
        );
        assert_eq!(
            p.type_name(),
            "Microsoft.Storage/storageAccounts/blobServices/containers"
        );
        assert_eq!(p.name(), Some("c1"));
        assert_eq!(p.resource_group.as_deref(), Some("rg"));
        assert_eq!(
            p.parent_id(),
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default"
        );
    }

    #[test]
    fn extension_resource_on_a_resource() {
        let p = provider(
            "/subscriptions/s1/resourcegroups/rg/providers/microsoft.logic/workflows/w/providers/microsoft.insights/diagnosticSettings/ds",
        );
        assert_eq!(p.type_name(), "microsoft.insights/diagnosticSettings");
        assert_eq!(
            p.scope,
            "/subscriptions/s1/resourcegroups/rg/providers/microsoft.logic/workflows/w"
        );
        assert_eq!(p.parent_id(), p.scope);
    }

    #[test]
    fn collections_and_tenant_scope() {
        let p = provider("/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments");
        assert!(p.is_collection());
        assert_eq!(p.parent_id(), "/subscriptions/s1");
        let t = provider("/providers/Microsoft.Authorization/roleDefinitions/abc");
        assert_eq!(t.scope, "");
        assert_eq!(t.subscription, None);
    }

    #[test]
    fn traversal_and_empty_segments_are_refused() {
        for bad in [
            "/subscriptions/s1/../x",
            "/subscriptions/s1/%2e%2e/x",
            "/subscriptions//resourceGroups",
            "/subscriptions/s1/resourceGroups/a%2fb",
            "relative",
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.code, "InvalidRequestUri", "{bad}");
        }
    }

    #[test]
    fn groups_and_subscriptions() {
        assert_eq!(
            parse("/SUBSCRIPTIONS/s1/RESOURCEGROUPS/rg").ok(),
            Some(Target::ResourceGroup {
                sub: "s1".into(),
                rg: "rg".into()
            })
        );
        assert!(parse("/foo/bar").is_err());
    }
}
