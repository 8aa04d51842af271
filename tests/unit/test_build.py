"""tributary build's rules, without building: what SAM is asked to build, and the limits."""

from __future__ import annotations

from localcloud.build import MAX_LAYERS, ZIP_LIMIT_MB, Artifact, zip_template
from localcloud.template import load_template
from tests.conftest import ROOT


def test_sam_builds_the_zip_functions_and_their_layer_only() -> None:
    template = load_template(ROOT / "template.yaml")
    derived = zip_template(template, ROOT / "template.yaml")
    resources = derived["Resources"]
    zips = {fn.logical_id for fn in template.functions if fn.image is None}
    assert set(resources) == zips | {"SharedLayer"}
    assert "TransformFunction" not in resources  # an image: Podman builds it
    fetch = resources["FetchFunction"]["Properties"]
    assert fetch["Runtime"] == "python3.13" and fetch["CodeUri"] == str(
        (ROOT / "functions" / "fetch").resolve())
    assert resources["SharedLayer"]["Properties"]["ContentUri"] == str(
        (ROOT / "layers").resolve())


def test_an_artifact_over_a_limit_does_not_fit() -> None:
    ok = Artifact("f", "Zip", "x", ZIP_LIMIT_MB, 50.0, ZIP_LIMIT_MB, layers=MAX_LAYERS)
    assert ok.fits
    assert not Artifact("f", "Zip", "x", ZIP_LIMIT_MB + 0.1, 50.0, ZIP_LIMIT_MB).fits
    assert not Artifact("f", "Zip", "x", 10.0, 5.0, ZIP_LIMIT_MB, layers=MAX_LAYERS + 1).fits
    assert Artifact("f", "Image", "t", 819.4, None, 10_240.0).as_dict()["fits"] is True
