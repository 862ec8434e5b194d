"""Evaluation checks of the "venmoapprove" scenario (see evaluations/__init__.py)."""

from appworld.common.utils import set_of

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert every request in private_data.request_ids is now approved.
    ("no_op_pass", True),  # assert no other venmo.PaymentRequest was updated, and none was added or removed.
    ("no_op_fail", False),  # assert the added venmo.Transaction records pay the requesters: sent by the supervisor...
    ("no_op_pass", True),  # assert nothing changed outside venmo.PaymentRequest, venmo.Transaction, venmo.User, ve...
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
        assert every request in private_data.request_ids is now approved.
        """
    ):
        for request_id in private_data.request_ids:
            request = models.end.venmo.PaymentRequest.by_id(request_id)
            test.case(request.approved_at is not None, "==", True)
            test.case(request.denied_at, "is", None)
    with test(
        """
        assert no other venmo.PaymentRequest was updated, and none was added or removed.
        """
    ):
        added_requests, updated_requests, removed_requests = models.changed_records(
            "venmo.PaymentRequest"
        )
        test.case(set_of(updated_requests, "id") - set(private_data.request_ids), "==", set())
        test.case(len(added_requests) + len(removed_requests), "==", 0)
    with test(
        """
        assert the added venmo.Transaction records pay the requesters: sent by the supervisor,
        matching private_data.payments (email, amount).
        """
    ):
        added_transactions, _, _ = models.changed_records("venmo.Transaction")
        test.case(set_of(added_transactions, "sender_id"), "==", {private_data.user_id})
        payments = sorted(
            [models.end.venmo.User.by_id(t.receiver_id).email, round(t.amount, 2)]
            for t in added_transactions
        )
        test.case(payments, "==", [list(p) for p in private_data.payments])
    with test(
        """
        assert nothing changed outside venmo.PaymentRequest, venmo.Transaction, venmo.User, venmo.Notification, venmo.BankTransfer.
        """
    ):
        test.case(models.changed_model_names() - {"venmo.PaymentRequest", "venmo.Transaction", "venmo.User", "venmo.Notification", "venmo.BankTransfer"}, "==", set())
