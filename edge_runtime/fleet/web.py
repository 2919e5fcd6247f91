"""``python -m edge_runtime.fleet serve --broker HOST``: one page with every device, for the control room.

The page reads ``/api/fleet`` (the ``FleetView`` table as JSON) every two seconds; it uses the
dashboard's stylesheet and binds to localhost unless told otherwise (it shows no camera pictures, but
the fleet's layout is still the mine's business).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge_runtime.fleet.view import COLUMNS, Broker, FleetView, row_cells

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>adit · fleet</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/app.css"><link rel="icon" href="data:,"></head>
<body data-page="fleet"><header><a class="brand" href="/">adit</a><nav><a class="on" href="/">fleet</a></nav>
</header><main><h2>Fleet <small id="summary"></small></h2>
<div class="scroll"><table id="fleet"><thead><tr></tr></thead><tbody></tbody></table></div></main>
<script>
"use strict";
async function refresh() {
  try {
    const data = await (await fetch("/api/fleet", {cache: "no-store"})).json();
    const head = document.querySelector("#fleet thead tr");
    const cell = (tag, text) => Object.assign(document.createElement(tag), {textContent: text});
    head.replaceChildren(...data.columns.map(c => cell("th", c)));
    document.querySelector("#fleet tbody").replaceChildren(...data.rows.map(row => {
      const tr = document.createElement("tr");
      tr.className = row.ok ? "" : "bad";
      tr.replaceChildren(...row.cells.map(c => cell("td", c)));
      return tr;
    }));
    document.getElementById("summary").textContent =
      `${data.online} of ${data.rows.length} online, ${data.healthy} healthy`;
  } catch (err) {
    document.getElementById("summary").textContent = `no answer (${err})`;
  }
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
"""


def fleet_json(view: FleetView) -> dict[str, Any]:
    rows = view.rows()
    healthy = [r for r in rows if r.online and r.message is not None and r.message.health == "healthy"]
    return {
        "columns": list(COLUMNS),
        "rows": [{"device": r.device, "ok": r in healthy, "cells": row_cells(r)} for r in rows],
        "online": sum(bool(r.online) for r in rows),
        "healthy": len(healthy),
    }


def build_app(view: FleetView) -> Starlette:
    def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    def api(view: FleetView, request: Request) -> JSONResponse:
        return JSONResponse(fleet_json(view), headers={"Cache-Control": "no-store"})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/fleet", partial(api, view)),
            Mount("/static", StaticFiles(packages=[("edge_runtime.web", "static")]), name="static"),
        ]
    )


def serve(broker: Broker, *, topic: str, host: str = "127.0.0.1", port: int = 8391) -> int:
    from edge_runtime.fleet.cli import open_view

    view = open_view(broker, topic)
    try:
        uvicorn.run(build_app(view), host=host, port=port, log_level="warning", lifespan="off")
    finally:
        view.close()
    return 0
