//! CEL validation rules shared by the CRD types: the shapes of Azure identifiers, ISO-8601
//! durations and names, each with a message that says what was expected.
//!
//! The API server runs these rules (`x-kubernetes-validations`); tests run the same rules offline
//! with kube's CEL validator. Regular expressions are RE2 (no look-around), and every string they
//! apply to has a `maxLength`, so the API server's cost estimate stays inside its budget.

use kube::core::cel::{Message, Rule};

/// A GUID such as a subscription, tenant, client or principal id.
pub const GUID: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// An Azure resource group name: letters, digits, `-`, `_`, `.`, `(`, `)`, at most 90 characters,
/// not ending with a period.
pub const RESOURCE_GROUP: &str = "[-a-zA-Z0-9._()]{0,89}[-a-zA-Z0-9_()]";

/// An expression true when `self` is printable ASCII only. Every rule that matches Azure names and
/// ids case-insensitively checks it first: RE2's `(?i)` folds Unicode look-alikes (the Kelvin sign
/// `\u{212A}` to `k`, the long s `\u{17F}` to `s`), which Azure then refuses.
pub const ASCII_ONLY: &str = "self.matches('^[!-~]+$')";

/// `/subscriptions/{guid}/resourceGroups/{group}/providers/`, matched case-insensitively as ARM does
/// (combine with [`ASCII_ONLY`]).
pub fn arm_prefix() -> String {
    format!("(?i)^/subscriptions/{GUID}/resourcegroups/{RESOURCE_GROUP}/providers/")
}

/// The rule for a field that must be a GUID.
pub fn guid(field: &str) -> Rule {
    Rule::new(format!("self.matches('^{GUID}$')")).message(Message::Message(format!(
        "{field} must be a GUID such as 00000000-0000-0000-0000-000000000000"
    )))
}

/// The rule for a field that must be the ARM id of one resource type, e.g.
/// `Microsoft.KeyVault/vaults/{name}` with the name's own character rules.
pub fn resource_id(field: &str, type_pattern: &str, example: &str) -> Rule {
    Rule::new(format!(
        "{ASCII_ONLY} && self.matches('{}{}$')",
        arm_prefix(),
        type_pattern
    ))
    .message(Message::Message(format!(
        "{field} must be an Azure resource ID of the form /subscriptions/{{subscription}}/resourceGroups/{{group}}/providers/{example}, in ASCII"
    )))
}

/// The regular expression of a positive ISO-8601 duration (`PT1H`, `P90D`, `P1Y2M`, `PT30M`).
/// `P` alone, a trailing `T` and an all-zero value are rejected by [`duration`].
pub const ISO_DURATION: &str =
    "^P([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T([0-9]+H)?([0-9]+M)?([0-9]+S)?)?$";

/// The rule for a field that must be a positive ISO-8601 duration.
pub fn duration(field: &str, example: &str) -> Rule {
    Rule::new(format!(
        "self.matches('{ISO_DURATION}') && self != 'P' && !self.endsWith('T') && self.matches('[1-9]')"
    ))
    .message(Message::Message(format!(
        "{field} must be a positive ISO-8601 duration such as {example} (P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S)"
    )))
}

/// A CEL expression for the length in seconds of the [`ISO_DURATION`] at `path` (a year as 365
/// days, a month as 30), for bounds; evaluate it only where `path` matches [`ISO_DURATION`].
pub fn iso_seconds(path: &str) -> String {
    let date = format!("{path}.split('T')[0]");
    let time = format!("(size({path}.split('T')) > 1 ? {path}.split('T')[1] : '')");
    let part = |src: &str, unit: char, seconds: u64| {
        format!(
            "({src}.find('[0-9]+{unit}') == '' ? 0 : int({src}.find('[0-9]+{unit}').replace('{unit}', '')) * {seconds})"
        )
    };
    [
        part(&date, 'Y', 365 * 86_400),
        part(&date, 'M', 30 * 86_400),
        part(&date, 'W', 7 * 86_400),
        part(&date, 'D', 86_400),
        part(&time, 'H', 3_600),
        part(&time, 'M', 60),
        part(&time, 'S', 1),
    ]
    .join(" + ")
}

/// The rule that the duration `field` (of `self`) is at most `max` seconds, checked only when it
/// is well-formed (a malformed value gets the format's message).
pub fn duration_at_most(field: &str, max: (u64, &str), why: &str) -> Rule {
    let seconds = iso_seconds("self");
    Rule::new(format!(
        "!self.matches('{ISO_DURATION}') || {seconds} <= {}",
        max.0
    ))
    .message(Message::Message(format!(
        "{field} must be at most {}: {why}",
        max.1
    )))
}

/// The regular expression of a Key Vault lifetime duration: one unit of days, months or years,
/// as Key Vault rotation policies write them (`P90D`, `P3M`, `P2Y`).
pub const KEY_LIFETIME: &str = "^P[1-9][0-9]{0,4}[DMY]$";

/// A CEL expression that converts a [`KEY_LIFETIME`] value at `path` to days (months as 30 days
/// and years as 365, the approximation Key Vault itself documents).
pub fn lifetime_days(path: &str) -> String {
    format!(
        "(int({path}.substring(1, size({path}) - 1)) * ({path}.endsWith('Y') ? 365 : ({path}.endsWith('M') ? 30 : 1)))"
    )
}

/// A rule that `shorter` is shorter than `longer` (both [`KEY_LIFETIME`] fields of `self`),
/// evaluated only when both are well-formed so a malformed value gets its own field's message.
pub fn shorter_lifetime(shorter: &str, longer: &str, message: &str) -> Rule {
    let (a, b) = (format!("self.{shorter}"), format!("self.{longer}"));
    Rule::new(format!(
        "!{a}.matches('{KEY_LIFETIME}') || !{b}.matches('{KEY_LIFETIME}') || {} < {}",
        lifetime_days(&a),
        lifetime_days(&b)
    ))
    .message(Message::Message(message.to_string()))
    .field_path(format!(".{shorter}"))
}

/// The rule for a Key Vault lifetime duration field.
pub fn key_lifetime(field: &str, example: &str) -> Rule {
    Rule::new(format!("self.matches('{KEY_LIFETIME}')")).message(Message::Message(format!(
        "{field} must be a Key Vault duration in days, months or years such as {example}"
    )))
}

/// A DNS-1123 subdomain, the name of most Kubernetes objects.
pub const DNS1123_SUBDOMAIN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The rule for a field that names a Kubernetes object.
pub fn object_name(field: &str) -> Rule {
    Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN}')")).message(Message::Message(format!(
        "{field} must be a Kubernetes object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
    )))
}

/// The rule for a free-text field that must say something a person can read: at least one
/// character that is not white space, a Unicode separator (such as the no-break space), a format
/// character (such as the zero-width space) or a control character.
pub fn not_blank(field: &str) -> Rule {
    Rule::new("self.matches('[^\\\\s\\\\pZ\\\\p{Cf}\\\\p{Cc}]')").message(Message::Message(
        format!(
            "{field} must not be empty or blank (white space, no-break or zero-width spaces only)"
        ),
    ))
}

/// The rule that makes a field immutable once set.
pub fn immutable(field: &str, hint: &str) -> Rule {
    Rule::new("self == oldSelf").message(Message::Message(format!("{field} is immutable: {hint}")))
}
