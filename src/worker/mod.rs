//! The background worker: one named thread that owns the device, the model and the dataset.
//! Jobs go in under a [`JobId`]; events about them come out, each job's last one terminal; the
//! UI thread never waits on model work. Both the app and the CLI drive it.

mod analysis;
mod error;
mod explore;
pub use explore::TSNE_MAX_POINTS;
mod input;
pub mod job;
pub mod project;
pub mod protocol;
mod run;

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use error::JobError;
pub use input::InputError;
use job::Registry;
pub use job::{CancelToken, Command, Job, JobId, JobKind};
pub use protocol::{
    DecodedAudio, DecodedImage, DecodedInput, Event, Exploration, ExploredSample, Outcome, SPACES,
    SampleOutcome, Source, SpaceProjection, TrainingSummary, Update,
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

/// Sends events and wakes the receiver.
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<Event>,
    wake: Waker,
}

impl EventSender {
    /// Send one event (dropped silently when the receiver is gone).
    fn send(&self, event: Event) {
        if self.tx.send(event).is_ok() {
            (self.wake)();
        }
    }
}

/// One running job's view of the worker: its id, its cancel token and a way to report updates.
/// Only [`run_job`] sends the terminal event, so a job cannot end twice or not at all.
pub(crate) struct JobCtx<'a> {
    id: JobId,
    kind: JobKind,
    events: &'a EventSender,
    token: CancelToken,
}

impl JobCtx<'_> {
    /// Report progress or a partial result.
    fn update(&self, update: Update) {
        self.events.send(Event::Update {
            job: self.id,
            kind: self.kind,
            update,
        });
    }
    /// Was this job asked to stop?
    fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Run one job to its single terminal event: its result, `Cancelled` (asked to stop) or
/// `Failed` (an error, or a panic inside the job).
fn run_job(
    registry: &Registry,
    events: &EventSender,
    id: JobId,
    kind: JobKind,
    work: impl FnOnce(&JobCtx<'_>) -> Result<Outcome, JobError>,
) {
    // `None`: cancelled while queued; that already ended it.
    let outcome = match registry.begin(id) {
        None => return,
        Some(token) => {
            let ctx = JobCtx {
                id,
                kind,
                events,
                token,
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&ctx)));
            match result {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(JobError::Cancelled)) => Outcome::Cancelled,
                Ok(Err(e)) => Outcome::Failed {
                    message: e.to_string(),
                },
                Err(_) => Outcome::Failed {
                    message: "internal error: the job panicked (details in the log); the worker goes on — please report it".into(),
                },
            }
        }
    };
    registry.end(id);
    events.send(Event::End {
        job: id,
        kind,
        outcome,
    });
}

/// What the worker thread receives.
#[allow(clippy::large_enum_variant)] // one message per job
enum Inbox {
    Job(JobId, Job),
    Shutdown,
}

/// The UI side of the worker: the `fusion_worker` thread (training, evaluation, exploration,
/// checkpoints) and the `fusion_input` thread (decoding and prediction, so they never wait for
/// training). Dropping it cancels every job and joins both threads.
pub struct WorkerHandle {
    commands: mpsc::Sender<Inbox>,
    inputs: mpsc::Sender<input::Msg>,
    events: mpsc::Receiver<Event>,
    registry: Registry,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Start the worker threads.
    pub fn spawn(wake: Waker) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (evt_tx, evt_rx) = mpsc::channel();
        let events = EventSender { tx: evt_tx, wake };
        let registry = Registry::new(events.clone());
        let (job_tx, job_rx) = mpsc::channel();
        let input_thread = std::thread::Builder::new()
            .name("fusion_input".to_owned())
            .spawn({
                let events = events.clone();
                let registry = registry.clone();
                // One sample's tensors are too small to share between threads: a pool of one
                // avoids waking (and spinning) the shared pool's threads, ~3x faster on 2 cores.
                move || {
                    let work = move || input::run(&job_rx, &events, &registry);
                    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                        Ok(pool) => pool.install(work),
                        Err(_) => work(),
                    }
                }
            })?;
        let thread = std::thread::Builder::new()
            .name("fusion_worker".to_owned())
            .spawn({
                let registry = registry.clone();
                let inputs = job_tx.clone();
                move || run::run(&cmd_rx, &events, &registry, &inputs)
            })?;
        Ok(Self {
            commands: cmd_tx,
            inputs: job_tx,
            events: evt_rx,
            registry,
            threads: vec![thread, input_thread],
        })
    }

    /// Send a command. `Cancel` takes effect at once (it is a flag, not a queued message).
    pub fn send(&self, cmd: Command) {
        // Sending fails only if a thread is gone; it reported why before ending.
        match cmd {
            Command::Cancel(id) => self.registry.cancel(id),
            Command::Start { id, job } => {
                self.registry.queue(id, job.kind());
                match job {
                    Job::Predict { input } => {
                        self.inputs.send(input::Msg::Predict(id, input)).ok();
                    }
                    Job::Decode { source } => {
                        self.inputs.send(input::Msg::Decode(id, source)).ok();
                    }
                    Job::Project { dir, op } => {
                        self.inputs.send(input::Msg::Project(id, dir, op)).ok();
                    }
                    job => {
                        self.commands.send(Inbox::Job(id, job)).ok();
                    }
                }
            }
        }
    }

    /// Start a job under a fresh id and return the id.
    pub fn start(&self, job: Job) -> JobId {
        let id = JobId::fresh();
        self.send(Command::Start { id, job });
        id
    }

    /// Stop one job (see [`Command::Cancel`]).
    pub fn cancel(&self, id: JobId) {
        self.registry.cancel(id);
    }

    /// Stop every queued and running job (e.g. on Ctrl-C).
    pub fn cancel_all(&self) {
        self.registry.cancel_all();
    }

    /// Events that have arrived (non-blocking; call once per frame).
    pub fn drain(&self) -> impl Iterator<Item = Event> + '_ {
        self.events.try_iter()
    }

    /// Wait up to `timeout` for the next event (for the CLI and tests).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.registry.cancel_all();
        self.commands.send(Inbox::Shutdown).ok();
        self.inputs.send(input::Msg::Shutdown).ok();
        for thread in self.threads.drain(..) {
            thread.join().ok();
        }
    }
}
