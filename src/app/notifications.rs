//! Toasts: short messages in the top-right corner that fade after a few seconds (paused while
//! hovered, closed by a click). Errors also go to the log and to an inline label in the panel
//! whose action failed.

use std::time::Duration;

/// How serious a toast is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something finished.
    Info,
    /// Something failed.
    Error,
}

/// One toast.
#[derive(Clone, Debug)]
pub struct Toast {
    /// Severity.
    pub level: Level,
    /// What the user was doing.
    pub title: String,
    /// What happened and what to do.
    pub message: String,
    remaining: Duration,
}

/// The toasts on screen.
#[derive(Default)]
pub struct Notifications {
    toasts: Vec<Toast>,
}

impl Notifications {
    /// Show an error.
    pub fn error(&mut self, title: impl Into<String>, message: impl Into<String>) {
        self.push(Level::Error, title.into(), message.into(), 10);
    }

    /// Show a confirmation.
    pub fn info(&mut self, title: impl Into<String>, message: impl Into<String>) {
        self.push(Level::Info, title.into(), message.into(), 4);
    }

    fn push(&mut self, level: Level, title: String, message: String, seconds: u64) {
        // The same message twice in a row just restarts its timer.
        if let Some(t) = self
            .toasts
            .iter_mut()
            .find(|t| t.title == title && t.message == message)
        {
            t.remaining = Duration::from_secs(seconds);
            return;
        }
        self.toasts.push(Toast {
            level,
            title,
            message,
            remaining: Duration::from_secs(seconds),
        });
        if self.toasts.len() > 5 {
            self.toasts.remove(0);
        }
    }

    /// The toasts now showing (for tests).
    pub fn toasts(&self) -> &[Toast] {
        &self.toasts
    }

    /// Draw the toasts and count down their timers.
    pub fn show(&mut self, ctx: &egui::Context) {
        let dt = Duration::from_secs_f32(ctx.input(|i| i.stable_dt).clamp(0.0, 0.1));
        let mut offset = egui::vec2(-10.0, 44.0);
        for (i, toast) in self.toasts.iter_mut().enumerate() {
            let response = egui::Area::new(egui::Id::unique("toast").with(i))
                .anchor(egui::Align2::RIGHT_TOP, offset)
                .order(egui::Order::Foreground)
                .show(ctx, |ui| {
                    ui.set_max_width(380.0);
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        let (icon, colour) = match toast.level {
                            Level::Error => ("Error:", ui.visuals().error_fg_color),
                            Level::Info => ("Done:", ui.visuals().hyperlink_color),
                        };
                        ui.colored_label(colour, format!("{icon} {}", toast.title));
                        ui.label(&toast.message);
                    })
                })
                .response
                .interact(egui::Sense::click());
            if response.clicked() {
                toast.remaining = Duration::ZERO;
            } else if !response.hovered() {
                toast.remaining = toast.remaining.saturating_sub(dt);
            }
            offset.y += response.rect.height() + 6.0;
        }
        self.toasts.retain(|t| !t.remaining.is_zero());
        if !self.toasts.is_empty() {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }
}
