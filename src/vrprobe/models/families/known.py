"""Import every family module so that its ``@register`` runs. Add new families here."""

from vrprobe.models.families import gemma3, idefics3, internvl, llava, paligemma  # noqa: F401
