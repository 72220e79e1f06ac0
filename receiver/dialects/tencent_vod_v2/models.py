"""Wire models of Tencent VOD's legacy (v2, API 2017) callbacks and task-query answers.

Every field is optional: `validate_leniently` nulls a malformed field with a warning instead of rejecting the
payload. Unknown keys are ignored (`extra="ignore"`): nothing reads them, and keeping them made every instance
dearer to build. A callback's `data` block equals GetTaskInfo's `data` for the same task type, so one set of
models serves both (reference §2.4, §2.6).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from receiver.dialects._coerce import ProviderTime


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class VideoStream(Wire):
    bitrate: int | None = None
    height: int | None = None
    width: int | None = None
    codec: str | None = None
    fps: float | None = None


class AudioStream(Wire):
    bitrate: int | None = None
    samplingRate: int | None = None
    codec: str | None = None


class MetaData(Wire):
    size: int | None = None
    totalSize: int | None = None
    container: str | None = None
    bitrate: int | None = None
    height: int | None = None
    width: int | None = None
    md5: str | None = None
    duration: float | None = None
    floatDuration: float | None = None
    rotate: int | None = None
    videoStreamList: list[VideoStream] | None = None
    audioStreamList: list[AudioStream] | None = None


class ImageInfo(Wire):
    timeOffset: int | None = None
    url: str | None = None
    status: int | None = None


class ProcessTaskInput(Wire):
    definition: int | None = None


class ProcessTaskOutput(Wire):
    """The union of every `processTaskList[].output` shape; the task type says which fields apply."""

    url: str | None = None
    size: int | None = None
    container: str | None = None
    bitrate: int | None = None
    height: int | None = None
    width: int | None = None
    md5: str | None = None
    duration: float | None = None
    fps: float | None = None
    videoStreamList: list[VideoStream] | None = None
    audioStreamList: list[AudioStream] | None = None
    imageUrls: list[str] | None = None
    imageUrl: str | list[str] | None = None  # documented Array, sent as a string (quirk Q14)
    imgInfo: list[ImageInfo] | None = None
    urlList: list[str] | None = None
    totalCount: int | None = None
    webVttUrl: str | None = None
    fileId: str | None = None
    fileSize: int | None = None  # documented String for PullFile


class ProcessTask(Wire):
    taskType: str | None = None
    status: str | None = None
    errCode: int | None = None
    message: str | None = None
    input: ProcessTaskInput | None = None
    output: ProcessTaskOutput | None = None


class ProcedureData(Wire):
    """ProcedureStateChanged `data`, GetTaskInfo `data` of a procedure, and GetProcedureInfo's answer."""

    vodTaskId: str | None = None
    status: str | None = None
    errCode: int | None = None
    message: str | None = None
    fileId: str | None = None
    metaData: MetaData | None = None
    drm: dict[str, Any] | None = None
    processTaskList: list[ProcessTask] | None = None
    contentReviewList: list[Any] | None = None
    aIAnalysisList: list[Any] | None = None


class PlayItem(Wire):
    url: str | None = None
    definition: int | None = None
    vbitrate: int | None = None
    vheight: int | None = None
    vwidth: int | None = None


class TranscodeData(Wire):
    status: int | None = None
    errCode: int | None = None
    message: str | None = None
    vodTaskId: str | None = None
    fileId: str | None = None
    fileName: str | None = None
    duration: float | None = None
    coverUrl: str | None = None
    playSet: list[PlayItem] | None = None


class FileInfo(Wire):
    fileType: str | None = None
    status: int | None = None
    message: str | None = None
    fileId: str | None = None
    fileUrl: str | None = None


class ClipData(Wire):
    vodTaskId: str | None = None
    srcFileId: str | None = None
    status: int | None = None
    message: str | None = None
    fileInfo: FileInfo | None = None


class ConcatData(Wire):
    vodTaskId: str | None = None
    status: int | None = None
    message: str | None = None
    fileInfo: list[FileInfo] | None = None


class SnapshotData(Wire):
    vodTaskId: str | None = None
    status: int | None = None
    message: str | None = None
    fileId: str | None = None
    definition: int | None = None
    picInfo: list[ImageInfo] | None = None


class SpriteData(Wire):
    vodTaskId: str | None = None
    status: int | None = None
    message: str | None = None
    fileId: str | None = None
    definition: int | None = None
    totalCount: int | None = None
    imageSpriteUrl: list[str] | None = None
    webVttUrl: str | None = None


class UploadData(Wire):
    """NewFileUpload in all its documented and observed variants (with or without `metaData`)."""

    status: int | None = None
    message: str | None = None
    vodTaskId: str | None = None
    fileId: str | None = None
    fileName: str | None = None
    fileUrl: str | None = None
    coverUrl: str | None = None
    author: str | None = None
    sourceType: str | None = None
    sourceContext: str | None = None
    streamId: str | None = None
    procedureTaskId: str | None = None
    transcodeTaskId: str | None = None
    imageSpriteTaskId: str | None = None
    porncheckTaskId: str | None = None
    duration: float | None = None
    fileSize: int | None = None
    width: int | None = None
    height: int | None = None
    bitrate: int | None = None
    metaData: MetaData | None = None


class PullData(Wire):
    vodTaskId: str | None = None
    status: int | None = None
    message: str | None = None
    fileId: str | None = None
    fileUrl: str | None = None
    transcodeTaskId: str | None = None


class DeletedFile(Wire):
    fileId: str | None = None


class DeleteData(Wire):
    status: int | None = None
    message: str | None = None
    fileInfo: list[DeletedFile] | None = None


def _version_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


#: The envelope's `version`: "4.0", also sent as the number 4 (Q1).
Version = Annotated[str | None, BeforeValidator(_version_text)]


class Envelope(Wire):
    """`{"version": "4.0", "eventType": …, "data": {…}}`."""

    version: Version = None
    eventType: str
    data: dict[str, Any] | None = Field(default=None)


class TaskInfoAnswer(Wire):
    """GetTaskInfo's answer: the task's status and times around the callback `data` block of its type."""

    code: int | None = None
    codeDesc: str | None = None
    message: str | None = None
    type: str | None = None
    status: str | None = None
    createTime: ProviderTime = None
    beginProcessTime: ProviderTime = None
    finishTime: ProviderTime = None
    data: dict[str, Any] | None = None


class PulledEvent(Wire):
    msgHandle: str | None = None
    eventContent: dict[str, Any] | None = None


class PullEventAnswer(Wire):
    code: int | None = None
    message: str | None = None
    eventList: list[PulledEvent] | None = None
