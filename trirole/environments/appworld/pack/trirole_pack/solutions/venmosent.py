"""Ground truth of the "venmosent" scenario: total sent to a person on Venmo in a month."""

from . import all_pages


def solve(apis, public_data, venmo_access_token):
    # find the person among my Venmo friends.
    friends = all_pages(
        apis.venmo.search_friends, access_token=venmo_access_token, query=public_data["person_name"]
    )
    friend = [f for f in friends if f["first_name"] + " " + f["last_name"] == public_data["person_name"]][0]
    transactions = all_pages(
        apis.venmo.show_transactions,
        access_token=venmo_access_token,
        user_email=friend["email"],
        direction="sent",
    )
    prefix = "%04d-%02d" % (public_data["year"], public_data["month"])
    total = sum(
        t["amount"]
        for t in transactions
        if t["created_at"].startswith(prefix) and t["receiver"]["email"] == friend["email"]
    )
    answer = round(total, 2)
    return answer
