"""Field-by-field expectations for every `tencent-vod-v3` fixture, detection against the other Tencent
shapes, and the optional `Sign`/`T` callback signature.

Each fixture is normalized through the registry and every field of every event and output is compared with
what the reference (shared/providers/tencent-vod.md §3–§5, Appendix A) says it means. Fields a test does not
name must be empty, so a value that appears where none is expected fails as surely as a wrong one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from receiver import dialects
from receiver.dialects.base import NormalizeContext, RawCallback, SigningPolicy, Unidentifiable, Verdict
from receiver.dialects.tencent_vod_v3 import sign, signature_fields
from receiver.model import (
    ErrorInfo,
    Event,
    Origin,
    Outcome,
    OutputKind,
    Provider,
    Session,
    Status,
    TaskKind,
)
from tests.dialects.expect import EVENT_EMPTY, OUTPUT_EMPTY, audio, video

DIALECT_NAME = "tencent-vod-v3"
ROOT = Path(__file__).resolve().parents[2] / "fixtures" / DIALECT_NAME
RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SOURCE = "vod3"
CAPTURE_ID = 7

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
    return sorted(
        str(path.relative_to(ROOT)) for path in ROOT.rglob("*.json") if not path.name.endswith(".headers.json")
    )


def load(name: str) -> Any:
    return json.loads((ROOT / name).read_bytes())


def context(api: str | None = None, hint: str | None = None, origin: Origin | None = None) -> NormalizeContext:
    if origin is None:
        origin = Origin.POLL if api else Origin.CALLBACK
    return NormalizeContext(
        source=SOURCE, origin=origin, received_at=RECEIVED, capture_id=CAPTURE_ID, task_id_hint=hint, api=api
    )


def normalize(name: str, api: str | None = None, hint: str | None = None) -> list[Event]:
    dialect = dialects.get(DIALECT_NAME)
    return dialect.normalize(dialect.decode((ROOT / name).read_bytes()), context(api, hint))


def one(name: str, api: str | None = None, hint: str | None = None) -> Event:
    events = normalize(name, api, hint)
    assert len(events) == 1, f"{name}: expected one event, got {len(events)}"
    return events[0]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_event(event: Event, origin: Origin = Origin.CALLBACK, warnings: Iterable[str] = (), **expected: Any) -> None:
    """Compare every field of `event`; a field not in `expected` must be empty. `warnings` are substrings
    of the event's warnings, one each, in order."""
    assert event.provider is Provider.TENCENT_VOD
    assert event.dialect == DIALECT_NAME
    assert event.source == SOURCE
    assert event.received_at == RECEIVED
    assert event.capture_id == CAPTURE_ID
    assert event.origin is origin, f"origin: {event.origin!r}"
    assert "event_type" in expected, "name the event type"
    assert event.event_type == expected.pop("event_type")
    for name, want in {**EVENT_EMPTY, **expected}.items():
        if name == "outputs":
            continue
        got = getattr(event, name)
        assert got == want, f"{name}: got {got!r}, expected {want!r}"
    check_outputs(event, expected.get("outputs", []))
    wanted = list(warnings)
    assert len(event.warnings) == len(wanted), event.warnings
    for got, want in zip(event.warnings, wanted, strict=True):
        assert want in got, f"warning {got!r} does not say {want!r}"


def check_outputs(event: Event, expected: Iterable[dict[str, Any]]) -> None:
    wanted = list(expected)
    assert [o.key for o in event.outputs] == [w["key"] for w in wanted], "output keys"
    for output, want in zip(event.outputs, wanted, strict=True):
        assert "kind" in want, f"name the kind of {want['key']}"
        for name, value in {**OUTPUT_EMPTY, **want}.items():
            got = getattr(output, name)
            assert got == value, f"output {output.key} {name}: got {got!r}, expected {value!r}"


def ok(**fields: Any) -> dict[str, Any]:
    """An output that finished successfully."""
    return {"status": Status.FINISHED, "outcome": Outcome.SUCCESS, **fields}


def waiting(task_id: str, kind: TaskKind, media_id: str | None, event_type: str) -> dict[str, Any]:
    """The event an upload/pull/edit/split yields for the follow-up task it started."""
    return {
        "event_type": event_type,
        "task_id": task_id,
        "task_kind": kind,
        "media_id": media_id,
        "status": Status.WAITING,
    }


# ProcedureStateChanged ----------------------------------------------------------------------------------

DOC_VIDEO = "https://1256768367.vod2.myqcloud.com/xxx/xxx/v.f20.mp4"
DOC_TRANSCODE_20 = ok(
    key="Transcode:20#0",  # Input.Definition 20, although Output.Definition says 0
    kind=OutputKind.VIDEO,
    definition="20",
    url=DOC_VIDEO,
    container="mov,mp4,m4a,3gp,3g2,mj2",
    size_bytes=4189073,
    bitrate_bps=552218,
    width=640,
    height=480,
    duration_s=60.04700088501,
    fps=24.0,
    md5="eff7031ad7877865f9a3240e9ab165ad",
    streams=[video("h264", 503727, 640, 480, 24.0), audio("aac", 48491, 44100)],
)
DOC_COVER_10 = ok(
    key="CoverBySnapshot:10#0",
    kind=OutputKind.IMAGE,
    definition="10",
    url="http://1256768367.vod2.myqcloud.com/xxx/xxx/xxx.100_0.jpg",
)


def procedure_extra(doc: dict[str, Any]) -> dict[str, Any]:
    task = doc["ProcedureStateChangeEvent"]
    return {"FileName": task["FileName"], "FileUrl": task["FileUrl"], "MetaData": task["MetaData"]}


@covers("ProcedureStateChanged.json")
def test_procedure_doc_example() -> None:
    check_event(
        one("ProcedureStateChanged.json"),
        event_type="ProcedureStateChanged",
        task_id="1256768367-Procedure-475b72xxxcb177t1",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[DOC_TRANSCODE_20, DOC_COVER_10],
        extra=procedure_extra(load("ProcedureStateChanged.json")),
    )


REAL = "http://1305819496.vod2.myqcloud.com/ee2c0b58vodtranscq1305819496/f0e32f023701925920477195402/"


@covers("ProcedureStateChanged__real_2021.json")
def test_procedure_real_capture_with_null_siblings_and_zero_times() -> None:
    event = one("ProcedureStateChanged__real_2021.json")
    check_event(
        event,
        event_type="ProcedureStateChanged",
        task_id="1305819496-procedurev2-f4c4e73a9b8ff4cba3ee9df5c4608270tt0",
        task_kind=TaskKind.PROCEDURE,
        media_id="3701925920477195402",  # 19 digits, above 2^53: kept as text
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,  # ErrCode 0 with Message "SUCCESS"
        provider_status="FINISH",
        # every sub-task time is "0000-00-00T00:00:00Z": no started_at/finished_at
        outputs=[
            ok(
                key="ImageSprites:10#0",
                kind=OutputKind.SPRITE,
                definition="10",
                url=REAL + "imageSprite/imageSprite_10.vtt",
                urls=[REAL + "imageSprite/imageSprite_10_0.jpg"],
                width=142,
                height=80,
            ),
            ok(
                key="CoverBySnapshot:10#0",
                kind=OutputKind.IMAGE,
                definition="10",
                url=REAL + "coverBySnapshot/coverBySnapshot_10_0.jpg",
            ),
            ok(
                key="AdaptiveDynamicStreaming:10#0",
                kind=OutputKind.STREAMING,
                definition="10",
                url=REAL + "adp.10.m3u8",
                container="HLS",
            ),
        ],
        extra=procedure_extra(load("ProcedureStateChanged__real_2021.json")),  # empty AI sets are not kept
    )


DOC_SHOTS = "http://1256768367.vod2.myqcloud.com/xxx/xxx/xxx{}.jpg"


@covers("ProcedureStateChanged__snapshots.json")
def test_procedure_snapshots_doc_example_with_duplicate_definition_key() -> None:
    check_event(
        one("ProcedureStateChanged__snapshots.json"),
        event_type="ProcedureStateChanged",
        task_id="1256768367-Procedure-2e1af2456351812be963e309cc133403t0",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[
            # The doc's Input repeats "Definition"; JSON keeps the last ([3, 6, 9]): Output.Definition decides.
            ok(
                key="SnapshotByTimeOffset:10#0",
                kind=OutputKind.IMAGES,
                definition="10",
                urls=[DOC_SHOTS.format(n) for n in (1, 2, 3)],
            ),
            ok(
                key="SampleSnapshot:10#0",  # PicInfoSet where the SDK says ImageUrlSet
                kind=OutputKind.IMAGES,
                definition="10",
                urls=[DOC_SHOTS.format(n) for n in range(1, 11)],
            ),
            ok(
                key="ImageSprites:10#0",
                kind=OutputKind.SPRITE,
                definition="10",
                url="http://1256768367.vod2.myqcloud.com/xxx/xxx/xxx.vtt",
                urls=[DOC_SHOTS.format(1)],
                width=142,
                height=80,
            ),
            ok(
                key="CoverBySnapshot:10#0",
                kind=OutputKind.IMAGE,
                definition="10",
                url="http://1256768367.vod2.myqcloud.com/xxx/xxx/xxx.jpg",
            ),
        ],
        extra=procedure_extra(load("ProcedureStateChanged__snapshots.json")),
        warnings=[
            "MediaProcessResultSet[0].SnapshotByTimeOffsetTask.Input.Definition: input should be a valid integer"
        ],
    )


@covers("ProcedureStateChanged__adaptive_streaming.json")
def test_procedure_adaptive_streaming_doc_example() -> None:
    check_event(
        one("ProcedureStateChanged__adaptive_streaming.json"),
        event_type="ProcedureStateChanged",
        task_id="1256768367-Procedure-2e1af2456351812be963e309cc133403t0",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[
            ok(
                key="AdaptiveDynamicStreaming:10#0",
                kind=OutputKind.STREAMING,
                definition="10",
                url="http://1256768367.vod2.myqcloud.com/xxx/xxx/adp.10.m3u8",
                container="hls",
            ),
            ok(
                key="AdaptiveDynamicStreaming:20#0",
                kind=OutputKind.STREAMING,
                definition="20",
                url="http://1256768367.vod2.myqcloud.com/xxx/xxx/adp.20.mpd",
                container="dash",
            ),
        ],
        extra=procedure_extra(load("ProcedureStateChanged__adaptive_streaming.json")),
    )


@covers("ProcedureStateChanged__content_review.json")
def test_procedure_ai_review_results_are_kept_verbatim() -> None:
    doc = load("ProcedureStateChanged__content_review.json")
    check_event(
        one("ProcedureStateChanged__content_review.json"),
        event_type="ProcedureStateChanged",
        task_id="1256768367-Procedure-2e1af2456351812be963e309cc133403t0",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,  # the three review sub-tasks all SUCCESS
        provider_status="FINISH",
        extra={
            **procedure_extra(doc),
            "AiContentReviewResultSet": doc["ProcedureStateChangeEvent"]["AiContentReviewResultSet"],
        },
    )


T100030 = REAL + "v.f100030.mp4"
T100030_OUTPUT = ok(
    key="Transcode:100030#0",
    kind=OutputKind.VIDEO,
    definition="100030",
    url=T100030,
    container="mov,mp4,m4a,3gp,3g2,mj2",
    size_bytes=13347840,
    bitrate_bps=1082017,
    width=720,
    height=1280,
    duration_s=98.68,
    fps=25.0,
    md5="8e5a7a30ad1d83f5e4b7d19aac1b3ec1",
    streams=[video("h264", 950000, 720, 1280, 25.0), audio("aac", 128000, 44100)],
)
GIF_OUTPUT = ok(
    key="AnimatedGraphics:20000#0",
    kind=OutputKind.ANIMATION,
    definition="20000",
    url=REAL + "animatedGraphic/animatedGraphic_20000_0.gif",
    container="gif",
    size_bytes=1580012,
    bitrate_bps=800000,
    width=135,
    height=240,
    duration_s=5.0,  # EndTimeOffset - StartTimeOffset
)
FLOW_TASK = "1305819496-procedurev2-5c5e1f0ad4c8b8d67c5ad8b0e8a5a3c2tt0"
LESSON = "3701925920477195402"


@covers("ProcedureStateChanged__processing.json")
def test_procedure_processing_change_mode_with_millisecond_times() -> None:
    check_event(
        one("ProcedureStateChanged__processing.json"),
        event_type="ProcedureStateChanged",
        task_id=FLOW_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id=LESSON,
        status=Status.PROCESSING,
        provider_status="PROCESSING",
        started_at=datetime(2024, 5, 6, 8, 0, 1, 250000, tzinfo=UTC),  # the earliest sub-task start
        # not finished: no outcome, no finished_at (one sub-task has its zero FinishTime)
        session=Session(id="order-20240506-0001", context='{"lessonId":42,"note":"中文"}'),
        outputs=[
            T100030_OUTPUT,
            {
                "key": "AnimatedGraphics:20000#0",  # the same key its final report will carry
                "kind": OutputKind.ANIMATION,
                "definition": "20000",
                "status": Status.PROCESSING,
            },
        ],
        extra=procedure_extra(load("ProcedureStateChanged__processing.json")),
    )


SOURCE_ERROR = ErrorInfo(code="SourceFileError", message="Source file error")


@covers("ProcedureStateChanged__partial.json")
def test_procedure_partial_when_sub_tasks_differ() -> None:
    check_event(
        one("ProcedureStateChanged__partial.json"),
        event_type="ProcedureStateChanged",
        task_id=FLOW_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.PARTIAL,
        provider_status="FINISH",
        error=SOURCE_ERROR,  # ErrCodeExt preferred over the numeric ErrCode 30009
        started_at=at("2024-05-06T08:00:01Z"),
        finished_at=at("2024-05-06T08:02:10Z"),
        outputs=[
            {
                "key": "Transcode:100030#0",
                "kind": OutputKind.VIDEO,
                "definition": "100030",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": SOURCE_ERROR,
            },
            GIF_OUTPUT,
        ],
        extra=procedure_extra(load("ProcedureStateChanged__partial.json")),
    )


@covers("ProcedureStateChanged__failed.json")
def test_procedure_failed_when_every_sub_task_failed_despite_task_errcode_0() -> None:
    system = ErrorInfo(code="SystemError", message="system error")
    check_event(
        one("ProcedureStateChanged__failed.json"),
        event_type="ProcedureStateChanged",
        task_id=FLOW_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=system,
        started_at=at("2024-05-06T08:00:01Z"),
        finished_at=at("2024-05-06T08:02:10Z"),
        outputs=[
            {
                "key": f"Transcode:{definition}#0",
                "kind": OutputKind.VIDEO,
                "definition": str(definition),
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": system,
            }
            for definition in (100030, 100040)
        ],
        extra=procedure_extra(load("ProcedureStateChanged__failed.json")),
    )


@covers("ProcedureStateChanged__errcode_disagrees.json")
def test_procedure_task_errcode_against_successful_results_warns() -> None:
    check_event(
        one("ProcedureStateChanged__errcode_disagrees.json"),
        event_type="ProcedureStateChanged",
        task_id=FLOW_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,  # the results decide
        provider_status="FINISH",
        started_at=at("2024-05-06T08:00:01Z"),
        finished_at=at("2024-05-06T08:02:10Z"),
        outputs=[T100030_OUTPUT],
        extra=procedure_extra(load("ProcedureStateChanged__errcode_disagrees.json")),
        warnings=["$.ProcedureStateChangeEvent.ErrCode: says failure but all 1 sub-tasks succeeded (got '70000')"],
    )


SIGNED_FLOW: dict[str, Any] = {
    "event_type": "ProcedureStateChanged",
    "task_id": FLOW_TASK,
    "task_kind": TaskKind.PROCEDURE,
    "media_id": LESSON,
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "provider_status": "FINISH",
    "started_at": at("2024-05-06T08:00:01Z"),
    "finished_at": at("2024-05-06T08:02:10Z"),
    "outputs": [T100030_OUTPUT],
}


@covers("ProcedureStateChanged__signed.json")
def test_procedure_signed_body_normalizes_like_an_unsigned_one() -> None:
    event = one("ProcedureStateChanged__signed.json")
    check_event(event, extra=procedure_extra(load("ProcedureStateChanged__signed.json")), **SIGNED_FLOW)
    unsigned = load("ProcedureStateChanged__signed.json")
    del unsigned["Sign"], unsigned["T"]
    [plain] = dialects.get(DIALECT_NAME).normalize(unsigned, context())
    assert plain.event_id == event.event_id  # the signature is not content


@covers("ProcedureStateChanged__event_handle.json")
def test_procedure_pulled_item_keeps_its_event_handle() -> None:
    doc = load("ProcedureStateChanged__event_handle.json")
    check_event(
        one("ProcedureStateChanged__event_handle.json"),
        extra=procedure_extra(doc),
        **SIGNED_FLOW,
    )


# media events and new files ------------------------------------------------------------------------------


@covers("NewFileUpload.json")
def test_upload_doc_example_is_a_media_event() -> None:
    check_event(
        one("NewFileUpload.json"),
        event_type="NewFileUpload",
        task_kind=TaskKind.UPLOAD,
        media_id="5285890784273533167",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        created_at=at("2019-01-09T16:36:22Z"),
        updated_at=at("2019-01-09T16:36:24Z"),
        outputs=[
            ok(
                key="File#0",
                kind=OutputKind.VIDEO,
                url="http://125676836723.vod2.myqcloud.com/xxx/xxx/q1BORBPQH1IA.mp4",
                container="mp4",
            )
        ],
        extra={"Name": "Animal World", "SourceType": "Upload", "StorageRegion": "ap-guangzhou-2", "ClassName": "Other"},
    )


LESSON_URL = "http://1305819496.vod2.myqcloud.com/17421db0vodcq1305819496/f0e32f023701925920477195402/CFJFijgLOlIA.mp4"


@covers("NewFileUpload__procedure.json")
def test_upload_with_procedure_announces_the_procedure_as_waiting() -> None:
    upload, procedure = normalize("NewFileUpload__procedure.json")
    check_event(
        upload,
        event_type="NewFileUpload",
        task_kind=TaskKind.UPLOAD,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        created_at=datetime(2024, 5, 6, 7, 59, 58, 120000, tzinfo=UTC),
        updated_at=datetime(2024, 5, 6, 8, 0, 0, 4000, tzinfo=UTC),
        session=Session(context="user=42&lesson=7"),  # the upload's SourceContext
        outputs=[
            ok(
                key="File#0",
                kind=OutputKind.VIDEO,
                url=LESSON_URL,
                container="mp4",
                size_bytes=14214980,
                bitrate_bps=1158311,
                width=360,
                height=640,
                duration_s=98.66159057617188,
                streams=[video("h264", 1030064, 360, 640, 15.0), audio("aac", 128247, 44100)],
            )
        ],
        extra={
            "Name": "lesson-01",
            "SourceType": "Upload",
            "StorageRegion": "ap-chongqing",
            "ClassName": "其他",
            "ProcedureTaskId": "1305819496-procedurev2-f4c4e73a9b8ff4cba3ee9df5c4608270tt0",
        },
    )
    check_event(
        procedure,
        **waiting(
            "1305819496-procedurev2-f4c4e73a9b8ff4cba3ee9df5c4608270tt0", TaskKind.PROCEDURE, LESSON, "NewFileUpload"
        ),
    )
    assert upload.task_key == f"media:{LESSON}"
    assert procedure.task_key == "1305819496-procedurev2-f4c4e73a9b8ff4cba3ee9df5c4608270tt0"


@covers("FileDeleted.json")
def test_deleted_doc_example_is_one_media_event_per_file() -> None:
    events = normalize("FileDeleted.json")
    assert [e.media_id for e in events] == ["24961954183381008", "24961954183381009", "24961954183381010"]
    for event, file_id in zip(events, ["24961954183381008", "24961954183381009", "24961954183381010"], strict=True):
        check_event(
            event,
            event_type="FileDeleted",
            task_kind=TaskKind.DELETE,
            media_id=file_id,
            status=Status.FINISHED,
            outcome=Outcome.SUCCESS,
        )
    assert len({e.event_id for e in events}) == 3


@covers("FileDeleted__result_info.json")
def test_deleted_with_result_info_keeps_the_deleted_parts() -> None:
    first, second = normalize("FileDeleted__result_info.json")
    common: dict[str, Any] = {"event_type": "FileDeleted", "task_kind": TaskKind.DELETE, "status": Status.FINISHED}
    check_event(
        first,
        media_id="243791581461656546",
        outcome=Outcome.SUCCESS,
        extra={"DeleteParts": [{"Type": "TranscodeFiles", "Definition": 100030}]},
        **common,
    )
    check_event(second, media_id="11111122222", outcome=Outcome.SUCCESS, **common)


@covers("PullComplete.json")
def test_pull_doc_example_unwraps_the_nested_media_basic_info() -> None:
    check_event(
        one("PullComplete.json"),
        event_type="PullComplete",
        task_id="125676836723-Pull-f5ac8127b3b6b85cdc13f237c6005d8",
        task_kind=TaskKind.PULL,
        media_id="14508071098244959037",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        created_at=at("2019-01-09T16:36:22Z"),  # from MediaBasicInfo.MediaBasicInfo
        outputs=[
            ok(
                key="File#0",
                kind=OutputKind.VIDEO,
                url="http://125676836723.vod2.myqcloud.com/xxx/xxx/xxx.mp4",
                container="mp4",
            )
        ],
        extra={"Name": "Animal World"},
    )


@covers("PullComplete__failed.json")
def test_pull_failure() -> None:
    check_event(
        one("PullComplete__failed.json"),
        event_type="PullComplete",
        task_id="1305819496-Pull-7d1b2b0f3c9e4a1f8a6b5c4d3e2f1a0bt0",
        task_kind=TaskKind.PULL,
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=ErrorInfo(code="60000", message="source file error: download failed"),
        session=Session(id="pull-17", context="import-job-17"),
    )


EDIT_OUTPUT = ok(
    key="File#0", kind=OutputKind.VIDEO, url="http://125676836723.vod2.myqcloud.com/xxx/xxx/f0.mp4", container="mp4"
)


@covers("EditMediaComplete.json", "EditMediaComplete__event_key.json")
@pytest.mark.parametrize(
    ("name", "task_id"),
    [
        ("EditMediaComplete.json", "EditMedia-f5ac8127b3b6b85cdc13f237c6005d8"),  # object under "EditMediaComplete"
        ("EditMediaComplete__event_key.json", "1256768367-EditMedia-f5ac8127b3b6b85cdc13f237c6005d8"),
    ],
)
def test_edit_media_under_either_key(name: str, task_id: str) -> None:
    check_event(
        one(name),
        event_type="EditMediaComplete",
        task_id=task_id,
        task_kind=TaskKind.EDIT,
        media_id="24961954183923290",  # the new file: the input is several files
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[EDIT_OUTPUT],
        extra={"OutputFileIds": ["24961954183923290"]},
    )


@covers("SplitMediaComplete.json")
def test_split_media_one_output_per_segment() -> None:
    split, procedure = normalize("SplitMediaComplete.json")
    part = "http://1305819496.vod2.myqcloud.com/17421db0vodcq1305819496/{}/part-{}.mp4"
    check_event(
        split,
        event_type="SplitMediaComplete",
        task_id="1305819496-SplitMedia-0b5c3a9d2e7f41c8a6d4b2e9f1c3a5d7t0",
        task_kind=TaskKind.SPLIT,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[
            ok(key="File#0", kind=OutputKind.VIDEO, url=part.format("3701925920477195500", 1), container="mp4"),
            ok(key="File#1", kind=OutputKind.VIDEO, url=part.format("3701925920477195501", 2), container="mp4"),
        ],
        extra={"OutputFileIds": ["3701925920477195500", "3701925920477195501"]},
    )
    check_event(
        procedure,
        **waiting(
            "1305819496-procedurev2-aa11bb22cc33dd44ee55ff6677889900tt0",
            TaskKind.PROCEDURE,
            "3701925920477195500",
            "SplitMediaComplete",
        ),
    )


@covers("ComposeMediaComplete.json")
def test_compose_media_doc_example_with_numeric_file_id() -> None:
    check_event(
        one("ComposeMediaComplete.json"),
        event_type="ComposeMediaComplete",
        task_id="1256768367-ComposeMedia-f5ac8127b3b6b85cdc13f237c6005d8",
        task_kind=TaskKind.COMPOSE,
        media_id="5285485487985271490",  # a JSON number above 2^53, read exactly
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[
            ok(
                key="File#0",
                kind=OutputKind.VIDEO,
                url="http://125676836723.vod2.myqcloud.com/xxx/xxx/xxx.mp4",
                container="mp4",
            )
        ],
        extra={"OutputFileIds": ["5285485487985271490"]},
    )


@covers("RemoveWatermark.json")
def test_remove_watermark_new_file_with_metadata() -> None:
    check_event(
        one("RemoveWatermark.json"),
        event_type="RemoveWatermark",
        task_id="1305819496-RemoveWatermark-6f0e4d2c8a1b3e5f7d9c0b2a4e6f8d1ct0",
        task_kind=TaskKind.WATERMARK,
        media_id=LESSON,  # Input.FileId: the file worked on
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        session=Session(context="cleanup-batch-3"),
        outputs=[
            ok(
                key="File#0",
                kind=OutputKind.VIDEO,
                url="http://1305819496.vod2.myqcloud.com/17421db0vodcq1305819496/3701925920477195777/nowm.mp4",
                container="mp4",
                size_bytes=14000001,
                bitrate_bps=1135000,
                width=360,
                height=640,
                duration_s=98.6,
                streams=[video("h264", 1007000, 360, 640, 15.0), audio("aac", 128000, 44100)],
            )
        ],
        extra={"OutputFileIds": ["3701925920477195777"], "MediaName": "lesson-01-clean"},
    )


@covers("RebuildMediaComplete.json")
def test_rebuild_media_failure_uses_errcodeext() -> None:
    check_event(
        one("RebuildMediaComplete.json"),
        event_type="RebuildMediaComplete",
        task_id="1305819496-RebuildMedia-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4bt0",
        task_kind=TaskKind.REBUILD,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        provider_status="FINISH",
        error=ErrorInfo(code="InvalidInput.SourceDuration", message="source video too short"),
        session=Session(id="rebuild-5"),
    )


@covers("RestoreMediaComplete.json")
def test_restore_media_integer_status_is_a_code() -> None:
    check_event(
        one("RestoreMediaComplete.json"),
        event_type="RestoreMediaComplete",
        task_kind=TaskKind.RESTORE,
        media_id="24961954183381008",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="0",
        extra={
            "OriginalStorageClass": "ARCHIVE",
            "TargetStorageClass": "STANDARD",
            "RestoreTier": "Standard",
            "RestoreDay": 0,
            "Message": "Restore success!",
        },
    )


@covers("ReviewAudioVideoComplete.json")
def test_review_verdict_is_kept_verbatim() -> None:
    doc = load("ReviewAudioVideoComplete.json")
    check_event(
        one("ReviewAudioVideoComplete.json"),
        event_type="ReviewAudioVideoComplete",
        task_id="125xxxx-ReviewAudioVideo-07edbc78ba20563cdf2362cffbf4aa0ct",
        task_kind=TaskKind.REVIEW,
        media_id="387702130626135215",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,  # the task ran; the verdict ("block") is data, not a failure
        provider_status="FINISH",
        extra={"ReviewResult": doc["ReviewAudioVideoCompleteEvent"]["Output"]},
    )


@covers("WechatPublishComplete.json")
def test_wechat_publish_doc_example() -> None:
    check_event(
        one("WechatPublishComplete.json"),
        event_type="WechatPublishComplete",
        task_id="Wechat-f5ac8127b3b6b85cdc13f237c6005d8",
        task_kind=TaskKind.PUBLISH,
        media_id="24961954183381008",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[ok(key="Publish#0", kind=OutputKind.OTHER, definition="10", url="http://xxx?xxx")],
        extra={"WechatVid": "wechat-xxx-xxx", "WechatStatus": "SUCCESS", "SourceDefinition": 0},
    )


@covers("QualityInspectComplete.json")
def test_quality_inspect_through_the_generic_reader() -> None:
    check_event(
        one("QualityInspectComplete.json"),
        event_type="QualityInspectComplete",
        task_id="1305819496-QualityInspect-4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9at0",
        task_kind=TaskKind.ANALYSIS,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        extra={
            "Output": {"NoAudio": False, "NoVideo": False, "QualityEvaluationScore": 87, "QualityInspectResultSet": []}
        },
    )


@covers("AigcSomethingNewComplete__unknown.json")
def test_unknown_event_type_is_kept_not_rejected() -> None:
    doc = load("AigcSomethingNewComplete__unknown.json")
    check_event(
        one("AigcSomethingNewComplete__unknown.json"),
        event_type="AigcSomethingNewComplete",
        task_id="1305819496-AigcSomethingNew-1234567890abcdef1234567890abcdeft0",
        task_kind=TaskKind.OTHER,
        media_id="3701925920477195999",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        session=Session(context="ctx-9"),
        extra={"AigcSomethingNewCompleteEvent": doc["AigcSomethingNewCompleteEvent"]},
        warnings=["$.EventType: unknown event type, kept as a generic event"],
    )


# 2017-compatible events ------------------------------------------------------------------------------------

DOC_HOST = "http://125676836723.vod2.myqcloud.com/xxx/xxx/"


@covers("TranscodeComplete.json")
def test_transcode_2017_doc_example() -> None:
    plays = [(0, 246000, 640, 480), (10, 149193, 320, 240), (20, 297656, 640, 480), (30, 899976, 1280, 960)]
    check_event(
        one("TranscodeComplete.json"),
        event_type="TranscodeComplete",
        task_id="Transcode-f5ac8127b3b6b85cdc13f237c6005d8",
        task_kind=TaskKind.TRANSCODE,
        media_id="24961954183923290",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[
            *(
                ok(
                    key=f"Transcode:{d}#0",
                    kind=OutputKind.VIDEO,
                    definition=str(d),
                    url=f"{DOC_HOST}f{d}.mp4",
                    bitrate_bps=bps,
                    width=w,
                    height=h,
                    duration_s=599.0,
                )
                for d, bps, w, h in plays
            ),
            ok(key="Cover#0", kind=OutputKind.IMAGE, url="http://125676836723.vod2.myqcloud.com/0/xxx/640.jpg"),
        ],
        extra={"FileName": "Animal World"},
    )


@covers("TranscodeComplete__failed.json")
def test_transcode_2017_failure() -> None:
    check_event(
        one("TranscodeComplete__failed.json"),
        event_type="TranscodeComplete",
        task_id="1305819496-transcode-47e7c0f0a4a5d2b1c9e8f7a6b5c4d3e2t0",
        task_kind=TaskKind.TRANSCODE,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        error=ErrorInfo(code="-43001", message="source file error"),
    )


@covers("ClipComplete.json")
def test_clip_2017_doc_example() -> None:
    check_event(
        one("ClipComplete.json"),
        event_type="ClipComplete",
        task_id="clipVideo-0a78cf44c4285026a4c",
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[ok(key="Clip#0", kind=OutputKind.VIDEO, url=f"{DOC_HOST}f0.mp4", container="mp4")],
        extra={"OutputFileIds": ["14508071098244929440"]},
    )


@covers("ClipComplete__failed.json")
def test_clip_2017_failure() -> None:
    error = ErrorInfo(code="-43001", message="clip failed: invalid time range")
    check_event(
        one("ClipComplete__failed.json"),
        event_type="ClipComplete",
        task_id="clipVideo-1b89d055d5396137b5d",
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",
        status=Status.FINISHED,
        outcome=Outcome.FAILED,
        error=error,
        outputs=[
            {
                "key": "Clip#0",
                "kind": OutputKind.FILE,
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": error,
            }
        ],
    )


@covers("ConcatComplete.json")
def test_concat_2017_doc_example() -> None:
    check_event(
        one("ConcatComplete.json"),
        event_type="ConcatComplete",
        task_id="Concat-1edb7eb88a599d05abe451cfc541cfbd",
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[
            ok(key="Concat:m3u8#0", kind=OutputKind.STREAMING, url=f"{DOC_HOST}playlist.f6.m3u8", container="m3u8"),
            ok(key="Concat:mp4#0", kind=OutputKind.VIDEO, url=f"{DOC_HOST}f0.mp4", container="mp4"),
        ],
        extra={"OutputFileIds": ["14508071098244931831", "14508071098244929440"]},
    )


@covers("ConcatComplete__partial.json")
def test_concat_2017_one_format_failed() -> None:
    error = ErrorInfo(code="4", message="concat mp4 failed")
    check_event(
        one("ConcatComplete__partial.json"),
        event_type="ConcatComplete",
        task_id="Concat-2fec8fc99b6aa0e16bf562d0d652d0ce",
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outcome=Outcome.PARTIAL,
        error=error,
        outputs=[
            ok(key="Concat:m3u8#0", kind=OutputKind.STREAMING, url=f"{DOC_HOST}playlist.f6.m3u8", container="m3u8"),
            {
                "key": "Concat:mp4#0",
                "kind": OutputKind.VIDEO,
                "container": "mp4",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": error,
            },
        ],
        extra={"OutputFileIds": ["14508071098244931900"]},
    )


@covers("CreateSnapshotByTimeOffsetComplete.json")
def test_snapshot_2017_doc_example() -> None:
    check_event(
        one("CreateSnapshotByTimeOffsetComplete.json"),
        event_type="CreateSnapshotByTimeOffsetComplete",
        task_id="CreateSnapshotByTimeOffset-1edb7eb88a599d05abe451cfc541cfbd",
        task_kind=TaskKind.SNAPSHOT,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[
            ok(key=f"SnapshotByTimeOffset:10:{ms}", kind=OutputKind.IMAGE, definition="10", url=f"{DOC_HOST}{n}.png")
            for n, ms in ((1, 10000), (2, 20000))
        ],
    )


@covers("SnapshotByTimeOffsetComplete.json")
def test_snapshot_short_event_name_with_a_failed_picture() -> None:
    check_event(
        one("SnapshotByTimeOffsetComplete.json"),
        event_type="SnapshotByTimeOffsetComplete",
        task_id="CreateSnapshotByTimeOffset-3a1c9e0d7b2f4e6a8c5d1b3f9e7a2c4d",
        task_kind=TaskKind.SNAPSHOT,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.PARTIAL,
        error=ErrorInfo(code="-46204"),
        outputs=[
            ok(key="SnapshotByTimeOffset:10:10000", kind=OutputKind.IMAGE, definition="10", url=f"{DOC_HOST}1.png"),
            {
                "key": "SnapshotByTimeOffset:10:900000",
                "kind": OutputKind.IMAGE,
                "definition": "10",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": ErrorInfo(code="-46204"),
            },
        ],
    )


@covers("CreateImageSpriteComplete.json")
def test_sprite_2017_doc_example() -> None:
    check_event(
        one("CreateImageSpriteComplete.json"),
        event_type="CreateImageSpriteComplete",
        task_id="CreateImageSprite-1edb7eb88a599d05abe451cfc541cfbd",
        task_kind=TaskKind.SPRITE,
        media_id="14508071098244929440",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[
            ok(
                key="ImageSprites:10#0",
                kind=OutputKind.SPRITE,
                definition="10",
                url=f"{DOC_HOST}xxx.vtt",
                urls=[f"{DOC_HOST}1.png", f"{DOC_HOST}2.png"],
            )
        ],
        extra={"TotalCount": 106},
    )


# DescribeTaskDetail and PullEvents ------------------------------------------------------------------------


def poll(name: str, hint: str | None = None) -> Event:
    return one(name, api=name.removeprefix("query/").split("__")[0].removesuffix(".json"), hint=hint)


@covers("query/DescribeTaskDetail.json")
def test_describe_task_detail_procedure_doc_sample() -> None:
    doc = load("query/DescribeTaskDetail.json")
    task = doc["Response"]["ProcedureTask"]
    check_event(
        poll("query/DescribeTaskDetail.json"),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",  # the EventType whose object has the same shape
        task_id="12567683xx-Procedure-2e1af2456351812be963e309cc133403t0",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        created_at=at("2019-02-21T08:27:42Z"),
        started_at=at("2019-02-21T08:27:43Z"),
        finished_at=at("2019-02-21T08:27:44Z"),
        extra={"FileName": "small", "FileUrl": task["FileUrl"], "MetaData": task["MetaData"]},
    )


DOC_TRANSCODE_ANSWER: dict[str, Any] = {
    "event_type": "TranscodeComplete",
    "task_id": "12567683xx-transcode-58a1bc57b1c23ed1079597ec17a47666t0",
    "task_kind": TaskKind.TRANSCODE,
    "media_id": "5285890784246869930",
    "status": Status.FINISHED,
    "outcome": Outcome.SUCCESS,
    "provider_status": "FINISH",
    "created_at": at("2019-01-22T06:50:31Z"),
    "started_at": at("2019-01-22T06:50:32Z"),
    "finished_at": at("2019-01-22T06:50:45Z"),
    "outputs": [
        ok(
            key="Transcode:0#0",
            kind=OutputKind.VIDEO,
            definition="0",
            url="http://12567683xx.vod2.myqcloud.com/1c1ae5d2vodgzp12567683xx/c643347c5285890784246869930/AtUCmy6gmIYA.mp4",
            bitrate_bps=1021028,
            width=640,
            height=480,
            duration_s=60.0,
        ),
        ok(
            key="Transcode:10#0",
            kind=OutputKind.VIDEO,
            definition="10",
            url="http://12567683xx.vod2.myqcloud.com/d042887avodtransgzp12567683xx/c643347c5285890784246869930/v.f10.mp4",
            bitrate_bps=304695,
            width=320,
            height=240,
            duration_s=60.0,
        ),
        ok(
            key="Cover#0",
            kind=OutputKind.IMAGE,
            url="http://12567683xx.vod2.myqcloud.com/d042887avodtransgzp12567683xx/c643347c5285890784246869930/"
            "1546950643_4191274987.100_0.jpg",
        ),
    ],
    "extra": {"FileName": "small"},
}


@covers("query/DescribeTaskDetail__transcode.json", "query/DescribeTaskDetail__unwrapped.json")
@pytest.mark.parametrize(
    "name", ["query/DescribeTaskDetail__transcode.json", "query/DescribeTaskDetail__unwrapped.json"]
)
def test_describe_task_detail_transcode_wrapped_or_not(name: str) -> None:
    check_event(poll(name), origin=Origin.POLL, **DOC_TRANSCODE_ANSWER)


@covers("query/DescribeTaskDetail__edit_media.json")
def test_describe_task_detail_edit_media_doc_sample() -> None:
    check_event(
        poll("query/DescribeTaskDetail__edit_media.json"),
        origin=Origin.POLL,
        event_type="EditMediaComplete",
        task_id="12530394xx-procedurev2-61c975da05662fd9d3bf9d89a63361c0t0",
        task_kind=TaskKind.EDIT,
        media_id="4565514956222184986",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        created_at=at("2019-02-25T10:56:02Z"),
        started_at=at("2019-02-25T10:56:02Z"),
        finished_at=at("2019-02-25T10:56:13Z"),
        outputs=[
            ok(
                key="File#0",
                kind=OutputKind.FILE,  # FileType "" names no kind
                url="http://12530394xx.vod2.myqcloud.com/9395476dvodcq1253039488/f0e1f8314565514956222184986/"
                "playlist.f9.mp4",
            )
        ],
        extra={"OutputFileIds": ["4565514956222184986"]},
    )


@covers("query/DescribeTaskDetail__procedure_results.json")
def test_describe_task_detail_gives_the_callbacks_output_keys() -> None:
    """The same sub-results from a callback and from DescribeTaskDetail carry the same keys and content."""
    callback = one("ProcedureStateChanged.json")
    answer = poll("query/DescribeTaskDetail__procedure_results.json")
    assert (
        [o.key for o in answer.outputs]
        == [o.key for o in callback.outputs]
        == ["Transcode:20#0", "CoverBySnapshot:10#0"]
    )
    assert answer.outputs == callback.outputs
    check_event(
        answer,
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id=callback.task_id,
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        created_at=datetime(2024, 5, 6, 8, 0, 0, 125000, tzinfo=UTC),
        started_at=datetime(2024, 5, 6, 8, 0, 1, 500000, tzinfo=UTC),
        finished_at=datetime(2024, 5, 6, 8, 2, 11, 999000, tzinfo=UTC),
        outputs=[DOC_TRANSCODE_20, DOC_COVER_10],
        extra=callback.extra,
    )


@covers("query/DescribeTaskDetail__processing.json")
def test_describe_task_detail_processing_with_zero_finish_time() -> None:
    check_event(
        poll("query/DescribeTaskDetail__processing.json"),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id=FLOW_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id=LESSON,
        status=Status.PROCESSING,
        provider_status="PROCESSING",
        created_at=at("2024-05-06T08:00:00Z"),
        started_at=at("2024-05-06T08:00:01Z"),
        outputs=[
            {"key": "Transcode:100030#0", "kind": OutputKind.VIDEO, "definition": "100030", "status": Status.PROCESSING}
        ],
        extra={"FileName": "lesson-01"},
    )


@covers("query/DescribeTaskDetail__waiting.json")
def test_describe_task_detail_waiting_without_a_task_object_uses_the_hint() -> None:
    check_event(
        poll("query/DescribeTaskDetail__waiting.json", hint="1305819496-procedurev2-0000t0"),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id="1305819496-procedurev2-0000t0",
        task_kind=TaskKind.PROCEDURE,
        status=Status.WAITING,
        provider_status="WAITING",
        created_at=at("2024-05-06T08:00:00Z"),
    )


@covers("query/DescribeTaskDetail__aborted.json")
def test_describe_task_detail_aborted() -> None:
    error = ErrorInfo(code="InternalError", message="task aborted")
    check_event(
        poll("query/DescribeTaskDetail__aborted.json"),
        origin=Origin.POLL,
        event_type="ProcedureStateChanged",
        task_id=FLOW_TASK,
        task_kind=TaskKind.PROCEDURE,
        media_id=LESSON,
        status=Status.FINISHED,
        outcome=Outcome.ABORTED,
        provider_status="ABORTED",
        error=error,
        created_at=at("2024-05-06T08:00:00Z"),
        started_at=at("2024-05-06T08:00:01Z"),
        finished_at=at("2024-05-06T08:05:00Z"),
        outputs=[
            {
                "key": "Transcode:100030#0",
                "kind": OutputKind.VIDEO,
                "definition": "100030",
                "status": Status.FINISHED,
                "outcome": Outcome.FAILED,
                "error": error,
            }
        ],
        extra={"FileName": "lesson-01"},
        warnings=["$.Response.ProcedureTask.Status: disagrees with the answer's Status 'ABORTED' (got 'FINISH')"],
    )


@covers("query/DescribeTaskDetail__not_found.json")
def test_describe_task_detail_error_answer_is_unidentifiable() -> None:
    with pytest.raises(Unidentifiable, match=r"InvalidParameterValue\.TaskId") as caught:
        poll("query/DescribeTaskDetail__not_found.json")
    assert caught.value.path == "$.Response.Error"


@covers("query/PullEvents.json")
def test_pull_events_tccli_example() -> None:
    doc = load("query/PullEvents.json")
    task = doc["Response"]["EventSet"][0]["ProcedureStateChangeEvent"]
    output = {
        **DOC_TRANSCODE_20,
        "url": "http://123.vod2.myqcloud.com/d042887avodtransgzp1256768367/c643347c5285890784246869930/v.f20.mp4",
    }
    check_event(
        poll("query/PullEvents.json"),
        origin=Origin.PULL,
        event_type="ProcedureStateChanged",
        task_id="1256712345-Procedure-475b7237438a39560b9879a4556cb177t2",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        started_at=at("2023-09-08T02:23:29Z"),
        finished_at=at("2023-09-08T03:23:29Z"),
        outputs=[output],
        extra={
            "FileName": "small",
            "FileUrl": task["FileUrl"],
            "MetaData": task["MetaData"],
        },
    )


@covers("query/PullEvents__two_events.json")
def test_pull_events_answer_with_two_items() -> None:
    clip, deleted = normalize("query/PullEvents__two_events.json", api="PullEvents")
    check_event(
        clip,
        origin=Origin.PULL,
        event_type="ClipComplete",
        task_id="clipVideo-0a78cf44c4285026a4c",
        task_kind=TaskKind.CLIP,
        media_id="16092504232103571364",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        outputs=[ok(key="Clip#0", kind=OutputKind.VIDEO, url=f"{DOC_HOST}f0.mp4", container="mp4")],
        extra={"OutputFileIds": ["14508071098244929440"]},
    )
    check_event(
        deleted,
        origin=Origin.PULL,
        event_type="FileDeleted",
        task_kind=TaskKind.DELETE,
        media_id="24961954183381008",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        extra={},
    )


@covers("query/PullEvents__empty.json")
def test_pull_events_empty_answer_has_no_events() -> None:
    assert normalize("query/PullEvents__empty.json", api="PullEvents") == []


def test_every_fixture_has_field_by_field_expectations() -> None:
    assert set(fixture_names()) == COVERED


# behaviour around the fixtures ----------------------------------------------------------------------------


def test_event_id_is_the_same_for_the_same_content_received_twice() -> None:
    dialect = dialects.get(DIALECT_NAME)
    doc = load("ProcedureStateChanged__real_2021.json")
    first = dialect.normalize(doc, context())[0]
    later = NormalizeContext(source="other", origin=Origin.REPLAY, received_at=RECEIVED + timedelta(days=1))
    second = dialect.normalize(doc, later)[0]
    assert first.event_id == second.event_id
    assert first.transition_key == f"tencent-vod/{first.task_id}/finished/success"


def test_query_answer_under_a_callback_context_is_still_a_poll() -> None:
    dialect = dialects.get(DIALECT_NAME)
    [event] = dialect.normalize(load("query/DescribeTaskDetail__transcode.json"), context(origin=Origin.CALLBACK))
    assert event.origin is Origin.POLL


def test_a_malformed_field_degrades_alone() -> None:
    doc = load("ProcedureStateChanged.json")
    output = doc["ProcedureStateChangeEvent"]["MediaProcessResultSet"][0]["TranscodeTask"]["Output"]
    output["Bitrate"] = "fast"
    output["Size"] = "4189073"  # a number as a string is read
    doc["ProcedureStateChangeEvent"]["MediaProcessResultSet"].append("not an object")
    [event] = dialects.get(DIALECT_NAME).normalize(doc, context())
    check_event(
        event,
        event_type="ProcedureStateChanged",
        task_id="1256768367-Procedure-475b72xxxcb177t1",
        task_kind=TaskKind.PROCEDURE,
        media_id="5285890784246869930",
        status=Status.FINISHED,
        outcome=Outcome.SUCCESS,
        provider_status="FINISH",
        outputs=[{**DOC_TRANSCODE_20, "bitrate_bps": None}, DOC_COVER_10],
        extra=procedure_extra(load("ProcedureStateChanged.json")),
        warnings=[
            "$.ProcedureStateChangeEvent.MediaProcessResultSet[2]: input should be a valid dictionary",
            "$.ProcedureStateChangeEvent.MediaProcessResultSet[0].TranscodeTask.Output.Bitrate: input should be a "
            "valid integer, unable to parse string as an integer (got 'fast')",
        ],
    )


def test_unknown_task_status_is_a_warning_not_a_status() -> None:
    doc = {"EventType": "PullComplete", "PullCompleteEvent": {"TaskId": "t-1", "Status": "DONE?", "ErrCode": 0}}
    [event] = dialects.get(DIALECT_NAME).normalize(doc, context())
    assert (event.status, event.outcome, event.provider_status) == (None, None, "DONE?")
    assert event.warnings == ["$.PullCompleteEvent.Status: unknown task status (got 'DONE?')"]


def test_finish_with_a_sub_task_still_running_counts_it_as_failed() -> None:
    doc = load("ProcedureStateChanged__processing.json")
    doc["ProcedureStateChangeEvent"]["Status"] = "FINISH"
    [event] = dialects.get(DIALECT_NAME).normalize(doc, context())
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.PARTIAL)
    assert event.finished_at == datetime(2024, 5, 6, 8, 2, 10, 875000, tzinfo=UTC)
    assert len(event.warnings) == 1 and "the task finished but 1 of its sub-tasks did not" in event.warnings[0]


def test_event_without_its_object_is_kept_with_a_warning() -> None:
    doc = {"EventType": "TranscodeComplete", "TranscodeCompleteEvent": None, "FileUploadEvent": None}
    [event] = dialects.get(DIALECT_NAME).normalize(doc, context())
    assert (event.event_type, event.task_kind, event.task_id) == ("TranscodeComplete", TaskKind.TRANSCODE, None)
    assert event.warnings == ["$.TranscodeCompleteEvent: no event object for EventType 'TranscodeComplete' (got None)"]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "a VOD 3.0 document is a JSON object"),
        ({"EventType": ""}, "EventType is empty"),
        ({"EventType": ["x"]}, "EventType is empty or not a string"),
        ({"Response": {"RequestId": "x"}}, "no EventType, EventSet or TaskType"),
        ({"Response": {"EventSet": [1, "x"]}}, "an EventSet item is not an object"),
    ],
)
def test_unidentifiable_documents(document: Any, reason: str) -> None:
    with pytest.raises(Unidentifiable, match=reason):
        dialects.get(DIALECT_NAME).normalize(document, context())


def test_a_bad_pull_item_is_skipped_and_named_on_the_others() -> None:
    doc = load("query/PullEvents__two_events.json")
    doc["Response"]["EventSet"].insert(0, {"EventType": None})
    clip, deleted = dialects.get(DIALECT_NAME).normalize(doc, context(api="PullEvents"))
    assert clip.event_type == "ClipComplete" and deleted.event_type == "FileDeleted"
    assert clip.warnings == ["$.Response.EventSet[0].EventType: skipped: EventType is empty or not a string"]


# detection --------------------------------------------------------------------------------------------------

MPS_BODIES: list[dict[str, Any]] = [
    {
        "EventType": "WorkflowTask",
        "WorkflowTaskEvent": {"TaskId": "2600010949-WorkflowTask-1", "Status": "FINISH", "ErrCode": 0},
        "EditMediaTaskEvent": None,
        "ScheduleTaskEvent": None,
        "SessionId": "",
        "SessionContext": "",
        "Timestamp": 1700000600,
        "Sign": "98b85626e501656f336a3a7907b3b9aa",
    },
    {"EventType": "EditMediaTask", "EditMediaTaskEvent": {"TaskId": "x"}, "WorkflowTaskEvent": None},
    {"EventType": "ScheduleTask", "ScheduleTaskEvent": {"TaskId": "x"}, "WorkflowTaskEvent": None},
    {"EventType": "BatchTask", "BatchTaskEvent": {"InputInfos": []}},
    {"EventType": "ExtractBlindWatermark", "ExtractBlindWatermarkTask": {"TaskId": "x", "Status": "FINISH"}},
    {"NotificationType": "ProcessEof", "TaskId": "x", "ProcessEofInfo": {"ErrCode": 0}},
    {"Response": {"TaskType": "WorkflowTask", "Status": "FINISH", "WorkflowTask": {}, "EditMediaTask": None}},
    {"Response": {"TaskType": "EditMediaTask", "Status": "FINISH", "EditMediaTask": {}, "WorkflowTask": None}},
]
OTHER_BODIES: list[dict[str, Any]] = [
    # Alibaba shares EventType names with VOD 3.0 but never has a `<Xxx>Event` key.
    {"EventTime": "2024-01-01T00:00:00Z", "EventType": "TranscodeComplete", "VideoId": "v", "Status": "success"},
    {"EventType": "FileUploadComplete", "VideoId": "v", "Size": 1, "FileUrl": "http://x"},
    # legacy v2
    {"version": "4.0", "eventType": "TranscodeComplete", "data": {"vodTaskId": "x"}},
]


@pytest.mark.parametrize("document", MPS_BODIES + OTHER_BODIES)
def test_detect_refuses_other_providers_bodies(document: dict[str, Any]) -> None:
    assert not dialects.get(DIALECT_NAME).detect(document, {})


@pytest.mark.parametrize("name", [n for n in fixture_names() if not n.startswith("query/")])
def test_auto_detection_picks_this_dialect_for_every_callback_fixture(name: str) -> None:
    dialect, _document = dialects.detect((ROOT / name).read_bytes(), {})
    assert dialect.name == DIALECT_NAME


@pytest.mark.parametrize(
    "name",
    [
        "query/DescribeTaskDetail.json",
        "query/DescribeTaskDetail__transcode.json",
        "query/DescribeTaskDetail__waiting.json",
        "query/PullEvents.json",
        "query/PullEvents__two_events.json",
    ],
)
def test_detect_recognises_query_answers(name: str) -> None:
    assert dialects.get(DIALECT_NAME).detect(load(name), {})


def test_detect_refuses_every_mps_fixture() -> None:
    mps = ROOT.parent / "tencent-mps"
    paths = [p for p in sorted(mps.rglob("*.json")) if not p.name.endswith(".headers.json")]
    for path in paths:
        try:
            document = json.loads(path.read_bytes())
        except ValueError:
            continue
        assert not dialects.get(DIALECT_NAME).detect(document, {}), path.name


# signature ----------------------------------------------------------------------------------------------------

KEY = "TestSignKey123"
EXPIRY = 1700000600
NOW = datetime.fromtimestamp(EXPIRY - 60, UTC)


def raw(body: bytes, headers: dict[str, str] | None = None) -> RawCallback:
    return RawCallback(source=SOURCE, body=body, headers=headers or {}, received_at=NOW)


def signed_body(key: str = KEY, expiry: int = EXPIRY, **content: Any) -> bytes:
    document = {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": ["1"]}, **content}
    return json.dumps({**document, **signature_fields(key, expiry)}).encode()


def verify(
    body: bytes, keys: tuple[str, ...] = (KEY,), now: datetime = NOW, headers: dict[str, str] | None = None
) -> Any:
    policy = SigningPolicy(keys=keys, tolerance_s=300)
    return dialects.get(DIALECT_NAME).verify(raw(body, headers), policy, now)


def test_sign_known_answer() -> None:
    # md5("TestSignKey123" + "1700000600"), lower-case hex, computed independently with md5sum
    assert sign(KEY, EXPIRY) == "ab6b7ebb9fdd0158f65e25ce5175a65c"
    assert signature_fields(KEY, EXPIRY) == {"Sign": "ab6b7ebb9fdd0158f65e25ce5175a65c", "T": EXPIRY}


def test_signed_fixture_verifies_with_the_test_key() -> None:
    body = (ROOT / "ProcedureStateChanged__signed.json").read_bytes()
    assert verify(body).verdict is Verdict.VERIFIED


def test_no_keys_accepts_unsigned() -> None:
    result = verify(b'{"EventType":"FileDeleted"}', keys=())
    assert result.verdict is Verdict.UNSIGNED and result.accepted


def test_right_key_is_verified() -> None:
    result = verify(signed_body())
    assert result.verdict is Verdict.VERIFIED and result.accepted


def test_wrong_key_is_refused() -> None:
    result = verify(signed_body(key="SomeoneElse1"))
    assert result.verdict is Verdict.REFUSED and not result.accepted
    assert result.reason is not None and "bad signature" in result.reason
    assert KEY not in result.reason


def test_rotated_key_second_in_the_tuple_is_verified() -> None:
    result = verify(signed_body(key="NewKey2026"), keys=("OldKey2025", "NewKey2026"))
    assert result.verdict is Verdict.VERIFIED
    assert result.reason == "key 2 of 2"


def test_expired_is_refused_and_tolerance_applies() -> None:
    assert verify(signed_body(), now=datetime.fromtimestamp(EXPIRY + 299, UTC)).verdict is Verdict.VERIFIED
    late = verify(signed_body(), now=datetime.fromtimestamp(EXPIRY + 301, UTC))
    assert late.verdict is Verdict.REFUSED
    assert late.reason is not None and late.reason.startswith("expired: T=1700000600 passed 301s ago")


def test_missing_sign_is_refused() -> None:
    result = verify(b'{"EventType":"FileDeleted","FileDeleteEvent":{"FileIdSet":["1"]}}')
    assert result.verdict is Verdict.REFUSED
    assert result.reason is not None and result.reason.startswith("missing Sign")


def test_missing_or_malformed_t_is_refused() -> None:
    no_t = json.dumps({"EventType": "FileDeleted", "Sign": sign(KEY, EXPIRY)}).encode()
    assert (verify(no_t).reason or "").startswith("missing T")
    bad_t = json.dumps({"EventType": "FileDeleted", "Sign": sign(KEY, EXPIRY), "T": "soon"}).encode()
    assert (verify(bad_t).reason or "").startswith("T is not a unix time")


def test_two_different_bodies_with_the_same_sign_and_t_are_both_accepted() -> None:
    first = signed_body(FileDeleteEvent={"FileIdSet": ["1"]})
    second = signed_body(FileDeleteEvent={"FileIdSet": ["2"]})
    assert first != second
    assert verify(first).verdict is Verdict.VERIFIED
    assert verify(second).verdict is Verdict.VERIFIED
    assert verify(first).verdict is Verdict.VERIFIED  # and a repeat too: de-duplication is on content


def test_t_as_a_string_and_upper_case_sign_are_accepted() -> None:
    body = json.dumps({"EventType": "FileDeleted", "Sign": sign(KEY, EXPIRY).upper(), "T": str(EXPIRY)}).encode()
    assert verify(body).verdict is Verdict.VERIFIED


def test_sign_and_t_in_headers_when_the_body_has_none() -> None:
    body = b'{"EventType":"FileDeleted","FileDeleteEvent":{"FileIdSet":["1"]}}'
    headers = {"sign": sign(KEY, EXPIRY), "t": str(EXPIRY)}
    assert verify(body, headers=headers).verdict is Verdict.VERIFIED
    assert verify(body, headers={**headers, "sign": "0" * 32}).verdict is Verdict.REFUSED


def test_verify_never_trusts_an_unparseable_body() -> None:
    result = verify(b"\xff\xfe not json")
    assert result.verdict is Verdict.REFUSED
    assert result.reason is not None and result.reason.startswith("missing Sign")
