"""A service written for plain uvicorn, in the shape of the RealWorld "Conduit" API: its own
error format, CORS, stdlib logging with its own console handler, structlog through stdlib,
a loguru sink of its own added in its lifespan. FastFlyer serves it as ``main.py:app``."""

import contextlib
import logging
import sys

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from loguru import logger as loguru_logger
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

# stdlib: a console handler in the app's own format on its logger (which propagates to root).
log = logging.getLogger("conduit")
own_handler = logging.StreamHandler(sys.stderr)
own_handler.setFormatter(logging.Formatter("CONDUIT-STDLIB %(levelname)s %(message)s"))
log.addHandler(own_handler)
log.setLevel(logging.INFO)

# structlog through stdlib, rendered by a ProcessorFormatter on a root handler (the recipe
# in structlog's docs).
structlog.configure(
    processors=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)
root_handler = logging.StreamHandler(sys.stdout)
root_handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=structlog.dev.ConsoleRenderer()))
logging.getLogger().addHandler(root_handler)
slog = structlog.get_logger("conduit.events")

state = {"started": False}


@contextlib.asynccontextmanager
async def lifespan(app):
    loguru_logger.add(sys.stderr, format="CONDUIT-LOGURU {message}")  # a sink of its own
    state["started"] = True
    log.info("conduit started")
    yield
    log.info("conduit stopped")


app = FastAPI(title="Conduit", lifespan=lifespan)
app.add_middleware(CORSMiddleware, allow_origins=["https://conduit.example"], allow_methods=["*"],
                   allow_headers=["*"])


@app.exception_handler(StarletteHTTPException)
async def own_http_error(request: Request, exc: StarletteHTTPException):
    return JSONResponse({"errors": {"body": [str(exc.detail)]}}, status_code=exc.status_code)


@app.exception_handler(RequestValidationError)
async def own_validation_error(request: Request, exc: RequestValidationError):
    fields = sorted(".".join(str(p) for p in e["loc"][1:]) for e in exc.errors())
    return JSONResponse({"errors": {"body": [f"invalid: {', '.join(fields)}"]}}, status_code=422)


class Article(BaseModel):
    title: str
    body: str = ""


@app.get("/api/articles")
async def articles(tag: str = "-"):
    log.info(f"stdlib line {tag}")
    slog.info("articles_listed", tag=tag, count=2, author="jake doe")
    loguru_logger.info(f"loguru line {tag}")
    return {"articles": [], "articlesCount": 0}


@app.post("/api/articles", status_code=201)
async def create_article(article: Article):
    return {"article": {"title": article.title, "size": len(article.body)}}


@app.get("/api/state")
async def lifespan_state():
    return state


@app.get("/api/boom")
async def boom():
    raise RuntimeError("secret internals")
