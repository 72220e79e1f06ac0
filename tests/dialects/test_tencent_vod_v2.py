"""Field-by-field expectations for every `tencent-vod-v2` fixture (legacy Tencent VOD callbacks and query answers).

Each fixture is normalized through the registry (`receiver.dialects.get("tencent-vod-v2")`) and every field of
every event and output is compared with what the reference (shared/providers/tencent-vod.md §2, §5) and the
seeds (000 GetProcedureInfo, 001 GetTaskInfo) say it means. Fields a test does not name must be empty, so a
value that appears where none is expected fails as surely as a wrong one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from receiver import dialects
from receiver.dialects.base import NormalizeContext, Unidentifiable
from receiver.model import ErrorInfo, Event, Origin, Outcome, OutputKind, Provider, Status, TaskKind
from tests.dialects.expect import EVENT_EMPTY as BASE_EVENT_EMPTY
from tests.dialects.expect import OUTPUT_EMPTY, audio, video

DIALECT_NAME = "tencent-vod-v2"
ROOT = Path(__file__).resolve().parents[2] / "fixtures" / DIALECT_NAME
RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SOURCE = "legacy-vod"
CAPTURE_ID = 41

#: The task ids the seeds' request examples ask for (their answers do not repeat them).
SEED_PROCEDURE_TASK = "1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692"
SEED_TRANSCODE_TASK = "Transcode-1edb7eb88a599d05abe451cfc541cfbd"

COVERED: set[str] = set()
Test = TypeVar("Test", bound=Callable[..., None])


def covers(*names: str) -> Callable[[Test], Test]:
    """Mark a test as the field-by-field expectation of the named fixture files."""

    def register(test: Test) -> Test:
        COVERED.update(names)
        return test

    return register


# helpers -------------------------------------------------------------------------------------------------


def fixture_names() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in ROOT.rglob("*.json"))


def load(name: str) -> Any:
    return json.loads((ROOT / name).read_bytes())


def context(api: str | None = None, hint: str | None = None, origin: Origin | None = None) -> NormalizeContext:
    if origin is None:
        origin = Origin.POLL if api else Origin.CALLBACK
    return NormalizeContext(
        source=SOURCE, origin=origin, received_at=RECEIVED, capture_id=CAPTURE_ID, task_id_hint=hint, api=api
    )


def normalize(name: str, api: str | None = None, hint: str | None = None) -> list[Event]:
    return dialects.get(DIALECT_NAME).normalize(load(name), context(api, hint))


def one(name: str, api: str | None = None, hint: str | None = None) -> Event:
    events = normalize(name, api, hint)
    assert len(events) == 1, f"{name}: expected one event, got {len(events)}"
    return events[0]


def unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


EVENT_EMPTY: dict[str, Any] = {**BASE_EVENT_EMPTY, "warnings": []}


def check_event(event: Event, origin: Origin = Origin.CALLBACK, **expected: Any) -> None:
    """Compare every field of `event`; a field not in `expected` must be empty."""
    assert event.provider is Provider.TENCENT_VOD
    assert event.dialect == DIALECT_NAME
    assert event.source == SOURCE
    assert event.received_at == RECEIVED
    assert event.capture_id == CAPTURE_ID
    assert event.origin is origin, f"origin: {event.origin!r}"
    assert "event_type" in expected, "name the event type"
    for name, want in {**EVENT_EMPTY, **expected}.items():
        if name == "outputs":
            continue
        got = getattr(event, name)
        assert got == want, f"{name}: got {got!r}, expected {want!r}"
    check_outputs(event, expected.get("outputs", []))


def check_outputs(event: Event, expected: Iterable[dict[str, Any]]) -> None:
    wanted = list(expected)
    assert [o.key for o in event.outputs] == [w["key"] for w in wanted], "output keys"
    for output, want in zip(event.outputs, wanted, strict=True):
        assert "kind" in want, f"name the kind of {want['key']}"
        for name, value in {**OUTPUT_EMPTY, **want}.items():
            got = getattr(output, name)
            assert got == value, f"output {output.key} {name}: got {got!r}, expected {value!r}"


def warned(event: Event, path: str, value: str) -> None:
    """Exactly one warning, naming the field path and the value that was given up on."""
    assert len(event.warnings) == 1, event.warnings
    assert event.warnings[0].startswith(f"{path}:"), event.warnings
    assert value in event.warnings[0], event.warnings


# outputs shared by several documents ---------------------------------------------------------------------

SHOT = "http://125xx.vod2.myqcloud.com/vodtrans125xx/14508071098244929440/shotup/xx{}.png"
F20_SEED = "http://125xx.vod2.myqcloud.com/9fcd41e6vodgzp1251953760/7585975f9031868222912340/f20.mp4"
SEED_STREAMS = [video("h264", 246000, 640, 480, 222.0), audio("aac", 35, 44100)]

#: processTaskList of seeds 000/001 and of the ProcedureStateChanged doc example (its first four items).
SEED_SUBTASKS: list[dict[str, Any]] = [
    {"key": "Transcode:10#0", "kind": OutputKind.VIDEO, "definition": "10", "status": Status.PROCESSING},
    {
        "key": "Transcode:20#0",
        "kind": OutputKind.VIDEO,
        "definition": "20",
        "url": F20_SEED,
        "container": "m4a",
        "size_bytes": 10556,
        "bitrate_bps": 246035,  # documented kbps, sent in bps (Q3): kept as sent
        "width": 640,
        "height": 480,
        "duration_s": 3601.0,
        "fps": 222.0,  # the output has no fps of its own: its video stream's
        "md5": "b3ae6ed07d9bf4efeeb94ed2d37ff3e3",
        "streams": SEED_STREAMS,
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    },
    {
        "key": "SampleSnapshot:10#0",
        "kind": OutputKind.IMAGES,
        "definition": "10",
        "urls": [SHOT.format(n) for n in range(1, 11)],
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    },
    {
        "key": "CoverBySnapshot:10#0",
        "kind": OutputKind.IMAGE,
        "definition": "10",
        "url": SHOT.format(1),  # imageUrl documented as an Array, sent as a string (Q14)
        "urls": [SHOT.format(1)],
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    },
]

VCLOUD = "http://vcloud1203.tc.qq.com/1203_8a5015084d4f47cd9a0bc5ecfe78aecb.f{}"
#: playSet of the TranscodeComplete doc example, which seed 001's transcode answer repeats.
DOC_PLAYSET: list[dict[str, Any]] = [
    {
        "key": f"Transcode:{definition}#0",
        "kind": OutputKind.VIDEO,
        "definition": str(definition),
        "url": VCLOUD.format(suffix),
        "bitrate_bps": bps,
        "width": width,
        "height": height,
        "duration_s": 599.0,
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    }
    for definition, suffix, bps, width, height in [
        (0, "0.mp4", 246000, 640, 480),
        (10, "10.mp4", 149193, 320, 240),
        (20, "20.mp4", 297656, 640, 480),
        (220, "220.av.m3u8", 524288, 640, 480),
        (30, "30.mp4", 899976, 1280, 960),
        (40, "40.mp4", 1746652, 1920, 1440),
    ]
]
DOC_COVER = {
    "key": "Cover#0",
    "kind": OutputKind.IMAGE,
    "url": "http://p.qpic.cn/videoyun/0/1203_8a5015084d4f47cd9a0bc5ecfe78aecb_1/640",
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
}

VOD = "http://125xx.vod2.myqcloud.com/vod125xx/"
CONCAT_OK: list[dict[str, Any]] = [
    {
        "key": "Concat:m3u8#0",
        "kind": OutputKind.VIDEO,
        "url": VOD + "14508071098244931831/playlist.f6.m3u8",
        "container": "m3u8",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    },
    {
        "key": "Concat:mp4#0",
        "kind": OutputKind.VIDEO,
        "url": VOD + "14508071098244929440/f0.mp4",
        "container": "mp4",
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
    },
]
CONCAT_IDS = {"outputFileIds": ["14508071098244931831", "14508071098244929440"]}

REAL = "http://1256768367.vod2.myqcloud.com/a1b2c3d4vodcq1256768367/5e6f7a8b5285890780486257682/"
REAL_TASK = "1400104074-procedurev2-bd67a325dbc1471915e1f632d41b7f22"
REAL_F10 = {
    "key": "Transcode:10#0",
    "kind": OutputKind.VIDEO,
    "definition": "10",
    "url": REAL + "v.f10.mp4",
    "container": "mov,mp4,m4a,3gp,3g2,mj2",
    "size_bytes": 211532,
    "bitrate_bps": 367378,
    "width": 320,
    "height": 180,
    "duration_s": 5.0,
    "fps": 24.0,
    "md5": "8a4e1b7c3f2d9e6a5b0c1d2e3f4a5b6c",
    "streams": [video("h264", 306258, 320, 180, 24.0), audio("aac", 61120, 44100)],
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
}


def meta_extra(name: str, *keys: str, under: tuple[str, ...] = ("data",)) -> dict[str, Any]:
    """The named blocks of a fixture's data, which the dialect keeps verbatim in `extra`."""
    block = load(name)
    for part in under:
        block = block[part]
    return {key: block[key] for key in keys}


# ProcedureStateChanged -----------------------------------------------------------------------------------


@covers("ProcedureStateChanged__processing.json")
def test_procedure_processing_doc_example() -> None:
    name = "ProcedureStateChanged__processing.json"
    snap = "http://125xx.vod2.myqcloud.com/42f909a8vodtransgzp251000333/dee2963524820810452267193/snapshot/"
    check_event(
        one(name),
        event_type="ProcedureStateChanged",
        task_id="251000333-mango-c27bdf65ea06646171e714f25f5aac63",
        task_kind=TaskKind.PROCEDURE,
        media_id="123123123",
        status=Status.PROCESSING,
        provider_status="PROCESSING",
        extra=meta_extra(name, "metaData", "drm"),
        outputs=[
            *SEED_SUBTASKS,
            {
                "key": "SnapshotByTimeOffset:10#0",
                "kind": OutputKind.IMAGES,
                "definition": "10",
                "urls": [snap + "1502280085_887773835.100_300.jpg", snap + "1502280085_887773835.100_400.jpg"],
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            },
        ],
    )


@covers("ProcedureStateChanged__processing_review.json")
def test_procedure_processing_with_content_review() -> None:
    name = "ProcedureStateChanged__processing_review.json"
    base = "http://125676836723.vod2.myqcloud.com/xxx/xxx/"
    check_event(
        one(name),
        event_type="ProcedureStateChanged",
        task_id="125676836723-xxx-25f5aac63",
        task_kind=TaskKind.PROCEDURE,
        media_id="14508071098244959037",
        status=Status.PROCESSING,
        provider_status="PROCESSING",
        extra=meta_extra(name, "metaData", "drm", "contentReviewList"),
        outputs=[
            SEED_SUBTASKS[0],
            {
                **SEED_SUBTASKS[1],
                "url": base + "f20.mp4",
                "fps": 20.0,
                "streams": [video("h264", 246000, 640, 480, 20.0), audio("aac", 35, 44100)],
            },
            {
                **SEED_SUBTASKS[2],
                "urls": [f"{base}shotup/xx{n}.png" for n in (1, 2, 3)],
            },
        ],
    )


@covers("ProcedureStateChanged.json")
def test_procedure_finished_with_every_subtask_type() -> None:
    name = "ProcedureStateChanged.json"
    check_event(
        one(name),
        event_type="ProcedureStateChanged",
        task_id=REAL_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890780486257682",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        extra=meta_extra(name, "metaData"),
        outputs=[
            REAL_F10,
            {
                **REAL_F10,
                "key": "Transcode:20#0",
                "definition": "20",
                "url": REAL + "v.f20.mp4",
                "size_bytes": 402118,
                "bitrate_bps": 698411,
                "width": 640,
                "height": 360,
                "md5": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "streams": [video("h264", 637291, 640, 360, 24.0), audio("aac", 61120, 44100)],
            },
            {
                "key": "AnimatedGraphics:20000#0",
                "kind": OutputKind.ANIMATION,
                "definition": "20000",
                "url": REAL + "animatedGraphic/animatedGraphic.gif",
                "container": "gif",
                "fps": 5.0,
                "width": 320,
                "height": 240,
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            },
            {
                "key": "SampleSnapshot:10#0",
                "kind": OutputKind.IMAGES,
                "definition": "10",
                "urls": [REAL + f"sampleSnapshot/sampleSnapshot_10_{n}.jpg" for n in (0, 1)],
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            },
            {
                "key": "SnapshotByTimeOffset:10#0",
                "kind": OutputKind.IMAGES,
                "definition": "10",
                "urls": [REAL + "snapshotByTimeOffset/snapshotByTimeOffset_10_1000.jpg"],
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            },
            {
                "key": "CoverBySnapshot:10#0",
                "kind": OutputKind.IMAGE,
                "definition": "10",
                "url": REAL + "coverBySnapshot/coverBySnapshot_10_0.jpg",
                "urls": [REAL + "coverBySnapshot/coverBySnapshot_10_0.jpg"],
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            },
            {
                "key": "ImageSprites:10#0",
                "kind": OutputKind.SPRITE,
                "definition": "10",
                "urls": [REAL + "imageSprite/imageSprite_10_0.jpg"],
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            },
        ],
    )


@covers("ProcedureStateChanged__pull_file.json")
def test_procedure_pull_file_size_sent_as_string() -> None:
    name = "ProcedureStateChanged__pull_file.json"
    check_event(
        one(name),
        event_type="ProcedureStateChanged",
        task_id="1400104074-procedurev2-6f0e1d2c3b4a59687f8e9d0c1b2a3948",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784273533167",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        extra=meta_extra(name, "metaData"),
        outputs=[
            {
                "key": "PullFile:#0",
                "kind": OutputKind.FILE,
                "url": "http://1256768367.vod2.myqcloud.com/a1b2c3d4vodcq1256768367/9c8b7a6d5285890784273533167/f0.mp4",
                "size_bytes": 38394819,  # output.fileSize is documented (and sent) as a String
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            }
        ],
    )


@covers("ProcedureStateChanged__partial.json")
def test_procedure_errcode_zero_beside_a_failed_subtask_is_partial_with_a_warning() -> None:
    name = "ProcedureStateChanged__partial.json"
    event = one(name)
    check_event(
        event,
        event_type="ProcedureStateChanged",
        task_id="1400104074-procedurev2-0c4f5e6d7a8b9c0d1e2f3a4b5c6d7e8f",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890780486257682",
        status=Status.FINISHED,
        outcome=Outcome.PARTIAL,
        provider_status="FINISH",
        extra=meta_extra(name, "metaData"),
        warnings=event.warnings,
        outputs=[
            REAL_F10,
            {
                "key": "Transcode:20#0",
                "kind": OutputKind.VIDEO,
                "definition": "20",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": ErrorInfo(code="30010", message="system failure or unknown"),
            },
        ],
    )
    warned(event, "$.data.errCode", "1 of 2 sub-tasks failed")


@covers("ProcedureStateChanged__failed.json")
def test_procedure_failed_flow() -> None:
    name = "ProcedureStateChanged__failed.json"
    check_event(
        one(name),
        event_type="ProcedureStateChanged",
        task_id="1400104074-procedurev2-7d8e9f0a1b2c3d4e5f60718293a4b5c6",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=ErrorInfo(code="-47200", message="source file duration is 0"),
        extra=meta_extra(name, "metaData"),
        outputs=[
            {
                "key": "Transcode:10#0",
                "kind": OutputKind.VIDEO,
                "definition": "10",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": ErrorInfo(code="30009", message="source file error"),
            }
        ],
    )


@covers("ProcedureStateChanged__malformed_stream.json")
def test_procedure_with_an_unparseable_stream_list_degrades_that_field_only() -> None:
    name = "ProcedureStateChanged__malformed_stream.json"
    event = one(name)
    check_event(
        event,
        event_type="ProcedureStateChanged",
        task_id="1400104074-procedurev2-a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890780486257682",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        extra=meta_extra(name, "metaData"),
        warnings=event.warnings,
        outputs=[{**REAL_F10, "fps": None, "streams": [audio("aac", 61120, 44100)]}],
    )
    warned(event, "$.data.processTaskList[0].output.videoStreamList", "'h264 320x180 24fps'")


@covers("ProcedureStateChanged__malformed_errcode.json")
def test_procedure_with_a_code_that_is_not_a_number() -> None:
    name = "ProcedureStateChanged__malformed_errcode.json"
    event = one(name)
    check_event(
        event,
        event_type="ProcedureStateChanged",
        task_id="1400104074-procedurev2-5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890780486257682",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,  # the code is gone; the sub-task results decide
        provider_status="FINISH",
        extra=meta_extra(name, "metaData"),
        warnings=event.warnings,
        outputs=[
            {
                "key": "SampleSnapshot:10#0",
                "kind": OutputKind.IMAGES,
                "definition": "10",
                "urls": [REAL + "sampleSnapshot/sampleSnapshot_10_0.jpg"],
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            }
        ],
    )
    warned(event, "$.data.errCode", "'OK'")


# TranscodeComplete ---------------------------------------------------------------------------------------


@covers("TranscodeComplete.json")
def test_transcode_complete_doc_example() -> None:
    check_event(
        one("TranscodeComplete.json"),
        event_type="TranscodeComplete",
        task_id=SEED_TRANSCODE_TASK,
        task_kind=TaskKind.TRANSCODE,
        media_id="14508071098244931831",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={"fileName": "13425173277_2015-09-06-19-06-11_2015-09-06-19-16-11"},
        outputs=[*DOC_PLAYSET, DOC_COVER],
    )


@covers("TranscodeComplete__v2_table.json")
def test_transcode_complete_v2_table_example() -> None:
    base = "http://125676836723.vod2.myqcloud.com/"
    playset = [
        {**item, "url": f"{base}xxx/xxx/f{item['definition']}.mp4"}
        for item in DOC_PLAYSET
        if item["definition"] in ("0", "10", "20", "30")
    ]
    check_event(
        one("TranscodeComplete__v2_table.json"),
        event_type="TranscodeComplete",
        task_id=SEED_TRANSCODE_TASK,
        task_kind=TaskKind.TRANSCODE,
        media_id="14508071098244931831",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={"fileName": "Animal World"},
        outputs=[*playset, {**DOC_COVER, "url": base + "0/xxx/640"}],
    )


@covers("TranscodeComplete__failed.json")
def test_transcode_complete_failed() -> None:
    check_event(
        one("TranscodeComplete__failed.json"),
        event_type="TranscodeComplete",
        task_id=SEED_TRANSCODE_TASK,
        task_kind=TaskKind.TRANSCODE,
        media_id="14508071098244931831",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="-43001",
        error=ErrorInfo(code="-43001"),
    )


@covers("TranscodeComplete__malformed_bitrate.json")
def test_transcode_complete_with_a_malformed_bitrate() -> None:
    event = one("TranscodeComplete__malformed_bitrate.json")
    base = "http://1252719796.vod2.myqcloud.com/0b1c2d3evodgzp1252719796/f9e8d7c65285890784246869930/"
    rendition = {"kind": OutputKind.VIDEO, "duration_s": 61.0, "status": Status.FINISHED, "outcome": Outcome.SUCCESS}
    check_event(
        event,
        event_type="TranscodeComplete",
        task_id="1252719796-transcode-47e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3",
        task_kind=TaskKind.TRANSCODE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={"fileName": "launch"},
        warnings=event.warnings,
        outputs=[
            {
                **rendition,
                "key": "Transcode:20#0",
                "definition": "20",
                "url": base + "v.f20.mp4",
                "bitrate_bps": 696816,
                "width": 640,
                "height": 360,
            },
            {
                **rendition,
                "key": "Transcode:30#0",
                "definition": "30",
                "url": base + "v.f30.mp4",
                "bitrate_bps": None,
                "width": 1280,
                "height": 720,
            },
            {**DOC_COVER, "url": base + "5285890784246869930.jpg"},
        ],
    )
    warned(event, "$.data.playSet[1].vbitrate", "'1.5Mbps'")


# ClipComplete / ConcatComplete ---------------------------------------------------------------------------

CLIP_TASK = "clipVideo-0a78cf44c4285026a4c"
CLIP_OK = {
    "key": "Clip#0",
    "kind": OutputKind.VIDEO,
    "url": VOD + "14508071098244929440/f0.mp4",
    "container": "mp4",
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
}
CLIP_FAILED = {
    "key": "Clip#0",
    "kind": OutputKind.VIDEO,
    "status": Status.FINISHED,
    "outcome": Outcome.FAILED,
    "error": ErrorInfo(code="-43001"),
}


@covers("ClipComplete.json", "ClipComplete__v2_table.json")
@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("ClipComplete.json", VOD + "14508071098244929440/f0.mp4"),
        ("ClipComplete__v2_table.json", "http://125676836723.vod2.myqcloud.com/xxx/xxx/f0.mp4"),
    ],
)
def test_clip_complete(name: str, url: str) -> None:
    check_event(
        one(name),
        event_type="ClipComplete",
        task_id=CLIP_TASK,
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",  # the source file; the new file's id is in extra
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={"outputFileIds": ["14508071098244929440"]},
        outputs=[{**CLIP_OK, "url": url}],
    )


@covers("ClipComplete__failed.json")
def test_clip_complete_failed() -> None:
    check_event(
        one("ClipComplete__failed.json"),
        event_type="ClipComplete",
        task_id=CLIP_TASK,
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="-43001",
        error=ErrorInfo(code="-43001"),
        outputs=[CLIP_FAILED],
    )


@covers("ConcatComplete.json", "ConcatComplete__http_request.json", "ConcatComplete__v2_table.json")
@pytest.mark.parametrize(
    ("name", "task_id", "base"),
    [
        ("ConcatComplete.json", "Concat-1edb7eb88a599d05abe451cfc541cfbd", None),
        ("ConcatComplete__http_request.json", "concat-1edb7eb88a599d05abe451cfc541cfbd", None),
        ("ConcatComplete__v2_table.json", "Concat-1edb7eb88a599d05abe451cfc541cfbd", "xxx"),
    ],
)
def test_concat_complete(name: str, task_id: str, base: str | None) -> None:
    outputs = CONCAT_OK
    if base:
        table = "http://125676836723.vod2.myqcloud.com/xxx/xxx/"
        outputs = [{**CONCAT_OK[0], "url": table + "playlist.f6.m3u8"}, {**CONCAT_OK[1], "url": table + "f0.mp4"}]
    check_event(
        one(name),
        event_type="ConcatComplete",
        task_id=task_id,
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        extra=CONCAT_IDS,
        outputs=outputs,
    )


@covers("ConcatComplete__version_number.json")
def test_concat_complete_with_numeric_version() -> None:
    """Q1: the CN PullEvent example sends `"version": 4`; it is read like "4.0", with no warning."""
    check_event(
        one("ConcatComplete__version_number.json"),
        event_type="ConcatComplete",
        task_id="concat-1edb7eb88a599d05abe451cfc541cfbd",
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra=CONCAT_IDS,
        outputs=CONCAT_OK,
    )


@covers("ConcatComplete__failed.json")
def test_concat_complete_failed() -> None:
    failed = {
        "kind": OutputKind.VIDEO,
        "status": Status.FINISHED,
        "outcome": Outcome.FAILED,
        "error": ErrorInfo(code="4"),
    }
    check_event(
        one("ConcatComplete__failed.json"),
        event_type="ConcatComplete",
        task_id="Concat-1edb7eb88a599d05abe451cfc541cfbd",
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        error=ErrorInfo(code="4"),
        outputs=[
            {**failed, "key": "Concat:m3u8#0", "container": "m3u8"},
            {**failed, "key": "Concat:mp4#0", "container": "mp4"},
        ],
    )


# CreateSnapshotByTimeOffsetComplete / CreateImageSpriteComplete ------------------------------------------

SNAP_TASK = "CreateSnapshotByTimeOffset-1edb7eb88a599d05abe451cfc541cfbd"


def snapshot(definition: str, offset: int, url: str | None, code: str | None = None) -> dict[str, Any]:
    return {
        "key": f"SnapshotByTimeOffset:{definition}:{offset}",
        "kind": OutputKind.IMAGE,
        "definition": definition,
        "url": url,
        "status": Status.FINISHED,
        "outcome": Outcome.FAILED if code else Outcome.SUCCESS,
        "error": ErrorInfo(code=code) if code else None,
    }


@covers("CreateSnapshotByTimeOffsetComplete.json")
def test_snapshot_with_one_failed_picture_is_partial() -> None:
    check_event(
        one("CreateSnapshotByTimeOffsetComplete.json"),
        event_type="CreateSnapshotByTimeOffsetComplete",
        task_id="CreateSnapshotByTimeOffset-2c6e9f0b1a7d4e3f8a5b6c7d8e9f0a1b",
        task_kind=TaskKind.SNAPSHOT,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.PARTIAL,
        error=ErrorInfo(code="-46204"),
        outputs=[
            snapshot("10", 10000, VOD + "14508071098244929440/xx1.png"),
            snapshot("10", 9000000, None, "-46204"),
        ],
    )


@covers("CreateSnapshotByTimeOffsetComplete__success.json", "CreateSnapshotByTimeOffsetComplete__v2_table.json")
@pytest.mark.parametrize(
    ("name", "pictures"),
    [
        (
            "CreateSnapshotByTimeOffsetComplete__success.json",
            [(3123213, VOD + "14508071098244929440/xx1.png"), (3123123, VOD + "14508071098244929440/xx2.png")],
        ),
        (
            "CreateSnapshotByTimeOffsetComplete__v2_table.json",
            [
                (10000, "http://125676836723.vod2.myqcloud.com/xxx/xxx/1.png"),
                (20000, "http://125676836723.vod2.myqcloud.com/xxx/xxx/2.png"),
            ],
        ),
    ],
)
def test_snapshot_succeeded(name: str, pictures: list[tuple[int, str]]) -> None:
    check_event(
        one(name),
        event_type="CreateSnapshotByTimeOffsetComplete",
        task_id=SNAP_TASK,
        task_kind=TaskKind.SNAPSHOT,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[snapshot("10", offset, url) for offset, url in pictures],
    )


@covers("CreateSnapshotByTimeOffsetComplete__failed.json")
def test_snapshot_failed() -> None:
    check_event(
        one("CreateSnapshotByTimeOffsetComplete__failed.json"),
        event_type="CreateSnapshotByTimeOffsetComplete",
        task_id=SNAP_TASK,
        task_kind=TaskKind.SNAPSHOT,
        media_id="9031868222841494656",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        error=ErrorInfo(code="-46204"),
        outputs=[snapshot("20", 1000000, None, "-46204")],
    )


SPRITE_TASK = "CreateImageSprite-1edb7eb88a599d05abe451cfc541cfbd"


@covers("CreateImageSpriteComplete.json", "CreateImageSpriteComplete__v2_table.json")
@pytest.mark.parametrize(
    ("name", "urls", "extra"),
    [
        (
            "CreateImageSpriteComplete.json",
            [VOD + "14508071098244929440/xx1.png", VOD + "14508071098244929440/xx2.png"],
            {"totalCount": 106},
        ),
        (
            "CreateImageSpriteComplete__v2_table.json",
            [f"http://125676836723.vod2.myqcloud.com/xxx/xxx/{n}.png" for n in (1, 2)],
            {"totalCount": 106, "webVttUrl": "http://125676836723.vod2.myqcloud.com/xxx/xxx/xxx.vtt"},
        ),
    ],
)
def test_image_sprite_complete(name: str, urls: list[str], extra: dict[str, Any]) -> None:
    check_event(
        one(name),
        event_type="CreateImageSpriteComplete",
        task_id=SPRITE_TASK,
        task_kind=TaskKind.SPRITE,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra=extra,
        outputs=[
            {
                "key": "ImageSprites:10#0",
                "kind": OutputKind.SPRITE,
                "definition": "10",
                "urls": urls,
                "status": Status.FINISHED,
                "outcome": Outcome.SUCCESS,
            }
        ],
    )


@covers("CreateImageSpriteComplete__failed.json")
def test_image_sprite_failed() -> None:
    check_event(
        one("CreateImageSpriteComplete__failed.json"),
        event_type="CreateImageSpriteComplete",
        task_id=SPRITE_TASK,
        task_kind=TaskKind.SPRITE,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="-43001",
        error=ErrorInfo(code="-43001"),
    )


# NewFileUpload / PullComplete / FileDeleted --------------------------------------------------------------


def uploaded(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "key": "File#0",
        "kind": OutputKind.VIDEO,
        "url": url,
        "status": Status.FINISHED,
        "outcome": Outcome.SUCCESS,
        **fields,
    }


@covers("NewFileUpload.json")
def test_new_file_upload_doc_example_is_a_media_event() -> None:
    event = one("NewFileUpload.json")
    check_event(
        event,
        event_type="NewFileUpload",
        task_kind=TaskKind.UPLOAD,
        media_id="145080710982449590xx",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        extra={
            "procedureTaskId": "12530394xx-mango-fa2fdf6a0f850d673be119cf51a7603a",
            "transcodeTaskId": "transcode-0bee89b07a248e27c83fc3d5951213c1",
            "fileName": "show title",
            "sourceType": "Record",
            "sourceContext": "rtmp://54xx.livepush.myqcloud.com/live?bizid=54xx&record=mp4&xx",
            "streamId": "54xx_45",
            "coverUrl": "imgurl",
        },
        outputs=[uploaded("http://12530394xx.vod2.myqcloud.com/vod251000330/14508071098244959037/f0.flv")],
    )
    assert event.task_key == "media:145080710982449590xx"


@covers("NewFileUpload__v2_table.json")
def test_new_file_upload_v2_table_example() -> None:
    check_event(
        one("NewFileUpload__v2_table.json"),
        event_type="NewFileUpload",
        task_kind=TaskKind.UPLOAD,
        media_id="5285890784273533167",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        extra={
            "procedureTaskId": "125676836723-mango-fa2fdf6a0f850d673be119cf51a7603a",
            "transcodeTaskId": "transcode-0bee89b07a248e27c83fc3d5951213c1",
            "fileName": "Animal World",
            "sourceType": "Record",
            "sourceContext": "rtmp://54xx.livepush.myqcloud.com/live?bizid=54xx&record=mp4&xx",
            "streamId": "54xx_45",
            "coverUrl": "http://125676836723.vod2.myqcloud.com/xxx/xxx/xxx.jpg",
            "author": "CCTV recording",
        },
        outputs=[uploaded("http://125676836723.vod2.myqcloud.com/xxx/xxx/f0.flv")],
    )


@covers("NewFileUpload__with_metadata.json")
def test_new_file_upload_with_metadata() -> None:
    check_event(
        one("NewFileUpload__with_metadata.json"),
        event_type="NewFileUpload",
        task_kind=TaskKind.UPLOAD,
        media_id="24961954183381008",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={
            "transcodeTaskId": "transcode-f74e2ab2cc31761f1783b32bdfc4095b",
            "imageSpriteTaskId": "CreateImageSprite-f74e2ab2cc31761f1783b32bdfc4095b",
        },
        outputs=[
            uploaded(
                "http://251000333.vod2.myqcloud.com/6c0f1c00vodgzp251000333/cbdadd3d24961954183381008/f0.mp4",
                size_bytes=38394819,
                bitrate_bps=13976872,
                width=1280,
                height=720,
                duration_s=21.0,
            )
        ],
    )


@covers("NewFileUpload__real.json")
def test_new_file_upload_real_shape_with_empty_task_id() -> None:
    event = one("NewFileUpload__real.json")
    check_event(
        event,
        event_type="NewFileUpload",
        task_id=None,  # vodTaskId "" (Q9): a media event, not a task
        task_kind=TaskKind.UPLOAD,
        media_id="5285890780486257682",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={"fileName": "VID_20181106_175314", "sourceType": "ClientUpload", "sourceContext": '{"uid":1024}'},
        outputs=[
            uploaded(
                REAL + "f0.mp4",
                container="mov,mp4,m4a,3gp,3g2,mj2",
                size_bytes=675432,
                bitrate_bps=1171634,
                width=1920,
                height=1080,
                duration_s=4.6059999465942383,  # floatDuration wins over the rounded duration 5
                streams=[video("h264", 1040554, 1920, 1080, 30.0), audio("aac", 131080, 48000)],
            )
        ],
    )
    assert event.task_key == "media:5285890780486257682"


@covers("PullComplete.json", "PullComplete__v2_table.json")
@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("PullComplete.json", "http://251000330.vod2.myqcloud.com/vod251000330/14508071098244959037/f0.flv"),
        ("PullComplete__v2_table.json", "http://125676836723.vod2.myqcloud.com/xxx/xxx/f0.flv"),
    ],
)
def test_pull_complete(name: str, url: str) -> None:
    check_event(
        one(name),
        event_type="PullComplete",
        task_id="Pull-f5ac8127b3b6b85cdc13f237c6005d8",
        task_kind=TaskKind.PULL,
        media_id="14508071098244959037",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={"transcodeTaskId": "transcode-0bee89b07a248e27c83fc3d5951213c1"},
        outputs=[uploaded(url)],
    )


def deleted(event: Event, file_id: str) -> None:
    check_event(
        event,
        event_type="FileDeleted",
        task_kind=TaskKind.DELETE,
        media_id=file_id,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
    )
    assert event.task_key == f"media:{file_id}"


@covers("FileDeleted.json", "FileDeleted__v2_table.json")
@pytest.mark.parametrize("name", ["FileDeleted.json", "FileDeleted__v2_table.json"])
def test_file_deleted(name: str) -> None:
    deleted(one(name), "24961954183381008")


@covers("FileDeleted__two_files.json")
def test_file_deleted_with_two_files_gives_two_media_events() -> None:
    first, second = normalize("FileDeleted__two_files.json")
    deleted(first, "5285890780486257682")
    deleted(second, "5285890784273533167")
    assert first.event_id != second.event_id


# unknown event type --------------------------------------------------------------------------------------


@covers("TestEvent.json")
def test_unknown_event_type_is_a_generic_event_with_a_warning() -> None:
    event = one("TestEvent.json")
    check_event(
        event,
        event_type="TestEvent",
        task_id="Test-5c3b1a0e9d8f7a6b5c4d3e2f1a0b9c8d",
        task_kind=TaskKind.OTHER,
        media_id="5285890780486257682",
        status=None,
        outcome=None,
        extra={"data": load("TestEvent.json")["data"]},
        warnings=event.warnings,
    )
    warned(event, "$.eventType", "unknown event type")


# query answers -------------------------------------------------------------------------------------------


@covers("query/GetProcedureInfo.json")
def test_get_procedure_info_seed_with_code_4_0() -> None:
    name = "query/GetProcedureInfo.json"
    check_event(
        one(name, api="GetProcedureInfo", hint=SEED_PROCEDURE_TASK),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id=SEED_PROCEDURE_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id="123123123",
        status=Status.PROCESSING,
        provider_status="PROCESSING",
        extra=meta_extra(name, "metaData", "drm", under=()),
        outputs=SEED_SUBTASKS,
    )


def test_get_procedure_info_without_the_task_it_was_asked_for_is_unidentifiable() -> None:
    with pytest.raises(Unidentifiable) as caught:
        normalize("query/GetProcedureInfo.json", api="GetProcedureInfo")
    assert caught.value.path == "$.vodTaskId"


@covers("query/GetTaskInfo__procedure.json")
def test_get_task_info_procedure_seed_processing_has_no_finish_time() -> None:
    name = "query/GetTaskInfo__procedure.json"
    check_event(
        one(name, api="GetTaskInfo", hint=SEED_PROCEDURE_TASK),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id=SEED_PROCEDURE_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id="24961954183381008",
        status=Status.PROCESSING,
        provider_status="PROCESSING",
        created_at=unix(1485156352),
        started_at=unix(1485156354),
        updated_at=unix(1485156352),  # finishTime is the last update: a PROCESSING task has not finished
        finished_at=None,
        extra=meta_extra(name, "metaData", "drm"),
        outputs=SEED_SUBTASKS,
    )


@covers("query/GetTaskInfo__transcode.json")
def test_get_task_info_transcode_seed() -> None:
    check_event(
        one("query/GetTaskInfo__transcode.json", api="GetTaskInfo", hint=SEED_TRANSCODE_TASK),
        origin=Origin.POLL,
        event_type="TranscodeComplete",
        task_id=SEED_TRANSCODE_TASK,
        task_kind=TaskKind.TRANSCODE,
        media_id="14508071098244931831",
        status=Status.PROCESSING,
        outcome=None,
        provider_status="PROCESSING",
        created_at=unix(1485156352),
        started_at=unix(1485156354),
        updated_at=unix(1485156352),
        finished_at=None,
        extra={"fileName": "13425173277_2015-09-06-19-06-11_2015-09-06-19-16-11"},
        outputs=[*DOC_PLAYSET, DOC_COVER],
    )


FINISH_TIMES = {
    "created_at": unix(1541497994),
    "started_at": unix(1541497995),
    "updated_at": unix(1541498041),
    "finished_at": unix(1541498041),
}


@covers("query/GetTaskInfo__real_finish.json")
def test_get_task_info_real_shape_finished() -> None:
    name = "query/GetTaskInfo__real_finish.json"
    check_event(
        one(name, api="GetTaskInfo", hint=REAL_TASK),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id=REAL_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890780486257682",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        extra=meta_extra(name, "metaData"),
        outputs=[REAL_F10],
        **FINISH_TIMES,
    )


@covers("query/GetTaskInfo__waiting.json")
def test_get_task_info_waiting_has_no_data() -> None:
    check_event(
        one("query/GetTaskInfo__waiting.json", api="GetTaskInfo", hint=SEED_TRANSCODE_TASK),
        origin=Origin.POLL,
        event_type="TranscodeComplete",
        task_id=SEED_TRANSCODE_TASK,
        task_kind=TaskKind.TRANSCODE,
        status=Status.WAITING,
        provider_status="WAITING",
        created_at=unix(1541497994),
    )


@covers("query/GetTaskInfo__clip_media.json")
def test_get_task_info_clip_media() -> None:
    check_event(
        one("query/GetTaskInfo__clip_media.json", api="GetTaskInfo", hint=CLIP_TASK),
        origin=Origin.POLL,
        event_type="ClipComplete",
        task_id=CLIP_TASK,
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        extra={"outputFileIds": ["14508071098244929440"]},
        outputs=[CLIP_OK],
        **FINISH_TIMES,
    )


@covers("query/GetTaskInfo__clipVideo.json")
def test_get_task_info_clip_video_failed() -> None:
    check_event(
        one("query/GetTaskInfo__clipVideo.json", api="GetTaskInfo", hint=CLIP_TASK),
        origin=Origin.POLL,
        event_type="ClipComplete",
        task_id=CLIP_TASK,
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=ErrorInfo(code="-43001"),
        outputs=[CLIP_FAILED],
        **FINISH_TIMES,
    )


@covers("query/GetTaskInfo__concatFile.json")
def test_get_task_info_concat_file_partial() -> None:
    check_event(
        one("query/GetTaskInfo__concatFile.json", api="GetTaskInfo"),
        origin=Origin.POLL,
        event_type="ConcatComplete",
        task_id="Concat-1edb7eb88a599d05abe451cfc541cfbd",
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outcome=Outcome.PARTIAL,
        provider_status="FINISH",
        error=ErrorInfo(code="-1", message="concat failed"),
        extra={"outputFileIds": ["14508071098244931831"]},
        outputs=[
            CONCAT_OK[0],
            {
                "key": "Concat:mp4#0",
                "kind": OutputKind.VIDEO,
                "container": "mp4",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": ErrorInfo(code="-1", message="concat failed"),
            },
        ],
        **FINISH_TIMES,
    )


@covers("query/GetTaskInfo__snapShotByTime.json")
def test_get_task_info_snapshot_by_time() -> None:
    check_event(
        one("query/GetTaskInfo__snapShotByTime.json", api="GetTaskInfo"),
        origin=Origin.POLL,
        event_type="CreateSnapshotByTimeOffsetComplete",
        task_id=SNAP_TASK,
        task_kind=TaskKind.SNAPSHOT,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[snapshot("10", 10000, VOD + "14508071098244929440/xx1.png")],
        **FINISH_TIMES,
    )


@covers("query/GetTaskInfo__imageSprite.json")
def test_get_task_info_image_sprite_failed() -> None:
    check_event(
        one("query/GetTaskInfo__imageSprite.json", api="GetTaskInfo"),
        origin=Origin.POLL,
        event_type="CreateImageSpriteComplete",
        task_id=SPRITE_TASK,
        task_kind=TaskKind.SPRITE,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=ErrorInfo(code="-43001"),
        **FINISH_TIMES,
    )


@covers("query/GetTaskInfo__malformed_time.json")
def test_get_task_info_with_a_broken_time() -> None:
    event = one("query/GetTaskInfo__malformed_time.json", api="GetTaskInfo")
    check_event(
        event,
        origin=Origin.POLL,
        event_type="TranscodeComplete",
        task_id=SEED_TRANSCODE_TASK,
        task_kind=TaskKind.TRANSCODE,
        media_id="14508071098244931831",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=ErrorInfo(code="-43001"),
        warnings=event.warnings,
        **{**FINISH_TIMES, "created_at": None},
    )
    warned(event, "$.createTime", "'yesterday'")


@covers("query/GetTaskInfo__not_found.json")
def test_get_task_info_error_answer_is_unidentifiable() -> None:
    with pytest.raises(Unidentifiable) as caught:
        normalize("query/GetTaskInfo__not_found.json", api="GetTaskInfo", hint=SEED_TRANSCODE_TASK)
    assert (caught.value.path, caught.value.value) == ("$.code", 70014)


PULLED_UPLOAD = {
    "event_type": "NewFileUpload",
    "task_kind": TaskKind.UPLOAD,
    "media_id": "14508071098244959037",
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "extra": {
        "transcodeTaskId": "transcode-0bee89b07a248e27c83fc3d5951213c1",
        "porncheckTaskId": "porncheck-f5ac8127b3b6b85cdc13f237c6005d80",
    },
    "outputs": [uploaded("http://251000330.vod2.myqcloud.com/vod251000330/14508071098244959037/f0.flv")],
}
PULLED_CONCAT = {
    "event_type": "ConcatComplete",
    "task_id": "concat-1edb7eb88a599d05abe451cfc541cfbd",
    "task_kind": TaskKind.CONCAT,
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "provider_status": "0",
    "extra": CONCAT_IDS,
    "outputs": CONCAT_OK,
}


@covers("query/PullEvent__fixed.json", "query/PullEvent__version_number__fixed.json")
@pytest.mark.parametrize("name", ["query/PullEvent__fixed.json", "query/PullEvent__version_number__fixed.json"])
def test_pull_event_answer_gives_each_event_content(name: str) -> None:
    upload, concat = normalize(name, api="PullEvent")
    check_event(upload, origin=Origin.PULL, **PULLED_UPLOAD)
    check_event(concat, origin=Origin.PULL, **PULLED_CONCAT)


@covers("query/PullEvent__empty.json")
def test_pull_event_empty_queue() -> None:
    assert normalize("query/PullEvent__empty.json", api="PullEvent") == []


# properties over every fixture ---------------------------------------------------------------------------

#: Fixtures whose documents carry something the dialect has to give up on or flag.
FLAGGED = {
    "ProcedureStateChanged__partial.json",
    "ProcedureStateChanged__malformed_stream.json",
    "ProcedureStateChanged__malformed_errcode.json",
    "TranscodeComplete__malformed_bitrate.json",
    "TestEvent.json",
    "query/GetTaskInfo__malformed_time.json",
}
#: Query answers that are not events at all.
NOT_EVENTS = {"query/GetTaskInfo__not_found.json"}
HINTS = {"query/GetProcedureInfo.json": SEED_PROCEDURE_TASK}


def events_of(name: str) -> list[Event]:
    if name.startswith("query/"):
        api = Path(name).name.split("__")[0].removesuffix(".json")
        return normalize(name, api=api, hint=HINTS.get(name, SEED_TRANSCODE_TASK))
    return normalize(name)


def test_every_fixture_has_field_by_field_expectations() -> None:
    assert set(fixture_names()) == COVERED


@pytest.mark.parametrize("name", sorted(set(fixture_names()) - NOT_EVENTS))
def test_warnings_only_where_something_is_malformed(name: str) -> None:
    events = events_of(name)
    assert all(bool(event.warnings) == (name in FLAGGED) for event in events), [e.warnings for e in events]


@pytest.mark.parametrize("name", sorted(set(fixture_names()) - NOT_EVENTS))
def test_the_same_document_twice_gives_the_same_event_ids(name: str) -> None:
    first = [event.event_id for event in events_of(name)]
    again = [event.event_id for event in events_of(name)]
    assert first == again
    assert len(set(first)) == len(first)


def test_receipt_fields_do_not_change_the_event_id() -> None:
    document = load("TranscodeComplete.json")
    here = dialects.get(DIALECT_NAME).normalize(document, context())
    elsewhere = dialects.get(DIALECT_NAME).normalize(
        document, NormalizeContext(source="other", origin=Origin.REPLAY, received_at=datetime.now(UTC))
    )
    assert [e.event_id for e in here] == [e.event_id for e in elsewhere]


def test_same_content_in_other_bytes_is_the_same_event() -> None:
    assert one("FileDeleted.json").event_id == one("FileDeleted__v2_table.json").event_id


def test_an_event_pushed_and_pulled_is_the_same_event() -> None:
    pulled = normalize("query/PullEvent__version_number__fixed.json", api="PullEvent")[1]
    pushed = one("ConcatComplete__version_number.json")
    assert pulled.origin is Origin.PULL and pushed.origin is Origin.CALLBACK
    assert pulled.event_id == pushed.event_id


def test_different_content_gives_different_event_ids() -> None:
    assert one("TranscodeComplete.json").event_id != one("TranscodeComplete__v2_table.json").event_id


def test_a_callback_and_a_poll_reporting_the_same_finish_share_the_transition() -> None:
    pushed = one("ProcedureStateChanged.json")
    polled = one("query/GetTaskInfo__real_finish.json", api="GetTaskInfo")
    assert pushed.event_id != polled.event_id
    assert pushed.transition_key == polled.transition_key == f"tencent-vod/{REAL_TASK}/finished/success"


@pytest.mark.parametrize("name", [n for n in fixture_names() if not n.startswith("query/")])
def test_every_callback_fixture_is_detected_as_legacy_vod(name: str) -> None:
    body = (ROOT / name).read_bytes()
    assert dialects.get(DIALECT_NAME).detect(json.loads(body), {})
    detected, _ = dialects.detect(body, {})
    assert detected.name == DIALECT_NAME


@pytest.mark.parametrize("name", [n for n in fixture_names() if n.startswith("query/PullEvent")])
def test_pull_event_answers_are_detected_as_legacy_vod(name: str) -> None:
    assert dialects.get(DIALECT_NAME).detect(load(name), {})


def test_a_document_that_is_no_legacy_event_is_unidentifiable() -> None:
    with pytest.raises(Unidentifiable):
        dialects.get(DIALECT_NAME).normalize({"hello": "world"}, context())
    with pytest.raises(Unidentifiable):
        dialects.get(DIALECT_NAME).normalize(["not", "an", "object"], context())
