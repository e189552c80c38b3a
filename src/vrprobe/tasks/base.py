"""What a task hands to the runner: samples (or error records for rows that are broken).

A `Sample` is one question about one image. Its image is either already in memory (generated
tasks) or a path that is opened only when the item runs, so a corrupt file becomes an error
record for that item instead of stopping the whole load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from PIL import Image

TaskType = Literal["visual", "symbolic"]
AnswerKind = Literal["text", "yesno", "option", "number"]
Box = tuple[float, float, float, float]


class SampleError(ValueError):
    """A row that cannot become a sample; `sample_id` names it, the message says why."""

    def __init__(self, sample_id: str, message: str):
        super().__init__(f"{sample_id}: {message}")
        self.sample_id = sample_id
        self.message = message


@dataclass(frozen=True)
class Sample:
    """One visual question with its references and (optional) evidence boxes.

    `evidence_boxes` are `(x0, y0, x1, y1)` in original-image pixels. `task_type` is
    "visual" (answer needs the image: the vision veto may act) or "symbolic" (answerable from
    the language prior or text alone: never vetoed). `question_type` is a free label used to
    break accuracy down (for the shapes task: colour, shape, count, exists, spatial, prior).
    """

    id: str
    image: Image.Image | Path
    question: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] = ()
    evidence_boxes: tuple[Box, ...] = ()
    task_type: TaskType = "visual"
    question_type: str = ""
    answer_kind: AnswerKind = "text"
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    # A benchmark's native per-sample scorer `(sample, prediction) -> Score`; None = `score`.
    scorer: Callable | None = field(default=None, compare=False, hash=False, repr=False)

    def load_image(self) -> Image.Image:
        """The image as 8-bit RGB, EXIF-oriented (policy: `vrprobe.tasks.images`); raises
        `SampleError` naming the file when it cannot be read or is refused."""
        from vrprobe.tasks.images import READ_ERRORS, ImageRejected, read_rgb

        where = "" if isinstance(self.image, Image.Image) else f" {self.image}"
        try:
            return read_rgb(self.image)
        except ImageRejected as exc:
            raise SampleError(self.id, f"image{where} refused: {exc}") from exc
        except READ_ERRORS as exc:
            raise SampleError(self.id, f"cannot read image{where}: {exc}") from exc


class Task(Protocol):
    """A named source of samples. `samples` yields a `Sample` or a `SampleError` per row."""

    name: str
    answer_kind: AnswerKind

    def samples(self, limit: int | None = None) -> Iterator[Sample | SampleError]: ...
