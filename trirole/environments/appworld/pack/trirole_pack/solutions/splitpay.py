"""Ground truth of the "splitpay" scenario: pay back on Venmo what Splitwise says I owe in a group."""

from . import all_pages


def solve(apis, public_data, supervisor_profile, splitwise_access_token, venmo_access_token):
    groups = all_pages(apis.splitwise.show_groups, access_token=splitwise_access_token)
    group = [g for g in groups if g["name"] == public_data["group_name"]][0]
    balance = apis.splitwise.show_group_balance(
        group_id=group["group_id"], email=supervisor_profile["email"], access_token=splitwise_access_token
    )[0]
    for debt in balance["source_owes_to_targets"]["breakdown"]:
        apis.venmo.create_transaction(
            receiver_email=debt["email"],
            amount=round(debt["amount"], 2),
            description=public_data["group_name"],
            access_token=venmo_access_token,
        )
    answer = None
    return answer
