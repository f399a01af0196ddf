"""The one HTTP client (client) and its guards: ssrf, robots, bodies, gates; result holds what it returns."""
