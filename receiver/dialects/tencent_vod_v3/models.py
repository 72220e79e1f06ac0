"""Wire models of Tencent VOD API 3.0 event objects (EventContent's `<Xxx>Event`), PullEvents and DescribeTaskDetail.

Field names are the provider's (UpperCamel), from the SDK structures in reference Appendix A. Every field is
optional, unknown keys are ignored (`extra="ignore"`: nothing reads them, and keeping them made every instance
dearer to build; only `MediaProcessTaskResult` keeps them, for result types without a field of their own),
numbers are accepted where strings are documented (a
`FileId` sent as a JSON number) and list items may be null: `validate_leniently` can then null one
malformed field or item with a warning instead of rejecting the payload. A callback's `<Xxx>Event` object
equals DescribeTaskDetail's `<Xxx>Task` object of the same task, so one model serves both.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from receiver.dialects._coerce import ProviderTime


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


# media description -----------------------------------------------------------------------------------------


class VideoStream(Wire):
    """MediaVideoStreamItem: bitrate in bits/s, size in px, fps in Hz."""

    Bitrate: int | None = None
    Height: int | None = None
    Width: int | None = None
    Codec: str | None = None
    Fps: float | None = None
    CodecTag: str | None = None


class AudioStream(Wire):
    """MediaAudioStreamItem: bitrate in bits/s, sampling rate in Hz."""

    Bitrate: int | None = None
    SamplingRate: int | None = None
    Codec: str | None = None


class SubStream(Wire):
    """MediaSubStreamInfoItem of an adaptive-streaming output."""

    Type: str | None = None
    Width: int | None = None
    Height: int | None = None
    Size: int | None = None


class MediaMetaData(Wire):
    """MediaMetaData: the source's (ProcedureTask) or a new file's (EditMedia, PullUpload) description."""

    Size: int | None = None
    Container: str | None = None
    Bitrate: int | None = None
    Height: int | None = None
    Width: int | None = None
    Duration: float | None = None
    Rotate: int | None = None
    VideoStreamSet: list[VideoStream | None] | None = None
    AudioStreamSet: list[AudioStream | None] | None = None
    VideoDuration: float | None = None
    AudioDuration: float | None = None
    Md5: str | None = None


class MediaSourceData(Wire):
    SourceType: str | None = None
    SourceContext: str | None = None


class BasicInfo(Wire):
    """MediaBasicInfo. The PullComplete doc example nests it once more (`{FileId, MediaBasicInfo: {…}}`)."""

    Name: str | None = None
    Description: str | None = None
    CreateTime: ProviderTime = None
    UpdateTime: ProviderTime = None
    ExpireTime: str | None = None
    ClassId: int | None = None
    ClassName: str | None = None
    ClassPath: str | None = None
    CoverUrl: str | None = None
    Type: str | None = None
    MediaUrl: str | None = None
    SourceInfo: MediaSourceData | None = None
    StorageRegion: str | None = None
    StoragePath: str | None = None
    Vid: str | None = None
    Category: str | None = None
    Status: str | None = None
    StorageClass: str | None = None
    FileId: str | None = None
    MediaBasicInfo: dict[str, Any] | None = None


# task-flow sub-tasks ---------------------------------------------------------------------------------------


class SubTaskInput(Wire):
    """The input of any MediaProcessResultSet sub-task; only the template id is read."""

    Definition: int | None = None


class PicInfo(Wire):
    """MediaSnapshotByTimePicInfoItem; TimeOffset in milliseconds."""

    TimeOffset: float | None = None
    Url: str | None = None


class MediaOutputItem(Wire):
    """The union of the seven per-type output items of MediaProcessResultSet (MediaTranscodeItem,
    MediaAnimatedGraphicsItem, MediaSnapshotByTimeOffsetItem, MediaSampleSnapshotItem, MediaImageSpriteItem,
    CoverBySnapshotTaskOutput, AdaptiveDynamicStreamingInfoItem); the sub-task's type says which apply."""

    Url: str | None = None
    Definition: int | None = None
    Bitrate: int | None = None
    Height: int | None = None
    Width: int | None = None
    Size: int | None = None
    Duration: float | None = None
    Md5: str | None = None
    Container: str | None = None
    Fps: float | None = None
    VideoStreamSet: list[VideoStream | None] | None = None
    AudioStreamSet: list[AudioStream | None] | None = None
    FileId: str | None = None
    StartTimeOffset: float | None = None
    EndTimeOffset: float | None = None
    PicInfoSet: list[PicInfo | None] | None = None
    ImageUrlSet: list[str | None] | None = None
    TotalCount: int | None = None
    WebVttUrl: str | None = None
    CoverUrl: str | None = None
    Package: str | None = None
    DrmType: str | None = None
    SubStreamSet: list[SubStream | None] | None = None


class SubTaskResult(Wire):
    """MediaProcessTask*Result: the envelope shared by every sub-task (status, error, progress, times)."""

    Status: str | None = None
    ErrCodeExt: str | None = None
    ErrCode: str | None = None
    Message: str | None = None
    Progress: int | None = None
    BeginProcessTime: ProviderTime = None
    FinishTime: ProviderTime = None
    Input: SubTaskInput | None = None
    Output: MediaOutputItem | None = None


class MediaProcessTaskResult(Wire):
    model_config = ConfigDict(extra="allow")  # outputs._result_object reads unknown `<Type>Task` keys

    Type: str | None = None
    TranscodeTask: SubTaskResult | None = None
    AnimatedGraphicTask: SubTaskResult | None = None
    SnapshotByTimeOffsetTask: SubTaskResult | None = None
    SampleSnapshotTask: SubTaskResult | None = None
    ImageSpriteTask: SubTaskResult | None = None
    CoverBySnapshotTask: SubTaskResult | None = None
    AdaptiveDynamicStreamingTask: SubTaskResult | None = None


# task objects (callback `<Xxx>Event` = DescribeTaskDetail `<Xxx>Task`) ------------------------------------------


class TaskCommon(Wire):
    """Fields most task objects share. `ErrCode`/`Message` are task-level (deprecated on ProcedureTask)."""

    TaskId: str | None = None
    Status: str | None = None
    ErrCode: str | None = None
    ErrCodeExt: str | None = None
    Message: str | None = None
    Progress: int | None = None
    FileId: str | None = None
    SessionId: str | None = None
    SessionContext: str | None = None


class ProcedureTask(TaskCommon):
    """ProcedureStateChangeEvent / DescribeTaskDetail.ProcedureTask (also ReduceMediaBitrateTask's shape)."""

    FileName: str | None = None
    FileUrl: str | None = None
    MetaData: dict[str, Any] | None = None
    MediaProcessResultSet: list[MediaProcessTaskResult | None] | None = None
    AiContentReviewResultSet: list[Any] | None = None
    AiAnalysisResultSet: list[Any] | None = None
    AiRecognitionResultSet: list[Any] | None = None
    TasksPriority: int | None = None
    TasksNotifyMode: str | None = None
    Operator: str | None = None
    OperationType: str | None = None


class FileUploadTask(Wire):
    FileId: str | None = None
    MediaBasicInfo: BasicInfo | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None
    MetaData: MediaMetaData | None = None


class PullUploadTask(TaskCommon):
    MediaBasicInfo: BasicInfo | None = None
    MetaData: MediaMetaData | None = None
    FileUrl: str | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None


class FileDeleteResultItem(Wire):
    FileId: str | None = None
    DeleteParts: list[Any] | None = None


class FileDeleteTask(Wire):
    FileIdSet: list[str | None] | None = None
    FileDeleteResultInfo: list[FileDeleteResultItem | None] | None = None


class FileInput(Wire):
    """The `Input` of single-file tasks (RemoveWatermark, RebuildMedia, ReviewAudioVideo, SplitMedia segment)."""

    FileId: str | None = None
    Definition: int | None = None
    StartTimeOffset: float | None = None
    EndTimeOffset: float | None = None


class TaskOutputFile(Wire):
    """EditMediaTaskOutput / ComposeMediaTaskOutput / RebuildMediaTaskOutput / RemoveWaterMarkTaskOutput."""

    FileType: str | None = None
    FileUrl: str | None = None
    FileId: str | None = None
    MediaName: str | None = None
    ClassId: int | None = None
    ExpireTime: str | None = None
    MetaData: MediaMetaData | None = None


class NewFileTask(TaskCommon):
    """EditMediaTask, ComposeMediaTask, RebuildMediaTask and RemoveWatermarkTask: one new file out."""

    Input: Any = None
    Output: TaskOutputFile | None = None
    MetaData: MediaMetaData | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None


class TaskOutputMediaInfo(Wire):
    FileId: str | None = None
    MediaBasicInfo: BasicInfo | None = None


class SplitMediaSegment(Wire):
    Input: FileInput | None = None
    Output: TaskOutputMediaInfo | None = None
    ProcedureTaskId: str | None = None
    ReviewAudioVideoTaskId: str | None = None


class SplitMediaTask(TaskCommon):
    FileInfoSet: list[SplitMediaSegment | None] | None = None


class WechatPublishTask(TaskCommon):
    """WechatPublishTask and WechatMiniProgramPublishTask (`PublishResult` Pass/Failed/Rejected)."""

    Definition: int | None = None
    SourceDefinition: int | None = None
    WechatStatus: str | None = None
    WechatVid: str | None = None
    WechatUrl: str | None = None
    PublishResult: str | None = None


class RestoreMediaTask(Wire):
    """RestoreMediaCompleteEvent: no task id; `Status` is an integer code (0 = restored)."""

    FileId: str | None = None
    OriginalStorageClass: str | None = None
    TargetStorageClass: str | None = None
    RestoreTier: str | None = None
    RestoreDay: int | None = None
    Status: str | None = None
    Message: str | None = None


class ReviewAudioVideoTask(TaskCommon):
    Input: FileInput | None = None
    Output: dict[str, Any] | None = None


class GenericTask(TaskCommon):
    """Any other task object: the common fields are read, everything else is kept verbatim."""

    Input: Any = None
    Output: Any = None
    MetaData: Any = None


# 2017-compatible task objects ------------------------------------------------------------------------------


class PlayInfo2017(Wire):
    Url: str | None = None
    Definition: int | None = None
    Bitrate: int | None = None
    Height: int | None = None
    Width: int | None = None


class TranscodeTask2017(Wire):
    TaskId: str | None = None
    ErrCode: str | None = None
    Message: str | None = None
    FileId: str | None = None
    FileName: str | None = None
    Duration: float | None = None
    CoverUrl: str | None = None
    PlayInfoSet: list[PlayInfo2017 | None] | None = None


class FileInfo2017(Wire):
    """ClipFileInfo2017 / ConcatFileInfo2017."""

    ErrCode: str | None = None
    Message: str | None = None
    FileId: str | None = None
    FileUrl: str | None = None
    FileType: str | None = None


class ClipTask2017(Wire):
    TaskId: str | None = None
    SrcFileId: str | None = None
    FileInfo: FileInfo2017 | None = None


class ConcatTask2017(Wire):
    """`FileInfoSet` is one item per output format (m3u8, mp4), each with its own ErrCode."""

    TaskId: str | None = None
    ErrCode: str | None = None
    Message: str | None = None
    FileInfoSet: list[FileInfo2017 | None] | None = None


class CreateImageSpriteTask2017(Wire):
    TaskId: str | None = None
    ErrCode: str | None = None
    Message: str | None = None
    FileId: str | None = None
    Definition: int | None = None
    TotalCount: int | None = None
    ImageSpriteUrlSet: list[str | None] | None = None
    WebVttUrl: str | None = None


class Snapshot2017(Wire):
    ErrCode: str | None = None
    TimeOffset: int | None = None
    Url: str | None = None


class SnapshotByTimeOffsetTask2017(Wire):
    TaskId: str | None = None
    ErrCode: str | None = None
    Message: str | None = None
    FileId: str | None = None
    Definition: int | None = None
    SnapshotInfoSet: list[Snapshot2017 | None] | None = None


# envelopes -------------------------------------------------------------------------------------------------


class ApiError(Wire):
    Code: str | None = None
    Message: str | None = None


class DescribeTaskDetailAnswer(Wire):
    """DescribeTaskDetail's `Response` (or the same object unwrapped): the task's type, status and times,
    one populated `<Xxx>Task` key (kept as extra) and the others null."""

    TaskType: str | None = None
    Status: str | None = None
    CreateTime: ProviderTime = None
    BeginProcessTime: ProviderTime = None
    FinishTime: ProviderTime = None
    RequestId: str | None = None
    Error: ApiError | None = None


class PullEventsAnswer(Wire):
    EventSet: list[Any] | None = None
    RequestId: str | None = None
    Error: ApiError | None = None
