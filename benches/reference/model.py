"""PyTorch mirror of fusionlab's default network (src/model): attention fusion, GRU text encoder;
also the cross-modal transformer fusion, the slowest method to train (``--fusion crossmodal``).

Same layers, sizes and parameter counts as the Rust model built by ``TrainConfig::default()``:

* image: 2x2 patch convolution (stride 2) -> 3x3 conv -> 2x2 max-pool -> 3x3 conv (ReLU after
  each) -> an S/4 x S/4 map of D-wide tokens -> additive attention pooling.
  The Rust side writes these convolutions as patchify / im2col + one matmul on channel-last maps;
  ``nn.Conv2d`` computes the same function with the same number of parameters (only the order of
  the weight entries differs: Rust flattens (ky, kx, c_in), PyTorch (c_in, ky, kx)).
* text: word embedding -> bidirectional GRU (D/2 per direction, PyTorch gate order) -> pooling.
  Rust steps a masked GRU over right-padded ids (padding keeps the state); ``nn.GRU`` over a
  packed sequence gives the same states at every real token (padding positions differ, but the
  pooling gives them weight exactly 0). ``GruLoop`` is a literal port of the Rust loop.
* audio: per-clip standardised log-mel (first multiple-of-4 frames) -> 4x4 patch conv (stride 4)
  -> 3x3 conv -> max-pool over mel -> 3x3 conv -> one token per frame (Linear over mel x channels)
  -> pooling.
* fusion: alpha = masked_softmax(w^T tanh(W z_m)) over the three embeddings, weighted sum,
  Linear + ReLU, Linear head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@dataclass
class Config:
    """Mirror of ``ModelConfig`` (defaults of ``ModelConfig::new`` / ``TrainConfig::default``)."""

    classes: int = 4
    vocab_size: int = 62
    embed_dim: int = 64
    hidden: int = 64
    image_size: int = 32
    image_channels: tuple[int, int] = (16, 32)
    mel_bins: int = 64
    frames: int = 98
    audio_channels: tuple[int, int, int] = (16, 32, 32)
    max_tokens: int = 32
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_rust(cls, model: dict) -> "Config":
        """From the ``model`` object that the Rust bench writes into rust.json."""
        return cls(
            classes=model["classes"],
            vocab_size=model["vocab_size"],
            embed_dim=model["embed_dim"],
            hidden=model["hidden"],
            image_size=model["image_size"],
            image_channels=tuple(model["image_channels"]),
            mel_bins=model["mel_bins"],
            frames=model["frames"],
            audio_channels=tuple(model["audio_channels"]),
            max_tokens=model["max_tokens"],
        )


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis with exactly zero weight where ``mask`` is 0 (layers.rs)."""
    penalty = (mask - 1.0) * 1e4
    return torch.softmax(scores + penalty, dim=-1) * mask


class AttentionPool(nn.Module):
    """alpha = softmax(v^T tanh(W x)) over unmasked positions; output sum_t alpha_t x_t."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.key = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor):
        scores = self.score(torch.tanh(self.key(tokens))).squeeze(-1)
        weights = masked_softmax(scores, mask)
        return (tokens * weights.unsqueeze(-1)).sum(1), weights


class ImageEncoder(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        c1, c2 = cfg.image_channels
        d = cfg.embed_dim
        self.patch = nn.Conv2d(3, c1, kernel_size=2, stride=2)  # = Linear(3*4, c1) on 2x2 patches
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)  # = Conv3x3: Linear(9*c1, c2)
        self.conv3 = nn.Conv2d(c2, d, kernel_size=3, padding=1)
        self.pool = AttentionPool(d, d // 2)

    def forward(self, image: torch.Tensor, present: torch.Tensor):
        x = F.relu(self.patch(image))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))  # B x D x S/4 x S/4
        tokens = x.flatten(2).transpose(1, 2)  # B x N x D, positions row-major
        mask = present.unsqueeze(1).expand(-1, tokens.shape[1])
        emb, att = self.pool(tokens, mask)
        return tokens, mask, emb, att


class GruLoop(nn.Module):
    """A literal port of the Rust ``GruDirection`` pair: masked steps keep the state."""

    def __init__(self, inputs: int, size: int):
        super().__init__()
        self.size = size
        self.fw_input = nn.Linear(inputs, 3 * size)
        self.fw_hidden = nn.Linear(size, 3 * size)
        self.bw_input = nn.Linear(inputs, 3 * size)
        self.bw_hidden = nn.Linear(size, 3 * size)

    def _direction(self, x, mask, lin_in, lin_h, reverse):
        b, t, _ = x.shape
        s = self.size
        gates_in = lin_in(x)
        h = x.new_zeros(b, s)
        states = [None] * t
        for step in (reversed(range(t)) if reverse else range(t)):
            gi = gates_in[:, step]
            gh = lin_h(h)
            r = torch.sigmoid(gi[:, :s] + gh[:, :s])
            z = torch.sigmoid(gi[:, s : 2 * s] + gh[:, s : 2 * s])
            n = torch.tanh(gi[:, 2 * s :] + r * gh[:, 2 * s :])
            candidate = n - z * n + z * h
            m = mask[:, step : step + 1]
            h = h * (1.0 - m) + candidate * m
            states[step] = h
        return torch.stack(states, 1)

    def forward(self, x, mask):
        fw = self._direction(x, mask, self.fw_input, self.fw_hidden, False)
        bw = self._direction(x, mask, self.bw_input, self.bw_hidden, True)
        return torch.cat([fw, bw], -1)

    def load_from_gru(self, gru: nn.GRU) -> None:
        """Copy the weights of a bidirectional one-layer ``nn.GRU`` (same gate order)."""
        with torch.no_grad():
            for suffix, lin_in, lin_h in (("", self.fw_input, self.fw_hidden), ("_reverse", self.bw_input, self.bw_hidden)):
                lin_in.weight.copy_(getattr(gru, "weight_ih_l0" + suffix))
                lin_in.bias.copy_(getattr(gru, "bias_ih_l0" + suffix))
                lin_h.weight.copy_(getattr(gru, "weight_hh_l0" + suffix))
                lin_h.bias.copy_(getattr(gru, "bias_hh_l0" + suffix))


class TextEncoder(nn.Module):
    def __init__(self, cfg: Config, gru: str = "packed"):
        super().__init__()
        d = cfg.embed_dim
        self.embed = nn.Embedding(max(cfg.vocab_size, 2), d)
        self.mode = gru
        if gru == "packed":
            self.gru = nn.GRU(d, d // 2, batch_first=True, bidirectional=True)
        elif gru == "loop":
            self.gru = GruLoop(d, d // 2)
        else:
            raise ValueError(f"unknown GRU mode {gru!r}; choose packed or loop")
        self.pool = AttentionPool(d, d // 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor):
        x = self.embed(ids)
        if self.mode == "packed":
            # Right-padded rows: packing runs each direction over the real tokens only, which is
            # what the Rust masked loop does. Empty rows (absent text) get length 1; their
            # pooling mask is all zero, so they still come out as zero embeddings.
            lengths = mask.sum(1).to(torch.int64).clamp(min=1).cpu()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            tokens, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        else:
            tokens = self.gru(x, mask)
        emb, att = self.pool(tokens, mask)
        return tokens, mask, emb, att


class AudioEncoder(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        c1, c2, c3 = cfg.audio_channels
        d = cfg.embed_dim
        self.frames = cfg.frames // 4 * 4
        self.patch = nn.Conv2d(1, c1, kernel_size=4, stride=4)  # = Linear(16, c1) on 4x4 patches
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, kernel_size=3, padding=1)
        self.frame = nn.Linear(c3 * (cfg.mel_bins // 8), d)
        self.pool = AttentionPool(d, d // 2)

    def forward(self, audio: torch.Tensor, present: torch.Tensor):
        b = audio.shape[0]
        x = audio[:, :, : self.frames]
        mean = x.mean(dim=(1, 2), keepdim=True)
        centred = x - mean
        std = (centred.square().mean(dim=(1, 2), keepdim=True) + 1e-4).sqrt()
        x = (centred / std).unsqueeze(1)  # B x 1 x mels x frames
        x = F.relu(self.patch(x))  # B x c1 x mels/4 x frames/4
        x = F.max_pool2d(F.relu(self.conv2(x)), kernel_size=(2, 1))  # pool over mel only
        x = F.relu(self.conv3(x))  # B x c3 x mels/8 x T
        _, c, m, t = x.shape
        frames = x.permute(0, 3, 2, 1).reshape(b, t, m * c)  # per frame: (mel, channel) as in Rust
        tokens = F.relu(self.frame(frames))
        mask = present.unsqueeze(1).expand(-1, t)
        emb, att = self.pool(tokens, mask)
        return tokens, mask, emb, att


class AttentionFusion(nn.Module):
    """``FusionKind::Attention`` plus its classifier head."""

    def __init__(self, cfg: Config):
        super().__init__()
        d, h = cfg.embed_dim, cfg.hidden
        self.key = nn.Linear(d, d // 2)
        self.score = nn.Linear(d // 2, 1, bias=False)
        self.hidden = nn.Linear(d, h)
        self.head = nn.Linear(h, cfg.classes)

    def forward(self, z: list[torch.Tensor], present: torch.Tensor):
        stacked = torch.stack(z, 1)  # B x 3 x D
        e = self.score(torch.tanh(self.key(stacked))).squeeze(2)
        alpha = masked_softmax(e, present)
        h = (stacked * alpha.unsqueeze(2)).sum(1)
        fused = F.relu(self.hidden(h))
        return self.head(fused), fused, alpha


class TransformerLayer(nn.Module):
    """``layers::TransformerLayer``: pre-norm, key-padding mask, GELU (tanh) feed-forward of 2·D."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        b, n, d = x.shape
        hd = d // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(-1, -2) / hd**0.5
        attn = masked_softmax(scores, mask.reshape(b, 1, 1, n))
        mixed = (attn @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.out(mixed)
        x = x + self.ff2(F.gelu(self.ff1(self.norm2(x)), approximate="tanh"))
        return x, attn


class CrossModalFusion(nn.Module):
    """``FusionKind::CrossModal``: [CLS] plus every modality's projected tokens (with a modality
    embedding) through one transformer layer; the head reads [CLS]."""

    def __init__(self, cfg: Config, heads: int = 4, layers: int = 1):
        super().__init__()
        d = cfg.embed_dim
        self.project = nn.ModuleList([nn.Linear(d, d) for _ in range(3)])
        self.kinds = nn.Parameter(torch.randn(3, d) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.layers = nn.ModuleList([TransformerLayer(d, heads) for _ in range(layers)])
        self.head = nn.Linear(d, cfg.classes)

    def forward(self, enc, present: torch.Tensor):
        b = present.shape[0]
        tokens = [self.cls.expand(b, 1, -1)]
        masks = [present.new_ones(b, 1)]
        lengths = []
        for m, p in enumerate(self.project):
            t = p(enc[m][0]) + self.kinds[m]
            lengths.append(t.shape[1])
            tokens.append(t)
            masks.append(enc[m][1] * present[:, m : m + 1])
        x, mask = torch.cat(tokens, 1), torch.cat(masks, 1)
        for layer in self.layers:
            x, attn = layer(x, mask)
        row = attn[:, :, 0, :].mean(1)
        totals, start = [], 1
        for n in lengths:
            totals.append(row[:, start : start + n].sum(1, keepdim=True))
            start += n
        totals = torch.cat(totals, 1)
        weights = totals / (totals.sum(1, keepdim=True) + 1e-12)
        fused = x[:, 0]
        return self.head(fused), fused, weights


class FusionModel(nn.Module):
    def __init__(self, cfg: Config, gru: str = "packed", fusion: str = "attention"):
        super().__init__()
        self.cfg = cfg
        self.image = ImageEncoder(cfg)
        self.text = TextEncoder(cfg, gru)
        self.audio = AudioEncoder(cfg)
        self.kind = fusion
        self.fusion = CrossModalFusion(cfg) if fusion == "crossmodal" else AttentionFusion(cfg)

    def encode(self, image, text_ids, text_mask, audio, present):
        """As ``FusionModel::encode``: an encoder whose modality no sample has is skipped."""
        b = present.shape[0]
        d = self.cfg.embed_dim
        any_present = (present > 0).any(0).tolist()

        def empty(n):
            zeros = present.new_zeros(b, n)
            return present.new_zeros(b, n, d), zeros, present.new_zeros(b, d), zeros

        side = self.cfg.image_size // 4
        img = self.image(image, present[:, 0]) if any_present[0] else empty(side * side)
        txt = (
            self.text(text_ids, text_mask * present[:, 1:2])
            if any_present[1]
            else empty(text_ids.shape[1])
        )
        aud = self.audio(audio, present[:, 2]) if any_present[2] else empty(self.cfg.frames // 4)
        return [img, txt, aud]

    def fuse(self, enc, present):
        if self.kind == "crossmodal":
            return self.fusion(enc, present)
        return self.fusion([e[2] for e in enc], present)

    def fuse_masked(self, enc, present, keep):
        """Logits with only the modalities in ``keep`` (``FusionModel::fuse_masked``)."""
        mask = present * present.new_tensor([[1.0 if k else 0.0 for k in keep]])
        if self.kind == "crossmodal":
            return self.fusion(enc, mask)[0]
        z = [e[2] * mask[:, m : m + 1] for m, e in enumerate(enc)]
        return self.fusion(z, mask)[0]

    def forward(self, image, text_ids, text_mask, audio, present):
        enc = self.encode(image, text_ids, text_mask, audio, present)
        logits, fused, alpha = self.fuse(enc, present)
        return logits, fused, alpha, enc


def parameter_groups(model: nn.Module) -> dict[str, int]:
    groups: dict[str, int] = {}
    for name, p in model.named_parameters():
        key = name.split(".")[0]
        groups[key] = groups.get(key, 0) + p.numel()
    return groups


def check_gru_equivalence(cfg: Config, seed: int = 0) -> float:
    """Max |difference| of the pooled text embeddings between nn.GRU (packed) and the Rust-style
    masked loop with the same weights, on right-padded ids of varying length."""
    torch.manual_seed(seed)
    packed = TextEncoder(cfg, "packed")
    loop = TextEncoder(cfg, "loop")
    loop.embed.load_state_dict(packed.embed.state_dict())
    loop.pool.load_state_dict(packed.pool.state_dict())
    loop.gru.load_from_gru(packed.gru)
    b, length = 6, 9
    lengths = torch.tensor([9, 1, 4, 7, 3, 0])
    ids = torch.randint(2, max(cfg.vocab_size, 3), (b, length))
    mask = (torch.arange(length)[None, :] < lengths[:, None]).float()
    ids = ids * mask.long()
    with torch.no_grad():
        a = packed(ids, mask)
        c = loop(ids, mask)
    return max((a[2] - c[2]).abs().max().item(), (a[3] - c[3]).abs().max().item())
