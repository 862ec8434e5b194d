"""Ground truth of the "playlistlen" scenario: count the songs of one of my playlists."""

from . import all_pages


def solve(apis, public_data, spotify_access_token):
    # my own playlists only (other people may have public playlists with the same title).
    playlists = all_pages(apis.spotify.show_playlist_library, access_token=spotify_access_token)
    playlist = [p for p in playlists if p["title"] == public_data["playlist_title"]][0]
    answer = len(playlist["song_ids"])
    return answer
