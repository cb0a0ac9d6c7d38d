"""Alliance: make the therapeutic relationship visible and workable, session by session."""

__version__ = "0.1.0"
