"""`mim-console comms …` and `mim-console sms-preview`: templates, drafts, approval, publishing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mim_console.cli.base import ROW_NUMBER, json_option, main, pass_context
from mim_console.cli.output import console, emit_json, literal, print_table, say, warn
from mim_console.cli.sms_preview import say_sms
from mim_console.clock import to_iso
from mim_console.domain import templates
from mim_console.domain.comms import KINDS, Draft
from mim_console.domain.text import redact
from mim_console.errors import UserError
from mim_console.services.comms import CommsService, local_time
from mim_console.services.context import Context
from mim_console.services.timezone import shown, times_label

kind_option = click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="stakeholder_update",
    show_default=True,
    help="Which text.",
)


def _iso(value: Any) -> str | None:
    return to_iso(value) if value is not None else None


def _draft_json(d: Draft) -> dict[str, Any]:
    return {
        "id": d.id,
        "incident_id": d.incident_id,
        "kind": d.kind,
        "version": d.version,
        "state": d.state.value,
        "text": d.text,
        "created_at": _iso(d.created_at),
        "created_by": d.created_by,
        "approved_by": d.approved_by,
        "approved_by_name": d.approved_by_name or None,
        "approved_at": _iso(d.approved_at),
        "published_at": _iso(d.published_at),
        "channel": d.channel,
        "published_by": d.published_by,
    }


@main.group()
def comms() -> None:
    """Templates, stakeholder updates and press releases: draft, approve, publish."""


# --- templates ---------------------------------------------------------------------------


@comms.command("templates")
@json_option
@pass_context
def list_templates(ctx: Context, as_json: bool) -> None:
    """The message templates, and which the organisation has edited."""
    infos = CommsService(ctx).templates()
    if as_json:
        emit_json(
            [
                {
                    "name": t.name,
                    "label": t.label,
                    "channel": t.channel,
                    "customised": t.customised,
                    "updated_at": _iso(t.updated_at),
                    "placeholders": sorted(templates.SPECS[t.name].placeholders),
                    "text": t.text,
                }
                for t in infos
            ]
        )
        return
    rows = [
        (
            t.name,
            t.label,
            t.channel,
            "edited" if t.customised else "default",
            shown(t.updated_at),
        )
        for t in infos
    ]
    print_table(f"Templates ({times_label()})", ["name", "what", "channel", "text", "edited"], rows)


@comms.group("template")
def template_group() -> None:
    """Show, edit, reset, import and export one or all templates."""


@template_group.command("show")
@click.argument("name", type=click.Choice(templates.NAMES))
@click.option("--default", "default", is_flag=True, help="The built-in text, not the edited one.")
@pass_context
def template_show(ctx: Context, name: str, default: bool) -> None:
    """Print a template and the placeholders it may use."""
    text = templates.SPECS[name].default if default else CommsService(ctx).template_text(name)
    console().print(literal(text))
    allowed = ", ".join("{" + p + "}" for p in sorted(templates.SPECS[name].placeholders))
    warn(f"placeholders: {allowed}")


@template_group.command("edit-file")
@click.argument("name", type=click.Choice(templates.NAMES))
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def template_edit(ctx: Context, name: str, file: Path | None) -> None:
    """Save NAME from FILE, or (no FILE) edit it in $EDITOR; checked before it is saved."""
    service = CommsService(ctx)
    if file is not None:
        try:
            body = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{file}: cannot read it as UTF-8 text ({exc})") from None
    else:
        edited = click.edit(service.template_text(name), extension=".txt")
        if edited is None:
            say("not changed")
            return
        body = edited
    if templates.SPECS[name].channel != "text":
        body = body.rstrip("\n")
    service.save_template(name, body)
    say(f"template {name} saved")


@template_group.command("reset")
@click.argument("name", type=click.Choice(templates.NAMES))
@pass_context
def template_reset(ctx: Context, name: str) -> None:
    """Go back to the built-in text."""
    changed = CommsService(ctx).reset_template(name)
    say(f"template {name} {'reset to the default' if changed else 'was already the default'}")


@template_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@pass_context
def template_export(ctx: Context, folder: Path) -> None:
    """Write every template as FOLDER/<name>.txt."""
    paths = CommsService(ctx).export_templates(folder)
    say(f"{len(paths)} templates written to {folder}")


@template_group.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@pass_context
def template_import(ctx: Context, source: Path) -> None:
    """Load <name>.txt files from a folder (or one file): all valid, or nothing changes."""
    names = CommsService(ctx).import_templates(source)
    say(f"imported: {', '.join(names)}")


# --- drafts ------------------------------------------------------------------------------


@comms.command("draft")
@click.argument("incident")
@kind_option
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The text (`-` = stdin); default: the template filled in for this incident.",
)
@json_option
@pass_context
def draft(ctx: Context, incident: str, kind: str, from_file: Path | None, as_json: bool) -> None:
    """Save a new version of INCIDENT's stakeholder update or press release."""
    text: str | None = None
    if from_file is not None:
        try:
            text = (
                sys.stdin.read() if str(from_file) == "-" else from_file.read_text("utf-8")
            ).rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{from_file}: cannot read it as UTF-8 text ({exc})") from None
    saved = CommsService(ctx).draft(incident, kind, text)
    if as_json:
        emit_json(_draft_json(saved))
        return
    say(f"{kind.replace('_', ' ')} version {saved.version} saved")
    console().print(literal(saved.text))
    if kind == "stakeholder_update":
        say_sms(saved.text)


@comms.command("versions")
@click.argument("incident")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@json_option
@pass_context
def versions(ctx: Context, incident: str, kind: str | None, as_json: bool) -> None:
    """Every saved version, with who approved and where it was published."""
    found = CommsService(ctx).versions(incident, kind)
    if as_json:
        emit_json([_draft_json(d) for d in found])
        return
    rows = [
        (
            d.kind.replace("_", " "),
            d.version,
            d.state.value,
            shown(d.created_at),
            f"{d.approved_by_name} {shown(d.approved_at)}" if d.approved_at else "",
            f"{d.channel} {shown(d.published_at)}" if d.published_at else "",
            d.text.splitlines()[0][:60] if d.text else "",
        )
        for d in found
    ]
    columns = ["kind", "v", "state", "saved", "approved", "published", "text"]
    print_table(f"Communications ({times_label()})", columns, rows)


@comms.command("show")
@click.argument("incident")
@click.argument("version", type=ROW_NUMBER, required=False)
@kind_option
@pass_context
def show(ctx: Context, incident: str, version: int | None, kind: str) -> None:
    """Print one version (default: the latest)."""
    found = CommsService(ctx).version(incident, kind, version)
    warn(f"{kind.replace('_', ' ')} version {found.version}: {found.state.value}")
    console().print(literal(found.text))


@comms.command("diff")
@click.argument("incident")
@click.argument("old", type=ROW_NUMBER)
@click.argument("new", type=ROW_NUMBER)
@kind_option
@pass_context
def diff_cmd(ctx: Context, incident: str, old: int, new: int, kind: str) -> None:
    """What changed between versions OLD and NEW (unified diff)."""
    text = CommsService(ctx).diff(incident, kind, old, new)
    console().print(literal(text or "no difference\n"), end="")


@comms.command("approve")
@click.argument("incident")
@click.argument("version", type=ROW_NUMBER)
@click.option("--by", "by", required=True, help="The MRT member with decision authority.")
@click.option(
    "--without-joining", "unjoined", is_flag=True, help="The approver has not joined the incident."
)
@kind_option
@json_option
@pass_context
def approve(
    ctx: Context, incident: str, version: int, by: str, unjoined: bool, kind: str, as_json: bool
) -> None:
    """Record VERSION as approved by an MRT member with decision authority, who has joined the
    incident (or --without-joining: the timeline says they had not)."""
    done = CommsService(ctx).approve(incident, kind, version, by, without_joining=unjoined)
    if as_json:
        emit_json(_draft_json(done))
        return
    say(f"{kind.replace('_', ' ')} version {version} approved by {done.approved_by_name}")


@comms.command("publish")
@click.argument("incident")
@click.argument("version", type=ROW_NUMBER)
@click.option("--channel", type=click.Choice(["sms", "chat", "manual"]), required=True)
@click.option(
    "--to",
    "target",
    help="sms: the stakeholder list; chat: one webhook (default all); manual: where it went.",
)
@click.option("--again", is_flag=True, help="Publish to the same place a second time.")
@kind_option
@json_option
@pass_context
def publish(
    ctx: Context,
    incident: str,
    version: int,
    channel: str,
    target: str | None,
    again: bool,
    kind: str,
    as_json: bool,
) -> None:
    """Publish an approved VERSION: SMS to a stakeholder list, chat webhooks, or by hand."""
    pub = CommsService(ctx).publish(incident, kind, version, channel, target, again=again)
    if as_json:
        emit_json(
            {
                "draft_id": pub.draft_id,
                "channel": pub.channel,
                "target": pub.target,
                "at": _iso(pub.at),
                "by": pub.by,
                "queued": pub.queued,
            }
        )
        return
    where = f" to {pub.target}" if pub.target else ""
    queued = f": {pub.queued} message(s) queued" if channel != "manual" else ""
    say(f"{kind.replace('_', ' ')} version {version} published by {channel}{where}{queued}")


# --- rhythm ------------------------------------------------------------------------------


@comms.command("next-update")
@click.argument("incident")
@click.option("--in", "minutes", type=float, required=True, help="Minutes from now.")
@pass_context
def next_update(ctx: Context, incident: str, minutes: float) -> None:
    """Set when the next stakeholder update is due."""
    inc = CommsService(ctx).set_next_update(incident, minutes)
    say(f"{inc.code}: next stakeholder update due {local_time(inc.next_update_at)}")


@comms.command("due")
@json_option
@pass_context
def due(ctx: Context, as_json: bool) -> None:
    """Open incidents whose stakeholder update is due now (exit 0 either way)."""
    found = CommsService(ctx).due()
    if as_json:
        emit_json(
            [
                {
                    "incident": d.incident.code,
                    "due_at": _iso(d.due_at),
                    "overdue_min": round(d.overdue_min, 1),
                }
                for d in found
            ]
        )
        return
    if not found:
        say("no stakeholder update is due")
        return
    for d in found:
        say(
            f"{d.incident.code}: stakeholder update due {local_time(d.due_at)} "
            f"({d.overdue_min:.0f} min ago)"
        )


# --- stakeholder lists and webhooks ------------------------------------------------------


@comms.command("lists")
@json_option
@pass_context
def lists(ctx: Context, as_json: bool) -> None:
    """Stakeholder lists and who is on them."""
    found = CommsService(ctx).lists()
    if as_json:
        emit_json(
            [
                {
                    "name": sl.name,
                    "description": sl.description,
                    "members": [
                        {"label": m.label, "number": m.number, "person_id": m.person_id}
                        for m in sl.members
                    ],
                }
                for sl in found
            ]
        )
        return
    rows = [(sl.name, m.label, m.number) for sl in found for m in sl.members] + [
        (sl.name, "(nobody)", "") for sl in found if not sl.members
    ]
    print_table("Stakeholder lists", ["list", "who", "number"], rows)


@comms.group("list")
def list_group() -> None:
    """Change a stakeholder list."""


@list_group.command("add")
@click.argument("list_name")
@click.argument("who")
@click.option("--label", default="", help="A name for a plain number.")
@pass_context
def list_add(ctx: Context, list_name: str, who: str, label: str) -> None:
    """Add WHO (a person's id, email or name, or a phone number) to LIST (made if new)."""
    say(CommsService(ctx).add_to_list(list_name, who, label))


@list_group.command("remove")
@click.argument("list_name")
@click.argument("who")
@pass_context
def list_remove(ctx: Context, list_name: str, who: str) -> None:
    """Take WHO off LIST."""
    removed = CommsService(ctx).remove_from_list(list_name, who)
    say(f"{who} {'removed from' if removed else 'was not on'} {list_name}")


@list_group.command("delete")
@click.argument("list_name")
@pass_context
def list_delete(ctx: Context, list_name: str) -> None:
    """Delete a whole stakeholder list."""
    CommsService(ctx).delete_list(list_name)
    say(f"stakeholder list {list_name} deleted")


@comms.command("webhooks")
@json_option
@pass_context
def webhooks(ctx: Context, as_json: bool) -> None:
    """Chat incoming webhooks (URLs shown without their secret path)."""
    found = CommsService(ctx).webhooks()
    if as_json:
        emit_json([{"name": w.name, "kind": w.kind, "url": redact(w.url)} for w in found])
        return
    print_table(
        "Chat webhooks", ["name", "kind", "url"], [(w.name, w.kind, redact(w.url)) for w in found]
    )


@comms.group("webhook")
def webhook_group() -> None:
    """Add or remove a chat incoming webhook."""


@webhook_group.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["slack", "teams", "mattermost"]), required=True)
@click.option("--url", required=True, help="The incoming-webhook URL (a secret: keep it safe).")
@pass_context
def webhook_add(ctx: Context, name: str, kind: str, url: str) -> None:
    """Add (or replace) a chat webhook."""
    CommsService(ctx).add_webhook(name, kind, url)
    say(f"chat webhook {name} ({kind}) saved")


@webhook_group.command("remove")
@click.argument("name")
@pass_context
def webhook_remove(ctx: Context, name: str) -> None:
    """Remove a chat webhook."""
    removed = CommsService(ctx).remove_webhook(name)
    say(f"chat webhook {name} {'removed' if removed else 'did not exist'}")
