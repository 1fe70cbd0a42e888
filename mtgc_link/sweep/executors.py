"""Executors run tasks and hand back rows. ``local`` (in-process for 1 worker, a process pool for more) and
``ray`` (a local or cluster Ray instance). They share one contract, so the table does not depend on which ran:

    Executor(workers).run(ctx, tasks, advance)   # advance(n): n more rows are stored

Rows are stored as soon as they exist: in-process and in pool workers each row is appended to the worker's
own shard (the output folder is local); Ray tasks return their rows and the driver stores them (a cluster
node need not share the output folder). Workers use one torch thread each (in-process too): the sweep is
parallel over points, and torch's intra-op threads on a busy machine made the PHY up to 10x slower.
"""

from __future__ import annotations

import multiprocessing as mp
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from mtgc_link.registry import Registry
from mtgc_link.sweep.store import RowWriter
from mtgc_link.sweep.task import run_task


class Executor(ABC):
    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    @abstractmethod
    def run(self, ctx, tasks: list, advance) -> None:
        """Run every task; call ``advance(n)`` as n rows are stored."""


EXECUTORS: Registry[type[Executor]] = Registry("executor")


def get_executor(name: str, workers: int = 1) -> Executor:
    return EXECUTORS.get(name)(workers)


def _one_torch_thread() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


_WRITER: RowWriter | None = None


def _pool_task(ctx, task) -> int:
    """Pool worker: run one task, appending rows to this process's own shard."""
    global _WRITER
    if _WRITER is None:
        _WRITER = RowWriter(ctx.out_dir)
    return run_task(ctx, task, _WRITER.append)


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """1 worker: in this process (rows appear one by one). N workers: N spawned processes."""

    def run(self, ctx, tasks, advance) -> None:
        if not tasks:
            return
        if self.workers == 1:
            _one_torch_thread()
            writer = RowWriter(ctx.out_dir)
            try:
                for task in tasks:
                    run_task(ctx, task, lambda row: (writer.append(row), advance(1)))
            finally:
                writer.close()
            return
        # spawn, not fork: forking a process that already runs torch threads can deadlock.
        with ProcessPoolExecutor(
            self.workers, mp_context=mp.get_context("spawn"), initializer=_one_torch_thread
        ) as pool:
            pending = {pool.submit(_pool_task, ctx, t) for t in tasks}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        advance(fut.result())  # re-raises a worker's exception here
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise


def _ray_task(ctx, task) -> list[dict]:
    _one_torch_thread()
    rows: list[dict] = []
    run_task(ctx, task, rows.append)
    return rows


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Ray tasks (``pip install .[ray]``). Connects to a running cluster when ``RAY_ADDRESS`` is set,
    else starts a local instance with ``workers`` CPUs; each task asks for one CPU."""

    def run(self, ctx, tasks, advance) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("executor 'ray' needs Ray: pip install '.[ray]'") from exc
        if not tasks:
            return
        started = False
        if not ray.is_initialized():
            import os

            if os.environ.get("RAY_ADDRESS"):
                ray.init(address=os.environ["RAY_ADDRESS"])
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            started = True
        try:
            remote = ray.remote(num_cpus=1)(_ray_task)
            writer = RowWriter(ctx.out_dir)
            pending = [remote.remote(ctx, t) for t in tasks]
            try:
                while pending:
                    finished, pending = ray.wait(pending, num_returns=1)
                    for rows in ray.get(finished):
                        for row in rows:
                            writer.append(row)
                        advance(len(rows))
            finally:
                writer.close()
                for ref in pending:
                    ray.cancel(ref)
        finally:
            if started:
                ray.shutdown()
