"""Ground truth of the "todoistdone" scenario: mark a Todoist task as completed."""

from . import all_pages


def solve(apis, public_data, todoist_access_token):
    projects = all_pages(apis.todoist.show_projects, access_token=todoist_access_token)
    project = [p for p in projects if p["name"] == public_data["project_name"]][0]
    tasks = apis.todoist.show_tasks(project_id=project["project_id"], access_token=todoist_access_token)
    all_tasks = tasks["no_section_tasks"] + [t for section in tasks["sections"] for t in section["tasks"]]
    task = [t for t in all_tasks if t["title"] == public_data["task_title"]][0]
    apis.todoist.update_task(task_id=task["task_id"], is_completed=True, access_token=todoist_access_token)
    answer = None
    return answer
