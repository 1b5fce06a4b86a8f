//! Checkpoint loading: input = [u32 LE length of config.json][config.json][model.safetensors].
//! Any pair of files loads as a model that matches its card, or fails with an error.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use fusionlab::model::checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (config, weights) = rest.split_at(len);
    let dir = scratch::dir().join("model");
    std::fs::create_dir_all(&dir).expect("create the model folder");
    std::fs::write(dir.join("config.json"), config).expect("write config.json");
    std::fs::write(dir.join("model.safetensors"), weights).expect("write the weights");
    let _ = checkpoint::load(&dir, &candle_core::Device::Cpu);
});
