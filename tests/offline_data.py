"""A fresh data_dir for tests that read the pinned PyPI releases: their unpacked folders linked from the
repository's download cache (data_cache/, fetched there once), so a test writes its caches into its own folder."""
import os
from pathlib import Path

from mindgpt.data.sources import PACKAGES

DOWNLOADS = Path(__file__).resolve().parents[1] / "data_cache"


def linked_data_dir(folder: Path) -> Path:
    """`folder`, holding a link to each release in DOWNLOADS; a release not there is fetched into `folder` on use."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in PACKAGES.items():
        release = DOWNLOADS / f"{name}-{version}"
        if release.is_dir() and not (folder / release.name).exists():
            os.symlink(release, folder / release.name)
    return folder
