//! What an exclusive grant reserves against the namespaces it does not select (its scopes and
//! its identities), and the refusal, in the admission policy's words, of an object naming them.

use kube::ResourceExt;

use super::{Refusal, not_permitted};
use crate::api::AzureScopeGrant;
use crate::azure::id::ArmId;

/// What an exclusive grant reserves against a namespace it does not select: its scopes and its
/// identities.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Reservation {
    grant: String,
    /// The namespaces it reserves them to, as a refusal names them.
    holders: String,
    scopes: Vec<ArmId>,
    identities: Vec<String>,
}

impl Reservation {
    pub(super) fn of(grant: &AzureScopeGrant) -> Reservation {
        let names = &grant.spec.namespaces;
        let holders = match (names.is_empty(), grant.spec.namespace_selector.is_some()) {
            (false, false) => format!("namespaces {}", listed(names, 5)),
            (false, true) => format!(
                "namespaces {} and those its namespaceSelector selects",
                listed(names, 5)
            ),
            (true, _) => "the namespaces its namespaceSelector selects".to_string(),
        };
        Reservation {
            grant: grant.name_any(),
            holders,
            scopes: grant
                .spec
                .scopes
                .iter()
                .filter_map(|s| ArmId::parse(s).ok())
                .collect(),
            identities: grant.spec.identities.clone(),
        }
    }

    pub(super) fn holds(&self, id: &ArmId) -> bool {
        self.scopes.iter().any(|s| id.is_within(s))
    }

    pub(super) fn holds_identity(&self, client_id: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.eq_ignore_ascii_case(client_id))
    }

    /// The refusal of `named` (`field: value` each) in `namespace`, in the words of the chart's
    /// admission policy.
    pub(super) fn refusal(&self, named: &[String], namespace: &str) -> Refusal {
        not_permitted(format!(
            "{} {} reserved by AzureScopeGrant {} to {}; namespace {namespace} is not among them; nothing was sent to Azure",
            listed(named, 3),
            if named.len() == 1 { "is" } else { "are" },
            self.grant,
            self.holders
        ))
    }
}

/// The first `at_most` of `items`, and how many more: "a, b, c and 4 more". The admission
/// policy words its messages the same way, to stay under the API server's 5 KiB.
pub(super) fn listed(items: &[String], at_most: usize) -> String {
    let shown = items
        .iter()
        .take(at_most)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().checked_sub(at_most) {
        Some(more) if more > 0 => format!("{shown} and {more} more"),
        _ => shown,
    }
}
