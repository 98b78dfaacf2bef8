"""Thin, typed wrappers over the `cryptography` package. No hand-written ciphers live here."""
