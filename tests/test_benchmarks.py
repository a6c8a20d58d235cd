"""The FLOP count behind the GPU run's MFU."""
from benchmarks.gpu import flops_per_token


def test_model_flops_per_token_count_matmuls_and_attention():
    layers, width, vocab, seq = 12, 768, 40478, 128  # the gpt1 shape at the CPU benchmark's batch
    weights = layers * 12 * width ** 2 + vocab * width  # q, k, v, projection and the 4x MLP, plus the tied head
    assert flops_per_token("gpt1") == 6 * weights + 12 * layers * width * seq
