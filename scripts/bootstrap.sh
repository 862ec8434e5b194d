#!/usr/bin/env bash
# Creates (once) and updates (when requirements/lock.txt changes) the project's virtual
# environment .venv with trirole and every extra installed, pinned by the lock file.
# Idempotent: a stamp holding the lock file's hash makes a second run instant.
# The heavy parts (vLLM, AppWorld) get their own environments on first use, cached
# under ${TRIROLE_HOME:-~/.cache/trirole}: see `trirole model serve` / `trirole env serve appworld`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# Debian packages: the python sandbox confines agent code with bubblewrap (`bwrap`), and the
# embedded model's server (llama.cpp) is compiled for this CPU on first use with a C++
# compiler (`c++`, Debian's `g++`). Installed here when missing and apt can run; otherwise
# say what to do.
need() {  # need COMMAND PACKAGE WHY FALLBACK
  command -v "$1" >/dev/null 2>&1 && return 0
  sudo=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && sudo="sudo -n"; }
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    echo "bootstrap: installing $2 ($3) with apt-get" >&2
    if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null; then
      echo "bootstrap: apt-get could not install $2 (output above); install it by hand (\`apt-get install $2\`) or $4" >&2
      exit 1
    fi
  else
    echo "bootstrap: $1 is missing and this shell cannot install it; run \`sudo apt-get install $2\`" \
         "(or your system's $2 package), or $4" >&2
  fi
}
need bwrap bubblewrap "the python sandbox's confinement" "run the python sandbox unconfined with isolation=\"process\""
need c++ g++ "to compile the embedded model's server for this CPU" "serve the embedded model with --engine vllm"
# The extras to install: all of them (`make test`, `make setup`) unless BOOTSTRAP_EXTRAS names
# fewer (`make demo` needs only `eval`: ray, studio and the test tools cost a first run
# minutes it does not use).
extras="${BOOTSTRAP_EXTRAS:-agents,eval,studio,test,ray,tools}"
# The stamp: the hash of the lock and pyproject.toml, then the extras installed with them.
stamp=.venv/.trirole-stamp
want="$(cat requirements/lock.txt pyproject.toml | sha256sum | cut -c1-16)"
have="" have_extras=""
[ -f "$stamp" ] && read -r have have_extras < "$stamp" || true
if [ "$have" = "$want" ]; then
  missing=$(comm -13 <(tr , '\n' <<<"$have_extras" | sort -u) <(tr , '\n' <<<"$extras" | sort -u))
  if [ -z "$missing" ] && .venv/bin/python -c "import trirole" 2>/dev/null; then
    exit 0
  fi
  # Same lock, more extras wanted: keep those installed in the stamp too.
  extras=$(tr , '\n' <<<"$have_extras,$extras" | grep -v '^$' | sort -u | paste -sd, -)
fi
echo "bootstrap: installing trirole [$extras] and its pinned dependencies into .venv (about a minute)" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/lock.txt \
  -e ".[$extras]" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
.venv/bin/python -c "import trirole, langgraph, langchain_openai" \
  || { echo "bootstrap: installation failed (see the pip output above)" >&2; exit 1; }
echo "$want $extras" > "$stamp"
