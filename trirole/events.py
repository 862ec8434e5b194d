"""The names of the custom events a trirole run dispatches (LangChain's
``adispatch_custom_event``), in one place for the nodes that send them and the traces and
transcripts that read them.

EXECUTION_EVENT: one code action ran (its step, code, result). FINAL_EVENT: the run ended
(its status, answer and evaluation). TOOL_CALL_EVENT: a recorded function call a code
action made (`trirole.calls`: a user's tool or a benchmark's function), one per call, sent
before its step's EXECUTION_EVENT.
"""

EXECUTION_EVENT = "trirole_execution"
FINAL_EVENT = "trirole_final"
TOOL_CALL_EVENT = "trirole_tool_call"
