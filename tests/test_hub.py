"""ssl push against a fake Hub (huggingface_hub's HTTP client on an in-process mock transport), and the
clear messages of the offline, unauthenticated, missing-revision and malformed-id paths."""

from __future__ import annotations

import base64
import json

import httpx2
import huggingface_hub
import pytest
from click.testing import CliRunner
from huggingface_hub import constants

from ssl_core import HubError, load_encoder
from ssl_core.cli import cli
from ssl_core.sharing import push
from ssl_core.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "run"
    Trainer(branch="simclr", encoder="small-resnet", epochs=1, batch_size=16, output_dir=str(out), device="cpu",
            no_callback=["knn-monitor"], sets=["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=32",
                                               "dataset.num_test=10", "dataset.image_size=16"]).fit()
    return out


class FakeHub:
    """Answers the Hub's create-repo, validate-yaml, preupload and commit endpoints and records what they were sent."""

    def __init__(self, branches: tuple[str, ...] = ("main",)) -> None:
        self.branches = branches
        self.created: dict | None = None
        self.commit: dict | None = None
        self.files: dict[str, bytes] = {}

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/api/repos/create":
            self.created = json.loads(request.content)
            repo = f"{self.created['organization']}/{self.created['name']}"
            return httpx2.Response(200, json={"url": f"https://huggingface.co/{repo}"})
        if path == "/api/validate-yaml":  # the model card's front matter
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if "/preupload/" in path or "/commit/" in path:
            self.revision = path.rsplit("/", 1)[-1]
            if self.revision not in self.branches:
                return httpx2.Response(404, headers={"X-Error-Code": "RevisionNotFound"},
                                       json={"error": f"Invalid rev id: {self.revision}"})
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            return httpx2.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular",
                                                         "shouldIgnore": False} for f in files]})
        if "/commit/" in path:
            lines = [json.loads(line) for line in request.content.decode().splitlines()]
            self.commit = {**lines[0]["value"], "create_pr": request.url.params.get("create_pr")}
            self.files = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
                          for line in lines[1:] if line["key"] == "file"}
            repo = path.split("/api/models/")[1].split("/commit/")[0]
            return httpx2.Response(200, json={"commitUrl": f"https://huggingface.co/{repo}/commit/abc",
                                              "commitOid": "a" * 40, "pullRequestUrl": None})
        return httpx2.Response(404, json={"error": f"fake hub: no route {request.method} {path}"})


@pytest.fixture
def fake_hub(monkeypatch):
    """The Hub as a FakeHub, with this test online and logged in (the suite is offline)."""
    hub = FakeHub(branches=("main", "v1"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token")
    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
    yield hub
    huggingface_hub.set_client_factory(huggingface_hub.utils._http.default_client_factory)


def test_push_creates_the_repo_and_uploads_the_exported_folder(run_dir, fake_hub):
    url = push(run_dir, "someone/tiny-simclr", private=True, revision="v1")
    assert url.startswith("https://huggingface.co/someone/tiny-simclr/commit/")
    assert fake_hub.created["name"] == "tiny-simclr" and fake_hub.created["organization"] == "someone"
    assert fake_hub.created["visibility"] == "private"
    assert fake_hub.revision == "v1"
    assert sorted(fake_hub.files) == ["README.md", "config.json", "metrics.jsonl", "model.safetensors",
                                      "run_config.yaml", "summary.json"]
    assert b"someone/tiny-simclr" in fake_hub.files["README.md"]
    assert str(run_dir).encode() not in fake_hub.files["run_config.yaml"]


def test_a_missing_revision_gives_one_clear_message(run_dir, fake_hub):
    with pytest.raises(HubError, match="revision 'nope' does not exist in 'someone/tiny-simclr'"):
        push(run_dir, "someone/tiny-simclr", revision="nope")


@pytest.mark.parametrize("repo_id", ["bad repo!", "someone/a/b", "tiny-simclr"])
def test_a_malformed_repo_id_gives_one_clear_message(run_dir, fake_hub, repo_id):
    with pytest.raises(HubError, match=f"repo id {repo_id!r} is malformed"):
        push(run_dir, repo_id)
    assert fake_hub.created is None


def test_unauthenticated_gives_one_clear_message(run_dir, fake_hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(HubError, match="not logged in"):
        push(run_dir, "someone/tiny-simclr")


def test_offline_push_prints_one_line_and_exits_2(run_dir, monkeypatch, capsys):
    from ssl_core.cli import main

    monkeypatch.setenv("HF_TOKEN", "hf_fake_token")
    monkeypatch.setattr("sys.argv", ["ssl", "push", str(run_dir), "someone/tiny-simclr"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: cannot reach the Hub for 'someone/tiny-simclr': HF_HUB_OFFLINE is set")
    assert "\n" not in err and "Traceback" not in err


def test_loading_a_repo_that_is_not_cached_offline_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(HubError, match="not in the local Hugging Face cache"):
        load_encoder("someone/never-downloaded")


def test_dry_run_lists_the_files_with_sizes_and_uploads_nothing(run_dir, tmp_path):
    result = CliRunner().invoke(cli, ["push", str(run_dir), "someone/tiny-simclr", "--dry-run", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "model.safetensors" in result.output and "README.md" in result.output and "bytes" in result.output
    assert "nothing uploaded" in result.output
    assert load_encoder(tmp_path / "out").feature_dim == 16
