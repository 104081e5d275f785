"""Scale-out on Ray: env instances live in Ray actors, and an `Env` proxy drives them.

A `RayEnvPool` starts worker actors (one per CPU of the cluster by default); `pool.make(env_id,
**kwargs)` returns a `RayEnv`, an ordinary `openenvs.Env` whose reset/step are actor calls, so
anything that takes an env takes it, and a `Runner` takes the pool itself::

    >>> from openenvs.rollout import RayEnvPool, Runner, make_episodes
    >>> with RayEnvPool() as pool:                                                  # doctest: +SKIP
    ...     result = Runner(policy, envs=pool).run(make_episodes("math/arithmetic-v1", 64))

The episodes are the same as in-process ones (the env runs the same code with the same seed).
A worker that dies (node lost, process killed, out of memory) fails only the calls it was
serving: each raises `WorkerDied`, the loss is recorded in `pool.failures`, a replacement
actor starts, and the next `reset` of an env whose worker is gone binds it to a live worker.
The Runner records the failed try and retries the episode from scratch on another worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from .._env import Env
from .._errors import MissingDependency, OpenEnvsError
from .._types import Action, Observation, StepResult

if TYPE_CHECKING:
    from .._spec import EnvSpec

__all__ = ["RayEnv", "RayEnvPool", "WorkerDied"]

logger = logging.getLogger(__name__)


class WorkerDied(OpenEnvsError):
    """The Ray actor holding an env died (or its node was lost) during a call; the episode is lost, not the run."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependency("ray", "ray", "Ray scale-out (RayEnvPool, eval --ray)") from exc
    return ray


class _EnvWorker:
    """The body of one Ray actor: holds env instances by handle and runs their calls (one thread per call)."""

    def __init__(self, index: int) -> None:
        self._index = index
        self._envs: dict[int, Env] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._calls = 0

    def where(self) -> dict[str, Any]:
        """Where this worker runs: index, pid, host and Ray node id."""
        import ray

        return {
            "index": self._index,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    def make(self, env_id: str, kwargs: dict[str, Any]) -> tuple[int, EnvSpec | None, str]:
        """Build an env; returns its handle, its spec and the fingerprint computed on this node."""
        from .._api import make

        env = make(env_id, **kwargs)
        with self._lock:
            self._next += 1
            handle = self._next
            self._envs[handle] = env
        return handle, env.spec, env.spec.fingerprint if env.spec is not None else ""

    def reset(
        self, handle: int, seed: int | None, options: dict[str, Any] | None
    ) -> tuple[Observation, dict[str, Any]]:
        """`env.reset` of the env behind `handle`."""
        self._count()
        return self._env(handle).reset(seed=seed, options=options)

    def step(self, handle: int, action: Action) -> tuple[Any, ...]:
        """`env.step` of the env behind `handle` (as a plain tuple)."""
        self._count()
        return tuple(self._env(handle).step(action))

    def close(self, handle: int) -> None:
        """Close and forget the env behind `handle` (unknown handles are ignored)."""
        with self._lock:
            env = self._envs.pop(handle, None)
        if env is not None:
            env.close()

    def discard(self, made: tuple[int, Any, str]) -> None:
        """Close an env given the result of its `make` (for a proxy closed before its first reset)."""
        self.close(made[0])

    def stats(self) -> dict[str, Any]:
        """Open envs and calls served so far."""
        return {"index": self._index, "open_envs": len(self._envs), "calls": self._calls}

    def _count(self) -> None:
        with self._lock:
            self._calls += 1

    def _env(self, handle: int) -> Env:
        env = self._envs.get(handle)
        if env is None:
            raise OpenEnvsError(
                f"Ray worker {self._index} holds no env with handle {handle} (closed, or the worker restarted); "
                "reset through a fresh env from RayEnvPool.make()."
            )
        return env


@functools.lru_cache(maxsize=1)
def _remote_worker_class() -> Any:
    return _ray().remote(_EnvWorker)


class _Worker:
    """The pool's record of one actor."""

    def __init__(self, index: int, actor: Any) -> None:
        self.index = index
        self.actor = actor
        self.alive = True
        self.envs = 0  # live RayEnv proxies bound here
        self.where: dict[str, Any] = {}

    def describe(self) -> str:
        where = self.where
        if not where:
            return f"Ray worker {self.index}"
        return f"Ray worker {self.index} (pid {where['pid']} on {where['host']}, node {where['node_id'][:12]})"


class RayEnvPool:
    """Env worker actors on a Ray cluster; `make` returns envs that run on them.

    Args:
        num_workers: Actors to start; default one per `worker_cpus` CPUs in the cluster.
        address: Ray cluster to join when Ray is not initialized yet (``"auto"``, ``"10.0.0.1:6379"``,
            ``"ray://head:10001"``); None joins ``$RAY_ADDRESS`` if set, else starts a local Ray.
            A Ray already initialized in this process is used as it is.
        worker_cpus: CPUs each actor reserves; it decides how actors spread over the nodes.
        envs_per_worker: Calls one actor runs at once (its thread count); more envs than this queue.
        runtime_env: Ray runtime environment for the actors (e.g. ``{"pip": ["openenvs[code]"]}``) when
            the nodes do not have openenvs and the envs' extras installed already.
        replace_dead: Start a replacement actor when one dies, keeping `num_workers` alive.
        start_timeout_s: How long to wait for the actors to start before failing with the cluster's
            resources in the message.
        init_kwargs: More keyword arguments for ``ray.init`` when this pool starts Ray itself.

    Example:
        >>> with RayEnvPool(num_workers=2) as pool:                  # doctest: +SKIP
        ...     env = pool.make("math/arithmetic-v1", difficulty=2)
        ...     obs, info = env.reset(seed=0)
    """

    def __init__(
        self,
        num_workers: int | None = None,
        *,
        address: str | None = None,
        worker_cpus: float = 1.0,
        envs_per_worker: int = 16,
        runtime_env: dict[str, Any] | None = None,
        replace_dead: bool = True,
        start_timeout_s: float = 120.0,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Start (or join) Ray and the worker actors; returns once every actor answers."""
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be >= 1 (or None for one per CPU), got {num_workers}")
        if worker_cpus < 0 or envs_per_worker < 1:
            raise ValueError(
                f"worker_cpus must be >= 0 and envs_per_worker >= 1, got {worker_cpus} and {envs_per_worker}"
            )
        ray = _ray()
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(address=address, **{"include_dashboard": False, **(init_kwargs or {})})
            self._owns_ray = True
        elif address is not None:
            logger.info("Ray is already initialized in this process; ignoring address=%r", address)
        self._lock = threading.Lock()
        self._options: dict[str, Any] = {"num_cpus": worker_cpus, "max_concurrency": envs_per_worker}
        if runtime_env is not None:
            self._options["runtime_env"] = runtime_env
        self._replace_dead = replace_dead
        self._workers: list[_Worker] = []
        self._started = 0
        self._failures: list[dict[str, Any]] = []
        self._fingerprints: dict[str, str] = {}
        self._closed = False
        self._classes: dict[str, type[RayEnv]] = {}
        if num_workers is None:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            num_workers = max(1, int(cpus // worker_cpus) if worker_cpus > 0 else int(cpus))
        self.num_workers = num_workers
        workers = [self._start_worker() for _ in range(num_workers)]
        try:
            wheres = ray.get([w.actor.where.remote() for w in workers], timeout=start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise OpenEnvsError(
                f"{num_workers} Ray env workers ({worker_cpus} CPU each) did not start within {start_timeout_s:.0f}s; "
                f"the cluster has {ray.cluster_resources()} and {ray.available_resources()} free. "
                "Lower num_workers/--ray-workers or worker_cpus, or add nodes."
            ) from None
        for worker, where in zip(workers, wheres, strict=True):
            worker.where = where
        nodes = {w["node_id"] for w in wheres}
        logger.info("RayEnvPool: %d workers on %d node(s)", num_workers, len(nodes))

    # -- public -------------------------------------------------------------------------------

    def make(self, env_id: str, **kwargs: Any) -> RayEnv:
        """An env of `env_id` (kwargs as for `openenvs.make`) held by the least busy live worker."""
        if self._closed:
            raise OpenEnvsError("This RayEnvPool is closed; create a new one.")
        with self._lock:
            cls = self._classes.get(env_id)
            if cls is None:
                cls = self._classes[env_id] = type("RayEnv", (RayEnv,), {"pool": self, "env_id": env_id})
        return cls(**kwargs)

    @property
    def actors(self) -> list[Any]:
        """The live worker actors (Ray actor handles), oldest first."""
        with self._lock:
            return [w.actor for w in self._workers if w.alive]

    @property
    def failures(self) -> list[dict[str, Any]]:
        """One record per call lost to a dead worker: worker, pid, node, env id, seed, call, error."""
        with self._lock:
            return list(self._failures)

    def stats(self) -> dict[str, Any]:
        """Workers (where they run, envs and calls served), replacements and failures, as plain JSON."""
        ray = _ray()
        with self._lock:
            workers = [w for w in self._workers if w.alive]
        counts: list[dict[str, Any]] = []
        for worker in workers:
            try:
                if not worker.where:  # a replacement that has not served yet
                    worker.where = ray.get(worker.actor.where.remote(), timeout=30)
                counts.append(ray.get(worker.actor.stats.remote(), timeout=30))
            except ray.exceptions.RayError:
                counts.append({"index": worker.index, "open_envs": None, "calls": None})
        return {
            "workers": [{**w.where, **c} for w, c in zip(workers, counts, strict=True)],
            "nodes": sorted({w.where.get("node_id", "?") for w in workers}),
            "started": self._started,
            "failures": self.failures,
            "fingerprints": dict(self._fingerprints),
        }

    def close(self) -> None:
        """Kill the actors (and shut Ray down if this pool started it); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        ray = _ray()
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker.alive:
                worker.alive = False
                try:
                    ray.kill(worker.actor)
                except Exception as exc:  # noqa: BLE001 - already gone
                    logger.debug("killing %s: %s", worker.describe(), exc)
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RayEnvPool(workers={len(self.actors)}, failures={len(self._failures)})"

    # -- for RayEnv ---------------------------------------------------------------------------

    def _start_worker(self) -> _Worker:
        with self._lock:
            index = self._started
            self._started += 1
        actor = _remote_worker_class().options(**self._options).remote(index)
        worker = _Worker(index, actor)
        with self._lock:
            self._workers.append(worker)
        return worker

    def _assign(self) -> _Worker:
        with self._lock:
            live = [w for w in self._workers if w.alive]
            if not live:
                raise WorkerDied(
                    "Every Ray env worker of this pool has died and none is being replaced "
                    "(replace_dead=False); create a new RayEnvPool."
                )
            worker = min(live, key=lambda w: (w.envs, w.index))
            worker.envs += 1
            return worker

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            worker.envs = max(0, worker.envs - 1)

    def _lost(self, worker: _Worker, call: str, env_id: str, seed: int | None, exc: BaseException) -> WorkerDied:
        """Record a call lost to a dead worker, replace the worker once, and return the error to raise."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        with self._lock:
            first = worker.alive
            worker.alive = False
            self._failures.append(
                {
                    "worker": worker.index,
                    "pid": worker.where.get("pid"),
                    "node_id": worker.where.get("node_id"),
                    "env_id": env_id,
                    "seed": seed,
                    "call": call,
                    "error": f"{type(exc).__name__}: {reason}",
                    "time": time.time(),
                }
            )
        if first:
            logger.warning("%s died (%s: %s)", worker.describe(), type(exc).__name__, reason)
            if self._replace_dead and not self._closed:
                replacement = self._start_worker()
                replacement.actor.where.remote()  # starts it now; RayEnv fills `where` lazily
                logger.warning("started Ray worker %d to replace worker %d", replacement.index, worker.index)
        return WorkerDied(
            f"{worker.describe()} died during {call}() of {env_id} (seed {seed}): {type(exc).__name__}: {reason}. "
            "The episode is lost, not the run: a Runner records this try and retries it on another worker."
        )

    def _check_fingerprint(self, worker: _Worker, env_id: str, local: str, remote: str) -> None:
        if not remote or remote == local or env_id in self._fingerprints:
            return
        self._fingerprints[env_id] = remote
        logger.warning(
            "%s computes fingerprint %s for %s, this process %s: package versions differ between nodes, "
            "so episodes may differ; install the same versions everywhere (or pass runtime_env).",
            worker.describe(),
            remote,
            env_id,
            local,
        )


class RayEnv(Env):
    """An env held by a `RayEnvPool` worker; reset/step (and their async twins) are actor calls.

    Made by `RayEnvPool.make`, which subclasses `RayEnv` per pool and id, so ``type(env)(**kwargs)``
    makes another env of the same id on the same pool (as `check_env` does). The remote instance
    is built on the worker when the proxy is made (the call is sent at once; the first reset waits
    for it); exceptions raised by the env arrive as themselves, and a dead worker raises `WorkerDied`.
    """

    pool: ClassVar[RayEnvPool | None] = None
    """The pool this class makes its envs on."""
    env_id: ClassVar[str] = ""
    """The registered id this class makes."""

    def __init__(self, **kwargs: Any) -> None:
        """Bind to the least busy worker and send it the make call (no waiting)."""
        from .._api import spec

        if self.pool is None:
            raise OpenEnvsError("Make a RayEnv with RayEnvPool.make(env_id, **kwargs).")
        self._pool = self.pool
        self._kwargs = dict(kwargs)
        self.spec = spec(self.env_id).with_kwargs(**self._kwargs)  # unknown ids fail here, as with openenvs.make
        self._worker: _Worker | None = None
        self._made: Any = None
        self._handle: int | None = None
        self._stale = False
        self._bind()

    # -- Env API ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Reset the remote env (blocking)."""
        self._prepare_reset()
        worker, handle = self._ensure_sync()
        result = self._get(worker, "reset", seed, worker.actor.reset.remote(handle, seed, options))
        return result  # type: ignore[no-any-return]

    def step(self, action: Action) -> StepResult:
        """Step the remote env (blocking)."""
        worker, handle = self._ensure_sync()
        return StepResult(*self._get(worker, "step", self.seed, worker.actor.step.remote(handle, action)))

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Reset the remote env without blocking the event loop."""
        self._prepare_reset()
        worker, handle = await self._ensure_async()
        result = await self._await(worker, "reset", seed, worker.actor.reset.remote(handle, seed, options))
        return result  # type: ignore[no-any-return]

    async def astep(self, action: Action) -> StepResult:
        """Step the remote env without blocking the event loop."""
        worker, handle = await self._ensure_async()
        return StepResult(*await self._await(worker, "step", self.seed, worker.actor.step.remote(handle, action)))

    def close(self) -> None:
        """Close the remote env and free its slot on the worker; safe to call more than once."""
        self._unbind()

    @property
    def worker_index(self) -> int | None:
        """Index of the pool worker holding this env (None once closed)."""
        return self._worker.index if self._worker is not None else None

    def __repr__(self) -> str:
        return f"<RayEnv {self.env_id} on worker {self.worker_index}>"

    # -- binding ------------------------------------------------------------------------------

    def _bind(self) -> None:
        worker = self._pool._assign()
        self._worker = worker
        self._made = worker.actor.make.remote(self.env_id, self._kwargs)
        self._handle = None
        self._stale = False

    def _unbind(self) -> None:
        worker, handle, made = self._worker, self._handle, self._made
        self._worker = self._made = self._handle = None
        if worker is None:
            return
        self._pool._release(worker)
        if worker.alive:
            if handle is not None:
                worker.actor.close.remote(handle)
            elif made is not None:  # never used: Ray hands the make's result to `discard` once it exists
                worker.actor.discard.remote(made)

    def _prepare_reset(self) -> None:
        """Before an episode: leave a dead worker, or an env whose last call was abandoned, for a fresh one."""
        worker = self._worker
        if worker is None or not worker.alive or self._stale:
            self._unbind()
            self._bind()

    def _made_result(self, worker: _Worker, made: tuple[int, EnvSpec | None, str]) -> int:
        handle, spec, fingerprint = made
        if spec is not None:
            self.spec = spec
            self._pool._check_fingerprint(worker, self.env_id, spec.fingerprint, fingerprint)
        if not worker.where:
            worker.where = _ray().get(worker.actor.where.remote(), timeout=60)
        self._handle = handle
        self._made = None
        return handle

    def _ensure_sync(self) -> tuple[_Worker, int]:
        if self._worker is None:
            self._bind()
        worker = self._worker
        assert worker is not None
        if self._handle is None:
            return worker, self._made_result(worker, self._get(worker, "make", self.seed, self._made))
        return worker, self._handle

    async def _ensure_async(self) -> tuple[_Worker, int]:
        if self._worker is None:
            self._bind()
        worker = self._worker
        assert worker is not None
        if self._handle is None:
            made = await self._await(worker, "make", self.seed, self._made)
            if not worker.where:
                worker.where = await worker.actor.where.remote()
            return worker, self._made_result(worker, made)
        return worker, self._handle

    # -- calls --------------------------------------------------------------------------------

    def _get(self, worker: _Worker, call: str, seed: int | None, ref: Any) -> Any:
        ray = _ray()
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the env raised: re-raise what it raised
            raise _cause(exc) from None
        except ray.exceptions.RayError as exc:  # the actor or its node is gone
            raise self._pool._lost(worker, call, self.env_id, seed, exc) from None

    async def _await(self, worker: _Worker, call: str, seed: int | None, ref: Any) -> Any:
        ray = _ray()
        try:
            return await ref
        except asyncio.CancelledError:  # e.g. the episode timed out: the remote call may still run
            self._stale = True
            raise
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        except ray.exceptions.RayError as exc:
            raise self._pool._lost(worker, call, self.env_id, seed, exc) from None


def _cause(exc: Any) -> BaseException:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
