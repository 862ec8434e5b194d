"""Ground truth of the "notelookup" scenario: look up a value saved in a note."""

from . import all_pages


def solve(apis, public_data, simple_note_access_token):
    # find the note with the exact title.
    notes = all_pages(
        apis.simple_note.search_notes, access_token=simple_note_access_token, query=public_data["note_title"]
    )
    note = [note for note in notes if note["title"] == public_data["note_title"]][0]
    note = apis.simple_note.show_note(note_id=note["note_id"], access_token=simple_note_access_token)
    # read the "<field>: <value>" line.
    answer = None
    for line in note["content"].splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == public_data["field"].lower():
            answer = value.strip()
    return answer
