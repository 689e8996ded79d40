"""The simulated account's fixed data: regions, the reference date and the seed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# The regions the simulated API accepts for new snapshots (the API's enum since 2025-05).
# Kept apart from models.KNOWN_REGIONS (the client's knowledge) so the simulator stays
# free of the package; a test keeps them equal, less the dropped regions below.
KNOWN_REGIONS: tuple[str, ...] = (
    "EUC-DE-MUC-1",
    "EUW-GB-MNC-1",
    "EUW-NL-AMS-1",
    "NA-CA-FTS-1",
    "NA-CA-MNZ-1",
    "NA-CA-PRG-1",
    "NORD-NO-KRS-1",
)
DROPPED_REGIONS: tuple[str, ...] = ("ARC-IS-HAF-1",)
"""Regions left out of the enum (2025-02): refused for new snapshots, still on legacy data."""
REFERENCE_DATE = datetime(2026, 11, 1, tzinfo=UTC)

SNAPSHOT_FIELDS = (
    "id",
    "name",
    "size",
    "region",
    "status",
    "os_type",
    "source_instance_id",
    "created_at",
    "updated_at",
)
"""A seed row's columns; ``source_instance_id`` None means the key is left out (a URL import)."""
SEED_SNAPSHOTS: tuple[tuple[str, str, int, str, str, str, str | None, str, str], ...] = (
    # Legacy data, kept on purpose: made before ARC-IS-HAF-1 left the enum, on an account
    # that still reports the pre-2025-02 status `active` for `created`. Its instance went
    # with the region, so it names no source. The only `active` and the only dropped region.
    ("8fdc4100-0a26-4948-8e7f-53df5b440339", "legacy-centos-7-gpu", 50, "ARC-IS-HAF-1", "active", "linux",
     None, "2025-05-12T08:14:03.412Z", "2025-05-12T08:28:03.412Z"),
    ("ebc879bb-2363-4326-bf38-eca0be7b7921", "ubuntu-22.04-cuda-12.4", 64, "NORD-NO-KRS-1", "created",
     "linux", None, "2025-06-30T14:02:51.077Z", "2025-06-30T14:24:51.077Z"),
    ("9607c382-cdbd-42ad-b42e-38298191bb45", "win-server-2022-base", 80, "EUW-NL-AMS-1", "created", "windows",
     None, "2025-08-19T09:45:12.930Z", "2025-08-20T10:16:12.930Z"),
    ("f8b41b73-3e62-42ab-8c3d-1c419e4c85df", "jupyter-research-env", 40, "NA-CA-FTS-1", "created", "linux",
     "97cfb5bd-ec4a-4a07-9170-2326dcd73298", "2025-10-02T16:20:33.518Z", "2025-10-02T16:29:33.518Z"),
    ("2e49aa33-1927-428a-9f33-a29ef0149069", "k8s-node-gpu-2025-11", 100, "NA-CA-MNZ-1", "created", "linux",
     None, "2025-11-14T11:07:44.205Z", "2025-11-16T11:20:44.205Z"),
    ("6efe4b2d-d265-47ce-ab96-80bc40f17639", "stable-diffusion-xl-worker", 128, "EUW-GB-MNC-1", "created",
     "linux", "1975d15c-0c98-4ea6-b06d-7cf4d997a8a7", "2026-01-08T07:58:19.664Z", "2026-01-08T08:29:19.664Z"),
    ("a52b3f26-7a60-4c50-9f21-fba2e5ab02ce", "llm-finetune-2026-03", 512, "NORD-NO-KRS-1", "created", "linux",
     "881a1b54-dfc5-42eb-9efa-16e1b30e5106", "2026-03-21T22:31:05.301Z", "2026-03-21T23:18:05.301Z"),
    ("de988491-9bf9-4bf5-a737-e4caacfd83ae", "rendering-blender-4.2", 60, "NA-CA-PRG-1", "created", "linux",
     None, "2026-05-05T13:12:40.889Z", "2026-05-08T13:31:40.889Z"),
    ("09c01ea7-a09b-42a1-a2ec-12e0022fff8c", "win-server-2022-cuda", 120, "EUC-DE-MUC-1", "error", "windows",
     None, "2026-07-17T10:03:27.146Z", "2026-07-17T10:21:27.146Z"),
    ("3f2ac9b3-dd02-4487-b890-1a86378cb101", "llama-3-70b-serving", 256, "NORD-NO-KRS-1", "created", "linux",
     "0c73d690-b461-423f-9f78-7f1290151773", "2026-09-09T18:44:58.752Z", "2026-09-09T19:10:58.752Z"),
    ("3d22a6ab-324c-4da8-ad61-383bedf8deb9", "nightly-backup-2026-10-30", 200, "EUW-NL-AMS-1",
     "pending_delete", "linux", "0bfa28c9-6019-4c56-9d75-382477cf3643", "2026-10-30T02:00:11.023Z",
     "2026-10-31T02:07:11.023Z"),
    ("187c7755-36f9-4e16-92f0-41acedfc3cfb", "ubuntu-24.04-cuda-12.6", 64, "NORD-NO-KRS-1", "creating",
     "linux", None, "2026-10-31T21:37:26.590Z", "2026-10-31T21:37:26.590Z"),
)  # fmt: skip

_UBUNTU_22 = {"id": "faed0735-05fe-45aa-a951-4fb0ce544700", "name": "Ubuntu 22.04"}
_UBUNTU_20 = {"id": "3d382a29-d714-4d41-8b44-a4130529476c", "name": "Ubuntu 20.04"}
_WINDOWS = {"id": "420e2c8c-76ec-4fde-8d07-bd6a1c171f23", "name": "Windows Server 2022"}
_CUDA_SNAPSHOT = {"id": "ebc879bb-2363-4326-bf38-eca0be7b7921", "name": "ubuntu-22.04-cuda-12.4"}
_ALICE = {"id": "4f569651-6d9f-4e17-92e7-abff58b2e181", "name": "alice@workstation"}
_CI = {"id": "2279547f-1e6e-4ad7-a5fa-40de99033baf", "name": "ci-deploy"}
_STANDARD = {"id": "47b4a622-41c3-484c-b0b1-edc3a7947d82", "name": "standard"}
_JUPYTER = {"id": "168fec49-f476-467b-be38-d6ae087a062d", "name": "jupyter-8888"}
_DATASETS = {"id": "d22bee5d-7663-4f57-9743-bfba52cdc4d3", "name": "datasets-krs"}
_MODELS = {"id": "c9a1b13e-aab9-4241-80ea-087c8f531738", "name": "model-cache"}

INSTANCE_FIELDS = (
    "id", "name", "region", "status", "type", "os_type", "image", "public_ip", "private_ip", "disk_size",
    "created_at", "updated_at", "ssh_keys", "volumes", "security_groups",
)  # fmt: skip
"""A seed instance row's columns; ``hostname`` is the name, as the API defaults it."""
SEED_INSTANCES: tuple[tuple[Any, ...], ...] = (
    # Five instances are the sources named by seed snapshots (ids, regions and disk sizes
    # agree); IPs are from the documentation ranges; no address while creating or failed.
    ("97cfb5bd-ec4a-4a07-9170-2326dcd73298", "jupyter-lab", "NA-CA-FTS-1", "active",
     "vcpu-8_memory-48g_nvidia-rtx-3090-1", "linux", _UBUNTU_20, "203.0.113.40", "10.1.0.8", 40,
     "2025-09-18T08:30:12.554Z", "2025-10-02T16:18:40.001Z", [_ALICE], [], [_STANDARD, _JUPYTER]),
    ("1975d15c-0c98-4ea6-b06d-7cf4d997a8a7", "sdxl-worker", "EUW-GB-MNC-1", "stopping",
     "vcpu-16_memory-96g_nvidia-rtx-4090-2", "linux", _UBUNTU_22, "203.0.113.77", "10.2.0.5", 128,
     "2025-12-20T10:00:05.310Z", "2026-10-31T23:55:40.218Z", [_ALICE, _CI], [], [_STANDARD]),
    ("881a1b54-dfc5-42eb-9efa-16e1b30e5106", "training-box", "NORD-NO-KRS-1", "stopped",
     "vcpu-96_memory-960g_nvidia-h100-8", "linux", _UBUNTU_22, None, "10.0.1.23", 512,
     "2026-02-14T09:12:33.045Z", "2026-10-12T17:45:10.902Z", [_ALICE], [_DATASETS, _MODELS], [_STANDARD]),
    ("0c73d690-b461-423f-9f78-7f1290151773", "gpu-worker-1", "NORD-NO-KRS-1", "active",
     "vcpu-24_memory-240g_nvidia-h100-1", "linux", _UBUNTU_22, "203.0.113.14", "10.0.1.14", 256,
     "2026-08-27T12:03:44.120Z", "2026-09-09T18:40:02.311Z", [_ALICE, _CI], [_MODELS], [_STANDARD]),
    ("0bfa28c9-6019-4c56-9d75-382477cf3643", "db-backup-host", "EUW-NL-AMS-1", "active",
     "vcpu-4_memory-16g", "linux", _UBUNTU_22, "203.0.113.121", "10.3.0.2", 200,
     "2025-07-03T07:41:18.667Z", "2026-10-30T01:58:02.440Z", [_CI], [], [_STANDARD]),
    ("cde7603b-97bb-457f-88a4-7dadd97358b8", "win-build-agent", "EUC-DE-MUC-1", "error",
     "vcpu-16_memory-96g_nvidia-rtx-4090-1", "windows", _WINDOWS, None, None, 120,
     "2026-10-20T14:22:51.908Z", "2026-10-20T14:31:07.115Z", [], [], [_STANDARD]),
    ("3be1e2de-dca6-4781-8e10-11f7d41275e4", "gpu-worker-2", "NORD-NO-KRS-1", "creating",
     "vcpu-24_memory-240g_nvidia-h100-1", "linux", _CUDA_SNAPSHOT, None, None, 64,
     "2026-10-31T23:48:09.733Z", "2026-10-31T23:48:09.733Z", [_ALICE, _CI], [], [_STANDARD]),
)  # fmt: skip


IMAGES = {"linux": _UBUNTU_22, "windows": _WINDOWS}
"""The base image ``add_instance`` gives an instance of each os_type."""


def instance_from_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """An instance row in the Instance shape, its nested objects copied (never shared)."""
    inst = dict(zip(INSTANCE_FIELDS, row, strict=True))
    nested = {key: [dict(item) for item in inst[key]] for key in ("ssh_keys", "volumes", "security_groups")}
    head = {"id": inst["id"], "name": inst["name"], "hostname": inst["name"]}
    return {**head, **inst, "image": dict(inst["image"]), **nested}
