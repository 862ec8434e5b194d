"""Evaluation checks of the "phonealarm" scenario (see evaluations/__init__.py)."""

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert model changes match phone.Alarm.
    ("no_op_fail", False),  # assert exactly one phone.Alarm was added.
    ("no_op_pass", True),  # assert no existing phone.Alarm was updated or removed.
    ("no_op_fail", False),  # assert the new alarm belongs to the supervisor, is enabled, and has the time, label a...
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
        assert model changes match phone.Alarm.
        """
    ):
        test.case(models.changed_model_names(), "==", {"phone.Alarm"})
    with test(
        """
        assert exactly one phone.Alarm was added.
        """
    ):
        added_alarms, updated_alarms, removed_alarms = models.changed_records("phone.Alarm")
        test.case(len(added_alarms), "==", 1)
    with test(
        """
        assert no existing phone.Alarm was updated or removed.
        """
    ):
        _, updated_alarms, removed_alarms = models.changed_records("phone.Alarm")
        test.case(len(updated_alarms) + len(removed_alarms), "==", 0)
    with test(
        """
        assert the new alarm belongs to the supervisor, is enabled, and has the time,
        label and repeat days of public_data.
        """
    ):
        alarm = added_alarms[0]
        test.case(alarm.user_id, "==", private_data.user_id)
        test.case(alarm.enabled, "==", True)
        test.case(alarm.time.zfill(5), "==", public_data.time)
        test.case(alarm.label, "==", public_data.label, normalize_text=True)
        test.case(set(alarm.repeat_days), "==", set(public_data.repeat_days))
