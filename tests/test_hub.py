"""halftint.hub without a network: sources, the embedded default, verification, publishing.

Publishing is tested at the huggingface_hub API boundary: the HfApi methods are replaced by
recorders, so the test sees exactly which folder, files and arguments would be uploaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi

from halftint import hub
from halftint.bundle import render_model_card, sha256_file, verify
from halftint.cli.common import error_text
from halftint.errors import UsageError, WeightsError
from halftint.hub import HubSource, parse_hub_source, resolve_weights


def copy_bundle(bundle: Path, destination: Path) -> Path:
    shutil.copytree(bundle, destination)
    return destination


def flip_one_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


@pytest.fixture
def no_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No bundle ships, whatever the package folder holds; HALFTINT_WEIGHTS unset."""
    monkeypatch.setattr(hub, "EMBEDDED_FOLDER", tmp_path / "no-embedded-weights")
    monkeypatch.delenv("HALFTINT_WEIGHTS", raising=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf://owner/repo", HubSource("owner/repo", None, "main")),
        ("hf://owner/repo@v1.0", HubSource("owner/repo", None, "v1.0")),
        (
            "hf://owner/repo/lite/photos@refs/pr/3",
            HubSource("owner/repo", "lite/photos", "refs/pr/3"),
        ),
        ("hf://Org-1/my_repo.v2/", HubSource("Org-1/my_repo.v2", None, "main")),
        (f"hf://o/r@{'a' * 40}", HubSource("o/r", None, "a" * 40)),
    ],
)
def test_parse_hub_source(text: str, expected: HubSource) -> None:
    assert parse_hub_source(text) == expected


def test_hub_source_round_trips_through_its_text() -> None:
    source = HubSource("owner/repo", "lite/photos", "v2")
    assert str(source) == "hf://owner/repo/lite/photos@v2"
    assert parse_hub_source(str(source)) == source
    assert source.repo_path("ihn/config.json") == "lite/photos/ihn/config.json"


@pytest.mark.parametrize(
    "text",
    [
        "hf://",
        "hf://repo-only",
        "hf://owner/repo@",
        "hf://own er/repo",
        "hf://o/r/../x",
        "hf://-o/r",
    ],
)
def test_malformed_hub_sources_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match=r"hf://OWNER/REPO\[/SUBDIR\]\[@REVISION\]|empty revision"):
        parse_hub_source(text)


@pytest.mark.usefixtures("no_embedded")
def test_no_weights_anywhere_says_how_to_get_or_train_them() -> None:
    with pytest.raises(WeightsError) as raised:
        resolve_weights()
    # Python callers read the argument's name, the command line its option
    assert "pass source='PATH|hf://OWNER/REPO'" in str(raised.value)
    message = error_text(raised.value)
    assert message.startswith("no weights given and none shipped with this halftint;")
    assert "--weights PATH|hf://OWNER/REPO" in message
    assert "halftint train all --data PHOTOS --preset lite --out runs/NAME" in message
    assert "--weights runs/NAME/bundle" in message
    assert "\n" not in message


def test_embedded_default_is_used_when_nothing_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_bundle: Path
) -> None:
    embedded = tmp_path / "weights"
    default = copy_bundle(tiny_bundle, embedded / hub.DEFAULT_BUNDLE)
    (embedded / "not-a-bundle").mkdir()
    monkeypatch.setattr(hub, "EMBEDDED_FOLDER", embedded)
    monkeypatch.delenv("HALFTINT_WEIGHTS", raising=False)

    assert hub.embedded_bundles() == {hub.DEFAULT_BUNDLE: default}
    assert resolve_weights() == default
    assert resolve_weights(hub.DEFAULT_BUNDLE) == default
    entries = hub.list_bundles(str(tmp_path / "empty-cache"))
    assert [(e.source, e.origin, e.preset, e.complete) for e in entries] == [
        (hub.DEFAULT_BUNDLE, "embedded", "tiny", True)
    ]
    assert entries[0].size == sum(p.stat().st_size for p in default.rglob("*") if p.is_file())


@pytest.mark.usefixtures("no_embedded")
def test_environment_variable_names_the_weights(
    monkeypatch: pytest.MonkeyPatch, tiny_bundle: Path
) -> None:
    monkeypatch.setenv("HALFTINT_WEIGHTS", str(tiny_bundle))
    assert resolve_weights() == tiny_bundle


@pytest.mark.usefixtures("no_embedded")
def test_unknown_source_lists_what_is_accepted() -> None:
    with pytest.raises(
        WeightsError, match=r"'nope' is neither a folder, nor hf://.*\(shipped: none\)"
    ):
        resolve_weights("nope")


def test_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"is not a halftint weights bundle \(no bundle.json\)"):
        resolve_weights(str(tmp_path))


def test_bundle_of_a_newer_format_is_refused(tmp_path: Path, tiny_bundle: Path) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "future")
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["format_version"] = 2
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match=r"newer halftint \(format 2 > 1\); upgrade halftint"):
        resolve_weights(str(bundle))


def test_verify_reports_every_bad_file_and_leaves_a_local_folder_alone(
    tmp_path: Path, tiny_bundle: Path
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "damaged")
    flip_one_byte(bundle / "generator" / "model.safetensors")
    (bundle / "fusion" / "config.json").unlink()

    result = verify(bundle)

    listed = json.loads((bundle / "bundle.json").read_text())["files"]
    assert result.files == len(listed)
    assert [(p.relative, p.actual is None) for p in result.problems] == [
        ("fusion/config.json", True),
        ("generator/model.safetensors", False),
    ]
    assert result.problems[1].expected == listed["generator/model.safetensors"]
    assert "sha256 mismatch for generator/model.safetensors" in result.problems[1].describe()
    assert (bundle / "generator" / "model.safetensors").is_file()  # never deleted
    assert verify(tiny_bundle).problems == []


@dataclass
class RecordedHub:
    """What the replaced HfApi methods were asked to do."""

    calls: list[tuple[str, dict[str, Any]]]
    uploaded: dict[str, bytes]


@pytest.fixture
def recorded_hub(monkeypatch: pytest.MonkeyPatch) -> RecordedHub:
    record = RecordedHub(calls=[], uploaded={})

    def create_repo(self: HfApi, repo_id: str, **kwargs: Any) -> None:
        record.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def create_branch(self: HfApi, repo_id: str, **kwargs: Any) -> None:
        record.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self: HfApi, **kwargs: Any) -> Any:
        record.calls.append(("upload_folder", kwargs))
        folder = Path(kwargs["folder_path"])
        # what upload_folder would send: the allowed files, read now (as the real one does)
        for pattern in kwargs["allow_patterns"]:
            record.uploaded[pattern] = (folder / pattern).read_bytes()
        return type("Commit", (), {"oid": "c" * 40})()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_sent_anywhere")
    return record


def test_push_uploads_exactly_the_bundle_with_its_model_card(
    tmp_path: Path, tiny_bundle: Path, recorded_hub: RecordedHub
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "to-publish")
    (bundle / "notes.txt").write_text("a stray file that is not part of the bundle")

    published = hub.push_bundle(
        bundle, "owner/halftint-lite", revision="v1", private=True, subfolder="photos"
    )

    assert published == HubSource("owner/halftint-lite", "photos", "c" * 40)
    assert [name for name, _ in recorded_hub.calls] == [
        "create_repo",
        "create_branch",
        "upload_folder",
    ]
    create_repo, create_branch, upload = (kwargs for _, kwargs in recorded_hub.calls)
    assert create_repo == {
        "repo_id": "owner/halftint-lite",
        "repo_type": "model",
        "private": True,
        "exist_ok": True,
    }
    assert create_branch["branch"] == "v1"
    meta = json.loads((bundle / "bundle.json").read_text())
    assert upload["folder_path"] == bundle
    assert upload["repo_id"] == "owner/halftint-lite"
    assert upload["revision"] == "v1"
    assert upload["path_in_repo"] == "photos"
    assert upload["allow_patterns"] == sorted(["bundle.json", *meta["files"]])
    assert "notes.txt" not in recorded_hub.uploaded
    card = recorded_hub.uploaded["README.md"].decode()
    assert card == render_model_card(meta)
    assert card.startswith(f"# {meta['name']}\n")
    assert "preset: `tiny`" in card
    for relative, digest in meta["files"].items():
        assert sha256_file(bundle / relative) == digest


def test_push_to_main_creates_no_branch(tiny_bundle: Path, recorded_hub: RecordedHub) -> None:
    published = hub.push_bundle(tiny_bundle, "owner/repo")
    assert [name for name, _ in recorded_hub.calls] == ["create_repo", "upload_folder"]
    assert recorded_hub.calls[0][1]["private"] is False
    assert recorded_hub.calls[1][1]["revision"] is None
    assert str(published) == f"hf://owner/repo@{'c' * 40}"


def test_push_refuses_a_damaged_bundle_before_any_request(
    tmp_path: Path, tiny_bundle: Path, recorded_hub: RecordedHub
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "damaged")
    flip_one_byte(bundle / "ihn" / "model.safetensors")
    with pytest.raises(WeightsError, match=r"ihn/model\.safetensors.*refusing to publish"):
        hub.push_bundle(bundle, "owner/repo")
    assert recorded_hub.calls == []


def test_push_without_a_token_says_how_to_log_in(
    monkeypatch: pytest.MonkeyPatch, tiny_bundle: Path, recorded_hub: RecordedHub
) -> None:
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(WeightsError, match=r"needs a Hugging Face token.*hf auth login.*HF_TOKEN"):
        hub.push_bundle(tiny_bundle, "owner/repo")
    assert recorded_hub.calls == []


def test_push_checks_the_repository_name(tiny_bundle: Path, recorded_hub: RecordedHub) -> None:
    with pytest.raises(UsageError, match="bad Hub source"):
        hub.push_bundle(tiny_bundle, "no-owner")
    assert recorded_hub.calls == []


def test_a_path_outside_the_bundle_is_refused_before_any_file_is_touched(
    tmp_path: Path, tiny_bundle: Path
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "bundle")
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of any bundle")
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["files"]["../outside.txt"] = "0" * 64
    (bundle / "bundle.json").write_text(json.dumps(meta))
    for check in (
        lambda: resolve_weights(str(bundle)),
        lambda: verify(bundle, discard=Path.unlink),
    ):
        with pytest.raises(
            WeightsError, match=r"lists a path outside the bundle: \.\./outside\.txt"
        ):
            check()
    assert outside.read_text() == "not part of any bundle"


def test_a_shipped_or_local_bundle_resolves_without_loading_huggingface_hub(
    tiny_bundle: Path,
) -> None:
    """Importing huggingface_hub costs a command about 0.3 s; only hf:// sources need it."""
    code = (
        "import sys\n"
        "from halftint.hub import resolve_bundle\n"
        "resolve_bundle(sys.argv[1])\n"
        "print('huggingface_hub' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tiny_bundle)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
