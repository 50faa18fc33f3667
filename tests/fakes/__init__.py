"""In-memory stand-ins for the adapters' ports, each held to a contract test with the real one."""
