"""The web shell: Flask app, request validation, prefetch, and the store."""
