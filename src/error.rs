//! One error type for the whole library. Every variant maps to a stable numeric code that the C ABI
//! returns as its status, so the codes below must never be renumbered.

use std::fmt;

/// Library error: a category (stable code) plus a human-readable message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Error categories. The discriminants are part of the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorKind {
    /// An argument is invalid (wrong size, out of range, unknown name, non-finite value).
    InvalidArgument = 1,
    /// Input data violate a structural requirement (too few snapshots, mismatched dimensions, …).
    InvalidData = 2,
    /// Reading or writing a file failed.
    Io = 3,
    /// A file was read but its content is malformed or incompatible.
    Format = 4,
    /// A numerical procedure failed (NaN/Inf loss, non-convergence).
    Numerical = 5,
    /// The operation is not valid in the object's current state (e.g. predict before train).
    State = 6,
    /// A libtorch call failed (device unavailable, out of memory, …).
    Torch = 7,
    /// Training was cancelled by a progress callback.
    Cancelled = 8,
    /// A bug inside the library (a caught panic, a broken invariant).
    Internal = 9,
}

impl ErrorKind {
    /// The stable numeric code of this category.
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidData, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }
    pub fn format(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Format, message)
    }
    pub fn numerical(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Numerical, message)
    }
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::State, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn code(&self) -> i32 {
        self.kind.code()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Prefix the message with context, keeping the category.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error { kind: self.kind, message: format!("{ctx}: {}", self.message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::new(ErrorKind::Torch, format!("libtorch: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
