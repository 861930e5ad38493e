"""The README's install: a venv over Debian's Python with its system packages, and pip without network or build
isolation, builds (here: reuses this build's tree) and installs the package; it imports from anywhere."""
import os
import subprocess
import sys

from conftest import SOURCE


def test_pip_install_into_a_venv_and_import(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = dict(os.environ, PIP_NO_INDEX="1")
    env.pop("PYTHONPATH", None)  # the installed package, not the build tree's
    r = subprocess.run([str(venv / "bin/pip"), "install", "--no-build-isolation", "--no-index", "--no-deps",
                        "--no-cache-dir", str(SOURCE)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    code = ("import fp4gptq, pathlib; print(pathlib.Path(fp4gptq.__file__).parent); "
            "print(fp4gptq.BaseQuantizeConfig(dtype='bfloat16').dtype); "
            "from fp4gptq.quantization.config import QUANT_METHOD; print(QUANT_METHOD.NVFP4)")
    r = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, dtype, method = r.stdout.split()
    assert where.startswith(str(venv)) and dtype == "bfloat16" and method == "nvfp4"
    installed = os.listdir(where)
    assert any(f.startswith("_native.") and f.endswith(".so") for f in installed)
    assert "_native.pyi" in installed and "py.typed" in installed
