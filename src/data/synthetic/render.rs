//! Rendering latent attributes into pixels, words and samples.

use rand::Rng as _;
use rand::seq::IndexedRandom as _;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::Preset;
use crate::data::audio::AudioConfig;

/// Shape names (the image attribute), with the synonyms sentences use.
/// Shape names (the image attribute), with the synonyms sentences use. The first ones have the
/// most distinct silhouettes, since presets with few classes use only those.
pub const SHAPES: [(&str, &[&str]); 8] = [
    ("circle", &["circle", "disc", "round blob"]),
    ("cross", &["cross", "plus sign", "crosshair"]),
    ("triangle", &["triangle", "wedge", "pyramid"]),
    ("square", &["square", "box", "block"]),
    ("diamond", &["diamond", "rhombus", "lozenge"]),
    ("ring", &["ring", "hoop", "donut"]),
    ("bar", &["bar", "stick", "pillar"]),
    ("frame", &["frame", "outline", "border"]),
];

/// Colour names and RGB values (0..1); never part of the class.
pub const COLOURS: [(&str, [f32; 3]); 7] = [
    ("red", [0.95, 0.2, 0.2]),
    ("green", [0.2, 0.85, 0.3]),
    ("blue", [0.3, 0.45, 1.0]),
    ("yellow", [0.95, 0.9, 0.2]),
    ("purple", [0.75, 0.35, 0.95]),
    ("orange", [1.0, 0.6, 0.15]),
    ("white", [0.95, 0.95, 0.95]),
];

const SIZES: [&str; 3] = ["small", "medium", "large"];
const PLACES: [&str; 6] = [
    "on the left",
    "on the right",
    "near the top",
    "at the bottom",
    "in the middle",
    "over there",
];
const FILLERS: [&str; 8] = [
    "maybe", "really", "quite", "today", "again", "here", "just", "honestly",
];
const SLOW: [&str; 4] = ["slowly", "gently", "lazily", "calmly"];
const QUICK: [&str; 4] = ["quickly", "rapidly", "swiftly", "briskly"];
const TIMBRES: [&str; 4] = ["pure", "hollow", "buzzy", "bright"];

/// Pitch of each pitch index: half-octave steps from 220 Hz.
fn pitch_hz(pitch: usize) -> f32 {
    220.0 * 2f32.powf(pitch as f32 * 0.5)
}

/// The latent attributes of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attributes {
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`COLOURS`].
    pub colour: usize,
    /// 0 small, 1 medium, 2 large.
    pub size: usize,
    /// Pitch index (half-octaves above 220 Hz).
    pub pitch: usize,
    /// 0 pure, 1 hollow, 2 buzzy, 3 bright.
    pub timbre: usize,
    /// Number of beeps, 1–3.
    pub beeps: usize,
    /// 0 slow, 1 quick (only the complementary preset's sentence uses it).
    pub speed: usize,
}

/// Draw the attributes of a sample of class `label`.
pub fn attributes(
    preset: Preset,
    classes: usize,
    label: usize,
    rng: &mut ChaCha8Rng,
) -> Attributes {
    let mut a = Attributes {
        shape: rng.random_range(0..SHAPES.len()),
        colour: rng.random_range(0..COLOURS.len()),
        size: rng.random_range(0..SIZES.len()),
        pitch: rng.random_range(0..SHAPES.len()),
        timbre: rng.random_range(0..TIMBRES.len()),
        beeps: rng.random_range(1..=3),
        speed: rng.random_range(0..2),
    };
    match preset {
        Preset::Redundant | Preset::NoisyImage | Preset::Missing => {
            a.shape = label;
            a.pitch = label;
        }
        Preset::Complementary => {
            // Three bits: shape (image), speed (text), pitch (audio).
            a.shape = (label >> 2) & 1;
            a.speed = (label >> 1) & 1;
            a.pitch = if label & 1 == 0 { 1 } else { 5 };
        }
        Preset::Xor => {
            // class = (shape + pitch) mod K, shape uniform: neither alone is informative.
            a.shape = rng.random_range(0..classes);
            a.pitch = (label + classes - a.shape) % classes;
        }
    }
    a
}

/// Class names for a preset.
pub fn class_names(preset: Preset, classes: usize) -> Vec<String> {
    match preset {
        Preset::Complementary => (0..8)
            .map(|c| {
                let shape = SHAPES[(c >> 2) & 1].0;
                let speed = if (c >> 1) & 1 == 0 { "slow" } else { "quick" };
                let pitch = if c & 1 == 0 { "low" } else { "high" };
                format!("{shape}-{speed}-{pitch}")
            })
            .collect(),
        Preset::Xor if classes == 2 => vec!["match".into(), "mismatch".into()],
        Preset::Xor => (0..classes)
            .map(|c| format!("shape+pitch={c} (mod {classes})"))
            .collect(),
        _ => SHAPES
            .iter()
            .take(classes)
            .map(|(name, _)| (*name).to_owned())
            .collect(),
    }
}

/// Is point (dx, dy), in shape-local units (radius 1), inside the shape?
fn inside(shape: usize, dx: f32, dy: f32) -> bool {
    let (ax, ay) = (dx.abs(), dy.abs());
    let r = (dx * dx + dy * dy).sqrt();
    match SHAPES.get(shape).map_or("", |s| s.0) {
        "circle" => r <= 1.0,
        "cross" => (ax <= 0.3 && ay <= 0.95) || (ay <= 0.3 && ax <= 0.95),
        "triangle" => dy <= 0.8 && ax <= 0.95 * (dy + 0.9) / 1.7,
        "square" => ax.max(ay) <= 0.8,
        "diamond" => ax + ay <= 1.05,
        "ring" => (0.55..=1.0).contains(&r),
        "bar" => ax <= 0.28 && ay <= 0.95,
        _ => (0.52..=0.85).contains(&ax.max(ay)),
    }
}

/// An RGB image in 0..1, `3 × size × size` (CHW).
pub fn image(a: &Attributes, size: usize, noise: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let radius = [0.56, 0.66, 0.76][a.size] * rng.random_range(0.97..1.03);
    let (cx, cy) = (rng.random_range(-0.08..0.08), rng.random_range(-0.08..0.08));
    let colour = COLOURS[a.colour].1;
    let background = rng.random_range(0.05..0.3f32);
    let contrast = 1.0 - 0.65 * noise;
    let sigma = 0.02 + 0.6 * noise;
    let plane = size * size;
    let mut px = vec![0.0f32; 3 * plane];
    let step = 2.0 / size as f32;
    for y in 0..size {
        for x in 0..size {
            // 2×2 supersampling for smooth edges.
            let mut cover = 0.0;
            for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let u = -1.0 + (x as f32 + sx) * step;
                let v = -1.0 + (y as f32 + sy) * step;
                if inside(a.shape, (u - cx) / radius, (v - cy) / radius) {
                    cover += 0.25;
                }
            }
            let alpha = cover * contrast;
            for c in 0..3 {
                let value = background * (1.0 - alpha)
                    + colour[c] * alpha
                    + sigma * rng.sample::<f32, _>(StandardNormal);
                px[c * plane + y * size + x] = value.clamp(0.0, 1.0);
            }
        }
    }
    px
}

/// A sentence; which attribute it names depends on the preset.
pub fn sentence(preset: Preset, a: &Attributes, noise: f32, rng: &mut ChaCha8Rng) -> String {
    let colour = COLOURS[a.colour].0;
    let size = SIZES[a.size];
    let place = *PLACES.choose(rng).unwrap_or(&"here");
    let filler = *FILLERS.choose(rng).unwrap_or(&"just");
    // The key word carries the class. Noise swaps it for a random one of the same kind
    // (quadratic, so mild noise stays mild) and replaces other words by distractors.
    let pick =
        |words: &[&'static str], rng: &mut ChaCha8Rng| *words.choose(rng).unwrap_or(&"thing");
    let swap = preset != Preset::Xor && rng.random::<f32>() < 0.6 * noise * noise;
    let key = match preset {
        Preset::Complementary => {
            let fast = if swap {
                rng.random_range(0..2)
            } else {
                a.speed
            };
            pick(if fast == 0 { &SLOW } else { &QUICK }, rng)
        }
        Preset::Xor => "object",
        _ => {
            let shape = if swap {
                rng.random_range(0..SHAPES.len())
            } else {
                a.shape
            };
            pick(SHAPES[shape].1, rng)
        }
    };
    let text = match preset {
        Preset::Complementary => match rng.random_range(0..3) {
            0 => format!("the {colour} thing moves {key} {place}"),
            1 => format!("something {size} drifts {key} {place}"),
            _ => format!("it {filler} goes {key}"),
        },
        _ => match rng.random_range(0..5) {
            0 => format!("a {size} {colour} {key}"),
            1 => format!("there is a {colour} {key} {place}"),
            2 => format!("i {filler} see a {key} that is {colour}"),
            3 => format!("look at the {size} {key} {place}"),
            _ => format!("this {key} is {colour} and {size}"),
        },
    };
    let distractors: Vec<&str> = COLOURS
        .iter()
        .map(|c| c.0)
        .chain(FILLERS)
        .chain(SIZES)
        .collect();
    text.split(' ')
        .map(|w| {
            let is_key = key.split(' ').any(|k| k == w);
            if !is_key && rng.random::<f32>() < 0.3 * noise {
                pick(&distractors, rng)
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A mono clip at `cfg.sample_rate`, exactly `cfg.clip_len()` samples: one to three beeps of a
/// harmonic tone at the sample's pitch and timbre, plus white noise.
pub fn sound(a: &Attributes, cfg: &AudioConfig, noise: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let sr = cfg.sample_rate as f32;
    let len = cfg.clip_len();
    let f0 = pitch_hz(a.pitch) * rng.random_range(0.97..1.03);
    let harmonics: &[f32] = match a.timbre {
        0 => &[1.0],
        1 => &[1.0, 0.0, 0.45, 0.0, 0.25],
        2 => &[1.0, 0.5, 0.33, 0.25, 0.2, 0.16],
        _ => &[0.6, 0.3, 0.8, 0.2],
    };
    let total = len as f32 / sr;
    let beep = rng.random_range(0.16..0.26f32);
    let gap = ((total - beep * a.beeps as f32) / (a.beeps as f32 + 1.0)).max(0.02);
    let sigma = 0.01 + 0.35 * noise;
    let mut out: Vec<f32> = (0..len)
        .map(|_| sigma * rng.sample::<f32, _>(StandardNormal))
        .collect();
    let phase = rng.random_range(0.0..std::f32::consts::TAU);
    for b in 0..a.beeps {
        let start = gap + b as f32 * (beep + gap) + rng.random_range(-0.02..0.02);
        let (s0, s1) = (
            ((start * sr) as usize).min(len),
            (((start + beep) * sr) as usize).min(len),
        );
        for (i, sample) in out.iter_mut().enumerate().take(s1).skip(s0) {
            let t = (i - s0) as f32 / sr;
            let envelope = (t / 0.01).min(1.0) * ((beep - t) / 0.03).clamp(0.0, 1.0);
            let tone: f32 = harmonics
                .iter()
                .enumerate()
                .filter(|&(k, _)| f0 * (k as f32 + 1.0) < sr / 2.0)
                .map(|(k, amp)| {
                    amp * (std::f32::consts::TAU * f0 * (k as f32 + 1.0) * t + phase).sin()
                })
                .sum();
            *sample += 0.4 * envelope * tone;
        }
    }
    out
}
