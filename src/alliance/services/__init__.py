"""The one service layer behind pages and the /api routes: reads, writes and who may see what."""
