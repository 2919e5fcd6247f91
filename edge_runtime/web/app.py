"""The dashboard's routes: pages (server-rendered, refreshed by small scripts) and the JSON they read.

Pages: overview, live view per camera, events, model, zone editor. Alongside: /healthz, /metrics,
/status, as before. Handlers are plain functions run on Starlette's thread pool, so a slow encode
or query never stalls the event loop, and none of them touches the capture or inference threads.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge_runtime.errors import BundleError, ConfigError
from edge_runtime.events import utc_iso
from edge_runtime.jsonsafe import dumps, nesting
from edge_runtime.observe import DaemonCollector, DaemonView
from edge_runtime.siteloop.promote import NotPromoted
from edge_runtime.snapshots import URL_PREFIX
from edge_runtime.web.acks import AckStore
from edge_runtime.web.auth import TokenGate
from edge_runtime.web.eventlist import EventFilter, list_events, list_incidents
from edge_runtime.web.frames import JpegCache
from edge_runtime.web.guard import BodyLimit, host_check
from edge_runtime.web.i18n import LANG_COOKIE, messages, pick_language
from edge_runtime.web.modelinfo import model_info
from edge_runtime.web.overview import RateMeter, overview
from edge_runtime.web.zones import rule_yaml

_SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.jpg$")
_JSON_HEADERS = {"Cache-Control": "no-store"}
MAX_RULE_NESTING = 8  # a rule draft: {zone: [[x, y], ...], debounce: {...}}


@dataclass
class Dashboard:
    """What the handlers share: the daemon's live objects and the web side's own small state."""

    view: DaemonView
    jpegs: JpegCache
    meter: RateMeter
    registry: CollectorRegistry
    closing: threading.Event  # set when the server stops: ends the live streams
    templates: Environment
    acks: AckStore


def build_app(view: DaemonView, closing: threading.Event) -> Starlette:
    http = view.config.http
    registry = CollectorRegistry()
    registry.register(DaemonCollector(view))
    templates = Environment(
        loader=PackageLoader("edge_runtime.web", "templates"), autoescape=select_autoescape(["html"])
    )
    jpegs = JpegCache(view.live, view.config.rules, http, view.config.belt_load, view.belt_states)
    acks = AckStore(http.acks_path or view.config.outbox.path.with_name("acks.sqlite"))
    board = Dashboard(view, jpegs, RateMeter(), registry, closing, templates, acks)
    routes = [
        Route("/", partial(_page, board, "overview")),
        Route("/live/{camera}", partial(_page, board, "live")),
        Route("/events", partial(_page, board, "events")),
        Route("/model", partial(_page, board, "model")),
        Route("/zones", partial(_page, board, "zones")),
        Route("/healthz", partial(_healthz, board)),
        Route("/metrics", partial(_metrics, board)),
        Route("/status", partial(_status, board)),
        Route("/api/overview", partial(_overview, board)),
        Route("/api/events", partial(_events, board)),
        Route("/api/incidents", partial(_incidents, board)),
        Route("/api/events/{event_id}/ack", partial(_acknowledge, board), methods=["POST"]),
        Route("/api/events/{event_id}/feedback", partial(_give_feedback, board), methods=["POST"]),
        Route("/api/feedback", partial(_feedback, board)),
        Route("/api/promote", partial(_promote, board), methods=["POST"]),
        Route("/api/cameras/{camera}/frame.jpg", partial(_frame, board)),
        Route("/api/cameras/{camera}/stream.mjpg", partial(_stream, board)),
        Route("/api/rules/yaml", partial(_rule_yaml, board), methods=["POST"]),
        Route(URL_PREFIX + "{name}", partial(_snapshot, board)),
        Mount("/static", StaticFiles(packages=[("edge_runtime.web", "static")]), name="static"),
    ]
    token = http.token.get_secret_value() if http.token is not None else None
    guards = [Middleware(BodyLimit)]
    if token is None:  # loopback without a token: the Host header is what keeps other sites' pages out
        guards.append(Middleware(host_check, configured_host=http.host))
    app = Starlette(routes=routes, middleware=[*guards, Middleware(TokenGate, token=token)])
    app.state.dashboard = board
    return app


class _FiniteJSON(JSONResponse):
    """Non-finite numbers render as null: a NaN anywhere must not turn /status into an HTTP 500."""

    def render(self, content: Any) -> bytes:
        return dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json(body: Any, status: int = 200) -> JSONResponse:
    return _FiniteJSON(body, status_code=status, headers=_JSON_HEADERS)


def _healthz(board: Dashboard, request: Request) -> JSONResponse:
    ok, body = board.view.healthz()
    return _json(body if request.state.authorised else {"ok": ok}, 200 if ok else 503)


def _metrics(board: Dashboard, request: Request) -> Response:
    return Response(generate_latest(board.registry), media_type=CONTENT_TYPE_LATEST)


def _status(board: Dashboard, request: Request) -> JSONResponse:
    return _json(board.view.status())


def _overview(board: Dashboard, request: Request) -> JSONResponse:
    return _json(overview(board.view, board.meter))


def _page(board: Dashboard, page: str, request: Request) -> Response:
    view = board.view
    camera = request.path_params.get("camera")
    if page == "live" and view.camera(camera) is None:
        return HTMLResponse(f"no camera {camera!r}", status_code=404)
    lang = pick_language(request)
    context = {
        "page": page,
        "lang": lang,
        "messages": messages(lang),
        "t": messages(lang).get,
        "cameras": [c.name for c in view.cameras],
        "camera": camera,
        "classes": view.manifest.classes,
    }
    if page == "model":
        context["model"] = model_info(
            view.manifest, view.artifact, view.runtime_precision, view.config.http.benchmark, view.recommended
        )
        context["loop"] = view.site_loop.state() if view.site_loop is not None else {}
        context["promotion_on"] = view.promotions is not None
        context["promotion"] = view.promotions.state()["latest"] if view.promotions is not None else None
    html = board.templates.get_template(f"{page}.html").render(context)
    response = HTMLResponse(html)
    if "lang" in request.query_params:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response


def _filter(request: Request) -> EventFilter:
    """The events and incidents lists' query; ValueError for a bad time or limit."""
    query = request.query_params
    return EventFilter(
        camera=query.get("camera") or None,
        type=query.get("type") or None,
        label=query.get("label") or None,
        severity=query.get("severity") or None,
        since=_iso(query.get("since")),
        until=_iso(query.get("until")),
        limit=min(int(query.get("limit") or 200), 1000),
    )


def _events(board: Dashboard, request: Request) -> JSONResponse:
    try:
        wanted = _filter(request)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(list_events(board.view.outbox, wanted))


def _incidents(board: Dashboard, request: Request) -> JSONResponse:
    try:
        wanted = _filter(request)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(list_incidents(board.view.outbox, wanted, board.acks))


async def _acknowledge(board: Dashboard, request: Request) -> JSONResponse:
    """POST {"by": "name"}: the first acknowledgement of an incident stands; every viewer sees it."""
    event_id = request.path_params["event_id"]
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _json({"error": 'expected JSON {"by": "operator name"}'}, 400)
    by = body.get("by", "") if isinstance(body, dict) else None
    if not isinstance(by, str):
        return _json({"error": '"by" must be a string'}, 400)
    known = {event.id for _, event in board.view.outbox.recent_events()}
    if event_id not in known:
        return _json({"error": f"no recent event {event_id!r}"}, 404)
    ack = await run_in_threadpool(board.acks.acknowledge, event_id, by)
    return _json(ack.to_dict())


async def _give_feedback(board: Dashboard, request: Request) -> JSONResponse:
    """POST {"by", "verdict": false_alarm|confirmed|relabel, "label": class (relabel only)}: kept with the
    event's frame (its capture, pinned against the quota, else its snapshot); the newest stands."""
    event_id = request.path_params["event_id"]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not all(isinstance(body.get(k, ""), str) for k in ("by", "verdict")):
        return _json({"error": 'expected JSON {"by": name, "verdict": ..., "label": class}'}, 400)
    label = body.get("label")
    if label is not None and label not in board.view.manifest.classes:
        classes = ", ".join(board.view.manifest.classes)
        return _json({"error": f"no class {label!r}; the classes: {classes}"}, 422)
    event = next((e for _, e in board.view.outbox.recent_events() if e.id == event_id), None)
    if event is None:
        return _json({"error": f"no recent event {event_id!r}"}, 404)
    loop = board.view.site_loop
    captured = loop.captures if loop is not None else None
    frame = await run_in_threadpool(captured.pin, event_id) if captured is not None else None
    try:
        stored = await run_in_threadpool(
            board.acks.give_feedback,
            event_id,
            body.get("verdict", ""),
            body.get("by", ""),
            label=label,
            frame=str(frame) if frame is not None else event.extra.get("snapshot"),
            event_label=event.label,
        )
    except ValueError as exc:
        return _json({"error": str(exc)}, 422)
    return _json(stored.to_dict())


async def _promote(board: Dashboard, request: Request) -> JSONResponse:
    """POST {"by", "bundle": candidate (default: the one in shadow), "force": false}: on the shadow run's
    evidence the candidate is verified into the bundle store and queued (202); the supervisor switches,
    watches its health and rolls back by itself. ``promotion.latest`` on /status says how it went."""
    promotions = board.view.promotions
    if promotions is None:
        return _json({"error": "promotion is off on this device (site_loop.promote)"}, 409)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    loop = board.view.site_loop
    shadow = loop.shadow.state() if loop is not None and loop.shadow is not None else None
    usage = 'expected JSON {"by": name, "bundle": path (default: the candidate in shadow), "force": false}'
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("by", ""), str)
        or not isinstance(body.get("force", False), bool)
        or not isinstance(body.get("bundle") or "", str)
    ):
        return _json({"error": usage}, 400)
    named = body.get("bundle") or (shadow["bundle"] if shadow is not None else None)
    if named is None:
        return _json({"error": "no candidate runs in shadow (site_loop.shadow): name the bundle"}, 409)
    try:
        promotion = await run_in_threadpool(
            promotions.request, Path(named), shadow, by=body.get("by", ""), force=body.get("force", False)
        )
    except NotPromoted as exc:
        return _json({"error": str(exc)}, 409)
    except BundleError as exc:
        return _json({"error": str(exc)}, 422)
    return _json(promotion.view(), 202)


def _feedback(board: Dashboard, request: Request) -> JSONResponse:
    """Every feedback the control room gave, oldest first: what the labelling export takes along."""
    return _json({"feedback": [item.to_dict() for item in board.acks.feedback().values()]})


def _iso(value: str | None) -> str | None:
    """Any ISO 8601 time -> the events' own UTC form, so comparing the text compares the times."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return utc_iso(moment.timestamp())


def _frame(board: Dashboard, request: Request) -> Response:
    camera = request.path_params["camera"]
    if board.view.camera(camera) is None:
        return _json({"error": f"no camera {camera!r}"}, 404)
    jpeg = board.jpegs.get(camera, annotated=request.query_params.get("raw") != "1")
    if jpeg is None:
        return _json({"error": f"camera {camera!r} has no frame yet"}, 404)
    headers = {**_JSON_HEADERS, "X-Frame-Index": str(jpeg.index), "X-Frame-Time": f"{jpeg.ts:.3f}"}
    return Response(jpeg.data, media_type="image/jpeg", headers=headers)


async def _stream(board: Dashboard, request: Request) -> Response:
    """MJPEG: each new frame once, at most ``live_fps``; ends when the viewer leaves or the server stops."""
    camera = request.path_params["camera"]
    if board.view.camera(camera) is None:
        return _json({"error": f"no camera {camera!r}"}, 404)

    async def parts() -> AsyncIterator[bytes]:
        last = None
        while not board.closing.is_set():
            jpeg = await run_in_threadpool(board.jpegs.get, camera)
            if jpeg is not None and jpeg.index != last:
                last = jpeg.index
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg.data)}\r\n\r\n"
                yield head.encode() + jpeg.data + b"\r\n"
            await asyncio.sleep(board.jpegs.interval_s)

    return StreamingResponse(
        parts(), media_type="multipart/x-mixed-replace; boundary=frame", headers=_JSON_HEADERS
    )


async def _rule_yaml(board: Dashboard, request: Request) -> JSONResponse:
    try:
        draft = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _json({"error": "expected a JSON rule"}, 400)
    except RecursionError:
        return _json({"error": "nested too deeply to be a rule"}, 400)
    if not isinstance(draft, dict):
        return _json({"error": "expected a JSON object"}, 400)
    if nesting(draft) > MAX_RULE_NESTING:
        return _json({"error": f"nested more than {MAX_RULE_NESTING} levels deep; not a rule"}, 400)
    try:
        text, warning = rule_yaml(board.view.config, board.view.manifest, draft)
    except ConfigError as exc:
        return _json({"error": str(exc)}, 422)
    return _json({"yaml": text, "warning": warning})


def _snapshot(board: Dashboard, request: Request) -> Response:
    name = request.path_params["name"]
    path = board.view.config.snapshots.folder / name
    if not _SNAPSHOT_NAME.match(name) or not path.is_file():
        return _json({"error": f"no snapshot {name!r}"}, 404)
    return FileResponse(path, media_type="image/jpeg")
