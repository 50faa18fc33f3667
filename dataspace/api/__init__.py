"""The management API of the control plane (FastAPI) and its request authentication."""
