"""`python -m mindgpt <command>`: the entry point, where device, mode and distributed set-up happen once."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                              "pretrain_small.yaml")


def set_up_device() -> None:
    """GRAPH_MODE on DEVICE_TARGET (CPU unless the environment names GPU or Ascend)."""
    import mindspore as ms

    target = os.environ.get("DEVICE_TARGET", "CPU")
    if target not in ("CPU", "GPU", "Ascend"):
        raise SystemExit(f"DEVICE_TARGET={target!r} must be CPU, GPU or Ascend")
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device(target)


def pretrain(args: argparse.Namespace) -> None:
    from .train.pretrain import pretrain as run
    from .train.settings import load_settings

    config = args.config or (DEFAULT_CONFIG if os.path.isfile(DEFAULT_CONFIG) else None)
    settings, model_overrides = load_settings(config, args.overrides)
    set_up_device()
    summary = run(settings, model_overrides)
    if summary:
        print(f"\nvalidation perplexity {summary['val_ppl']:.2f} (unigram baseline of the same tokenizer: "
              f"{summary['unigram_ppl']:.2f})")
        print(f"sample: {summary['sample']}")
        print(f"model + tokenizer: {summary['final_dir']}  (GPTLMHeadModel/GPTTokenizer.from_pretrained)")
        print(f"loss plot: {summary['loss_plot']}  metrics: {summary['metrics']}")


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m mindgpt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pretrain", help="pretrain a GPT with the LM objective (default: Shakespeare)")
    p.add_argument("--config", help=f"YAML settings (default {os.path.relpath(DEFAULT_CONFIG)})")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override settings, e.g. max_steps=100")
    p.set_defaults(run=pretrain)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
