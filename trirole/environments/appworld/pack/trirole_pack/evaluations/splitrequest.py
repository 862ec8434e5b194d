"""Evaluation checks of the "splitrequest" scenario (see evaluations/__init__.py)."""

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert Venmo payment requests were added from the supervisor to exactly the people in...
    ("no_op_fail", False),  # assert every added request has the description public_data.description.
    ("no_op_pass", True),  # assert no existing venmo.PaymentRequest was updated or removed.
    ("no_op_pass", True),  # assert nothing changed outside venmo.PaymentRequest, venmo.Notification.
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
        assert Venmo payment requests were added from the supervisor to exactly the people in
        private_data.requests, for those amounts.
        """
    ):
        added_requests, updated_requests, removed_requests = models.changed_records("venmo.PaymentRequest")
        requested = {}
        for request in added_requests:
            test.case(request.sender_id, "==", private_data.requester_user_id)
            email = models.end.venmo.User.by_id(request.receiver_id).email
            requested[email] = round(requested.get(email, 0) + request.amount, 2)
        test.case(requested, "==", dict(private_data.requests))
    with test(
        """
        assert every added request has the description public_data.description.
        """
    ):
        test.case(len(added_requests), ">", 0)
        for request in added_requests:
            test.case(request.description, "==", public_data.description, normalize_text=True)
    with test(
        """
        assert no existing venmo.PaymentRequest was updated or removed.
        """
    ):
        _, updated_requests, removed_requests = models.changed_records("venmo.PaymentRequest")
        test.case(len(updated_requests) + len(removed_requests), "==", 0)
    with test(
        """
        assert nothing changed outside venmo.PaymentRequest, venmo.Notification.
        """
    ):
        test.case(models.changed_model_names() - {"venmo.PaymentRequest", "venmo.Notification"}, "==", set())
