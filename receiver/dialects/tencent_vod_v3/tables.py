"""The VOD 3.0 mapping tables as data: event types, task objects, status words and output kinds.

The package docstring renders the same tables for readers; this module is what the code consults.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiver.model import Outcome, OutputKind, Status, TaskKind

DIALECT_NAME = "tencent-vod-v3"


@dataclass(frozen=True)
class EventSpec:
    """How one EventType is read: its task kind, the keys its object may sit under, and which reader."""

    kind: TaskKind
    #: Keys tried in order: the SDK's name first, then the drifted names seen in docs and real bodies (Q12).
    keys: tuple[str, ...]
    #: The reader in normalize.READERS; several event types share one.
    reader: str


EVENTS: dict[str, EventSpec] = {
    "ProcedureStateChanged": EventSpec(TaskKind.PROCEDURE, ("ProcedureStateChangeEvent",), "procedure"),
    "NewFileUpload": EventSpec(TaskKind.UPLOAD, ("FileUploadEvent",), "upload"),
    "FileDeleted": EventSpec(TaskKind.DELETE, ("FileDeleteEvent",), "delete"),
    "PullComplete": EventSpec(TaskKind.PULL, ("PullCompleteEvent",), "pull"),
    "EditMediaComplete": EventSpec(TaskKind.EDIT, ("EditMediaCompleteEvent", "EditMediaComplete"), "new_file"),
    "SplitMediaComplete": EventSpec(TaskKind.SPLIT, ("SplitMediaCompleteEvent", "SplitMediaComplete"), "split"),
    "ComposeMediaComplete": EventSpec(
        TaskKind.COMPOSE, ("ComposeMediaCompleteEvent", "ComposeMediaComplete"), "new_file"
    ),
    "ClipComplete": EventSpec(TaskKind.CLIP, ("ClipCompleteEvent",), "clip2017"),
    "TranscodeComplete": EventSpec(TaskKind.TRANSCODE, ("TranscodeCompleteEvent",), "transcode2017"),
    "CreateImageSpriteComplete": EventSpec(TaskKind.SPRITE, ("CreateImageSpriteCompleteEvent",), "sprite2017"),
    "ConcatComplete": EventSpec(TaskKind.CONCAT, ("ConcatCompleteEvent",), "concat2017"),
    "CreateSnapshotByTimeOffsetComplete": EventSpec(
        TaskKind.SNAPSHOT, ("SnapshotByTimeOffsetCompleteEvent",), "snapshot2017"
    ),
    "SnapshotByTimeOffsetComplete": EventSpec(
        TaskKind.SNAPSHOT, ("SnapshotByTimeOffsetCompleteEvent",), "snapshot2017"
    ),
    "WechatPublishComplete": EventSpec(
        TaskKind.PUBLISH, ("WechatPublishCompleteEvent", "WechatPublishComplete"), "publish"
    ),
    "WechatMiniProgramPublishComplete": EventSpec(
        TaskKind.PUBLISH,
        ("WechatMiniProgramPublishCompleteEvent", "WechatMiniProgramPublishEvent", "WechatMiniProgramPublishComplete"),
        "publish",
    ),
    "RemoveWatermark": EventSpec(
        TaskKind.WATERMARK, ("RemoveWatermarkCompleteEvent", "RemoveWatermarkEvent"), "new_file"
    ),
    "RestoreMediaComplete": EventSpec(TaskKind.RESTORE, ("RestoreMediaCompleteEvent",), "restore"),
    "RebuildMediaComplete": EventSpec(TaskKind.REBUILD, ("RebuildMediaCompleteEvent",), "new_file"),
    "ReviewAudioVideoComplete": EventSpec(TaskKind.REVIEW, ("ReviewAudioVideoCompleteEvent",), "review"),
    "ExtractTraceWatermarkComplete": EventSpec(TaskKind.WATERMARK, ("ExtractTraceWatermarkCompleteEvent",), "generic"),
    "ExtractCopyRightWatermarkComplete": EventSpec(
        TaskKind.WATERMARK, ("ExtractCopyRightWatermarkCompleteEvent",), "generic"
    ),
    "ExtractBlindWatermarkComplete": EventSpec(
        TaskKind.WATERMARK, ("ExtractBlindWatermarkComplete", "ExtractBlindWatermarkCompleteEvent"), "generic"
    ),
    "ReduceMediaBitrateComplete": EventSpec(TaskKind.TRANSCODE, ("ReduceMediaBitrateCompleteEvent",), "procedure"),
    "DescribeFileAttributesComplete": EventSpec(TaskKind.ANALYSIS, ("DescribeFileAttributesCompleteEvent",), "generic"),
    "QualityInspectComplete": EventSpec(TaskKind.ANALYSIS, ("QualityInspectCompleteEvent",), "generic"),
    "QualityEnhanceComplete": EventSpec(TaskKind.TRANSCODE, ("QualityEnhanceCompleteEvent",), "new_file"),
    "ComplexAdaptiveDynamicStreamingComplete": EventSpec(
        TaskKind.TRANSCODE, ("ComplexAdaptiveDynamicStreamingCompleteEvent",), "generic"
    ),
    "ProcessMediaByMPSComplete": EventSpec(TaskKind.WORKFLOW, ("ProcessMediaByMPSCompleteEvent",), "generic"),
    "PersistenceComplete": EventSpec(TaskKind.OTHER, ("PersistenceCompleteEvent",), "generic"),
    "MediaCastStatusChanged": EventSpec(TaskKind.OTHER, ("MediaCastStatusChangedEvent",), "generic"),
    "AigcImageTaskComplete": EventSpec(TaskKind.OTHER, ("AigcImageCompleteEvent",), "generic"),
    "AigcVideoTaskComplete": EventSpec(TaskKind.OTHER, ("AigcVideoCompleteEvent",), "generic"),
}

#: DescribeTaskDetail's `<Xxx>Task` keys → the EventType whose object has the same shape.
DETAIL_TASK_EVENTS: dict[str, str] = {
    "ProcedureTask": "ProcedureStateChanged",
    "EditMediaTask": "EditMediaComplete",
    "WechatPublishTask": "WechatPublishComplete",
    "ComposeMediaTask": "ComposeMediaComplete",
    "SplitMediaTask": "SplitMediaComplete",
    "WechatMiniProgramPublishTask": "WechatMiniProgramPublishComplete",
    "PullUploadTask": "PullComplete",
    "TranscodeTask": "TranscodeComplete",
    "ConcatTask": "ConcatComplete",
    "ClipTask": "ClipComplete",
    "CreateImageSpriteTask": "CreateImageSpriteComplete",
    "SnapshotByTimeOffsetTask": "CreateSnapshotByTimeOffsetComplete",
    "RemoveWatermarkTask": "RemoveWatermark",
    "RebuildMediaTask": "RebuildMediaComplete",
    "ExtractTraceWatermarkTask": "ExtractTraceWatermarkComplete",
    "ExtractCopyRightWatermarkTask": "ExtractCopyRightWatermarkComplete",
    "ReviewAudioVideoTask": "ReviewAudioVideoComplete",
    "ReduceMediaBitrateTask": "ReduceMediaBitrateComplete",
    "DescribeFileAttributesTask": "DescribeFileAttributesComplete",
    "QualityInspectTask": "QualityInspectComplete",
    "QualityEnhanceTask": "QualityEnhanceComplete",
    "ComplexAdaptiveDynamicStreamingTask": "ComplexAdaptiveDynamicStreamingComplete",
    "ProcessMediaByMPSTask": "ProcessMediaByMPSComplete",
    "AigcImageTask": "AigcImageTaskComplete",
    "AigcVideoTask": "AigcVideoTaskComplete",
    "ExtractBlindWatermarkTask": "ExtractBlindWatermarkComplete",
}

#: DescribeTaskDetail / DescribeTasks `TaskType` (lower-cased) → EventType, for answers whose task object is
#: null (a waiting task) and to name the kind. Naming drifts (Q13): ImageSprites, ImageSprite, CreateImageSprite.
DETAIL_TASK_TYPES: dict[str, str] = {
    "procedure": "ProcedureStateChanged",
    "process": "ProcedureStateChanged",
    "editmedia": "EditMediaComplete",
    "wechatpublish": "WechatPublishComplete",
    "wechatdistribute": "WechatPublishComplete",
    "composemedia": "ComposeMediaComplete",
    "splitmedia": "SplitMediaComplete",
    "pullupload": "PullComplete",
    "transcode": "TranscodeComplete",
    "concat": "ConcatComplete",
    "clip": "ClipComplete",
    "imagesprites": "CreateImageSpriteComplete",
    "imagesprite": "CreateImageSpriteComplete",
    "createimagesprite": "CreateImageSpriteComplete",
    "snapshotbytimeoffset": "CreateSnapshotByTimeOffsetComplete",
    "removewatermark": "RemoveWatermark",
    "rebuildmedia": "RebuildMediaComplete",
    "reviewaudiovideo": "ReviewAudioVideoComplete",
    "reducemediabitrate": "ReduceMediaBitrateComplete",
    "mpsworkflowtask": "ProcessMediaByMPSComplete",
}

#: Task and sub-task status words (upper-cased). ABORTED ends a task: finished with outcome aborted.
TASK_STATUS: dict[str, Status] = {
    "WAITING": Status.WAITING,
    "PROCESSING": Status.PROCESSING,
    "FINISH": Status.FINISHED,
    "FINISHED": Status.FINISHED,
    "ABORTED": Status.FINISHED,
}
SUBTASK_STATUS: dict[str, tuple[Status, Outcome | None]] = {
    "WAITING": (Status.WAITING, None),
    "PROCESSING": (Status.PROCESSING, None),
    "SUCCESS": (Status.FINISHED, Outcome.SUCCESS),
    "FAIL": (Status.FINISHED, Outcome.FAILED),
    "FAILED": (Status.FINISHED, Outcome.FAILED),
}

#: MediaProcessResultSet `Type` → (the key of its result object, the output kind).
SUBTASK_TYPES: dict[str, tuple[str, OutputKind]] = {
    "Transcode": ("TranscodeTask", OutputKind.VIDEO),
    "AnimatedGraphics": ("AnimatedGraphicTask", OutputKind.ANIMATION),
    "SnapshotByTimeOffset": ("SnapshotByTimeOffsetTask", OutputKind.IMAGES),
    "SampleSnapshot": ("SampleSnapshotTask", OutputKind.IMAGES),
    "ImageSprites": ("ImageSpriteTask", OutputKind.SPRITE),
    "CoverBySnapshot": ("CoverBySnapshotTask", OutputKind.IMAGE),
    "AdaptiveDynamicStreaming": ("AdaptiveDynamicStreamingTask", OutputKind.STREAMING),
}

#: A new file's container / FileType (lower-cased) → output kind; anything else is a plain file.
FILE_KINDS: dict[str, OutputKind] = {
    **dict.fromkeys(("mp4", "flv", "mov", "mkv", "webm", "avi", "ts", "wmv", "3gp", "mpg", "mpeg"), OutputKind.VIDEO),
    **dict.fromkeys(("m3u8", "hls", "mpd", "dash"), OutputKind.STREAMING),
    **dict.fromkeys(("mp3", "m4a", "aac", "wav", "flac", "ogg", "wma", "opus"), OutputKind.AUDIO),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp", "bmp", "heic"), OutputKind.IMAGE),
    "video": OutputKind.VIDEO,
    "audio": OutputKind.AUDIO,
    "image": OutputKind.IMAGE,
}

#: Top-level keys that are never an event object.
ENVELOPE_KEYS = frozenset({"EventType", "EventHandle", "Sign", "T", "RequestId"})

#: Every key VOD 3.0 puts next to EventType (the SDK's EventContent plus drifted names); one of them
#: present tells a VOD 3.0 body from an Alibaba one that shares an EventType (TranscodeComplete).
VOD_EVENT_KEYS = frozenset(key for spec in EVENTS.values() for key in spec.keys) | {
    "EditMediaComplete",
    "WechatPublishComplete",
    "SceneAigcImageCompleteEvent",
    "ProcessImageAsyncCompleteEvent",
    "CreateAigcAdvancedCustomElementCompleteEvent",
    "CreateAigcCustomVoiceCompleteEvent",
    "DescribeAigcFaceInfoAsyncCompleteEvent",
    "AigcHunyuan3DCompleteEvent",
}

#: Tencent MPS (ParseNotification-shaped bodies, DescribeTaskDetail answers) also use `EventType`/`TaskType`.
MPS_EVENT_TYPES = frozenset({"WorkflowTask", "EditMediaTask", "ScheduleTask", "BatchTask", "ExtractBlindWatermark"})
MPS_KEYS = frozenset(
    {
        "WorkflowTaskEvent",
        "EditMediaTaskEvent",
        "ScheduleTaskEvent",
        "BatchTaskEvent",
        "ExtractBlindWatermarkTask",
        "LiveScheduleTaskEvent",
        "GetMediaAttributesTaskEvent",
        "NotificationType",
        "Timestamp",
    }
)
MPS_DETAIL_KEYS = frozenset({"WorkflowTask", "LiveStreamProcessTask", "ScheduleTask", "LiveScheduleTask"})
MPS_TASK_TYPES = frozenset(
    {"WorkflowTask", "EditMediaTask", "LiveStreamProcessTask", "ScheduleTask", "EvaluationTask", "LiveScheduleTask"}
)
