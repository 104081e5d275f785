"""`OpenAIPolicy`: any OpenAI-compatible chat server, with vLLM's exact token ids when available."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import MissingDependency, OpenEnvsError
from .._types import Message, ToolCall, ToolSpec
from ._chat import render_text_tools, template_messages, template_uses_tools
from ._runner import current_episode
from ._types import Generation, ModelInfo, SamplingParams, ToolFormat

__all__ = ["OpenAIPolicy", "ServerError"]

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Request fields that only some servers understand; dropped (once, for good) when a server rejects them.
_OPTIONAL_FIELDS = ("return_token_ids", "logprobs", "top_logprobs", "seed", "tool_choice")


class ServerError(OpenEnvsError):
    """The server answered with an error that retrying did not fix."""


class OpenAIPolicy:
    """A policy served by an OpenAI-compatible chat completions endpoint (vLLM first).

    Against vLLM it asks for ``return_token_ids`` and ``logprobs`` so each turn carries the exact
    prompt and completion token ids and per-token logprobs the server used. A server that rejects
    those extras (or ignores them) still works: the fields it does not return are None. Server
    errors (429, 5xx, dropped connections) are retried with exponential backoff.

    Args:
        base_url: Server root or its ``/v1`` URL, e.g. ``http://127.0.0.1:8000``.
        model: Model name as the server knows it (vLLM: the ``--served-model-name`` or path).
        api_key: Bearer token, if the server wants one.
        revision: Revision of the served weights, recorded for provenance.
        tool_format: ``template`` sends tools as structured data; ``text`` describes them in the
            system message; ``auto`` asks vLLM's ``/tokenize`` whether the model's template uses
            tools and picks ``text`` when it does not (``template`` on other servers).
        max_retries: Retries per request on server errors.
        timeout_s: Timeout of one HTTP request.
        max_connections: Connection pool size; the runner's concurrency bounds it in practice.
        tokenizer: A Hugging Face tokenizer (or its folder) of the served model. With one, every turn
            is rendered here with its chat template and sent to ``/v1/completions`` as token ids;
            a turn after the first continues from the exact ids of the last one (prompt + sampled
            ids + the env's messages rendered by the template), never from a re-rendered chat, so
            a trainer sees exactly the context the server conditioned on. Without one, turns go to
            ``/v1/chat/completions`` and the server renders them.

    Example:
        >>> policy = OpenAIPolicy("http://127.0.0.1:8000", "smollm2")  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        revision: str | None = None,
        tool_format: ToolFormat = "auto",
        max_retries: int = 4,
        timeout_s: float = 600.0,
        max_connections: int = 256,
        tokenizer: Any = None,
    ) -> None:
        """Configure the client; no request is made until the first `generate`."""
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, got {base_url!r} (e.g. http://127.0.0.1:8000)"
            )
        root = base_url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.model = model
        self.revision = revision
        self.tool_format = tool_format
        self.max_retries = max_retries
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._dropped: set[str] = set()
        self._tools_in_template: bool | None = None
        self._backend_version: str | None = None
        self._origin: str | None = None
        self._version_checked = False
        self._tokenizer_source = tokenizer
        self._tok: Any = None
        # conversation (up to and including a sampled turn) -> the exact token ids it ended with
        self._contexts: OrderedDict[str, list[int]] = OrderedDict()
        self._sampled: OrderedDict[str, None] = OrderedDict()  # episodes that have had a turn here
        self.rerendered = 0

    @property
    def model_info(self) -> ModelInfo:
        """Model name, revision, server URL and (after the first request) the server's version."""
        return ModelInfo(
            name=self.model,
            revision=self.revision,
            backend="openai",
            backend_version=self._backend_version,
            base_url=self.root,
            origin=self._origin,
        )

    def _http(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            self._client = None  # made in another (finished) event loop: its connections cannot be reused
        if self._client is None:
            self._client_loop = loop
            try:
                import httpx
            except ImportError as exc:
                raise MissingDependency("httpx", "vllm", "OpenAIPolicy") from exc
            limits = httpx.Limits(
                max_connections=self._max_connections, max_keepalive_connections=self._max_connections
            )
            self._client = httpx.AsyncClient(timeout=self._timeout_s, limits=limits, headers=self._headers)
        return self._client

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        """POST with retries on server errors; returns the response (status < 500 and not 429)."""
        import httpx

        delay = 0.5
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http().post(self.root + path, json=body)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise ServerError(
                        f"Cannot reach {self.root}{path} after {attempt + 1} tries ({type(exc).__name__}: {exc}). "
                        "Is the server running? Start one with `openenvs serve-model`."
                    ) from exc
                logger.warning("%s%s: %s; retrying in %.1fs", self.root, path, type(exc).__name__, delay)
            else:
                if response.status_code not in _RETRY_STATUS or attempt == self.max_retries:
                    return response
                logger.warning("%s%s: HTTP %d; retrying in %.1fs", self.root, path, response.status_code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    async def _check_version(self) -> None:
        if self._version_checked:
            return
        self._version_checked = True
        try:
            response = await self._http().get(self.root + "/version", timeout=10)
            if response.status_code == 200:
                self._backend_version = f"vllm {response.json().get('version')}"
        except Exception:  # noqa: BLE001 - the version is optional provenance
            logger.debug("no /version endpoint at %s", self.root)
        await self._check_identity()

    async def _check_identity(self) -> None:
        """Name the served weights: by content when the server's model folder is on this machine."""
        entry: dict[str, Any] | None = None
        try:
            response = await self._http().get(self.root + "/v1/models", timeout=10)
            if response.status_code == 200:
                entry = next((m for m in response.json().get("data", []) if m.get("id") == self.model), None)
        except Exception:  # noqa: BLE001 - identity is optional provenance
            logger.debug("no /v1/models at %s", self.root)
        served = {k: entry.get(k) for k in ("id", "root", "parent", "owned_by")} if entry else None
        root = served.get("root") if served else None
        origin: dict[str, Any] = {"served": served}
        if isinstance(root, str) and Path(root).is_dir():
            from ..models import model_identity

            try:
                identity = model_identity(root)
                origin.update(identity)
                if self.revision is None:
                    self.revision = "sha256:" + str(identity["sha256"])[:16]
            except Exception as exc:  # noqa: BLE001
                origin["content_sha256"] = f"unknown ({exc})"
        else:
            origin["content_sha256"] = "unknown: the server's weights are not on this machine"
        self._origin = json.dumps(origin, sort_keys=True, default=str)

    async def _template_uses_tools(self, tools: Sequence[ToolSpec]) -> bool:
        """Ask vLLM's /tokenize whether the chat template renders tools (token counts differ)."""
        if self._tools_in_template is None:
            probe = [{"role": "user", "content": "hi"}]
            base = {"model": self.model, "messages": probe, "add_generation_prompt": True}
            try:
                without = await self._http().post(self.root + "/tokenize", json=base)
                with_tools = await self._http().post(
                    self.root + "/tokenize", json={**base, "tools": [t.to_openai() for t in tools]}
                )
                if without.status_code == 200 and with_tools.status_code == 200:
                    self._tools_in_template = with_tools.json()["count"] != without.json()["count"]
                else:
                    self._tools_in_template = True
            except Exception:  # noqa: BLE001 - servers without /tokenize get the structured form
                self._tools_in_template = True
            logger.info("%s: chat template %s tools", self.model, "renders" if self._tools_in_template else "ignores")
        return self._tools_in_template

    async def _request_body(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: SamplingParams
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "logprobs": True,
            "top_logprobs": 0,
            "return_token_ids": True,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        fmt = self.tool_format
        if tools and fmt == "auto":
            fmt = "template" if await self._template_uses_tools(tools) else "text"
        if tools and fmt == "text":
            body["messages"] = render_text_tools(messages, tools)
        else:
            body["messages"] = template_messages(messages)
            if tools:
                body["tools"] = [t.to_openai() for t in tools]
        body.update(params.extra)
        for name in self._dropped:
            body.pop(name, None)
        return body

    async def generate(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: SamplingParams
    ) -> Generation:
        """Request one completion and keep its token ids and logprobs (see `tokenizer`)."""
        await self._check_version()
        if self._tokenizer_source is not None:
            return await self._generate_tokens(messages, tools, params)
        body = await self._request_body(messages, tools, params)
        while True:
            response = await self._post("/v1/chat/completions", body)
            if response.status_code == 200:
                return _parse_choice(response.json())
            detail = response.text[:500]
            if response.status_code == 400 and "tools" in body and "tool choice" in detail.lower():
                body["tool_choice"] = "none"  # vLLM without --enable-auto-tool-choice: we parse the text ourselves
                continue
            rejected = [f for f in _OPTIONAL_FIELDS if f in body and f in detail and f not in self._dropped]
            if response.status_code in (400, 422) and rejected:
                logger.warning("%s rejects %s; continuing without them", self.root, ", ".join(rejected))
                self._dropped.update(rejected)
                for name in rejected:
                    body.pop(name, None)
                continue
            raise ServerError(f"{self.root} answered HTTP {response.status_code} for model {self.model!r}: {detail}")

    @property
    def tokenizer(self) -> Any:
        """The tokenizer given as `tokenizer` (loaded on first use when a folder was given)."""
        if self._tok is None and self._tokenizer_source is not None:
            if isinstance(self._tokenizer_source, (str, Path)):
                from transformers import AutoTokenizer

                self._tok = AutoTokenizer.from_pretrained(str(self._tokenizer_source))
            else:
                self._tok = self._tokenizer_source
        return self._tok

    def render_text(self, messages: Sequence[Message], tools: Sequence[ToolSpec], generation_prompt: bool) -> str:
        """The conversation as the chat template writes it (tools in the template or, if it ignores them, as text)."""
        tok = self.tokenizer
        fmt = self.tool_format
        if tools and fmt == "auto":
            fmt = "template" if template_uses_tools(getattr(tok, "chat_template", None)) else "text"
        if tools and fmt == "text":
            convo, tool_dicts = render_text_tools(messages, tools), None
        else:
            convo, tool_dicts = template_messages(messages), [t.to_openai() for t in tools] or None
        return str(tok.apply_chat_template(convo, tools=tool_dicts, add_generation_prompt=generation_prompt, tokenize=False))

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def context_ids(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[int]:
        """The token ids to continue: the last turn's exact ids plus the env's reply, or the rendered chat."""
        last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=None)
        episode = current_episode.get()
        if last is not None:
            prev = self._contexts.pop(_convo_key(messages[:last], messages[last].content or "", episode), None)
            if prev is not None:
                delta = self._env_delta(messages, last, tools, prev)
                if delta is not None:
                    return prev + delta
        if last is not None and (episode is None or episode in self._sampled):  # a turn of ours is not continued
            self.rerendered += 1
            logger.warning(
                "%s: turn %d is re-rendered from the chat (its earlier turns were not sampled here, or the template "
                "rewrites them); its context may differ from the sampled tokens",
                self.model,
                sum(m.role == "assistant" for m in messages) + 1,
            )
        return self._ids(self.render_text(messages, tools, True))

    def _env_delta(
        self, messages: Sequence[Message], last: int, tools: Sequence[ToolSpec], prev: list[int]
    ) -> list[int] | None:
        """Token ids of what follows the sampled turn: its end-of-turn marker (less the EOS it sampled), the env's messages, the next prompt."""
        text = messages[last].content or ""
        before = self.render_text(messages[: last + 1], tools, False)
        after = self.render_text(messages, tools, True)
        if not text or not after.startswith(before) or text not in before:
            return None
        closing = before[before.rindex(text) + len(text) :]
        said = str(self.tokenizer.decode(prev[-1:], skip_special_tokens=False)) if prev else ""
        if said and closing.startswith(said):
            closing = closing[len(said) :]
        return self._ids(closing + after[len(before) :])

    async def _generate_tokens(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: SamplingParams
    ) -> Generation:
        prompt = await asyncio.to_thread(self.context_ids, messages, tools)
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "logprobs": 0,
            "return_token_ids": True,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        body.update(params.extra)
        response = await self._post("/v1/completions", body)
        if response.status_code != 200:
            raise ServerError(
                f"{self.root} answered HTTP {response.status_code} for model {self.model!r}: {response.text[:500]}"
            )
        data = response.json()
        choice = data["choices"][0]
        ids = [int(t) for t in choice.get("token_ids") or []]
        content = (choice.get("logprobs") or {}).get("token_logprobs")
        seen = choice.get("prompt_token_ids") or data.get("prompt_token_ids")
        text = choice.get("text") or ""
        episode = current_episode.get()
        self._contexts[_convo_key(messages, text, episode)] = prompt + ids
        if episode is not None:
            self._sampled[episode] = None
        while len(self._contexts) > 8192:  # abandoned episodes: forget the oldest
            self._contexts.popitem(last=False)
        while len(self._sampled) > 8192:
            self._sampled.popitem(last=False)
        usage = data.get("usage") or {}
        return Generation(
            text=text,
            prompt_token_ids=[int(t) for t in seen] if seen is not None else prompt,
            completion_token_ids=ids,
            logprobs=[float(x) if x is not None else float("nan") for x in content] if content is not None else None,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or len(prompt)),
            completion_tokens=int(usage.get("completion_tokens") or len(ids)),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None


def _convo_key(messages: Sequence[Message], reply: str, episode: str | None) -> str:
    """Key of an episode's conversation followed by a sampled reply (roles and contents; tool calls are parsed from it)."""
    blob = json.dumps([episode, *[[m.role, m.content, m.tool_call_id] for m in messages], ["assistant", reply]])
    return hashlib.sha256(blob.encode()).hexdigest()


def _parse_choice(data: dict[str, Any]) -> Generation:
    choice = data["choices"][0]
    message = choice.get("message") or {}
    tool_calls = [ToolCall.model_validate(c) for c in message.get("tool_calls") or []] or None
    token_ids = choice.get("token_ids")
    prompt_ids = data.get("prompt_token_ids") or choice.get("prompt_token_ids")
    content = (choice.get("logprobs") or {}).get("content")
    logprobs = [float(item["logprob"]) for item in content] if content else None
    usage = data.get("usage") or {}
    return Generation(
        text=message.get("content") or "",
        tool_calls=tool_calls,
        prompt_token_ids=list(prompt_ids) if prompt_ids is not None else None,
        completion_token_ids=list(token_ids) if token_ids is not None else None,
        logprobs=logprobs,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or len(prompt_ids or [])),
        completion_tokens=int(usage.get("completion_tokens") or len(token_ids or [])),
    )
