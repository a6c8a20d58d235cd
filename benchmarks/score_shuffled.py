"""The lecture's "which sentence sounds like people talking" check on a pretrained model.

    python benchmarks/score_shuffled.py --pretrained outputs/pretrain_small/final \
        [--config configs/pretrain_small.yaml] [--n 300] [--out benchmarks/results/score_shuffled.json]

Takes sentences from the plays the pretraining run held out for validation (the split `--config` defines),
shuffles the words of each, and counts how often `mindgpt.score` gives the real sentence the higher log P(U).
Two units are reported: sentences (text between . ! ?) of 8–40 words, and verse lines of 6 words or more
(fragments of sentences, so less evidence about word order per item).
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from mindgpt import GPTLMHeadModel, GPTTokenizer, score
from mindgpt.cli import set_up_device
from mindgpt.data.corpus import split_documents
from mindgpt.data.corpora import read_corpus
from mindgpt.train.settings import PretrainSettings, load_settings


def speech(play: str) -> list[str]:
    """The play's spoken lines, without the speaker labels ("ROMEO:")."""
    return [line.strip() for line in play.splitlines() if line.strip() and not line.strip().endswith(":")]


def sentences(play: str) -> list[str]:
    return [s.strip() for s in re.findall(r"[^.!?]+[.!?]", " ".join(speech(play)))]


def compare(model, tokenizer, texts: list[str], rng: np.random.Generator) -> dict:
    shuffled = [" ".join(rng.permutation(text.split())) for text in texts]
    real, fake = score(model, tokenizer, texts), score(model, tokenizer, shuffled)
    wins = [r["log_prob"] > f["log_prob"] for r, f in zip(real, fake)]
    losses = [{"real": t, "shuffled": s, "log_prob": r["log_prob"], "shuffled_log_prob": f["log_prob"]}
              for t, s, r, f, w in zip(texts, shuffled, real, fake, wins) if not w]
    return {"n": len(texts), "real_wins": int(sum(wins)), "fraction": float(np.mean(wins)), "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", default="outputs/pretrain_small/final")
    parser.add_argument("--config", default="configs/pretrain_small.yaml", help="the run's corpus and split")
    parser.add_argument("--n", type=int, default=300, help="items per unit, drawn with --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/score_shuffled.json")
    args = parser.parse_args()
    set_up_device()
    settings, _ = load_settings(args.config, settings_class=PretrainSettings)
    docs, _ = read_corpus(settings.corpus, settings.data_dir)
    _, held_out = split_documents(docs, settings.val_fraction, settings.seed)
    model, tokenizer = GPTLMHeadModel.from_pretrained(args.pretrained), GPTTokenizer.from_pretrained(args.pretrained)

    def fits(text: str) -> bool:  # with [BOS]
        return len(tokenizer.encode(text)) < model.config.n_positions

    units = {
        "sentences of 8-40 words": [s for _, play in held_out for s in sentences(play)
                                    if 8 <= len(s.split()) <= 40 and fits(s)],
        "verse lines of 6+ words": [line for _, play in held_out for line in speech(play)
                                    if len(line.split()) >= 6 and fits(line)],
    }
    rng = np.random.default_rng(args.seed)
    results = {}
    for unit, texts in units.items():
        picked = [texts[i] for i in sorted(rng.choice(len(texts), min(args.n, len(texts)), replace=False))]
        results[unit] = compare(model, tokenizer, picked, rng)
        print(f"{unit}: real > shuffled in {results[unit]['real_wins']} of {results[unit]['n']} "
              f"({results[unit]['fraction']:.1%})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"pretrained": args.pretrained, "held_out": [n for n, _ in held_out],
                                          "seed": args.seed, "results": results}, indent=1))
    print(f"held-out plays: {', '.join(n for n, _ in held_out)}; details: {args.out}")


if __name__ == "__main__":
    main()
