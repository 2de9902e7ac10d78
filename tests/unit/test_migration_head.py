"""Starting on a schema that is already current does not load Alembic (about 11 MiB a server
process would keep): the head revision read from the migration scripts must be Alembic's."""

from __future__ import annotations

import subprocess
import sys

from crossreg.metadata.db import _MIGRATIONS, Database, head_revision


def test_head_revision_is_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_a_current_schema_is_recognised_without_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    db = Database(url)
    assert db.current_revision() is None
    db.migrate()
    assert db.current_revision() == head_revision()
    db.dispose()
    code = ("import sys; from crossreg.metadata.db import Database; d = Database(sys.argv[1]); d.migrate(); "
            "print('alembic' in sys.modules, d.current_revision())")
    out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", head_revision()]
