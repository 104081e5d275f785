"""Tool envs in TRL: a chat template with tool syntax for models whose own template has none.

The ``environment_factory`` class itself comes from :func:`openenvs.tools.environment_factory`
(the env's tools become typed methods; its checker scores the rollout through ``get_reward``).
"""

from __future__ import annotations

__all__ = ["chatml_tool_template"]


def chatml_tool_template() -> str:
    """Return a ChatML chat template that renders tools and tool calls (TRL's Qwen2.5 template).

    SmolLM2 speaks ChatML but its template has no tool support, which TRL's tool loop needs.
    Set ``tokenizer.chat_template = chatml_tool_template()`` before training tool envs.
    """
    from trl.chat_template_utils import qwen2_5_chat_template

    return str(qwen2_5_chat_template)
