"""The artifact store: values that must survive compression verbatim.

Three Roles found that summaries lose access tokens and credentials, and the agent then
fails. trirole does not trust the summarizer with them: `extract_artifacts` pulls them
out of every observation deterministically (with the code that printed it), the state
keeps them (`trirole.state.merge_artifacts`), and `format_artifacts` shows them in every
agent prompt whatever the summary says. Ids are kept with the record that gives them
meaning, within a share of the prompt budget, so a long listing cannot flood the prompt.

- `extract`: secrets in every shape, records, short responses (one observation);
- `code`: secrets the executed code printed bare;
- `keys`: which names hold secrets or ids;
- `render`: the block of the agent's prompt.
"""

from trirole.artifacts.extract import extract_artifacts
from trirole.artifacts.keys import SECRET_KINDS, secret_kind
from trirole.artifacts.render import artifact_chars, format_artifacts, is_secret

__all__ = ["SECRET_KINDS", "artifact_chars", "extract_artifacts", "format_artifacts", "is_secret", "secret_kind"]
