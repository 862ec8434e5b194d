"""The names of the custom events a trirole run dispatches (LangChain's
``adispatch_custom_event``), in one place for the nodes that send them and the traces and
transcripts that read them.

EXECUTION_EVENT: one code action ran (its step, code, result). TOOL_CALL_EVENT: a recorded
function call of that action (one per call, before the step's EXECUTION_EVENT; see
`trirole.calls`). FINAL_EVENT: the run ended (its status, answer and evaluation).
"""

EXECUTION_EVENT = "trirole_execution"
FINAL_EVENT = "trirole_final"
TOOL_CALL_EVENT = "trirole_tool_call"
