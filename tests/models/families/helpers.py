"""Shared checks for family adapters: capture vs eager, layout by construction, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from vrprobe.capture.engine import CaptureRequest, generate_with_capture
from vrprobe.capture.prefill import CACHE_KWARG
from vrprobe.store.shards import read_shards

TOL = 1e-5
RECORDS_MD = Path(__file__).resolve().parents[3] / "docs" / "records.md"


def noise_image(size_wh: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray(rng.randint(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8))


def box_image(size_wh: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """Black image, white inside ``box`` (original pixels, xyxy edges)."""
    w, h = size_wh
    pixels = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


def eager_reference(model, inputs: dict, steps: int):
    with torch.no_grad():
        return model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=steps,
            output_attentions=True,
            return_dict_in_generate=True,
        )


def assert_capture_matches_eager(model, inputs: dict, request: CaptureRequest, ref, steps: int):
    """Tokens identical; every step's and layer's image row and section shares match eager's
    head-averaged last query row (a windowed layer's keys right-aligned on all keys)."""
    res = generate_with_capture(model, inputs, request, max_new_tokens=steps, do_sample=False)
    p = inputs["input_ids"].shape[1]
    assert res.new_tokens.tolist() == ref.sequences[0, p:].tolist()
    n_rows = len(res.new_tokens)
    n_layers = len(ref.attentions[0])
    assert n_rows == len(ref.attentions) and n_layers > 0  # eager attentions are not empty
    assert res.image_attention.shape == (n_rows, n_layers, len(request.image_positions))
    windowed = 0
    for t in range(n_rows):
        for layer in range(n_layers):
            got = ref.attentions[t][layer][0, :, -1].mean(0).double().numpy()
            row = np.zeros(p + t)
            row[p + t - len(got) :] = got
            windowed += len(got) < p + t
            np.testing.assert_allclose(
                res.image_attention[t, layer], row[request.image_positions], atol=TOL, rtol=0
            )
            for name, pos in request.sections.items():
                assert abs(res.section_shares[name][t, layer] - row[pos].sum()) <= TOL
            assert abs(res.section_shares["generated"][t, layer] - row[p:].sum()) <= TOL
    return res, windowed


def cell_means(canvas: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows, cols) mean of a (H, W) canvas whose sides are multiples of the grid."""
    h, w = canvas.shape
    return canvas.reshape(rows, h // rows, cols, w // cols).mean(axis=(1, 3))


def unnormalise(pixel_values: np.ndarray, image_processor) -> np.ndarray:
    """(C, H, W) normalised pixels -> (H, W) brightness in [0, 1]."""
    mean = np.array(image_processor.image_mean)[:, None, None]
    std = np.array(image_processor.image_std)[:, None, None]
    return (pixel_values * std + mean).mean(0)


def assert_cells_follow_pixels(layout, box, means_per_tile: dict[int, np.ndarray]) -> None:
    """For every tile with known canvas means, the three rules select exactly the cells whose
    model-input brightness says so (any > 0.05, half > 0.45, all > 0.95)."""
    tile, row, col = layout.cells.T
    for rule, thr in (("any", 0.05), ("half", 0.45), ("all", 0.95)):
        got = set(layout.box_to_cells(box, rule).tolist())
        want = set()
        for i, means in means_per_tile.items():
            on = np.flatnonzero((tile == i) & (row >= 0))
            want |= {int(k) for k in on if means[row[k], col[k]] > thr}
        got_on = {k for k in got if tile[k] in means_per_tile}
        assert got_on == want, (rule, sorted(got_on), sorted(want))


def assert_each_token_one_cell(layout) -> None:
    cells = [tuple(c) for c in layout.cells.tolist() if c[1] >= 0]
    assert len(cells) == len(set(cells))  # no cell twice
    per_tile = {}
    for t, r, c in cells:
        per_tile.setdefault(t, set()).add((r, c))
    for t, got in per_tile.items():
        rows, cols = layout.grids[t]
        assert got == {(r, c) for r in range(rows) for c in range(cols)}, t  # every cell once
    assert len(layout.positions) == len(layout.cells) == len(set(layout.positions.tolist()))


def write_task(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (w, h) in enumerate(sizes):
        name = f"img{i}.png"
        box = (w // 4, h // 4, w // 2, h // 2)
        box_image((w, h), box).save(folder / name)
        rows.append({"id": f"s{i}", "image": name, "question": "what colour is the box?",
                     "answers": ["white"], "evidence_boxes": [list(box)]})  # fmt: skip
    manifest = folder / "task.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return manifest


def signal_columns() -> list[str]:
    """Every column named in docs/records.md's signal table."""
    text = RECORDS_MD.read_text().split("## Signal columns", 1)[1]
    names = []
    for line in text.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return names


def run_end_to_end(model_dir: Path, tmp_path: Path, sizes: list[tuple[int, int]]) -> list[dict]:
    """`vrprobe run --model DIR` in-process on a small task; all signal columns written."""
    from vrprobe.cli import app

    task = write_task(tmp_path / "task", sizes)
    out = tmp_path / "run"
    args = ["run", "--model", str(model_dir), "--task", str(task), "--limit", str(len(sizes)),
            "--samples", "2", "--max-new-tokens", "4", "--out", str(out), "--no-progress",
            "--no-report"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    records = read_shards(out / "records").to_pylist()
    assert len(records) == len(sizes)
    for rec in records:
        assert rec["error"] is None, rec["error"]
        missing = [c for c in signal_columns() if c not in rec]
        assert not missing, missing
        for col in ("spatial_entropy", "vam", "evidence_mass", "layer_maps", "mean_map",
                    "evidence_cells", "step_entropy", "sc_share", "hidden_prompt",
                    "layer_truth_margin", "layer_evidence_auroc"):  # fmt: skip
            assert rec[col] is not None, col
        assert rec["grid_rows"] * rec["grid_cols"] <= len(rec["mean_map"])
    return records


def assert_shared_prefill_exact(loaded, prep, steps: int) -> None:
    """Greedy continuation from the adapter's shared prefill equals plain `generate`, and its
    first-step logits equal a full forward's last row."""
    from vrprobe.capture.prefill import prefill
    from vrprobe.capture.sampling import greedy_from_cache

    model, adapter = loaded.model, loaded.adapter
    opts = {"bidirectional_prompt": adapter.bidirectional_prompt,
            "position_offset": adapter.position_offset}  # fmt: skip
    with torch.no_grad():
        plain = model.generate(**prep.inputs, do_sample=False, max_new_tokens=steps)
        cache = prefill(model, prep.inputs, **opts)
        shared = greedy_from_cache(model, prep.inputs, cache, max_new_tokens=steps)
        out = model.generate(**{k: v for k, v in prep.inputs.items() if k in ("input_ids",
                             "attention_mask", "token_type_ids")}, **{CACHE_KWARG: cache},
                             do_sample=False, max_new_tokens=1, output_logits=True,
                             return_dict_in_generate=True)  # fmt: skip
        full = model(**prep.inputs).logits[0, -1]
    assert len(shared) > 0
    assert shared.tolist() == plain[0, prep.prompt_len :].tolist()[: len(shared)]
    torch.testing.assert_close(out.logits[0][0], full, atol=1e-5, rtol=0)


def assert_full_processor_preferred(adapter, source, full, monkeypatch, fallback=True) -> None:
    """With torchvision, ``AutoProcessor`` yields the stock processor: the adapter returns it
    unchanged (simulated). A bare tokenizer makes a ``fallback`` adapter build the image-only
    processor; otherwise loading refuses it with a clear error."""
    import transformers

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", lambda *a, **k: full)
    assert adapter.load_processor(str(source)) is full
    bare = full.tokenizer
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", lambda *a, **k: bare)
    if fallback:
        built = adapter.load_processor(str(source))
        assert built is not bare and hasattr(built, "image_processor")
    else:
        from vrprobe.models.loading import ModelLoadError, load_model

        with pytest.raises(ModelLoadError, match="only a"):
            load_model(str(source))
