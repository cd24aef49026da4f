//! The boundary's plumbing: catching panics, checking handles, reading C strings and byte
//! ranges, writing out-parameters.
//!
//! Every handle lives in a [`Slot`] that starts with a tag word, set when it is created and
//! cleared when it is deleted, so a NULL pointer, a handle of another type or (usually) one
//! already deleted is refused with `SANDBOX_OUTCOME_INVALID_ARGUMENT` instead of being used.

use crate::error::{sandbox_error_t, Error};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A handle type of the API. Its values live in a [`Slot`] that puts a tag word first, so
/// that a wrong or stale pointer is noticed before it is used.
///
/// # Safety
///
/// `NAME` must be unique among the handle types (it derives the tag).
pub unsafe trait Tagged: Sized {
    /// The C type's name, for error messages.
    const NAME: &'static str;
    /// The live value of the tag.
    const TAG: u64 = tag_for(Self::NAME);
}

/// Implements [`Tagged`] for a handle type.
macro_rules! tagged {
    ($ty:ty, $name:literal) => {
        // SAFETY: the names are the C type names, unique.
        unsafe impl $crate::ffi::Tagged for $ty {
            const NAME: &'static str = $name;
        }
    };
}
pub(crate) use tagged;

/// What a handle pointer points to: the tag, then the value. C sees a pointer to the slot
/// typed as the handle; only this module turns it back.
#[repr(C)]
pub(crate) struct Slot<T> {
    tag: u64,
    value: T,
}

impl<T: Tagged> Slot<T> {
    /// A live slot holding `value` (for handles that live on the stack, such as a caller).
    pub(crate) fn new(value: T) -> Self {
        Slot { tag: T::TAG, value }
    }

    /// The pointer C receives for this slot.
    pub(crate) fn as_handle(&mut self) -> *mut T {
        (self as *mut Slot<T>).cast()
    }
}

/// A tag derived from the type's name (FNV-1a), never zero.
pub const fn tag_for(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash | 1
}

/// Boxes `value` for C.
pub(crate) fn into_raw<T: Tagged>(value: T) -> *mut T {
    Box::into_raw(Box::new(Slot::new(value))).cast()
}

/// The tag of the slot `ptr` points to.
///
/// # Safety
///
/// `ptr` must be non-NULL and point to at least 8 readable bytes.
unsafe fn tag_of<T>(ptr: *const T) -> u64 {
    // SAFETY: every handle is a `Slot`, whose first field is the tag (`repr(C)`).
    unsafe { std::ptr::addr_of!((*ptr.cast::<Slot<()>>()).tag).read() }
}

/// The handle behind `ptr`, checked.
///
/// # Safety
///
/// `ptr` must be NULL or point to readable memory at least the size of `T` (a handle this
/// library returned, possibly of another type with a tag word first).
pub(crate) unsafe fn get<'a, T: Tagged>(ptr: *const T) -> Result<&'a T, Error> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{} is NULL", T::NAME)));
    }
    // SAFETY: non-NULL and readable by the caller's guarantee.
    if unsafe { tag_of(ptr) } != T::TAG {
        return Err(Error::invalid_argument(format!(
            "the pointer is not a live {} (wrong type, or already deleted)",
            T::NAME
        )));
    }
    // SAFETY: the tag says this is the slot of a live `T`.
    Ok(unsafe { &(*ptr.cast::<Slot<T>>()).value })
}

/// The handle behind `ptr`, checked, for mutation.
///
/// # Safety
///
/// As [`get`], and no other reference to the handle may be alive.
pub(crate) unsafe fn get_mut<'a, T: Tagged>(ptr: *mut T) -> Result<&'a mut T, Error> {
    // SAFETY: forwarded.
    unsafe { get(ptr)? };
    // SAFETY: checked live above; exclusivity is the caller's guarantee.
    Ok(unsafe { &mut (*ptr.cast::<Slot<T>>()).value })
}

/// Deletes a handle made by [`into_raw`]. NULL, and a pointer whose tag is not `T`'s, are
/// ignored (a stale or foreign pointer is leaked rather than freed twice).
///
/// # Safety
///
/// As [`get`].
pub(crate) unsafe fn delete<T: Tagged>(ptr: *mut T) {
    // SAFETY: forwarded.
    if ptr.is_null() || unsafe { tag_of(ptr) } != T::TAG {
        return;
    }
    let slot = ptr.cast::<Slot<T>>();
    // SAFETY: live, made by `into_raw`; the tag is cleared before the memory is freed.
    unsafe {
        std::ptr::addr_of_mut!((*slot).tag).write(0);
        drop(Box::from_raw(slot));
    }
}

/// Runs `body`, turning an error or a panic into an owned error object (NULL on success).
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Error>) -> *mut sandbox_error_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(error)) => error.into_raw(),
        Err(panic) => Error::from_panic(panic).into_raw(),
    }
}

/// Runs `body`, returning `fallback` if it panics.
pub(crate) fn guard_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Runs `body`, returning what `fallback` makes if it panics (for fallbacks that cost).
pub(crate) fn guard_with<T>(fallback: impl FnOnce() -> T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| fallback())
}

/// A NUL-terminated UTF-8 string from C.
///
/// # Safety
///
/// `ptr` must be NULL or point to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn string<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's guarantee.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|err| Error::invalid_argument(format!("{what} is not valid UTF-8: {err}")))
}

/// An optional string: NULL is `None`.
///
/// # Safety
///
/// As [`string`].
pub(crate) unsafe fn optional_string<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded.
        unsafe { string(ptr, what) }.map(Some)
    }
}

/// `len` elements at `ptr`; (NULL, 0) is empty, (NULL, n > 0) an error.
///
/// # Safety
///
/// A non-NULL `ptr` must point to `len` initialised elements that outlive `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len
        .checked_mul(std::mem::size_of::<T>().max(1))
        .is_none_or(|bytes| bytes > isize::MAX as usize)
    {
        return Err(Error::invalid_argument(format!(
            "{what} has an impossible length ({len})"
        )));
    }
    // SAFETY: checked non-NULL and sized; validity is the caller's guarantee.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An out-parameter, checked non-NULL before any work is done; written with [`Out::set`]
/// only on success.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks `ptr`.
    pub(crate) fn new(ptr: *mut T, what: &str) -> Result<Self, Error> {
        if ptr.is_null() {
            Err(Error::invalid_argument(format!(
                "the out-parameter {what} is NULL"
            )))
        } else {
            Ok(Out(ptr))
        }
    }

    /// Writes the value (without reading or dropping what was there).
    pub(crate) fn set(self, value: T) {
        // SAFETY: non-NULL (checked in `new`); the caller of the API function guarantees it
        // is writable.
        unsafe { self.0.write(value) }
    }
}
