"""Ground truth of the "notetasks" scenario: turn a checklist note into Todoist tasks."""

from . import all_pages


def solve(apis, public_data, simple_note_access_token, todoist_access_token):
    notes = all_pages(
        apis.simple_note.search_notes, access_token=simple_note_access_token, query=public_data["note_title"]
    )
    note = [n for n in notes if n["title"] == public_data["note_title"]][0]
    content = apis.simple_note.show_note(note_id=note["note_id"], access_token=simple_note_access_token)["content"]
    items = [line.strip()[3:].strip() for line in content.splitlines() if line.strip().startswith("[ ]")]
    projects = all_pages(apis.todoist.show_projects, access_token=todoist_access_token)
    project = [p for p in projects if p["name"] == public_data["project_name"]][0]
    for item in items:
        apis.todoist.create_task(project_id=project["project_id"], title=item, access_token=todoist_access_token)
    answer = None
    return answer
