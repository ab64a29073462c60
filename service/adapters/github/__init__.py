"""GitHub adapters: API clients, host, executor, verifier, tracking comment, repository calls."""
