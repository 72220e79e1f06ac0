"""The `aliyun-vod` dialect: every fixture normalized field by field, the query answers of seeds 003/004,
task attachment across callbacks and polls, X-VOD-SIGNATURE verification, detection and decoding."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema

from receiver import dialects
from receiver.dialects._coerce import unix_or_iso_time
from receiver.dialects.aliyun_vod import DIALECT, fast, sign, video_of_task
from receiver.dialects.aliyun_vod import models as m
from receiver.dialects.aliyun_vod.normalize import transcode_task_id
from receiver.dialects.base import NormalizeContext, RawCallback, SigningPolicy, Unidentifiable, Verdict, openings
from receiver.model import Event, Origin, Outcome, OutputKind, Provider, Status, TaskKind
from tests.test_fuzz_fixtures import slots

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "aliyun-vod"
RECEIVED = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
T = datetime.fromisoformat


def callback_paths() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".headers.json"))


def query_paths() -> list[Path]:
    return sorted((FIXTURES / "query").glob("*.json"))


def ctx(origin: Origin = Origin.CALLBACK, api: str | None = None, hint: str | None = None) -> NormalizeContext:
    return NormalizeContext(source="ali", origin=origin, received_at=RECEIVED, api=api, task_id_hint=hint)


def events_of(name: str, **kwargs: Any) -> list[Event]:
    path = FIXTURES / name
    document = DIALECT.decode(path.read_bytes())
    if path.parent.name == "query" and "api" not in kwargs:
        kwargs["api"] = path.stem.split("__")[0]
        kwargs.setdefault("origin", Origin.POLL)
    return DIALECT.normalize(document, ctx(**kwargs))


def one(name: str, **kwargs: Any) -> Event:
    [event] = events_of(name, **kwargs)
    return event


def plain(value: Any) -> Any:
    """A nested model (ErrorInfo, Session) as a dict, to compare with an expected dict."""
    return value.model_dump() if hasattr(value, "model_dump") else value


def check(event: Event, expected: dict[str, Any]) -> None:
    """Assert each expected field on its own, so a failure names the field."""
    for field, value in expected.items():
        if field == "outputs":
            assert len(event.outputs) == len(value), ("outputs", [o.key for o in event.outputs])
            for output, want in zip(event.outputs, value, strict=True):
                for name, wanted in want.items():
                    got = plain(getattr(output, name))
                    assert got == wanted, (output.key, name, got)
        elif field == "warnings":
            assert len(event.warnings) == len(value), event.warnings
            for needle in value:
                assert any(needle in warning for warning in event.warnings), (needle, event.warnings)
        elif field == "extra":
            for name, wanted in value.items():
                assert event.extra.get(name) == wanted, ("extra", name, event.extra.get(name))
        else:
            got = plain(getattr(event, field))
            if isinstance(got, dict) and isinstance(value, dict):
                got = {k: v for k, v in got.items() if k in value or v is not None}
            assert got == value, (field, got)


VID = "10f6baa29bdf71f1bfc46733a78e0102"
BUCKET = "http://outin-4e4a1d5b6bd111f0a3b700163e1c35b5.oss-cn-shanghai.aliyuncs.com"
BAD_INPUT = {"code": "InvalidParameter.ResourceContentBad", "message": "The resource operated InputFile is bad"}
DOC_TRANSCODE_OUTPUTS = [
    {
        "key": "LD/mp4",
        "kind": OutputKind.VIDEO,
        "definition": "LD",
        "container": "mp4",
        "size_bytes": 1815321,
        "bitrate_bps": 925_000,
        "width": 540,
        "height": 960,
        "duration_s": 15.0,
        "fps": 30.0,
        "url": "http://vod.aliyunsample.com/ABEBDE1JSU79FD4D1329/62cb3151eba52js82j2da3b55bc5****.mp4",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "error": None,
    },
    {
        "key": "SD/mp4",
        "definition": "SD",
        "size_bytes": 3090951,
        "bitrate_bps": 1_575_000,
        "width": 540,
        "height": 960,
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    },
]
DOC_TRANSCODE = {
    "provider": Provider.ALIYUN_VOD,
    "dialect": "aliyun-vod",
    "origin": Origin.CALLBACK,
    "event_type": "TranscodeComplete",
    "task_id": "transcode:43q9fjsh73f****",
    "task_kind": TaskKind.TRANSCODE,
    "media_id": "43q9fjsh73f****",
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "provider_status": "success",
    "error": None,
    "updated_at": T("2017-03-20T07:49:17Z"),
    "finished_at": T("2017-03-20T07:49:17Z"),
    "started_at": None,
    "outputs": DOC_TRANSCODE_OUTPUTS,
    "warnings": [],
    "extra": {
        "jobs": {
            "LD/mp4": {"job_id": "ffffffffff", "encrypted": False},
            "SD/mp4": {"job_id": "ddddddddddd", "encrypted": False},
        }
    },
}
REAL_TRANSCODE = {
    "event_type": "TranscodeComplete",
    "task_id": f"transcode:{VID}",
    "media_id": VID,
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "started_at": T("2026-03-02T06:47:10Z"),
    "updated_at": T("2026-03-02T06:49:51Z"),
    "finished_at": T("2026-03-02T06:49:51Z"),
    "session": None,
    "warnings": [],
    "outputs": [
        {
            "key": "FD/m3u8",
            "kind": OutputKind.STREAMING,
            "definition": "FD",
            "container": "m3u8",
            "width": 640,
            "height": 360,
            "bitrate_bps": 421_000,
            "size_bytes": 8123456,
            "duration_s": 154.0,
            "fps": 25.0,
            "url": f"{BUCKET}/{VID}/5d3bd0b1a8f74c2bb2a3f8b1c0e2d401-fd.m3u8",
            "outcome": Outcome.SUCCESS,
        },
        {"key": "LD/m3u8", "width": 960, "height": 540, "bitrate_bps": 779_000},
        {"key": "SD/m3u8", "width": 1280, "height": 720, "bitrate_bps": 1_110_000},
    ],
    "extra": {
        "jobs": {
            "FD/m3u8": {"job_id": "5d3bd0b1a8f74c2bb2a3f8b1c0e2d401", "encrypted": False, "is_audio": False},
            "LD/m3u8": {"job_id": "5d3bd0b1a8f74c2bb2a3f8b1c0e2d402", "encrypted": False, "is_audio": False},
            "SD/m3u8": {"job_id": "5d3bd0b1a8f74c2bb2a3f8b1c0e2d403", "encrypted": False, "is_audio": False},
        }
    },
}
DOC_STREAM = {
    "event_type": "StreamTranscodeComplete",
    "task_id": "transcode:43q9fj74hdf****",
    "task_kind": TaskKind.TRANSCODE,
    "media_id": "43q9fj74hdf****",
    "status": Status.PROCESSING,
    "outcome": None,
    "provider_status": "success",
    "updated_at": T("2017-03-20T07:49:17Z"),
    "finished_at": None,
    "outputs": [
        {
            "key": "LD/mp4",
            "definition": "LD",
            "container": "mp4",
            "duration_s": 15.0,
            "fps": 30.0,
            "bitrate_bps": 925_000,
            "status": Status.FINISHED,
            "outcome": Outcome.SUCCESS,
        }
    ],
    "warnings": [],
}
UPLOAD_DOC = {
    "event_type": "FileUploadComplete",
    "task_id": None,
    "task_kind": TaskKind.UPLOAD,
    "media_id": "43q91jdh7df****",
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "provider_status": None,
    "finished_at": T("2017-03-20T07:49:17Z"),
    "outputs": [
        {
            "key": "mezzanine",
            "kind": OutputKind.FILE,
            "container": "mp4",
            "size_bytes": 1439213,
            "url": "http://ss****-bucket.oss-cn-shanghai.aliyuncs.com/27ffc438-164h67f57ef-0005-6884-51a-1****.mp4",
        }
    ],
    "warnings": [],
}
UPLOAD_REAL = {
    "event_type": "FileUploadComplete",
    "task_id": None,
    "media_id": VID,
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "provider_status": "success",
    "finished_at": T("2026-03-02T06:46:58Z"),
    "outputs": [{"key": "mezzanine", "size_bytes": 31457280, "container": "mp4"}],
    "warnings": [],
}

#: Every callback fixture and what it must normalize to (a fixture missing here fails the coverage test).
EXPECTED: dict[str, dict[str, Any]] = {
    "TranscodeComplete.json": {**DOC_TRANSCODE, "session": {"context": "test data"}},
    "TranscodeComplete__trailing_space_keys.json": {**DOC_TRANSCODE, "session": {"context": "test data"}},
    "TranscodeComplete__double_encoded_streaminfos.json": {**DOC_TRANSCODE, "session": {"context": "test data"}},
    "TranscodeComplete__string_numbers.json": {
        **DOC_TRANSCODE,
        "outputs": [{**DOC_TRANSCODE_OUTPUTS[0], "fps": 29.97}, {**DOC_TRANSCODE_OUTPUTS[1], "fps": 29.97}],
    },
    "TranscodeComplete__unparseable_streaminfos.json": {
        "task_id": "transcode:43q9fjsh73f****",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "outputs": [],
        "warnings": ["$.StreamInfos: value error, not valid json text"],
    },
    "TranscodeComplete__real.json": REAL_TRANSCODE,
    "TranscodeComplete__signed.json": REAL_TRANSCODE,
    "TranscodeComplete__base64.json": REAL_TRANSCODE,
    "TranscodeComplete__bad_year.json": {
        **REAL_TRANSCODE,
        "updated_at": None,
        "started_at": None,
        "finished_at": T("2026-03-02T06:49:51Z"),
        "warnings": [
            "$.EventTime: value error, not a time",
            "$.StreamInfos[0].StartTime",
            "$.StreamInfos[1].StartTime",
            "$.StreamInfos[2].StartTime",
        ],
    },
    "TranscodeComplete__fail.json": {
        "task_id": "transcode:10d5ee269c0271f1bff44531948c0102",
        "status": Status.FINISHED,
        "outcome": Outcome.FAILED,
        "provider_status": "fail",
        "error": BAD_INPUT,
        "started_at": T("2026-03-02T07:00:00Z"),
        "finished_at": T("2026-03-02T07:00:04Z"),
        "outputs": [
            {"key": "FD/mp4", "url": None, "size_bytes": None, "outcome": Outcome.FAILED, "error": BAD_INPUT},
            {"key": "LD/mp4", "outcome": Outcome.FAILED, "error": BAD_INPUT},
        ],
        "warnings": [],
    },
    "TranscodeComplete__partial.json": {
        "status": Status.FINISHED,
        "outcome": Outcome.PARTIAL,
        "provider_status": "success",
        "error": BAD_INPUT,
        "outputs": [
            {"key": "FD/m3u8", "outcome": Outcome.SUCCESS, "error": None},
            {"key": "LD/m3u8", "outcome": Outcome.FAILED, "error": BAD_INPUT},
        ],
        "warnings": [],
    },
    "StreamTranscodeComplete.json": {**DOC_STREAM, "session": {"context": "test data"}},
    "StreamTranscodeComplete__ms_colon.json": {
        **DOC_STREAM,
        "session": {"context": "test data"},
        "updated_at": T("2024-04-10T01:37:14.627Z"),
        "started_at": T("2024-04-10T01:36:02.015Z"),
    },
    "StreamTranscodeComplete__extend_object.json": {
        **DOC_STREAM,
        "session": {"context": '{"localId":"xxx","tenant":42}'},
        "extra": {"extend": {"localId": "xxx", "tenant": 42}},
    },
    "StreamTranscodeComplete__misspelled_status.json": {
        **DOC_STREAM,
        "session": {"context": "test data"},
        "provider_status": "Succes",
        "warnings": ["$.Status: read as success (got 'Succes')"],
    },
    "FileUploadComplete.json": UPLOAD_DOC,
    "FileUploadComplete__extend_json_string.json": {
        **UPLOAD_DOC,
        "provider_status": "success",
        "session": {"context": '{"test":"your extend data"}'},
        "extra": {"extend": {"test": "your extend data"}},
    },
    "FileUploadComplete__real.json": UPLOAD_REAL,
    "FileUploadComplete__signed.json": UPLOAD_REAL,
    "SnapshotComplete.json": {
        "event_type": "SnapshotComplete",
        "task_id": "snapshot-job:ee16d4bbf3f7*****e094bcb8cf8ddde",
        "task_kind": TaskKind.SNAPSHOT,
        "media_id": None,
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "provider_status": None,
        "outputs": [
            {
                "key": "CoverSnapshot",
                "kind": OutputKind.IMAGES,
                "container": "jpg",
                "urls": [f"http://sample/covers/990f3820db2948b5b4a13d65d9a4****-0000{i}.jpg" for i in (1, 2)],
            },
            {
                "key": "SpriteSnapshot",
                "kind": OutputKind.SPRITE,
                "urls": ["http://sample/covers/sprite/990f3820db2948b5b4a13d65d9a4****-00001.jpg"],
            },
            {
                "key": "cover",
                "kind": OutputKind.IMAGE,
                "url": "http://sample/covers/990f3820db2948b5b4a13d65d9a4****-00002.jpg",
            },
        ],
        "warnings": ["$.VideoId: missing: attached to the first snapshot job"],
        "extra": {"job_ids": ["ee16d4bbf3f7*****e094bcb8cf8ddde", "b3187205eed*****b72adf4eb3840713"]},
    },
    "SnapshotComplete__specified_time.json": {
        "task_id": f"snapshot:{VID}",
        "media_id": VID,
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "outputs": [
            {
                "key": "NormalSnapshot",
                "kind": OutputKind.IMAGES,
                "urls": [f"{BUCKET}/{VID}/snapshots/normal/2b1f3c4d-0000{i}.jpg" for i in (1, 2, 3)],
            }
        ],
        "extra": {"sub_type": "SpecifiedTime"},
        "warnings": [],
    },
    "VideoAnalysisComplete.json": {
        "task_id": None,
        "task_kind": TaskKind.ANALYSIS,
        "media_id": "84bd5b0566ddj39549986befd0e80****",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "outputs": [
            {
                "key": "mezzanine-metadata",
                "kind": OutputKind.VIDEO,
                "width": 630,
                "height": 360,
                "duration_s": 12.0,
                "fps": 30.0,
                "bitrate_bps": 499_000,
                "size_bytes": 1234568,
            }
        ],
        "warnings": [],
    },
    "VideoAnalysisComplete__fail.json": {
        "media_id": "84bd5b0566ddj39549986befd0e80****",
        "status": Status.FINISHED,
        "outcome": Outcome.FAILED,
        "error": BAD_INPUT,
        "outputs": [],
        "warnings": [],
    },
    "AIMediaAuditComplete.json": {
        "task_id": None,
        "task_kind": TaskKind.REVIEW,
        "media_id": "SHEN38505NDF9****",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "error": None,
        "outputs": [],
        "warnings": [],
        "extra": {"job_id": "43q91jdh7df****"},
    },
    "AIMediaDNAComplete.json": {
        "task_kind": TaskKind.ANALYSIS,
        "media_id": "3D12340d92cjsw83k1fab46a0b847fd****",
        "outcome": Outcome.SUCCESS,
        "warnings": [],
        "extra": {"job_id": "88c6ca184c0edj384a5b665e2a12****"},
    },
    "AIVideoTagComplete.json": {
        "task_kind": TaskKind.ANALYSIS,
        "media_id": "sj83k40d92c641401fab46a0b842e9****",
        "outcome": Outcome.SUCCESS,
        "warnings": [],
    },
    "CreateAuditComplete.json": {
        "task_kind": TaskKind.REVIEW,
        "media_id": "<Example ID>",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "created_at": T("2017-03-20T07:49:17Z"),
        "warnings": [],
        "extra": {"audit_status": "Blocked", "auditor": "author", "reason": "Vulgar content", "sub_type": "video"},
    },
    "DeleteMediaComplete.json": {
        "task_kind": TaskKind.DELETE,
        "media_id": "1234343b689jsi3ka5422dfe1e47****",
        "outcome": Outcome.SUCCESS,
        "extra": {"media_type": "video", "delete_type": "all"},
        "warnings": [],
    },
    "DeleteMediaComplete__fail.json": {
        "outcome": Outcome.FAILED,
        "provider_status": "fail",
        "error": {"code": "InvalidVideo.NotFound", "message": "The video does not exist."},
        "warnings": [],
    },
    "ProduceMediaComplete.json": {
        "task_id": "produce:987624bab6*****d9fcdeefdd974c7aa",
        "task_kind": TaskKind.EDIT,
        "media_id": "1234343b689*****a5422dfe1e472a41",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "error": None,
        "warnings": [],
    },
    "ProduceMediaComplete__fail.json": {
        "task_id": "produce:987624bab6*****d9fcdeefdd974c7aa",
        "outcome": Outcome.FAILED,
        "error": BAD_INPUT,
        "warnings": [],
    },
    "MediaBaseChangeComplete.json": {
        "task_kind": TaskKind.OTHER,
        "media_id": "3b46b391419aj294m83b459f7435****",
        "outcome": Outcome.SUCCESS,
        "extra": {
            "media_type": "video",
            "operate_mode": "update",
            "media_content": {
                "Description": {"OldValue": "OldDesc", "NewValue": "NewDesc"},
                "CoverURL": {"NewValue": "http://test.aliyun.com/image/cover/8C46D968F6954348AFC7A88****-6-2.png"},
                "CateId": '{"NewValue":100002****}',
            },
        },
        "warnings": ["$.MediaContent.CateId: not valid JSON"],
    },
    "ImageUploadComplete.json": {
        "task_kind": TaskKind.UPLOAD,
        "media_id": "59bdbf10df76a8d8b6137a5ad12****",
        "outcome": Outcome.SUCCESS,
        "finished_at": T("2017-03-20T07:49:17Z"),
        "outputs": [{"key": "mezzanine", "kind": OutputKind.IMAGE, "container": "jpg", "size_bytes": 105520}],
        "extra": {"app_id": "app-1000000"},
        "warnings": [],
    },
    "ImageUploadComplete__ms_colon.json": {
        "media_id": "59bdbf10df76a8d8b6137a5ad12****",
        "finished_at": T("2024-04-10T01:37:14.627Z"),
        "updated_at": T("2024-04-10T01:37:14.627Z"),
        "warnings": [],
    },
    "AttachedMediaUploadComplete.json": {
        "task_kind": TaskKind.UPLOAD,
        "media_id": "62cb3151eba52js82j2da3b55bc5****",
        "outcome": Outcome.SUCCESS,
        "outputs": [{"key": "mezzanine", "kind": OutputKind.FILE, "container": "png", "size_bytes": 14333}],
        "warnings": [],
    },
    "UploadByURLComplete.json": {
        "task_id": "urlupload:4c815bjs83j1****",
        "task_kind": TaskKind.PULL,
        "media_id": "43q9fjdun3f****",
        "outcome": Outcome.SUCCESS,
        "outputs": [{"key": "mezzanine", "size_bytes": 123456, "url": None}],
        "extra": {
            "source_url": "http://sample-bucket.oss-cn-shanghai.aliyuncs.com/27ffc438-164d55217ef-0005-6884-51a-1****.mp4"
        },
        "warnings": [],
    },
    "UploadByURLComplete__fail.json": {
        "task_id": "urlupload:4c815bjsued19c8e",
        "media_id": None,
        "status": Status.FINISHED,
        "outcome": Outcome.FAILED,
        "outputs": [],
        "error": {"code": "URLInvalidError", "message": "download video failed by the url, please check it"},
        "warnings": [],
    },
    "AddLiveRecordVideoComplete.json": {
        "task_kind": TaskKind.COMPOSE,
        "media_id": "43q9fjdhef****",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "extra": {"stream_name": "xxx", "record_start_time": "2017-12-08T07:40:56Z"},
        "warnings": [],
    },
    "LiveRecordVideoComposeStart.json": {
        "task_kind": TaskKind.COMPOSE,
        "media_id": "43q9fsjnehdf****",
        "status": Status.PROCESSING,
        "outcome": None,
        "started_at": T("2017-12-08T09:26:17Z"),
        "finished_at": None,
        "warnings": [],
    },
    "DynamicImageComplete.json": {
        "task_id": "dynamicimage:3af7e9705cb24js83j231d4c3719****",
        "task_kind": TaskKind.ANIMATED_GRAPHICS,
        "media_id": "6a45f222e08fhdjdn2d144503213****",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        "outputs": [
            {
                "key": "animation",
                "kind": OutputKind.ANIMATION,
                "container": "gif",
                "size_bytes": 1834831,
                "width": 200,
                "height": 200,
                "fps": 25.0,
                "url": "http://vod.aliyun.test/6a45f222e08fhdjdn2d144503213****/image/dynamic/3af1e9705cb243*****21d4c3719f0d4.gif",
            }
        ],
        "warnings": [],
    },
    "DynamicImageComplete__doc_raw_newlines.json": {
        "task_id": "dynamicimage:3af7e9705cb24js83j231d4c3719****",
        "outcome": Outcome.SUCCESS,
        "outputs": [{"key": "animation", "size_bytes": 1834831, "width": 200}],
        "warnings": [],
    },
    "VodFutureEventComplete__unknown.json": {
        "event_type": "VodFutureEventComplete",
        "task_id": None,
        "task_kind": TaskKind.OTHER,
        "media_id": VID,
        "status": None,
        "outcome": None,
        "provider_status": "success",
        "outputs": [],
        "extra": {"body": json.loads((FIXTURES / "VodFutureEventComplete__unknown.json").read_text())},
        "warnings": ["unknown event type, kept as a generic event"],
    },
}
QUARANTINED = {"AddLiveRecordVideoComplete__invalid_doc_trailing_comma.json"}


def test_every_fixture_has_an_expectation() -> None:
    assert {p.name for p in callback_paths()} == set(EXPECTED) | QUARANTINED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_callback_fixture_normalizes(name: str) -> None:
    event = one(name)
    check(event, {"provider": Provider.ALIYUN_VOD, "dialect": "aliyun-vod", "source": "ali", **EXPECTED[name]})
    assert event.received_at == RECEIVED


def test_doc_trailing_comma_is_quarantined_with_a_reason() -> None:
    body = (FIXTURES / "AddLiveRecordVideoComplete__invalid_doc_trailing_comma.json").read_bytes()
    with pytest.raises(Unidentifiable, match="not JSON"):
        DIALECT.decode(body)


def test_same_content_same_event_id_across_encodings_and_key_spaces() -> None:
    """Base64 (MNS), trailing-space keys and a double-encoded StreamInfos are the same callback."""
    assert one("TranscodeComplete__real.json").event_id == one("TranscodeComplete__base64.json").event_id
    plain = one("TranscodeComplete.json").event_id
    assert one("TranscodeComplete__trailing_space_keys.json").event_id == plain
    assert one("TranscodeComplete__double_encoded_streaminfos.json").event_id == plain


def test_ai_results_are_kept_verbatim() -> None:
    audit = one("AIMediaAuditComplete.json")
    document = json.loads((FIXTURES / "AIMediaAuditComplete.json").read_text())
    assert audit.extra["data"] == document["Data"]
    dna = one("AIMediaDNAComplete.json")
    assert dna.extra["data"]["VideoDNA"][0]["Similarity"] == "0.99"
    tag = one("AIVideoTagComplete.json")
    assert tag.extra["data"]["Person"][0]["Tag"] == "Sam"


def test_ai_failure_uses_code_and_message() -> None:
    document = json.loads((FIXTURES / "AIMediaDNAComplete.json").read_text())
    document.update(Status="fail", Code="InternalError", Message="boom", Data="")
    [event] = DIALECT.normalize(document, ctx())
    assert (event.outcome, event.error and event.error.code, event.error and event.error.message) == (
        Outcome.FAILED,
        "InternalError",
        "boom",
    )


# ---------------------------------------------------------------------------------------- query answers


def test_seed_003_get_transcode_task_results_decide_over_the_task_word() -> None:
    event = one("query/GetTranscodeTask.json")
    check(
        event,
        {
            "origin": Origin.POLL,
            "event_type": "GetTranscodeTask",
            "task_id": "transcode:883f5d98107f403fab7f20aaa352f",
            "task_kind": TaskKind.TRANSCODE,
            "media_id": "883f5d98107f403fab7f20aaa352f",
            "status": Status.FINISHED,
            "outcome": Outcome.PARTIAL,
            "provider_status": "CompleteAllSucc",
            "error": BAD_INPUT,
            "created_at": T("2019-01-23T12:35:12Z"),
            "updated_at": T("2019-02-26T08:27:20Z"),
            "finished_at": T("2019-02-26T08:27:20Z"),
            "warnings": [
                "$.TranscodeTask.TaskStatus: disagrees with the job results, outcome taken from them: partial"
            ],
            "extra": {
                "transcode_task_id": "c3be4f073c3f4534893e7d5193ec8",
                "template_group_id": "5b95e56c688f8e04f70b70b47f38e",
            },
            "outputs": [
                {
                    "key": "OD/mp4",
                    "definition": "OD",
                    "kind": OutputKind.VIDEO,
                    "url": None,
                    "container": "mp4",
                    "size_bytes": None,
                    "width": None,
                    "bitrate_bps": None,
                    "status": Status.FINISHED,
                    "outcome": Outcome.FAILED,
                    "error": BAD_INPUT,
                    "streams": None,
                },
                {
                    "key": "FD/m3u8",
                    "definition": "FD",
                    "kind": OutputKind.STREAMING,
                    "container": "m3u8",
                    "size_bytes": 851076,
                    "bitrate_bps": 549_000,
                    "width": 640,
                    "height": 360,
                    "duration_s": 12.0,
                    "fps": 25.0,
                    "outcome": Outcome.SUCCESS,
                    "error": None,
                    "url": "http://outin-40564284ef0511e8b2d300163e1403e7.oss-cn-shanghai.aliyuncs.com/e1e63748f833a89b68552e54d5f7/94c4553de59a4615ab926c7e9105732a-83d70e6c4f6a871e004f924434e3-fd-encrypt-stream.m3u8",
                },
                {"key": "FD/mp4", "definition": "FD", "size_bytes": 1520439, "bitrate_bps": 964_000, "fps": 30.0},
            ],
        },
    )
    streams = event.outputs[1].streams or []
    assert [(s.type, s.codec, s.bitrate_bps, s.width, s.height, s.fps, s.sample_rate_hz) for s in streams] == [
        ("video", "h264", 487_954, 640, 360, 25.0, None),
        ("audio", "aac", 62_015, None, None, None, 44_100),
    ]
    jobs = event.extra["jobs"]
    assert jobs["FD/m3u8"] == {
        "job_id": "cbc090458ee87abd0e0dbd6871a39",
        "template_id": "fa0b39136499c5494c63680ddcfd",
        "progress": 100,
        "priority": "6",
        "encrypt_type": "AliyunVoDEncryption",
        "input_url": "http://outin-40564284ef0511e8b2d3e1403e7.oss-cn-shanghai.aliyuncs.com/customerTrans/d96a00e9486af05f69bc1a1974ad/477e0344-16928ea4056-0003-b2a2-f94-c213f.mp4",
    }
    assert jobs["FD/mp4"]["watermark_ids"] == ["64079a0e3e286d23b48a8c9413"]
    assert jobs["OD/mp4"]["job_id"] == "e046ea644e8c983731f2f1061462"


def test_seed_004_mangled_stream_lists_are_repaired_and_said_so() -> None:
    event = one("query/GetTranscodeTask__doc2021.json")
    prefix = "$.TranscodeTask.TranscodeJobInfoList[0].OutputFile"
    check(
        event,
        {
            "task_id": "transcode:883f5d98107*****b7f20aaa352f",
            "status": Status.PROCESSING,
            "outcome": None,
            "provider_status": "Processing",
            "finished_at": None,
            "created_at": T("2019-01-23T12:35:12Z"),
            "updated_at": T("2019-02-26T08:30:16Z"),
            "error": None,
            "extra": {"trigger": "Auto", "transcode_task_id": "b1b65ab107e14*****3dbb900f6c1fe0"},
            "warnings": [
                f"{prefix}.VideoStreamList: malformed JSON text repaired",
                f"{prefix}.AudioStreamList: malformed JSON text repaired",
                f"{prefix}.Encryption: malformed JSON text repaired",
            ],
            "outputs": [
                {
                    "key": "FD/m3u8",
                    "definition": "FD",
                    "status": Status.PROCESSING,
                    "outcome": None,
                    "error": None,
                    "width": 640,
                    "height": 360,
                    "bitrate_bps": 964_000,
                    "size_bytes": 851076,
                }
            ],
        },
    )
    streams = event.outputs[0].streams or []
    assert [(s.type, s.bitrate_bps, s.fps, s.sample_rate_hz) for s in streams] == [
        ("video", 933_814, 30.0, None),
        ("audio", 64_533, None, 44_100),
    ]
    assert event.extra["jobs"]["FD/m3u8"]["watermark_ids"] == ["64079a0e3e286*****b48a8c9413"]
    assert event.extra["jobs"]["FD/m3u8"]["encrypt_type"] == "AliyunVoDEncryption"


def test_bad_year_is_null_with_a_warning_and_the_rest_survives() -> None:
    event = one("query/GetTranscodeTask__bad_year.json")
    check(
        event,
        {
            "created_at": None,
            "finished_at": None,
            "status": Status.PROCESSING,
            "provider_status": "Processing",
            "updated_at": T("2019-02-26T08:27:16Z"),
            "warnings": [
                "$.TranscodeTask.CreationTime: value error, not a time: '019-01-23t12:35:12z'",
                "$.TranscodeTask.CompleteTime: value error",
            ],
            "outputs": [{"key": "FD/m3u8", "status": Status.PROCESSING, "error": None}],
        },
    )


def test_misspelled_task_status_is_read_with_a_warning() -> None:
    event = one("query/GetTranscodeTask__misspelled_status.json")
    check(
        event,
        {
            "status": Status.FINISHED,
            "outcome": Outcome.SUCCESS,
            "provider_status": "CompleteAllSucces",
            "finished_at": T("2019-02-26T08:27:21Z"),
            "warnings": ["misspelled task status read as 'CompleteAllSucc' (got 'CompleteAllSucces')"],
            "outputs": [{"key": "FD/m3u8"}, {"key": "FD/mp4"}],
        },
    )


def test_double_encoded_lists_decode_silently() -> None:
    event = one("query/GetTranscodeTask__double_encoded_lists.json")
    reference = one("query/GetTranscodeTask__misspelled_status.json")
    check(event, {"warnings": [], "outcome": Outcome.SUCCESS})
    assert event.outputs == reference.outputs
    assert event.extra["jobs"] == reference.extra["jobs"]


def test_list_transcode_task_yields_one_event_per_task_on_the_video_task() -> None:
    first, second = events_of("query/ListTranscodeTask.json")
    common = {
        "origin": Origin.POLL,
        "event_type": "ListTranscodeTask",
        "task_kind": TaskKind.TRANSCODE,
        "task_id": "transcode:d4860fcc6a5*****bce9fed52e893824",
        "media_id": "d4860fcc6a5*****bce9fed52e893824",
        "outputs": [],
        "created_at": T("2019-01-23T12:35:12Z"),
    }
    check(
        first,
        {
            **common,
            "status": Status.PROCESSING,
            "outcome": None,
            "provider_status": "Processing",
            "finished_at": None,
            "warnings": [],
            "extra": {"transcode_task_id": "b1b65ab107*****ba3dbb900f6c1fe0"},
        },
    )
    check(
        second,
        {
            **common,
            "status": Status.FINISHED,
            "outcome": Outcome.SUCCESS,
            "provider_status": "CompeleteAllSucc",
            "finished_at": T("2019-01-23T12:40:12Z"),
            "warnings": ["misspelled task status read as 'CompleteAllSucc'"],
            "extra": {
                "transcode_task_id": "91449a74a9d7*****31e179a1ec1e",
                "template_group_id": "947b9f5b0eb*****3d985df69d76b7",
            },
        },
    )


def test_get_by_job_ids_takes_the_task_from_the_hint() -> None:
    event = one("query/GetTranscodeTask__by_job_ids.json", hint="transcode:883f5d98107f403fab7f20aaa352f")
    check(
        event,
        {
            "task_id": "transcode:883f5d98107f403fab7f20aaa352f",
            "media_id": None,
            "status": Status.FINISHED,
            "outcome": Outcome.SUCCESS,
            "warnings": [],
            "outputs": [{"key": "FD/mp4", "outcome": Outcome.SUCCESS}],
        },
    )
    bare = one("query/GetTranscodeTask__by_job_ids.json")
    check(bare, {"task_id": None, "warnings": ["VideoId: missing, and no task id was given with the query"]})


def test_query_fixtures_are_all_covered() -> None:
    covered = {
        "GetTranscodeTask.json",
        "GetTranscodeTask__doc2021.json",
        "GetTranscodeTask__bad_year.json",
        "GetTranscodeTask__misspelled_status.json",
        "GetTranscodeTask__double_encoded_lists.json",
        "ListTranscodeTask.json",
        "GetTranscodeTask__by_job_ids.json",
    }
    assert {p.name for p in query_paths()} == covered


def test_query_answers_are_recognized_by_shape_without_the_api_name() -> None:
    for path in query_paths():
        by_name = events_of(f"query/{path.name}", hint="transcode:x")
        by_shape = events_of(f"query/{path.name}", api=None, origin=Origin.POLL, hint="transcode:x")
        assert [e.event_id for e in by_name] == [e.event_id for e in by_shape]


def test_request_id_does_not_change_the_event_id() -> None:
    document = json.loads((FIXTURES / "query/GetTranscodeTask.json").read_text())
    again = copy.deepcopy(document)
    again["RequestId"] = "00000000-0000-0000-0000-000000000000"
    first = DIALECT.normalize(document, ctx(Origin.POLL, "GetTranscodeTask"))
    second = DIALECT.normalize(again, ctx(Origin.POLL, "GetTranscodeTask"))
    assert first[0].event_id == second[0].event_id


def test_error_answer_is_unidentifiable_naming_the_code() -> None:
    answer = {
        "RequestId": "x",
        "HostId": "vod.cn-shanghai.aliyuncs.com",
        "Code": "NoSuchResource",
        "Message": "The specified resource TranscodeTask does not exist.",
    }
    with pytest.raises(Unidentifiable, match="NoSuchResource"):
        DIALECT.normalize(answer, ctx(Origin.POLL, "GetTranscodeTask"))
    with pytest.raises(Unidentifiable, match="NoSuchResource"):
        DIALECT.normalize(answer, ctx(Origin.POLL))


# ---------------------------------------------------------------------------------- task attachment


def test_callbacks_and_polls_land_on_the_same_task_and_output_keys() -> None:
    """Seed 003's GetTranscodeTask says "LD" where the callback says "FD" (640×360, URLs ending -fd): both
    normalize to FD, so the poll's outputs replace the callback's, on the same task."""
    polled = one("query/GetTranscodeTask.json")
    video = "883f5d98107f403fab7f20aaa352f"
    callback = {
        "Status": "success",
        "VideoId": video,
        "EventType": "TranscodeComplete",
        "EventTime": "2019-02-26T08:27:22Z",
        "StreamInfos": [
            {
                "Status": "success",
                "Definition": "FD",
                "Format": "m3u8",
                "JobId": "cbc090458ee87abd0e0dbd6871a39",
                "Width": 640,
                "Height": 360,
                "Bitrate": "549",
            },
            {
                "Status": "success",
                "Definition": "FD",
                "Format": "mp4",
                "JobId": "ce8fbd628fb3a3001db739a51263",
                "Width": 640,
                "Height": 360,
                "Bitrate": "964",
            },
            {"Status": "fail", "Definition": "OD", "Format": "mp4", "JobId": "e046ea644e8c983731f2f1061462"},
        ],
    }
    [pushed] = DIALECT.normalize(callback, ctx())
    assert pushed.task_id == polled.task_id == transcode_task_id(video)
    assert video_of_task(pushed.task_id or "") == video
    assert video_of_task("snapshot:x") is None and video_of_task("transcode:") is None
    assert sorted(o.key for o in pushed.outputs) == sorted(o.key for o in polled.outputs)
    by_key = {o.key: o for o in polled.outputs}
    for output in pushed.outputs:
        assert (output.definition, output.bitrate_bps) == (
            by_key[output.key].definition,
            by_key[output.key].bitrate_bps,
        )
        assert pushed.extra["jobs"][output.key]["job_id"] == polled.extra["jobs"][output.key]["job_id"]
    assert pushed.outcome == polled.outcome == Outcome.PARTIAL


@pytest.mark.parametrize(
    ("word", "query", "tier", "definition"),
    [
        ("FD", False, "FD", "FD"),
        ("LD", False, "LD", "LD"),
        ("SD", False, "SD", "SD"),
        ("HD", False, "HD", "HD"),
        ("LD", True, "FD", "FD"),
        ("SD", True, "LD", "LD"),
        ("HD", True, "SD", "SD"),
        ("FHD", True, "HD", "HD"),
        ("OD", True, "OD", "OD"),
        ("4K", True, "4K", "4K"),
        ("AUTO", True, "AUTO", "AUTO"),
        ("SQ", True, "SQ", "SQ"),
        ("HD-MP4", False, "HD", "HD-MP4"),
        ("fhd-mp4", True, "HD", "HD-MP4"),
        (" ", False, None, None),
    ],
)
def test_definition_vocabulary(word: str, query: bool, tier: str | None, definition: str | None) -> None:
    from receiver.dialects.aliyun_vod.normalize import normalize_definition

    assert normalize_definition(word, query=query) == (tier, definition)


def test_stream_transcode_complete_never_finishes_the_task() -> None:
    document = json.loads((FIXTURES / "StreamTranscodeComplete.json").read_text())
    document["Status"] = "fail"
    document.update(
        ErrorCode="InvalidParameter.ResourceContentBad", ErrorMessage="The resource operated InputFile is bad"
    )
    [event] = DIALECT.normalize(document, ctx())
    check(
        event,
        {
            "status": Status.PROCESSING,
            "outcome": None,
            "error": None,
            "outputs": [{"key": "LD/mp4", "status": Status.FINISHED, "outcome": Outcome.FAILED, "error": BAD_INPUT}],
        },
    )


def test_two_streams_of_one_tier_and_container_keep_distinct_keys() -> None:
    document = json.loads((FIXTURES / "TranscodeComplete.json").read_text())
    document["StreamInfos"][1]["Definition"] = "LD"
    [event] = DIALECT.normalize(document, ctx())
    assert [o.key for o in event.outputs] == ["LD/mp4", "LD/mp4#ddddddddddd"]
    assert set(event.extra["jobs"]) == {"LD/mp4", "LD/mp4#ddddddddddd"}


def test_audio_outputs_and_definitionless_streams() -> None:
    document = {
        "EventType": "TranscodeComplete",
        "VideoId": "v",
        "Status": "success",
        "StreamInfos": [
            {"Status": "success", "IsAudio": True, "Definition": "SQ", "Format": "m3u8", "JobId": "a"},
            {"Status": "success", "Format": "mp4", "JobId": "b"},
            {"Status": "success"},
        ],
    }
    [event] = DIALECT.normalize(document, ctx())
    assert [(o.key, o.kind) for o in event.outputs] == [
        ("SQ/m3u8", OutputKind.AUDIO),
        ("job:b", OutputKind.VIDEO),
        ("stream#2", OutputKind.VIDEO),
    ]


# ------------------------------------------------------------------------------- degrading per field


def test_one_bad_nested_value_degrades_only_that_field() -> None:
    document = json.loads((FIXTURES / "TranscodeComplete.json").read_text())
    document["StreamInfos"][0]["Height"] = "tall"
    document["StreamInfos"][1]["Bitrate"] = {"kbps": 1}
    document["StreamInfos"].append("not a stream")
    [event] = DIALECT.normalize(document, ctx())
    check(
        event,
        {
            "outcome": Outcome.SUCCESS,
            "outputs": [{"key": "LD/mp4", "height": None, "width": 540}, {"key": "SD/mp4", "bitrate_bps": None}],
            "warnings": ["$.StreamInfos[0].Height", "$.StreamInfos[1].Bitrate", "$.StreamInfos[2]"],
        },
    )


def test_status_disagreeing_with_streams_warns() -> None:
    document = json.loads((FIXTURES / "TranscodeComplete__fail.json").read_text())
    document["Status"] = "success"
    [event] = DIALECT.normalize(document, ctx())
    check(event, {"outcome": Outcome.FAILED, "warnings": ["$.Status: disagrees with the streams"]})


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ([1, 2], "JSON object"),
        ({"VideoId": "x", "Status": "success"}, "no EventType"),
        ({"EventType": {"x": 1}, "VideoId": "x"}, "EventType"),
        ({"EventType": "   ", "VideoId": "x"}, "EventType"),
        ({"RequestId": "r", "TranscodeTask": "garbage"}, "without TranscodeTask"),
    ],
)
def test_unidentifiable_only_when_nothing_identifies_the_event(document: Any, match: str) -> None:
    with pytest.raises(Unidentifiable, match=match):
        DIALECT.normalize(document, ctx())


def test_minimal_event_type_only_still_normalizes() -> None:
    [event] = DIALECT.normalize({"EventType": "TranscodeComplete"}, ctx())
    check(
        event,
        {
            "task_id": None,
            "media_id": None,
            "status": Status.FINISHED,
            "outcome": None,
            "warnings": ["$.VideoId: missing", "no Status and no stream results"],
        },
    )


def test_snapshot_count_is_capped() -> None:
    document = json.loads((FIXTURES / "SnapshotComplete__specified_time.json").read_text())
    document["SnapshotInfos"][0]["SnapshotCount"] = "99999999999"
    [event] = DIALECT.normalize(document, ctx())
    check(event, {"outputs": [{"key": "NormalSnapshot", "urls": None}], "warnings": ["SnapshotCount: more than"]})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _mutate(node: Any, draw: Any) -> Any:
    """Drop keys, swap types, stringify numbers, inject unicode, JSON-encode or truncate, anywhere in `node`."""
    action = draw(st.integers(0, 9))
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        node = dict(node)
        if action == 0:
            del node[key]
        else:
            node[key] = _mutate(node[key], draw)
        return node
    if isinstance(node, list) and node:
        index = draw(st.integers(0, len(node) - 1))
        node = list(node)
        if action == 0:
            del node[index]
        else:
            node[index] = _mutate(node[index], draw)
        return node
    if action <= 2:
        return draw(JSON_VALUES)
    if action == 3 and isinstance(node, int | float):
        return str(node)
    if action == 4:
        return json.dumps(node)
    if action == 5 and isinstance(node, str):
        return node[: draw(st.integers(0, len(node)))]
    if action == 6:
        return f"{node}\u202e\U0001f600\x00"
    return node


CORPUS = [DIALECT.decode(p.read_bytes()) for p in callback_paths() if p.name not in QUARANTINED] + [
    json.loads(p.read_text()) for p in query_paths()
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixtures_normalize_or_are_unidentifiable(data: st.DataObject) -> None:
    document = data.draw(st.sampled_from(CORPUS))
    for _ in range(data.draw(st.integers(1, 4))):
        document = _mutate(document, data.draw)
    api = data.draw(st.sampled_from([None, "GetTranscodeTask", "ListTranscodeTask"]))
    try:
        events = DIALECT.normalize(document, ctx(Origin.POLL if api else Origin.CALLBACK, api))
    except Unidentifiable:
        return
    assert all(isinstance(event, Event) for event in events)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bodies_decode_or_are_unidentifiable(body: bytes) -> None:
    with contextlib.suppress(Unidentifiable):
        DIALECT.decode(body)


# --------------------------------------------------------------------------------------- verification

URL = "http://127.0.0.1:8000/vod/callback"
KEY = "AbCd1234"
TS = 1700000000


def raw(name: str, headers: dict[str, str] | None = None) -> RawCallback:
    path = FIXTURES / name
    lowered = sidecar_headers(path) if headers is None else {k.lower(): v for k, v in headers.items()}
    return RawCallback(source="ali", body=path.read_bytes(), headers=lowered, received_at=RECEIVED)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(
    ("url", "timestamp", "key", "signature"),
    [
        ("https://www.example.com/your/callback", 1519375990, "test123", "c72b60894140fa98920f1279219b7ed4"),
        ("https://www.example.com/your/callback", "1519375990", "Test123", "c587b80d2d0ede300e8967937da7219b"),
        (URL, TS, KEY, "4f775bf180ad97d130de9b590e62819e"),
        (f"{URL}?tenant=a&x=1", TS, KEY, "c523bd6207b281dba5970d4149acc1fc"),
    ],
)
def test_sign_matches_the_reference_vectors(url: str, timestamp: int | str, key: str, signature: str) -> None:
    assert sign(url, timestamp, key) == signature


def test_right_key_is_verified() -> None:
    result = DIALECT.verify(raw("TranscodeComplete__signed.json"), SigningPolicy((KEY,), URL), at(TS + 2))
    assert (result.verdict, result.reason, result.accepted) == (Verdict.VERIFIED, None, True)


def test_wrong_key_is_refused_and_says_url_mismatch_looks_the_same() -> None:
    result = DIALECT.verify(raw("TranscodeComplete__signed.json"), SigningPolicy(("WrongKey9",), URL), at(TS))
    assert result.verdict is Verdict.REFUSED and not result.accepted
    assert result.reason is not None
    assert "bad signature" in result.reason and "look exactly the same" in result.reason
    assert "WrongKey9" not in result.reason


def test_url_mismatch_is_refused_as_a_bad_signature() -> None:
    policy = SigningPolicy((KEY,), "https://hooks.example.com/vod/callback")
    result = DIALECT.verify(raw("TranscodeComplete__signed.json"), policy, at(TS))
    assert result.verdict is Verdict.REFUSED
    assert result.reason is not None and "https://hooks.example.com/vod/callback" in result.reason


@pytest.mark.parametrize(("offset", "word"), [(301, "old"), (-301, "in the future")])
def test_timestamp_outside_tolerance_is_refused(offset: int, word: str) -> None:
    result = DIALECT.verify(raw("TranscodeComplete__signed.json"), SigningPolicy((KEY,), URL, 300), at(TS + offset))
    assert result.verdict is Verdict.REFUSED
    assert result.reason is not None and "timestamp skew" in result.reason and word in result.reason
    inside = DIALECT.verify(raw("TranscodeComplete__signed.json"), SigningPolicy((KEY,), URL, 300), at(TS + 299))
    assert inside.verdict is Verdict.VERIFIED


def test_rotated_keys_are_all_tried() -> None:
    result = DIALECT.verify(raw("TranscodeComplete__signed.json"), SigningPolicy(("NewKey2026", KEY), URL), at(TS))
    assert (result.verdict, result.reason) == (Verdict.VERIFIED, "matched key 2 of 2")


def test_two_bodies_with_the_same_signature_and_timestamp_are_both_accepted() -> None:
    policy = SigningPolicy((KEY,), URL)
    first, second = raw("TranscodeComplete__signed.json"), raw("FileUploadComplete__signed.json")
    assert first.headers == second.headers and first.body != second.body
    assert DIALECT.verify(first, policy, at(TS)).verdict is Verdict.VERIFIED
    assert DIALECT.verify(second, policy, at(TS)).verdict is Verdict.VERIFIED
    assert one("TranscodeComplete__signed.json").event_id != one("FileUploadComplete__signed.json").event_id


def test_no_keys_means_unsigned() -> None:
    result = DIALECT.verify(raw("TranscodeComplete.json", {}), SigningPolicy(), at(TS))
    assert (result.verdict, result.accepted) == (Verdict.UNSIGNED, True)


def test_keys_without_public_url_are_refused_saying_so() -> None:
    result = DIALECT.verify(raw("TranscodeComplete__signed.json"), SigningPolicy((KEY,)), at(TS))
    assert result.verdict is Verdict.REFUSED and result.reason is not None and "public_url" in result.reason


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        ({}, "missing X-VOD-TIMESTAMP"),
        ({"X-VOD-TIMESTAMP": str(TS)}, "missing X-VOD-SIGNATURE"),
        ({"X-VOD-TIMESTAMP": "17e8", "X-VOD-SIGNATURE": "4f775bf180ad97d130de9b590e62819e"}, "not unix seconds"),
        ({"X-VOD-TIMESTAMP": "１７００", "X-VOD-SIGNATURE": "4f775bf180ad97d130de9b590e62819e"}, "not unix seconds"),
        ({"X-VOD-TIMESTAMP": str(TS), "X-VOD-SIGNATURE": "ünïcode"}, "bad signature"),
        ({"X-VOD-TIMESTAMP": str(TS + 1), "X-VOD-SIGNATURE": "4f775bf180ad97d130de9b590e62819e"}, "bad signature"),
    ],
)
def test_refusals_name_what_failed(headers: dict[str, str], needle: str) -> None:
    result = DIALECT.verify(raw("TranscodeComplete.json", headers), SigningPolicy((KEY,), URL), at(TS))
    assert result.verdict is Verdict.REFUSED
    assert result.reason is not None and needle in result.reason


def test_uppercase_hex_signature_is_accepted() -> None:
    headers = {"X-VOD-TIMESTAMP": str(TS), "X-VOD-SIGNATURE": "4F775BF180AD97D130DE9B590E62819E"}
    result = DIALECT.verify(raw("TranscodeComplete.json", headers), SigningPolicy((KEY,), URL), at(TS))
    assert result.verdict is Verdict.VERIFIED


# ------------------------------------------------------------------------------ detection and decoding


def sidecar_headers(path: Path) -> dict[str, str]:
    sidecar = path.with_name(path.name.replace(".json", ".headers.json"))
    given_headers = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return {k.lower(): v for k, v in given_headers.items()}


@pytest.mark.parametrize("path", [p for p in callback_paths() if p.name not in QUARANTINED], ids=lambda p: p.name)
def test_auto_detection_picks_this_dialect_alone(path: Path) -> None:
    headers = sidecar_headers(path)
    dialect, document = dialects.detect(path.read_bytes(), headers)
    assert dialect.name == "aliyun-vod"
    others = [d.name for d in dialects.registry().values() if d.name != "aliyun-vod" and d.detect(document, headers)]
    assert others == []


def test_other_dialects_fixtures_are_not_claimed() -> None:
    claimed = []
    for path in sorted((FIXTURES.parent).rglob("*.json")):
        if path.is_relative_to(FIXTURES) or path.name.endswith(".headers.json"):
            continue
        try:
            document = json.loads(path.read_bytes())
        except ValueError:
            continue
        if DIALECT.detect(document, {}):
            claimed.append(str(path.relative_to(FIXTURES.parent)))
    assert claimed == []


@pytest.mark.parametrize(
    "document",
    [
        {"EventType": "NewFileUpload", "FileUploadEvent": {"MediaBasicInfo": {}}, "ProcedureStateChangeEvent": None},
        {"EventType": "WorkflowTask", "WorkflowTaskEvent": {"TaskId": "t", "Status": "FINISH"}, "SessionId": ""},
        {"EventType": "ProcedureStateChanged", "EventHandle": "8095179751097087535"},
        {"EventType": "ExtractBlindWatermark", "ExtractBlindWatermarkTask": {}, "Sign": "x", "Timestamp": 1},
        {"version": "4.0", "eventType": "TranscodeComplete", "data": {}},
        {"EventType": "X"},
    ],
)
def test_tencent_shapes_are_not_claimed(document: dict[str, Any]) -> None:
    assert not DIALECT.detect(document, {})


def test_signature_header_alone_claims_a_bare_event() -> None:
    assert DIALECT.detect({"EventType": "X"}, {"x-vod-signature": "abc"})


def test_base64_bodies_decode_from_raw_and_from_a_json_string() -> None:
    plain = json.loads((FIXTURES / "TranscodeComplete__real.json").read_bytes())
    encoded = base64.b64encode(json.dumps(plain).encode())
    assert DIALECT.decode(encoded) == plain
    assert DIALECT.decode(b'"' + encoded + b'"') == plain
    assert DIALECT.decode(encoded[:76] + b"\n" + encoded[76:]) == plain  # MIME line breaks
    with pytest.raises(Unidentifiable, match="not JSON"):
        DIALECT.decode(base64.b64encode(b"not json at all"))


# --------------------------------------------------------------------------------------- the fast path

#: The fixtures the fast path leaves to the ordinary path: keys with stray spaces, raw newlines inside strings,
#: Base64, a trailing comma, an event type no reader knows.
ORDINARY_ONLY = {
    "AddLiveRecordVideoComplete__invalid_doc_trailing_comma.json",
    "DynamicImageComplete__doc_raw_newlines.json",
    "TranscodeComplete__base64.json",
    "TranscodeComplete__trailing_space_keys.json",
    "UploadByURLComplete.json",
    "UploadByURLComplete__fail.json",
    "VodFutureEventComplete__unknown.json",
}


def rendered(run: Any) -> list[str]:
    """What a normalization gave: each event's JSON (its id and warnings included), or the quarantine."""
    try:
        events = run()
    except Unidentifiable as exc:
        return [f"Unidentifiable: {exc}"]
    return [event.model_dump_json() for event in events]


def fixture_ctx(path: Path) -> NormalizeContext:
    if path.parent.name == "query":
        return ctx(Origin.POLL, api=path.stem.split("__")[0], hint="query-hint")
    return ctx()


def both_paths(body: bytes, context: NormalizeContext) -> tuple[list[str], list[str]]:
    """(`normalize_body`, which takes the fast path where it can; `normalize(decode(body))`)."""
    return (
        rendered(lambda: DIALECT.normalize_body(body, context)),
        rendered(lambda: DIALECT.normalize(DIALECT.decode(body), context)),
    )


@pytest.mark.parametrize("path", callback_paths() + query_paths(), ids=lambda path: path.name)
def test_the_fast_path_takes_every_fixture_it_can_and_gives_the_ordinary_events(path: Path) -> None:
    body = path.read_bytes()
    context = fixture_ctx(path)
    fast_events = fast.normalize_body(body, context)
    assert (fast_events is None) == (path.name in ORDINARY_ONLY)
    by_body, by_document = both_paths(body, context)
    assert by_body == by_document
    if fast_events is not None:
        assert [event.model_dump_json() for event in fast_events] == by_document


def test_unreadable_times_and_texts_are_nulled_with_the_ordinary_warnings_in_order() -> None:
    document = json.loads((FIXTURES / "TranscodeComplete__real.json").read_bytes())
    document["EventTime"] = "019-01-23T12:35:12Z"
    document["StreamInfos"][0]["FinishTime"] = "2019-13-45T25:61:61Z"
    document["StreamInfos"][1]["StartTime"] = [1]
    body = json.dumps(document).encode()
    assert fast.normalize_body(body, ctx()) is not None
    by_body, by_document = both_paths(body, ctx())
    assert by_body == by_document
    [event] = DIALECT.normalize_body(body, ctx())
    assert [warning.split(":")[0] for warning in event.warnings] == [
        "$.StreamInfos[1].StartTime",
        "$.StreamInfos[0].FinishTime",
        "$.EventTime",
    ]
    unparseable = dict(document, StreamInfos='[{"Status":"succ')
    body = json.dumps(unparseable).encode()
    assert fast.normalize_body(body, ctx()) is not None
    assert both_paths(body, ctx())[0] == both_paths(body, ctx())[1]


def test_an_unreadable_time_inside_a_json_text_is_left_to_the_ordinary_path() -> None:
    """The ordinary path nulls the whole text then (its repair reaches no deeper than the text)."""
    document = json.loads((FIXTURES / "TranscodeComplete__real.json").read_bytes())
    document["StreamInfos"][0]["StartTime"] = "019-01-23T12:35:12Z"
    document["StreamInfos"] = json.dumps(document["StreamInfos"])
    body = json.dumps(document).encode()
    assert fast.normalize_body(body, ctx()) is None
    [event] = DIALECT.normalize_body(body, ctx())
    assert event.outputs == [] and any(w.startswith("$.StreamInfos[0].StartTime") for w in event.warnings)
    answer = json.loads((FIXTURES / "query" / "GetTranscodeTask.json").read_bytes())
    answer["TranscodeTask"]["TranscodeJobInfoList"][1]["CompleteTime"] = "019-01-23T12:35:12Z"
    answer["TranscodeTask"]["TranscodeJobInfoList"] = json.dumps(answer["TranscodeTask"]["TranscodeJobInfoList"])
    body = json.dumps(answer).encode()
    context = ctx(Origin.POLL, api="GetTranscodeTask")
    assert fast.normalize_body(body, context) is None
    assert both_paths(body, context)[0] == both_paths(body, context)[1]


def test_a_repaired_text_is_looked_up_in_the_raw_answer_for_its_warning() -> None:
    body = (FIXTURES / "query" / "GetTranscodeTask__doc2021.json").read_bytes()
    context = ctx(Origin.POLL, api="GetTranscodeTask")
    [event] = fast.normalize_body(body, context) or []
    assert sum("malformed JSON text repaired" in warning for warning in event.warnings) == 3
    assert [event.model_dump_json()] == both_paths(body, context)[1]


def test_live_record_times_are_kept_as_sent_beside_their_reading() -> None:
    document = json.loads((FIXTURES / "AddLiveRecordVideoComplete.json").read_bytes())
    for start in ("2019-01-23T12:35:12:123Z", 1548246912, "019-01-23T12:35:12Z", {"at": 1}, None):
        body = json.dumps(dict(document, RecordStartTime=start)).encode()
        assert fast.normalize_body(body, ctx()) is not None
        by_body, by_document = both_paths(body, ctx())
        assert by_body == by_document
        assert json.loads(by_body[0])["extra"].get("record_start_time") == start


def test_unknown_keys_with_surrounding_white_space_are_refused_as_str_strip_strips() -> None:
    """The fast path's pattern for unknown keys (`fast.UNPADDED_KEY`, a Rust regex) against `str.strip`, at
    either end of a key, for every code point."""
    keys = SchemaValidator(
        core_schema.model_fields_schema({}, extra_behavior="allow", extras_keys_schema=fast.UNPADDED_KEY)
    )
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        for key in (char, f"{char}Id", f"Id{char}", f"I{char}d"):
            try:
                keys.validate_python({key: 1})
            except ValidationError:
                refused = True
            else:
                refused = False
            assert refused == (key != key.strip()), (hex(code), key)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_openings_count_every_opening_bracket(body: bytes) -> None:
    assert openings(body) == body.count(b"{") + body.count(b"[")


_ANSWER = json.loads((FIXTURES / "query" / "GetTranscodeTask.json").read_bytes())
_JOB = _ANSWER["TranscodeTask"]["TranscodeJobInfoList"][1]
#: (texts of a list, its item model, a model holding such a list, that field), for `models.json_model_list`.
MODEL_LISTS: list[tuple[list[str], Any, Any, str]] = [
    (
        [_JOB["OutputFile"]["VideoStreamList"], _JOB["OutputFile"]["AudioStreamList"]],
        m.VideoStream,
        m.OutputFile,
        "VideoStreamList",
    ),
    (
        [json.dumps(json.loads((FIXTURES / "TranscodeComplete__real.json").read_bytes())["StreamInfos"])],
        m.StreamInfo,
        m.TranscodeComplete,
        "StreamInfos",
    ),
]


ODD_CHARACTERS = ["é", " ", "\\", '"', "中"]


def _stream_text(texts: list[str], data: st.DataObject) -> str:
    """A stream list as JSON text: Alibaba's, with a key padded, a value nudged or the layout changed, encoded
    once more, mangled the 2021 doc's way, or cut short."""
    streams = json.loads(data.draw(st.sampled_from(texts)))
    stream = streams[0]
    key = data.draw(st.sampled_from(sorted(stream)))
    action = data.draw(
        st.sampled_from(["keep", "pad", "number", "float", "null", "unicode", "bool", "object", "spaces"])
    )
    if action == "pad":
        stream[data.draw(st.sampled_from([f" {key}", f"{key} ", f"{key}\u3000"]))] = stream.pop(key)
    elif action == "number":
        stream[key] = data.draw(st.sampled_from([1, 2.5, -0.0, 2**70, 1e300]))
    elif action == "float":
        stream[key] = float(data.draw(st.integers(0, 10**6)))
    elif action == "null":
        stream[key] = None
    elif action == "unicode":
        stream[key] = str(stream[key]) + data.draw(st.sampled_from(ODD_CHARACTERS))
    elif action == "bool":
        stream[key] = data.draw(st.booleans())
    text = json.dumps(streams[0] if action == "object" else streams, separators=(",", ":"))
    if action == "spaces":
        text = json.dumps(streams)
    encoding = data.draw(st.sampled_from(["plain", "plain", "twice", "mangled", "cut", "padded"]))
    if encoding == "twice":
        return json.dumps(text)
    if encoding == "mangled":
        return text.replace('"', '\\"')
    if encoding == "cut":
        return text[: data.draw(st.integers(0, len(text)))]
    if encoding == "padded":
        return f"  {text}\n"
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_stream_list_validated_from_its_text_holds_what_decoding_and_validating_holds(data: st.DataObject) -> None:
    """`models.json_model_list` validates a plain text straight from JSON: the same models as `json_list` and
    validating what it decoded (stripping keys), or the same refusal."""
    texts, item, holder, field = data.draw(st.sampled_from(MODEL_LISTS))
    text = _stream_text(texts, data)
    ordinary: Any = TypeAdapter(list[item | None] | None)  # type: ignore[valid-type, arg-type]
    assert dumped(lambda: ordinary.validate_python(m.json_list(text))) == dumped(
        lambda: getattr(holder.model_validate({field: text}), field)
    ), text


def dumped(read: Any) -> Any:
    """What `read()` gives, models dumped, or "refused"."""
    try:
        streams = read()
    except (ValueError, ValidationError):
        return "refused"
    return None if streams is None else [None if stream is None else stream.model_dump() for stream in streams]


def _nudge_alibaba(document: Any, data: st.DataObject) -> Any:
    """A change where the fast path reads values its own way: a time it cannot read, a value sent as JSON text
    (encoded twice, mangled, or not JSON at all), a key with a stray space, a number as text or with a fraction,
    an unknown key, a dropped one."""
    for _ in range(data.draw(st.integers(1, 3))):
        places = slots(document)
        if not places:
            return document
        container, key = data.draw(st.sampled_from(places))
        value = container[key]
        action = data.draw(
            st.sampled_from(["time", "time", "text", "twice", "mangled", "unparseable", "pad", "number", "drop"])
        )
        if action == "time" and isinstance(container, dict):
            time_keys = [name for name in container if isinstance(name, str) and name.endswith("Time")]
            if time_keys:
                odd = data.draw(st.sampled_from(["019-01-23T12:35:12Z", "2019-13-45T25:61:61Z", "x", [], 1e300, 0]))
                container[data.draw(st.sampled_from(time_keys))] = odd
        elif action == "text" and isinstance(value, dict | list):
            container[key] = json.dumps(value, separators=(",", ":"))
        elif action == "twice" and isinstance(value, dict | list):
            container[key] = json.dumps(json.dumps(value))
        elif action == "mangled" and isinstance(value, dict | list):
            container[key] = json.dumps(value, separators=(",", ":")).replace('"', '\\"')
        elif action == "unparseable" and isinstance(value, dict | list):
            container[key] = json.dumps(value)[:-2]
        elif action == "pad" and isinstance(container, dict) and isinstance(key, str):
            container[data.draw(st.sampled_from([f"{key} ", f" {key}", "Extra "]))] = container.pop(key)
        elif action == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            container[key] = data.draw(st.sampled_from([str(value), float(value), f" {value}"]))
        elif action == "drop":
            del container[key]
    return document


FAST_CORPUS = [(p, json.loads(p.read_bytes())) for p in callback_paths() + query_paths() if p.name not in ORDINARY_ONLY]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_fast_path_gives_the_ordinary_events_for_nudged_bodies(data: st.DataObject) -> None:
    path, tree = data.draw(st.sampled_from(FAST_CORPUS), label="fixture")
    document = _nudge_alibaba(copy.deepcopy(tree), data)
    body = json.dumps(document, ensure_ascii=data.draw(st.booleans())).encode()
    by_body, by_document = both_paths(body, fixture_ctx(path))
    assert by_body == by_document, body[:600]


@pytest.mark.parametrize("value", ["019-01-23T12:35:12Z", "2019-13-45T25:61:61Z", "x", [1], {"a": 1}, 1e300, -5])
def test_an_unread_time_says_what_the_ordinary_path_says(value: Any) -> None:
    with pytest.raises(ValueError) as raised:
        unix_or_iso_time(value)
    unread = TypeAdapter(m.Time).validate_python(value, context=m.Reading())
    assert type(unread) is m.UnreadTime
    assert (unread.value, unread.problem) == (value, str(raised.value))
