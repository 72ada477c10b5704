"""The folder to entries: which files are articles, reading them, the cache, the `Library`."""
