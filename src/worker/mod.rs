//! The background worker: one named thread that owns the device, the model and the dataset.
//! `Command`s go in, `Event`s come out; the UI thread never waits on model work. Both the app
//! and the CLI drive it.

mod analysis;
mod explore;
pub use explore::TSNE_MAX_POINTS;
mod input;
pub mod protocol;
mod run;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use protocol::{
    Command, DecodedAudio, DecodedImage, DecodedInput, Event, Exploration, ExploredSample, SPACES,
    SampleOutcome, Source, SpaceProjection, TrainingSummary,
};

/// Return memory freed by the job that just ended to the OS. mimalloc purges freed pages only
/// when the thread allocates again, so an idle worker would otherwise keep its peak forever.
#[allow(unsafe_code)] // the one FFI call in the crate
fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers and is safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

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

/// The UI side of the worker: the `fusion_worker` thread (training, evaluation, exploration,
/// checkpoints) and the `fusion_input` thread (decoding and prediction, so they never wait for
/// training). Dropping it cancels the current job and joins both threads.
pub struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    inputs: mpsc::Sender<input::Job>,
    events: mpsc::Receiver<Event>,
    cancel: CancelToken,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Start the worker thread.
    pub fn spawn(wake: Waker) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (evt_tx, evt_rx) = mpsc::channel();
        let cancel = CancelToken::default();
        let events = EventSender { tx: evt_tx, wake };
        let (job_tx, job_rx) = mpsc::channel();
        let input_thread = std::thread::Builder::new()
            .name("fusion_input".to_owned())
            .spawn({
                let events = events.clone();
                // One sample's tensors are too small to share between threads: a pool of one
                // avoids waking (and spinning) the shared pool's threads, ~3x faster on 2 cores.
                move || {
                    let work = move || input::run(&job_rx, &events);
                    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                        Ok(pool) => pool.install(work),
                        Err(_) => work(),
                    }
                }
            })?;
        let thread = std::thread::Builder::new()
            .name("fusion_worker".to_owned())
            .spawn({
                let cancel = cancel.clone();
                let jobs = job_tx.clone();
                move || run::run(&cmd_rx, &events, &cancel, &jobs)
            })?;
        Ok(Self {
            commands: cmd_tx,
            inputs: job_tx,
            events: evt_rx,
            cancel,
            threads: vec![thread, input_thread],
        })
    }

    /// Send a command. `Cancel` takes effect at once (it is a flag, not a queued message).
    pub fn send(&self, cmd: Command) {
        // Fails only if a thread is gone; it reported why before ending.
        match cmd {
            Command::Cancel => self.cancel.cancel(),
            Command::Predict { request_id, input } => {
                self.inputs
                    .send(input::Job::Predict { request_id, input })
                    .ok();
            }
            Command::Decode { request_id, source } => {
                self.inputs
                    .send(input::Job::Decode { request_id, source })
                    .ok();
            }
            cmd => {
                if matches!(
                    cmd,
                    Command::Train { .. }
                        | Command::Evaluate { .. }
                        | Command::Explore { .. }
                        | Command::Tsne { .. }
                        | Command::Compare { .. }
                        | Command::Robustness { .. }
                        | Command::Contributions { .. }
                ) {
                    self.cancel.reset();
                }
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
        self.inputs.send(input::Job::Shutdown).ok();
        for thread in self.threads.drain(..) {
            thread.join().ok();
        }
    }
}
