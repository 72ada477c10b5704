"""The single writer: the folder watched, and its changes turned into new sites."""
