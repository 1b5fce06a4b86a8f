//! A corpus of bad inputs, generated at test start in a temporary folder, fed to the real
//! `fusionlab` binary (and, for lesson files, to the library).
//!
//! Groups: input files for `predict` (images, WAVs, text), datasets (manifests, paths,
//! `synthetic:` specs), saved models (damaged or mismatched checkpoints), command-line
//! arguments, and lesson files. Every case asserts the exit status, that stderr names the file or
//! field and what was expected, and that nothing panicked. Each test runs all its cases and
//! reports every mismatch in one assertion message.

#[path = "support/skip.rs"]
mod skip;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One run of the binary and what it must produce.
struct Case {
    /// Short description, shown on failure.
    name: String,
    /// The command-line arguments.
    args: Vec<OsString>,
    /// The expected exit status (0 = success).
    code: i32,
    /// Fragments stderr must contain.
    stderr: Vec<String>,
    /// Fragments stderr must not contain.
    forbid: Vec<String>,
}

/// A case whose arguments are all text.
fn case(name: &str, args: &[&str], code: i32, stderr: &[&str]) -> Case {
    Case {
        name: name.to_owned(),
        args: args.iter().map(OsString::from).collect(),
        code,
        stderr: stderr.iter().map(|s| (*s).to_owned()).collect(),
        forbid: Vec::new(),
    }
}

/// A path as a command-line argument.
fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Run every case; return one line block per mismatch.
fn run_cases(cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_fusionlab"))
            .args(&c.args)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run fusionlab");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut why = Vec::new();
        if out.status.code() != Some(c.code) {
            why.push(format!(
                "exit status {:?}, expected {}",
                out.status.code(),
                c.code
            ));
        }
        if stderr.contains("panicked") {
            why.push("it panicked".to_owned());
        }
        if c.code != 0 && !stderr.contains("error") {
            why.push("no error message on stderr".to_owned());
        }
        for fragment in &c.stderr {
            if !stderr.contains(fragment.as_str()) {
                why.push(format!("stderr lacks {fragment:?}"));
            }
        }
        for fragment in &c.forbid {
            if stderr.contains(fragment.as_str()) {
                why.push(format!("stderr contains {fragment:?}"));
            }
        }
        if !why.is_empty() {
            let shown: String = stderr.chars().take(1500).collect();
            let args: Vec<String> = c
                .args
                .iter()
                .map(|a| a.to_string_lossy().chars().take(120).collect())
                .collect();
            failures.push(format!(
                "[{}] {}\n  args: {:?}\n  stderr: {}",
                c.name,
                why.join("; "),
                args,
                shown.trim_end()
            ));
        }
    }
    failures
}

/// Panic with every failure at once.
fn check(group: &str, cases: &[Case], mut failures: Vec<String>) {
    failures.extend(run_cases(cases));
    assert!(
        failures.is_empty(),
        "{} of {} {group} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A copy of the saved demo model, safe to damage.
fn copy_model(to: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention");
    std::fs::create_dir_all(to).expect("model dir");
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(from.join(name), to.join(name)).expect("copy model");
    }
    to.to_owned()
}

/// Write a 16-bit mono WAV of `seconds` of a quiet tone.
fn write_wav(path: &Path, rate: u32, seconds: f64) {
    let n = (f64::from(rate) * seconds) as usize;
    let samples: Vec<f32> = (0..n).map(|i| ((i % 64) as f32 - 32.0) / 330.0).collect();
    fusionlab::audio::write_wav(path, &samples, rate).expect("write wav");
}

/// Write a small valid PNG.
fn write_png(path: &Path) {
    image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 128]))
        .save(path)
        .expect("save png");
}

/// CRC-32 (IEEE) for PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header declares `side`×`side` pixels but holds almost no data.
fn write_png_bomb(path: &Path, side: u32) {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        c.extend_from_slice(&body);
        c.extend_from_slice(&crc32(&body).to_be_bytes());
        c
    };
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // A tiny zlib stream: the pixels are never reached.
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    std::fs::write(path, png).expect("write png bomb");
}

/// Two symlinks pointing at each other.
fn symlink_loop(dir: &Path, name: &str) -> PathBuf {
    let a = dir.join(name);
    let b = dir.join(format!("{name}-other"));
    std::os::unix::fs::symlink(&b, &a).expect("symlink");
    std::os::unix::fs::symlink(&a, &b).expect("symlink");
    a
}

/// Whether a file with mode 000 can still be opened (true when running as root): then a
/// permission case cannot fail as it would for a user and is skipped.
fn unreadable_file(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::File::open(path).is_ok() {
        skip::skip(
            "bad_inputs (permission-denied case)",
            &format!(
                "{} is still readable with mode 000 (running as root), so the \
                 permission-denied case cannot be tested here",
                path.display()
            ),
        );
        None
    } else {
        Some(path.to_owned())
    }
}

#[test]
fn bad_input_files_for_predict_are_refused_with_the_file_and_reason() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let model = copy_model(&dir.join("model"));
    let m = s(&model);
    let f = |name: &str| dir.join(name);

    write_png(&f("good.png"));
    write_wav(&f("good.wav"), 16_000, 0.5);
    std::fs::create_dir(f("folder.png")).expect("dir");
    std::fs::create_dir(f("folder.wav")).expect("dir");
    let img_loop = symlink_loop(dir, "loop.png");
    let wav_loop = symlink_loop(dir, "loop.wav");
    std::fs::write(f("empty.png"), b"").expect("write");
    std::fs::write(f("empty.wav"), b"").expect("write");
    std::fs::write(f("text.png"), "this is not a picture\n").expect("write");
    write_png_bomb(&f("bomb.png"), 100_000);
    let big = std::fs::File::create(f("big.png")).expect("create");
    big.set_len((64 << 20) + 1)
        .expect("sparse file above the byte limit");
    drop(big);
    let png = std::fs::read(f("good.png")).expect("read");
    std::fs::write(f("cut.png"), &png[..png.len() / 2]).expect("write");
    let wav = std::fs::read(f("good.wav")).expect("read");
    std::fs::write(f("cut.wav"), &wav[..200]).expect("write");
    hound::WavWriter::create(
        f("silent.wav"),
        hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .expect("create")
    .finalize()
    .expect("finalize");
    // Float WAVs with a NaN or an absurd sample (found by fuzzing: they crashed the resampler).
    for (name, bad) in [("nan.wav", f32::NAN), ("huge.wav", 3.0e38)] {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22_050,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(f(name), spec).expect("create");
        for i in 0..2000 {
            w.write_sample(if i == 700 { bad } else { 0.1 })
                .expect("sample");
        }
        w.finalize().expect("finalize");
    }
    // A header claiming 134 MHz (found by fuzzing: resampling it needed over 2 GB).
    let mut w = hound::WavWriter::create(
        f("fast.wav"),
        hound::WavSpec {
            channels: 1,
            sample_rate: 134_239_778,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .expect("create");
    for i in 0..100 {
        w.write_sample(i as i16).expect("sample");
    }
    w.finalize().expect("finalize");
    // 601 s at 8 kHz: just above AudioConfig::max_seconds (600 s).
    write_wav(&f("long.wav"), 8_000, 601.0);
    let long_name = f(&format!("{}.png", "x".repeat(300)));

    let mut cases = vec![
        case(
            "image: missing file",
            &["predict", "--model", m, "--image", s(&f("none.png"))],
            1,
            &["cannot read image", "none.png", "No such file"],
        ),
        case(
            "image: a directory",
            &["predict", "--model", m, "--image", s(&f("folder.png"))],
            1,
            &["cannot read image", "folder.png", "Is a directory"],
        ),
        case(
            "image: symlink loop",
            &["predict", "--model", m, "--image", s(&img_loop)],
            1,
            &["cannot read image", "loop.png", "symbolic links"],
        ),
        case(
            "image: 0 bytes",
            &["predict", "--model", m, "--image", s(&f("empty.png"))],
            1,
            &[
                "empty.png",
                "not a supported image",
                "the file is empty (0 bytes)",
            ],
        ),
        case(
            "image: text file",
            &["predict", "--model", m, "--image", s(&f("text.png"))],
            1,
            &["text.png", "not a supported image", "expected PNG, JPEG"],
        ),
        case(
            "image: a WAV file",
            &["predict", "--model", m, "--image", s(&f("good.wav"))],
            1,
            &["good.wav", "not a supported image"],
        ),
        case(
            "image: header declares 100000×100000",
            &["predict", "--model", m, "--image", s(&f("bomb.png"))],
            1,
            &[
                "bomb.png",
                "declares 100000×100000 pixels",
                "limit of 16384",
            ],
        ),
        case(
            "image: larger than the byte limit",
            &["predict", "--model", m, "--image", s(&f("big.png"))],
            1,
            &["big.png", "67108865 bytes", "limit of 67108864 bytes"],
        ),
        case(
            "image: truncated PNG",
            &["predict", "--model", m, "--image", s(&f("cut.png"))],
            1,
            &["cut.png", "corrupt or truncated"],
        ),
        case(
            "image: file name too long",
            &["predict", "--model", m, "--image", s(&long_name)],
            1,
            &["cannot read image", "File name too long"],
        ),
        case(
            "audio: missing file",
            &["predict", "--model", m, "--audio", s(&f("none.wav"))],
            1,
            &["cannot read audio", "none.wav", "No such file"],
        ),
        case(
            "audio: a directory",
            &["predict", "--model", m, "--audio", s(&f("folder.wav"))],
            1,
            &["cannot read audio", "folder.wav", "Is a directory"],
        ),
        case(
            "audio: symlink loop",
            &["predict", "--model", m, "--audio", s(&wav_loop)],
            1,
            &["cannot read audio", "loop.wav", "symbolic links"],
        ),
        case(
            "audio: 0 bytes",
            &["predict", "--model", m, "--audio", s(&f("empty.wav"))],
            1,
            &[
                "empty.wav",
                "is not a WAV file",
                "the file is empty (0 bytes)",
            ],
        ),
        case(
            "audio: a PNG file",
            &["predict", "--model", m, "--audio", s(&f("good.png"))],
            1,
            &["good.png", "is not a WAV file", "convert it to WAV"],
        ),
        case(
            "audio: truncated data chunk",
            &["predict", "--model", m, "--audio", s(&f("cut.wav"))],
            1,
            &["cut.wav", "is truncated", "re-export or re-record"],
        ),
        case(
            "audio: header without samples",
            &["predict", "--model", m, "--audio", s(&f("silent.wav"))],
            1,
            &["silent.wav", "contains no samples"],
        ),
        case(
            "audio: float WAV with a NaN sample",
            &["predict", "--model", m, "--audio", s(&f("nan.wav"))],
            1,
            &["nan.wav", "is damaged: sample 700 is NaN", "re-export"],
        ),
        case(
            "audio: float WAV with a sample of 3e38",
            &["predict", "--model", m, "--audio", s(&f("huge.wav"))],
            1,
            &["huge.wav", "sample 700 is 3", "between -1 and 1"],
        ),
        case(
            "audio: a 134 MHz sample rate",
            &["predict", "--model", m, "--audio", s(&f("fast.wav"))],
            1,
            &["fast.wav", "134239778 Hz", "expected 1000 to 384000 Hz"],
        ),
        case(
            "audio: 601 s, above the 600 s limit",
            &["predict", "--model", m, "--audio", s(&f("long.wav"))],
            1,
            &["long.wav", "601.0 s long", "limit of 600 s", "trim it"],
        ),
        case(
            "text: 100 kB of words is truncated, not refused",
            &["predict", "--model", m, "--text", &"circle ".repeat(15_000)],
            0,
            &[],
        ),
        case(
            "text: empty",
            &["predict", "--model", m, "--text", ""],
            1,
            &["nothing to predict from", "not only spaces or punctuation"],
        ),
        case(
            "all three good inputs still work",
            &[
                "predict",
                "--model",
                m,
                "--image",
                s(&f("good.png")),
                "--audio",
                s(&f("good.wav")),
                "--text",
                "a red circle",
            ],
            0,
            &[],
        ),
    ];
    // Not UTF-8: refused while parsing the arguments (status 2), naming the option.
    let mut bad_text = case(
        "text: not UTF-8",
        &["predict", "--model", m, "--text"],
        2,
        &["'--text <TEXT>'", "the text is not valid UTF-8"],
    );
    {
        use std::os::unix::ffi::OsStringExt as _;
        bad_text
            .args
            .push(OsString::from_vec(b"a red \xff\xfe circle".to_vec()));
    }
    cases.push(bad_text);
    write_png(&f("locked.png"));
    if let Some(locked) = unreadable_file(&f("locked.png")) {
        cases.push(case(
            "image: no read permission",
            &["predict", "--model", m, "--image", s(&locked)],
            1,
            &["cannot read image", "locked.png", "Permission denied"],
        ));
    }
    check("file", &cases, Vec::new());
}

#[test]
fn bad_datasets_are_refused_with_the_file_row_and_column() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let manifest = |name: &str, bytes: &[u8]| -> String {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(d.join("manifest.csv"), bytes).expect("write manifest");
        d.to_str().expect("utf-8").to_owned()
    };
    let wav = dir.join("tone.wav");
    write_wav(&wav, 16_000, 0.5);
    let long_wav = dir.join("long.wav");
    write_wav(&long_wav, 8_000, 601.0);

    let cols = manifest("cols", b"name,picture\nx,a.png\n");
    let nomodcol = manifest("nomodcol", b"label,id\ncat,1\n");
    let empty = manifest("empty", b"");
    let binary = manifest("binary", &std::fs::read(&wav).expect("read"));
    let label = manifest("label", b"label,text\n,hello\ncat,hi there\ndog,yo\n");
    let unknown = manifest(
        "unknown",
        b"label,text,split\ncat,hi,train\ndog,ho,train\nbird,yo,test\n",
    );
    let split = manifest(
        "split",
        b"label,text,split\ncat,hi,train\ndog,yo,nonsense\ncat,hey,train\n",
    );
    let missing = manifest(
        "missing",
        format!(
            "label,audio\ncat,nothere.wav\ndog,{}\n",
            wav.to_str().expect("utf-8")
        )
        .as_bytes(),
    );
    let fields = manifest("fields", b"label,text\ncat,hi,extra\ndog,yo\n");
    let nomod = manifest("nomod", b"label,text\ncat,\ndog,yo\n");
    let utf8 = manifest("utf8", b"label,text\ncat,\xff\xfe\ndog,yo\n");
    let too_long = manifest(
        "toolong",
        format!(
            "label,audio\ncat,{}\ndog,{}\n",
            long_wav.to_str().expect("utf-8"),
            wav.to_str().expect("utf-8")
        )
        .as_bytes(),
    );
    let all_bad = manifest("allbad", b"label,image\ncat,nothere.png\ndog,gone.png\n");
    let bad_image = manifest(
        "badimage",
        b"label,image,text\ncat,manifest.csv,hi\ndog,,yo\n",
    );
    let dir_ref = manifest("dirref", b"label,image,text\ncat,.,hi\ndog,,yo\n");
    let long_text = manifest(
        "longtext",
        format!(
            "label,text\ncat,{}\ndog,a dog\ncat,a cat\ndog,dog\n",
            "word ".repeat(200_000)
        )
        .as_bytes(),
    );
    std::fs::create_dir(dir.join("notable")).expect("dir");
    let notable = dir.join("notable");
    let looped = symlink_loop(dir, "loop-dataset");
    let none = dir.join("none");

    let info = |name: &str, ds: &str, strict: bool, code: i32, stderr: &[&str]| {
        let mut args = vec!["data", "info", ds];
        if strict {
            args.push("--strict");
        }
        case(name, &args, code, stderr)
    };
    let mut no_such = info(
        "path does not exist",
        s(&none),
        false,
        1,
        &["cannot read dataset", "none", "No such file"],
    );
    // The OS reason once, not repeated as a "cause".
    no_such.forbid.push("(os error 2): No such file".into());
    let cases = vec![
        no_such,
        info(
            "folder without a table",
            s(&notable),
            false,
            1,
            &[
                "neither manifest.csv nor metadata.csv",
                "synthetic:<preset>",
            ],
        ),
        info(
            "symlink loop",
            s(&looped),
            false,
            1,
            &["cannot read dataset", "loop-dataset", "symbolic links"],
        ),
        info(
            "manifest: 0 bytes",
            &empty,
            false,
            1,
            &[
                "manifest.csv",
                "the file is empty",
                "label,image,audio,text",
            ],
        ),
        info(
            "manifest: binary (a WAV renamed)",
            &binary,
            false,
            1,
            &["manifest.csv", "not a CSV text file"],
        ),
        info(
            "dataset: a WAV file given as CSV",
            s(&wav),
            false,
            1,
            &["tone.wav", "not a CSV text file"],
        ),
        info(
            "manifest: wrong columns",
            &cols,
            false,
            1,
            &["missing column 'label'", "found: name,picture"],
        ),
        info(
            "manifest: no modality column",
            &nomodcol,
            false,
            1,
            &["missing column 'image, audio or text'", "found: label,id"],
        ),
        info(
            "manifest: empty label",
            &label,
            true,
            1,
            &["row 2, column 'label'", "the label is empty", "strict mode"],
        ),
        info(
            "manifest: label only in test",
            &unknown,
            true,
            1,
            &[
                "row 4, column 'label'",
                "'bird' does not occur in the training split",
            ],
        ),
        info(
            "manifest: bad split",
            &split,
            true,
            1,
            &[
                "row 3, column 'split'",
                "'nonsense' is not train, val or test",
            ],
        ),
        info(
            "manifest: referenced file missing",
            &missing,
            true,
            1,
            &["row 2, column 'audio'", "nothere.wav not found"],
        ),
        info(
            "manifest: wrong number of fields",
            &fields,
            true,
            1,
            &["row 2", "expected 2 fields like the header, found 3"],
        ),
        info(
            "manifest: row with no modality",
            &nomod,
            true,
            1,
            &["row 2", "the row has no image, no audio and no text"],
        ),
        info(
            "manifest: field not UTF-8",
            &utf8,
            true,
            1,
            &[
                "row 2, column 'text'",
                "not valid UTF-8",
                "save the CSV as UTF-8",
            ],
        ),
        info(
            "manifest: audio above 600 s",
            &too_long,
            true,
            1,
            &["row 2, column 'audio'", "601.0 s long", "limit of 600 s"],
        ),
        info(
            "manifest: every row bad",
            &all_bad,
            false,
            1,
            &["no usable samples (2 bad rows", "nothere.png not found"],
        ),
        info(
            "manifest: image column points at a CSV",
            &bad_image,
            true,
            1,
            &["row 2, column 'image'", "not a supported image"],
        ),
        info(
            "manifest: image column points at a folder",
            &dir_ref,
            true,
            1,
            &["row 2, column 'image'", "is a folder, expected a file"],
        ),
        info(
            "manifest: 1 MB text field loads (non-strict)",
            &long_text,
            false,
            0,
            &[],
        ),
        info(
            "synthetic: unknown preset",
            "synthetic:bogus",
            false,
            1,
            &["unknown preset 'bogus'", "presets: redundant"],
        ),
        info(
            "synthetic: unknown knob",
            "synthetic:redundant?bogus=1",
            false,
            1,
            &["unknown knob 'bogus'", "knobs: samples"],
        ),
        info(
            "synthetic: samples=0",
            "synthetic:redundant?samples=0",
            false,
            1,
            &["samples=0 must be between"],
        ),
        info(
            "synthetic: samples too large",
            "synthetic:redundant?samples=99999999999",
            false,
            1,
            &["samples=99999999999 must be between", "1000000"],
        ),
        info(
            "synthetic: samples not a number",
            "synthetic:redundant?samples=abc",
            false,
            1,
            &["samples=abc: expected a whole number"],
        ),
        info(
            "synthetic: noise above 1",
            "synthetic:redundant?noise=2",
            false,
            1,
            &["noise=2", "must be between 0 and 1"],
        ),
        info(
            "synthetic: audio_noise negative",
            "synthetic:redundant?audio_noise=-0.5",
            false,
            1,
            &["audio_noise=-0.5 must be between 0 and 1"],
        ),
        info(
            "synthetic: noise NaN",
            "synthetic:redundant?noise=NaN",
            false,
            1,
            &["noise=NaN: expected a number 0–1"],
        ),
        info(
            "synthetic: xor classes out of range",
            "synthetic:xor?classes=9",
            false,
            1,
            &["classes=9 is not allowed for preset xor", "2..=4"],
        ),
        info(
            "synthetic: split with two parts",
            "synthetic:redundant?split=0.5,0.5",
            false,
            1,
            &["expected three fractions TRAIN,VAL,TEST"],
        ),
        info(
            "synthetic: knob without value",
            "synthetic:redundant?samples",
            false,
            1,
            &["'samples' is not knob=value"],
        ),
    ];
    check("dataset", &cases, Vec::new());
}

#[test]
fn damaged_or_mismatched_checkpoints_are_refused() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let model = |name: &str| copy_model(&dir.join(name));
    let edit = |path: &Path, from: &str, to: &str| {
        let text = std::fs::read_to_string(path).expect("read config");
        assert!(text.contains(from), "{from} not in {}", path.display());
        std::fs::write(path, text.replacen(from, to, 1)).expect("write config");
    };
    let good = model("good");

    let no_weights = model("no-weights");
    std::fs::remove_file(no_weights.join("model.safetensors")).expect("rm");
    let no_config = model("no-config");
    std::fs::remove_file(no_config.join("config.json")).expect("rm");
    let half = model("half");
    let bytes = std::fs::read(half.join("model.safetensors")).expect("read");
    std::fs::write(half.join("model.safetensors"), &bytes[..bytes.len() / 2]).expect("write");
    let tiny = model("tiny");
    std::fs::write(tiny.join("model.safetensors"), &bytes[..1000]).expect("write");
    let zero = model("zero");
    std::fs::write(zero.join("model.safetensors"), b"").expect("write");
    let text_weights = model("text-weights");
    std::fs::write(text_weights.join("model.safetensors"), "not weights\n").expect("write");
    let bad_json = model("bad-json");
    std::fs::write(bad_json.join("config.json"), "{\"fusion\": ").expect("write");
    let empty_json = model("empty-json");
    std::fs::write(empty_json.join("config.json"), "").expect("write");
    let other_format = model("other-format");
    edit(
        &other_format.join("config.json"),
        "\"format\": \"fusionlab-model\"",
        "\"format\": \"other\"",
    );
    let version = model("version");
    edit(
        &version.join("config.json"),
        "\"version\": 1",
        "\"version\": 99",
    );
    let bad_fusion = model("bad-fusion");
    edit(
        &bad_fusion.join("config.json"),
        "\"fusion\": \"attention\"",
        "\"fusion\": \"nonsense\"",
    );
    let other_arch = model("other-arch");
    edit(
        &other_arch.join("config.json"),
        "\"fusion\": \"attention\"",
        "\"fusion\": \"late\"",
    );
    let classes = model("classes");
    edit(
        &classes.join("config.json"),
        "\"classes\": 4",
        "\"classes\": 5",
    );
    let config_dir = model("config-dir");
    std::fs::remove_file(config_dir.join("config.json")).expect("rm");
    std::fs::create_dir(config_dir.join("config.json")).expect("dir");
    let file_model = dir.join("model-file");
    std::fs::write(&file_model, "not a folder").expect("write");

    let predict = |name: &str, m: &Path, stderr: &[&str]| {
        case(
            name,
            &["predict", "--model", s(m), "--text", "a red circle"],
            1,
            stderr,
        )
    };
    let cases = vec![
        predict(
            "no such folder",
            &dir.join("nothing"),
            &[
                "no model at",
                "nothing",
                "config.json and model.safetensors",
            ],
        ),
        predict(
            "a file, not a folder",
            &file_model,
            &["no model at", "model-file"],
        ),
        predict(
            "weights missing",
            &no_weights,
            &["model.safetensors", "has no weights"],
        ),
        predict(
            "config missing",
            &no_config,
            &["config.json", "has no config.json"],
        ),
        predict(
            "config.json is a folder",
            &config_dir,
            &["config.json", "Is a directory"],
        ),
        predict(
            "truncated safetensors (half)",
            &half,
            &[
                "model.safetensors",
                "not a readable safetensors file",
                "damaged",
            ],
        ),
        predict(
            "truncated safetensors (1000 bytes)",
            &tiny,
            &["model.safetensors", "not a readable safetensors file"],
        ),
        predict(
            "0-byte safetensors",
            &zero,
            &["model.safetensors", "not a readable safetensors file"],
        ),
        predict(
            "text instead of weights",
            &text_weights,
            &["model.safetensors", "not a readable safetensors file"],
        ),
        predict(
            "corrupt JSON config",
            &bad_json,
            &["config.json", "not valid JSON", "EOF"],
        ),
        predict(
            "0-byte JSON config",
            &empty_json,
            &["config.json", "not valid JSON"],
        ),
        predict(
            "config of another format",
            &other_format,
            &["config.json", "expected \"format\": \"fusionlab-model\""],
        ),
        predict(
            "config from a newer version",
            &version,
            &["config.json", "format version 99", "reads version 1"],
        ),
        predict(
            "unknown fusion in config",
            &bad_fusion,
            &["config.json", "unknown variant `nonsense`", "attention"],
        ),
        predict(
            "weights of another architecture",
            &other_arch,
            &[
                "does not match the architecture in config.json (late fusion)",
                "missing tensor",
            ],
        ),
        predict(
            "class count disagrees with names",
            &classes,
            &["config.json", "4 class names", "5 classes"],
        ),
        case(
            "eval on data with other classes",
            &[
                "eval",
                "--model",
                s(&good),
                "--dataset",
                "synthetic:complementary?samples=40",
            ],
            1,
            &["trained for 4 classes", "has 8", "same classes"],
        ),
        case(
            "eval with a broken checkpoint",
            &[
                "eval",
                "--model",
                s(&half),
                "--dataset",
                "synthetic:redundant?samples=40",
            ],
            1,
            &["model.safetensors", "not a readable safetensors file"],
        ),
        case(
            "robustness with a missing model",
            &[
                "robustness",
                "--model",
                s(&dir.join("nothing")),
                "--dataset",
                "synthetic:redundant?samples=40",
            ],
            1,
            &["no model at", "nothing"],
        ),
    ];
    check("checkpoint", &cases, Vec::new());
}

#[test]
fn bad_command_line_arguments_are_refused_with_the_option_and_range() {
    let tmp = temp_dir();
    let model = copy_model(&tmp.path().join("model"));
    let m = s(&model);
    let ds = "synthetic:redundant?samples=40";
    let train = |name: &str, extra: &[&str], code: i32, stderr: &[&str]| {
        let mut args = vec!["train", "--dataset", ds, "--epochs", "1"];
        args.extend_from_slice(extra);
        case(name, &args, code, stderr)
    };
    let cases = vec![
        train(
            "--fusion unknown",
            &["--fusion", "bogus"],
            2,
            &[
                "'--fusion <FUSION>'",
                "unknown fusion method 'bogus'",
                "early, late",
            ],
        ),
        case(
            "--epochs 0",
            &["train", "--dataset", ds, "--epochs", "0"],
            1,
            &["epochs must be between 1 and 10000"],
        ),
        case(
            "--epochs 100000",
            &["train", "--dataset", ds, "--epochs", "100000"],
            1,
            &["epochs must be between 1 and 10000"],
        ),
        case(
            "--epochs negative",
            &["train", "--dataset", ds, "--epochs", "-3"],
            2,
            &["invalid value '-3' for '--epochs <EPOCHS>'"],
        ),
        train(
            "--lr -1",
            &["--lr", "-1"],
            1,
            &["learning rate must be above 0"],
        ),
        train(
            "--lr 0",
            &["--lr", "0"],
            1,
            &["learning rate must be above 0"],
        ),
        train(
            "--lr NaN",
            &["--lr", "NaN"],
            1,
            &["learning rate must be above 0"],
        ),
        train(
            "--lr not a number",
            &["--lr", "abc"],
            2,
            &["invalid value 'abc' for '--lr <LR>'"],
        ),
        train(
            "--batch-size 0",
            &["--batch-size", "0"],
            1,
            &["batch size must be between 1 and 4096"],
        ),
        train(
            "--weight-decay -1",
            &["--weight-decay", "-1"],
            1,
            &["weight decay must be between 0 and 1"],
        ),
        train(
            "--clip -1",
            &["--clip", "-1"],
            1,
            &["gradient clipping must be 0 (off) or positive"],
        ),
        train(
            "--modality-dropout 2",
            &["--modality-dropout", "2"],
            1,
            &["modality dropout must be between 0 and 0.9"],
        ),
        train(
            "--embed-dim 0",
            &["--embed-dim", "0"],
            1,
            &["embedding width must be a multiple of 4 between 8 and 512"],
        ),
        train(
            "--text-encoder unknown",
            &["--text-encoder", "lstm"],
            2,
            &["unknown text encoder 'lstm'", "gru or transformer"],
        ),
        train(
            "--device unknown",
            &["--device", "quantum"],
            2,
            &["unknown device 'quantum'", "auto, cpu, cuda or metal"],
        ),
        train(
            "--seed not a number",
            &["--seed", "abc"],
            2,
            &["invalid value 'abc' for '--seed <SEED>'"],
        ),
        case(
            "train --dataset unknown preset",
            &["train", "--dataset", "synthetic:bogus", "--epochs", "1"],
            1,
            &["unknown preset 'bogus'"],
        ),
        case(
            "train on a missing dataset",
            &["train", "--dataset", "/nonexistent/data", "--epochs", "1"],
            1,
            &["cannot read dataset /nonexistent/data", "No such file"],
        ),
        case(
            "compare with an unknown fusion",
            &["compare", "--dataset", ds, "--fusions", "early,bogus"],
            2,
            &["'--fusions <FUSIONS>'", "unknown fusion method 'bogus'"],
        ),
        case(
            "robustness --levels 1",
            &["robustness", "--model", m, "--dataset", ds, "--levels", "1"],
            2,
            &["'--levels <LEVELS>'", "1 is not in 2..=21"],
        ),
        case(
            "robustness --levels 0",
            &["robustness", "--model", m, "--dataset", ds, "--levels", "0"],
            2,
            &["0 is not in 2..=21"],
        ),
        case(
            "robustness unknown corruption",
            &[
                "robustness",
                "--model",
                m,
                "--dataset",
                ds,
                "--corruptions",
                "image-noise,bogus",
            ],
            2,
            &["invalid value 'bogus' for '--corruptions", "image-noise"],
        ),
        case(
            "app --tab nonsense",
            &["app", "--tab", "nonsense"],
            1,
            &["unknown panel 'nonsense'", "predict, teach, training"],
        ),
        case(
            "predict with no inputs",
            &["predict", "--model", m],
            1,
            &[
                "give at least one input",
                "--image FILE",
                "--audio FILE.wav",
            ],
        ),
        case(
            "predict without --model",
            &["predict", "--text", "a red circle"],
            2,
            &["required arguments", "--model <MODEL>"],
        ),
        case(
            "eval --split unknown",
            &["eval", "--model", m, "--dataset", ds, "--split", "nonsense"],
            1,
            &["unknown split 'nonsense'", "train, val or test"],
        ),
        case(
            "data info without a dataset",
            &["data", "info"],
            2,
            &["required arguments", "<DATASET>"],
        ),
        case(
            "unknown subcommand",
            &["frobnicate"],
            2,
            &["unrecognized subcommand 'frobnicate'"],
        ),
    ];
    check("command-line", &cases, Vec::new());
}

#[test]
fn bad_lesson_files_are_refused_with_the_file_and_field() {
    use fusionlab::app::lesson::Lesson;
    let tmp = temp_dir();
    let dir = tmp.path();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/lessons/1-redundant-reliance.fusionlab.json");
    let good = std::fs::read_to_string(&shipped).expect("read shipped lesson");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write lesson");
        p
    };
    let edited = |name: &str, from: &str, to: &str| {
        assert!(good.contains(from), "{from} not in the shipped lesson");
        write(name, good.replacen(from, to, 1).as_bytes())
    };
    std::fs::create_dir(dir.join("folder.json")).expect("dir");
    let cases: Vec<(&str, PathBuf, Vec<&str>)> = vec![
        (
            "not JSON",
            write("notjson.json", b"title: a lesson\n"),
            vec!["notjson.json", "is not a lesson file", "line 1"],
        ),
        (
            "0 bytes",
            write("empty.json", b""),
            vec!["empty.json", "is not a lesson file", "EOF"],
        ),
        (
            "not UTF-8",
            write("latin1.json", b"{\"title\": \"caf\xe9\"}"),
            vec!["latin1.json", "could not read", "UTF-8"],
        ),
        (
            "JSON of another shape",
            write("array.json", b"[1, 2, 3]"),
            vec!["array.json", "is not a lesson file"],
        ),
        (
            "missing file",
            dir.join("none.json"),
            vec!["none.json", "could not read", "No such file"],
        ),
        (
            "a directory",
            dir.join("folder.json"),
            vec!["folder.json", "could not read", "Is a directory"],
        ),
        (
            "wrong format field",
            edited(
                "format.json",
                "\"format\": \"fusionlab-lesson\"",
                "\"format\": \"other\"",
            ),
            vec!["format.json", "field 'format' is 'other'"],
        ),
        (
            "newer version",
            edited("version.json", "\"version\": 1", "\"version\": 7"),
            vec!["version.json", "field 'version' is 7"],
        ),
        (
            "bad dataset spec",
            edited(
                "dataset.json",
                "\"dataset\": \"synthetic:redundant\"",
                "\"dataset\": \"synthetic:bogus\"",
            ),
            vec!["dataset.json", "field 'dataset'", "unknown preset 'bogus'"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, path, fragments) in &cases {
        match Lesson::load(path) {
            Ok(_) => failures.push(format!("[{name}] loaded without an error")),
            Err(err) => {
                let text = err.to_string();
                let lacking: Vec<&&str> =
                    fragments.iter().filter(|f| !text.contains(**f)).collect();
                if !lacking.is_empty() {
                    failures.push(format!("[{name}] message lacks {lacking:?}: {text}"));
                }
            }
        }
    }
    assert!(Lesson::load(&shipped).is_ok(), "the shipped lesson loads");
    assert!(
        failures.is_empty(),
        "{} of {} lesson cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
