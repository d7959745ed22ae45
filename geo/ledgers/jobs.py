"""Import jobs: the import page's preview and confirmation of a large file run in a
thread of the web process, and report their progress — rows read, validated, written —
in an ``import_job`` row that the page polls (no daemon, no queue: at most
:data:`MAX_RUNNING` jobs of a process run at once, the others wait their turn).

The import itself keeps its guarantees: it writes in one transaction of its own
(:func:`geo.ledgers.ledger.import_ledger`), committed with its audit entry or not at
all; the job row is written apart, in short transactions, so the page sees it move. A
job whose process ended while it ran (no progress for :data:`STALE_MINUTES`) is shown as
failed: its transaction never committed, so nothing of it was written.

>>> job = create_job(engine, user.id, "children", "村台账.xlsx", dry_run=True)  # doctest: +SKIP
>>> start(engine, job, lambda progress: {"rows": 1})                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.errors import GeoError, NotFound
from geo.store import memory

MAX_RUNNING = 2
STALE_MINUTES = 15
# Where each stage sits on the progress bar: (start, width) in percent.
SPAN = {"queued": (0, 0), "read": (0, 25), "validate": (25, 35), "write": (60, 40),
        "done": (100, 0)}
# Progress is written at most this often (seconds), and whenever the stage changes.
EVERY_S = 0.2
_slots = threading.BoundedSemaphore(MAX_RUNNING)
log = logging.getLogger(__name__)


def create_job(engine: Engine, user_id: int | None, kind: str, file: str,
               dry_run: bool) -> int:
    """A new job, committed at once (the thread and the page's polls see it)."""
    with engine.begin() as conn:
        return conn.execute(sa.text(
            "INSERT INTO import_job (user_id, kind, file, dry_run) VALUES (:u, :k, :f, :d) "
            "RETURNING id"), {"u": user_id, "k": kind, "f": file[:200], "d": dry_run}
        ).scalar_one()


def _set(engine: Engine, job_id: int, **values) -> None:
    sets = ", ".join(f"{k} = CAST(:{k} AS jsonb)" if k == "result" else f"{k} = :{k}"
                     for k in values)
    if "result" in values:
        values["result"] = json.dumps(values["result"], ensure_ascii=False, default=str)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE import_job SET {sets}, updated_at = now() "
                             "WHERE id = :id"), {**values, "id": job_id})


def percent(stage: str, done: int, total: int | None) -> int:
    start, width = SPAN.get(stage, (0, 0))
    share = (done / total) if total else 0.0
    return max(0, min(100, round(start + width * share)))


def start(engine: Engine, job_id: int, work: Callable[[Callable], dict]) -> threading.Thread:
    """Run ``work(progress)`` in a thread; its return value is the job's result. An error
    fails the job with its message (a :class:`GeoError`'s words, else a plain one)."""
    thread = threading.Thread(target=_run, args=(engine, job_id, work),
                              name=f"import-job-{job_id}", daemon=True)
    thread.start()
    return thread


def _run(engine: Engine, job_id: int, work: Callable[[Callable], dict]) -> None:
    with _slots:
        last = {"stage": None, "at": 0.0}

        def progress(stage: str, done: int, total: int | None) -> None:
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < EVERY_S and done != total:
                return
            last.update(stage=stage, at=now)
            _set(engine, job_id, stage=stage, done=int(done), total=total)

        try:
            _set(engine, job_id, status="running")
            result = work(progress)
        except GeoError as exc:
            _set(engine, job_id, status="failed", error=exc.message)
        except Exception:
            log.exception("import job %s failed", job_id)
            _set(engine, job_id, status="failed",
                 error="导入出错，未写入任何数据，请稍后重试或联系管理员")
        else:
            _set(engine, job_id, status="done", stage="done", result=result)
        finally:
            # The page answered long ago: the file's memory goes back when the job ends.
            memory.release()


def get_job(conn: Connection, job_id: int, user_id: int) -> dict:
    """The job ``job_id`` of user ``user_id`` (NotFound for anyone else's), with its
    percent and a sentence for the page."""
    row = conn.execute(sa.text(
        "SELECT *, updated_at < now() - make_interval(mins => :stale) AS stale "
        "FROM import_job WHERE id = :id AND user_id = :u"),
        {"id": job_id, "u": user_id, "stale": STALE_MINUTES}).mappings().first()
    if row is None:
        raise NotFound(f"no import job {job_id}", field="job")
    job = dict(row)
    if job.pop("stale") and job["status"] in ("queued", "running"):
        job.update(status="failed", error="导入中断（服务重启），未写入任何数据，请重新上传")
    job["percent"] = 100 if job["status"] == "done" else percent(
        job["stage"], job["done"], job["total"])
    job["message"] = describe(job)
    return job


def describe(job: dict) -> str:
    """What the job is doing, in Chinese."""
    if job["status"] == "failed":
        return job["error"] or "导入失败"
    if job["status"] == "done":
        return "检查完成" if job["dry_run"] else "导入完成"
    stage, done, total = job["stage"], job["done"], job["total"]
    if job["status"] == "queued" or stage == "queued":
        return "排队等候中…"
    if stage == "read":
        return f"已读取 {done:,} 行" if total else "正在读取文件…"
    if stage == "validate":
        return f"已校验 {done:,} 行" if done else f"正在校验 {total or 0:,} 行…"
    if stage == "write" and job["dry_run"]:
        return (f"已统计 {done:,} 行的新增、修改、未变" if done
                else f"正在统计 {total or 0:,} 行的新增、修改、未变…")
    if stage == "write":
        return f"已写入 {done:,} 行" if done else f"正在写入 {total or 0:,} 行…"
    return "处理中…"
