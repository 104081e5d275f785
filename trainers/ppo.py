"""PPO (openenvs.trl.PPOTrainer, written in TRL's style) on any openenvs environment.

python trainers/ppo.py                                   # arithmetic, bundled SmolLM2, CPU
openenvs train trainers/ppo_arithmetic.yaml              # the same through a recipe
"""

from __future__ import annotations

import argparse

import torch

from openenvs.models import default_model_dir
from openenvs.trl import PPOConfig, PPOTrainer

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--env", default="math/arithmetic-v1", help="registered env id")
parser.add_argument("--model", default=None, help="model folder (default: bundled SmolLM2-135M-Instruct)")
parser.add_argument("--episodes", type=int, default=512)
args = parser.parse_args()

torch.set_num_threads(1)  # a shared 2-core CPU is fastest with one thread
config = PPOConfig(
    output_dir="runs/ppo",
    total_episodes=args.episodes,
    max_completion_length=32,
    learning_rate=1e-5,
    logging_steps=1,
    report_to=[],
    use_cpu=not torch.cuda.is_available(),
)
trainer = PPOTrainer(model=args.model or str(default_model_dir()), args=config, env=args.env)
trainer.train()
