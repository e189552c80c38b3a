"""Generated and file-based tasks: samples, loaders, scoring."""
