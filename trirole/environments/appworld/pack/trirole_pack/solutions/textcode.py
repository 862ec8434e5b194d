"""Ground truth of the "textcode" scenario: text someone a booking code found in an email."""

from . import all_pages


def solve(apis, public_data, gmail_access_token, phone_access_token):
    # find the code in the emails from the sender.
    threads = all_pages(
        apis.gmail.show_inbox_threads, access_token=gmail_access_token, query=public_data["sender_name"]
    )
    code = None
    for thread in threads:
        thread = apis.gmail.show_thread(email_thread_id=thread["email_thread_id"], access_token=gmail_access_token)
        for email in thread["emails"]:
            if not email["sender"]["name"].startswith(public_data["sender_name"]):
                continue
            for line in email["body"].splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == public_data["field"].lower():
                    code = value.strip()
    # find the person in my contacts.
    contacts = all_pages(
        apis.phone.search_contacts,
        access_token=phone_access_token,
        query=public_data["person_first_name"],
        relationship=public_data["relationship"],
    )
    contact = [c for c in contacts if c["first_name"] == public_data["person_first_name"]][0]
    apis.phone.send_text_message(
        phone_number=contact["phone_number"],
        message="Here is the " + public_data["field"] + ": " + code,
        access_token=phone_access_token,
    )
    answer = None
    return answer
