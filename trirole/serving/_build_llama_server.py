"""Build llama.cpp's OpenAI-compatible server (``llama-server``) from the llama.cpp sources
that PyPI's ``llama-cpp-python`` source distribution vendors.

Runs INSIDE the llama.cpp virtual environment (cmake and ninja from PyPI are installed
there) and must not import trirole:

    <llama-env>/bin/python _build_llama_server.py --version 0.3.36 --out <llama-env>/bin

Why the C++ server and not llama-cpp-python's own Python server: the C++ server batches
the requests in flight (parallel slots, continuous batching), keeps each slot's prompt in
its KV cache, and serves ``/tokenize``, ``/apply-template`` and a Prometheus ``/metrics``
with the prompt tokens it served from its cache. llama-cpp-python's server answers one
request at a time. Both are the same llama.cpp code underneath.

The build is for this CPU (``GGML_NATIVE``: ``-march=native``); the caller keys the
folder by the CPU's flags, and moves ``--out`` into place only when the build succeeded
(`trirole.serving.builds.build_once`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# Only llama-server and what it links; no curl/openssl (the model is a local file), no web
# UI (it would be downloaded), no tests, examples or other tools.
CMAKE_OPTIONS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
]


def say(message: str) -> None:
    print(f"[build llama-server] {message}", flush=True)


def run(argv: list[str], **kwargs) -> None:
    say("$ " + " ".join(argv))
    subprocess.run(argv, check=True, **kwargs)


def fetch_sources(version: str, work: Path) -> Path:
    """The llama.cpp folder vendored in llama-cpp-python's sdist (pip's cache serves a
    second download)."""
    # --no-binary for this package only: ":all:" would also compile its build tools (cmake) from source.
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python", "--dest", str(work),
         f"llama-cpp-python=={version}"])
    (sdist,) = work.glob("llama_cpp_python-*.tar.gz")
    prefix = f"{sdist.name[:-len('.tar.gz')]}/vendor/llama.cpp/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        archive.extractall(work, members=members, filter="data")
    return work / prefix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="llama-cpp-python version whose llama.cpp to build")
    parser.add_argument("--out", required=True, type=Path, help="folder to put llama-server in")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    for tool in ("c++", "cc"):
        if shutil.which(tool) is None:
            sys.exit(f"no C/C++ compiler ({tool}) on PATH: install one (Debian: apt-get install build-essential)")
    bin_dir = Path(sys.executable).parent
    cmake, ninja = bin_dir / "cmake", bin_dir / "ninja"
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trirole-llama-build-") as tmp:
        work = Path(tmp)
        source = fetch_sources(args.version, work)
        build = work / "build"
        run([str(cmake), "-S", str(source), "-B", str(build), "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}",
             *CMAKE_OPTIONS])
        run([str(cmake), "--build", str(build), "--target", "llama-server", "--parallel", str(args.jobs)])
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build / "bin" / "llama-server", args.out / "llama-server")
    say(f"built {args.out / 'llama-server'} in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
