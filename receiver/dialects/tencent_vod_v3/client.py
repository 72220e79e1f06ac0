"""Query client for Tencent VOD API 3.0 (`vod.tencentcloudapi.com`, 2018-07-17), signed TC3-HMAC-SHA256.

DescribeTaskDetail and DescribeTasks for the fallback's polling and sweep, PullEvents and ConfirmEvents for
reliable-callback (pull) mode. Each method returns the decoded `{"Response": {…}}` document unchanged (the
dialect normalizes it like a callback) or raises `ProviderError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from receiver.signing.query import ProviderError, Tc3ApiClient

__all__ = ["ProviderError", "VodV3Client"]


class VodV3Client(Tc3ApiClient):
    """`VodV3Client(Credential(id, key), endpoint="http://127.0.0.1:8000")` points it at the emulator."""

    dialect = "tencent-vod-v3"
    service = "vod"
    version = "2018-07-17"
    default_endpoint = "https://vod.tencentcloudapi.com"

    async def describe_task_detail(self, task_id: str, *, sub_app_id: int | None = None) -> dict[str, Any]:
        """One task of the last 3 days; an older or unknown one raises `ProviderError(not_found=True)`."""
        return await self.call("DescribeTaskDetail", {"TaskId": task_id, "SubAppId": sub_app_id})

    async def describe_tasks(
        self,
        *,
        status: str | None = None,
        file_id: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        sort_ascending: bool | None = None,
        limit: int | None = None,
        scroll_token: str | None = None,
        sub_app_id: int | None = None,
    ) -> dict[str, Any]:
        """A page of the task listing (`TaskSet`, `ScrollToken`); times are ISO 8601 UTC strings."""
        create_time = {"After": created_after, "Before": created_before}
        params: dict[str, Any] = {
            "Status": status,
            "FileId": file_id,
            "CreateTime": {k: v for k, v in create_time.items() if v is not None} or None,
            "Sort": None
            if sort_ascending is None
            else {"Field": "CreateTime", "Order": "Asc" if sort_ascending else "Desc"},
            "Limit": limit,
            "ScrollToken": scroll_token,
            "SubAppId": sub_app_id,
        }
        return await self.call("DescribeTasks", params)

    async def pull_events(self, *, sub_app_id: int | None = None, ext_info: str | None = None) -> dict[str, Any]:
        """Up to 16 queued events (`EventSet`). An empty queue answers `ResourceNotFound` (documented in the
        VOD tutorial); that is returned as an empty `EventSet`, not raised."""
        try:
            return await self.call("PullEvents", {"ExtInfo": ext_info, "SubAppId": sub_app_id})
        except ProviderError as exc:
            if exc.code != "ResourceNotFound":
                raise
            return {"Response": {"EventSet": [], "RequestId": exc.request_id}}

    async def confirm_events(
        self, handles: Sequence[str], *, sub_app_id: int | None = None, ext_info: str | None = None
    ) -> dict[str, Any]:
        """Confirm pulled events (at most 16 handles per call, within 30 s of the pull)."""
        if not handles:
            raise ValueError("confirm_events needs at least one EventHandle")
        if len(handles) > 16:
            raise ValueError(f"ConfirmEvents takes at most 16 EventHandles, got {len(handles)}")
        return await self.call(
            "ConfirmEvents", {"EventHandles": list(handles), "ExtInfo": ext_info, "SubAppId": sub_app_id}
        )
