"""Ground truth of the "venmoapprove" scenario: approve pending Venmo requests from one circle of contacts."""

from . import all_pages


def solve(apis, public_data, phone_access_token, venmo_access_token):
    contacts = all_pages(
        apis.phone.search_contacts, access_token=phone_access_token, relationship=public_data["relationship"]
    )
    emails = {contact["email"] for contact in contacts if public_data["relationship"] in contact["relationships"]}
    requests = all_pages(
        apis.venmo.show_received_payment_requests, access_token=venmo_access_token, status="pending"
    )
    for request in requests:
        if request["sender"]["email"] in emails:
            apis.venmo.approve_payment_request(
                payment_request_id=request["payment_request_id"], access_token=venmo_access_token
            )
    answer = None
    return answer
