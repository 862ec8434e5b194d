"""Ground truth of the "splitowe" scenario: what I owe in a Splitwise group."""

from . import all_pages


def solve(apis, public_data, supervisor_profile, splitwise_access_token):
    groups = all_pages(apis.splitwise.show_groups, access_token=splitwise_access_token)
    group = [g for g in groups if g["name"] == public_data["group_name"]][0]
    balance = apis.splitwise.show_group_balance(
        group_id=group["group_id"], email=supervisor_profile["email"], access_token=splitwise_access_token
    )[0]
    answer = round(sum(item["amount"] for item in balance["source_owes_to_targets"]["breakdown"]), 2)
    return answer
