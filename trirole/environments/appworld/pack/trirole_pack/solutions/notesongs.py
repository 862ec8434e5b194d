"""Ground truth of the "notesongs" scenario: build a playlist from the songs listed in a note."""

from . import all_pages


def solve(apis, public_data, simple_note_access_token, spotify_access_token):
    notes = all_pages(
        apis.simple_note.search_notes, access_token=simple_note_access_token, query=public_data["note_title"]
    )
    note = [n for n in notes if n["title"] == public_data["note_title"]][0]
    content = apis.simple_note.show_note(note_id=note["note_id"], access_token=simple_note_access_token)["content"]
    song_ids = []
    for line in content.splitlines():
        if not line.startswith("- "):
            continue
        title, _, artist = line[2:].rpartition(" by ")
        results = apis.spotify.search_songs(query=title, page_limit=20)
        match = [
            s for s in results
            if s["title"] == title and artist in [a["name"] for a in s["artists"]]
        ][0]
        song_ids.append(match["song_id"])
    playlist_id = apis.spotify.create_playlist(
        title=public_data["playlist_title"], is_public=False, access_token=spotify_access_token
    )["playlist_id"]
    for song_id in song_ids:
        apis.spotify.add_song_to_playlist(playlist_id=playlist_id, song_id=song_id, access_token=spotify_access_token)
    answer = None
    return answer
