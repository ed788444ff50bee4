"""Names that `vulture` (see [tool.vulture] in pyproject.toml) cannot see being used.

Each is read or called by a framework or from outside the package. Read by vulture only,
never imported or run.
"""

import click
from textual.command import Provider
from textual.widgets import Checkbox
from twilio.base.domain import Domain

from mim_console.data.directory import Directory
from mim_console.domain.alerts import Alert
from mim_console.domain.people_csv import ParsedCsv
from mim_console.domain.phones import display_phone
from mim_console.notifiers.dispatcher import DispatcherSnapshot
from mim_console.notifiers.outage import Recovery
from mim_console.notifiers.webhook import KeypressReceiver
from mim_console.screens.directory import DirectoryScreen
from mim_console.services import timezone
from mim_console.services.replies import Replies
from mim_console.standin import StandIn
from mim_console.standin.state import Record

Provider.discover  # Textual's command palette calls it (app.ActionCommands)
Checkbox.BUTTON_INNER  # Textual draws the box from it (widgets.ticks.TickBox sets it)
click.Group.list_commands  # click calls both on our lazy group (cli.base.MimGroup)
click.Group.get_command
click.Context.obj  # click hands it to every command (cli.base sets it)
Domain.base_url  # the Twilio SDK sends to it (notifiers.twilio points it at api_url)
DirectoryScreen.generation  # bench/tui.py waits on it to time the filter
StandIn.is_up  # the stand-in's test controls: tests/ call them, the package does not
StandIn.add_credentials
StandIn.responder_plan
Alert.claimed_at  # stored outbox columns, read by tests/ and kept for diagnostics
Alert.claimed_by
Alert.final_at
DispatcherSnapshot.holder_id  # which process sends: tests/ read it, listeners may show it
Replies.apply_reply  # the reply receiver in words: tests/ and bench/incident_load.py call it
Replies.apply_keypress  # a KeypressReceiver's on_keypress, wired where a callback URL exists
KeypressReceiver.from_settings
Directory.person_by_phone  # the directory's lookups and writes that tests/ and the seeds use
Directory.mark_verified
Directory.add_group_member
ParsedCsv.data_lines  # every line accounted for: the CSV property tests compare it
display_phone  # tests/test_phones.py; kept for showing numbers grouped
timezone.forget  # tests/conftest.py: each test starts from the zone setting anew
Recovery.resets  # back from an outage: tests/test_recovery.py and bench/recovery.py read them
Recovery.made_due
Record.validity_period  # the stand-in keeps what it was sent: tests/test_validity.py reads it
