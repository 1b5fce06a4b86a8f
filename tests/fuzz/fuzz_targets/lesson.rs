//! Lesson files: any bytes load as a valid lesson or fail with an error naming the file.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use fusionlab::app::lesson::Lesson;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch::dir().join("fuzz.fusionlab.json");
    std::fs::write(&path, data).expect("write the fuzz input");
    match Lesson::load(&path) {
        Ok(lesson) => assert!(lesson.validate().is_ok()),
        Err(err) => assert!(err.to_string().contains("fuzz.fusionlab.json")),
    }
});
