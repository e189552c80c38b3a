"""Train the bundled demo VLM and save it into `src/vrprobe/assets/demo` (deterministic).

Recipe (see /work/shared/DEMO.md): a tiny LLaVA (CLIP vision tower + Llama decoder, ~1.9M
parameters) trained from scratch on the synthetic `shapes` task, two CPU threads.

* Stage 1 (300 steps): the vision tower alone with auxiliary per-patch heads (colour, kind,
  grid position).
* Stage 2 (2,000 steps): end to end, answer-token loss + 0.3 × the auxiliary loss, AdamW,
  warm-up + cosine, curriculum with the "easy" pool (P(easy) 0.8 → 0.1 by half-way).

The auxiliary heads are dropped at save time; weights are rounded to fp16 (and saved so), the
model is evaluated after rounding, and the saved copy is reloaded and checked to give the same
logits. Usage::

    python scripts/train_demo.py                 # 14.6 min wall on 2 cores measured here
    python scripts/train_demo.py --stage1-steps 20 --stage2-steps 20 --out /tmp/demo  # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from vrprobe.models.demo import (
    DEMO_DIR,
    IMAGE_TOKEN,
    NUM_IMAGE_TOKENS,
    answer_questions,
    build_demo_config,
    build_demo_processor,
    build_demo_tokenizer,
    demo_prompt,
)
from vrprobe.tasks.shapes import QUESTION_TYPES, SPLIT_SEEDS, make_sample
from vrprobe.tasks.shapes_render import COLOUR_NAMES, KINDS, patch_labels

TRAIN_POOL = 60_000
EASY_POOL = 20_000
AUX_WEIGHT = 0.3
MEAN = np.asarray(OPENAI_CLIP_MEAN, dtype=np.float32)
STD = np.asarray(OPENAI_CLIP_STD, dtype=np.float32)


class AuxHeads(nn.Module):
    """Per-patch classifiers on the vision tower's patch features: colour, kind, grid cell."""

    def __init__(self, hidden: int, n_patches: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.colour = nn.Linear(hidden, 1 + len(COLOUR_NAMES))
        self.kind = nn.Linear(hidden, 1 + len(KINDS))
        self.pos = nn.Linear(hidden, n_patches)

    def forward(self, feats: torch.Tensor, colour: torch.Tensor, kind: torch.Tensor):
        h = self.norm(feats)
        n = feats.shape[1]
        pos = torch.arange(n).expand(feats.shape[0], n)
        ce = nn.functional.cross_entropy
        lc = self.colour(h)
        lk = self.kind(h)
        loss = ce(lc.flatten(0, 1), colour.flatten()) + ce(lk.flatten(0, 1), kind.flatten())
        loss = loss + ce(self.pos(h).flatten(0, 1), pos.flatten())
        fg = colour > 0
        acc = ((lc.argmax(-1) == colour) & (lk.argmax(-1) == kind) & fg).sum() / fg.sum().clamp(
            min=1
        )
        return loss, float(acc)


class Batcher:
    """Builds training batches from (seed, index, easy) draws; caches prompt token ids."""

    def __init__(self, processor, seed: int = 1234):
        self.processor = processor
        self.tok = processor.tokenizer
        self.rng = np.random.default_rng(seed)
        self.prompt_cache: dict[str, list[int]] = {}
        self.eos = self.tok.eos_token_id

    def prompt_ids(self, question: str) -> list[int]:
        ids = self.prompt_cache.get(question)
        if ids is None:
            text = demo_prompt(self.processor, question)
            text = text.replace(IMAGE_TOKEN, IMAGE_TOKEN * NUM_IMAGE_TOKENS)
            ids = self.tok(text, add_special_tokens=False)["input_ids"]
            self.prompt_cache[question] = ids
        return ids

    def draw(self, batch_size: int, p_easy: float):
        samples = []
        for _ in range(batch_size):
            if self.rng.random() < p_easy:
                samples.append(
                    make_sample(SPLIT_SEEDS["easy"], int(self.rng.integers(EASY_POOL)), True)
                )
            else:
                samples.append(
                    make_sample(SPLIT_SEEDS["train"], int(self.rng.integers(TRAIN_POOL)))
                )
        return self.collate(samples)

    def collate(self, samples):
        pix = np.stack([np.asarray(s.image, dtype=np.float32) / 255.0 for s in samples])
        pix = ((pix - MEAN) / STD).transpose(0, 3, 1, 2)
        colour, kind = zip(*(patch_labels(s.meta["shapes"]) for s in samples), strict=True)
        seqs, n_prompt = [], []
        for s in samples:
            ids = self.prompt_ids(s.question)
            answer = self.tok.convert_tokens_to_ids(s.answers[0])
            seqs.append([*ids, answer, self.eos])
            n_prompt.append(len(ids))
        width = max(map(len, seqs))
        input_ids = torch.full((len(seqs), width), self.tok.pad_token_id)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        labels = torch.full((len(seqs), width), -100)
        for i, (seq, n) in enumerate(zip(seqs, n_prompt, strict=True)):
            input_ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
            labels[i, n : len(seq)] = torch.tensor(seq[n:])
        return {
            "pixel_values": torch.from_numpy(np.ascontiguousarray(pix)),
            "input_ids": input_ids,
            "attention_mask": mask,
            "labels": labels,
            "colour": torch.from_numpy(np.stack(colour)),
            "kind": torch.from_numpy(np.stack(kind)),
        }


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def evaluate(model, processor, split: str, n: int) -> dict[str, float]:
    samples = [make_sample(SPLIT_SEEDS[split], i) for i in range(n)]
    model.eval()
    preds = answer_questions(
        model, processor, [s.image for s in samples], [s.question for s in samples]
    )
    model.train()
    hits = defaultdict(list)
    for s, p in zip(samples, preds, strict=True):
        ok = p in s.answers
        hits[s.question_type].append(ok)
        hits["overall"].append(ok)
        if s.meta["small_target"] is not None:
            hits["small" if s.meta["small_target"] else "large"].append(ok)
    return {k: float(np.mean(v)) for k, v in hits.items()}


def fmt(acc: dict[str, float]) -> str:
    keys = [*QUESTION_TYPES, "overall", "small", "large"]
    return "  ".join(f"{k} {acc[k]:.3f}" for k in keys if k in acc)


def param_groups(modules, weight_decay: float, scale: float = 1.0) -> list[dict]:
    """AdamW groups (learning-rate multiplier `scale`): no decay on embeddings, norms, biases."""
    decay, no_decay = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if p.ndim < 2 or "embed" in name or "norm" in name:
                no_decay.append(p)
            else:
                decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "scale": scale},
        {"params": no_decay, "weight_decay": 0.0, "scale": scale},
    ]


def build(seed: int = 0):
    """Tokenizer, processor, freshly initialised model (seeded), aux heads and batcher."""
    torch.manual_seed(seed)
    tokenizer = build_demo_tokenizer()
    processor = build_demo_processor(tokenizer)
    config = build_demo_config(tokenizer)
    model = LlavaForConditionalGeneration(config)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.generation_config, key, getattr(config.text_config, key))
    model.generation_config.max_new_tokens = 8
    model.generation_config.do_sample = False
    heads = AuxHeads(config.vision_config.hidden_size, NUM_IMAGE_TOKENS)
    batcher = Batcher(processor, seed=1234 + seed)

    # The fast pixel path and the training prompts must equal the processor's.
    probe = [make_sample(SPLIT_SEEDS["train"], i) for i in range(4)]
    ref = processor(
        images=[s.image for s in probe],
        text=[demo_prompt(processor, s.question) for s in probe],
        return_tensors="pt",
        padding=True,
    )
    mine = batcher.collate(probe)
    assert torch.allclose(ref["pixel_values"], mine["pixel_values"], atol=1e-5)
    for i, s in enumerate(probe):
        row = ref["input_ids"][i][ref["attention_mask"][i].bool()].tolist()
        assert row == batcher.prompt_ids(s.question), "training prompt differs from the processor's"
    return processor, model, heads, batcher


def stage1(model, heads, batcher, steps: int, clock, lr: float = 2e-3, batch_size: int = 64):
    """Train the vision tower alone on the per-patch auxiliary labels."""
    vision = model.model.vision_tower
    params = [*vision.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(param_groups([vision, heads], 0.05), lr=lr)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, max(1, steps // 10))
        b = batcher.draw(batch_size, p_easy=0.0)
        feats = vision(b["pixel_values"]).last_hidden_state[:, 1:]
        loss, acc = heads(feats, b["colour"], b["kind"])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"stage1 {step:4d} aux {loss.item():.3f} fg-acc {acc:.3f} {clock()}", flush=True)


def stage2(
    model,
    heads,
    processor,
    batcher,
    steps: int,
    clock,
    lr: float = 1e-3,
    batch_size: int = 32,
    eval_every: int = 300,
    stop_at: int | None = None,
    vision_lr_scale: float = 1.0,
):
    """Train end to end: answer-token loss + AUX_WEIGHT × aux loss, easy-to-hard curriculum."""
    vision = model.model.vision_tower
    captured = {}
    hook = vision.register_forward_hook(lambda _m, _a, out: captured.__setitem__("v", out))
    params = [*model.parameters(), *heads.parameters()]
    rest = [model.model.multi_modal_projector, model.model.language_model, model.lm_head, heads]
    groups = param_groups([vision], 0.05, vision_lr_scale) + param_groups(rest, 0.05)
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in params)
    opt = torch.optim.AdamW(groups, lr=lr)
    for step in range(steps if stop_at is None else min(steps, stop_at)):
        for g in opt.param_groups:
            g["lr"] = g["scale"] * lr_at(step, steps, lr, min(100, max(1, steps // 10)))
        p_easy = max(0.1, 0.8 - 0.7 * step / max(1, steps / 2))
        b = batcher.draw(batch_size, p_easy=p_easy)
        out = model(
            pixel_values=b["pixel_values"],
            input_ids=b["input_ids"],
            attention_mask=b["attention_mask"],
        )
        logits = out.logits[:, :-1]
        target = b["labels"][:, 1:]
        ans_loss = nn.functional.cross_entropy(
            logits.flatten(0, 1), target.flatten(), ignore_index=-100
        )
        aux, acc = heads(captured["v"].last_hidden_state[:, 1:], b["colour"], b["kind"])
        loss = ans_loss + AUX_WEIGHT * aux
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(
                f"stage2 {step:4d} answer {ans_loss.item():.3f} aux {aux.item():.3f} "
                f"fg-acc {acc:.3f} p_easy {p_easy:.2f} {clock()}",
                flush=True,
            )
        if eval_every and step > 0 and step % eval_every == 0:
            acc_val = evaluate(model, processor, "validation", 300)
            print(f"  val@{step} (300): {fmt(acc_val)}", flush=True)
    hook.remove()


def save_and_check(model, processor, out: Path) -> float:
    """Save (weights as fp16), reload offline, return max |Δlogit| between the two models."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    weights = out / "model.safetensors"
    state = load_file(weights)
    save_file(
        {k: v.to(torch.float16) for k, v in state.items()}, weights, metadata={"format": "pt"}
    )
    reloaded = AutoModelForImageTextToText.from_pretrained(out).eval()
    proc2 = AutoProcessor.from_pretrained(out)
    assert type(proc2).__name__ == "LlavaProcessor", type(proc2)
    assert reloaded.dtype == torch.float32, reloaded.dtype
    check = [make_sample(SPLIT_SEEDS["validation"], i) for i in range(16)]
    inputs = proc2(
        images=[s.image for s in check],
        text=[demo_prompt(proc2, s.question) for s in check],
        return_tensors="pt",
        padding=True,
    )
    with torch.no_grad():
        return (model(**inputs).logits - reloaded(**inputs).logits).abs().max().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEMO_DIR)
    ap.add_argument("--stage1-steps", type=int, default=300)
    ap.add_argument("--stage2-steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--stage2-lr", type=float, default=1e-3)
    ap.add_argument("--vision-lr-scale", type=float, default=1.0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t0, c0 = time.time(), time.process_time()

    def clock() -> str:
        return f"[{time.time() - t0:.0f}s wall, {time.process_time() - c0:.0f}s cpu]"

    processor, model, heads, batcher = build(args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params / 1e6:.2f} M", flush=True)
    stage1(model, heads, batcher, args.stage1_steps, clock)
    stage2(
        model,
        heads,
        processor,
        batcher,
        args.stage2_steps,
        clock,
        lr=args.stage2_lr,
        eval_every=args.eval_every,
        vision_lr_scale=args.vision_lr_scale,
    )
    train_time, train_cpu = time.time() - t0, time.process_time() - c0

    # Round to fp16 (what is saved), evaluate, save, reload, compare.
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))
    val = evaluate(model, processor, "validation", 600)
    test = evaluate(model, processor, "test", 300)
    diff = save_and_check(model, processor, args.out)
    print(f"reload max |Δlogit| = {diff:.2e}", flush=True)
    assert diff == 0.0
    summary = {
        "train_seconds": round(train_time),
        "train_cpu_seconds": round(train_cpu),
        "validation_600": val,
        "test_300": test,
        "parameters": n_params,
        "stage1_steps": args.stage1_steps,
        "stage2_steps": args.stage2_steps,
    }
    print(json.dumps(summary, indent=1))
    print(f"validation (600): {fmt(val)}")
    print(f"test (300):       {fmt(test)}")
    print(f"saved to {args.out} [{time.time() - t0:.0f}s total]")


if __name__ == "__main__":
    main()
