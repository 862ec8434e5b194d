"""Evaluation checks of the "textcode" scenario (see evaluations/__init__.py)."""

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert model changes match phone.GlobalTextMessage and phone.UserTextMessage.
    ("no_op_fail", False),  # assert exactly one text message was sent, from the supervisor to private_data.receive...
    ("no_op_fail", False),  # assert the message contains private_data.code.
    ("no_op_pass", True),  # assert no existing text message was changed or deleted.
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
        assert model changes match phone.GlobalTextMessage and phone.UserTextMessage.
        """
    ):
        test.case(
            models.changed_model_names(), "==", {"phone.GlobalTextMessage", "phone.UserTextMessage"}
        )
    with test(
        """
        assert exactly one text message was sent, from the supervisor to
        private_data.receiver_user_id.
        """
    ):
        added_messages, _, _ = models.changed_records("phone.GlobalTextMessage")
        test.case(len(added_messages), "==", 1)
        message = added_messages[0]
        test.case(message.sender_id, "==", private_data.sender_user_id)
        test.case(message.receiver_id, "==", private_data.receiver_user_id)
    with test(
        """
        assert the message contains private_data.code.
        """
    ):
        test.case(private_data.code.lower(), "in", message.message.lower())
    with test(
        """
        assert no existing text message was changed or deleted.
        """
    ):
        _, updated_messages, removed_messages = models.changed_records("phone.GlobalTextMessage")
        _, updated_user_messages, removed_user_messages = models.changed_records("phone.UserTextMessage")
        test.case(
            len(updated_messages) + len(removed_messages) + len(updated_user_messages) + len(removed_user_messages),
            "==",
            0,
        )
