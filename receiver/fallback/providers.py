"""One adapter per dialect over its query client: what the fallback needs, and nothing provider-specific above.

Retention windows and published query limits come from shared/providers/*.md: legacy VOD keeps tasks 72 h and
allows 100 queries/min; VOD 3.0 keeps 3 days and MPS 7 days, both 100 queries/s; Alibaba VOD keeps a year
and allows 15 queries/s.

The default bucket (`rate_per_s`, `burst`) is 90 % of the published rate with a burst of 1. A token bucket
lets `burst + rate * W` requests into any window of W seconds, and a provider counts its limit over a window
(the emulator: a sliding one): the published rate with a burst of a second's worth let twice the limit into
one second, and the answers were rate-limit errors. At 90 % and no burst every window stays under the limit,
with room for a request that goes out a little late.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from receiver.config import FallbackSourceSettings
from receiver.dialects.aliyun_vod.client import AliyunVodClient
from receiver.dialects.aliyun_vod.normalize import transcode_task_id, video_of_task
from receiver.dialects.tencent_mps.client import MpsClient
from receiver.dialects.tencent_vod_v2.client import LegacyVodClient
from receiver.dialects.tencent_vod_v3.client import VodV3Client
from receiver.model import Provider
from receiver.signing import Credential
from receiver.signing.query import ProviderError

DAY_S = 86400.0
HEADROOM = 0.9  # share of the published query rate the default bucket spends
LEGACY_REWIND = 100  # tasks a legacy sweep steps back from where the last one ended (one GetTaskList page)
VIDEO_LIST_CAP = 5000  # GetVideoList returns the first 5000 videos of a filter; the next sweep moves its start


@dataclass(frozen=True)
class Answer:
    """A query answer to ingest: the API it came from and the decoded document (plus its bytes)."""

    api: str
    document: dict[str, Any]

    @property
    def body(self) -> bytes:
        return json.dumps(self.document, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ListedTask:
    """A task (or, with `parent`, a container of tasks) a listing page names."""

    task_id: str
    created_at: datetime | None
    parent: str | None = None  # set: its tasks need one more listing call (Alibaba: a video's ListTranscodeTask)
    #: What the entry itself says of the task: True finished, False still running (waiting or processing), None
    #: it does not say (no status field, or its fields disagree). Only False spares a task query (`batch`).
    finished: bool | None = None


@dataclass(frozen=True)
class Page:
    tasks: list[ListedTask]
    next_token: str | None  # None: this was the last page


@dataclass(frozen=True)
class Pulled:
    handle: str
    document: Any


async def _unpaced() -> None:
    """The default `pace`: an adapter not wired to a bucket does not wait."""


Pace = Callable[[], Awaitable[None]]


class ProviderApi(Protocol):
    provider: Provider
    retention_s: float
    rate_per_s: float
    burst: float
    can_list: bool
    can_pull: bool
    pace: Pace  # awaited before every request beyond the first of one `query` (the account's bucket)

    async def query(self, task_id: str) -> Answer: ...

    def start_token(self, since: datetime) -> str | None:
        """The listing position of the tasks created since `since` (None: the start of the listing)."""
        ...

    async def list_page(self, token: str | None) -> Page: ...

    async def list_children(self, parent: str) -> list[ListedTask]:
        """The tasks of a listed container (`ListedTask.parent`); one request, paid by the caller."""
        ...

    async def list_running(self, since: datetime, until: datetime, token: str | None) -> Page:
        """One page of the listing filtered to the tasks still processing, created in [since, until) where the
        listing filters by creation (`batch`); one request, paid by the caller. Each entry's `finished` says
        what the entry itself shows: only those it shows unfinished count as running."""
        ...

    def resume_token(self, token: str | None, page: Page, newest: datetime | None) -> str | None:
        """Where the next sweep starts after the last page (`newest`: the newest creation the sweep listed)."""
        ...

    async def pull(self) -> tuple[Answer, list[Pulled]]: ...

    async def confirm(self, handles: list[str]) -> None: ...

    async def aclose(self) -> None: ...


def _unix(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0000"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _iso_text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix_finished(item: dict[str, Any], key: str) -> bool | None:
    """A legacy entry's finish time (unix seconds, 0 while unfinished): finished or not; None when absent."""
    if key not in item:
        return None
    return _unix(item.get(key)) is not None


def _tc3_finished(item: dict[str, Any]) -> bool | None:
    """A TaskSimpleInfo's progress: by its `Status` (VOD 3.0), by its `FinishTime` (empty, or MPS's zero time,
    while unfinished); None when it carries neither, or the two disagree."""
    by_status = {"FINISH": True, "ABORTED": True, "WAITING": False, "PROCESSING": False}.get(
        str(item.get("Status") or "").upper()
    )
    by_time = None if item.get("FinishTime") is None else _iso(item.get("FinishTime")) is not None
    if by_status is None or by_time is None:
        return by_time if by_status is None else by_status
    return by_status if by_status == by_time else None


def _split(token: str | None) -> tuple[str | None, str | None]:
    """A time-filtered listing position `<since>|<page position>`: (since or None, position or None)."""
    if token and "|" not in token:  # a bare page position (a cursor kept before positions carried a time)
        return None, token
    since, _, position = (token or "").partition("|")
    return since or None, position or None


def _join(since: str | None, position: str | None) -> str | None:
    if not since and not position:
        return None
    return f"{since or ''}|{position or ''}"


def _resume_by_time(token: str | None, newest: datetime | None) -> str | None:
    """Start the next sweep at the newest creation listed (inclusive: the sweep skips tasks it tracks), or
    where this one started when it listed nothing."""
    if newest is not None:
        return _join(_iso_text(newest), None)
    since, _ = _split(token)
    return _join(since, None)


def _legacy_page(answer: dict[str, Any]) -> Page:
    raw = answer.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    items = [i for i in (data.get("taskList") or []) if isinstance(i, dict) and i.get("vodTaskId")]
    tasks = [
        ListedTask(str(i["vodTaskId"]), _unix(i.get("createTime")), finished=_unix_finished(i, "finishTime"))
        for i in items
    ]
    following = str(data.get("next") or "")
    return Page(tasks, following or None)


class LegacyApi:
    """Tencent VOD legacy (API 2.0): GetTaskInfo, GetTaskList (offset cursor `next`), PullEvent/ConfirmEvent."""

    provider = Provider.TENCENT_VOD
    retention_s = 72 * 3600.0
    rate_per_s = HEADROOM * 100 / 60.0
    burst = 1.0
    can_list = True
    can_pull = True

    def __init__(self, settings: FallbackSourceSettings) -> None:
        self.client = LegacyVodClient(
            Credential(settings.secret_id, settings.secret_key), endpoint=settings.endpoint, region=settings.region
        )
        self.pace: Pace = _unpaced

    async def query(self, task_id: str) -> Answer:
        return Answer("GetTaskInfo", await self.client.get_task_info(task_id))

    def start_token(self, since: datetime) -> str | None:
        return None  # GetTaskList documents no time filter: walk its (72 h) listing from the start

    async def list_page(self, token: str | None) -> Page:
        return _legacy_page(await self.client.get_task_list(next_cursor=token or None, size=100))

    async def list_running(self, since: datetime, until: datetime, token: str | None) -> Page:
        # No documented time filter: the processing tasks of the whole 72 h listing, oldest first. The status
        # value is spelled as GetTaskListByFileId documents it (`Processing|Finish`); entries whose finishTime
        # is set are not taken for running, should the filter be ignored.
        answer = await self.client.get_task_list(status="Processing", next_cursor=token or None, size=100)
        return _legacy_page(answer)

    async def list_children(self, parent: str) -> list[ListedTask]:
        raise RuntimeError("tencent-vod-v2's task listing names tasks, not containers")

    def resume_token(self, token: str | None, page: Page, newest: datetime | None) -> str | None:
        # `next` is an offset into the 72 h listing, and the listing's head expires: N tasks leaving the window
        # between two sweeps would hide the first N new ones from an offset kept as is. Rewinding a page
        # re-reads up to LEGACY_REWIND known tasks (skipped) instead; more expiring between two sweeps still
        # could hide some.
        return str(max(0, int(token or 0) + len(page.tasks) - LEGACY_REWIND))

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        answer = await self.client.pull_event()
        events = [e for e in (answer.get("eventList") or []) if isinstance(e, dict) and e.get("msgHandle")]
        return Answer("PullEvent", answer), [Pulled(str(e["msgHandle"]), e.get("eventContent")) for e in events]

    async def confirm(self, handles: list[str]) -> None:
        await self.client.confirm_event(handles)

    async def aclose(self) -> None:
        await self.client.aclose()


def _tc3_page(document: dict[str, Any], since: str | None) -> Page:
    """A DescribeTasks page; its next position is `<since>|<ScrollToken>` (the sweep's) or, with `since` None,
    the bare ScrollToken."""
    answer = document.get("Response") or {}
    items = [i for i in (answer.get("TaskSet") or []) if isinstance(i, dict) and i.get("TaskId")]
    tasks = [ListedTask(str(i["TaskId"]), _iso(i.get("CreateTime")), finished=_tc3_finished(i)) for i in items]
    scroll = str(answer.get("ScrollToken") or "")
    if not scroll:
        return Page(tasks, None)
    return Page(tasks, _join(since, scroll) if since is not None else scroll)


class VodV3Api:
    """Tencent VOD API 3.0: DescribeTaskDetail, DescribeTasks (CreateTime.After, oldest first, ScrollToken),
    PullEvents/ConfirmEvents."""

    provider = Provider.TENCENT_VOD
    retention_s = 3 * DAY_S
    rate_per_s = HEADROOM * 100.0
    burst = 1.0
    can_list = True
    can_pull = True

    def __init__(self, settings: FallbackSourceSettings) -> None:
        self.client = VodV3Client(
            Credential(settings.secret_id, settings.secret_key), endpoint=settings.endpoint, region=settings.region
        )
        self.pace: Pace = _unpaced

    async def query(self, task_id: str) -> Answer:
        return Answer("DescribeTaskDetail", await self.client.describe_task_detail(task_id))

    def start_token(self, since: datetime) -> str | None:
        return _join(_iso_text(since), None)

    async def list_page(self, token: str | None) -> Page:
        since, scroll = _split(token)
        answer = await self.client.describe_tasks(
            created_after=since, limit=100, scroll_token=scroll, sort_ascending=True
        )
        return _tc3_page(answer, since)

    async def list_running(self, since: datetime, until: datetime, token: str | None) -> Page:
        answer = await self.client.describe_tasks(
            status="PROCESSING",
            created_after=_iso_text(since),
            created_before=_iso_text(until),
            limit=100,
            scroll_token=token,
            sort_ascending=True,
        )
        return _tc3_page(answer, None)

    async def list_children(self, parent: str) -> list[ListedTask]:
        raise RuntimeError("tencent-vod-v3's task listing names tasks, not containers")

    def resume_token(self, token: str | None, page: Page, newest: datetime | None) -> str | None:
        return _resume_by_time(token, newest)

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        answer = await self.client.pull_events()
        inner = answer.get("Response") or {}
        events = [e for e in (inner.get("EventSet") or []) if isinstance(e, dict) and e.get("EventHandle")]
        return Answer("PullEvents", answer), [Pulled(str(e["EventHandle"]), e) for e in events]

    async def confirm(self, handles: list[str]) -> None:
        for start in range(0, len(handles), 16):
            await self.client.confirm_events(handles[start : start + 16])

    async def aclose(self) -> None:
        await self.client.aclose()


class MpsApi:
    """Tencent MPS: DescribeTaskDetail, DescribeTasks (StartTime, newest first, ScrollToken). No pull mode."""

    provider = Provider.TENCENT_MPS
    retention_s = 7 * DAY_S
    rate_per_s = HEADROOM * 100.0
    burst = 1.0
    can_list = True
    can_pull = False

    def __init__(self, settings: FallbackSourceSettings) -> None:
        self.client = MpsClient(
            Credential(settings.secret_id, settings.secret_key), endpoint=settings.endpoint, region=settings.region
        )
        self.pace: Pace = _unpaced

    async def query(self, task_id: str) -> Answer:
        return Answer("DescribeTaskDetail", await self.client.describe_task_detail(task_id))

    def start_token(self, since: datetime) -> str | None:
        return _join(_iso_text(since), None)

    async def list_page(self, token: str | None) -> Page:
        since, scroll = _split(token)
        return _tc3_page(await self.client.describe_tasks(start_time=since, limit=100, scroll_token=scroll), since)

    async def list_running(self, since: datetime, until: datetime, token: str | None) -> Page:
        # TaskSimpleInfo has no Status here: the filter says it, and each entry's zero FinishTime confirms it
        answer = await self.client.describe_tasks(
            status="PROCESSING", start_time=_iso_text(since), end_time=_iso_text(until), limit=100, scroll_token=token
        )
        return _tc3_page(answer, None)

    async def list_children(self, parent: str) -> list[ListedTask]:
        raise RuntimeError("tencent-mps's task listing names tasks, not containers")

    def resume_token(self, token: str | None, page: Page, newest: datetime | None) -> str | None:
        return _resume_by_time(token, newest)

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        raise RuntimeError("tencent-mps has no reliable-callback (pull) mode")

    async def confirm(self, handles: list[str]) -> None:
        raise RuntimeError("tencent-mps has no reliable-callback (pull) mode")

    async def aclose(self) -> None:
        await self.client.aclose()


VIDEO_PAGE = 100  # GetVideoList's largest page
TASK_PAGE = 50  # ListTranscodeTask's largest page


VIDEO_DONE = {"Normal", "TranscodeFail"}  # GetVideoList Status values that say the video's transcoding ended


def _video_page(answer: dict[str, Any], number: int) -> tuple[list[ListedTask], bool]:
    """A GetVideoList page as listed transcode keys (each a container of tasks, for the sweep), and whether
    another page follows (within the first VIDEO_LIST_CAP matches)."""
    holder = answer.get("VideoList")
    raw = holder.get("Video") if isinstance(holder, dict) else None
    videos = [v for v in (raw or []) if isinstance(v, dict) and v.get("VideoId")]
    tasks = [
        ListedTask(
            transcode_task_id(str(v["VideoId"])),
            _iso(v.get("CreationTime")),
            parent=str(v["VideoId"]),
            finished=False if v.get("Status") == "Transcoding" else True if v.get("Status") in VIDEO_DONE else None,
        )
        for v in videos
    ]
    try:
        total = int(answer.get("Total") or 0)
    except (TypeError, ValueError):
        total = 0
    return tasks, bool(videos) and number * VIDEO_PAGE < min(total, VIDEO_LIST_CAP)


class AliyunApi:
    """Alibaba Cloud VOD. The receiver keys a video's transcode reports on `transcode:<VideoId>` (callbacks
    carry no TranscodeTaskId), so a query first needs the video's newest TranscodeTaskId: the sweep learns it
    (GetVideoList by CreationTime, then ListTranscodeTask per new video), otherwise the query asks
    ListTranscodeTask itself (one more request, paid through `pace`) before GetTranscodeTask."""

    provider = Provider.ALIYUN_VOD
    retention_s = 365 * DAY_S
    rate_per_s = HEADROOM * 15.0
    burst = 1.0
    can_list = True
    can_pull = False

    def __init__(self, settings: FallbackSourceSettings) -> None:
        credential = Credential(settings.secret_id, settings.secret_key)
        if settings.region:
            self.client = AliyunVodClient(credential, endpoint=settings.endpoint, region=settings.region)
        else:
            self.client = AliyunVodClient(credential, endpoint=settings.endpoint)
        self.pace: Pace = _unpaced
        self._newest: dict[str, str] = {}  # VideoId -> its newest TranscodeTaskId, as listed

    async def query(self, task_id: str) -> Answer:
        video = video_of_task(task_id)
        if video is None:  # registered by its own TranscodeTaskId
            return Answer("GetTranscodeTask", await self.client.get_transcode_task(task_id))
        transcode_id = self._newest.get(video)
        if transcode_id is None:
            await self._list_video(video)
            transcode_id = self._newest.get(video)
            if transcode_id is None:
                raise ProviderError(
                    dialect="aliyun-vod",
                    action="ListTranscodeTask",
                    code="NoSuchResource",
                    message=f"video {video} has no transcode task (of the last year)",
                    not_found=True,
                )
            await self.pace()
        return Answer("GetTranscodeTask", await self.client.get_transcode_task(transcode_id))

    def start_token(self, since: datetime) -> str | None:
        return _join(_iso_text(since), None)

    async def list_page(self, token: str | None) -> Page:
        since, position = _split(token)
        number = int(position or 1)
        answer = await self.client.get_video_list(
            start_time=since, sort_by="CreationTime:Asc", page_size=VIDEO_PAGE, page_no=number
        )
        tasks, more = _video_page(answer, number)
        return Page(tasks, _join(since, str(number + 1)) if more else None)

    async def list_running(self, since: datetime, until: datetime, token: str | None) -> Page:
        """The videos being transcoded (GetVideoList `Status=Transcoding`), by their creation: the receiver keys
        a video's transcoding on the video (`transcode:<VideoId>`), and its Status follows its newest task."""
        number = int(token or 1)
        answer = await self.client.get_video_list(
            start_time=_iso_text(since),
            end_time=_iso_text(until),
            status="Transcoding",
            sort_by="CreationTime:Asc",
            page_size=VIDEO_PAGE,
            page_no=number,
        )
        tasks, more = _video_page(answer, number)
        return Page(tasks, str(number + 1) if more else None)

    async def list_children(self, parent: str) -> list[ListedTask]:
        newest = await self._list_video(parent)
        return [ListedTask(transcode_task_id(parent), newest)] if parent in self._newest else []

    async def _list_video(self, video: str) -> datetime | None:
        """ListTranscodeTask of one video: remember its newest task; returns that task's creation time."""
        answer = await self.client.list_transcode_task(video, page_size=TASK_PAGE)
        raw = answer.get("TranscodeTaskList") or []
        listed = [t for t in raw if isinstance(t, dict) and t.get("TranscodeTaskId")]
        if not listed:
            return None
        newest = max(listed, key=lambda t: _iso(t.get("CreationTime")) or datetime.min.replace(tzinfo=UTC))
        self._newest[video] = str(newest["TranscodeTaskId"])
        return _iso(newest.get("CreationTime"))

    def resume_token(self, token: str | None, page: Page, newest: datetime | None) -> str | None:
        return _resume_by_time(token, newest)

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        raise RuntimeError("aliyun-vod has no reliable-callback (pull) mode here")

    async def confirm(self, handles: list[str]) -> None:
        raise RuntimeError("aliyun-vod has no reliable-callback (pull) mode here")

    async def aclose(self) -> None:
        await self.client.aclose()


APIS: dict[str, type[LegacyApi] | type[VodV3Api] | type[MpsApi] | type[AliyunApi]] = {
    "tencent-vod-v2": LegacyApi,
    "tencent-vod-v3": VodV3Api,
    "tencent-mps": MpsApi,
    "aliyun-vod": AliyunApi,
}


def provider_api(dialect: str, settings: FallbackSourceSettings) -> ProviderApi:
    """The adapter for a source's dialect; a dialect we cannot query raises ValueError naming it."""
    if dialect not in APIS:
        raise ValueError(f"fallback: dialect {dialect!r} cannot be queried (known: {', '.join(APIS)})")
    return APIS[dialect](settings)
