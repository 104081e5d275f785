"""GRPO with TRL on any openenvs environment, in a dozen lines.

python trainers/grpo.py                                  # arithmetic, bundled SmolLM2, CPU
python trainers/grpo.py --env math/gsm8k-v1 --use-vllm   # on a GPU with vLLM
openenvs train trainers/grpo_arithmetic_cpu.yaml         # the same through a recipe
"""

from __future__ import annotations

import argparse

import torch
from trl import GRPOConfig, GRPOTrainer

from openenvs.models import default_model_dir
from openenvs.trl import for_grpo

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--env", default="math/arithmetic-v1", help="registered env id")
parser.add_argument("--model", default=None, help="model folder (default: bundled SmolLM2-135M-Instruct)")
parser.add_argument("--steps", type=int, default=40)
parser.add_argument("--use-vllm", action="store_true", help="generate with vLLM colocated on the GPU")
args = parser.parse_args()

torch.set_num_threads(1)  # a shared 2-core CPU is fastest with one thread
config = GRPOConfig(
    output_dir="runs/grpo",
    max_steps=args.steps,
    per_device_train_batch_size=24,
    num_generations=6,
    max_completion_length=32 if args.env.startswith("math/arithmetic") else 256,
    learning_rate=1e-5,
    logging_steps=1,
    report_to=[],
    use_vllm=args.use_vllm,
    vllm_mode="colocate",
    use_cpu=not torch.cuda.is_available(),
    bf16=torch.cuda.is_available(),  # bf16 on a CPU falls back to a slow reference GEMM
    gradient_checkpointing=torch.cuda.is_available(),
)
trainer = GRPOTrainer(model=args.model or str(default_model_dir()), args=config, **for_grpo(args.env, n=1024))
trainer.train()
