"""Pieces every simulator shares: problem+json, JSON bodies, tokens, time, SQLite, serving."""
