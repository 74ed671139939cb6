"""Pure ASGI middleware of the FastFlyer stack (outermost first):

health → core (request id, metrics, error shield) → tracing → access log → (CORS, auth,
body limit) → FastAPI.
"""
