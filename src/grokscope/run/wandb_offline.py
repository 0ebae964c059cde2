"""Read an offline WandB run (``run-*.wandb``) without syncing it: config, history rows, summary.

The ``.wandb`` file is a LevelDB-style record log: a 7-byte file header (``:W&B``, magic, version), then
32 KiB blocks of records, each with a 7-byte header (CRC32C, little-endian ``uint16`` length, type:
1 full, 2 first, 3 middle, 4 last) followed by a serialised ``wandb.proto.Record``.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

#: an offline run's directory: ``offline-run-<date>_<time>-<run id>``, and ``-<n>`` after it when WandB started an
#: attempt of the same run within the same second as an earlier one
OFFLINE_RUN = re.compile(r"offline-run-\d{8}_\d{6}-([A-Za-z0-9_]+)(?:-\d+)?")


def offline_run_id(path: Path) -> str | None:
    """The WandB run id of an ``offline-run-*`` directory (None: not one)."""
    match = OFFLINE_RUN.fullmatch(Path(path).name)
    return match.group(1) if match else None

BLOCK = 32 * 1024
FILE_HEADER, RECORD_HEADER = 7, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes):
    """Yield each record's payload, joining records split across blocks."""
    pos, parts = FILE_HEADER, []
    while pos + RECORD_HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < RECORD_HEADER:  # block trailer padding
            pos += room
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        if kind == 0 and length == 0:  # zero padding at the end of a block or file
            pos += room
            continue
        chunk = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            parts = [chunk]
        elif kind == MIDDLE:
            parts.append(chunk)
        elif kind == LAST:
            yield b"".join([*parts, chunk])


def read_offline_run(path: Path | str) -> dict:
    """``{"config": {...}, "history": [{key: value}, ...], "summary": {...}, "metrics": {name: step metric},
    "artifacts": [{"name", "type", "aliases", "files"}], "id", "name", "group", "job_type", "tags"}`` of an
    offline run (``metrics``: its ``define_metric`` calls, a glob name such as ``*`` included).

    ``path`` is a ``run-*.wandb`` file or an ``offline-run-*`` directory holding one.
    """
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    if path.is_dir():
        path = next(path.glob("run-*.wandb"))
    run: dict = {"config": {}, "history": [], "summary": {}, "metrics": {}, "artifacts": []}
    for payload in _payloads(path.read_bytes()):
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except DecodeError:  # the last record of a killed process
            break
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(id=record.run.run_id, name=record.run.display_name, group=record.run.run_group,
                       job_type=record.run.job_type, tags=list(record.run.tags))
        if kind in ("run", "config"):
            updates = record.run.config.update if kind == "run" else record.config.update
            values = {i.key: json.loads(i.value_json) for i in updates}
            run["config"].update({k: v["value"] if isinstance(v, dict) and "value" in v else v
                                  for k, v in values.items() if not k.startswith("_")})
        elif kind == "artifact":
            run["artifacts"].append({"name": record.artifact.name, "type": record.artifact.type,
                                     "aliases": list(record.artifact.aliases),
                                     "files": [entry.path for entry in record.artifact.manifest.contents]})
        elif kind == "metric":
            run["metrics"][record.metric.name or record.metric.glob_name] = record.metric.step_metric
        elif kind == "history":
            run["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in record.history.item})
        elif kind == "summary":
            run["summary"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in record.summary.update})
    return run


def logged_through(wandb_dir: Path, run_id: str) -> int:
    """The last ``epoch`` any offline attempt of WandB run ``run_id`` under ``wandb_dir`` logged (-1: none)."""
    epochs = [row["epoch"] for attempt in sorted(Path(wandb_dir).glob("offline-run-*"))
              if offline_run_id(attempt) == run_id and any(attempt.glob("run-*.wandb"))
              for row in read_offline_run(attempt)["history"] if "epoch" in row]
    return int(max(epochs, default=-1))
