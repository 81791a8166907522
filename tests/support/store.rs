//! PhiStore fixtures as builders: an example manifest with what a scenario changes in it, read
//! top to bottom —
//!
//! ```ignore
//! let store = PhiStore::test("phistore-sql.yaml")
//!     .exempt("sql.ledger", "scheduling data is not kept in ledger tables", PRIVACY_OFFICER)
//!     .build();
//! ```

use hipaa_operator::api::PhiStore;
use serde_json::{Value, json};

/// The approvers the examples' exemptions name.
pub const SECURITY_OFFICER: &str = "security-officer@contoso-health.example";
pub const PRIVACY_OFFICER: &str = "privacy-officer@contoso-health.example";

/// When the exemptions of the tests expire unless a test says otherwise: years from now.
pub const FAR_FUTURE: &str = "2030-01-01T00:00:00Z";

/// `PhiStore::test(example)`: a store built from `examples/{example}`.
pub trait StoreFixture {
    fn test(example: &str) -> StoreBuilder;
}

impl StoreFixture for PhiStore {
    fn test(example: &str) -> StoreBuilder {
        StoreBuilder(super::example(example))
    }
}

/// An example store and the changes made to it so far.
#[must_use]
pub struct StoreBuilder(Value);

impl StoreBuilder {
    /// `metadata.name`.
    pub fn named(mut self, name: &str) -> Self {
        self.0["metadata"]["name"] = json!(name);
        self
    }

    /// The HipaaWorkspace the store belongs to.
    pub fn in_workspace(mut self, workspace: &str) -> Self {
        self.0["spec"]["workspaceRef"]["name"] = json!(workspace);
        self
    }

    /// The Azure resource (an ARM id) the store governs.
    pub fn over(mut self, resource_id: &str) -> Self {
        self.0["spec"]["resource"]["id"] = json!(resource_id);
        self
    }

    /// Its own customer-managed key, named after the store (`{name}-cmk`).
    pub fn with_own_key(mut self) -> Self {
        let name = self.0["metadata"]["name"]
            .as_str()
            .expect("a named store")
            .to_string();
        self.0["spec"]["encryption"]["keyName"] = json!(format!("{name}-cmk"));
        self
    }

    /// No `spec.mode`: the store runs in its workspace's mode.
    pub fn in_the_workspace_mode(self) -> Self {
        self.without("/spec/mode")
    }

    /// `spec.deletionPolicy` (`Retain` or `Delete`).
    pub fn deletion_policy(mut self, policy: &str) -> Self {
        self.0["spec"]["deletionPolicy"] = json!(policy);
        self
    }

    /// None of the example's exemptions: every control counts.
    pub fn without_exemptions(mut self) -> Self {
        self.0["spec"]["exemptions"] = json!([]);
        self
    }

    /// An exemption of `control`, as a team records one, until [`FAR_FUTURE`].
    pub fn exempt(self, control: &str, reason: &str, approver: &str) -> Self {
        self.exempt_until(control, reason, approver, FAR_FUTURE)
    }

    /// An exemption of `control` expiring at `expires` (RFC 3339).
    pub fn exempt_until(
        mut self,
        control: &str,
        reason: &str,
        approver: &str,
        expires: &str,
    ) -> Self {
        let exemption = json!({
            "control": control, "reason": reason, "approver": approver, "expires": expires
        });
        match self.0["spec"]["exemptions"].as_array_mut() {
            Some(list) => list.push(exemption),
            None => self.0["spec"]["exemptions"] = json!([exemption]),
        }
        self
    }

    /// Removes the field at `pointer` (a JSON pointer such as `/spec/mode`) if it is there.
    pub fn without(mut self, pointer: &str) -> Self {
        let (parent, field) = pointer.rsplit_once('/').expect("a JSON pointer");
        if let Some(object) = self.0.pointer_mut(parent).and_then(Value::as_object_mut) {
            object.remove(field);
        }
        self
    }

    /// The manifest, for a test that sends it as it is.
    pub fn json(self) -> Value {
        self.0
    }

    pub fn build(self) -> PhiStore {
        serde_json::from_value(self.0).expect("the store fixture is a PhiStore")
    }
}
