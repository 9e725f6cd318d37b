"""The JSON API and the page behind ``llmsize serve`` (FastAPI; the ``web`` extra).

Endpoints (every response is JSON unless said; every error is a 4xx ``{"error": "one line"}``)::

    GET  /                     the page (static HTML; app.js and app.css from package data)
    GET  /api/catalog?q=TEXT   catalog models whose name, HF id, repo name or model_type holds TEXT
    GET  /api/options          the choices of every option (the page builds its form from them)
    POST /api/params           body {"source": …, **options} → llmsize params --json
    POST /api/infer            body {"source": …, **options} → llmsize infer --json
    POST /api/train            body {"source": …, **options} → llmsize train --json
    POST /api/plot/{kind}      body {"task", "source", "options"} → image/svg+xml (llmsize plot)
    POST /api/view             body {"task", "source", "options"} → result, verdict, charts,
                               explanation and the equivalent command line: what the page shows

A source is a catalog name or HF id, a ``config.json``'s contents (an object), or with
``--allow-hub`` a Hub id; never a path: no endpoint reads the server's files. Every option goes
through the API's own checks (``api.py``, ``options.py``). Bodies are capped at 1 MiB (a pasted
config fits in that), integers at 2⁵³ (JSON's exact range), requests must name this host
(DNS rebinding), and no CORS header is sent, so other sites' pages cannot read the answers.
"""

from __future__ import annotations

import json
from importlib import resources

from fastapi import FastAPI, Request, Response  # the web extra: only `llmsize serve` imports this module

from .. import api, charts, svg
from ..errors import LlmsizeError
from ..explain import explain
from ..schemas import versioned
from ..sources.resolve import Resolved, from_config, open_named
from ..version import __version__
from .command import command_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping
    from typing import Any

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 2**20  # 1 MiB: the largest pasted config.json (DeepSeek-V3's is 1.7 KiB)
MAX_INT = 2**53  # JSON's exact integers; larger ones are refused, not computed with
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
MIRRORS = {"params": api.PARAMS_OPTIONS, "infer": api.INFER_OPTIONS, "train": api.TRAIN_OPTIONS}


class BadRequest(LlmsizeError):
    """A request the API cannot take: its status and the one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class BodyLimit:
    """ASGI middleware: a 413 for a body over ``limit`` bytes, told or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            await _send_error(send, "request body over 1 MiB (a pasted config.json must be ≤ 1 MiB)"
                              if length.isdigit() else "bad Content-Length", 413 if length.isdigit() else 400)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BadRequest("request body over 1 MiB (a pasted config.json must be ≤ 1 MiB)", 413)
            return message

        await self.app(scope, counted, send)


async def _send_error(send: Send, message: str, status: int) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Answers:
    """The last ``size`` answers, by endpoint and request body. An estimate is a function of its
    inputs alone, so a question asked again (a permalink reloaded, the page's sweeps) is answered
    from here; a Hub id is not kept (the repository can change)."""

    def __init__(self, size: int = 512) -> None:
        from collections import OrderedDict

        self.size, self.kept = size, OrderedDict[str, bytes]()

    def key(self, endpoint: str, body: dict[str, Any], allow_hub: bool) -> str | None:
        if allow_hub and isinstance(body.get("source"), str):
            return None
        return endpoint + json.dumps(body, sort_keys=True)

    def get(self, key: str) -> bytes | None:
        answer = self.kept.get(key)
        if answer is not None:
            self.kept.move_to_end(key)
        return answer

    def put(self, key: str | None, answer: bytes) -> None:
        if key is not None:
            self.kept[key] = answer
            if len(self.kept) > self.size:
                self.kept.popitem(last=False)


def _check_ints(value: object, depth: int = 0) -> None:
    if depth > 32:
        raise BadRequest("body nested deeper than 32 levels")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise BadRequest(f"{value} is larger than 2^53; no option needs that")
    if isinstance(value, dict):
        for v in value.values():
            _check_ints(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_ints(v, depth + 1)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    _check_ints(body)
    return body


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise BadRequest("options must be a JSON object")
    return options


def opener(allow_hub: bool) -> Callable[[object, object], Resolved]:
    """The page's sources: a catalog name (a Hub id with ``allow_hub``) or a config's contents."""

    def open_source(source: object, revision: object = None) -> Resolved:
        if isinstance(source, dict):
            name = str(source.get("_name_or_path") or "config.json")[:100]
            try:
                return from_config(source, name)
            except LlmsizeError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
                raise BadRequest(f"{name}: cannot be sized ({type(e).__name__}: {e})") from None
        if not isinstance(source, str) or not source.strip() or len(source) > 200:
            raise BadRequest("source: give a catalog name or HF id, or a config.json's contents (an object)")
        if revision is not None and not isinstance(revision, str):
            raise BadRequest("revision must be a string")
        return open_named(source.strip(), revision=revision, hub=allow_hub)

    return open_source


def catalog_rows(query: str) -> list[dict[str, object]]:
    """Catalog models whose name, HF id, repo name or model_type contains ``query`` (any case)."""
    from ..sources import catalog

    q = query.strip().lower()
    rows = []
    for e in catalog.entries():
        aliases = list(dict.fromkeys([e.name, e.hf_id, e.hf_id.split("/")[-1]]))
        if not q or any(q in a.lower() for a in aliases) or q in e.model_type:
            rows.append({"name": e.name, "hf_id": e.hf_id, "model_type": e.model_type, "aliases": aliases,
                         "source": e.source, "max_position": e.config.get("max_position_embeddings")})
    return rows


def option_choices() -> dict[str, object]:
    from .. import options as o
    from ..hardware import gpus

    return versioned({
        "tasks": list(charts.TASKS), "kinds": list(charts.KINDS), "engines": list(o.ENGINES),
        "dtypes": list(o.DTYPES), "attn": list(o.ATTN), "recipes": list(o.RECIPES),
        "optimizers": list(o.OPTIMIZERS), "recompute": list(o.RECOMPUTE), "zero": list(o.ZERO_STAGES),
        "fsdp": list(o.FSDP), "offload": list(o.OFFLOAD),
        "defaults": {k: _plain(v[0]) for k, v in {**api.TRAIN_OPTIONS, **api.INFER_OPTIONS}.items()
                     if k not in ("attn",)} | {"attn": "sdpa"},  # the serving form's attn (train: flash)
        # the page's GPU picker; its value goes to the API as the `gpu` option
        "gpus": [{"name": g.key, "label": g.name} for g in gpus()], "default_gpu": api.DEFAULT_GPU,
    })


def _plain(value: object) -> object:
    """A default as JSON: an enum member as its value."""
    return getattr(value, "value", value) if not isinstance(value, (str, int, float, bool, tuple)) else value


def view(task: str, source: Resolved, options: dict[str, Any], given: object) -> dict[str, object]:
    """What the page shows for one request: the result, the verdict, the charts, the panel."""
    report = charts.estimate(task, source, options)
    limits = charts.gpu_limits(options, report)
    figures = {"breakdown": charts.breakdown(report, limits),
               "context": charts.sweep("context", task, source, options),
               "batch": charts.sweep("batch", task, source, options)}
    engine = options.get("engine", "hf")
    if task == "serve" and getattr(report, "performance", None) is not None \
            and engine in charts.THROUGHPUT_ENGINES:
        figures["throughput"] = charts.figure("throughput", task, source, options)
    return versioned({
        "task": task, "result": report.to_dict(), "verdict": charts.verdict(report, limits),
        "command": command_line(task, given, options),
        "explain": explain(report, source.arch),
        "fit_table": charts.fit_table(charts.fits(task, source, options)),
        "charts": {k: svg.render(f) for k, f in figures.items()},
        "figures": {k: f.to_dict() for k, f in figures.items()},
        "warnings": list(getattr(report, "warnings", ())),
    })


def _body_schema(table: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI request body of a mirror endpoint: the source and the API's options by name."""
    source = {"oneOf": [{"type": "string"}, {"type": "object"}],
              "description": "catalog name or HF id, or a config.json's contents"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"source": source, **{k: {} for k in table}},
        "additionalProperties": False}}}}}


def _view_schema() -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["task", "source"], "properties": {
            "task": {"enum": list(charts.TASKS)},
            "source": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            "options": {"type": "object"}}}}}}}


def create_app(*, allow_hub: bool = False, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> FastAPI:
    """The application; ``hosts`` are the Host header values it answers (the address it binds)."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app = FastAPI(title="llmsize", version=__version__, docs_url=None, redoc_url=None,
                  description="Size LLMs: the JSON API of `llmsize serve`. Errors are {\"error\": message}.")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.add_middleware(BodyLimit)
    _errors(app)
    _pages(app)
    _api(app, allow_hub)
    return app


def _errors(app: FastAPI) -> None:
    """Every error as ``{"error": "one line"}``: bad input a 4xx, a bug a 500 without a traceback."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(LlmsizeError)
    async def bad_input(request: Request, e: LlmsizeError) -> Response:
        return JSONResponse({"error": str(e)}, status_code=getattr(e, "status", 400))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> Response:
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> Response:
        message = f"internal error ({type(e).__name__}); please report it"
        return JSONResponse({"error": message}, status_code=500)


def _pages(app: FastAPI) -> None:
    """The page and its two files, read once from package data; nothing else is served."""
    folder = resources.files("llmsize.web").joinpath("static")
    pages = {name: folder.joinpath(name).read_bytes() for name in STATIC}

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return Response(pages["index.html"], media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC or name == "index.html":
            raise BadRequest(f"{name}: no such file", 404)
        return Response(pages[name], media_type=f"{STATIC[name]}; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


def _api(app: FastAPI, allow_hub: bool) -> None:
    """The JSON endpoints: the catalog and choices, the three mirrors, plot and view."""
    open_source, answers = opener(allow_hub), Answers()

    @app.get("/api/catalog")
    async def catalog(q: str = "") -> dict[str, object]:
        if len(q) > 100:
            raise BadRequest("q: longer than 100 characters")
        return versioned({"models": catalog_rows(q)})

    @app.get("/api/options")
    async def options() -> dict[str, object]:
        return option_choices()

    def mirror(name: str) -> None:
        function = getattr(api, name)

        async def endpoint(request: Request) -> Response:
            body = await _body(request)
            key = answers.key(name, body, allow_hub)
            if key is None or (answer := answers.get(key)) is None:
                given = body.pop("source", None)
                bare = name == "params" and given is None  # params from hyperparameters alone
                source = None if bare else open_source(given, body.get("revision"))
                answer = json.dumps(function(source, **body).to_dict()).encode()
                answers.put(key, answer)
            return Response(answer, media_type="application/json")

        app.post(f"/api/{name}", name=name, summary=f"llmsize {name} --json",
                 openapi_extra=_body_schema(MIRRORS[name]))(endpoint)

    for name in MIRRORS:
        mirror(name)

    @app.post("/api/plot/{kind}", summary="llmsize plot --kind KIND: an SVG",
              openapi_extra=_view_schema(), response_class=Response)
    async def plot(kind: str, request: Request) -> Response:
        body = await _body(request)
        options = _options(body)
        source = open_source(body.get("source"), options.get("revision"))
        task = str(body.get("task", "serve"))
        return Response(svg.render(charts.figure(kind, task, source, options)), media_type="image/svg+xml")

    @app.post("/api/view", summary="everything the page shows for one request", openapi_extra=_view_schema())
    async def page_view(request: Request) -> Response:
        body = await _body(request)
        options = _options(body)
        given = body.get("source")
        key = answers.key("view", body, allow_hub)
        if key is None or (answer := answers.get(key)) is None:
            source = open_source(given, options.get("revision"))
            answer = json.dumps(view(str(body.get("task", "serve")), source, options, given)).encode()
            answers.put(key, answer)
        return Response(answer, media_type="application/json")
