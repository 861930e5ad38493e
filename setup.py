"""Installs the Python package fp4gptq (python/fp4gptq) with its native module, built by CMake:

    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index .

The module is the build's target _native: in build/ (scripts/build.sh's tree, configured first if it is not
there) when that tree builds for this interpreter, else in build-py<version>/; FP4GPTQ_BUILD_DIR picks another.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent
MODULE = "_native" + sysconfig.get_config_var("EXT_SUFFIX")


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = self._build_dir()
        if not (build / "build.ninja").exists():
            subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja",
                                   "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}"])
        subprocess.check_call(["cmake", "--build", str(build), "--target", "_native"])
        built = build / "python/fp4gptq" / MODULE
        if not built.exists():
            raise RuntimeError(f"{build}: the CMake tree built no {MODULE} (another Python version); "
                               "set FP4GPTQ_BUILD_DIR to an empty directory")
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)

    @staticmethod
    def _build_dir():
        if "FP4GPTQ_BUILD_DIR" in os.environ:
            return pathlib.Path(os.environ["FP4GPTQ_BUILD_DIR"]).resolve()
        default = ROOT / "build"
        cache = default / "CMakeCache.txt"
        same_python = cache.exists() and any(
            line.split(":", 1)[0] in ("Python_EXECUTABLE", "_Python_EXECUTABLE") and "=" in line and
            os.path.realpath(line.split("=", 1)[1].strip()) == os.path.realpath(sys.executable)
            for line in cache.read_text().splitlines())
        if not cache.exists() or same_python:
            return default
        return ROOT / f"build-py{sys.version_info.major}{sys.version_info.minor}"


setup(
    packages=["fp4gptq", "fp4gptq.quantization"],
    package_dir={"": "python"},
    package_data={"fp4gptq": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("fp4gptq._native", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
