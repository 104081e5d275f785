from __future__ import annotations

from _require import require, require_module
from openenvs import Message, ToolCall, ToolSpec
from openenvs.tools import messages_for_template, parse_tool_calls, render_prompt, tools_system_prompt

TOOLS_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n{% endif %}"
    "<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools><|im_end|>\n{% endif %}"
    "{%- for m in messages %}{% if not (tools and m.role == 'system') %}<|im_start|>{{ m.role }}\n"
    "{% if m.content %}{{ m.content }}{% endif %}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(template: str | None):
    """A real transformers tokenizer built in memory (no download), with the given chat template."""
    transformers = require_module("transformers")
    tokenizers = require_module("tokenizers")
    vocab = {"[UNK]": 0, "hello": 1}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    tok.chat_template = template
    return tok


SPEC = ToolSpec(
    name="add", description="Add numbers.", parameters={"type": "object", "properties": {"a": {"type": "integer"}}}
)
CONVO = [
    Message(role="system", content="Be brief."),
    Message(role="user", content="What is 1+2?"),
    Message(role="assistant", tool_calls=[ToolCall.create("add", {"a": 1})]),
    Message(role="tool", content="3", tool_call_id="call_0", name="add"),
]


def test_template_with_tool_support_renders_them_itself():
    tok = make_tokenizer(TOOLS_TEMPLATE)
    text = render_prompt(CONVO, [SPEC], tok)
    expected = tok.apply_chat_template(
        messages_for_template(CONVO), tools=[SPEC.to_openai()], tokenize=False, add_generation_prompt=True
    )
    assert text == expected  # exactly the model's own layout: no drift
    assert '"name": "add"' in text and "<tools>" in text and text.endswith("<|im_start|>assistant\n")
    assert '<tool_call>{"arguments": {"a": 1}, "name": "add"}</tool_call>' in text or '"arguments": {"a": 1}' in text


def test_template_without_tool_support_gets_tools_in_the_system_message():
    tok = make_tokenizer(PLAIN_TEMPLATE)
    text = render_prompt(CONVO[:2], [SPEC], tok)
    assert text.startswith("<|im_start|>system\nBe brief.\n\nYou may call one or more functions")
    assert '"name": "add"' in text and text.count("<|im_start|>system") == 1
    # and the format it asks for is one the parser reads back
    assert parse_tool_calls('<tool_call>\n{"name": "add", "arguments": {"a": 2}}\n</tool_call>').calls[0].name == "add"


def test_template_without_a_tool_role_gets_tool_responses_as_user_turns():
    strict = (
        "{% for m in messages %}{% if m.role not in ['system', 'user', 'assistant'] %}"
        "{{ raise_exception('unknown role ' + m.role) }}{% endif %}"
        "<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    )
    text = render_prompt(CONVO, [SPEC], make_tokenizer(strict))
    assert "<|user|><tool_response>\n3\n</tool_response>" in text
    assert '<|assistant|><tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>' in text


def test_no_tokenizer_uses_a_plain_layout():
    text = render_prompt(CONVO, [SPEC])
    assert text.startswith("<|system|>\nBe brief.")
    assert '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>' in text
    assert text.endswith("<|assistant|>\n")
    assert render_prompt(CONVO[1:2], [], add_generation_prompt=False) == "<|user|>\nWhat is 1+2?"


def test_template_messages_decode_arguments():
    data = messages_for_template(CONVO)
    assert data[2]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert data[2]["content"] == ""
    assert "add" in tools_system_prompt([SPEC])


def test_real_smollm2_template_without_tool_support_falls_back():
    """SmolLM2-135M-Instruct's own template (bundled, converted locally) has no tools= support."""
    transformers = require_module("transformers")
    from openenvs.models import tiny_model_dir

    require("smollm2")
    folder = tiny_model_dir()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    text = render_prompt(CONVO[:2], [SPEC], tok)
    assert text.startswith("<|im_start|>system\nBe brief.\n\nYou may call one or more functions")
    assert '"name": "add"' in text and text.endswith("<|im_start|>assistant\n")
    # the whole conversation, tool result included, renders through the model's template
    full = render_prompt(CONVO, [SPEC], tok)
    assert "<|im_start|>tool\n3<|im_end|>" in full
    # the model's own earlier call is kept, written in the format the prompt asks for
    assert '<|im_start|>assistant\n<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call><|im_end|>' in full
