"""Ground truth of the "birthdaytasks" scenario: gift reminders for contacts with upcoming birthdays."""

from . import all_pages


def solve(apis, public_data, phone_access_token, todoist_access_token):
    contacts = all_pages(apis.phone.search_contacts, access_token=phone_access_token)
    projects = all_pages(apis.todoist.show_projects, access_token=todoist_access_token)
    project = [p for p in projects if p["name"] == public_data["project_name"]][0]
    for contact in contacts:
        if not contact["birthday"]:
            continue
        this_year = public_data["start"][:4] + contact["birthday"][4:10]
        if public_data["start"] <= this_year <= public_data["end"]:
            apis.todoist.create_task(
                project_id=project["project_id"],
                title="Buy birthday gift for " + contact["first_name"] + " " + contact["last_name"],
                due_date=this_year,
                access_token=todoist_access_token,
            )
    answer = None
    return answer
