//! The HTTP lock of the sandbox: the wasi-http send hook. Every outbound request, and so every
//! redirect hop a guest follows, is checked against the plugin's policy; a refused one fails
//! with `HttpRequestDenied` (what the guest sees) and is logged with the grant that would
//! allow it. Response bodies are capped.

use super::policy::{HttpPolicy, Target};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// How long to wait for a connection unless the guest asks for less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-store HTTP state: the policy and what was refused during the call.
pub struct HttpGate {
    plugin: String,
    policy: Arc<HttpPolicy>,
    response_cap: u64,
    /// Targets refused during this call, each with the grant that would allow it.
    pub refused: Vec<String>,
}

impl HttpGate {
    /// A gate for one store of `plugin`: requests are checked against `policy`, and a response
    /// body past `response_cap` bytes fails with `HttpResponseBodySize`.
    pub fn new(plugin: String, policy: Arc<HttpPolicy>, response_cap: u64) -> Self {
        HttpGate {
            plugin,
            policy,
            response_cap,
            refused: Vec::new(),
        }
    }

    fn check(&mut self, uri: &http::Uri) -> Result<(), HttpError> {
        let Some(target) = Target::from_uri(uri) else {
            return Err(HttpError::HttpRequestUriInvalid);
        };
        if self.policy.allows(&target) {
            return Ok(());
        }
        let remedy = format!(
            "add `http = [\"{target}\"]` to [plugins.{}.grants] (or `--allow-host {target}`)",
            self.plugin
        );
        tracing::warn!(plugin = %self.plugin, target = %target, %remedy, "outbound HTTP refused");
        self.refused.push(format!("{target}: {remedy}"));
        Err(HttpError::HttpRequestDenied)
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _guest_body_done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let verdict = self.check(request.uri());
        let cap = self.response_cap;
        let options = RequestOptions {
            connect_timeout: Some(
                options
                    .and_then(|o| o.connect_timeout)
                    .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT)),
            ),
            ..options.unwrap_or_default()
        };
        Box::new(async move {
            verdict?;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let response =
                response.map(|body| CappedBody::new(body.boxed_unsync(), cap).boxed_unsync());
            Ok((
                response,
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

/// A response body that fails once more than `cap` bytes have arrived.
struct CappedBody<B> {
    inner: B,
    remaining: u64,
    cap: u64,
}

impl<B> CappedBody<B> {
    fn new(inner: B, cap: u64) -> Self {
        CappedBody {
            inner,
            remaining: cap,
            cap,
        }
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes, Error = HttpError> + Unpin,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(self.cap)))));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
