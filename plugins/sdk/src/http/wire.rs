//! One HTTP exchange over raw `wasi:http/outgoing-handler`.
//!
//! Reliability rules (see wasm-notes pitfall 1): the outgoing body is opened only when the
//! request has one, so a GET never races a body stream against the host's answer; when a
//! body write fails, the response future is consulted first, because it carries the host's
//! real error (e.g. `HttpRequestDenied`); body-stream errors are mapped back to their
//! `error-code` with `http-error-code`; child resources are dropped before their parents.
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    http_error_code, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, OutgoingBody,
    OutgoingRequest, RequestOptions,
};
use crate::bindings::wasi::io::streams::{OutputStream, StreamError};

use super::error::ErrorKind;
use super::url::Target;
use super::{Request, Response};

/// Largest chunk handed to `blocking-write-and-flush` (the WASI limit is 4096 bytes).
const WRITE_CHUNK: usize = 4096;
/// Largest chunk asked of `blocking-read`.
const READ_CHUNK: u64 = 64 * 1024;

pub(crate) fn exchange(request: &Request) -> Result<Response, ErrorKind> {
    let outgoing = outgoing_request(request)?;
    let body = match &request.body {
        Some(bytes) => Some((
            outgoing
                .body()
                .map_err(|()| ErrorKind::Stream("request body already taken".into()))?,
            bytes,
        )),
        None => None,
    };
    let future = outgoing_handler::handle(outgoing, options(request)).map_err(ErrorKind::Host)?;
    if let Some((body, bytes)) = body {
        if let Err(write_error) = write_body(body, bytes) {
            // The host's answer explains a broken body better than the stream does.
            return match wait_response(&future) {
                Ok(response) => read_response(response, request.max_response_bytes),
                Err(ErrorKind::Host(code)) => Err(ErrorKind::Host(code)),
                Err(_) => Err(write_error),
            };
        }
    }
    let response = wait_response(&future)?;
    read_response(response, request.max_response_bytes)
}

fn outgoing_request(request: &Request) -> Result<OutgoingRequest, ErrorKind> {
    let target = Target::parse(&request.url).map_err(ErrorKind::InvalidUrl)?;
    let outgoing = OutgoingRequest::new(headers(request)?);
    outgoing
        .set_method(&request.method)
        .map_err(|()| ErrorKind::InvalidMethod)?;
    outgoing
        .set_scheme(Some(&target.scheme))
        .map_err(|()| ErrorKind::InvalidUrl("scheme refused by the host"))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| ErrorKind::InvalidUrl("host refused by the host"))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| ErrorKind::InvalidUrl("path refused by the host"))?;
    Ok(outgoing)
}

fn headers(request: &Request) -> Result<Fields, ErrorKind> {
    let fields = Fields::new();
    let append = |name: &str, value: &[u8]| {
        fields
            .append(name, value)
            .map_err(|error| ErrorKind::InvalidHeader {
                name: name.to_string(),
                error,
            })
    };
    for (name, value) in &request.headers {
        append(name, value.as_bytes())?;
    }
    if let Some(bytes) = &request.body {
        // A known length spares servers that refuse chunked request bodies.
        let has_length = request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
        if !has_length {
            append("content-length", bytes.len().to_string().as_bytes())?;
        }
    }
    Ok(fields)
}

fn options(request: &Request) -> Option<RequestOptions> {
    let timeout = request.timeout?;
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    // A host that cannot honour a timeout keeps its own; the request still goes out.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    Some(options)
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), ErrorKind> {
    let stream = body
        .write()
        .map_err(|()| ErrorKind::Stream("request body stream already taken".into()))?;
    write_all(&stream, bytes)?;
    drop(stream);
    OutgoingBody::finish(body, None).map_err(ErrorKind::Host)
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), ErrorKind> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(stream_error)?;
    }
    Ok(())
}

fn wait_response(future: &FutureIncomingResponse) -> Result<IncomingResponse, ErrorKind> {
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(ErrorKind::Host(code)),
        Some(Err(())) => Err(ErrorKind::Stream("response already taken".into())),
        None => Err(ErrorKind::Stream("response not ready after waiting".into())),
    }
}

fn read_response(response: IncomingResponse, limit: usize) -> Result<Response, ErrorKind> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let body = response
        .consume()
        .map_err(|()| ErrorKind::Stream("response body already taken".into()))?;
    let bytes = read_body(&body, limit)?;
    wait_trailers(body)?;
    drop(response);
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

fn read_body(body: &IncomingBody, limit: usize) -> Result<Vec<u8>, ErrorKind> {
    let stream = body
        .stream()
        .map_err(|()| ErrorKind::Stream("response body stream already taken".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if bytes.len() + chunk.len() > limit {
                    return Err(ErrorKind::ResponseTooLarge { limit });
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(error) => return Err(stream_error(error)),
        }
    }
}

/// Finishing the body reports errors that surface only after its last byte.
fn wait_trailers(body: IncomingBody) -> Result<(), ErrorKind> {
    let trailers = IncomingBody::finish(body);
    trailers.subscribe().block();
    match trailers.get() {
        Some(Ok(Err(code))) => Err(ErrorKind::Host(code)),
        _ => Ok(()),
    }
}

fn stream_error(error: StreamError) -> ErrorKind {
    match error {
        StreamError::Closed => ErrorKind::Stream("stream closed".into()),
        StreamError::LastOperationFailed(error) => match http_error_code(&error) {
            Some(code) => ErrorKind::Host(code),
            None => ErrorKind::Stream(error.to_debug_string()),
        },
    }
}
