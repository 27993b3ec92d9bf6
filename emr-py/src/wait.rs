//! Long core calls (mining, `add_blocks`, `check`, `mine_next`) run on a
//! helper thread while the Python thread that called them waits.
//!
//! The core reports progress from its own threads and checks a
//! `CancelHandle`; neither may touch Python. So the helper thread only sends
//! progress snapshots down a channel, and the waiting thread, with the GIL
//! released, wakes every `TICK` to take the GIL briefly: it passes each
//! snapshot to the caller's progress handler and runs `PyErr_CheckSignals`.
//! A pending `KeyboardInterrupt` (or any exception a signal handler or the
//! progress handler raises) triggers the cancel handle; the helper thread is
//! joined either way, and that exception is raised.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use emr_core::mining::CancelHandle;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// How often the waiting thread checks for signals: the bound on how long
/// Ctrl-C waits before the work is told to stop (the core notices within a
/// few milliseconds after that).
const TICK: Duration = Duration::from_millis(25);

enum Message<P> {
    Progress(P),
    /// The work returned; always the last message.
    Done,
}

/// Sends progress snapshots from the helper thread to the waiting one.
#[derive(Clone)]
pub struct Reporter<P>(mpsc::Sender<Message<P>>);

impl<P> Reporter<P> {
    pub fn report(&self, progress: P) {
        // The waiting thread has stopped listening only once the work is
        // over; a snapshot sent then has nobody to inform.
        let _ = self.0.send(Message::Progress(progress));
    }
}

/// Runs `work` on a helper thread named `name` (it gets the `Reporter` to
/// send progress with, and must honour `cancel`) and waits for it with the
/// GIL released, passing each snapshot to `on_progress`. Returns the work's
/// result, or the first exception `on_progress` or a signal handler raised
/// (after cancelling the work and joining the thread). A panic of the work
/// is resumed on this thread.
pub fn run<P: Send, T: Send>(
    py: Python<'_>,
    name: &str,
    cancel: &CancelHandle,
    mut on_progress: impl FnMut(P) -> PyResult<()>,
    work: impl FnOnce(Reporter<P>) -> T + Send,
) -> PyResult<T> {
    let (sender, receiver) = mpsc::channel::<Message<P>>();
    // `Receiver` is not `Sync`; the waits below borrow it from detached closures.
    let receiver = Mutex::new(receiver);
    std::thread::scope(|scope| {
        let done = sender.clone();
        let worker = std::thread::Builder::new().name(name.to_owned()).spawn_scoped(scope, move || {
            let result = work(Reporter(sender));
            let _ = done.send(Message::Done);
            result
        })?;
        let mut failure: Option<PyErr> = None;
        loop {
            let message = py.detach(|| {
                let receiver = receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                receiver.recv_timeout(TICK)
            });
            match message {
                // Disconnected: the work panicked (resumed below).
                Ok(Message::Done) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Message::Progress(p)) => {
                    if failure.is_none() {
                        if let Err(e) = on_progress(p) {
                            cancel.cancel();
                            failure = Some(e);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if failure.is_none() {
                if let Err(e) = py.check_signals() {
                    cancel.cancel();
                    failure = Some(e);
                }
            }
        }
        let result = match py.detach(|| worker.join()) {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match failure {
            Some(error) => Err(error),
            None => Ok(result),
        }
    })
}

/// A `progress=` argument: `None`, or a callable (``TypeError`` otherwise).
pub fn progress_callback<'py>(progress: Option<&Bound<'py, PyAny>>) -> PyResult<Option<Bound<'py, PyAny>>> {
    match progress.filter(|p| !p.is_none()) {
        Some(p) if p.is_callable() => Ok(Some(p.clone())),
        Some(p) => Err(PyTypeError::new_err(format!(
            "progress must be None or a callable, not {}",
            crate::convert::type_name(p)
        ))),
        None => Ok(None),
    }
}
