"""One adapter per dialect over its query client: what the fallback needs, and nothing provider-specific above.

Retention windows and published query limits come from shared/providers/*.md: legacy VOD keeps tasks 72 h and
allows 100 queries/min; VOD 3.0 keeps 3 days and MPS 7 days, both 100 queries/s; Alibaba VOD keeps a year
and allows 15 queries/s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from receiver.config import FallbackSourceSettings
from receiver.dialects.aliyun_vod.client import AliyunVodClient
from receiver.dialects.tencent_mps.client import MpsClient
from receiver.dialects.tencent_vod_v2.client import LegacyVodClient
from receiver.dialects.tencent_vod_v3.client import VodV3Client
from receiver.model import Provider
from receiver.signing import Credential

DAY_S = 86400.0


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
    task_id: str
    created_at: datetime | None


@dataclass(frozen=True)
class Page:
    tasks: list[ListedTask]
    next_token: str | None  # None: this was the last page


@dataclass(frozen=True)
class Pulled:
    handle: str
    document: Any


class ProviderApi(Protocol):
    provider: Provider
    retention_s: float
    rate_per_s: float
    burst: float
    can_list: bool
    can_pull: bool

    async def query(self, task_id: str) -> Answer: ...

    async def list_page(self, token: str | None) -> Page: ...

    def resume_token(self, token: str | None, page: Page) -> str | None:
        """Where the next sweep starts after the last page (new tasks come after it)."""
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
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


class LegacyApi:
    """Tencent VOD legacy (API 2.0): GetTaskInfo, GetTaskList (offset cursor `next`), PullEvent/ConfirmEvent."""

    provider = Provider.TENCENT_VOD
    retention_s = 72 * 3600.0
    rate_per_s = 100 / 60.0
    burst = 10.0
    can_list = True
    can_pull = True

    def __init__(self, settings: FallbackSourceSettings) -> None:
        self.client = LegacyVodClient(
            Credential(settings.secret_id, settings.secret_key), endpoint=settings.endpoint, region=settings.region
        )

    async def query(self, task_id: str) -> Answer:
        return Answer("GetTaskInfo", await self.client.get_task_info(task_id))

    async def list_page(self, token: str | None) -> Page:
        answer = await self.client.get_task_list(next_cursor=token or None, size=100)
        raw = answer.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        items = [i for i in (data.get("taskList") or []) if isinstance(i, dict) and i.get("vodTaskId")]
        tasks = [ListedTask(str(i["vodTaskId"]), _unix(i.get("createTime"))) for i in items]
        following = str(data.get("next") or "")
        return Page(tasks, following or None)

    def resume_token(self, token: str | None, page: Page) -> str | None:
        return str(int(token or 0) + len(page.tasks))

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        answer = await self.client.pull_event()
        events = [e for e in (answer.get("eventList") or []) if isinstance(e, dict) and e.get("msgHandle")]
        return Answer("PullEvent", answer), [Pulled(str(e["msgHandle"]), e.get("eventContent")) for e in events]

    async def confirm(self, handles: list[str]) -> None:
        await self.client.confirm_event(handles)

    async def aclose(self) -> None:
        await self.client.aclose()


def _tc3_page(document: dict[str, Any]) -> Page:
    answer = document.get("Response") or {}
    items = [i for i in (answer.get("TaskSet") or []) if isinstance(i, dict) and i.get("TaskId")]
    tasks = [ListedTask(str(i["TaskId"]), _iso(i.get("CreateTime"))) for i in items]
    return Page(tasks, str(answer.get("ScrollToken") or "") or None)


class VodV3Api:
    """Tencent VOD API 3.0: DescribeTaskDetail, DescribeTasks (ScrollToken), PullEvents/ConfirmEvents."""

    provider = Provider.TENCENT_VOD
    retention_s = 3 * DAY_S
    rate_per_s = 100.0
    burst = 100.0
    can_list = True
    can_pull = True

    def __init__(self, settings: FallbackSourceSettings) -> None:
        self.client = VodV3Client(
            Credential(settings.secret_id, settings.secret_key), endpoint=settings.endpoint, region=settings.region
        )

    async def query(self, task_id: str) -> Answer:
        return Answer("DescribeTaskDetail", await self.client.describe_task_detail(task_id))

    async def list_page(self, token: str | None) -> Page:
        return _tc3_page(await self.client.describe_tasks(limit=100, scroll_token=token, sort_ascending=True))

    def resume_token(self, token: str | None, page: Page) -> str | None:
        return None  # a ScrollToken names a task id; walk the whole (3-day) listing again next time

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        answer = await self.client.pull_events()
        inner = answer.get("Response") or {}
        events = [e for e in (inner.get("EventSet") or []) if isinstance(e, dict) and e.get("EventHandle")]
        return Answer("PullEvents", answer), [Pulled(str(e["EventHandle"]), e) for e in events]

    async def confirm(self, handles: list[str]) -> None:
        for start in range(0, len(handles), 16):
            await self.client.confirm_events(handles[start:start + 16])

    async def aclose(self) -> None:
        await self.client.aclose()


class MpsApi:
    """Tencent MPS: DescribeTaskDetail, DescribeTasks (newest first, ScrollToken). No pull mode."""

    provider = Provider.TENCENT_MPS
    retention_s = 7 * DAY_S
    rate_per_s = 100.0
    burst = 100.0
    can_list = True
    can_pull = False

    def __init__(self, settings: FallbackSourceSettings) -> None:
        self.client = MpsClient(
            Credential(settings.secret_id, settings.secret_key), endpoint=settings.endpoint, region=settings.region
        )

    async def query(self, task_id: str) -> Answer:
        return Answer("DescribeTaskDetail", await self.client.describe_task_detail(task_id))

    async def list_page(self, token: str | None) -> Page:
        return _tc3_page(await self.client.describe_tasks(limit=100, scroll_token=token))

    def resume_token(self, token: str | None, page: Page) -> str | None:
        return None

    async def pull(self) -> tuple[Answer, list[Pulled]]:
        raise RuntimeError("tencent-mps has no reliable-callback (pull) mode")

    async def confirm(self, handles: list[str]) -> None:
        raise RuntimeError("tencent-mps has no reliable-callback (pull) mode")

    async def aclose(self) -> None:
        await self.client.aclose()


class AliyunApi:
    """Alibaba Cloud VOD: GetTranscodeTask. ListTranscodeTask needs a VideoId, so there is no account-wide
    listing to sweep: tasks are found by their first event or by registration."""

    provider = Provider.ALIYUN_VOD
    retention_s = 365 * DAY_S
    rate_per_s = 15.0
    burst = 15.0
    can_list = False
    can_pull = False

    def __init__(self, settings: FallbackSourceSettings) -> None:
        credential = Credential(settings.secret_id, settings.secret_key)
        if settings.region:
            self.client = AliyunVodClient(credential, endpoint=settings.endpoint, region=settings.region)
        else:
            self.client = AliyunVodClient(credential, endpoint=settings.endpoint)

    async def query(self, task_id: str) -> Answer:
        return Answer("GetTranscodeTask", await self.client.get_transcode_task(task_id))

    async def list_page(self, token: str | None) -> Page:
        raise RuntimeError("aliyun-vod has no account-wide task listing (ListTranscodeTask needs a VideoId)")

    def resume_token(self, token: str | None, page: Page) -> str | None:
        return None

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
