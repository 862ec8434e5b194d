"""Ground truth of the "splitrequest" scenario: request on Venmo what people owe me in a Splitwise group."""

from . import all_pages


def solve(apis, public_data, supervisor_profile, splitwise_access_token, venmo_access_token):
    groups = all_pages(apis.splitwise.show_groups, access_token=splitwise_access_token)
    group = [g for g in groups if g["name"] == public_data["group_name"]][0]
    balance = apis.splitwise.show_group_balance(
        group_id=group["group_id"], email=supervisor_profile["email"], access_token=splitwise_access_token
    )[0]
    for debt in balance["targets_owe_to_source"]["breakdown"]:
        apis.venmo.create_payment_request(
            user_email=debt["email"],
            amount=round(debt["amount"], 2),
            description=public_data["description"],
            access_token=venmo_access_token,
        )
    answer = None
    return answer
