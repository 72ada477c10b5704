"""Bytes to an `Article`: the article format, bylines and text, as pure functions."""
