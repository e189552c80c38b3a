"""Import every family module so that its ``@register`` runs. Add new families here."""

import vrprobe.models.families.paligemma  # noqa: F401
from vrprobe.models.families import llava  # noqa: F401
