"""The benchmarks' pure parts: the FLOP counts behind MFU and the GEMM-limit fraction, the table rows, and the
course-flow comparison's batches and compile-time estimate. No torch here: CI has none."""
import os

import numpy as np
import pytest

from benchmarks import run
from benchmarks.course_flow import StepClock, batch_shapes, first_step_overhead, pad_per_batch, table
from benchmarks.gpu import flops_per_token
from conftest import FIXTURES


def test_model_flops_per_token_count_matmuls_and_attention():
    layers, width, vocab, seq = 12, 768, 40478, 128  # the gpt1 shape at the CPU benchmark's batch
    weights = layers * 12 * width ** 2 + vocab * width  # q, k, v, projection and the 4x MLP, plus the tied head
    assert flops_per_token("gpt1") == 6 * weights + 12 * layers * width * seq


def test_gemm_fraction_is_model_flops_per_second_over_the_peak():
    per_token = run.flops_per_token("6x384")
    assert run.gemm_fraction(per_token, 1000.0, per_token * 4000.0) == pytest.approx(0.25)
    # a step of b x t tokens in s seconds: the same thing per step
    _, b, t = run.SHAPES["6x384"]
    step_s, peak = 1.7, 1e11
    assert run.gemm_fraction(per_token, b * t / step_s, peak) == pytest.approx(per_token * b * t / step_s / peak)


def fake_runs(ms_rate, pt_rate):
    def train(rate):
        return [{"tokens_per_s": rate, "compile_s": 1.0, "peak_rss_mib": 1000.0}]
    return {("mindgpt", "train"): train(ms_rate), ("torch", "train"): train(pt_rate)}


def test_summary_and_table_carry_the_gemm_limit_column():
    per_token = run.flops_per_token("6x384")
    gemm = {"mindgpt": {"gemm_flops": per_token * 1000.0}, "torch": {"gemm_flops": per_token * 4000.0}}
    row = run.summarize("6x384", fake_runs(500.0, 1000.0), gemm)
    assert row["train_gemm_fraction"] == pytest.approx((0.5, 0.25))
    assert row["gemm_peak_gflops"] == pytest.approx((per_token * 1e-6, per_token * 4e-6))
    lines = run.table({"6x384": row}, {}).splitlines()
    assert lines[0].endswith("| mindgpt / HF | share of the GEMM limit, mindgpt · torch |")
    assert "| 6x384 (8×128) | training tokens/s (fwd + bwd + AdamW) | 500 | 1,000 | 0.50× | 50.0% · 25.0% |" in lines
    peak = next(line for line in lines if "single-GEMM peak" in line)
    assert peak.endswith("| 0.25× |  |")  # the GEMM share is the training row's alone
    assert not any("fraction" in line for line in lines)  # a column, not a row
    assert "train_gemm_fraction" not in run.summarize("6x384", fake_runs(500.0, 1000.0))  # no GEMM children run


def test_summary_carries_single_and_batched_generation():
    runs = fake_runs(500.0, 1000.0)
    runs["mindgpt", "generate"] = [{"cached_tokens_per_s": 50.0, "uncached_tokens_per_s": 5.0,
                                    "cached_equals_uncached": True, "batched_tokens_per_s": 200.0}]
    runs["torch", "generate"] = [{"tokens_per_s": 10.0, "batched_tokens_per_s": 40.0}]
    row = run.summarize("6x384", runs)
    assert row["generate_cached_tokens_per_s"] == (50.0, 10.0)
    assert row["generate_batched_tokens_per_s"] == (200.0, 40.0)
    assert "| generation tokens/s, batched (mindgpt with cache) | 200.0 | 40.0 | 5.00× |" in run.table({"6x384": row}, {})


def test_one_prompts_generation_time_is_the_median_of_its_runs(monkeypatch):
    """A run is a few seconds of decoding, short enough for a slow spell of the host to fill it: both frameworks'
    one-prompt generation is timed several times and the median reported, with the last run's output."""
    from benchmarks import bench_generate

    seconds = iter([3.0, 1.0, 2.0])
    outputs = iter(["first", "second", "third"])
    monkeypatch.setattr(bench_generate, "timed", lambda run: (next(seconds), next(outputs)))
    assert bench_generate.median_timed(lambda: None, 3) == (2.0, "third")


def test_course_flow_rows_join_the_table():
    side = {"train_samples_per_s": 2.0, "eval_samples_per_s": 8.0, "compile_s": 0.0}
    course = {"summary": {"mindgpt": {**side, "train_samples_per_s": 1.5, "compile_s": 12.0}, "torch": side}}
    rows = run.course_rows(course)
    assert rows["course_train_samples_per_s"] == (1.5, 2.0)
    settings = {"course": {"preset": "6x384", "batch": 4, "max_length": 512}}
    lines = run.table({run.COURSE: rows}, settings).splitlines()
    assert "| course flow (6x384, 4 × ≤512) | train samples/s, Trainer, compile included | 1.50 | 2.00 | 0.75× |  |" \
        in lines
    assert any(line.endswith("| 12.0 | 0.0 | – |  |") for line in lines)  # no division by a zero compile time


ROWS = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 1},
        {"input_ids": [8], "attention_mask": [1], "labels": 0},
        {"input_ids": [9, 10, 11, 12, 13], "attention_mask": [1] * 5, "labels": 1}]


def test_course_collator_pads_each_batch_to_its_own_longest_row():
    first, second = pad_per_batch(ROWS[:2], pad_token_id=3), pad_per_batch(ROWS[2:], pad_token_id=3)
    np.testing.assert_array_equal(first["input_ids"], [[5, 6, 7], [8, 3, 3]])
    np.testing.assert_array_equal(first["attention_mask"], [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(first["labels"], [1, 0])
    assert second["input_ids"].shape == (1, 5)  # not padded to the first batch's width, nor to a maximum


def test_course_collator_batches_equal_the_course_pipelines():
    """The torch side's batches are the mindgpt side's: the course's `padded_batch` over the same rows."""
    from mindspore.dataset import GeneratorDataset

    source = [(np.array(r["input_ids"], np.int32), np.array(r["attention_mask"], np.int32), np.int32(r["labels"]))
              for r in ROWS]
    dataset = GeneratorDataset(source, ["input_ids", "attention_mask", "labels"], shuffle=False).padded_batch(
        2, pad_info={"input_ids": (None, 3), "attention_mask": (None, 0)})
    for ours, theirs in zip([pad_per_batch(ROWS[:2], 3), pad_per_batch(ROWS[2:], 3)],
                            dataset.create_dict_iterator(num_epochs=1, output_numpy=True)):
        for column in ("input_ids", "attention_mask", "labels"):
            np.testing.assert_array_equal(ours[column], theirs[column])


def test_course_collator_pads_as_transformers_does():
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(FIXTURES, "hf_openai_gpt", "course", "tokenizer.json"), pad_token="<pad>")
    theirs = transformers.DataCollatorWithPadding(tokenizer, return_tensors="np")(ROWS)
    ours = pad_per_batch(ROWS, tokenizer.pad_token_id)
    for column in ("input_ids", "attention_mask", "labels"):
        np.testing.assert_array_equal(ours[column], theirs[column])


def test_batch_shapes_by_width_and_by_bucket():
    lengths = [30, 40, 17, 100, 60]
    assert batch_shapes(lengths, 2) == [(2, 40), (2, 100), (1, 60)]
    assert batch_shapes(lengths, 2, lambda width: 64 if width <= 64 else 128) == [(2, 64), (2, 128), (1, 64)]


def test_first_step_overhead_subtracts_a_steady_step_of_the_same_shape():
    shapes = [(4, 64), (4, 64), (4, 64), (4, 128), (2, 64)]
    steps = [5.0, 1.0, 1.2, 9.0, 3.0]
    out = first_step_overhead(steps, shapes)
    # (4, 64): 5.0 - median(1.0, 1.2); (4, 128) and (2, 64) seen once: minus 1.1 s per 256 tokens, scaled
    per_token = (1.0 + 1.2) / 512
    expected = (5.0 - 1.1) + (9.0 - per_token * 512) + (3.0 - per_token * 128)
    assert out["new_shapes"] == 3 and out["first_steps_s"] == pytest.approx(17.0)
    assert out["compile_s"] == pytest.approx(expected) and out["steady_step_s"] == pytest.approx(1.1)
    with pytest.raises(ValueError):
        first_step_overhead(steps[:-1], shapes)


def test_step_clock_times_each_step_from_the_start_of_training():
    clock = StepClock()
    clock.on_train_begin(None, None, None)
    for _ in range(3):
        clock.on_step_end(None, None, None, model=None)
    assert len(clock.step_s) == 3 and all(s >= 0 for s in clock.step_s)


def test_course_table_rows_and_ratios():
    side = {"train_samples_per_s": 2.0, "eval_samples_per_s": 8.0, "train_wall_s": 128.0, "compile_s": 0.0,
            "new_shapes": 5, "padded_tokens": 1000, "steady_step_s": None, "peak_rss_mib": 900.0}
    markdown = table({"mindgpt": {**side, "train_samples_per_s": 1.0, "compile_s": 20.0}, "torch": side})
    assert "| train samples/s (wall of train(), compile included) | 1.00 | 2.00 | 0.50× |" in markdown
    assert "| first step of each new shape beyond a steady step, s | 20.0 | 0.0 | – |" in markdown  # no 0 division
    assert "median step" not in markdown  # a value neither side has is left out
