//! Long-running operations in each provider's style: `Azure-AsyncOperation` status resources
//! (Network), `Location` polling (Storage create, SQL update), and 201/202 bodies whose
//! `provisioningState` is not terminal; polled with `Retry-After` and a deadline.

use std::time::{Duration, Instant};

use azure_core::http::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{ArmOp, Audience, AzureClient, Call, Reply};
use super::error::AzureError;

pub use super::client::LroOptions;

/// Where an operation stands.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Running,
    Succeeded,
    Failed {
        status: String,
        code: String,
        message: String,
    },
}

/// `Succeeded`, `Failed` and `Canceled` are terminal; anything else is still running.
fn state_of(status: &str, error: Option<&ErrorBody>) -> State {
    if status.eq_ignore_ascii_case("Succeeded") {
        State::Succeeded
    } else if status.eq_ignore_ascii_case("Failed") || status.eq_ignore_ascii_case("Canceled") {
        State::Failed {
            status: status.to_string(),
            code: error
                .and_then(|e| e.code.clone())
                .unwrap_or_else(|| "Unknown".into()),
            message: error.and_then(|e| e.message.clone()).unwrap_or_default(),
        }
    } else {
        State::Running
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AsyncStatus {
    status: String,
    error: Option<ErrorBody>,
}

/// `properties.provisioningState` of a resource body, if any.
fn provisioning_state(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

fn body_json(reply: &Reply) -> Option<Value> {
    if reply.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&reply.body).ok()
    }
}

pub use super::types::{PollStyle, RunningOperation};

/// Where a polled operation stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    Running(RunningOperation),
    Succeeded,
}

/// Whether a caller wants the resource as it is once its operation has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Final {
    /// Read it (a GET after an `Azure-AsyncOperation` status says `Succeeded`).
    Read,
    /// Only that the operation succeeded: no GET after the status says so.
    Skip,
}

/// Follows the operation started by `reply` to its end and returns the final resource body.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    client: &AzureClient,
    options: &LroOptions,
    op: &ArmOp,
    method: Method,
    url: &Url,
    resource: &str,
    reply: Reply,
    want: Final,
) -> Result<Option<Value>, AzureError> {
    let (operation, provider) = (op.operation, op.provider);
    let started = Instant::now();
    let body = body_json(&reply);
    let running_body = body
        .as_ref()
        .and_then(provisioning_state)
        .map(|s| state_of(s, None))
        == Some(State::Running);
    let long_running = reply.status == 202 || reply.async_operation.is_some() || running_body;
    if !long_running {
        return Ok(body);
    }
    let poller = Poller {
        client,
        options,
        operation,
        provider,
        resource,
        started,
    };
    let mut delay = reply.retry_after;
    if let Some(status_url) = &reply.async_operation {
        let status_url = poller.parse(status_url)?;
        loop {
            poller
                .wait(delay, &status_url, PollStyle::AsyncOperation)
                .await?;
            let poll = poller.get(&status_url).await?;
            delay = poll.retry_after;
            let status: AsyncStatus = poll.json(operation, resource)?;
            match state_of(&status.status, status.error.as_ref()) {
                State::Running => continue,
                State::Succeeded => break,
                State::Failed {
                    status,
                    code,
                    message,
                } => {
                    return Err(poller.failed(status, code, message));
                }
            }
        }
        if want == Final::Skip {
            return Ok(None);
        }
        return poller.final_body(method, url).await;
    }
    if let Some(location) = &reply.location {
        let location = poller.parse(location)?;
        loop {
            poller.wait(delay, &location, PollStyle::Location).await?;
            let poll = poller.send_raw(&location).await?;
            delay = poll.retry_after;
            match poll.status {
                202 => continue,
                200 | 201 | 204 => {
                    return match body_json(&poll) {
                        Some(body)
                            if provisioning_state(&body).is_some() || method != Method::Delete =>
                        {
                            if let Some(state) = provisioning_state(&body)
                                && let State::Failed {
                                    status,
                                    code,
                                    message,
                                } = state_of(state, None)
                            {
                                return Err(poller.failed(status, code, message));
                            }
                            Ok(Some(body))
                        }
                        _ => poller.final_body(method, url).await,
                    };
                }
                status => {
                    return Err(AzureError::from_response(
                        operation,
                        resource,
                        status,
                        poll.retry_after,
                        &poll.body,
                    ));
                }
            }
        }
    }
    // 201/202 without a status URL: watch the resource's own provisioningState.
    loop {
        poller.wait(delay, url, PollStyle::Resource).await?;
        let poll = poller.get(url).await?;
        delay = poll.retry_after;
        let body: Value = poll.json(operation, resource)?;
        match provisioning_state(&body)
            .map(|s| state_of(s, None))
            .unwrap_or(State::Succeeded)
        {
            State::Running => continue,
            State::Succeeded => return Ok(Some(body)),
            State::Failed {
                status,
                code,
                message,
            } => return Err(poller.failed(status, code, message)),
        }
    }
}

struct Poller<'a> {
    client: &'a AzureClient,
    options: &'a LroOptions,
    operation: &'static str,
    provider: &'static str,
    resource: &'a str,
    started: Instant,
}

impl Poller<'_> {
    /// An operation URL Azure returned, followed only on ARM's own origin (the token goes
    /// with it).
    fn parse(&self, url: &str) -> Result<Url, AzureError> {
        self.client.arm_link(url, self.operation, self.resource)
    }

    /// Sleeps for `Retry-After` (bounded) or the default interval, unless past the deadline,
    /// or past the hand-over time: then the operation is handed over as
    /// [`AzureError::Running`], to be polled at `url` in `style` on a later pass.
    async fn wait(
        &self,
        retry_after: Option<Duration>,
        url: &Url,
        style: PollStyle,
    ) -> Result<(), AzureError> {
        let delay = retry_after
            .unwrap_or(self.options.default_poll_interval)
            .min(self.options.max_poll_interval);
        if let Some(limit) = self.options.hand_over_after
            && self.started.elapsed() + delay > limit
        {
            return Err(AzureError::Running(Box::new(RunningOperation {
                operation: self.operation.to_string(),
                resource: self.resource.to_string(),
                poll_url: url.to_string(),
                style,
                started_at: k8s_openapi::jiff::Timestamp::now()
                    .checked_sub(
                        k8s_openapi::jiff::SignedDuration::try_from(self.started.elapsed())
                            .unwrap_or_default(),
                    )
                    .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now())
                    .to_string(),
                retry_after_secs: retry_after.map(|d| d.as_secs()),
            })));
        }
        if self.started.elapsed() + delay > self.options.deadline {
            return Err(AzureError::Deadline {
                operation: self.operation.to_string(),
                resource: self.resource.to_string(),
                waited: self.started.elapsed(),
            });
        }
        tokio::time::sleep(delay).await;
        Ok(())
    }

    fn call(&self, url: &Url) -> Call<'_> {
        Call {
            operation: self.operation,
            provider: self.provider,
            method: Method::Get,
            url: url.clone(),
            resource: self.resource,
            body: None,
            if_match: None,
            audience: Audience::ResourceManager,
        }
    }

    async fn get(&self, url: &Url) -> Result<Reply, AzureError> {
        self.client.send(self.call(url)).await
    }

    async fn send_raw(&self, url: &Url) -> Result<Reply, AzureError> {
        self.client.send_raw(&self.call(url)).await
    }

    fn failed(&self, status: String, code: String, message: String) -> AzureError {
        AzureError::OperationFailed {
            operation: self.operation.to_string(),
            resource: self.resource.to_string(),
            status,
            code,
            message,
        }
    }

    /// After success: the resource as it now is (PUT/PATCH), nothing for DELETE and POST.
    async fn final_body(&self, method: Method, url: &Url) -> Result<Option<Value>, AzureError> {
        if method == Method::Put || method == Method::Patch {
            let reply = self.get(url).await?;
            Ok(Some(reply.json(self.operation, self.resource)?))
        } else {
            Ok(None)
        }
    }
}

/// The write verbs: each follows Azure's long-running operation patterns to the end.
impl AzureClient {
    /// PUT, PATCH or POST an ARM resource and follow the long-running operation, if any, to its
    /// end. Returns the final resource body (`None` when the operation has none).
    pub async fn write<B: Serialize>(
        &self,
        op: &ArmOp,
        method: Method,
        id: &str,
        body: Option<&B>,
        if_match: Option<String>,
    ) -> Result<Option<serde_json::Value>, AzureError> {
        let body = body.map(serde_json::to_value).transpose().map_err(|e| {
            AzureError::Configuration(format!("request body of {}: {e}", op.operation))
        })?;
        let url = self.arm_url(id, op.api_version)?;
        // Whatever comes of the write, what was remembered of the resource is stale.
        self.forget_shared(id);
        let reply = self
            .send(Call {
                operation: op.operation,
                provider: op.provider,
                method,
                url: url.clone(),
                resource: id,
                body,
                if_match,
                audience: Audience::ResourceManager,
            })
            .await?;
        complete(
            self,
            self.lro_options(),
            op,
            method,
            &url,
            id,
            reply,
            Final::Read,
        )
        .await
    }

    /// [`Self::write`] for a caller that needs only the operation's success, not the resource
    /// after it: an operation in the `Azure-AsyncOperation` style ends when its status says
    /// `Succeeded`, without the GET of the resource that [`Self::write`] makes then.
    pub async fn write_and_wait<B: Serialize>(
        &self,
        op: &ArmOp,
        method: Method,
        id: &str,
        body: Option<&B>,
    ) -> Result<(), AzureError> {
        let body = body.map(serde_json::to_value).transpose().map_err(|e| {
            AzureError::Configuration(format!("request body of {}: {e}", op.operation))
        })?;
        let url = self.arm_url(id, op.api_version)?;
        // Whatever comes of the write, what was remembered of the resource is stale.
        self.forget_shared(id);
        let reply = self
            .send(Call {
                operation: op.operation,
                provider: op.provider,
                method,
                url: url.clone(),
                resource: id,
                body,
                if_match: None,
                audience: Audience::ResourceManager,
            })
            .await?;
        complete(
            self,
            self.lro_options(),
            op,
            method,
            &url,
            id,
            reply,
            Final::Skip,
        )
        .await?;
        Ok(())
    }

    /// A resource Azure is still changing, as an operation to follow through the resource's
    /// own `provisioningState` (an error only when `id` is not an ARM id).
    pub fn still_running(&self, op: &ArmOp, id: &str) -> AzureError {
        match self.arm_url(id, op.api_version) {
            Ok(url) => AzureError::Running(Box::new(RunningOperation {
                operation: op.operation.to_string(),
                resource: id.to_string(),
                poll_url: url.to_string(),
                style: PollStyle::Resource,
                started_at: k8s_openapi::jiff::Timestamp::now().to_string(),
                retry_after_secs: None,
            })),
            Err(e) => e,
        }
    }

    /// Polls a handed-over operation once: still running (with Azure's latest `Retry-After`),
    /// succeeded, or an [`AzureError::OperationFailed`] with ARM's code and message. The URL
    /// is followed only on ARM's own origin, whoever recorded it.
    pub async fn poll_operation(&self, running: &RunningOperation) -> Result<Polled, AzureError> {
        const OPERATION: &str = "LongRunningOperation_Poll";
        let resource = running.resource.as_str();
        let url = self.arm_link(&running.poll_url, OPERATION, resource)?;
        let call = Call {
            operation: OPERATION,
            provider: "Microsoft.Resources",
            method: Method::Get,
            url,
            resource,
            body: None,
            if_match: None,
            audience: Audience::ResourceManager,
        };
        let failed = |status: String, code: String, message: String| AzureError::OperationFailed {
            operation: running.operation.clone(),
            resource: resource.to_string(),
            status,
            code,
            message,
        };
        let still = |retry_after: Option<Duration>| {
            Polled::Running(RunningOperation {
                retry_after_secs: retry_after.map(|d| d.as_secs()),
                ..running.clone()
            })
        };
        let state = match running.style {
            PollStyle::AsyncOperation => {
                let reply = self.send(call).await?;
                let status: AsyncStatus = reply.json(OPERATION, resource)?;
                (
                    state_of(&status.status, status.error.as_ref()),
                    reply.retry_after,
                )
            }
            PollStyle::Location => {
                let reply = self.send_raw(&call).await?;
                match reply.status {
                    202 => (State::Running, reply.retry_after),
                    200 | 201 | 204 => (
                        body_json(&reply)
                            .as_ref()
                            .and_then(provisioning_state)
                            .map(|s| state_of(s, None))
                            .filter(|s| matches!(s, State::Failed { .. }))
                            .unwrap_or(State::Succeeded),
                        reply.retry_after,
                    ),
                    status => {
                        return Err(AzureError::from_response(
                            OPERATION,
                            resource,
                            status,
                            reply.retry_after,
                            &reply.body,
                        ));
                    }
                }
            }
            PollStyle::Resource => {
                let reply = self.send(call).await?;
                let body: Value = reply.json(OPERATION, resource)?;
                (
                    provisioning_state(&body)
                        .map(|s| state_of(s, None))
                        .unwrap_or(State::Succeeded),
                    reply.retry_after,
                )
            }
        };
        match state {
            (State::Running, retry_after) => Ok(still(retry_after)),
            (State::Succeeded, _) => Ok(Polled::Succeeded),
            (
                State::Failed {
                    status,
                    code,
                    message,
                },
                _,
            ) => Err(failed(status, code, message)),
        }
    }

    /// DELETE an ARM resource, following a long-running delete; "already gone" is success.
    pub async fn delete(&self, op: &ArmOp, id: &str) -> Result<(), AzureError> {
        let url = self.arm_url(id, op.api_version)?;
        let result = self
            .send(Call {
                operation: op.operation,
                provider: op.provider,
                method: Method::Delete,
                url: url.clone(),
                resource: id,
                body: None,
                if_match: None,
                audience: Audience::ResourceManager,
            })
            .await;
        match result {
            Ok(reply) => complete(
                self,
                self.lro_options(),
                op,
                Method::Delete,
                &url,
                id,
                reply,
                Final::Skip,
            )
            .await
            .map(|_| ()),
            Err(AzureError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_follow_arm() {
        assert_eq!(state_of("Succeeded", None), State::Succeeded);
        assert_eq!(state_of("InProgress", None), State::Running);
        assert_eq!(state_of("Running", None), State::Running);
        assert_eq!(state_of("Updating", None), State::Running);
        let error = ErrorBody {
            code: Some("PrivateEndpointSubnetNotFound".into()),
            message: Some("subnet missing".into()),
        };
        assert_eq!(
            state_of("Failed", Some(&error)),
            State::Failed {
                status: "Failed".into(),
                code: "PrivateEndpointSubnetNotFound".into(),
                message: "subnet missing".into()
            }
        );
        assert!(matches!(state_of("Canceled", None), State::Failed { .. }));
    }
}
