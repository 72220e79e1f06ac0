"""Tencent VOD task building shared by the legacy (v2) and API 3.0 dialects: kinds, ids and URLs.

URL shapes follow the references' samples: `http://<AppId>.vod2.myqcloud.com/<8hex>vodgzp<AppId>/<FileId>/...`
(legacy `f20.mp4`, 3.0 `v.f100030.mp4`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from receiver.emulator.bodies.common import Rendition, base_task, check_kind, make_media, plan_outputs
from receiver.emulator.ids import IdSource
from receiver.emulator.simulation import SimOutput, SimTask, TaskRequest

KINDS = ("procedure", "transcode", "clip", "concat", "snapshot", "sprite")

DEFAULT_APP_ID = "1500000000"

#: Per kind: the default outputs. Transcodes are renditions; snapshots are pictures; sprites one set;
#: clips one file; concatenations one file per container.
LEGACY_RENDITIONS = (
    Rendition("10", 320, 180, 256_000, "mp4"),
    Rendition("20", 640, 360, 512_000, "mp4"),
    Rendition("30", 1280, 720, 1_024_000, "mp4"),
)
V3_RENDITIONS = (
    Rendition("100010", 640, 360, 400_000, "mp4"),
    Rendition("100020", 960, 540, 800_000, "mp4"),
    Rendition("100030", 1280, 720, 1_200_000, "mp4"),
)
SNAPSHOTS = (
    Rendition("10", 1280, 720, 0, "jpg"),
    Rendition("10", 1280, 720, 0, "jpg"),
    Rendition("10", 1280, 720, 0, "jpg"),
)
SPRITES = (Rendition("10", 142, 80, 0, "jpg"),)
CLIPS = (Rendition("0", 1920, 1080, 2_000_000, "mp4"),)
CONCATS = (Rendition("0", 1920, 1080, 2_000_000, "m3u8"), Rendition("0", 1920, 1080, 2_000_000, "mp4"))


@dataclass(frozen=True)
class Flavor:
    """What differs between the two VOD generations when building a task."""

    renditions: tuple[Rendition, ...]
    task_suffix: str  # 3.0 ids end in `t0`; legacy ones do not
    file_prefix: str  # legacy `f20.mp4`, 3.0 `v.f100030.mp4`
    bucket_infix: str


LEGACY = Flavor(LEGACY_RENDITIONS, "", "f", "vodgzp")
V3 = Flavor(V3_RENDITIONS, "t0", "v.f", "vodtransgzp")


def defaults_for(kind: str, flavor: Flavor) -> tuple[Rendition, ...]:
    return {
        "procedure": flavor.renditions,
        "transcode": flavor.renditions,
        "snapshot": SNAPSHOTS,
        "sprite": SPRITES,
        "clip": CLIPS,
        "concat": CONCATS,
    }[kind]


def task_id(kind: str, app_id: str, ids: IdSource, flavor: Flavor) -> str:
    token = ids.hex(32)
    if flavor is V3:
        label = {
            "procedure": "procedurev2",
            "transcode": "transcode",
            "clip": "clip",
            "concat": "concat",
            "snapshot": "snapshotByTimeOffset",
            "sprite": "imageSprite",
        }[kind]
        return f"{app_id}-{label}-{token}{flavor.task_suffix}"
    return {
        "procedure": f"{app_id}-procedurev2-{token}",
        "transcode": f"{app_id}-transcode-{token}",
        "clip": f"clipVideo-{token[:19]}",
        "concat": f"concat-{token}",
        "snapshot": f"CreateSnapshotByTimeOffset-{token}",
        "sprite": f"CreateImageSprite-{token}",
    }[kind]


def build_task(
    request: TaskRequest,
    ordinal: int,
    created_at: datetime,
    seed: int,
    *,
    flavor: Flavor,
    app_id: str,
    region: str,
) -> SimTask:
    kind = check_kind(request, KINDS)
    ids = IdSource(seed, "task", ordinal)
    media = make_media(ids)
    outputs = plan_outputs(request, defaults_for(kind, flavor), ids, media)
    file_id = ids.file_id()
    bucket = f"{ids.hex(8)}{flavor.bucket_infix}{app_id}"
    base = f"http://{app_id}.vod2.myqcloud.com/{bucket}"
    task = base_task(
        request,
        ordinal=ordinal,
        created_at=created_at,
        kind=kind,
        task_id=task_id(kind, app_id, ids, flavor),
        file_id=file_id,
        file_name=f"video_{ids.hex(8)}",
        file_url=f"{base}/{request.file_id or file_id}/{ids.hex(8)}.mp4",
        media=media,
        outputs=outputs,
        app_id=app_id,
        region=region,
    )
    task.extra.setdefault("url_base", f"{base}/{task.file_id}")
    for output in outputs:
        output.url = output_url(task, output, flavor, ids)
    if kind in ("clip", "concat"):
        task.extra.setdefault("new_file_id", ids.file_id())
    return task


def output_url(task: SimTask, output: SimOutput, flavor: Flavor, ids: IdSource) -> str:
    base = str(task.extra["url_base"])
    if task.kind == "snapshot":
        return f"{base}/snapshotByTimeOffset/snapshotByTimeOffset_{output.definition}_{output.index}.jpg"
    if task.kind == "sprite":
        return f"{base}/imageSprite/imageSprite_{output.definition}_0.jpg"
    if task.kind in ("clip", "concat"):
        return f"{base.rsplit('/', 1)[0]}/{ids.hex(8)}/playlist.{output.container}"
    return f"{base}/{flavor.file_prefix}{output.definition}.{output.container}"


def definition_int(output: SimOutput) -> int:
    """Tencent template ids are integers; a non-numeric label (a mistake in a request) reads as 0."""
    return int(output.definition) if output.definition.isdigit() else 0


def snapshot_offset_ms(output: SimOutput) -> int:
    return (output.index + 1) * 1000


def cover_url(task: SimTask) -> str:
    return f"{task.extra['url_base']}/coverBySnapshot/1_cover_10.jpg"
