"""Evaluation checks of the "filemove" scenario (see evaluations/__init__.py)."""

# Per `with test(...)` block of checks(), in order: (its outcome under a do-nothing solution,
# whether it guards against collateral damage).
OUTCOMES = [
    ("no_op_pass", False),  # assert answers match.
    ("no_op_fail", False),  # assert the file now exists at private_data.destination_path with its original content.
    ("no_op_fail", False),  # assert the file no longer exists at private_data.source_path.
    ("no_op_pass", True),  # assert every other file of the supervisor is unchanged: same paths, same contents, not...
    ("no_op_pass", True),  # assert nothing changed outside the file_system app's files and directories.
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
        assert the file now exists at private_data.destination_path with its original content.
        """
    ):
        moved = models.end.file_system.File.find_one(
            user_id=private_data.user_id, path=private_data.destination_path
        )
        test.case(moved is not None, "==", True)
        test.case(moved.content, "==", private_data.content)
    with test(
        """
        assert the file no longer exists at private_data.source_path.
        """
    ):
        test.case(
            models.end.file_system.File.find_one(user_id=private_data.user_id, path=private_data.source_path),
            "is",
            None,
        )
    with test(
        """
        assert every other file of the supervisor is unchanged: same paths, same contents,
        nothing else added or removed.
        """
    ):
        moved_paths = {private_data.source_path, private_data.destination_path}
        start_files = {
            file.path: file.content
            for file in models.start.file_system.File.find_all(user_id=private_data.user_id)
            if file.path not in moved_paths
        }
        end_files = {
            file.path: file.content
            for file in models.end.file_system.File.find_all(user_id=private_data.user_id)
            if file.path not in moved_paths
        }
        test.case(end_files, "==", start_files)
    with test(
        """
        assert nothing changed outside the file_system app's files and directories.
        """
    ):
        test.case(
            models.changed_model_names() - {"file_system.File", "file_system.Directory"}, "==", set()
        )
