//! The only place where raw pointers from C become Rust references.
//!
//! Every `unsafe fn` here has the same contract, which is the header's
//! documented precondition for the argument: a non-NULL pointer points to
//! memory of the stated size and type that is valid (readable, or writable
//! for outputs) for the whole call and not modified by another thread
//! meanwhile; a handle was returned by this library and not yet freed. NULL
//! itself is always checked and reported as `EMR_NULL_ARGUMENT`.

use core::ffi::{c_char, CStr};
use core::fmt::Display;
use core::mem::size_of;

use crate::status::{Error, EMR_BUFFER_TOO_SMALL, EMR_NOT_FOUND};

/// Borrows `len` elements at `ptr`. `(NULL, 0)` (or any pointer with length
/// 0) is the empty slice.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, name: impl Display) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::null(name));
    }
    if !matches!(len.checked_mul(size_of::<T>()), Some(bytes) if bytes <= isize::MAX as usize) {
        return Err(Error::invalid_argument(format_args!("`{name}` length {len} is too large")));
    }
    if !ptr.is_aligned() {
        return Err(Error::invalid_argument(format_args!("`{name}` is not aligned")));
    }
    // SAFETY: non-NULL, aligned, the total size fits in isize, and by this
    // module's contract `ptr` points to `len` initialized elements that stay
    // valid and unmodified for the call ('a does not outlive the call).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Borrows the `N` bytes at `ptr` (a fixed-size hash argument).
pub(crate) unsafe fn array<'a, const N: usize>(ptr: *const u8, name: impl Display) -> Result<&'a [u8; N], Error> {
    if ptr.is_null() {
        return Err(Error::null(name));
    }
    // SAFETY: non-NULL; [u8; N] has alignment 1; by this module's contract
    // `ptr` points to N readable bytes valid for the call.
    Ok(unsafe { &*ptr.cast::<[u8; N]>() })
}

/// Borrows a handle or an input struct.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: impl Display) -> Result<&'a T, Error> {
    if !ptr.is_aligned() {
        return Err(Error::invalid_argument(format_args!("`{name}` is not aligned")));
    }
    // SAFETY: aligned; by this module's contract a non-NULL `ptr` points to
    // a live `T` (a handle from this library, or the caller's struct).
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::null(name))
}

/// Borrows an optional input: `None` for NULL.
pub(crate) unsafe fn optional<'a, T>(ptr: *const T, name: impl Display) -> Result<Option<&'a T>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract; non-NULL.
    unsafe { handle(ptr, name) }.map(Some)
}

/// Borrows a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, name: impl Display) -> Result<&'a CStr, Error> {
    if ptr.is_null() {
        return Err(Error::null(name));
    }
    // SAFETY: non-NULL; by this module's contract `ptr` points to a
    // NUL-terminated string that stays valid and unmodified for the call.
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// Borrows a handle mutably.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, name: impl Display) -> Result<&'a mut T, Error> {
    if !ptr.is_aligned() {
        return Err(Error::invalid_argument(format_args!("`{name}` is not aligned")));
    }
    // SAFETY: aligned; by this module's contract a non-NULL `ptr` is a live
    // handle that no other thread uses during the call (documented on every
    // function taking a mutable handle).
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::null(name))
}

/// Frees a handle made by [`OutHandle::set`]; NULL is a no-op.
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: by contract a non-NULL `ptr` came from `Box::into_raw` in
        // `OutHandle::set` and is freed once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A checked out-pointer for one value; written at most once, on success.
pub(crate) struct Out<T> {
    ptr: *mut T,
}

impl<T> Out<T> {
    /// Checks a required out-pointer.
    pub(crate) unsafe fn new(ptr: *mut T, name: impl Display) -> Result<Out<T>, Error> {
        if ptr.is_null() {
            return Err(Error::null(name));
        }
        if !ptr.is_aligned() {
            return Err(Error::invalid_argument(format_args!("`{name}` is not aligned")));
        }
        Ok(Out { ptr })
    }

    /// An out-pointer the caller may leave NULL ("not wanted").
    pub(crate) unsafe fn optional(ptr: *mut T) -> Option<Out<T>> {
        // SAFETY: forwarded contract.
        unsafe { Out::new(ptr, "") }.ok()
    }

    pub(crate) fn write(self, value: T) {
        // SAFETY: checked non-NULL and aligned in `new`; by this module's
        // contract it points to writable memory for a T. `write` does not
        // read or drop the old contents, which may be uninitialized.
        unsafe { self.ptr.write(value) }
    }
}

/// A caller's output array of `len` elements, written one element at a
/// time (its old contents, possibly uninitialized, are never read).
pub(crate) struct OutSlice<T> {
    ptr: *mut T,
    len: usize,
}

impl<T> OutSlice<T> {
    /// Checks an optional output array: `None` for NULL (or for length 0).
    pub(crate) unsafe fn optional(ptr: *mut T, len: usize, name: impl Display) -> Result<Option<OutSlice<T>>, Error> {
        if ptr.is_null() || len == 0 {
            return Ok(None);
        }
        if !matches!(len.checked_mul(size_of::<T>()), Some(bytes) if bytes <= isize::MAX as usize) {
            return Err(Error::invalid_argument(format_args!("`{name}` length {len} is too large")));
        }
        if !ptr.is_aligned() {
            return Err(Error::invalid_argument(format_args!("`{name}` is not aligned")));
        }
        Ok(Some(OutSlice { ptr, len }))
    }

    /// Writes element `index`; an index past the end is ignored.
    pub(crate) fn write(&self, index: usize, value: T) {
        if index < self.len {
            // SAFETY: checked in `optional`: non-NULL, aligned, and by this
            // module's contract `len` writable elements; index < len.
            unsafe { self.ptr.add(index).write(value) }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Borrows an out-pointer to `N` bytes (a fixed-size hash output).
pub(crate) unsafe fn out_array<const N: usize>(ptr: *mut u8, name: impl Display) -> Result<Out<[u8; N]>, Error> {
    // SAFETY: forwarded contract; [u8; N] has alignment 1.
    unsafe { Out::new(ptr.cast::<[u8; N]>(), name) }
}

/// A caller's output buffer with an in/out length: on input the capacity,
/// on output the size written or, with `EMR_BUFFER_TOO_SMALL`, needed.
pub(crate) struct OutBuf {
    buf: *mut u8,
    len: *mut usize,
    capacity: usize,
}

impl OutBuf {
    /// Checks the pair: `len` is required; `buf` may be NULL only when
    /// `*len` is 0 (a size query).
    pub(crate) unsafe fn new(
        buf: *mut u8,
        len: *mut usize,
        buf_name: impl Display,
        len_name: impl Display,
    ) -> Result<OutBuf, Error> {
        if len.is_null() {
            return Err(Error::null(len_name));
        }
        if !len.is_aligned() {
            return Err(Error::invalid_argument(format_args!("`{len_name}` is not aligned")));
        }
        // SAFETY: non-NULL and aligned; by contract `len` points to an
        // initialized, writable size_t.
        let capacity = unsafe { len.read() };
        if capacity > 0 && buf.is_null() {
            return Err(Error::null(buf_name));
        }
        Ok(OutBuf { buf, len, capacity })
    }

    /// Writes `data` (and its length), or only the length needed when the
    /// buffer is too small.
    pub(crate) fn write(self, data: &[u8]) -> Result<(), Error> {
        // SAFETY: checked in `new`.
        unsafe { self.len.write(data.len()) };
        if data.len() > self.capacity {
            return Err(Error::new(
                EMR_BUFFER_TOO_SMALL,
                format!("buffer_too_small: {} bytes needed, {} given", data.len(), self.capacity),
            ));
        }
        if !data.is_empty() {
            // SAFETY: `buf` is non-NULL because capacity >= data.len() > 0
            // (checked in `new`) and by contract has `capacity` writable
            // bytes. `copy` tolerates a caller buffer overlapping `data`.
            unsafe { core::ptr::copy(data.as_ptr(), self.buf, data.len()) };
        }
        Ok(())
    }
}

/// A checked `T **out` for a new handle: set to NULL at once, so it is NULL
/// on every failure, and to the new handle on success.
pub(crate) struct OutHandle<T> {
    ptr: *mut *mut T,
}

impl<T> OutHandle<T> {
    /// An optional `T **out`: `None` for NULL ("not wanted").
    pub(crate) unsafe fn optional(ptr: *mut *mut T, name: impl Display) -> Result<Option<OutHandle<T>>, Error> {
        if ptr.is_null() {
            return Ok(None);
        }
        // SAFETY: forwarded contract; non-NULL.
        unsafe { OutHandle::new(ptr, name) }.map(Some)
    }

    pub(crate) unsafe fn new(ptr: *mut *mut T, name: impl Display) -> Result<OutHandle<T>, Error> {
        if ptr.is_null() {
            return Err(Error::null(name));
        }
        if !ptr.is_aligned() {
            return Err(Error::invalid_argument(format_args!("`{name}` is not aligned")));
        }
        // SAFETY: non-NULL, aligned; by contract writable for a pointer.
        unsafe { ptr.write(core::ptr::null_mut()) };
        Ok(OutHandle { ptr })
    }

    /// Hands `value` to the caller, who frees it with the type's `*_free`.
    pub(crate) fn set(self, value: T) {
        // SAFETY: checked in `new`.
        unsafe { self.ptr.write(Box::into_raw(Box::new(value))) };
    }
}

/// The element at a caller's `index`, or `EMR_NOT_FOUND` naming the length
/// and what the elements are (`what`: "records", "entries", ...): the
/// header's one rule for an index past the end of any indexed getter.
pub(crate) fn element<'a, T>(items: &'a [T], index: usize, what: &str) -> Result<&'a T, Error> {
    items.get(index).ok_or_else(|| {
        Error::new(EMR_NOT_FOUND, format!("not_found: index {index} is past the end ({} {what})", items.len()))
    })
}
