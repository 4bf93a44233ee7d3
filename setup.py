"""clearer-basicsr: CLEARER multi-scale NAS for image restoration, as a BasicSR plugin."""

import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
# The console scripts: clearer-<name> for each (targets in _clearer_basicsr_cli).
COMMANDS = (
    'train',
    'test',
    'demo',
    'compare',
    'complexity',
    'evaluate',
    'infer',
    'export',
    'options',
    'zoo',
    'prepare',
)
PTH = 'clearer_basicsr.pth'  # one import line: installs the start-up hook (_clearer_basicsr_hook.py)


class BuildPyWithPth(build_py):
    """Regular installs: the .pth travels in build_lib, hence to site-packages."""

    def run(self):
        super().run()
        shutil.copy(os.path.join(HERE, PTH), os.path.join(self.build_lib, PTH))


class EditableWheelWithPth(editable_wheel):
    """Editable installs build their wheel without build_py's output; add the .pth to it."""

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        shutil.copy(os.path.join(HERE, PTH), os.path.join(installation_dir, PTH))


setup(
    name='clearer-basicsr',
    version='0.1.0',
    description='CLEARER multi-scale neural architecture search for image restoration, as a BasicSR plugin',
    long_description=open(os.path.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    project_urls={
        'Paper': 'https://proceedings.neurips.cc/paper/2020/hash/c6e81542b125c36346d9167691b8bd09-Abstract.html',
        'BasicSR': 'https://github.com/XPixelGroup/BasicSR',
    },
    python_requires='>=3.10',  # option_rules.py uses types.UnionType (3.10)
    packages=find_packages(include=['clearer_basicsr', 'clearer_basicsr.*']),
    py_modules=['_clearer_basicsr_hook', '_clearer_basicsr_cli'],
    package_data={
        'clearer_basicsr.options': ['*.yml', '**/*.yml'],  # every task's option files, baselines, demo
        'clearer_basicsr.zoo': ['*/*.yml', '*/*.pth', '*/*.png'],  # the zoo's entries: genotypes, weights, cards
    },
    install_requires=[
        'torch',
        'torchvision',
        'basicsr==1.4.2',
        'mmengine',
        'opencv-python',
        'lmdb',
        'pyyaml',
        'numpy',
        'scikit-image',
        'matplotlib',  # TensorBoard: basicsr requires tb-nightly, which is the tensorboard module SummaryWriter uses
        'tqdm',
    ],
    extras_require={
        'export': ['onnx', 'onnxscript', 'onnxruntime'],  # clearer-export --onnx and its check
        'bm3d': ['bm3d'],  # the BM3D reference of the evaluation and the zoo
        'test': ['pytest', 'ruff', 'onnx', 'onnxscript', 'onnxruntime'],
    },
    entry_points={  # targets in _clearer_basicsr_cli: they import the package after parsing (--help needs no torch)
        'console_scripts': [f'clearer-{name} = _clearer_basicsr_cli:{name}' for name in COMMANDS]
    },
    cmdclass={'build_py': BuildPyWithPth, 'editable_wheel': EditableWheelWithPth},
)
