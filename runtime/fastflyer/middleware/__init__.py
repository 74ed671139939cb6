"""Pure ASGI middleware of the FastFlyer stack (outermost first):

health → request id → access log → error shield → (CORS, auth, body limit) → FastAPI.
"""
