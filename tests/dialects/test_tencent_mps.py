"""The tencent-mps dialect: every fixture field by field, detection, verification, leniency."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver import dialects
from receiver.dialects.base import NormalizeContext, RawCallback, SigningPolicy, Unidentifiable, Verdict
from receiver.dialects.tencent_mps import DIALECT, sign
from receiver.model import Event, Origin, Outcome, OutputKind, Provider, Status, TaskKind

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "tencent-mps"
RECEIVED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
KEY = "TestNotifyKey123"
F = TypeVar("F", bound=Callable[..., None])


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def normalize(name: str, **ctx: Any) -> Event:
    """The one event a fixture normalizes to (query answers with origin=poll and api=DescribeTaskDetail)."""
    document = DIALECT.decode((ROOT / name).read_bytes())
    query = name.startswith("query/")
    context = NormalizeContext(
        source="mps",
        origin=ctx.pop("origin", Origin.POLL if query else Origin.CALLBACK),
        received_at=RECEIVED,
        api="DescribeTaskDetail" if query else None,
        **ctx,
    )
    events = DIALECT.normalize(document, context)
    assert len(events) == 1
    event = events[0]
    assert event.provider is Provider.TENCENT_MPS
    assert event.dialect == "tencent-mps"
    assert event.source == "mps"
    return event


def output(event: Event, key: str) -> Any:
    found = [o for o in event.outputs if o.key == key]
    assert len(found) == 1, [o.key for o in event.outputs]
    return found[0]


def storage(out: Any) -> tuple[str | None, str | None, str | None, str | None]:
    assert out.storage is not None
    return out.storage.type, out.storage.bucket, out.storage.region, out.storage.path


# every fixture has an expectation ---------------------------------------------------------------------------

TESTED: set[str] = set()


def covers(*names: str) -> Callable[[F], F]:
    """Mark a test as asserting the named fixtures field by field."""
    TESTED.update(names)

    def mark(test: F) -> F:
        return test

    return mark


@covers("WorkflowTask.json")
def test_workflow_doc_example_is_partial_with_the_failed_animation() -> None:
    event = normalize("WorkflowTask.json")
    assert event.event_type == "WorkflowTask"
    assert event.origin is Origin.CALLBACK
    assert event.task_id == "1256768367-WorkflowTask-5f4a0b6e4b1a4c0f9b2b8e4d2a6c1f03t0"
    assert event.task_kind is TaskKind.WORKFLOW
    assert event.media_id == "cos://TopRankVideo-125xxx88/movie/201907/WildAnimal.mov"
    assert event.status is Status.FINISHED
    assert event.provider_status == "FINISH"
    assert event.outcome is Outcome.PARTIAL
    assert event.error is not None
    assert (event.error.code, event.error.message) == ("30010", "TencentVodPlatErr Or Unkown")
    assert event.created_at is None
    assert event.updated_at is None
    assert event.started_at == t("2019-07-16T06:21:28Z")  # earliest sub-task BeginProcessTime
    assert event.finished_at == t("2019-07-16T06:21:46Z")  # latest finished sub-task FinishTime
    assert event.session is None
    assert event.warnings == []
    assert [o.key for o in event.outputs] == [
        "Transcode:10",
        "AnimatedGraphics:20000",
        "SnapshotByTimeOffset:10",
        "SampleSnapshot:10",
        "ImageSprites:10",
    ]
    transcode = output(event, "Transcode:10")
    assert transcode.kind is OutputKind.VIDEO
    assert transcode.definition == "10"
    assert storage(transcode) == (
        "cos",
        "TopRankVideo-125xxx88",
        "ap-chongqing",
        "/movie/201907/WildAnimal_transcode_10.mp4",
    )
    assert transcode.url is None  # MPS gives a path, and no rule to form a URL from it
    assert transcode.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert transcode.size_bytes == 4241344
    assert transcode.bitrate_bps == 563968
    assert (transcode.width, transcode.height) == (568, 320)
    assert transcode.duration_s == 60.0
    assert transcode.fps == 24.0
    assert transcode.md5 == "0a7e5b3a5c9e0b6b7f8a8b3c1d2e4f60"
    assert transcode.status is Status.FINISHED
    assert transcode.outcome is Outcome.SUCCESS
    assert transcode.error is None
    assert transcode.streams is not None
    video, audio = transcode.streams
    assert (video.type, video.codec, video.bitrate_bps, video.width, video.height, video.fps) == (
        "video",
        "h264",
        462656,
        568,
        320,
        24.0,
    )
    assert (audio.type, audio.codec, audio.bitrate_bps, audio.sample_rate_hz) == ("audio", "aac", 101312, 44100)
    animation = output(event, "AnimatedGraphics:20000")
    assert animation.kind is OutputKind.ANIMATION
    assert animation.storage is None
    assert (animation.status, animation.outcome) == (Status.FINISHED, Outcome.FAILED)
    assert animation.error is not None
    assert (animation.error.code, animation.error.message) == ("30010", "TencentVodPlatErr Or Unkown")
    snapshots = output(event, "SnapshotByTimeOffset:10")
    assert snapshots.kind is OutputKind.IMAGES
    assert storage(snapshots) == (
        "cos",
        "TopRankVideo-125xxx88",
        "ap-chongqing",
        "/movie/201907/WildAnimal_snapshotByTimeOffset_10_0.jpg",
    )
    assert snapshots.storage is not None
    assert snapshots.storage.paths == [
        "/movie/201907/WildAnimal_snapshotByTimeOffset_10_0.jpg",
        "/movie/201907/WildAnimal_snapshotByTimeOffset_10_1.jpg",
    ]
    samples = output(event, "SampleSnapshot:10")
    assert samples.storage is not None
    assert samples.storage.paths is not None and len(samples.storage.paths) == 3
    sprite = output(event, "ImageSprites:10")
    assert sprite.kind is OutputKind.SPRITE
    assert storage(sprite)[3] == "/movie/201907/WildAnimal_imageSprite_10.vtt"
    assert sprite.storage is not None
    assert sprite.storage.paths == ["/movie/201907/WildAnimal_imageSprite_10_0.jpg"]
    assert (sprite.width, sprite.height) == (142, 80)
    assert event.extra == {
        "MetaData": json.loads((ROOT / "WorkflowTask.json").read_text())["WorkflowTaskEvent"]["MetaData"]
    }


@covers("query/DescribeTaskDetail__workflow_partial.json")
def test_query_answer_for_the_same_task_has_the_same_keys_and_transition() -> None:
    callback = normalize("WorkflowTask.json")
    query = normalize("query/DescribeTaskDetail__workflow_partial.json")
    assert query.origin is Origin.POLL
    assert query.event_type == callback.event_type == "WorkflowTask"
    assert query.task_id == callback.task_id
    assert query.transition_key == callback.transition_key
    assert [o.key for o in query.outputs] == [o.key for o in callback.outputs]
    assert query.outputs == callback.outputs
    assert query.created_at == t("2019-07-16T06:21:27Z")
    assert query.started_at == t("2019-07-16T06:21:28Z")
    assert query.finished_at == t("2019-07-16T06:21:47Z")  # the answer's FinishTime beats derived times
    assert query.outcome is Outcome.PARTIAL
    assert query.warnings == []
    # TaskNotifyConfig (with its NotifyKey) is never copied into the event.
    assert "NotifyKey" not in json.dumps(query.model_dump(mode="json"))


@covers("WorkflowTask__processing.json")
def test_processing_callback_is_not_terminal() -> None:
    event = normalize("WorkflowTask__processing.json")
    assert event.status is Status.PROCESSING
    assert event.provider_status == "PROCESSING"
    assert event.outcome is None
    assert event.error is None
    assert event.finished_at is None  # a zero FinishTime, and no terminal status anyway
    assert event.started_at == t("2019-07-16T06:21:28Z")
    assert event.session is not None
    assert (event.session.id, event.session.context) == (None, '{"order":"A-1001"}')
    assert [(o.key, o.status, o.outcome, o.storage) for o in event.outputs] == [
        ("Transcode:10", Status.PROCESSING, None, None),
        ("AnimatedGraphics:20000", Status.PROCESSING, None, None),
    ]
    assert event.warnings == []


@covers("WorkflowTask__real_finish.json", "WorkflowTask__cmq_message.json")
def test_real_body_with_unknown_keys_and_its_cmq_delivery() -> None:
    event = normalize("WorkflowTask__real_finish.json")
    assert event.task_id == "2600010949-WorkflowTask-764a7f3ca6f6eb13cda2048cfb034025tt7"
    assert event.media_id == "cos://mps-input-2600010949/upload/2023/lesson-07.mp4"
    assert (event.status, event.outcome, event.error) == (Status.FINISHED, Outcome.SUCCESS, None)
    assert event.provider_status == "FINISH"
    assert event.session is None
    assert event.started_at is None and event.finished_at is None  # transcode results carry no times
    assert event.warnings == []
    out = output(event, "Transcode:100030")
    assert storage(out) == ("cos", "mps-output-2600010949", "ap-guangzhou", "/transcode/lesson-07_100030.mp4")
    assert (out.bitrate_bps, out.size_bytes, out.duration_s, out.fps) == (1129472, 35238400, 249.6, 30.0)
    assert out.storage is not None and out.storage.paths is None
    assert set(event.extra) == {"MetaData"}
    assert event.extra["MetaData"]["VideoStreamSet"][0]["Duration"] == 249.6  # unknown keys kept verbatim

    queued = normalize("WorkflowTask__cmq_message.json")
    assert queued.task_id == "2600010949-WorkflowTask-c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0tt7"
    assert (queued.status, queued.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    assert queued.outputs == event.outputs


@covers("WorkflowTask__signed.json")
def test_signed_body_normalizes_without_its_signature() -> None:
    event = normalize("WorkflowTask__signed.json")
    assert event.session is not None
    assert (event.session.id, event.session.context) == ("vodhook-8d1f", "lesson-07")
    assert "Sign" not in event.extra and "Timestamp" not in event.extra
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)


@covers("WorkflowTask__quirks.json")
def test_quirks_degrade_one_field_and_drop_credentials() -> None:
    event = normalize("WorkflowTask__quirks.json")
    assert event.task_id == "1300000001-WorkflowTask-aa11bb22cc33dd44ee55ff6677889900tt2"
    assert event.media_id == "s3://mps-us-in/raw/clip.mov"
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)  # ErrCode "0" read as 0
    assert event.warnings == [
        "$.WorkflowTaskEvent.MediaProcessResultSet[0].TranscodeTask.Output.Height: input should be a valid "
        "integer, unable to parse string as an integer (got 'not-a-number')"
    ]
    transcode = output(event, "Transcode:100040")  # Definition sent as a string
    assert storage(transcode) == ("s3", "mps-us-out", "us-east-1", "/out/clip_100040.mp4")
    assert transcode.height is None  # the one malformed value
    assert (transcode.width, transcode.bitrate_bps, transcode.size_bytes) == (1920, 2048000, 10485760)
    assert transcode.duration_s == 42.5
    assert transcode.md5 is None  # "" is no checksum
    assert transcode.fps == 29.97  # FpsNumerator / FpsDenominator = 30000 / 1001
    assert transcode.streams is not None
    assert transcode.streams[1].sample_rate_hz == 48000
    sprite = output(event, "ImageSprites:10")  # the singular "ImageSprite" spelling shares the key
    assert storage(sprite) == ("s3", "mps-us-out", "us-east-1", "/out/sprite.vtt")
    assert sprite.storage is not None
    assert sprite.storage.paths == ["/out/sprite_0.jpg", "/out/sprite_1.jpg"]
    assert event.started_at == t("2024-03-21T10:13:06Z")
    assert event.finished_at is None  # the only FinishTime is "0000-00-00T00:00:00Z"
    dumped = json.dumps(event.model_dump(mode="json"))
    assert "exampleSecretKeyNeverLog" not in dumped and "AKIDEXAMPLEONLY" not in dumped


@covers("WorkflowTask__source_error.json", "WorkflowTask__parse_notification_response.json")
def test_source_failure_fails_the_task() -> None:
    for name in ("WorkflowTask__source_error.json", "WorkflowTask__parse_notification_response.json"):
        event = normalize(name)
        assert event.task_id == "1256768367-WorkflowTask-0f9e8d7c6b5a49382716054f3e2d1c0bt0"
        assert event.media_id == "https://example.com/gone.mp4"
        assert (event.status, event.outcome) == (Status.FINISHED, Outcome.FAILED)
        assert event.error is not None
        assert (event.error.code, event.error.message) == ("70000", "source file err")
        assert event.outputs == []
        assert event.warnings == []


@covers("WorkflowTask__disagree.json")
def test_task_word_and_results_disagree_outcome_from_results_with_warning() -> None:
    event = normalize("WorkflowTask__disagree.json")
    assert event.provider_status == "FINISH"
    assert event.outcome is Outcome.SUCCESS
    assert event.error is None
    assert len(event.warnings) == 1
    assert "task says failed (ErrCode 70000) but its sub-tasks say success" in event.warnings[0]
    assert event.warnings[0].startswith("$.WorkflowTaskEvent.Status:")


@covers("WorkflowTask__ai.json")
def test_ai_results_are_kept_verbatim_and_count_towards_the_outcome() -> None:
    event = normalize("WorkflowTask__ai.json")
    raw = json.loads((ROOT / "WorkflowTask__ai.json").read_text())["WorkflowTaskEvent"]
    assert event.outputs == []
    assert event.outcome is Outcome.PARTIAL  # one content-review sub-task failed, four succeeded
    assert event.error is not None
    assert (event.error.code, event.error.message) == ("InternalError", "internal error")
    assert event.session is not None
    assert (event.session.id, event.session.context) == ("sess-42", "talk")
    assert event.extra == {
        "AiContentReviewResultSet": raw["AiContentReviewResultSet"],
        "AiAnalysisResultSet": raw["AiAnalysisResultSet"],
        "AiRecognitionResultSet": raw["AiRecognitionResultSet"],
        "AiQualityControlTaskResult": raw["AiQualityControlTaskResult"],
    }
    assert event.warnings == []


@covers("WorkflowTask__adaptive_and_repeats.json")
def test_streaming_cover_and_repeated_templates() -> None:
    event = normalize("WorkflowTask__adaptive_and_repeats.json")
    assert event.media_id == "5285890781763144364"  # VOD input: its FileId
    assert [o.key for o in event.outputs] == [
        "AdaptiveDynamicStreaming:10",
        "Transcode:100010",
        "Transcode:100010#1",
        "Transcode:100000",
    ]
    ads = output(event, "AdaptiveDynamicStreaming:10")
    assert ads.kind is OutputKind.STREAMING
    assert ads.container == "HLS"
    assert storage(ads) == ("vod", "a00ehq6ocdmo0exn", "ap-chongqing", "/vod/out/adp_10.m3u8")
    failed = output(event, "Transcode:100010#1")
    assert (failed.outcome, failed.storage) == (Outcome.FAILED, None)
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("InvalidInput.InvalidTimeOffset", "invalid time offset")
    audio = output(event, "Transcode:100000")
    assert audio.kind is OutputKind.AUDIO
    assert (audio.width, audio.height) == (None, None)  # MPS's 0 means "none"
    assert event.outcome is Outcome.PARTIAL
    assert event.error is not None and event.error.code == "InvalidInput.InvalidTimeOffset"
    assert event.started_at == t("2024-05-01T08:00:01Z")
    assert event.finished_at == t("2024-05-01T08:02:11Z")
    assert event.warnings == []  # CoverBySnapshot has no result key of its own: nothing to report


@covers("WorkflowTask__malformed_nested.json")
def test_malformed_nested_values_cost_one_field_each() -> None:
    event = normalize("WorkflowTask__malformed_nested.json")
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    assert event.media_id is None  # CosInputInfo.Object was a list
    assert sorted(w.split(":")[0] for w in event.warnings) == [
        "$.WorkflowTaskEvent.InputInfo.CosInputInfo.Object",
        "$.WorkflowTaskEvent.MediaProcessResultSet[0].TranscodeTask.Output.OutputStorage",
        "$.WorkflowTaskEvent.MediaProcessResultSet[1]",
        "$.WorkflowTaskEvent.MetaData",
    ]
    out = output(event, "Transcode:100030")
    assert storage(out) == ("cos", "mps-output-2600010949", "ap-guangzhou", "/transcode/lesson-07_100030.mp4")
    assert event.extra == {"MetaData": "not metadata"}  # kept verbatim, as sent


@covers("EditMediaTask.json", "query/DescribeTaskDetail__edit_media.json")
def test_edit_media_output_from_task_level_state() -> None:
    event = normalize("EditMediaTask.json")
    assert event.task_kind is TaskKind.EDIT
    assert event.task_id == "2600010949-EditMediaTask-28e1f3c4a5b6978877665544332211aatt6"
    assert event.media_id == "cos://TopRankVideo-125xxx88/clips/a.mp4"  # the first of two inputs
    assert (event.status, event.outcome, event.error) == (Status.FINISHED, Outcome.SUCCESS, None)
    assert event.session is not None
    assert (event.session.id, event.session.context) == ("edit-0001", '{"project":7}')
    out = output(event, "EditMedia")
    assert out.kind is OutputKind.VIDEO
    assert storage(out) == ("cos", "TopRankVideo-125xxx88", "ap-chongqing", "/clips/joined.mp4")
    assert (out.status, out.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    assert (out.container, out.size_bytes, out.bitrate_bps, out.duration_s, out.fps) == (
        "mov,mp4,m4a,3gp,3g2,mj2",
        4194304,
        1600000,
        20.0,
        25.0,
    )
    assert out.streams is not None and [s.type for s in out.streams] == ["video", "audio"]
    query = normalize("query/DescribeTaskDetail__edit_media.json")
    assert query.outputs == event.outputs
    assert query.transition_key == event.transition_key
    assert (query.created_at, query.started_at, query.finished_at) == (
        t("2024-02-01T10:00:00Z"),
        t("2024-02-01T10:00:01Z"),
        t("2024-02-01T10:00:31Z"),
    )


@covers("EditMediaTask__failed.json")
def test_edit_media_failure() -> None:
    event = normalize("EditMediaTask__failed.json")
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.FAILED)
    assert event.error is not None
    assert (event.error.code, event.error.message) == ("60000", "source file error")
    assert event.outputs == []
    assert event.session is None


@covers("ScheduleTask.json")
def test_schedule_activities() -> None:
    event = normalize("ScheduleTask.json")
    raw = json.loads((ROOT / "ScheduleTask.json").read_text())["ScheduleTaskEvent"]
    assert event.task_kind is TaskKind.SCHEDULE
    assert event.media_id == "cos://TopRankVideo-125xxx88/sched/show.mp4"
    assert (event.status, event.outcome, event.error) == (Status.FINISHED, Outcome.SUCCESS, None)
    assert [o.key for o in event.outputs] == ["Transcode:100030", "SnapshotByTimeOffset:10"]
    snapshot = output(event, "SnapshotByTimeOffset:10")
    assert storage(snapshot) == ("cos", "TopRankVideo-125xxx88", "ap-chongqing", "/sched/show_snap_10_0.jpg")
    assert snapshot.storage is not None and snapshot.storage.paths is None  # one picture: path says it all
    assert event.started_at == t("2024-06-01T01:00:02Z")
    assert event.finished_at == t("2024-06-01T01:00:09Z")  # the review activity finished last
    assert event.extra == {"MetaData": raw["MetaData"], "ActivityResultSet": [raw["ActivityResultSet"][2]]}
    assert event.session is not None and event.session.context == "show-88"


@covers("ScheduleTask__source_error.json", "query/DescribeTaskDetail__schedule_source_error.json")
def test_schedule_source_error_with_task_level_fail_word() -> None:
    event = normalize("ScheduleTask__source_error.json")
    assert event.provider_status == "FAIL"
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.FAILED)
    assert event.error is not None
    assert (event.error.code, event.error.message) == ("70000", "source file err")
    assert event.media_id is None
    assert event.warnings == []
    query = normalize("query/DescribeTaskDetail__schedule_source_error.json")
    assert query.provider_status == "FINISH"
    assert query.transition_key == event.transition_key  # different words, same transition


@covers("BatchTask.json")
def test_batch_task_without_id_or_status() -> None:
    event = normalize("BatchTask.json")
    assert event.task_kind is TaskKind.BATCH
    assert event.task_id is None
    assert event.media_id == "https://media.example.com/ep1.mp4"
    assert event.task_key == "media:https://media.example.com/ep1.mp4"
    assert event.provider_status is None
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)  # from both subtitle outputs
    assert event.warnings == []
    assert set(event.extra) == {"InputInfos", "Metadatas", "SmartSubtitlesTaskResult"}
    assert event.session is not None and event.session.id == "batch-2024-06"


@covers("ExtractBlindWatermark.json")
def test_blind_watermark_extraction() -> None:
    event = normalize("ExtractBlindWatermark.json")
    assert event.task_kind is TaskKind.WATERMARK
    assert event.task_id == "125xxx65-ExtractBlindWatermark-bffb15f07530b57bc1aabb01fac74bcatt0"
    assert event.media_id == "cos://TopRankVideo-125xxx88/wm/leaked.mp4"
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    assert event.extra == {
        "Type": "blind-basic",
        "IsDetected": True,
        "Result": "vodhook-user-17",
        "ExtractBlindWatermarkConfig": {"SegmentDuration": 10},
    }


@covers("GetMediaAttributesTask.json")
def test_unknown_event_type_is_a_generic_event() -> None:
    event = normalize("GetMediaAttributesTask.json")
    assert event.event_type == "GetMediaAttributesTask"
    assert event.task_kind is TaskKind.OTHER
    assert event.task_id == "2600010949-GetMediaAttributesTask-0123456789abcdef0123456789abcdeftt1"
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    raw = json.loads((ROOT / "GetMediaAttributesTask.json").read_text())
    assert event.extra == {"GetMediaAttributesTaskEvent": raw["GetMediaAttributesTaskEvent"]}


@covers("NoEventType__unidentifiable.json", "query/DescribeTaskDetail__error_not_found.json")
def test_unidentifiable_documents() -> None:
    with pytest.raises(Unidentifiable, match="neither EventType nor any task object"):
        normalize("NoEventType__unidentifiable.json")
    with pytest.raises(Unidentifiable, match="ResourceNotFound"):
        normalize("query/DescribeTaskDetail__error_not_found.json")


@covers("ProcessEof.json", "LiveRecordResult.json", "AiRecognitionResult.json")
def test_live_stream_notifications() -> None:
    live_id = "2600010949-procedure-live-48a2680775c4d73651ca894aaa91052ctt7"
    end = normalize("ProcessEof.json")
    assert (end.event_type, end.task_id, end.task_kind) == ("ProcessEof", live_id, TaskKind.OTHER)
    assert (end.status, end.outcome) == (Status.FINISHED, Outcome.FAILED)
    assert end.error is not None
    assert (end.error.code, end.error.message) == ("10001", "open url failed")
    assert end.session is not None and end.session.context == "live-room-9"
    record = normalize("LiveRecordResult.json")
    assert (record.status, record.outcome) == (Status.PROCESSING, None)
    url = "https://record-1250000000.cos.ap-guangzhou.myqcloud.com/live/room9/0001.m3u8"
    recorded = output(record, f"LiveRecord:{url}")
    assert (recorded.url, recorded.size_bytes, recorded.duration_s) == (url, 1024, 10.0)
    assert record.extra == {"RecordOver": 0}
    recognition = normalize("AiRecognitionResult.json")
    assert (recognition.status, recognition.outcome) == (Status.PROCESSING, None)
    assert set(recognition.extra) == {"AiRecognitionResultInfo"}


@covers("query/DescribeTaskDetail.json", "query/DescribeTaskDetail__unwrapped.json")
def test_seed_002_wrapped_and_unwrapped() -> None:
    for name in ("query/DescribeTaskDetail.json", "query/DescribeTaskDetail__unwrapped.json"):
        event = normalize(name)
        assert event.origin is Origin.POLL
        assert event.event_type == "WorkflowTask"
        assert event.task_id == "235303****-WorkflowTask-80108cc3380155d98b2e3573a48a******"
        assert event.media_id == "cos://vodtestbj-235303****/input/videoplayback.mp4"
        assert (event.status, event.outcome, event.provider_status) == (Status.FINISHED, Outcome.SUCCESS, "FINISH")
        assert (event.created_at, event.started_at, event.finished_at) == (
            t("2019-07-16T06:21:27Z"),
            t("2019-07-16T06:21:28Z"),
            t("2019-07-16T06:21:46Z"),
        )
        out = output(event, "Transcode:210")
        assert storage(out) == (
            "cos",
            "vodtestgz-235303****",
            "ap-guangzhou",
            "/hello/world/what/ever/videoplayback_transcode111_210.m3u8",
        )
        assert (out.container, out.bitrate_bps, out.size_bytes, out.width, out.height) == (
            "hls,applehttp",
            353297,
            5692,
            320,
            240,
        )
        assert out.md5 == "ae0dfe7c7336291d6243463b7bb14fea"
        assert event.warnings == []


@covers("query/DescribeTaskDetail__processing.json", "query/DescribeTaskDetail__waiting.json")
def test_query_processing_and_waiting() -> None:
    processing = normalize("query/DescribeTaskDetail__processing.json")
    assert (processing.status, processing.outcome, processing.finished_at) == (Status.PROCESSING, None, None)
    assert processing.started_at == t("2019-07-16T06:21:28Z")
    assert [(o.key, o.status, o.storage) for o in processing.outputs] == [("Transcode:210", Status.PROCESSING, None)]
    waiting = normalize("query/DescribeTaskDetail__waiting.json")
    assert (waiting.status, waiting.provider_status, waiting.outcome) == (Status.WAITING, "WAITING", None)
    assert (waiting.started_at, waiting.finished_at) == (None, None)  # zero times are null
    assert waiting.outputs == []


def test_every_fixture_has_field_by_field_expectations() -> None:
    present = {str(path.relative_to(ROOT)) for path in ROOT.rglob("*.json") if not path.name.endswith(".headers.json")}
    assert present == TESTED


# more normalization rules -----------------------------------------------------------------------------------


def _context(**kwargs: Any) -> NormalizeContext:
    return NormalizeContext(source="mps", origin=Origin.CALLBACK, received_at=RECEIVED, **kwargs)


def _real() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "WorkflowTask__real_finish.json").read_text())
    return document


def test_task_id_hint_fills_a_query_answer_without_task_id() -> None:
    answer = json.loads((ROOT / "query/DescribeTaskDetail.json").read_text())
    del answer["Response"]["WorkflowTask"]["TaskId"]
    [event] = DIALECT.normalize(answer, _context(api="DescribeTaskDetail", task_id_hint="hinted-task"))
    assert event.task_id == "hinted-task"


def test_finished_task_with_unfinished_sub_task_warns() -> None:
    document = _real()
    document["WorkflowTaskEvent"]["MediaProcessResultSet"][0]["TranscodeTask"]["Status"] = "PROCESSING"
    [event] = DIALECT.normalize(document, _context())
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    assert any("finished task with unfinished sub-tasks ['Transcode']" in w for w in event.warnings)


def test_unknown_task_status_is_derived_from_sub_tasks_with_a_warning() -> None:
    document = _real()
    document["WorkflowTaskEvent"]["Status"] = "DONE?"
    [event] = DIALECT.normalize(document, _context())
    assert event.provider_status == "DONE?"
    assert (event.status, event.outcome) == (Status.FINISHED, Outcome.SUCCESS)
    assert any("unknown task status" in w for w in event.warnings)


def test_all_sub_tasks_failed_is_failed() -> None:
    document = _real()
    sub = document["WorkflowTaskEvent"]["MediaProcessResultSet"][0]["TranscodeTask"]
    sub.update({"Status": "FAIL", "ErrCodeExt": "SourceFileError", "ErrCode": 60000, "Message": "bad", "Output": None})
    [event] = DIALECT.normalize(document, _context())
    assert event.outcome is Outcome.FAILED
    assert event.error is not None
    assert (event.error.code, event.error.message) == ("SourceFileError", "bad")


def test_same_content_same_event_id_across_receipts() -> None:
    document = _real()
    [first] = DIALECT.normalize(document, _context())
    [again] = DIALECT.normalize(document, NormalizeContext("other", Origin.REPLAY, datetime(2030, 1, 1, tzinfo=UTC)))
    assert first.event_id == again.event_id
    signed = dict(document, Timestamp=1700000600, Sign=sign(KEY, 1700000600))
    [with_signature] = DIALECT.normalize(signed, _context())
    assert with_signature.event_id == first.event_id  # the signature is receipt data, not content


def test_percent_encoded_body_is_decoded() -> None:
    body = (ROOT / "WorkflowTask__real_finish.json").read_bytes()
    encoded = quote(body.decode()).encode()
    assert encoded.startswith(b"%7B")
    document = DIALECT.decode(encoded)
    assert DIALECT.detect(document, {})
    [event] = DIALECT.normalize(document, _context())
    assert event.task_id == "2600010949-WorkflowTask-764a7f3ca6f6eb13cda2048cfb034025tt7"
    with pytest.raises(Unidentifiable):
        DIALECT.decode(b"%7Bnot json")


def test_non_object_documents_are_unidentifiable() -> None:
    for document in ([1, 2], "text", None, {"msgBody": "not json"}):
        with pytest.raises(Unidentifiable):
            DIALECT.normalize(document, _context())


# detection ------------------------------------------------------------------------------------------------


def test_detect_claims_mps_shapes_only() -> None:
    assert DIALECT.detect({"EventType": "WorkflowTask"}, {})
    assert DIALECT.detect({"EventType": "SomethingNew", "SomethingNewTaskEvent": None}, {})
    assert DIALECT.detect({"EventType": "ExtractBlindWatermark", "ExtractBlindWatermarkTask": {}}, {})
    assert DIALECT.detect({"NotificationType": "ProcessEof", "TaskId": "x"}, {})
    assert DIALECT.detect({"msgBody": json.dumps({"EventType": "ScheduleTask"})}, {})
    # VOD 3.0, Alibaba and legacy VOD shapes, and query answers, are not MPS callbacks.
    assert not DIALECT.detect({"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {}}, {})
    assert not DIALECT.detect({"EventType": "ExtractBlindWatermarkComplete"}, {})
    assert not DIALECT.detect({"EventType": "TranscodeComplete", "VideoId": "v", "Status": "success"}, {})
    assert not DIALECT.detect({"version": "4.0", "eventType": "TranscodeComplete", "data": {}}, {})
    assert not DIALECT.detect(json.loads((ROOT / "query/DescribeTaskDetail.json").read_text()), {})
    assert not DIALECT.detect([{"EventType": "WorkflowTask"}], {})


def test_no_other_dialect_claims_an_mps_fixture_and_mps_claims_no_other() -> None:
    fixtures = ROOT.parent
    for path in sorted(fixtures.rglob("*.json")):
        relative = path.relative_to(fixtures)
        if "query" in relative.parts or path.name.endswith(".headers.json"):
            continue
        claims = []
        for name, dialect in dialects.registry().items():
            try:
                document = dialect.decode(path.read_bytes())
            except Unidentifiable:
                continue
            if dialect.detect(document, {}):
                claims.append(name)
        if relative.parts[0] == "tencent-mps":
            assert claims == ["tencent-mps"], (relative, claims)
        else:
            assert "tencent-mps" not in claims, (relative, claims)


# verification ---------------------------------------------------------------------------------------------


def _raw(document: dict[str, Any] | bytes) -> RawCallback:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return RawCallback(source="mps", body=body, headers={"content-type": "application/json"}, received_at=RECEIVED)


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def test_sign_matches_the_reference_vector() -> None:
    assert sign(KEY, 1700000600) == "98b85626e501656f336a3a7907b3b9aa"
    assert sign(KEY, "1700000600") == "98b85626e501656f336a3a7907b3b9aa"
    assert sign(KEY, 1700000600) == hashlib.md5(b"1700000600" + KEY.encode()).hexdigest()


def test_signed_fixture_accepted_with_the_right_key_before_expiry() -> None:
    raw = RawCallback("mps", (ROOT / "WorkflowTask__signed.json").read_bytes(), {}, RECEIVED)
    result = DIALECT.verify(raw, SigningPolicy(keys=(KEY,)), _at(1700000000))
    assert result.verdict is Verdict.VERIFIED and result.accepted


def test_no_key_configured_accepts_unsigned() -> None:
    raw = RawCallback("mps", (ROOT / "WorkflowTask__real_finish.json").read_bytes(), {}, RECEIVED)
    result = DIALECT.verify(raw, SigningPolicy(), _at(1700000000))
    assert result.verdict is Verdict.UNSIGNED and result.accepted


def test_wrong_key_is_refused() -> None:
    raw = RawCallback("mps", (ROOT / "WorkflowTask__signed.json").read_bytes(), {}, RECEIVED)
    result = DIALECT.verify(raw, SigningPolicy(keys=("AnotherKey",)), _at(1700000000))
    assert result.verdict is Verdict.REFUSED and not result.accepted
    assert result.reason is not None and result.reason.startswith("bad signature")
    assert "AnotherKey" not in result.reason


def test_expired_timestamp_is_refused_after_the_tolerance() -> None:
    raw = RawCallback("mps", (ROOT / "WorkflowTask__signed.json").read_bytes(), {}, RECEIVED)
    policy = SigningPolicy(keys=(KEY,), tolerance_s=300)
    assert DIALECT.verify(raw, policy, _at(1700000600 + 300)).verdict is Verdict.VERIFIED
    late = DIALECT.verify(raw, policy, _at(1700000600 + 301))
    assert late.verdict is Verdict.REFUSED
    assert late.reason is not None and late.reason.startswith("expired")


def test_rotated_keys_either_one_verifies() -> None:
    document = _real()
    old = dict(document, Timestamp=1700000600, Sign=sign("old-key", 1700000600))
    new = dict(document, Timestamp=1700000600, Sign=sign("new-key", 1700000600))
    policy = SigningPolicy(keys=("new-key", "old-key"))
    assert DIALECT.verify(_raw(old), policy, _at(1700000000)).verdict is Verdict.VERIFIED
    assert DIALECT.verify(_raw(new), policy, _at(1700000000)).verdict is Verdict.VERIFIED
    assert DIALECT.verify(_raw(old), SigningPolicy(keys=("new-key",)), _at(1700000000)).verdict is Verdict.REFUSED


def test_same_signature_on_two_different_bodies_both_verified_and_both_normalized() -> None:
    timestamp, signature = 1700000600, sign(KEY, 1700000600)
    first = dict(_real(), Timestamp=timestamp, Sign=signature)
    second = json.loads((ROOT / "EditMediaTask.json").read_text()) | {"Timestamp": timestamp, "Sign": signature}
    policy = SigningPolicy(keys=(KEY,))
    for document in (first, second, first):  # a repeat is no reason to refuse either
        assert DIALECT.verify(_raw(document), policy, _at(1700000000)).verdict is Verdict.VERIFIED
    [a] = DIALECT.normalize(first, _context())
    [b] = DIALECT.normalize(second, _context())
    assert a.event_id != b.event_id


def test_missing_or_malformed_signature_fields_are_refused() -> None:
    policy = SigningPolicy(keys=(KEY,))
    now = _at(1700000000)
    cases = {
        "missing Sign": dict(_real(), Timestamp=1700000600),
        "missing or malformed Timestamp": dict(_real(), Sign=sign(KEY, 1700000600)),
    }
    for reason, document in cases.items():
        result = DIALECT.verify(_raw(document), policy, now)
        assert result.verdict is Verdict.REFUSED and result.reason == reason
    unicode_sign = dict(_real(), Timestamp=1700000600, Sign="\u202e\U0001f600")
    assert DIALECT.verify(_raw(unicode_sign), policy, now).reason == (
        "bad signature: Sign matches none of the configured keys"
    )
    for timestamp in ("soon", -1700000600, "9" * 5000, 1.5):
        bad_time = dict(_real(), Timestamp=timestamp, Sign=sign(KEY, str(timestamp)))
        assert DIALECT.verify(_raw(bad_time), policy, now).reason == "missing or malformed Timestamp"
    huge = DIALECT.verify(_raw(b'{"Sign": "x", "Timestamp": ' + b"9" * 5000 + b"}"), policy, now)
    assert huge.verdict is Verdict.REFUSED  # an integer json.loads itself refuses to convert
    not_json = DIALECT.verify(_raw(b"<xml/>"), policy, now)
    assert not_json.verdict is Verdict.REFUSED and not_json.reason is not None
    assert not_json.reason.startswith("missing Sign")


def test_string_timestamp_and_uppercase_sign_are_accepted() -> None:
    document = dict(_real(), Timestamp="1700000600", Sign=sign(KEY, 1700000600).upper())
    assert DIALECT.verify(_raw(document), SigningPolicy(keys=(KEY,)), _at(1700000000)).verdict is Verdict.VERIFIED


def test_signature_inside_a_cmq_message_is_checked() -> None:
    inner = dict(_real(), Timestamp=1700000600, Sign=sign(KEY, 1700000600))
    wrapped = {"msgId": "1", "msgBody": json.dumps(inner)}
    assert DIALECT.verify(_raw(wrapped), SigningPolicy(keys=(KEY,)), _at(1700000000)).verdict is Verdict.VERIFIED


# leniency under mutation ----------------------------------------------------------------------------------

_FIXTURE_DOCUMENTS = [
    json.loads(path.read_text()) for path in sorted(ROOT.rglob("*.json")) if not path.name.endswith(".headers.json")
]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.just("0000-00-00T00:00:00Z"),
    st.just("\u202e\U0001f600"),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _mutate(document: Any, path: tuple[Any, ...], action: str, replacement: Any) -> Any:
    copy = json.loads(json.dumps(document))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "drop":
        del parent[last]
    elif action == "stringify":
        parent[last] = json.dumps(parent[last])
    elif action == "listify":
        parent[last] = [parent[last]]
    else:
        parent[last] = replacement
    return copy


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_fixtures_normalize_or_are_unidentifiable(data: st.DataObject) -> None:
    document = data.draw(st.sampled_from(_FIXTURE_DOCUMENTS))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(document)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["drop", "stringify", "listify", "replace"]))
        document = _mutate(document, path, action, data.draw(_scalars))
    origin = data.draw(st.sampled_from([Origin.CALLBACK, Origin.POLL]))
    api = "DescribeTaskDetail" if origin is Origin.POLL else None
    try:
        events = DIALECT.normalize(document, NormalizeContext("mps", origin, RECEIVED, api=api))
    except Unidentifiable:
        return
    assert len(events) == 1
    json.dumps(events[0].model_dump(mode="json"), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(document=st.sampled_from(_FIXTURE_DOCUMENTS), timestamp=_scalars, signature=_scalars)
def test_any_signature_fields_verify_or_refuse_without_raising(document: Any, timestamp: Any, signature: Any) -> None:
    signed = dict(document, Timestamp=timestamp, Sign=signature)
    DIALECT.detect(signed, {})
    result = DIALECT.verify(_raw(json.dumps(signed).encode()), SigningPolicy(keys=(KEY, "ключ")), RECEIVED)
    assert result.verdict is Verdict.REFUSED and result.reason
