"""Evaluation checks of the "notesongs" scenario (see evaluations/__init__.py)."""

from appworld.common.utils import set_of

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert model changes match spotify.Playlist and spotify.PlaylistSong.
    ("no_op_fail", False),  # assert exactly one spotify.Playlist was added.
    ("no_op_pass", True),  # assert no existing spotify.Playlist was updated or removed.
    ("no_op_fail", False),  # assert the new playlist is the supervisor's, is private and its title matches public_...
    ("no_op_fail", False),  # assert the songs of the new playlist are exactly private_data.song_ids.
    ("no_op_pass", True),  # assert no song was added to or removed from any other playlist.
]


def checks(test, public_data, private_data, main_user, models, ground_truth_answer, predicted_answer):
    with test(
        """
        assert answers match.
        """
    ):
        test.answer(predicted_answer, ground_truth_answer)
    with test(
        """
        assert model changes match spotify.Playlist and spotify.PlaylistSong.
        """
    ):
        test.case(models.changed_model_names(), "==", {"spotify.Playlist", "spotify.PlaylistSong"})
    with test(
        """
        assert exactly one spotify.Playlist was added.
        """
    ):
        added_playlists, updated_playlists, removed_playlists = models.changed_records("spotify.Playlist")
        test.case(len(added_playlists), "==", 1)
    with test(
        """
        assert no existing spotify.Playlist was updated or removed.
        """
    ):
        _, updated_playlists, removed_playlists = models.changed_records("spotify.Playlist")
        test.case(len(updated_playlists) + len(removed_playlists), "==", 0)
    with test(
        """
        assert the new playlist is the supervisor's, is private and its title matches
        public_data.playlist_title.
        """
    ):
        playlist = added_playlists[0]
        test.case(playlist.user_id, "==", private_data.user_id)
        test.case(playlist.is_public, "==", False)
        test.case(playlist.title, "==", public_data.playlist_title, normalize_text=True)
    with test(
        """
        assert the songs of the new playlist are exactly private_data.song_ids.
        """
    ):
        songs = models.end.spotify.PlaylistSong.find_all(playlist_id=playlist.id)
        test.case(set_of(songs, "song_id"), "==", set(private_data.song_ids))
    with test(
        """
        assert no song was added to or removed from any other playlist.
        """
    ):
        added_songs, _, removed_songs = models.changed_records("spotify.PlaylistSong")
        new_playlist_ids = set_of(added_playlists, "id")
        test.case([s for s in added_songs if s.playlist_id not in new_playlist_ids], "==", [])
        test.case(len(removed_songs), "==", 0)
