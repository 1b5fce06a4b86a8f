//! The app's one job table: every job the app started and that has not ended, with its progress.
//! The top bar, the status bar and every panel's busy state read it; nothing else says "running".

use std::time::Instant;

use crate::worker::{Command, Job, JobId, JobKind};

/// Progress of a job in items ("running the model over …: 256 of 1200").
#[derive(Clone, Debug, PartialEq)]
pub struct JobProgress {
    /// What is being done now.
    pub what: String,
    /// Items done.
    pub done: usize,
    /// Items in all.
    pub total: usize,
    /// When this stage (`what`) began, for its ETA.
    pub since: Instant,
}

/// A job that runs (or waits in the worker's queue).
#[derive(Clone, Debug)]
pub struct RunningJob {
    /// Its id.
    pub id: JobId,
    /// Its kind.
    pub kind: JobKind,
    /// Its latest item progress, if it reports any.
    pub progress: Option<JobProgress>,
    /// A stop was asked for.
    pub stopping: bool,
    /// It reported something, so it left the worker's queue.
    pub active: bool,
}

impl RunningJob {
    /// "3/10 · 0:42 left" for its progress, or "" without any.
    pub fn progress_text(&self) -> String {
        self.progress.as_ref().map_or_else(String::new, |p| {
            super::widgets::progress_text(Some(p.since), p.done, p.total)
        })
    }

    /// Fraction done, 0 without progress.
    pub fn fraction(&self) -> f32 {
        self.progress
            .as_ref()
            .map_or(0.0, |p| p.done as f32 / p.total.max(1) as f32)
    }
}

/// Quick jobs the status bar does not show (they end in milliseconds, many times a minute).
fn is_quiet(kind: JobKind) -> bool {
    matches!(
        kind,
        JobKind::Predict | JobKind::Decode | JobKind::Neighbours | JobKind::Project
    )
}

/// Counts over the app's life, to check that every job ends exactly once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Jobs started.
    pub started: u64,
    /// Jobs that ended.
    pub ended: u64,
    /// Ends of jobs that were not in the table (a second end, or a job never started here).
    pub stray: u64,
}

/// The job table and the commands waiting to go to the worker.
#[derive(Debug, Default)]
pub struct Jobs {
    running: Vec<RunningJob>,
    outbox: Vec<Command>,
    stats: JobStats,
}

impl Jobs {
    /// Start `job`: it enters the table now and goes to the worker at the end of the frame.
    pub fn start(&mut self, job: Job) -> JobId {
        let id = JobId::fresh();
        self.stats.started += 1;
        self.running.push(RunningJob {
            id,
            kind: job.kind(),
            progress: None,
            stopping: false,
            active: false,
        });
        self.outbox.push(Command::Start { id, job });
        id
    }

    /// Ask job `id` to stop (nothing happens when it already ended). It stays in the table
    /// until its terminal event arrives.
    pub fn cancel(&mut self, id: JobId) {
        if let Some(job) = self.running.iter_mut().find(|j| j.id == id) {
            job.stopping = true;
            self.outbox.push(Command::Cancel(id));
        }
    }

    /// Job `id` reported something: it runs (it is no longer waiting in the queue).
    pub fn touch(&mut self, id: JobId) {
        if let Some(job) = self.running.iter_mut().find(|j| j.id == id) {
            job.active = true;
        }
    }

    /// Record a progress report of job `id` (a stage that is complete clears it).
    pub fn progress(&mut self, id: JobId, what: &str, done: usize, total: usize) {
        if let Some(job) = self.running.iter_mut().find(|j| j.id == id) {
            if done >= total {
                job.progress = None;
                return;
            }
            let since = match &job.progress {
                Some(p) if p.what == what => p.since,
                _ => Instant::now(),
            };
            job.progress = Some(JobProgress {
                what: what.to_owned(),
                done,
                total,
                since,
            });
        }
    }

    /// Job `id` ended: it leaves the table (returned, when it was there).
    pub fn end(&mut self, id: JobId) -> Option<RunningJob> {
        let Some(at) = self.running.iter().position(|j| j.id == id) else {
            self.stats.stray += 1;
            return None;
        };
        self.stats.ended += 1;
        Some(self.running.remove(at))
    }

    /// Started, ended and stray counts so far.
    pub fn stats(&self) -> JobStats {
        self.stats
    }

    /// Is job `id` running?
    pub fn is_running(&self, id: JobId) -> bool {
        self.running.iter().any(|j| j.id == id)
    }

    /// The running job `id`.
    pub fn get(&self, id: JobId) -> Option<&RunningJob> {
        self.running.iter().find(|j| j.id == id)
    }

    /// The training or comparison that runs, if any (they change the current model, so while
    /// one runs the model settings are locked).
    pub fn training(&self) -> Option<&RunningJob> {
        self.running.iter().rev().find(|j| j.kind.trains())
    }

    /// Is a training or a comparison running?
    pub fn is_training(&self) -> bool {
        self.training().is_some()
    }

    /// The job the status bar shows: the newest one with item progress, else the newest one
    /// that is not a quick input job.
    pub fn shown(&self) -> Option<&RunningJob> {
        let mut shown = self.running.iter().rev().filter(|j| !is_quiet(j.kind));
        let with_progress = shown.clone().find(|j| j.progress.is_some());
        with_progress.or_else(|| shown.next())
    }

    /// Every running job, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &RunningJob> {
        self.running.iter()
    }

    /// Nothing runs.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty()
    }

    /// Does a job other than quick input jobs run (keep the spinners moving)?
    pub fn busy(&self) -> bool {
        self.shown().is_some()
    }

    /// The commands to send now.
    pub(crate) fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.outbox)
    }

    /// Forget every job (the worker is gone: nothing will end them).
    pub(crate) fn clear(&mut self) {
        self.running.clear();
        self.outbox.clear();
    }
}

impl super::FusionApp {
    /// The jobs the panels treat as running, named by what shows them; each one must be in the
    /// job table (a panel never shows a job that has ended).
    pub fn jobs_shown_by_panels(&self) -> Vec<(&'static str, JobId)> {
        let mut shown = Vec::new();
        shown.extend(self.browser.job.map(|id| ("dataset exploration", id)));
        shown.extend(self.analysis.comparing.map(|(id, ..)| ("comparison", id)));
        shown.extend(self.analysis.robustness_job.map(|id| ("robustness", id)));
        shown.extend(
            self.analysis
                .contributions_job
                .map(|id| ("contributions", id)),
        );
        for run in self.training.runs.iter().filter(|r| !r.ended()) {
            shown.extend(run.job.map(|id| ("training run", id)));
        }
        shown.extend(self.decodes.iter().map(|(id, _)| ("decode", *id)));
        shown
    }
}
