"""Training rollouts from a vLLM server, through the same `Runner` + `OpenAIPolicy` that eval uses.

`ServerRollouts` is a TRL ``rollout_func`` (and the rollout source of openenvs' PPO). For each
batch it

1. pushes the trainer's weights to the server when they changed (`WeightSync`, ``lora`` or
   ``weights``; the policy version is the optimizer step they come from);
2. plays every prompt's episode with `openenvs.rollout.Runner` against an `OpenAIPolicy` that
   holds the trainer's tokenizer, so each turn after the first is sent as token ids (prompt ids
   + sampled ids + the env's messages), never re-rendered: single-turn, multi-turn and tool envs
   (tools parsed by `openenvs.tools`) and remote envs (`openenvs.connect`) all go the same way;
3. turns each trajectory into ``prompt_ids`` (the first turn's prompt), ``completion_ids``
   (everything after it), ``logprobs`` (vLLM's, 0 on env tokens) and ``env_mask`` (1 on sampled
   tokens), checking that each turn's prompt extends the last turn's tokens exactly;
4. writes the trajectories (the eval schema plus ``step`` and ``policy_version``) to
   ``<output_dir>/rollouts/trajectories.jsonl``.

With ``async_rollouts=1`` the next batch is generated in a background thread while the current
one trains (its prompts are read one batch ahead from the dataloader), so a batch is at most one
optimizer step stale; the truncated importance weights of `openenvs.trl._importance` correct it.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import OpenEnvsError

__all__ = ["RolloutBatch", "ServerRollouts", "peeking_trainer", "prompt_key", "start_server", "to_training_sample"]

logger = logging.getLogger(__name__)


def prompt_key(prompt: Any) -> str:
    """The key that matches a prompt TRL hands over to its dataset row (roles and contents)."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps([(m.get("role"), m.get("content")) for m in prompt])


def to_training_sample(trajectory: Any, max_completion_length: int) -> dict[str, Any]:
    """One trajectory as ``prompt_ids``/``completion_ids``/``logprobs``/``env_mask`` for the trainer.

    The completion is every token after the first prompt: each turn's sampled ids (mask 1, vLLM's
    logprobs) followed by the env's reply as it appears in the next turn's prompt (mask 0, logprob 0).
    Cut to `max_completion_length`. ``turn_ends`` holds the position (in prompt + completion) of
    each policy turn's last token.

    Raises:
        OpenEnvsError: A turn's prompt does not extend the previous turn's tokens (the context
            the server saw is not what the trainer would train on), or token ids are missing.
    """
    steps = trajectory.steps
    if not steps or steps[0].prompt_token_ids is None:
        raise OpenEnvsError("Training rollouts need token ids; the policy returned none (use OpenAIPolicy with a tokenizer).")
    prompt = list(steps[0].prompt_token_ids)
    completion: list[int] = []
    logprobs: list[float] = []
    mask: list[int] = []
    turn_ends: list[int] = []
    for i, step in enumerate(steps):
        ids = list(step.completion_token_ids or [])
        lps = list(step.logprobs) if step.logprobs is not None else [float("nan")] * len(ids)
        completion += ids
        logprobs += lps
        mask += [1] * len(ids)
        turn_ends.append(len(prompt) + len(completion) - 1)
        if i + 1 < len(steps):
            context = prompt + completion
            following = list(steps[i + 1].prompt_token_ids or [])
            if following[: len(context)] != context:
                raise OpenEnvsError(
                    f"Turn {i + 2} of episode {trajectory.id} ({trajectory.env_id}) does not continue the tokens of "
                    f"turn {i + 1}: the server conditioned on a re-rendered chat. Use OpenAIPolicy(tokenizer=...)."
                )
            env_ids = following[len(context) :]
            completion += env_ids
            logprobs += [0.0] * len(env_ids)
            mask += [0] * len(env_ids)
    cut = min(len(completion), max_completion_length)
    return {
        "prompt_ids": prompt,
        "completion_ids": completion[:cut],
        "logprobs": logprobs[:cut],
        "env_mask": mask[:cut],
        "turn_ends": [min(end, len(prompt) + cut - 1) for end in turn_ends],
    }


class RolloutBatch:
    """The trajectories of one batch, with how they were made."""

    def __init__(self, trajectories: list[Any], version: int, generate_s: float) -> None:
        """Keep the trajectories, the policy version that sampled them and the generation time."""
        self.trajectories = trajectories
        self.version = version
        self.generate_s = generate_s


class ServerRollouts:
    """A ``rollout_func`` for ``trl.GRPOTrainer`` that samples from a vLLM server with live weight sync.

    Args:
        rows: Dataset rows by `prompt_key` (``env_id``, ``env_kwargs`` JSON, ``env_seed``); a dict
            that the dataset fills as it streams (curriculum) works too.
        base_url: The vLLM server root.
        tokenizer: The trainer's tokenizer (its chat template renders the turns).
        sync: Pushes weights to the server; None samples from the served model as is (no sync:
            only for tests that show why sync matters).
        model_name: The served model to sample from before the first sync (and without `sync`).
        max_turns: Most policy turns per episode (default: the env's own limit).
        turn_tokens: Most tokens per turn (default: the trainer's ``max_completion_length``).
        concurrency: Episodes in flight at once.
        out_dir: Where ``trajectories.jsonl`` goes (None: not written).
        async_rollouts: 1 generates the next batch while the current one trains.
        server: The `VLLMServer` we started, if any: its death is reported with its log.
        env_rewards: Hand the episode's return and last info to the reward functions
            (``env_return``/``env_info``: multi-turn and tool envs); single-turn envs are scored
            by the reward functions from the dataset columns, as with transformers rollouts.
    """

    def __init__(
        self,
        rows: Mapping[str, Mapping[str, Any]],
        *,
        base_url: str,
        tokenizer: Any,
        sync: Any = None,
        model_name: str = "smollm2",
        max_turns: int | None = None,
        turn_tokens: int | None = None,
        concurrency: int = 64,
        out_dir: str | Path | None = None,
        async_rollouts: int = 0,
        server: Any = None,
        env_rewards: bool = False,
    ) -> None:
        """Configure; nothing is sent until the trainer asks for a batch."""
        from ..rollout import OpenAIPolicy

        if async_rollouts not in (0, 1):
            raise OpenEnvsError(f"async_rollouts must be 0 or 1 (one step of overlap), not {async_rollouts}.")
        self.rows = rows
        self.sync = sync
        self.server = server
        self.policy = OpenAIPolicy(base_url, model_name, tokenizer=tokenizer, max_retries=2)
        self.max_turns = max_turns
        self.turn_tokens = turn_tokens
        self.concurrency = concurrency
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.env_rewards = env_rewards
        self.async_rollouts = async_rollouts
        self.next_prompts: list[Any] | None = None  # set one batch ahead by the dataloader (async)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="openenvs-rollouts")
        self._pending: tuple[tuple[str, ...], concurrent.futures.Future[RolloutBatch]] | None = None
        self.timings: list[dict[str, float]] = []

    # -- the rollout_func protocol -------------------------------------------------------------
    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        """Sample a batch for `prompts` (one completion per prompt; TRL repeats each prompt per generation)."""
        t0 = time.perf_counter()
        step = int(trainer.state.global_step)
        key = tuple(prompt_key(p) for p in prompts)
        sync_s = 0.0
        model = trainer.accelerator.unwrap_model(trainer.model)
        if self._pending is not None and self._pending[0] == key:
            batch = self._result(self._pending[1])
        else:
            if self._pending is not None:  # the dataloader did not yield what it announced: drop it
                self._result(self._pending[1])
            sync_s += self.push(model, step)
            batch = self._generate(self.episodes(prompts), self.sampling(trainer.args, step, trainer.max_completion_length))
        self._pending = None
        if self.async_rollouts and self.next_prompts is not None:
            sync_s += self.push(model, step)
            upcoming = list(self.next_prompts)
            self.next_prompts = None
            sampling = self.sampling(trainer.args, step + 1, trainer.max_completion_length)
            future = self._pool.submit(self._generate, self.episodes(upcoming), sampling)
            self._pending = (tuple(prompt_key(p) for p in upcoming), future)
        samples = [to_training_sample(t, trainer.max_completion_length) for t in batch.trajectories]
        self._write(batch, step + 1)
        wait_s = time.perf_counter() - t0 - sync_s
        timing = {"rollout_s": batch.generate_s, "rollout_wait_s": wait_s, "sync_s": sync_s, "staleness": step - batch.version}
        self.timings.append(timing)
        metrics = getattr(trainer, "_metrics", None)
        if metrics is not None:
            mode = "train" if trainer.model.training else "eval"
            for name, value in timing.items():
                metrics[mode][f"timing/{name}"].append(float(value))
        out: dict[str, Any] = {
            "prompt_ids": [s["prompt_ids"] for s in samples],
            "completion_ids": [s["completion_ids"] for s in samples],
            "logprobs": [s["logprobs"] for s in samples],
            "env_mask": [s["env_mask"] for s in samples],
            "policy_version": [batch.version] * len(samples),
        }
        if self.env_rewards:
            out["env_return"] = [t.reward for t in batch.trajectories]
            out["env_info"] = [json.loads(t.steps[-1].info) if t.steps else {} for t in batch.trajectories]
        return out

    # -- pieces ------------------------------------------------------------------------------------
    def push(self, model: Any, step: int) -> float:
        """Sync `model` to the server as version `step` unless it is there already; returns the seconds taken."""
        if self.sync is None or self.sync.version == step:
            return 0.0
        if self.server is not None:
            self.server.check_alive()
        seconds = float(self.sync.push(model, step))
        self.policy.model = self.sync.model_name
        return seconds

    def _result(self, future: concurrent.futures.Future[RolloutBatch]) -> RolloutBatch:
        return future.result()

    def _row(self, prompt: Any) -> Mapping[str, Any]:
        row = self.rows.get(prompt_key(prompt))
        if row is None:
            raise OpenEnvsError(
                "The rollout function got a prompt that is not in its dataset; build the dataset and the rollouts "
                "together (openenvs.trl.for_grpo(..., rollouts=...) or `openenvs train --rollouts vllm`)."
            )
        return row

    def episodes(self, prompts: Sequence[Any]) -> list[Any]:
        """The `EpisodeSpec` of each prompt; repeats of a prompt (a GRPO group) get sample numbers 0, 1, ..."""
        from ..rollout import EpisodeSpec

        seen: dict[str, int] = {}
        out = []
        for prompt in prompts:
            row = self._row(prompt)
            k = prompt_key(prompt)
            sample = seen.get(k, 0)
            seen[k] = sample + 1
            kwargs = json.loads(row["env_kwargs"] or "{}") if isinstance(row["env_kwargs"], str) else dict(row["env_kwargs"])
            out.append(EpisodeSpec(env_id=row["env_id"], seed=int(row["env_seed"]), sample=sample, env_kwargs=kwargs))
        return out

    def sampling(self, args: Any, step: int, max_tokens: int) -> Any:
        """Sampling parameters of a step: the trainer's temperature and top-p, a seed from (trainer seed, step)."""
        from ..rollout import SamplingParams

        seed = int(hashlib.sha256(f"{args.seed}:{step}".encode()).hexdigest()[:8], 16) >> 1
        return SamplingParams(
            temperature=float(args.temperature),
            top_p=float(args.top_p),
            max_tokens=int(self.turn_tokens or max_tokens),
            seed=seed,
        )

    def _generate(self, episodes: Sequence[Any], sampling: Any) -> RolloutBatch:
        """Play `episodes` (``EpisodeSpec``) with the Runner; the trajectories in the same order."""
        from ..rollout import Runner

        version = self.sync.version if self.sync is not None and self.sync.version is not None else 0
        runner = Runner(
            self.policy, sampling=sampling, concurrency=self.concurrency, retries=0,
            max_turns=self.max_turns or 32, out_dir=None, progress=False,
        )  # fmt: skip
        t0 = time.perf_counter()
        result = runner.run(episodes)
        generate_s = time.perf_counter() - t0
        if result.errors:
            if self.server is not None:
                self.server.check_alive()  # a dead server: the error names its log
            first = result.errors[0]
            raise OpenEnvsError(
                f"{len(result.errors)} of {len(episodes)} training episodes failed; the first: "
                f"{first.get('message')} (env {first.get('env_id')}, seed {first.get('seed')})."
            )
        by_id = {t.id: t for t in result.trajectories}
        return RolloutBatch([by_id[e.id] for e in episodes], version, generate_s)

    def play(self, episodes: Sequence[Any], model: Any, args: Any, step: int) -> RolloutBatch:
        """Sync `model` (version `step`) and play `episodes`; written to the trajectories (PPO's rollouts)."""
        sync_s = self.push(model, step)
        batch = self._generate(episodes, self.sampling(args, step, int(args.max_completion_length)))
        self._write(batch, step + 1)
        self.timings.append({"rollout_s": batch.generate_s, "sync_s": sync_s, "staleness": 0.0})
        return batch

    def _write(self, batch: RolloutBatch, step: int) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with (self.out_dir / "trajectories.jsonl").open("a") as fh:
            for t in batch.trajectories:
                record = {**t.model_dump(mode="json"), "step": step, "policy_version": batch.version}
                fh.write(json.dumps(record) + "\n")

    def close(self) -> None:
        """Finish a generation in flight and stop the background thread."""
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None
        self._pool.shutdown(wait=True, cancel_futures=True)


class _PeekingLoader:
    """Yields the dataloader's batches and tells the rollouts the prompts of the next one first."""

    def __init__(self, loader: Any, rollouts: ServerRollouts) -> None:
        self._loader = loader
        self._rollouts = rollouts

    def __len__(self) -> int:
        return len(self._loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def __iter__(self) -> Any:
        it = iter(self._loader)
        done = object()
        current = next(it, done)
        while current is not done:
            upcoming = next(it, done)
            self._rollouts.next_prompts = [x["prompt"] for x in upcoming] if upcoming is not done else None  # type: ignore[attr-defined]
            yield current
            current = upcoming


def peeking_trainer(base: type) -> type:
    """`base` (a GRPOTrainer class) whose train dataloader announces the next batch to async `ServerRollouts`."""

    class VLLMRolloutTrainer(base):  # type: ignore[misc, valid-type]
        def get_train_dataloader(self) -> Any:
            loader = super().get_train_dataloader()
            rollouts = getattr(self, "rollout_func", None)
            if isinstance(rollouts, ServerRollouts) and rollouts.async_rollouts:
                return _PeekingLoader(loader, rollouts)
            return loader

    return VLLMRolloutTrainer


def start_server(
    model: str | Path, *, sync_mode: str, lora_rank: int = 16, log_path: str | Path | None = None, port: int | None = None
) -> Any:
    """Start a vLLM server ready for training rollouts: `model` served as ``base``, dev endpoints, processed logprobs.

    LoRA hot-loading is on in ``lora`` mode (``--max-lora-rank`` rounded up to a power of two, at
    least 16). The KV cache is ``$OPENENVS_VLLM_KV_GIB`` GiB (default 1); the port is `port`, else
    ``$OPENENVS_VLLM_PORT``, else a free one. Returns the started
    `openenvs.rollout.VLLMServer`; stop it with ``.stop()`` (it also dies with this process).
    """
    import os

    from ..rollout import VLLMServer

    server = VLLMServer(
        model, served_model_name="base", max_model_len=2048, kv_cache_gib=int(os.environ.get("OPENENVS_VLLM_KV_GIB", "1")),
        port=port or (int(os.environ["OPENENVS_VLLM_PORT"]) if os.environ.get("OPENENVS_VLLM_PORT") else None),
        enable_lora=sync_mode == "lora", max_lora_rank=max(16, 1 << (max(1, lora_rank) - 1).bit_length()),
        dev_mode=True, logprobs_mode="processed_logprobs", log_path=log_path,
    )  # fmt: skip
    return server.start()
