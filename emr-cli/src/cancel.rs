//! Ctrl-C: a command that can stop cleanly (mining, import, check) cancels
//! the core's work through one `CancelHandle`; any other command exits at
//! once, SQLite's transactions leaving the chain consistent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use emr_core::mining::CancelHandle;

use crate::error::exit;

/// Cancelled by Ctrl-C while a cancellable command runs.
pub static CANCEL: LazyLock<CancelHandle> = LazyLock::new(CancelHandle::new);
/// Whether the running command stops cleanly on `CANCEL`; if not, Ctrl-C exits at once.
static CANCELLABLE: AtomicBool = AtomicBool::new(false);

pub fn install_handler() {
    let _ = ctrlc::set_handler(|| {
        if CANCELLABLE.load(Ordering::SeqCst) && !CANCEL.is_cancelled() {
            CANCEL.cancel();
        } else {
            std::process::exit(exit::INTERRUPTED);
        }
    });
}

/// Runs `f` with Ctrl-C cancelling `CANCEL` instead of exiting.
pub fn cancellable<T>(f: impl FnOnce() -> T) -> T {
    CANCELLABLE.store(true, Ordering::SeqCst);
    let result = f();
    CANCELLABLE.store(false, Ordering::SeqCst);
    result
}
