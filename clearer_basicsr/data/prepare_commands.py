"""The command that makes each dataset folder the shipped option files read, so that the error for a
missing or empty folder can say how to make it: ``clearer-prepare COMMAND`` (installed with the
package; :mod:`clearer_basicsr.prepare`), whose ``--help`` links each dataset's official page."""

from __future__ import annotations

import os

_PHOTOS = (
    'apt-get download mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 '
    'lomiri-wallpapers-20.04 && clearer-prepare photos *.deb'
)
# A folder (path components, as in the option files) -> the command that writes it.
PREPARE_COMMANDS = {
    'datasets/demo': 'python -m clearer_basicsr.data.demo_data --out datasets/demo',
    'dncnn_gray': 'clearer-prepare bsd500 BSR --protocol dncnn --train400 Train400 --extra-test BSD68=BSD68',
    'cbsd432': 'clearer-prepare bsd500 BSR --protocol cbsd432 --extra-test CBSD68=CBSD68',
    'BSD500/gray': 'clearer-prepare bsd500 BSR --gray',
    'BSD500/color': 'clearer-prepare bsd500 BSR',
    'photos/gray': f'{_PHOTOS} --gray',
    'photos/color': _PHOTOS,
    'Rain800': 'clearer-prepare rain800 Rain800 --clean-side left',
    'Rain100L': 'clearer-prepare paired --layout rain100 --train RainTrainL --test Rain100L --out datasets/Rain100L',
    'Rain100H': 'clearer-prepare paired --layout rain100 --train RainTrainH --test Rain100H --out datasets/Rain100H',
    'Rain1400': 'clearer-prepare paired --layout rain1400 --train Rain1400/training '
    '--test Rain1400/testing --out datasets/Rain1400',
    'SIDD': 'clearer-prepare paired --layout sidd --train SIDD_Small_sRGB_Only --crop-size 512 '
    '--test SIDD_test --out datasets/SIDD',
    'GoPro': 'clearer-prepare paired --layout gopro --train GOPRO_Large/train --test GOPRO_Large/test '
    '--crop-size 512 --out datasets/GoPro',
}


def prepare_command(root: str) -> str | None:
    """The command that makes ``root`` (a folder inside one of :data:`PREPARE_COMMANDS`), or None."""
    parts = os.path.normpath(root).replace(os.sep, '/').split('/')
    for folder, command in PREPARE_COMMANDS.items():
        key = folder.split('/')
        if any(parts[i : i + len(key)] == key for i in range(len(parts))):
            return command
    return None
