"""vrprobe: did the vision-language model look at the image, and can its answer be trusted?"""

__version__ = "0.1.0"
