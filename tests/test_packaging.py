"""A non-editable install carries what the main job needs: the run configs travel inside the package, so
`python -m mindgpt pretrain` finds its default config from any folder."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_every_config_and_the_installed_package_finds_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("mindgpt-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(name).name for name in archive.namelist() if name.startswith("mindgpt/configs/")}
        archive.extractall(tmp_path / "site")
    assert shipped == {p.name for p in (ROOT / "configs").glob("*.yaml")}

    # from an empty folder, with only the unpacked wheel on the path: the default config loads by its name
    probe = ("from mindgpt.train.settings import CONFIG_DIR, load_settings; s, _ = load_settings("
             "'configs/pretrain_small.yaml'); print(CONFIG_DIR, s.corpus)")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run([sys.executable, "-c", probe], cwd=empty, env={"PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tmp_path / "site" / "mindgpt" / "configs"), "shakespeare"]
