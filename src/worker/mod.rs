//! The background worker: one named thread that owns the device, the model and the dataset.
//! `Command`s go in, `Event`s come out; the UI thread never waits on model work. Both the app
//! and the CLI drive it.

pub mod protocol;
mod run;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use protocol::{Command, Event, TrainingSummary};

/// How the worker wakes the UI (`ctx.request_repaint()` in the app, a no-op in the CLI).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A shared stop flag, checked by the worker every batch.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Ask the running job to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Clear the flag before a new job.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
    /// Has a stop been asked for?
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sends events and wakes the receiver.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
    wake: Waker,
}

impl EventSender {
    /// Send one event (dropped silently when the receiver is gone).
    pub fn send(&self, event: Event) {
        if self.tx.send(event).is_ok() {
            (self.wake)();
        }
    }
}

/// The UI side of the worker. Dropping it cancels the current job and joins the thread.
pub struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    cancel: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Start the worker thread.
    pub fn spawn(wake: Waker) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (evt_tx, evt_rx) = mpsc::channel();
        let cancel = CancelToken::default();
        let events = EventSender { tx: evt_tx, wake };
        let thread = std::thread::Builder::new()
            .name("fusion_worker".to_owned())
            .spawn({
                let cancel = cancel.clone();
                move || run::run(&cmd_rx, &events, &cancel)
            })?;
        Ok(Self {
            commands: cmd_tx,
            events: evt_rx,
            cancel,
            thread: Some(thread),
        })
    }

    /// Send a command. `Cancel` takes effect at once (it is a flag, not a queued message).
    pub fn send(&self, cmd: Command) {
        match cmd {
            Command::Cancel => self.cancel.cancel(),
            cmd => {
                if matches!(cmd, Command::Train { .. } | Command::Evaluate { .. }) {
                    self.cancel.reset();
                }
                // Fails only if the worker thread is gone; it reported why before ending.
                self.commands.send(cmd).ok();
            }
        }
    }

    /// Events that have arrived (non-blocking; call once per frame).
    pub fn drain(&self) -> impl Iterator<Item = Event> + '_ {
        self.events.try_iter()
    }

    /// Wait up to `timeout` for the next event (for the CLI and tests).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The cancel flag (for callers that need to cancel from another thread, e.g. Ctrl-C).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.commands.send(Command::Shutdown).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}
