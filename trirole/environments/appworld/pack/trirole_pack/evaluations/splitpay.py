"""Evaluation checks of the "splitpay" scenario (see evaluations/__init__.py)."""

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert Venmo transactions were added from the supervisor to exactly the people in pri...
    ("no_op_pass", True),  # assert no existing venmo.Transaction was updated or removed.
    ("no_op_pass", True),  # assert nothing changed outside venmo.Transaction, venmo.User, venmo.Notification, venm...
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
        assert Venmo transactions were added from the supervisor to exactly the people in
        private_data.payments, with those amounts.
        """
    ):
        added_transactions, _, _ = models.changed_records("venmo.Transaction")
        paid = {}
        for transaction in added_transactions:
            test.case(transaction.sender_id, "==", private_data.sender_user_id)
            email = models.end.venmo.User.by_id(transaction.receiver_id).email
            paid[email] = round(paid.get(email, 0) + transaction.amount, 2)
        test.case(paid, "==", dict(private_data.payments))
    with test(
        """
        assert no existing venmo.Transaction was updated or removed.
        """
    ):
        _, updated_transactions, removed_transactions = models.changed_records("venmo.Transaction")
        test.case(len(updated_transactions) + len(removed_transactions), "==", 0)
    with test(
        """
        assert nothing changed outside venmo.Transaction, venmo.User, venmo.Notification, venmo.BankTransfer.
        """
    ):
        test.case(models.changed_model_names() - {"venmo.Transaction", "venmo.User", "venmo.Notification", "venmo.BankTransfer"}, "==", set())
