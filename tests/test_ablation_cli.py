"""benchmarks/ablation/run.py takes key=value settings after `--seeds 0 1 2`, as its README writes them."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script():
    spec = importlib.util.spec_from_file_location("ablation_run", os.path.join(ROOT, "benchmarks", "ablation", "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_after_a_list_option_are_settings():
    args = load_script().parse_args(["--tasks", "mr", "tweets", "--seeds", "0", "1", "2", "epochs=2", "lr=3e-4"])
    assert args.tasks == ["mr", "tweets"] and args.seeds == [0, 1, 2]
    assert args.overrides == ["epochs=2", "lr=3e-4"]
