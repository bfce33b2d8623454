"""Stand-ins that run here: an OpenAI-compatible HTTP server whose replies come from the
oracle teacher (tests, benchmarks and the quickstart use it in place of a paid API)."""
