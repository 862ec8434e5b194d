"""Evaluation checks of the "notelookup" scenario (see evaluations/__init__.py)."""

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_fail", False),  # assert answers match.
    ("no_op_pass", True),  # assert no model changed: the task only asks a question.
]


def checks(test, public_data, private_data, main_user, models, ground_truth_answer, predicted_answer):
    with test(
        """
        assert answers match.
        """
    ):
        test.answer(predicted_answer, ground_truth_answer)
    with test(
        """
        assert no model changed: the task only asks a question.
        """
    ):
        test.case(models.changed_model_names(), "==", set())
