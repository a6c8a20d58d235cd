"""`python -m mindgpt <command>`: the entry point, where device, mode and distributed set-up happen once."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

DEFAULT_CONFIG = "configs/pretrain_small.yaml"  # found in the installed package when not beside the caller




def set_up_device() -> None:
    """GRAPH_MODE on DEVICE_TARGET (CPU unless the environment names GPU or Ascend), and data parallelism over
    the ranks when msrun or a rank table launched this process."""
    import mindspore as ms

    from .train.distributed import init_data_parallel

    target = os.environ.get("DEVICE_TARGET", "CPU")
    if target not in ("CPU", "GPU", "Ascend"):
        raise SystemExit(f"DEVICE_TARGET={target!r} must be CPU, GPU or Ascend")
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device(target)
    init_data_parallel()


def pretrain(args: argparse.Namespace) -> None:
    from .train.pretrain import pretrain as run
    from .train.settings import load_settings

    settings, model_overrides = load_settings(args.config or DEFAULT_CONFIG, args.overrides)
    set_up_device()
    summary = run(settings, model_overrides)
    if summary:
        print(f"\nvalidation perplexity {summary['val_ppl']:.2f} (unigram baseline of the same tokenizer: "
              f"{summary['unigram_ppl']:.2f})")
        print(f"sample: {summary['sample']}")
        print(f"model + tokenizer: {summary['final_dir']}  (GPTLMHeadModel/GPTTokenizer.from_pretrained)")
        print(f"loss plot: {summary['loss_plot'] or 'not drawn (see the warning above)'}  metrics: {summary['metrics']}")


def load_lm(directory: str):
    """The language model and tokenizer of a pretrained directory."""
    from . import GPTLMHeadModel, GPTTokenizer

    return GPTLMHeadModel.from_pretrained(directory), GPTTokenizer.from_pretrained(directory)


def generate(args: argparse.Namespace) -> None:
    from .tokenizer import document_separator, document_start

    set_up_device()
    model, tokenizer = load_lm(args.pretrained)
    # plain text ("[EOS]" stays characters), opened as pretraining documents open; a generated document
    # separator means the text has ended
    prompts = [document_start(tokenizer, ids) for ids in tokenizer.encode_batch(args.prompt or [""])]
    outputs = model.generate(prompts, max_new_tokens=args.max_new_tokens, do_sample=not args.greedy,
                             temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                             repetition_penalty=args.repetition_penalty, eos_token_id=document_separator(tokenizer),
                             seed=args.seed)
    for ids in outputs:
        print(tokenizer.decode(ids, skip_special_tokens=True))


def score(args: argparse.Namespace) -> None:
    from .likelihood import score as run

    set_up_device()
    model, tokenizer = load_lm(args.pretrained)
    print(f"{'log P(U)':>10} {'tokens':>6} {'perplexity':>10}  text")
    for row in run(model, tokenizer, args.texts):
        print(f"{row['log_prob']:10.2f} {row['n_tokens']:6d} {row['perplexity']:10.2f}  {row['text']}")


def export(args: argparse.Namespace) -> None:
    from .export import export as run, load_for_export

    set_up_device()
    model = load_for_export(args.pretrained, args.head, args.allow_new_head)
    path = run(model, args.output, args.batch_size, args.seq_len, args.format)
    print(f"{type(model).__name__} logits(input_ids, attention_mask) written to {path}; run it with "
          "mindspore.nn.GraphCell(mindspore.load(path))")


def add_inference_commands(commands) -> None:
    """The generate, score and export subcommands: each reads a pretrained directory (model + tokenizer)."""
    p = commands.add_parser("generate", help="continue a prompt with a pretrained LM")
    p.add_argument("--pretrained", required=True, help="directory with config.json, weights and tokenizer")
    p.add_argument("--prompt", action="append", default=[], help="text to continue (repeat for a batch; "
                   "default: from [BOS] alone)")
    p.add_argument("--max-new-tokens", type=int, default=50)
    p.add_argument("--greedy", action="store_true", help="take the most likely token instead of sampling")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=40, help="sample among the k likeliest tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus: the likeliest tokens holding p of the mass")
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int, help="make sampling repeatable")
    p.set_defaults(run=generate)
    p = commands.add_parser("score", help="log P(U) and perplexity of each text under a pretrained LM")
    p.add_argument("--pretrained", required=True, help="directory with config.json, weights and tokenizer")
    p.add_argument("texts", nargs="+", metavar="text")
    p.set_defaults(run=score)
    p = commands.add_parser("export", help="write a pretrained model's inference graph (MINDIR)")
    p.add_argument("--pretrained", required=True, help="directory with config.json and weights")
    p.add_argument("--format", default="MINDIR", choices=["MINDIR"])
    p.add_argument("--output", required=True, help="file to write (.mindir is added if missing)")
    p.add_argument("--head", choices=["lm", "classifier"],
                   help="which model to export (default: the class the checkpoint was saved as)")
    p.add_argument("--allow-new-head", action="store_true",
                   help="export a head the checkpoint lacks, randomly initialized (refused otherwise)")
    p.add_argument("--batch-size", type=int, help="fix the batch size (default: dynamic)")
    p.add_argument("--seq-len", type=int, help="fix the sequence length (default: dynamic, up to n_positions)")
    p.set_defaults(run=export)


def finetune(args: argparse.Namespace) -> None:
    from .train.finetune import finetune as run, summary_line
    from .train.settings import FinetuneSettings, load_settings

    settings, model_overrides = load_settings(args.config, args.overrides, settings_class=FinetuneSettings)
    set_up_device()
    summary = run(settings, model_overrides)
    if not summary:  # not rank 0, which reports for every rank
        return
    print(f"\nbest epoch {summary['best_epoch']} by validation {summary['metric']}; {summary_line(summary)}")
    print(f"model + tokenizer: {summary['best_dir']}  metrics: {settings.output_dir}/metrics.json  "
          f"predictions: {summary['predictions']}")


def evaluate(args: argparse.Namespace) -> None:
    from .train.finetune import evaluate_finetuned as run, summary_line
    from .train.settings import FinetuneSettings, load_settings, parse_overrides

    settings, model_overrides = load_settings(args.config, args.overrides, settings_class=FinetuneSettings)
    changed = sorted(set(parse_overrides(args.overrides)) & set(model_overrides))  # the YAML's own are as trained
    if changed:
        raise ValueError(f"evaluate takes the fine-tuned model as saved; drop the model settings {changed}")
    set_up_device()
    summary = run(args.finetuned_dir, settings)
    print(f"{summary_line(summary)}\nmetrics: {args.finetuned_dir}/evaluation/metrics.json  "
          f"predictions: {summary['predictions']}")


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m mindgpt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pretrain", help="pretrain a GPT with the LM objective (default: Shakespeare)")
    p.add_argument("--config", help=f"YAML settings: a path, or a shipped config's name (default {DEFAULT_CONFIG})")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override settings, e.g. max_steps=100")
    p.set_defaults(run=pretrain)
    add_inference_commands(commands)
    p = commands.add_parser("finetune", help="fine-tune a pretrained GPT on a task with L3 = L2 + λ·L1")
    p.add_argument("--config", required=True, help="YAML settings, e.g. configs/finetune_mr.yaml (a path, or a "
                   "shipped config's name)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. pretrained=outputs/pretrain_small/final")
    p.set_defaults(run=finetune)
    p = commands.add_parser("evaluate", help="score a fine-tuned model on its dataset's test split")
    p.add_argument("--finetuned", required=True, dest="finetuned_dir", help="a finetune output_dir (or its best/)")
    p.add_argument("--config", required=True, help="the YAML settings it was fine-tuned with")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. max_eval_examples=200")
    p.set_defaults(run=evaluate)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except FORESEEABLE as e:
        sys.exit(f"error: {describe(e)}")


# What bad settings, files and paths raise: the user gets one line, not a traceback.
FORESEEABLE = (ValueError, TypeError, KeyError, OSError, ArithmeticError)


def describe(error: BaseException) -> str:
    """The error in one line: an OSError as its reason and path, a KeyError as the key a file lacked, a
    library's several-line message joined."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    if isinstance(error, KeyError):
        return f"missing key {error} (a file without a field it needs?)"
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


if __name__ == "__main__":
    main()
