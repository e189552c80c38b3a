"""Import every family module so that its ``@register`` runs. Add new families here."""

from vrprobe.models.families import (  # noqa: F401
    gemma3,
    glm4v,
    glm46v,
    idefics3,
    internvl,
    llava,
    llava_next,
    paligemma,
    qwen2_5_vl,
    qwen2_vl,
    qwen3_vl,
)
