//! The memory lock of the sandbox: a `ResourceLimiter` that caps linear memory and tables per
//! instance and remembers when a guest hit the cap, so the error can say so.

/// Most table elements any plugin gets (functions referenced indirectly).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The store's [`wasmtime::ResourceLimiter`]: a linear memory may not grow past `cap` bytes
/// (that traps, and the size asked for is kept), a table not past 100 000 elements.
#[derive(Debug)]
pub struct MemoryLimiter {
    cap: u64,
    /// The size the guest asked for when it was refused.
    pub refused: Option<u64>,
}

impl MemoryLimiter {
    /// A limiter capping each linear memory at `cap` bytes.
    pub fn new(cap: u64) -> Self {
        MemoryLimiter { cap, refused: None }
    }

    /// The cap on each linear memory, in bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.cap {
            self.refused = Some(desired as u64);
            return Err(wasmtime::format_err!(
                "memory limit: linear memory may not grow to {desired} bytes (cap {} bytes)",
                self.cap
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
