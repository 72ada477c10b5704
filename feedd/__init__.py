"""feedd: a folder of plain-text articles, published as Atom, RSS, JSON Feed and HTML."""

__version__ = "0.1.0"
