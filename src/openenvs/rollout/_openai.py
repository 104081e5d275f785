"""`OpenAIPolicy`: any OpenAI-compatible chat server, with vLLM's exact token ids when available."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from .._errors import MissingDependency, OpenEnvsError
from .._types import Message, ToolCall, ToolSpec
from ._chat import render_text_tools, template_messages
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
        self._version_checked = False

    @property
    def model_info(self) -> ModelInfo:
        """Model name, revision, server URL and (after the first request) the server's version."""
        return ModelInfo(
            name=self.model,
            revision=self.revision,
            backend="openai",
            backend_version=self._backend_version,
            base_url=self.root,
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
        """Request one chat completion and keep its token ids and logprobs."""
        await self._check_version()
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

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None


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
