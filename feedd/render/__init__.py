"""Entries and articles to a `Site`: feeds, pages, archive pages and the OPML list, ready to send."""
