"""Shared test fixtures. Each area keeps its fixtures in its own module, imported here."""
from fixtures_server import embedded_server, llama_cpp_server, model_server, vllm_cpu_server  # noqa: F401
from fixtures_appworld import appworld_server, isolated_home  # noqa: F401
