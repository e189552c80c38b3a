"""The live reliability monitor: calibrate on a finished run, then check live requests.

    monitor = Monitor.calibrate("demo", "runs/val")       # or Monitor.load(folder, model="demo")
    monitor.save("monitor-demo")
    result = monitor.check("cat.png", "what colour is the circle ?", task_type="visual")
    result.answer, result.risk, result.veto.vetoed, result.veto.reason
    result.overlay().save("overlay.png")

A check is one greedy ``generate`` with the capture engine on (attention rows to the image,
section shares, token entropies and, when the probe is read, its hidden state, all recorded in
the same pass; no second forward), then the run's own signal functions
(:mod:`vrprobe.exec.measure`), the probe and the risk model
(:func:`vrprobe.monitor.decide.decide`). ``samples=K`` adds K sampled answers sharing the
prompt's prefill, as ``vrprobe run --samples K`` does.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from vrprobe.capture.engine import CaptureRequest, CaptureResult, generate_with_capture
from vrprobe.capture.prefill import SEQUENCE_KEYS, prefill, repeat_cache
from vrprobe.capture.sampling import sample_continuations
from vrprobe.exec import measure
from vrprobe.exec.answer import check_context, context_limit
from vrprobe.models.loading import LoadedModel, load_model, model_revision
from vrprobe.models.prepare import Prepared, prepare
from vrprobe.monitor.calibration import PROBE, Calibration, fit_calibration
from vrprobe.monitor.decide import check_task_type, decide
from vrprobe.monitor.files import load_calibration, save_calibration
from vrprobe.monitor.result import CheckResult, LazySignals
from vrprobe.signals import sections, spatial
from vrprobe.signals.consistency import consistency_signals
from vrprobe.tasks.base import SampleError
from vrprobe.tasks.images import READ_ERRORS, ImageRejected, read_rgb
from vrprobe.tasks.scoring import extract_answer

SPATIAL = ("spatial_entropy", "cluster_count", "early_entropy_drop", "late_entropy_rise")


class CheckInputError(ValueError):
    """A check's image, question or option is unusable; the message names it."""


def _loaded(model: str | LoadedModel) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def _image(image: str | Path | Image.Image) -> Image.Image:
    where = "the given PIL image" if isinstance(image, Image.Image) else f"image {image}"
    try:
        return read_rgb(image if isinstance(image, Image.Image) else Path(image))
    except ImageRejected as exc:
        raise CheckInputError(f"{where} refused: {exc}") from exc
    except READ_ERRORS as exc:
        raise CheckInputError(f"cannot read {where}: {exc}") from exc


def check_inputs(
    calibration: Calibration,
    image: str | Path | Image.Image,
    question: str,
    task_type: str,
    samples: int = 0,
) -> Image.Image:
    """The request's image as RGB, after checking every input a check takes; cheap, so that
    `vrprobe check` refuses bad input before the model loads.

    Raises :class:`CheckInputError` (unreadable image, empty question, negative ``samples``)
    or :class:`~vrprobe.monitor.decide.UnknownTaskType`.
    """
    check_task_type(calibration, task_type)
    if not isinstance(question, str) or not question.strip():
        raise CheckInputError("question is empty")
    if samples < 0:
        raise CheckInputError(f"samples must be >= 0, got {samples}")
    return _image(image)


class Monitor:
    """A calibration bound to a loaded model (see module docstring)."""

    def __init__(self, calibration: Calibration, model: LoadedModel) -> None:
        self.calibration, self.loaded = calibration, model
        self._check_model()
        self._context = context_limit(model)  # config reads are slow: once, not per check
        # the spatial maps are signals only when a risk model reads one of them
        self._spatial = bool({f for r in calibration.risk for f in r.features} & set(SPATIAL))

    def _check_model(self) -> None:
        cal, cfg = self.calibration, self.loaded.model.config
        text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        width = cal.model.get("hidden_size")
        if width is not None and width != text.hidden_size:
            raise ValueError(
                f"calibration probe expects hidden size {width}, model {self.loaded.name!r} "
                f"has {text.hidden_size}: calibrate on a run of this model"
            )
        n_layers = cal.probe and len(cal.probe["layer_aurocs"])
        if n_layers and n_layers != text.num_hidden_layers + 1:
            raise ValueError(
                f"calibration probe expects {n_layers - 1} decoder layers, model "
                f"{self.loaded.name!r} has {text.num_hidden_layers}"
            )
        try:
            revision = model_revision(self.loaded.name)
        except Exception:
            revision = None
        if revision and cal.model.get("revision") and revision != cal.model["revision"]:
            warnings.warn(
                f"calibration was made on model revision {cal.model['revision']}, "
                f"{self.loaded.name!r} is {revision}",
                stacklevel=3,
            )

    @classmethod
    def calibrate(
        cls, model: str | LoadedModel, run: str | Path, *, top_k: int = 3, seed: int = 0
    ) -> Monitor:
        """Learn from the finished run folder ``run`` of ``model`` (analysed or not)."""
        run = Path(run)
        path = run / "manifest.json"
        manifest = json.loads(path.read_text()) if path.is_file() else {}
        cal = fit_calibration(run, manifest, top_k=top_k, seed=seed)
        return cls(cal, _loaded(model))

    def save(self, folder: str | Path) -> Path:
        """Write the calibration as ``calibration.json`` + ``probe.safetensors``."""
        return save_calibration(self.calibration, Path(folder))

    @classmethod
    def load(cls, folder: str | Path, model: str | LoadedModel | None = None) -> Monitor:
        """A saved calibration with ``model`` (default: the model it was calibrated on)."""
        cal = load_calibration(Path(folder))
        return cls(cal, _loaded(model if model is not None else cal.model["name"]))

    # -- checking ---------------------------------------------------------------------------

    def _generate(self, prep: Prepared, samples: int, seed: int, tap_probe: bool):
        loaded, gen = self.loaded, self.calibration.generation
        probe = self.calibration.probe if tap_probe else None
        rows = None if probe is None else (int(probe["layer"]),)  # the probe reads one row
        request = CaptureRequest(
            prep.layout.positions, prep.sections, hidden=probe is not None, hidden_rows=rows
        )
        max_new = int(gen.get("max_new_tokens") or 8)
        inputs, kwargs = prep.inputs, {"do_sample": False}
        cache = None
        if samples:
            options = {
                "bidirectional_prompt": loaded.adapter.bidirectional_prompt,
                "position_offset": loaded.adapter.position_offset,
            }
            cache = prefill(loaded.model, prep.inputs, **options)
            inputs = {
                k: v for k, v in inputs.items() if k in SEQUENCE_KEYS or k == "attention_mask"
            }
            kwargs["past_key_values"] = repeat_cache(cache, 1)
        result = generate_with_capture(
            loaded.model, inputs, request, max_new_tokens=max_new, **kwargs
        )
        replies: list[str] = []
        if samples:
            tokens = sample_continuations(
                loaded.model,
                prep.inputs,
                cache,
                k=samples,
                max_new_tokens=max_new,
                temperature=float(gen.get("temperature") or 0.7),
                top_p=float(gen.get("top_p") or 0.9),
                seed=seed,
            )
            replies = [loaded.decode(t) for t in tokens]
        return result, replies

    def _signal_groups(self, prep: Prepared, result: CaptureResult, text: str) -> list[Any]:
        """The raw signals as groups for :class:`LazySignals`, cheapest first: the verdict's
        usual inputs (entropy, log-prob, visual mass) come before the sink search, the answer
        span (token offsets, reasoning steps) and the spatial maps."""
        tokenizer, tokens = self.loaded.processor.tokenizer, result.new_tokens

        def span() -> dict[str, Any]:
            offsets = measure.token_offsets(tokenizer, tokens)[1]
            steps = measure.reasoning_steps(text, offsets)
            return measure.answer_span_columns(result, text, offsets, steps)

        groups: list[Any] = [
            lambda: measure.response_confidence(result),
            lambda: measure.visual_mass(result),  # the mass columns' other ones are arrays
            lambda: measure.response_spread(result),
            lambda: measure.sink_columns(result),
            span,
        ]
        if self._spatial:
            groups.append(lambda: measure.spatial_columns(result, prep.layout))
        return groups

    def _grid(self, prep: Prepared, result: CaptureResult) -> np.ndarray:
        grid, rc = measure._grid(prep.layout)
        maps = sections.grid_maps(result.image_attention, rc, grid).reshape(-1, *grid)
        seen = maps.sum(axis=(1, 2)) > 0
        return spatial.mean_map(maps[seen]) if seen.any() else np.zeros(grid)

    def check(
        self,
        image: str | Path | Image.Image,
        question: str,
        task_type: str = "visual",
        *,
        samples: int = 0,
        seed: int = 0,
        answer_kind: str = "text",
        choices: tuple[str, ...] = (),
        probe_signal: bool = False,
    ) -> CheckResult:
        """Answer ``question`` about ``image`` and judge the answer (see :class:`CheckResult`).

        The probe's hidden state is tapped when the risk model reads the probe, or when
        ``probe_signal`` asks for ``signals["probe_logit"]`` anyway; otherwise that signal is
        None (the tap is a hook on every forward, ~0.1 ms of a short answer's check).

        Raises :class:`CheckInputError` for an unreadable image, an empty question, a negative
        ``samples`` or a prompt too long for the model, and
        :class:`~vrprobe.monitor.decide.UnknownTaskType` for a task type the calibration lacks.
        """
        start = time.perf_counter()
        img = check_inputs(self.calibration, image, question, task_type, samples)
        prep = prepare(self.loaded, img, question)
        max_new = int(self.calibration.generation.get("max_new_tokens") or 8)
        try:
            check_context(prep.prompt_len, max_new, self._context)
        except SampleError as exc:
            raise CheckInputError(exc.message) from None
        # greedy decoding draws no random numbers; sample_continuations seeds itself
        tap_probe = probe_signal or PROBE in self.calibration.risk_model(samples).features
        with torch.inference_mode():
            result, replies = self._generate(prep, samples, seed, tap_probe)
        return self._judge(prep, result, replies, task_type, samples, answer_kind, choices,
                           image=img, start=start)  # fmt: skip

    def _judge(
        self,
        prep: Prepared,
        result: CaptureResult,
        replies: list[str],
        task_type: str,
        samples: int,
        answer_kind: str,
        choices: tuple[str, ...],
        *,
        image: Image.Image,
        start: float,
    ) -> CheckResult:
        """Signals, probe, verdict and evidence grid of one captured answer (no model call).

        Only what the verdict reads is computed here; the other signals and the grid are
        computed on first access (:class:`LazySignals`)."""
        tokenizer = self.loaded.processor.tokenizer
        text = tokenizer.decode(result.new_tokens, skip_special_tokens=True)
        if PROBE in self.calibration.risk_model(samples).features:
            probe_logit = self._probe_logit(result)
            probe: Any = {"probe_logit": probe_logit}
        else:  # a raw signal only: computed on first access, like the others
            probe_logit, probe = None, lambda: {"probe_logit": self._probe_logit(result)}
        consistency = []
        if replies:
            normalised = [extract_answer(r, answer_kind, list(choices)) or "" for r in replies]
            consistency.append(consistency_signals(normalised))
        groups = self._signal_groups(prep, result, text)
        signals = LazySignals([*consistency, *groups, probe])
        verdict = decide(self.calibration, signals, probe_logit, task_type, samples)
        return CheckResult(
            answer=text.strip(),
            risk=verdict.risk,
            veto=verdict.veto,
            accepted=verdict.accepted,
            task_type=task_type,
            evidence_source=lambda: self._grid(prep, result),
            signals=signals,
            samples=samples,
            risk_model_samples=verdict.risk_model_samples,
            p_error_interaction=verdict.p_error_interaction,
            risk_features=verdict.risk_features,
            imputed=verdict.imputed,
            image=image,
            tile=prep.layout.tiles[0],
            sampled_answers=replies,
            elapsed_s=time.perf_counter() - start,
        )

    def _probe_logit(self, result: CaptureResult) -> float | None:
        probe, scorer = self.calibration.probe, self.calibration.probe_scorer
        if probe is None or scorer is None:
            return None
        hidden = result.hidden_prompt if probe["position"] == "prompt" else result.hidden_last
        if hidden is None:
            return None
        return float(scorer.logit(np.asarray(hidden[probe["layer"]], dtype=np.float64)))
