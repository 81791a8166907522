//! Azure Resource Manager ids, parsed. Every URL the operator sends to ARM is built from an
//! [`ArmId`]: `/`-separated segments of printable ASCII, with no query, fragment, percent-escape,
//! dot segment or empty segment, so no string a user wrote can turn into another path, a query
//! parameter or another host. A role assignment the operator removes is further a
//! [`RoleAssignmentId`]: a scope followed by exactly
//! `/providers/Microsoft.Authorization/roleAssignments/{GUID}`.

use std::fmt;

/// Why a string is not an ARM id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an Azure resource id: {why}")]
pub struct IdError {
    pub text: String,
    pub why: &'static str,
}

pub(crate) fn refuse(text: &str, why: &'static str) -> IdError {
    // Ids come from objects anyone may write: keep the message bounded.
    let text: String = text.chars().take(200).collect();
    IdError { text, why }
}

/// A parsed ARM path: a resource id, a scope (`/subscriptions/{id}`, a resource group, a
/// resource) or a provider path (`/providers/Microsoft.ResourceGraph/resources`). It keeps the
/// caller's spelling (ARM ids are case-insensitive; comparisons here ignore case).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArmId(String);

/// Characters ARM names never need and that would change what a URL means or how a path splits.
fn forbidden(c: char) -> bool {
    !c.is_ascii()
        || c.is_ascii_control()
        || matches!(
            c,
            ' ' | '?'
                | '#'
                | '%'
                | '\\'
                | '"'
                | '<'
                | '>'
                | '|'
                | '^'
                | '`'
                | '{'
                | '}'
                | '['
                | ']'
        )
}

impl ArmId {
    /// Parses `text`: it starts with `/`, has no trailing `/`, and every segment is non-empty,
    /// not `.` or `..`, and made of printable ASCII other than `?#%\"<>|^`{}[]` and space.
    pub fn parse(text: &str) -> Result<ArmId, IdError> {
        if text.len() > 2048 {
            return Err(refuse(text, "longer than 2,048 characters"));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(refuse(text, "it must start with /"));
        };
        if rest.is_empty() {
            return Err(refuse(text, "it has no segments"));
        }
        if let Some(c) = text.chars().find(|c| forbidden(*c)) {
            return Err(refuse(
                text,
                match c {
                    '?' => "it has a query (?)",
                    '#' => "it has a fragment (#)",
                    '%' => "it has a percent-escape (%)",
                    c if !c.is_ascii() => "it has a character outside ASCII",
                    _ => "it has a character ARM ids never contain",
                },
            ));
        }
        for segment in rest.split('/') {
            match segment {
                "" => {
                    return Err(refuse(
                        text,
                        "it has an empty segment (//, or a trailing /)",
                    ));
                }
                "." | ".." => return Err(refuse(text, "it has a . or .. segment")),
                _ => {}
            }
        }
        Ok(ArmId(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of a child: this id, then `kind` and, when given, `name`, checked as any id is
    /// (a name cannot smuggle a separator, query or fragment in).
    pub fn child(&self, kind: &str, name: Option<&str>) -> Result<ArmId, IdError> {
        let text = match name {
            Some(name) if name.contains('/') => return Err(refuse(name, "a name cannot hold a /")),
            Some(name) => format!("{}/{kind}/{name}", self.0),
            None => format!("{}/{kind}", self.0),
        };
        ArmId::parse(&text)
    }

    /// The segments, without the leading `/`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/')
    }

    /// The value that follows the segment `key` (case-insensitive), e.g. `resourceGroups`.
    pub fn value_of(&self, key: &str) -> Option<&str> {
        let mut segments = self.segments();
        while let Some(s) = segments.next() {
            if s.eq_ignore_ascii_case(key) {
                return segments.next();
            }
        }
        None
    }

    /// The subscription the id lies in, when it starts with `/subscriptions/{id}`.
    pub fn subscription(&self) -> Option<&str> {
        let mut segments = self.segments();
        match (segments.next(), segments.next()) {
            (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") => Some(id),
            _ => None,
        }
    }

    /// The resource group the id lies in, when it is `/subscriptions/{id}/resourceGroups/{rg}…`.
    pub fn resource_group(&self) -> Option<&str> {
        let segments: Vec<&str> = self.segments().take(4).collect();
        match segments.as_slice() {
            [s, _, g, rg]
                if s.eq_ignore_ascii_case("subscriptions")
                    && g.eq_ignore_ascii_case("resourceGroups") =>
            {
                Some(rg)
            }
            _ => None,
        }
    }

    /// Whether this id is `scope` or lies below it, segment by segment, ignoring case.
    pub fn is_within(&self, scope: &ArmId) -> bool {
        let mut mine = self.segments();
        scope
            .segments()
            .all(|s| mine.next().is_some_and(|m| m.eq_ignore_ascii_case(s)))
    }

    /// Whether two ids name the same thing (ARM ids are case-insensitive).
    pub fn same(&self, other: &ArmId) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for ArmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a role assignment: `{scope}/providers/Microsoft.Authorization/roleAssignments/{GUID}`
/// and nothing after it, where the scope is `/` (tenant root) or an [`ArmId`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleAssignmentId {
    id: ArmId,
    scope_len: usize,
}

const ROLE_ASSIGNMENTS: [&str; 3] = ["providers", "Microsoft.Authorization", "roleAssignments"];

impl RoleAssignmentId {
    pub fn parse(text: &str) -> Result<RoleAssignmentId, IdError> {
        let id = ArmId::parse(text)?;
        let segments: Vec<&str> = id.segments().collect();
        let n = segments.len();
        if n < 4
            || !segments[n - 4..n - 1]
                .iter()
                .zip(ROLE_ASSIGNMENTS)
                .all(|(s, want)| s.eq_ignore_ascii_case(want))
        {
            return Err(refuse(
                text,
                "it does not end with /providers/Microsoft.Authorization/roleAssignments/{GUID}",
            ));
        }
        if uuid::Uuid::try_parse(segments[n - 1]).is_err() || segments[n - 1].len() != 36 {
            return Err(refuse(text, "the role assignment's name is not a GUID"));
        }
        // The scope must itself be an ARM scope, not another provider path ending in the same.
        if segments[..n - 4]
            .iter()
            .any(|s| s.eq_ignore_ascii_case("roleAssignments"))
        {
            return Err(refuse(
                text,
                "a role assignment cannot be scoped to another",
            ));
        }
        let scope_len = text.len()
            - ROLE_ASSIGNMENTS.iter().map(|s| s.len() + 1).sum::<usize>()
            - segments[n - 1].len()
            - 1;
        Ok(RoleAssignmentId { id, scope_len })
    }

    /// The scope the assignment is made at (`/` for the tenant root).
    pub fn scope(&self) -> &str {
        match &self.id.as_str()[..self.scope_len] {
            "" => "/",
            s => s,
        }
    }

    pub fn as_arm_id(&self) -> &ArmId {
        &self.id
    }

    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_id_is_checked_like_any_id() {
        let pe = ArmId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
        )
        .expect("id");
        assert_eq!(
            pe.child("privateDnsZoneGroups", Some("default"))
                .expect("child")
                .as_str(),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe/privateDnsZoneGroups/default"
        );
        assert!(pe.child("privateDnsZoneGroups", None).is_ok());
        for bad in ["a/b", "x?api-version=1", "x#y", "%2F"] {
            assert!(
                pe.child("privateDnsZoneGroups", Some(bad)).is_err(),
                "{bad}"
            );
        }
    }

    const SA: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi/providers/Microsoft.Storage/storageAccounts/stclinicalauditarchive";
    const GUID: &str = "3fc1b2d0-6a8e-4f1c-9b7e-2a4d6c8e0f13";

    #[test]
    fn ids_parse_and_keep_their_spelling() {
        let id = ArmId::parse(SA).expect("id");
        assert_eq!(id.as_str(), SA);
        assert_eq!(
            id.subscription(),
            Some("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
        );
        assert_eq!(id.resource_group(), Some("rg-clinical-phi"));
        assert_eq!(
            id.value_of("storageaccounts"),
            Some("stclinicalauditarchive")
        );
        assert!(ArmId::parse("/providers/Microsoft.ResourceGraph/resources").is_ok());
        // Resource group names may hold parentheses and dots.
        assert!(ArmId::parse("/subscriptions/s/resourceGroups/rg.(prod)_1").is_ok());
    }

    #[test]
    fn anything_that_changes_what_a_url_means_is_refused() {
        for (text, why) in [
            (format!("{SA}?api-version=2022-04-01&x=1"), "query"),
            (
                format!("{SA}#/providers/Microsoft.Authorization/roleAssignments/{GUID}"),
                "fragment",
            ),
            (format!("{SA}%2F..%2Fother"), "percent"),
            (format!("{SA}/../../other"), ". or .."),
            (format!("{SA}/./x"), ". or .."),
            (format!("{SA}//x"), "empty segment"),
            (format!("{SA}/"), "empty segment"),
            ("subscriptions/s".to_string(), "start with /"),
            (
                "https://evil.example/subscriptions/s".to_string(),
                "start with /",
            ),
            ("/".to_string(), "no segments"),
            (
                "/subscriptions/s/resourceGroups/rg x".to_string(),
                "never contain",
            ),
            (
                "/subscriptions/s/resourceGroups/rg\\x".to_string(),
                "never contain",
            ),
            (
                "/subscriptions/s/resourceGroups/rg\nx".to_string(),
                "never contain",
            ),
            // Look-alikes that case-insensitive matching folds to ASCII: the Kelvin sign and
            // the long s.
            (
                "/subscriptions/s/providers/Microsoft.\u{212A}eyVault/vaults/v".to_string(),
                "outside ASCII",
            ),
            ("/\u{17F}ubscriptions/s".to_string(), "outside ASCII"),
        ] {
            let err = ArmId::parse(&text).expect_err(&text);
            assert!(err.why.contains(why), "{text}: {}", err.why);
        }
        assert!(ArmId::parse(&"/a".repeat(1100)).is_err());
    }

    #[test]
    fn containment_is_by_segment_and_ignores_case() {
        let rg = ArmId::parse("/subscriptions/S/resourceGroups/RG-Clinical-PHI").expect("rg");
        let id =
            ArmId::parse(&SA.replace("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "S")).expect("id");
        assert!(id.is_within(&rg));
        assert!(rg.is_within(&rg));
        assert!(!rg.is_within(&id));
        // A sibling whose name starts with the same text is not inside.
        let sibling =
            ArmId::parse("/subscriptions/S/resourceGroups/RG-Clinical-PHI-2").expect("id");
        assert!(!sibling.is_within(&rg));
        assert!(id.same(&ArmId::parse(&id.as_str().to_uppercase()).expect("upper")));
    }

    #[test]
    fn role_assignment_ids_end_with_exactly_one_guid_and_know_their_scope() {
        let ra = RoleAssignmentId::parse(&format!(
            "{SA}/providers/Microsoft.Authorization/roleAssignments/{GUID}"
        ))
        .expect("ra");
        assert_eq!(ra.scope(), SA);
        let root = RoleAssignmentId::parse(&format!(
            "/providers/Microsoft.Authorization/roleAssignments/{GUID}"
        ))
        .expect("root");
        assert_eq!(root.scope(), "/");
        for text in [
            // The forged review's id: a storage account followed by a query that "ends with"
            // a role assignment.
            format!(
                "{SA}?api-version=2022-04-01&x=/providers/Microsoft.Authorization/roleAssignments/{GUID}"
            ),
            format!("{SA}#/providers/Microsoft.Authorization/roleAssignments/{GUID}"),
            SA.to_string(),
            format!("{SA}/providers/Microsoft.Authorization/roleAssignments/not-a-guid"),
            format!("{SA}/providers/Microsoft.Authorization/roleAssignments/{GUID}/x"),
            format!("{SA}/providers/Microsoft.Authorization/roleDefinitions/{GUID}"),
            format!(
                "{SA}/providers/Microsoft.Authorization/roleAssignments/{GUID}/providers/Microsoft.Authorization/roleAssignments/{GUID}"
            ),
        ] {
            assert!(RoleAssignmentId::parse(&text).is_err(), "{text}");
        }
    }
}
