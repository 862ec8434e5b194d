"""Evaluation checks of the "todoistdone" scenario (see evaluations/__init__.py)."""

from appworld.common.utils import set_of

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert model changes match todoist.Task.
    ("no_op_fail", True),  # obtain added, updated and removed todoist.Task records using models.changed_records, a...
    ("no_op_pass", True),  # assert no todoist.Task was added or removed.
    ("no_op_fail", False),  # assert the task is now completed, and only its is_completed field changed.
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
        obtain added, updated and removed todoist.Task records using models.changed_records,
        and assert the only updated task is private_data.task_id.
        """
    ):
        added_tasks, updated_tasks, removed_tasks = models.changed_records("todoist.Task")
        test.case(set_of(updated_tasks, "id"), "==", {private_data.task_id})
    with test(
        """
        assert no todoist.Task was added or removed.
        """
    ):
        added_tasks, _, removed_tasks = models.changed_records("todoist.Task")
        test.case(len(added_tasks) + len(removed_tasks), "==", 0)
    with test(
        """
        assert the task is now completed, and only its is_completed field changed.
        """
    ):
        task = models.end.todoist.Task.by_id(private_data.task_id)
        test.case(task.is_completed, "==", True)
        test.case(models.changed_field_names("todoist.Task", private_data.task_id), "==", {"is_completed"})
