"""Evaluation checks of the "notetasks" scenario (see evaluations/__init__.py)."""

from appworld.common.utils import set_of

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert model changes match todoist.Task.
    ("no_op_fail", False),  # assert the titles of the added tasks match private_data.items (one task per item).
    ("no_op_fail", False),  # assert all added tasks are in project private_data.project_id.
    ("no_op_pass", True),  # assert no existing todoist.Task was updated or removed.
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
        assert model changes match todoist.Task.
        """
    ):
        test.case(models.changed_model_names(), "==", {"todoist.Task"})
    with test(
        """
        assert the titles of the added tasks match private_data.items (one task per item).
        """
    ):
        added_tasks, updated_tasks, removed_tasks = models.changed_records("todoist.Task")
        test.case(
            sorted(task.title.strip().lower() for task in added_tasks),
            "==",
            sorted(item.strip().lower() for item in private_data["items"]),
        )
    with test(
        """
        assert all added tasks are in project private_data.project_id.
        """
    ):
        test.case(set_of(added_tasks, "project_id"), "==", {private_data.project_id})
    with test(
        """
        assert no existing todoist.Task was updated or removed.
        """
    ):
        _, updated_tasks, removed_tasks = models.changed_records("todoist.Task")
        test.case(len(updated_tasks) + len(removed_tasks), "==", 0)
