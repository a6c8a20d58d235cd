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


def test_a_finished_run_is_reused_only_with_the_same_settings(tmp_path):
    import json
    import time

    import dataclasses

    script = load_script()
    recipe, _ = script.task_settings("mr", [])
    settings = dataclasses.replace(recipe, seed=1, output_dir=str(tmp_path))
    (tmp_path / "settings.json").write_text(json.dumps({**vars(settings), "lm_coef": 0.5}))
    assert script.finished_run(tmp_path, settings, {"lm_coef": 0.5}) is None  # started, never finished
    time.sleep(0.01)
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.6}}))
    assert script.finished_run(tmp_path, settings, {"lm_coef": 0.5}) == {"test": {"accuracy": 0.6}}
    assert script.finished_run(tmp_path, dataclasses.replace(settings, seed=2),
                               {"lm_coef": 0.5}) is None
    time.sleep(0.01)
    (tmp_path / "settings.json").touch()  # a rerun started over the old result and stopped
    assert script.finished_run(tmp_path, settings, {"lm_coef": 0.5}) is None
