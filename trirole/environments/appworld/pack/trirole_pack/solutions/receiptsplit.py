"""Ground truth of the "receiptsplit" scenario: split saved receipts equally in a Splitwise group."""

from . import all_pages


def solve(apis, public_data, supervisor_profile, file_system_access_token, splitwise_access_token):
    groups = all_pages(apis.splitwise.show_groups, access_token=splitwise_access_token)
    group = [g for g in groups if g["name"] == public_data["group_name"]][0]
    member_emails = [member["email"] for member in group["members"]]
    file_paths = apis.file_system.show_directory(
        directory_path=public_data["directory"], entry_type="files", access_token=file_system_access_token
    )
    for file_path in file_paths:
        content = apis.file_system.show_file(file_path=file_path, access_token=file_system_access_token)["content"]
        fields = {}
        for line in content.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        amount = float(fields["total"].replace("$", "").replace(",", ""))
        apis.splitwise.record_expense(
            description=fields["merchant"],
            paid_amount=amount,
            payer_email=supervisor_profile["email"],
            debtor_emails=member_emails,
            group_id=group["group_id"],
            access_token=splitwise_access_token,
        )
    answer = None
    return answer
