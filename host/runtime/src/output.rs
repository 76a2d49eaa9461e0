//! Captured, size-capped stdout and stderr of a plugin call. Writing past the cap traps the
//! guest (so a flood stops at once) and is reported as an output-limit error.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// How much a guest may write in one go before it must ask again.
const WRITE_BUDGET: usize = 64 * 1024;

/// One captured stream; clones share the buffer.
#[derive(Clone)]
pub struct CapturedOutput {
    name: &'static str,
    cap: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
    overflowed: Arc<AtomicBool>,
}

impl CapturedOutput {
    /// An empty stream called `name` (`stdout` or `stderr`) that keeps at most `cap` bytes.
    pub fn new(name: &'static str, cap: usize) -> Self {
        CapturedOutput {
            name,
            cap,
            buffer: Arc::default(),
            overflowed: Arc::default(),
        }
    }

    /// The stream's name, `stdout` or `stderr`, for errors.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Most bytes the stream keeps; writing past it traps the guest.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether the guest tried to write past the cap.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Takes what was written so far, leaving the buffer empty (for warm instances).
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *lock(&self.buffer))
    }

    /// Everything written so far, as text (lossy UTF-8), leaving it in place.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.buffer)).into_owned()
    }

    fn append(&self, bytes: &[u8]) -> Result<(), String> {
        let mut buffer = lock(&self.buffer);
        let room = self.cap.saturating_sub(buffer.len());
        if bytes.len() > room {
            buffer.extend_from_slice(&bytes[..room]);
            self.overflowed.store(true, Ordering::Relaxed);
            return Err(format!(
                "{} exceeded its cap of {} bytes",
                self.name, self.cap
            ));
        }
        buffer.extend_from_slice(bytes);
        Ok(())
    }
}

fn lock(buffer: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::format_err!("{e}")))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_cap_overflow_and_keep_what_fits() {
        let mut out = CapturedOutput::new("stdout", 10);
        OutputStream::write(&mut out, Bytes::from_static(b"hello ")).unwrap();
        assert!(!out.overflowed());
        assert!(OutputStream::write(&mut out, Bytes::from_static(b"world!")).is_err());
        assert!(out.overflowed());
        assert_eq!(out.take(), b"hello worl");
    }

    #[test]
    fn text_reads_what_was_written_and_keeps_it() {
        let mut out = CapturedOutput::new("stderr", 100);
        OutputStream::write(&mut out, Bytes::from_static(b"a\nb\xff\n")).unwrap();
        assert_eq!(out.text(), "a\nb\u{fffd}\n");
        assert_eq!(out.take(), b"a\nb\xff\n");
    }
}
