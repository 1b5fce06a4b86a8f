"""Reference outputs of EfficientNet-Lite0 for fusionlab's pretrained-image tests.

An independent PyTorch implementation of the network (torch.nn.functional only, not our Rust
code). It loads the package's legacy .pth with torch.load, preprocesses the two committed photos
(tests/fixtures/pretrained/{chelsea,coffee}.png) with PIL exactly as
`EfficientNetLite0::preprocess` does (centre crop to a square of 224/256 of the shorter side,
BILINEAR resize to 224x224, RGB scaled to [-1, 1]), saves the 224x224 crops as
`efficientnet_<name>_224.png` (the Rust logits test reads those, so the two resizers never need to agree),
and writes tests/fixtures/pretrained/efficientnet_reference.json: per image the 1000 logits
(float32 printed to 7 significant digits) and the top-5 (index, class name, probability).

    /tmp/refvenv/bin/python python/reference/efficientnet.py PATH_TO/efficientnet-lite0-57934424.pth

`--bench THREADS` instead times the forward at batch 1 and 32 with that many torch threads.
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/pretrained"
CLASSES = (ROOT / "assets/imagenet_classes.txt").read_text().splitlines()
EPS = 1e-3
# EfficientNet-B0 strides per block (the stem has stride 2 too); kernel sizes come from the weights.
STRIDE2_BLOCKS = {1, 3, 5, 11}
SIZE = 224


def same_pad(x, k, s):
    """TF "SAME" padding: total max((ceil(in/s)-1)*s + k - in, 0), less on the top/left."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


def conv_bn(x, sd, conv, bn, stride=1, groups=1, act=True):
    w = sd[conv + ".weight"]
    x = F.conv2d(same_pad(x, w.shape[-1], stride), w, stride=stride, groups=groups)
    x = F.batch_norm(x, sd[bn + ".running_mean"], sd[bn + ".running_var"], sd[bn + ".weight"],
                     sd[bn + ".bias"], training=False, eps=EPS)
    return F.relu6(x) if act else x


def forward(sd, x):
    """Logits [B, 1000] and the [B, 1280, 7, 7] feature map."""
    x = conv_bn(x, sd, "_conv_stem", "_bn0", stride=2)
    n = 0
    while f"_blocks.{n}._depthwise_conv.weight" in sd:
        p = f"_blocks.{n}."
        inp = x
        if p + "_expand_conv.weight" in sd:
            x = conv_bn(x, sd, p + "_expand_conv", p + "_bn0")
        s = 2 if n in STRIDE2_BLOCKS else 1
        x = conv_bn(x, sd, p + "_depthwise_conv", p + "_bn1", stride=s, groups=x.shape[1])
        x = conv_bn(x, sd, p + "_project_conv", p + "_bn2", act=False)
        if s == 1 and x.shape == inp.shape:
            x = x + inp
        n += 1
    feats = conv_bn(x, sd, "_conv_head", "_bn1")
    logits = F.linear(feats.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])
    return logits, feats


def crop_resize(img):
    """Centre square of 224/256 of the shorter side (integer box), BILINEAR to 224x224."""
    w, h = img.size
    side = min(w, h) * SIZE // 256
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BILINEAR)


def to_input(img):
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy((a - 0.5) / 0.5).permute(2, 0, 1).unsqueeze(0).contiguous()


def bench(sd, threads):
    torch.set_num_threads(threads)
    for batch in (1, 32):
        x = torch.randn(batch, 3, SIZE, SIZE)
        with torch.no_grad():
            forward(sd, x)
            runs = 20 if batch == 1 else 3
            t = time.perf_counter()
            for _ in range(runs):
                forward(sd, x)
            dt = (time.perf_counter() - t) / runs / batch
        print(f"torch {threads} threads, batch {batch}: {dt * 1e3:.2f} ms per image")


def main():
    sd = {k: v.float() for k, v in torch.load(sys.argv[1], map_location="cpu", weights_only=False).items()}
    if len(sys.argv) > 3 and sys.argv[2] == "--bench":
        return bench(sd, int(sys.argv[3]))
    out = {"model": "efficientnet-lite0-57934424.pth", "input": "efficientnet_<name>_224.png, RGB (x/255-0.5)/0.5",
           "images": {}}
    for name in ("chelsea", "coffee"):
        small = crop_resize(Image.open(FIXTURES / f"{name}.png").convert("RGB"))
        small.save(FIXTURES / f"efficientnet_{name}_224.png")
        with torch.no_grad():
            logits, feats = forward(sd, to_input(small))
        assert feats.shape == (1, 1280, 7, 7)
        probs = logits[0].softmax(0)
        top = probs.topk(5)
        out["images"][name] = {
            "top5": [[int(i), CLASSES[i], round(float(p), 6)] for p, i in zip(top.values, top.indices)],
            "logits": [float(f"{v:.7g}") for v in logits[0].tolist()],
        }
        print(name, out["images"][name]["top5"])
    (FIXTURES / "efficientnet_reference.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
