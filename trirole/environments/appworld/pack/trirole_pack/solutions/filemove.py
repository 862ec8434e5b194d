"""Ground truth of the "filemove" scenario: move a downloaded file into a documents folder."""


def solve(apis, public_data, file_system_access_token):
    apis.file_system.move_file(
        source_file_path="~/downloads/" + public_data["file_name"],
        destination_file_path=public_data["destination_directory"] + "/" + public_data["file_name"],
        access_token=file_system_access_token,
    )
    answer = None
    return answer
