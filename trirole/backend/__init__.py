"""The model backend: any OpenAI-compatible endpoint, vLLM first.

Modules: `models` (a role's chat model, the endpoint preflight), `replicas` (several
replicas of one model behind one chat model, with per-replica counts), `tokens` (prompt
sizes: vLLM's ``/tokenize`` or a conservative estimate), `errors` (what the backend
raises, each with the fix). It depends on the settings only.
"""

from trirole.backend.errors import BackendError, EndpointUnreachable, ModelNotFound
from trirole.backend.models import check_endpoint, context_overflow_reason, describe_model_error, make_chat_model
from trirole.backend.replicas import (PooledChatModel, ReplicaPool, counts_since, merge_counts, pooled_chat_model,
                                      replica_counts, shared_pool)
from trirole.backend.tokens import HeuristicTokenCounter, ServerTokenCounter, TokenCounter, server_root

__all__ = ["BackendError", "EndpointUnreachable", "HeuristicTokenCounter", "ModelNotFound", "PooledChatModel",
           "ReplicaPool", "ServerTokenCounter", "TokenCounter", "check_endpoint", "context_overflow_reason", "counts_since",
           "describe_model_error", "make_chat_model", "merge_counts", "pooled_chat_model", "replica_counts",
           "server_root", "shared_pool"]
