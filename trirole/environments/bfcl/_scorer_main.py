"""BFCL's own checkers, run in BFCL's venv (started by `trirole.environments.bfcl.scorer`).

Standalone on purpose: it imports bfcl_eval, never trirole. One JSON request a line on
stdin, one JSON reply a line on stdout (BFCL prints progress to stdout: the replies go to
a private duplicate of it, and fd 1 is pointed at stderr).

A request: ``{"id": ENTRY_ID, "category": CATEGORY, "result": MODEL_RESULT}`` where
MODEL_RESULT is what BFCL's own result files hold for a prompting model: single-turn, the
model's reply (a string such as ``[f(a=1), g(b='x')]``); multi-turn, per turn, per step,
such a string. The entry and its ground truth are loaded the way BFCL's ``evaluate_task``
loads them, and the verdict is that of BFCL's own per-entry functions in
``bfcl_eval.eval_checker.eval_runner`` (AST, relevance/irrelevance, multi-turn), with the
handler of SCORING_MODEL (a prompting model whose replies BFCL decodes as Python calls).
Reply: ``{"valid": bool, "error": ..., "error_type": ...}``; for multi-turn also
``requests`` (the entry's user requests) and ``requests_correct``: how many requests were
right before the first wrong one, by the same function on the first k requests of the
answer and the ground truth (BFCL checks requests in order and stops at the first whose
state or responses are wrong, so the first k pass exactly when each of them does).
"""

import json
import os
import sys
import traceback

SCORING_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def main():
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.utils import (is_multi_turn, is_relevance_or_irrelevance, load_dataset_entry,
                                 load_ground_truth_entry)

    handler = eval_runner.get_handler(SCORING_MODEL)
    prompts, answers = {}, {}

    def load(category):
        if category not in prompts:
            prompts[category] = {e["id"]: e for e in load_dataset_entry(
                category, include_prereq=False, include_language_specific_hint=False)}
            answers[category] = ({} if is_relevance_or_irrelevance(category)
                                 else {e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)})
        return prompts[category], answers[category]

    def multi_turn(entry_id, result, truth, prompt, category):
        # The checker keeps each entry's instances in the utilities' globals (BFCL scores
        # an entry once per process); each scoring of an entry must start from fresh ones.
        before = set(vars(multi_turn_utils))
        try:
            return eval_runner._evaluate_single_multi_turn_entry(handler, entry_id, result, truth,
                                                                 json.loads(json.dumps(prompt)), SCORING_MODEL,
                                                                 category)
        finally:
            for name in set(vars(multi_turn_utils)) - before:
                del vars(multi_turn_utils)[name]

    def score(request):
        category, entry_id, result = request["category"], request["id"], request["result"]
        entries, truths = load(category)
        prompt = json.loads(json.dumps(entries[entry_id]))  # BFCL's functions may edit it
        if is_relevance_or_irrelevance(category):
            return eval_runner._evaluate_single_relevance_entry(handler, entry_id, result, prompt,
                                                                SCORING_MODEL, category)
        if is_multi_turn(category):
            truth = truths[entry_id]
            verdict = multi_turn(entry_id, result, truth, prompt, category)
            correct = len(truth) if verdict.get("valid") else 0
            while not verdict.get("valid") and correct < min(len(result), len(truth)):
                if not multi_turn(entry_id, result[:correct + 1], truth[:correct + 1], prompt, category).get("valid"):
                    break
                correct += 1
            return {**verdict, "requests": len(truth), "requests_correct": correct}
        return eval_runner._evaluate_single_ast_entry(handler, entry_id, result, truths[entry_id], prompt,
                                                      SCORING_MODEL, category, language=Language.PYTHON,
                                                      return_format=ReturnFormat.PYTHON, has_tool_call_tag=False)

    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        try:
            verdict = score(json.loads(line))
            reply = {"valid": bool(verdict.get("valid")), "error": verdict.get("error"),
                     "error_type": verdict.get("error_type"),
                     **{key: verdict[key] for key in ("requests", "requests_correct") if key in verdict}}
        except Exception:
            reply = {"internal_error": traceback.format_exc()}
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
