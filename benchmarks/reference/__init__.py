"""Reference servers the harness measures FastFlyer against (run with plain uvicorn)."""
