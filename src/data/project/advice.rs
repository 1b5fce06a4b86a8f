//! What the user should know about a project before training it.

use super::{GOOD_EXAMPLES, MIN_EXAMPLES, Project};
use crate::data::Modality;

/// Something the user should know before training.
#[derive(Clone, Debug, PartialEq)]
pub enum Advice {
    /// No class at all.
    NoClasses,
    /// A single class: a classifier needs two or more.
    OneClass,
    /// A class without examples.
    EmptyClass {
        /// The class.
        class: String,
    },
    /// A class with fewer than [`MIN_EXAMPLES`] examples.
    TooFew {
        /// The class.
        class: String,
        /// Examples it has.
        have: usize,
        /// How many more it needs.
        need: usize,
    },
    /// The class lacks a modality other classes have, so its absence gives the class away.
    MissingModality {
        /// The class.
        class: String,
        /// What it has none of, while other classes do.
        missing: Vec<Modality>,
    },
}

/// "images", "text", "sounds": what a class has none of.
fn plural(m: Modality) -> &'static str {
    match m {
        Modality::Image => "images",
        Modality::Text => "text",
        Modality::Audio => "sounds",
    }
}

fn singular(m: Modality) -> &'static str {
    match m {
        Modality::Image => "image",
        Modality::Text => "text",
        Modality::Audio => "sound",
    }
}

/// "a", "a and b", "a, b and c".
fn list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl std::fmt::Display for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoClasses => write!(
                f,
                "There are no classes yet: add at least two classes, then give each at least \
                 {MIN_EXAMPLES} examples ({GOOD_EXAMPLES} or more is better)."
            ),
            Self::OneClass => write!(
                f,
                "There is only one class: a classifier tells classes apart, so it needs two or \
                 more; add another class."
            ),
            Self::EmptyClass { class } => write!(
                f,
                "'{class}' has no examples yet: add at least {MIN_EXAMPLES} ({GOOD_EXAMPLES} or \
                 more is better), or delete the class."
            ),
            Self::TooFew { class, have, need } => write!(
                f,
                "'{class}' has only {have} example{}: add {need} more ({GOOD_EXAMPLES} or more is \
                 better).",
                if *have == 1 { "" } else { "s" }
            ),
            Self::MissingModality { class, missing } => {
                let lacks: Vec<&str> = missing.iter().map(|&m| plural(m)).collect();
                let one: Vec<&str> = missing.iter().map(|&m| singular(m)).collect();
                write!(
                    f,
                    "'{class}' has no {} while other classes do: the model has to recognise \
                     '{class}' without {}, and a missing {} itself becomes a hint that it is \
                     '{class}' (so it may be fooled later by a '{class}' that has one). Add {} to \
                     '{class}' too, or leave them out of the other classes.",
                    lacks.join(" and no "),
                    list(&lacks),
                    one.join(" or "),
                    list(&lacks)
                )
            }
        }
    }
}

impl Advice {
    /// Does this stop training? Everything does except [`Advice::MissingModality`], a warning.
    pub fn blocks_training(&self) -> bool {
        !matches!(self, Self::MissingModality { .. })
    }
}

impl Project {
    /// Everything the user should know before training, blocking advice first per class.
    pub fn advice(&self) -> Vec<Advice> {
        let mut out = Vec::new();
        match self.classes.len() {
            0 => return vec![Advice::NoClasses],
            1 => out.push(Advice::OneClass),
            _ => {}
        }
        let counts: Vec<(usize, [usize; 3])> = self
            .classes
            .iter()
            .map(|c| (self.examples_of(&c.name).count(), self.counts(&c.name)))
            .collect();
        for (class, &(n, _)) in self.classes.iter().zip(&counts) {
            let class = class.name.clone();
            if n == 0 {
                out.push(Advice::EmptyClass { class });
            } else if n < MIN_EXAMPLES {
                out.push(Advice::TooFew {
                    class,
                    have: n,
                    need: MIN_EXAMPLES - n,
                });
            }
        }
        for (k, (class, &(n, have))) in self.classes.iter().zip(&counts).enumerate() {
            if n == 0 {
                continue;
            }
            let missing: Vec<Modality> = Modality::ALL
                .into_iter()
                .filter(|m| {
                    let i = m.index();
                    have[i] == 0
                        && counts
                            .iter()
                            .enumerate()
                            .any(|(j, (_, other))| j != k && other[i] > 0)
                })
                .collect();
            if !missing.is_empty() {
                out.push(Advice::MissingModality {
                    class: class.name.clone(),
                    missing,
                });
            }
        }
        out
    }

    /// `Ok` when the project can be trained, else the advice that stops it.
    pub fn can_train(&self) -> Result<(), Vec<Advice>> {
        let blocking: Vec<Advice> = self
            .advice()
            .into_iter()
            .filter(Advice::blocks_training)
            .collect();
        if blocking.is_empty() {
            Ok(())
        } else {
            Err(blocking)
        }
    }
}
