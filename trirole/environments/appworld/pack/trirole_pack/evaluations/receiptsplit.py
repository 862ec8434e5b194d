"""Evaluation checks of the "receiptsplit" scenario (see evaluations/__init__.py)."""

from appworld.common.utils import set_of

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", True),  # assert model changes match splitwise.Expense and splitwise.ExpenseShare (ignoring spli...
    ("no_op_fail", False),  # assert the added expenses match private_data.expenses: one per receipt, described by ...
    ("no_op_fail", False),  # assert every added expense is in group private_data.group_id, paid by the supervisor,...
    ("no_op_pass", True),  # assert no existing splitwise.Expense or splitwise.ExpenseShare was updated or removed.
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
        assert model changes match splitwise.Expense and splitwise.ExpenseShare
        (ignoring splitwise.Notification).
        """
    ):
        test.case(
            models.changed_model_names() - {"splitwise.Notification"},
            "==",
            {"splitwise.Expense", "splitwise.ExpenseShare"},
        )
    with test(
        """
        assert the added expenses match private_data.expenses: one per receipt, described by
        the merchant, for the receipt total.
        """
    ):
        added_expenses, _, _ = models.changed_records("splitwise.Expense")
        found = sorted(
            [" ".join(e.description.lower().split()), round(e.amount, 2)] for e in added_expenses
        )
        test.case(found, "==", [list(e) for e in private_data.expenses])
    with test(
        """
        assert every added expense is in group private_data.group_id, paid by the supervisor,
        and split equally among private_data.member_ids.
        """
    ):
        test.case(len(added_expenses), ">", 0)
        for expense in added_expenses:
            test.case(expense.group_id, "==", private_data.group_id)
            test.case(expense.payer_id, "==", private_data.payer_id)
            shares = models.end.splitwise.ExpenseShare.find_all(expense_id=expense.id)
            test.case(sorted(set_of(shares, "debtor_id")), "==", list(private_data.member_ids))
            for share in shares:
                test.case(
                    share.share_amount, "==", expense.amount / len(private_data.member_ids), tolerance=0.01
                )
    with test(
        """
        assert no existing splitwise.Expense or splitwise.ExpenseShare was updated or removed.
        """
    ):
        _, updated_expenses, removed_expenses = models.changed_records("splitwise.Expense")
        _, updated_shares, removed_shares = models.changed_records("splitwise.ExpenseShare")
        test.case(
            len(updated_expenses) + len(removed_expenses) + len(updated_shares) + len(removed_shares),
            "==",
            0,
        )
