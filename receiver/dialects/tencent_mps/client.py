"""Query client for Tencent MPS (`mps.tencentcloudapi.com`, 2019-06-12), signed TC3-HMAC-SHA256.

DescribeTaskDetail (tasks of the last 7 days) for the fallback's polling, DescribeTasks for its sweep. Each
method returns the decoded `{"Response": {…}}` document unchanged or raises `ProviderError`.
"""

from __future__ import annotations

from typing import Any

from receiver.signing.query import ProviderError, Tc3ApiClient

__all__ = ["MpsClient", "ProviderError"]


class MpsClient(Tc3ApiClient):
    """`MpsClient(Credential(id, key), endpoint="http://127.0.0.1:8000")` points it at the emulator."""

    dialect = "tencent-mps"
    service = "mps"
    version = "2019-06-12"
    default_endpoint = "https://mps.tencentcloudapi.com"

    async def describe_task_detail(self, task_id: str) -> dict[str, Any]:
        """One task; an unknown or expired one raises `ProviderError(not_found=True)`."""
        return await self.call("DescribeTaskDetail", {"TaskId": task_id})

    async def describe_tasks(
        self,
        *,
        status: str | None = None,
        sub_task_has_failed: bool | None = None,
        limit: int | None = None,
        scroll_token: str | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
    ) -> dict[str, Any]:
        """A page of the task listing (`TaskSet`, `ScrollToken`, `TotalCount`); times ISO 8601 UTC."""
        params: dict[str, Any] = {
            "Status": status,
            "SubTaskHasFailed": sub_task_has_failed,
            "Limit": limit,
            "ScrollToken": scroll_token,
            "StartTime": start_time,
            "EndTime": end_time,
        }
        return await self.call("DescribeTasks", params)
