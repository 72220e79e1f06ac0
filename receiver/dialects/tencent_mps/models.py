"""Wire models of MPS callbacks (ParseNotification-shaped) and DescribeTaskDetail answers.

Field names are MPS's own (UpperCamel, SDK 3.1.194). Every field is optional and loosely typed: pydantic's lax
mode turns numeric strings into numbers and numbers into strings, and `validate_leniently` turns any field it
still rejects into None with a warning, so one malformed nested value never costs the whole payload. Real
bodies carry keys the SDK does not know (`LiveScheduleTaskEvent`, `GetMediaAttributesTaskEvent`, `ExtInfo`,
stream `Duration`); the normalizer reads those from the raw document, except for the result objects of the two
models that keep their unknown keys (`extra="allow"`: `MediaProcessTaskResult`, `ActivityResItem`, whose result
for a type without a class, such as `CoverBySnapshotTask`, sits under a key of its own). The others ignore
unknown keys: nothing reads them, and keeping them made every instance dearer to build.

List items are typed `X | None` so that a malformed item is nulled in place (and skipped by the normalizer)
rather than failing its list. Result sets the normalizer keeps verbatim (AI, QC, subtitles) are `Any`.
MPS often names a field like its class (`CosOutputStorage: CosOutputStorage`); such fields are annotated with a
module-level alias (`_CosOutputStorage`), because inside the class body the field name shadows the class.
Credentials MPS may echo (S3SecretId/S3SecretKey, NotifyKey) are deliberately not declared.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from receiver.dialects._coerce import ProviderTime


class Wire(BaseModel):
    """Base of every MPS wire model: unknown keys ignored, numbers and strings coerced both ways."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, allow_inf_nan=False)


# storage and input ---------------------------------------------------------------------------------------


class CosOutputStorage(Wire):
    Bucket: str | None = None
    Region: str | None = None


_CosOutputStorage = CosOutputStorage


class S3OutputStorage(Wire):
    S3Bucket: str | None = None
    S3Region: str | None = None


_S3OutputStorage = S3OutputStorage


class VODOutputStorage(Wire):
    Bucket: str | None = None
    Region: str | None = None
    SubAppId: int | None = None


_VODOutputStorage = VODOutputStorage


class TaskOutputStorage(Wire):
    """`Type` COS | AWS-S3 | VOD selects which of the three siblings is set."""

    Type: str | None = None
    CosOutputStorage: _CosOutputStorage | None = None
    S3OutputStorage: _S3OutputStorage | None = None
    VODOutputStorage: _VODOutputStorage | None = None


class CosInputInfo(Wire):
    Bucket: str | None = None
    Region: str | None = None
    Object: str | None = None


_CosInputInfo = CosInputInfo


class UrlInputInfo(Wire):
    Url: str | None = None


_UrlInputInfo = UrlInputInfo


class S3InputInfo(Wire):
    S3Bucket: str | None = None
    S3Region: str | None = None
    S3Object: str | None = None


_S3InputInfo = S3InputInfo


class VODInputInfo(Wire):
    Bucket: str | None = None
    Region: str | None = None
    Object: str | None = None
    SubAppId: int | None = None
    FileId: str | None = None


_VODInputInfo = VODInputInfo


class MediaInputInfo(Wire):
    """`Type` COS | URL | AWS-S3 | VOD selects the populated sibling; the others are null or absent."""

    Type: str | None = None
    CosInputInfo: _CosInputInfo | None = None
    UrlInputInfo: _UrlInputInfo | None = None
    S3InputInfo: _S3InputInfo | None = None
    VODInputInfo: _VODInputInfo | None = None


# media metadata ------------------------------------------------------------------------------------------


class MediaVideoStreamItem(Wire):
    Bitrate: int | None = None  # bps
    Height: int | None = None
    Width: int | None = None
    Codec: str | None = None
    Fps: float | None = None  # the SDK says integer; fractional rates are tolerated
    Codecs: str | None = None
    FpsNumerator: int | None = None
    FpsDenominator: int | None = None


class MediaAudioStreamItem(Wire):
    Bitrate: int | None = None  # bps
    SamplingRate: int | None = None  # Hz
    Codec: str | None = None
    Channel: int | None = None
    Codecs: str | None = None


class MediaMetaData(Wire):
    Size: int | None = None  # bytes (HLS: m3u8 plus segments)
    Container: str | None = None
    Bitrate: int | None = None  # bps, video plus audio
    Height: int | None = None
    Width: int | None = None
    Duration: float | None = None  # seconds
    Rotate: int | None = None
    VideoStreamSet: list[MediaVideoStreamItem | None] | None = None
    AudioStreamSet: list[MediaAudioStreamItem | None] | None = None
    VideoDuration: float | None = None
    AudioDuration: float | None = None


# sub-task results ----------------------------------------------------------------------------------------


class SubTaskResult(Wire):
    """The envelope every sub-task result shares (not every class has every field; see reference §2.5)."""

    Status: str | None = None  # PROCESSING | SUCCESS | FAIL
    ErrCodeExt: str | None = None  # "" or "SUCCESS" means success
    ErrCode: int | None = None  # 0 means success (deprecated in favour of ErrCodeExt)
    Message: str | None = None
    Progress: int | None = None
    BeginProcessTime: ProviderTime = None
    FinishTime: ProviderTime = None


class TaskInput(Wire):
    """What every media-process input shares: the template and where the output was to be written."""

    Definition: int | None = None
    OutputStorage: TaskOutputStorage | None = None
    OutputObjectPath: str | None = None


class MediaTranscodeItem(Wire):
    OutputStorage: TaskOutputStorage | None = None
    Path: str | None = None
    Definition: int | None = None
    Bitrate: int | None = None  # bps
    Height: int | None = None
    Width: int | None = None
    Size: int | None = None  # bytes
    Duration: float | None = None  # seconds
    Container: str | None = None
    Md5: str | None = None
    AudioStreamSet: list[MediaAudioStreamItem | None] | None = None
    VideoStreamSet: list[MediaVideoStreamItem | None] | None = None
    CallBackExtInfo: str | None = None


class MediaAnimatedGraphicsItem(Wire):
    Storage: TaskOutputStorage | None = None
    Path: str | None = None
    Definition: int | None = None
    Container: str | None = None
    Height: int | None = None
    Width: int | None = None
    Bitrate: int | None = None  # bps
    Size: int | None = None
    Md5: str | None = None
    StartTimeOffset: float | None = None
    EndTimeOffset: float | None = None


class MediaSnapshotByTimePicInfoItem(Wire):
    TimeOffset: float | None = None
    Path: str | None = None


class MediaSnapshotByTimeOffsetItem(Wire):
    Definition: int | None = None
    PicInfoSet: list[MediaSnapshotByTimePicInfoItem | None] | None = None
    Storage: TaskOutputStorage | None = None


class MediaSampleSnapshotItem(Wire):
    Definition: int | None = None
    SampleType: str | None = None
    Interval: int | None = None
    Storage: TaskOutputStorage | None = None
    ImagePathSet: list[str | None] | None = None


class MediaImageSpriteItem(Wire):
    Definition: int | None = None
    Height: int | None = None
    Width: int | None = None
    TotalCount: int | None = None
    ImagePathSet: list[str | None] | None = None
    WebVttPath: str | None = None
    Storage: TaskOutputStorage | None = None


class AdaptiveDynamicStreamingInfoItem(Wire):
    Definition: int | None = None
    Package: str | None = None  # HLS | MPEG-DASH
    Path: str | None = None
    Storage: TaskOutputStorage | None = None


class MediaProcessTaskTranscodeResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: MediaTranscodeItem | None = None


class MediaProcessTaskAnimatedGraphicResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: MediaAnimatedGraphicsItem | None = None


class MediaProcessTaskSnapshotByTimeOffsetResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: MediaSnapshotByTimeOffsetItem | None = None


class MediaProcessTaskSampleSnapshotResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: MediaSampleSnapshotItem | None = None


class MediaProcessTaskImageSpriteResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: MediaImageSpriteItem | None = None


class MediaProcessTaskAdaptiveDynamicStreamingResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: AdaptiveDynamicStreamingInfoItem | None = None


class SmartEraseOutput(Wire):
    """`AiAnalysisTaskDelLogoOutput`, as far as the erased file goes."""

    Path: str | None = None
    OutputStorage: TaskOutputStorage | None = None


class SmartEraseTaskResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: SmartEraseOutput | None = None


_SmartEraseTaskResult = SmartEraseTaskResult


class GenericMediaOutput(Wire):
    """The output fields most media results share, for types the SDK gives no class (`CoverBySnapshot`)."""

    Definition: int | None = None
    Path: str | None = None
    Storage: TaskOutputStorage | None = None
    OutputStorage: TaskOutputStorage | None = None


class GenericMediaResult(SubTaskResult):
    Input: TaskInput | None = None
    Output: GenericMediaOutput | None = None


class MediaProcessTaskResult(Wire):
    """One `MediaProcessResultSet` item: `Type` selects the populated `*Task` sibling (others are null)."""

    model_config = ConfigDict(extra="allow")

    Type: str | None = None
    TranscodeTask: MediaProcessTaskTranscodeResult | None = None
    AnimatedGraphicTask: MediaProcessTaskAnimatedGraphicResult | None = None
    SnapshotByTimeOffsetTask: MediaProcessTaskSnapshotByTimeOffsetResult | None = None
    SampleSnapshotTask: MediaProcessTaskSampleSnapshotResult | None = None
    ImageSpriteTask: MediaProcessTaskImageSpriteResult | None = None
    AdaptiveDynamicStreamingTask: MediaProcessTaskAdaptiveDynamicStreamingResult | None = None


# tasks ---------------------------------------------------------------------------------------------------


class TaskEnvelope(Wire):
    """What every task object shares."""

    TaskId: str | None = None
    Status: str | None = None  # WAITING | PROCESSING | FINISH
    ErrCode: int | None = None  # non-zero: the source failed
    Message: str | None = None


class WorkflowTask(TaskEnvelope):
    """`WorkflowTaskEvent` of a callback; `WorkflowTask` of DescribeTaskDetail (the same class)."""

    InputInfo: MediaInputInfo | None = None
    MetaData: MediaMetaData | None = None
    MediaProcessResultSet: list[MediaProcessTaskResult | None] | None = None
    AiContentReviewResultSet: Any = None
    AiAnalysisResultSet: Any = None
    AiRecognitionResultSet: Any = None
    AiQualityControlTaskResult: Any = None
    SmartSubtitlesTaskResult: Any = None
    SmartEraseTaskResult: _SmartEraseTaskResult | None = None
    AiDubbingTaskResult: Any = None


_WorkflowTask = WorkflowTask


class EditMediaFileInfo(Wire):
    InputInfo: MediaInputInfo | None = None
    StartTimeOffset: float | None = None
    EndTimeOffset: float | None = None
    Id: str | None = None


class EditMediaTaskInput(Wire):
    FileInfoSet: list[EditMediaFileInfo | None] | None = None


class EditMediaTaskOutput(Wire):
    OutputStorage: TaskOutputStorage | None = None
    Path: str | None = None
    MetaData: MediaMetaData | None = None


class EditMediaTask(TaskEnvelope):
    """Task-level result only: no sub-tasks, `ErrCode` 0 is success."""

    Input: EditMediaTaskInput | None = None
    Output: EditMediaTaskOutput | None = None


_EditMediaTask = EditMediaTask


class ActivityResItem(Wire):
    """One orchestration activity's result: the key named by `ActivityType` is set."""

    model_config = ConfigDict(extra="allow")

    TranscodeTask: MediaProcessTaskTranscodeResult | None = None
    AnimatedGraphicTask: MediaProcessTaskAnimatedGraphicResult | None = None
    SnapshotByTimeOffsetTask: MediaProcessTaskSnapshotByTimeOffsetResult | None = None
    SampleSnapshotTask: MediaProcessTaskSampleSnapshotResult | None = None
    ImageSpriteTask: MediaProcessTaskImageSpriteResult | None = None
    AdaptiveDynamicStreamingTask: MediaProcessTaskAdaptiveDynamicStreamingResult | None = None
    SmartEraseTask: SmartEraseTaskResult | None = None
    RecognitionTask: Any = None
    ReviewTask: Any = None
    AnalysisTask: Any = None
    QualityControlTask: Any = None
    ExecRuleTask: Any = None
    SmartSubtitlesTask: Any = None
    AIDubbingTask: Any = None


_ActivityResItem = ActivityResItem


class ActivityResult(Wire):
    ActivityType: str | None = None
    ActivityResItem: _ActivityResItem | None = None


class ScheduleTask(TaskEnvelope):
    InputInfo: MediaInputInfo | None = None
    MetaData: MediaMetaData | None = None
    ActivityResultSet: list[ActivityResult | None] | None = None


_ScheduleTask = ScheduleTask


class SmartSubtitleTaskBatchOutput(SubTaskResult):
    """One language output of a batch smart-subtitles task (its envelope; text results stay verbatim)."""


class BatchSmartSubtitlesResult(Wire):
    Outputs: list[SmartSubtitleTaskBatchOutput | None] | None = None


class BatchSubTaskResult(Wire):
    """`BatchTaskEvent`: no TaskId or Status in the SDK; read from unknown keys when a body carries them."""

    TaskId: str | None = None
    Status: str | None = None
    InputInfos: list[MediaInputInfo | None] | None = None
    Metadatas: list[MediaMetaData | None] | None = None
    SmartSubtitlesTaskResult: BatchSmartSubtitlesResult | None = None


class ExtractBlindWatermarkTask(TaskEnvelope):
    InputInfo: MediaInputInfo | None = None
    Type: str | None = None  # blind-basic | blind-ab
    IsDetected: bool | None = None
    Result: str | None = None


_ExtractBlindWatermarkTask = ExtractBlindWatermarkTask


class LiveStreamProcessTask(TaskEnvelope):
    Url: str | None = None


_LiveStreamProcessTask = LiveStreamProcessTask


class LiveScheduleTask(TaskEnvelope):
    Url: str | None = None
    LiveActivityResultSet: Any = None


_LiveScheduleTask = LiveScheduleTask


# top level -----------------------------------------------------------------------------------------------


class ParseNotification(Wire):
    """A callback body: `ParseNotificationResponse` without `RequestId`."""

    EventType: str | None = None
    WorkflowTaskEvent: WorkflowTask | None = None
    EditMediaTaskEvent: EditMediaTask | None = None
    ScheduleTaskEvent: ScheduleTask | None = None
    BatchTaskEvent: BatchSubTaskResult | None = None
    ExtractBlindWatermarkTask: _ExtractBlindWatermarkTask | None = None
    SessionId: str | None = None
    SessionContext: str | None = None
    Timestamp: str | None = None  # signature expiry, unix seconds (see verify.py)
    Sign: str | None = None


class LiveStreamProcessErrorInfo(Wire):
    ErrCode: int | None = None
    Message: str | None = None


class LiveRecordFile(Wire):
    Url: str | None = None
    Size: int | None = None
    Duration: float | None = None
    StartTime: ProviderTime = None
    EndTime: ProviderTime = None


class LiveStreamRecordResultInfo(Wire):
    RecordOver: int | None = None
    FileResults: list[LiveRecordFile | None] | None = None


class ParseLiveStreamProcessNotification(Wire):
    """A live-stream processing callback: `NotificationType` selects the populated `*Info` sibling."""

    NotificationType: str | None = None
    TaskId: str | None = None
    ProcessEofInfo: LiveStreamProcessErrorInfo | None = None
    LiveRecordResultInfo: LiveStreamRecordResultInfo | None = None
    AiReviewResultInfo: Any = None
    AiRecognitionResultInfo: Any = None
    AiAnalysisResultInfo: Any = None
    AiQualityControlResultInfo: Any = None
    AiSmartSubtitleResultInfo: Any = None
    SessionId: str | None = None
    SessionContext: str | None = None
    Timestamp: str | None = None
    Sign: str | None = None


class ApiError(Wire):
    Code: str | None = None
    Message: str | None = None


class DescribeTaskDetail(Wire):
    """The `Response` object of DescribeTaskDetail (the `{"Response": …}` envelope removed)."""

    TaskType: str | None = None
    Status: str | None = None  # WAITING | PROCESSING | FINISH
    CreateTime: ProviderTime = None
    BeginProcessTime: ProviderTime = None
    FinishTime: ProviderTime = None  # "0000-00-00T00:00:00Z" while not finished
    WorkflowTask: _WorkflowTask | None = None
    EditMediaTask: _EditMediaTask | None = None
    ScheduleTask: _ScheduleTask | None = None
    ExtractBlindWatermarkTask: _ExtractBlindWatermarkTask | None = None
    LiveStreamProcessTask: _LiveStreamProcessTask | None = None
    LiveScheduleTask: _LiveScheduleTask | None = None
    TasksPriority: int | None = None
    SessionId: str | None = None
    SessionContext: str | None = None
    ExtInfo: str | None = None
    RequestId: str | None = None
    Error: ApiError | None = None
