//! Baton's documented, stable exit codes, and the error type commands return.

use std::fmt;

/// 0 success, 10 finished with failures, 20 usage or configuration error, 30 runtime error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Degraded = 10,
    Usage = 20,
    Runtime = 30,
}

/// A command's failure: what to tell the user and which exit code to use.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Bad input from the user: exit 20.
pub fn usage(error: impl Into<anyhow::Error>) -> CliError {
    CliError {
        exit: Exit::Usage,
        error: error.into(),
    }
}

/// Something failed while running: exit 30.
pub fn runtime(error: impl Into<anyhow::Error>) -> CliError {
    CliError {
        exit: Exit::Runtime,
        error: error.into(),
    }
}

pub type CliResult = Result<Exit, CliError>;
