"""Local model serving: detached server processes, separate venvs, the embedded model.

    from trirole.serving import find_local_server, serve
    record = find_local_server() or serve()     # record.url: OpenAI base URL (/v1)
    model = record.extra["model"]               # the served model name
"""

from trirole.serving.local_model import (
    DEFAULT_RECORD_NAME,
    EMBEDDED_MEMORY_GIB,
    EMBEDDED_MODEL_NAME,
    CheckpointBuildError,
    InsufficientMemoryError,
    ServeError,
    check_memory,
    ensure_checkpoint,
    ensure_vllm_env,
    find_local_server,
    serve,
    status,
    stop,
)
from trirole.serving.process import (
    ServerRecord,
    ServerStartError,
    free_port,
    log_tail,
    port_is_free,
    read_record,
    start_server,
    stop_server,
)
from trirole.serving.venvs import VenvInstallError, ensure_venv

__all__ = [
    # process
    "ServerRecord",
    "ServerStartError",
    "free_port",
    "port_is_free",
    "start_server",
    "read_record",
    "stop_server",
    "log_tail",
    # venvs
    "VenvInstallError",
    "ensure_venv",
    # local model
    "EMBEDDED_MODEL_NAME",
    "EMBEDDED_MEMORY_GIB",
    "DEFAULT_RECORD_NAME",
    "ServeError",
    "InsufficientMemoryError",
    "CheckpointBuildError",
    "check_memory",
    "ensure_vllm_env",
    "ensure_checkpoint",
    "serve",
    "status",
    "stop",
    "find_local_server",
]
