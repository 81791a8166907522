//! Azure Resource Graph (`POST /providers/Microsoft.ResourceGraph/resources`): the `Resources`
//! table over the simulator's tracked resources (those with a location; resource groups are in
//! `ResourceContainers`, which is not served), a KQL subset ([`super::kql`]), the caller's read
//! rights as a row filter, `$top`/`$skip`/`$skipToken` paging, `objectArray` and `table` result
//! formats, and the index lag of the real service (`graphLagMs`, 0 by default): a change shows
//! in query results only once it is that old.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::authorize;
use super::kql;
use crate::entra::Identity;
use crate::errors::{ArmError, ArmResult};
use crate::http::{Req, json_response};
use crate::ids::lower;
use crate::server::Shared;
use crate::state::State;

/// What the index shows for each resource, and the newer version waiting for the lag to pass.
#[derive(Debug, Default)]
pub struct GraphIndex {
    rows: Mutex<HashMap<String, Indexed>>,
    /// The results of recent queries, so that the pages of one result (`$skipToken`) come from
    /// one run of the query, as a cursor over it.
    results: Mutex<VecDeque<Snapshot>>,
}

/// One query's whole result, for its later pages.
#[derive(Debug)]
struct Snapshot {
    id: u64,
    /// Caller, subscriptions and query text: a token is only good for the query that made it.
    key: String,
    rows: Arc<Vec<Arc<Value>>>,
}

/// How many query results are kept for paging.
const SNAPSHOTS: usize = 32;

type Row = Arc<Value>;

#[derive(Debug)]
struct Indexed {
    shown: Option<Row>,
    pending: Option<(Option<Row>, Instant)>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GraphIndex {
    fn remember(&self, key: String, rows: Arc<Vec<Row>>) -> u64 {
        let mut results = locked(&self.results);
        let id = results.back().map_or(1, |s| s.id + 1);
        results.push_back(Snapshot { id, key, rows });
        while results.len() > SNAPSHOTS {
            results.pop_front();
        }
        id
    }

    fn recall(&self, id: u64, key: &str) -> Option<Arc<Vec<Row>>> {
        locked(&self.results)
            .iter()
            .find(|s| s.id == id && s.key == key)
            .map(|s| s.rows.clone())
    }

    /// The rows as the index shows them, `lag` after ARM changed them.
    fn view(&self, current: Vec<(String, Row)>, lag: Duration) -> Vec<Row> {
        let now = Instant::now();
        let mut rows = match self.rows.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if lag.is_zero() {
            // Kept current, so a lag set later starts from what the index showed.
            rows.clear();
            for (id, v) in &current {
                rows.insert(
                    id.clone(),
                    Indexed {
                        shown: Some(v.clone()),
                        pending: None,
                    },
                );
            }
            return current.into_iter().map(|(_, v)| v).collect();
        }
        let mut current: HashMap<String, Row> = current.into_iter().collect();
        let ids: std::collections::BTreeSet<String> =
            rows.keys().chain(current.keys()).cloned().collect();
        for id in ids {
            let now_value = current.remove(&id);
            let entry = rows.entry(id).or_insert(Indexed {
                shown: None,
                pending: None,
            });
            if entry.shown == now_value {
                entry.pending = None;
                continue;
            }
            match &entry.pending {
                Some((v, since)) if *v == now_value => {
                    if now.duration_since(*since) >= lag {
                        entry.shown = now_value;
                        entry.pending = None;
                    }
                }
                _ => entry.pending = Some((now_value, now)),
            }
        }
        rows.retain(|_, e| e.shown.is_some() || e.pending.is_some());
        let mut out: Vec<(String, Row)> = rows
            .iter()
            .filter_map(|(k, e)| e.shown.clone().map(|v| (k.clone(), v)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, v)| v).collect()
    }

    pub fn clear(&self) {
        locked(&self.rows).clear();
        locked(&self.results).clear();
    }
}

/// One `Resources` row, as Resource Graph shapes it (lower-case type and resource group).
fn row(r: &crate::state::Resource) -> Option<Value> {
    let location = r.body.get("location").filter(|l| l.is_string())?;
    let id = lower(&r.id);
    let sub = id.split('/').nth(2)?.to_string();
    let rg = id
        .split("/resourcegroups/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_default()
        .to_string();
    let field = |k: &str| r.body.get(k).cloned().unwrap_or(Value::Null);
    Some(json!({
        "id": r.id,
        "name": r.body["name"],
        "type": r.type_name.to_ascii_lowercase(),
        "tenantId": "",
        "kind": r.body.get("kind").cloned().unwrap_or(json!("")),
        "location": location,
        "resourceGroup": rg,
        "subscriptionId": sub,
        "managedBy": r.body.get("managedBy").cloned().unwrap_or(json!("")),
        "sku": field("sku"),
        "plan": field("plan"),
        "properties": r.body.get("properties").cloned().unwrap_or(json!({})),
        "tags": r.body.get("tags").cloned().unwrap_or(json!({})),
        "identity": field("identity"),
        "zones": field("zones"),
        "extendedLocation": field("extendedLocation"),
    }))
}

fn invalid_query(detail: String) -> ArmError {
    ArmError::bad_request(
        "BadRequest",
        format!(
            "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the query before resubmitting. {detail}"
        ),
    )
}

fn skip_token(skip: usize, snapshot: u64) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({ "$skip": skip, "$snapshot": snapshot }).to_string())
}

/// The offset a token carries, and the result it pages through. A well-formed token this
/// simulator did not issue (the recorded examples carry one) starts from the beginning.
fn read_skip_token(token: &str) -> ArmResult<(usize, Option<u64>)> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object)
        .map(|v| {
            (
                v["$skip"].as_u64().unwrap_or(0) as usize,
                v["$snapshot"].as_u64(),
            )
        })
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidSkipToken",
                "The skip token is not valid: send back the $skipToken of the previous page unchanged.",
            )
        })
}

pub fn query(shared: &Shared, req: &Req, who: &Identity) -> ArmResult<Response> {
    let body = req.json_object()?;
    let Some(text) = body.get("query").and_then(Value::as_str) else {
        return Err(ArmError::bad_request(
            "BadRequest",
            "The request body must contain 'query'.",
        ));
    };
    let query = kql::parse(text).map_err(invalid_query)?;
    if !query.table.eq_ignore_ascii_case("resources") {
        return Err(invalid_query(format!(
            "The table '{}' is not served by this simulator (only 'Resources').",
            query.table
        )));
    }
    let subs: Vec<String> = body
        .get("subscriptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
        .collect();
    let options = body.get("options").cloned().unwrap_or(Value::Null);
    let top = match options.get("$top").and_then(Value::as_u64) {
        None => 100,
        Some(t @ 1..=1000) => t as usize,
        Some(t) => {
            return Err(ArmError::bad_request(
                "BadRequest",
                format!("The value of $top ({t}) must be between 1 and 1000."),
            ));
        }
    };
    let (skip, snapshot) = match options.get("$skipToken").and_then(Value::as_str) {
        Some(token) => read_skip_token(token)?,
        None => (
            options.get("$skip").and_then(Value::as_u64).unwrap_or(0) as usize,
            None,
        ),
    };
    let table_format = options
        .get("resultFormat")
        .and_then(Value::as_str)
        .is_some_and(|f| f.eq_ignore_ascii_case("table"));
    let key = format!("{}|{}|{text}", who.object_id, subs.join(","));
    let recalled = snapshot.and_then(|id| Some((id, shared.graph.recall(id, &key)?)));
    let rows = match &recalled {
        Some((_, rows)) => rows.clone(),
        None => {
            let (current, lag) = {
                let st = shared.lock();
                (readable_rows(&st, who, &subs), st.config.graph_lag_ms)
            };
            let rows = shared.graph.view(current, Duration::from_millis(lag));
            Arc::new(kql::run(&query, rows))
        }
    };
    let total = rows.len();
    let pageable = kql::projects_id(&query);
    let page: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(top)
        .map(|r| Value::clone(r))
        .collect();
    let more = skip + page.len() < total;
    let data = if table_format {
        table(&page)
    } else {
        Value::Array(page.clone())
    };
    let mut out = json!({
        "totalRecords": total,
        "count": page.len(),
        // Without `id` in the results Resource Graph cannot page them: it truncates instead.
        "resultTruncated": if more && !pageable { "true" } else { "false" },
        "facets": [],
        "data": data,
    });
    if more && pageable {
        let id = match recalled {
            Some((id, _)) => id,
            None => shared.graph.remember(key, rows.clone()),
        };
        out["$skipToken"] = json!(skip_token(skip + page.len(), id));
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// The tracked resources of the scoped subscriptions the caller may read, by lower-case id.
fn readable_rows(st: &State, who: &Identity, subs: &[String]) -> Vec<(String, Row)> {
    st.resources
        .iter()
        .filter(|(_, r)| r.type_name != "Microsoft.Resources/resourceGroups")
        .filter(|(k, _)| {
            subs.is_empty()
                || k.split('/')
                    .nth(2)
                    .is_some_and(|s| subs.iter().any(|x| x == s))
        })
        .filter(|(_, r)| authorize(st, who, &format!("{}/read", r.type_name), &r.id).is_ok())
        .filter_map(|(k, r)| row(r).map(|v| (k.clone(), Arc::new(v))))
        .collect()
}

/// The `table` result format: columns named and typed from the first row, then rows of values.
fn table(rows: &[Value]) -> Value {
    let Some(Value::Object(first)) = rows.first() else {
        return json!({ "columns": [], "rows": [] });
    };
    let names: Vec<&String> = first.keys().collect();
    let columns: Vec<Value> = names
        .iter()
        .map(|n| {
            let t = match &first[*n] {
                Value::String(_) => "string",
                Value::Number(n) if n.is_i64() => "integer",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "object",
            };
            json!({ "name": n, "type": t })
        })
        .collect();
    let values: Vec<Value> = rows
        .iter()
        .map(|r| Value::Array(names.iter().map(|n| r[n.as_str()].clone()).collect()))
        .collect();
    json!({ "columns": columns, "rows": values })
}
