"""Deploy means live: a declaration added or changed on a running stack is used by the next
invocation after `tributary deploy`, with no restart (the runtime's workers are warm and stay
up), and a name that is no source is called unknown by the fetch, the CLI and the HTTP API."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import ROOT, Cloud, serve, start_cloud

pytestmark = pytest.mark.integration
BASE = 4680
PORT = BASE + 6
URL = f"http://127.0.0.1:{PORT}"
ENV = {"TRIBUTARY_SCHEDULE_SCALE": "1000", "TRIBUTARY_HALLOW_PUSH": "false",
       "TRIBUTARY_DATASYNC_EVENTS": "1000", "TRIBUTARY_DATASYNC_SESSIONS": "50",
       "GADGETS_URL": URL}
WIDGETS_YAML = """
name: widgets
base_url: ${GADGETS_URL}
streams:
  - name: widgets
    endpoint: /widgets
    records_path: widgets
    primary_key: id
    pagination: {style: single}
    table: deploy_widgets
    columns:
      id: {type: bigint, required: true}
      label: {from: name}
"""
GADGETS_YAML = """
name: gadgets
base_url: ${GADGETS_URL}
streams:
  - name: gadgets
    endpoint: /gadgets
    records_path: result.items
    primary_key: sku
    pagination: {style: single}
    table: deploy_gadgets
    columns:
      sku: {required: true}
      price: {type: double}
"""
PARTS_STREAM = """
  - name: parts
    endpoint: /parts
    records_path: parts
    primary_key: id
    pagination: {style: single}
    table: deploy_widget_parts
    columns:
      id: {type: bigint, required: true}
      widget: {type: bigint}
"""
WIDGETS = [{"id": i, "name": f"widget {i}", "title": f"Widget No. {i}"} for i in range(1, 31)]
GADGETS = [{"sku": f"g-{i:03}", "price": i * 1.5} for i in range(1, 41)]
PARTS = [{"id": i, "widget": 1 + i % 30} for i in range(1, 91)]


def _routes() -> list[Route]:
    async def widgets(request: Request) -> Response:
        return JSONResponse({"widgets": WIDGETS})

    async def gadgets(request: Request) -> Response:
        return JSONResponse({"result": {"items": GADGETS}})

    async def parts(request: Request) -> Response:
        return JSONResponse({"parts": PARTS})

    return [Route("/widgets", widgets), Route("/gadgets", gadgets), Route("/parts", parts)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cloud, Path]]:
    home = tmp_path_factory.mktemp("deploy-live")
    sources = home / "sources"
    shutil.copytree(ROOT / "sources", sources)
    (sources / "widgets.yaml").write_text(WIDGETS_YAML)
    server = serve(_routes(), PORT)
    c, mp = start_cloud(home, ROOT / "template.yaml", BASE,
                        {**ENV, "TRIBUTARY_SOURCES_DIR": str(sources)}, polling=frozenset())
    yield c, sources
    c.stack.down()
    mp.undo()
    server.should_exit = True


@pytest.fixture(scope="module")
def cloud(folder: tuple[Cloud, Path]) -> Cloud:
    return folder[0]


def _ingest(cloud: Cloud, source: str) -> None:
    out = cloud.cli("ingest", "--source", source, "--wait", "--timeout", "90")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def _fetch_answer(cloud: Cloud, source: str) -> str:
    resp = cloud.client("lambda").invoke(FunctionName="tributary-fetch",
                                         Payload=json.dumps({"source": source}))
    return str(resp["Payload"].read().decode())


def test_an_unknown_source_is_called_unknown(cloud: Cloud) -> None:
    # Warm workers first: the fetch and the transform hold the declarations they read.
    _ingest(cloud, "widgets")
    answer = _fetch_answer(cloud, "gadgets")
    assert "unknown source 'gadgets'" in answer and "live source" not in answer, answer
    out = cloud.cli("ingest", "--source", "gadgets")
    assert out.returncode == 1 and "unknown source 'gadgets'" in out.stdout, \
        out.stdout + out.stderr
    api = httpx.post(f"{cloud.settings.runtime_url}/sources/gadgets/ingest",
                     headers=cloud.auth, timeout=30)
    assert api.status_code == 404 and "unknown source 'gadgets'" in api.json()["message"], \
        api.text


def test_a_new_declaration_is_live_after_deploy(cloud: Cloud, folder: tuple[Cloud, Path]
                                                ) -> None:
    sources = folder[1]
    assert _fetch_answer(cloud, "widgets")  # the fetch worker is warm and has read the folder
    (sources / "gadgets.yaml").write_text(GADGETS_YAML)
    deployed = cloud.cli("deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # Live, and not polled until template.yaml says so (the block to add is printed).
    text = " ".join(deployed.stdout.split())
    assert "declarations live: " in text and "gadgets, hallow" in text, text
    assert "not polled" in text and "Name: tributary-fetch-gadgets" in text, text
    _ingest(cloud, "gadgets")
    assert sorted(cloud.sql("SELECT sku, price FROM deploy_gadgets")) == \
        sorted((g["sku"], g["price"]) for g in GADGETS)


def test_a_changed_declaration_is_used_by_the_next_ingest(cloud: Cloud,
                                                          folder: tuple[Cloud, Path]) -> None:
    sources = folder[1]
    assert sorted(cloud.sql("SELECT id, label FROM deploy_widgets")) == \
        [(str(w["id"]), w["name"]) for w in sorted(WIDGETS, key=lambda w: str(w["id"]))]
    # A column read from another field, and a stream added.
    changed = WIDGETS_YAML.replace("label: {from: name}", "label: {from: title}") + PARTS_STREAM
    (sources / "widgets.yaml").write_text(changed)
    deployed = cloud.cli("deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    _ingest(cloud, "widgets")
    assert sorted(cloud.sql("SELECT id, label FROM deploy_widgets")) == \
        [(str(w["id"]), w["title"]) for w in sorted(WIDGETS, key=lambda w: str(w["id"]))]
    assert sorted(cloud.sql("SELECT id, widget FROM deploy_widget_parts")) == \
        sorted((str(p["id"]), p["widget"]) for p in PARTS)
