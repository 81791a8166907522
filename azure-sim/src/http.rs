//! The request as handlers see it (method, path, query, headers, bytes) and response helpers.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::errors::{ArmError, ArmResult};

#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub host: String,
    pub path: String,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: String,
}

impl Req {
    /// Query parameter by case-insensitive name (ARM treats `API-VERSION` like `api-version`).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_read(&self) -> bool {
        self.method == Method::GET || self.method == Method::HEAD
    }

    /// Parses the body as a JSON object, insisting on a JSON content type like ARM does.
    pub fn json_object(&self) -> ArmResult<serde_json::Map<String, Value>> {
        if self.body.is_empty() {
            return Err(ArmError::bad_request(
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'The request body is empty.'.",
            ));
        }
        self.require_json_content_type()?;
        let v: Value = serde_json::from_slice(&self.body).map_err(ArmError::invalid_content)?;
        match v {
            Value::Object(m) => Ok(m),
            _ => Err(ArmError::invalid_content(
                "The request body must be a JSON object.",
            )),
        }
    }

    pub fn require_json_content_type(&self) -> ArmResult<()> {
        let ct = self.header("content-type").unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/json")
            || mime.to_ascii_lowercase().ends_with("+json")
        {
            Ok(())
        } else {
            Err(ArmError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "The content media type '{ct}' is not supported. Only 'application/json' is supported."
                ),
            ))
        }
    }
}

pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}
