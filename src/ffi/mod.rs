//! The stable C ABI. Every `extern "C"` function and every `unsafe` block of the crate lives in this
//! module; `include/ijkonet.h` is generated from it by cbindgen (see `build.rs` and `tests/header.rs`).
//!
//! Conventions (repeated in the header): every fallible call returns an `int32_t` status (`IJK_OK` or
//! an `IJK_ERR_*` code), takes an optional `ijk_error **err` last, writes its outputs only on success,
//! checks every pointer for NULL and runs behind a panic boundary.

// The pointer contract is documented once in the header's conventions and per function; a
// `# Safety` section on each of ~40 entry points would only repeat it.
#![allow(clippy::missing_safety_doc)]
// A C signature passes buffers as flat (pointer, length) arguments, so many arguments are the norm.
#![allow(clippy::too_many_arguments)]

mod baselines;
mod config;
mod metrics;
mod model;

pub use baselines::*;
pub use config::*;
pub use metrics::*;
pub use model::*;

use crate::error::Error;
use ndarray::ArrayView2;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// ABI version of this header; `ijk_abi_version()` must return the same number at run time.
/// Version 2: `ijk_progress` starts with `struct_size`.
pub const IJKONET_ABI_VERSION: u32 = 2;

/// Success.
pub const IJK_OK: i32 = 0;
/// An argument is invalid: NULL pointer, wrong length or dimension, out of range, unknown key, NaN/Inf.
pub const IJK_ERR_INVALID_ARGUMENT: i32 = 1;
/// Input data violate a structural requirement (too few snapshots, too few points, duplicate times).
pub const IJK_ERR_INVALID_DATA: i32 = 2;
/// Reading or writing a file failed.
pub const IJK_ERR_IO: i32 = 3;
/// A file was read but its content is malformed or incompatible (e.g. a corrupt model file).
pub const IJK_ERR_FORMAT: i32 = 4;
/// A numerical procedure failed (training diverged, simulation blew up).
pub const IJK_ERR_NUMERICAL: i32 = 5;
/// The call is not valid in the handle's current state (e.g. predict before train).
pub const IJK_ERR_STATE: i32 = 6;
/// A libtorch call failed (device unavailable, out of memory, ...).
pub const IJK_ERR_TORCH: i32 = 7;
/// Training was cancelled by the progress callback.
pub const IJK_ERR_CANCELLED: i32 = 8;
/// A broken invariant inside the library.
pub const IJK_ERR_INTERNAL: i32 = 9;
/// A panic inside the library was caught at the boundary (a bug). Handles stay usable: a query that
/// panicked left its model unchanged; a training call that panicked leaves the model FAILED.
pub const IJK_ERR_PANIC: i32 = 10;

/// An error object: a status code and a message. Created by the library on failure when the caller
/// passes a non-NULL `ijk_error **err`; owned by the caller, released with `ijk_error_free`.
pub struct IjkError {
    tag: u64,
    code: i32,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<(i32, CString)> = RefCell::new((IJK_OK, CString::default()));
}

/// A message as a C string: interior NUL bytes (impossible in our messages, possible in user paths)
/// are replaced so the text is never silently truncated to nothing.
fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', "\u{FFFD}")).expect("NUL bytes replaced")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Run one entry point: catch panics, record the outcome in the thread-local last error and in the
/// optional error out-parameter, and turn it into a status code.
fn guard<F>(err: *mut *mut IjkError, body: F) -> i32
where
    F: FnOnce() -> Result<(), Error>,
{
    let (code, message) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => (IJK_OK, String::new()),
        Ok(Err(e)) => (e.code(), e.message().to_string()),
        Err(payload) => (IJK_ERR_PANIC, format!("internal panic: {}", panic_message(payload.as_ref()))),
    };
    let message = c_message(&message);
    if !err.is_null() {
        let object = if code == IJK_OK {
            std::ptr::null_mut()
        } else {
            Box::into_raw(Box::new(IjkError { tag: IjkError::TAG, code, message: message.clone() }))
        };
        // SAFETY: the caller passes either NULL (checked) or a writable `ijk_error *` slot.
        unsafe { *err = object };
    }
    LAST_ERROR.with(|slot| *slot.borrow_mut() = (code, message));
    code
}

/// A required pointer argument.
fn non_null<T>(p: *const T, what: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(Error::invalid_argument(format!("{what} is NULL")))
    } else {
        Ok(())
    }
}

/// A NUL-terminated UTF-8 string argument.
unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    non_null(p, what)?;
    // SAFETY: non-NULL and, by the API contract, NUL-terminated and alive for the call.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| Error::invalid_argument(format!("{what} is not valid UTF-8")))
}

/// A read-only n × d row-major view of caller memory. The shape (n, d ≥ 1, no overflow) and the
/// pointer are checked here, before any read; the values by [`crate::check::points`], which holds
/// the rules and messages shared with the rest of the crate.
unsafe fn points<'a, T>(p: *const T, n: usize, d: usize, what: &str) -> Result<ArrayView2<'a, T>, Error>
where
    T: Copy + Into<f64>,
{
    crate::check::shape(n, d, what, "")?;
    let len =
        n.checked_mul(d).ok_or_else(|| Error::invalid_argument(format!("{what}: n × d = {n} × {d} overflows")))?;
    non_null(p, what)?;
    // SAFETY: non-NULL; the caller guarantees n·d readable values for the duration of the call.
    let values = unsafe { std::slice::from_raw_parts(p, len) };
    let view = ArrayView2::from_shape((n, d), values).expect("length n·d checked");
    crate::check::points(view, what, "")?;
    Ok(view)
}

/// Check an output buffer before any work: non-NULL and long enough for `needed` values.
fn check_out<T>(out: *mut T, out_len: usize, needed: usize, what: &str) -> Result<(), Error> {
    non_null(out as *const T, &format!("{what}: output buffer `out`"))?;
    if out_len < needed {
        return Err(Error::invalid_argument(format!("{what}: out_len = {out_len} but {needed} values are needed")));
    }
    Ok(())
}

/// Copy results into a caller buffer already checked by [`check_out`].
unsafe fn write_out<T: Copy>(out: *mut T, values: &[T]) {
    // SAFETY: `check_out` verified non-NULL and room for at least `values.len()` elements.
    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), out, values.len()) };
}

/// Copy `value` into a caller buffer as a NUL-terminated string. `*needed` (when not NULL) receives
/// the size including the NUL; `buf` = NULL with `buflen` = 0 only reports it; a short buffer is an
/// error and is left untouched.
unsafe fn write_c_string(
    value: String,
    buf: *mut c_char,
    buflen: usize,
    needed: *mut usize,
    what: &str,
) -> Result<(), Error> {
    let text = CString::new(value).map_err(|_| Error::internal(format!("NUL in {what}")))?;
    let bytes = text.as_bytes_with_nul();
    if !needed.is_null() {
        unsafe { write_value(needed, bytes.len()) };
    }
    if buf.is_null() && buflen == 0 {
        return Ok(());
    }
    check_out(buf, buflen, bytes.len(), what)?;
    // SAFETY: c_char and u8 have the same size and alignment.
    let chars = unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const c_char, bytes.len()) };
    unsafe { write_out(buf, chars) };
    Ok(())
}

/// Store one value through a required output pointer.
unsafe fn write_value<T>(out: *mut T, value: T) {
    // SAFETY: callers check `out` for NULL before computing `value`.
    unsafe { out.write(value) };
}

/// Every object handed to C carries a tag, checked on entry, so that a freed pointer (whose tag
/// `*_free` overwrote) or a pointer to something else is refused with an error where it can be
/// detected. Not detectable: memory that was unmapped (the read itself faults) or reused by a new
/// object of the same type, and pointers into unreadable memory.
pub(crate) trait Tagged {
    const TAG: u64;
    const NAME: &'static str;
    /// Read the tag without forming a reference to a possibly dead object.
    unsafe fn read_tag(p: *const Self) -> u64;
    unsafe fn kill_tag(p: *mut Self);
}

/// What a freed object's tag is overwritten with.
const DEAD_TAG: u64 = u64::from_le_bytes(*b"ijk_DEAD");

macro_rules! tagged {
    ($t:ty, $tag:expr, $name:expr) => {
        impl $crate::ffi::Tagged for $t {
            const TAG: u64 = $tag;
            const NAME: &'static str = $name;
            unsafe fn read_tag(p: *const Self) -> u64 {
                // SAFETY: non-NULL and aligned (checked by the caller); a volatile read of 8 bytes.
                unsafe { std::ptr::addr_of!((*p).tag).read_volatile() }
            }
            unsafe fn kill_tag(p: *mut Self) {
                // SAFETY: `p` is a live object about to be dropped.
                unsafe { std::ptr::addr_of_mut!((*p).tag).write_volatile($crate::ffi::DEAD_TAG) }
            }
        }
    };
}
pub(crate) use tagged;

tagged!(IjkError, u64::from_le_bytes(*b"ijkERROR"), "ijk_error");

/// Check a handle pointer: non-NULL, aligned, and carrying its type's live tag.
fn check_handle<T: Tagged>(p: *const T, what: &str) -> Result<(), Error> {
    non_null(p, what)?;
    if !p.cast::<u64>().is_aligned() || !p.is_aligned() {
        return Err(Error::invalid_argument(format!("{what} is not a valid {} handle (misaligned pointer)", T::NAME)));
    }
    // SAFETY: non-NULL and aligned; by contract it points at an object of this library (checked
    // by its tag as far as a read can tell).
    match unsafe { T::read_tag(p) } {
        tag if tag == T::TAG => Ok(()),
        DEAD_TAG => Err(Error::invalid_argument(format!("{what} is an {} handle that was already freed", T::NAME))),
        _ => Err(Error::invalid_argument(format!(
            "{what} is not a live {} handle (freed, or a pointer to another kind of object)",
            T::NAME
        ))),
    }
}

/// Borrow a handle, refusing NULL and dead or foreign pointers.
unsafe fn handle<'a, T: Tagged>(p: *const T, what: &str) -> Result<&'a T, Error> {
    check_handle(p, what)?;
    // SAFETY: a live handle created by this library (tag checked).
    Ok(unsafe { &*p })
}

/// Hand a new object to the caller through `out`.
unsafe fn give<T>(out: *mut *mut T, value: T) {
    // SAFETY: callers check `out` for NULL first.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// Release an object created by [`give`]; NULL is a no-op, and so is a pointer whose tag shows it
/// was already freed or is not ours (a double free is ignored where it can be detected).
unsafe fn take<T: Tagged>(p: *mut T) {
    if check_handle(p, "handle").is_ok() {
        // SAFETY: `p` came from `Box::into_raw` in `give` and is live (tag checked); the tag is
        // killed first so a later use or free of the same pointer is refused.
        unsafe {
            T::kill_tag(p);
            drop(Box::from_raw(p));
        }
    }
}

static VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as "MAJOR.MINOR.PATCH" (a static string; do not free).
#[no_mangle]
pub extern "C" fn ijk_version() -> *const c_char {
    VERSION_C.as_ptr() as *const c_char
}

/// The ABI version of the loaded library. Compare it with `IJKONET_ABI_VERSION` from the header
/// the program was compiled with; a mismatch means the header and the library do not belong together.
#[no_mangle]
pub extern "C" fn ijk_abi_version() -> u32 {
    IJKONET_ABI_VERSION
}

/// The message of the most recent fallible call made on this thread: empty when it succeeded.
/// The pointer is owned by the library and valid until the next `ijk_` call on this thread; copy it
/// to keep it. Never NULL.
#[no_mangle]
pub extern "C" fn ijk_last_error_message() -> *const c_char {
    // The CString lives in the thread-local slot, which is replaced only by the next fallible call.
    LAST_ERROR.with(|slot| slot.borrow().1.as_ptr())
}

/// Length in bytes (without the terminating NUL) of `ijk_last_error_message()`.
#[no_mangle]
pub extern "C" fn ijk_last_error_length() -> usize {
    LAST_ERROR.with(|slot| slot.borrow().1.as_bytes().len())
}

/// The status of the most recent fallible call made on this thread (`IJK_OK` when it succeeded).
#[no_mangle]
pub extern "C" fn ijk_last_error_code() -> i32 {
    LAST_ERROR.with(|slot| slot.borrow().0)
}

/// The status code carried by an error object (`IJK_ERR_INVALID_ARGUMENT` when `error` is NULL).
#[no_mangle]
pub unsafe extern "C" fn ijk_error_code(error: *const IjkError) -> i32 {
    match unsafe { handle(error, "error") } {
        Ok(e) => e.code,
        Err(_) => IJK_ERR_INVALID_ARGUMENT,
    }
}

/// The message of an error object, owned by it (valid until `ijk_error_free`). An empty string when
/// `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ijk_error_message(error: *const IjkError) -> *const c_char {
    match unsafe { handle(error, "error") } {
        Ok(e) => e.message.as_ptr(),
        Err(_) => c"".as_ptr(),
    }
}

/// Release an error object. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ijk_error_free(error: *mut IjkError) {
    unsafe { take(error) }
}

/// Set libtorch's intra-op thread count for the whole process (1 ≤ n ≤ 1024). Training applies the
/// model's own `threads` configuration key (0 = automatic) when it starts, which overrides this;
/// loading a model leaves it alone.
/// Errors: `IJK_ERR_INVALID_ARGUMENT` when n is out of range.
#[no_mangle]
pub unsafe extern "C" fn ijk_set_num_threads(n: i32, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        let max = crate::config::MAX_THREADS;
        if n < 1 || n as usize > max {
            return Err(Error::invalid_argument(format!("thread count must be between 1 and {max}, got {n}")));
        }
        tch::set_num_threads(n);
        Ok(())
    })
}

/// The current libtorch intra-op thread count of the process.
#[no_mangle]
pub extern "C" fn ijk_get_num_threads() -> i32 {
    catch_unwind(tch::get_num_threads).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn status_codes_match_error_kinds() {
        let kinds = [
            (ErrorKind::InvalidArgument, IJK_ERR_INVALID_ARGUMENT),
            (ErrorKind::InvalidData, IJK_ERR_INVALID_DATA),
            (ErrorKind::Io, IJK_ERR_IO),
            (ErrorKind::Format, IJK_ERR_FORMAT),
            (ErrorKind::Numerical, IJK_ERR_NUMERICAL),
            (ErrorKind::State, IJK_ERR_STATE),
            (ErrorKind::Torch, IJK_ERR_TORCH),
            (ErrorKind::Cancelled, IJK_ERR_CANCELLED),
            (ErrorKind::Internal, IJK_ERR_INTERNAL),
        ];
        for (kind, code) in kinds {
            assert_eq!(kind.code(), code, "{kind:?}");
        }
        assert!(kinds.iter().all(|&(_, c)| c != IJK_ERR_PANIC && c != IJK_OK));
    }

    #[test]
    fn guard_records_errors_and_catches_panics() {
        let mut err: *mut IjkError = std::ptr::null_mut();
        let code = guard(&mut err, || Err(Error::state("not yet")));
        assert_eq!(code, IJK_ERR_STATE);
        assert_eq!(ijk_last_error_code(), IJK_ERR_STATE);
        assert_eq!(ijk_last_error_length(), "not yet".len());
        unsafe {
            assert_eq!(ijk_error_code(err), IJK_ERR_STATE);
            assert_eq!(CStr::from_ptr(ijk_error_message(err)).to_str().unwrap(), "not yet");
            ijk_error_free(err);
        }
        let code = guard(&mut err, || panic!("boom"));
        assert_eq!(code, IJK_ERR_PANIC);
        let message = unsafe { CStr::from_ptr(ijk_last_error_message()) }.to_str().unwrap().to_string();
        assert!(message.contains("boom"), "{message}");
        unsafe { ijk_error_free(err) };
        assert_eq!(guard(&mut err, || Ok(())), IJK_OK);
        assert!(err.is_null(), "success clears the error out-parameter");
        assert_eq!(ijk_last_error_length(), 0);
    }
}
